"""Checks for week 03 (generative adversarial networks): ``check_<name>(your_function)``.

Each check runs your code on seeded inputs (several shapes, a batch of one included,
float32 and float64, the CPU and the accelerator when there is one) and compares it with
the course's reference, which is switched off while your code runs. A failure names the
likely mistake. Conventions (as in ``course.gan``): discriminators output **logits**
:math:`\\ell` with :math:`D = \\sigma(\\ell)`; every loss is a mean over the batch, to be
*minimised*, and returned as a scalar (shape ``()``).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from course import gan as ref
from course.checks._core import (
    Mistake,
    assert_not_reference,
    assert_tensor,
    call_student,
    caller,
    cases,
    close,
    compare,
    inputs_unchanged,
    keep_student_rng,
    rand,
    randn,
    success,
    where,
)

__all__ = [
    "check_dcgan_discriminator",
    "check_dcgan_generator",
    "check_discriminator_loss",
    "check_generator_loss",
    "check_hinge_losses",
    "check_lsgan_losses",
    "check_optimal_discriminator",
]

# (real shape, fake shape): different batch sizes, a (B, 1) column, a batch of one.
_PAIRS = [((5,), (3,)), ((4, 1), (6, 1)), ((1,), (1,)), ((4,), (4,))]

# Large logits: sigmoid(+-50) rounds to 1 or 0, exp(-200) underflows in float32.
_LARGE = [-200.0, -50.0, 50.0, 200.0, 0.5]


_call = caller(ref)


_PROBABILITY_HINTS = {
    "between 0 and 1": "The discriminator outputs *logits* (any real number), not "
    "probabilities: use F.binary_cross_entropy_with_logits or F.softplus, not "
    "F.binary_cross_entropy.",
}


def _scalar(name: str, got, case: str) -> None:
    """A loss is one number, shape (): say so when a per-sample tensor came back."""
    if isinstance(got, torch.Tensor) and got.shape != ():
        raise AssertionError(
            f"{name} returned shape {tuple(got.shape)}, expected a scalar (shape ()){where(case)}: "
            "the loss is the *mean* over the batch (.mean(), or reduction='mean'), and "
            ".squeeze() a (1,) result."
        )


def _pair(name: str, got, case: str) -> tuple:
    """A ``(d_loss, g_loss)`` result: a tuple of two."""
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise AssertionError(
            f"{name} should return a tuple (d_loss, g_loss), got {type(got).__name__}"
            + (f" of length {len(got)}" if isinstance(got, tuple | list) else "")
            + f"{where(case)}."
            + (" Did you forget a `return`?" if got is None else "")
        )
    return tuple(got)


def _scores(shape, seed, dtype, dev, scale=3.0):
    return randn(*shape, seed=seed, dtype=dtype, dev=dev) * scale


def _check_gradients(name, fn, reference, tensors, names, extra=(), kwargs=None, parts=("loss",)):
    """Student's gradients w.r.t. the named ``tensors`` equal the reference's (float64, CPU).

    ``parts`` names the outputs (one scalar, or the two of a tuple); each is checked on its own.
    """
    kwargs = kwargs or {}
    for k, part in enumerate(parts):
        ref_leaves = [t.detach().clone().requires_grad_() for t in tensors]
        want = reference(*ref_leaves, *extra, **kwargs)
        want = want[k] if len(parts) > 1 else want
        want.backward()
        leaves = [t.detach().clone().requires_grad_() for t in tensors]
        out = _call(fn, (*leaves, *extra), kwargs, case="gradient check")
        out = _pair(name, out, "gradient check")[k] if len(parts) > 1 else out
        label = f"{name} ({part})" if len(parts) > 1 else name
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            raise AssertionError(
                f"{label} returned a result without gradient: do not use .item(), .detach(), "
                ".data, torch.no_grad() or numpy inside, the networks are trained through it."
            )
        out.reshape(()).backward() if out.numel() == 1 else out.sum().backward()
        for leaf, ref_leaf, arg in zip(leaves, ref_leaves, names, strict=True):
            if ref_leaf.grad is None:
                continue  # this output does not depend on this input
            if leaf.grad is None:
                raise AssertionError(
                    f"{label}: no gradient reaches {arg}. Did you detach it (.detach(), .data) "
                    "or rebuild it with torch.tensor(...)?"
                )
            if not close(leaf.grad, ref_leaf.grad):
                raise AssertionError(
                    f"{label} gives wrong gradients w.r.t. {arg} although the values are "
                    "right: is part of the computation detached, or clamped?"
                )


# ---------------------------------------------------------------------------------------
# discriminator_loss
# ---------------------------------------------------------------------------------------


def _bce(logits, target: float):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


_D_MISTAKES = [
    Mistake(
        "the labels are swapped: real samples are labelled 1 and fakes 0, so "
        "L_D = mean(softplus(-real_logits)) + mean(softplus(fake_logits)) "
        "(BCE(real, 1) + BCE(fake, 0)).",
        lambda r, f: F.softplus(r).mean() + F.softplus(-f).mean(),
    ),
    Mistake(
        "you summed over the batch; each term is a *mean* over its batch "
        "(the two batches may have different sizes).",
        lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum(),
    ),
    Mistake(
        "you averaged the two terms (a factor 0.5); L_D is their *sum*, "
        "BCE(real, 1) + BCE(fake, 0), i.e. -V(D, G) of the minimax game.",
        lambda r, f: 0.5 * (F.softplus(-r).mean() + F.softplus(f).mean()),
    ),
    Mistake(
        "you took one BCE mean over the concatenated batch torch.cat([real, fake]); that "
        "weighs the terms by the batch sizes and halves the loss. Use the sum of the two "
        "means, BCE(real, 1) + BCE(fake, 0).",
        lambda r, f: F.softplus(torch.cat([-r.reshape(-1), f.reshape(-1)])).mean(),
    ),
    Mistake(
        "the sign is flipped: you returned V(D, G) (to be maximised); the loss to *minimise* "
        "is -V = mean(softplus(-real_logits)) + mean(softplus(fake_logits)).",
        lambda r, f: -(F.softplus(-r).mean() + F.softplus(f).mean()),
    ),
    Mistake(
        "you applied a sigmoid and then binary_cross_entropy_with_logits, which applies its "
        "own sigmoid (a double sigmoid): pass the logits directly.",
        lambda r, f: _bce(r.sigmoid(), 1.0) + _bce(f.sigmoid(), 0.0),
    ),
    Mistake(
        "the fake term is missing: L_D = BCE(real, 1) + BCE(fake, 0).",
        lambda r, f: F.softplus(-r).mean(),
    ),
    Mistake(
        "the real term is missing: L_D = BCE(real, 1) + BCE(fake, 0).",
        lambda r, f: F.softplus(f).mean(),
    ),
]

_UNSTABLE = (
    "sigmoid(50) rounds to exactly 1 (and sigmoid(-200) to 0 in float32), so "
    "log(1 - sigmoid(l)) or log(sigmoid(l)) becomes log(0) = -inf (or, with clamping or "
    "F.binary_cross_entropy on probabilities, a wrong finite value). This is numerical "
    "stability: work with logits, -log sigmoid(l) = softplus(-l) and "
    "-log(1 - sigmoid(l)) = softplus(l), or F.binary_cross_entropy_with_logits."
)


def _large_logits(name, fn, reference, make_args, kwargs=None) -> None:
    """Compare on logits of +-50 and +-200, where naive log(sigmoid) gives inf or clamps."""
    for dtype in (torch.float32, torch.float64):
        case = f"large logits {_LARGE}, {dtype}"
        args = make_args(dtype)
        expected = reference(*args, **(kwargs or {}))
        got = _call(fn, args, kwargs, case=case, hints=_PROBABILITY_HINTS)
        assert_tensor(got, expected, name, case, shape=())
        if not close(got, expected):
            shown = got.item() if got.numel() == 1 else got.tolist()
            raise AssertionError(
                f"{name} is wrong for large logits (+-50, +-200){where(case)}: got {shown}, "
                f"expected {expected.item():.6g}. {_UNSTABLE}"
            )


def check_discriminator_loss(fn) -> None:
    """Check ``discriminator_loss(real_logits, fake_logits) -> scalar``:
    mean(softplus(-real)) + mean(softplus(fake)), stable for any logit."""
    assert_not_reference(fn, ref.discriminator_loss)
    name = "discriminator_loss"
    for dev, dtype in cases():
        for i, (rs, fs) in enumerate(_PAIRS):
            case = f"real {rs}, fake {fs}, {dtype}, {dev.type}"
            real = _scores(rs, 600 + i, dtype, dev)
            fake = _scores(fs, 610 + i, dtype, dev) - 1.0
            args = (real, fake)
            before = [a.clone() for a in args]
            expected = ref.discriminator_loss(*args)
            got = _call(fn, args, case=case, hints=_PROBABILITY_HINTS)
            inputs_unchanged(name, before, args)
            _scalar(name, got, case)
            compare(name, got, expected, mistakes=_D_MISTAKES, args=args, case=case)
    _large_logits(
        name,
        fn,
        ref.discriminator_loss,
        lambda dt: (torch.tensor(_LARGE, dtype=dt), torch.tensor(_LARGE[::-1], dtype=dt)),
    )
    real = randn(5, seed=620, dtype=torch.float64) * 3
    fake = randn(3, seed=621, dtype=torch.float64) * 3
    _check_gradients(name, fn, ref.discriminator_loss, (real, fake), ("real_logits", "fake_logits"))
    success(
        name, "labels, means, sum of the two terms, stable at +-200, float32/float64, gradients"
    )


# ---------------------------------------------------------------------------------------
# generator_loss
# ---------------------------------------------------------------------------------------


def _only(kind_wanted, fn):
    """A mistake that only applies to one ``kind``."""

    def wrong(f, kind="non_saturating"):
        if kind != kind_wanted:
            raise ValueError("not this kind")
        return fn(f)

    return wrong


_G_MISTAKES = [
    Mistake(
        "the kinds are swapped: 'non_saturating' is mean(softplus(-fake_logits)) "
        "(= -log D(G(z))), 'minimax' is -mean(softplus(fake_logits)) (= log(1 - D(G(z)))).",
        lambda f, kind="non_saturating": (
            -F.softplus(f).mean() if kind == "non_saturating" else F.softplus(-f).mean()
        ),
    ),
    Mistake(
        "you labelled the fakes 0 (fake); the non-saturating generator loss labels them 1 "
        "(real): BCE(fake_logits, 1) = mean(softplus(-fake_logits)), so the generator "
        "maximises log D(G(z)).",
        _only("non_saturating", lambda f: F.softplus(f).mean()),
    ),
    Mistake(
        "the non-saturating loss has the wrong sign: minimise -log D(G(z)) = "
        "mean(softplus(-fake_logits)), a positive number.",
        _only("non_saturating", lambda f: -F.softplus(-f).mean()),
    ),
    Mistake(
        "the minimax loss has the wrong sign: the generator *minimises* "
        "E[log(1 - D(G(z)))] = -mean(softplus(fake_logits)), a negative number; "
        "+mean(softplus(fake_logits)) is the discriminator's fake term BCE(fake, 0).",
        _only("minimax", lambda f: F.softplus(f).mean()),
    ),
    Mistake(
        "for 'minimax' you returned -BCE(fake, 1) = -mean(softplus(-fake_logits)); the "
        "minimax loss is E[log(1 - D(G(z)))] = -BCE(fake, 0) = -mean(softplus(fake_logits)).",
        _only("minimax", lambda f: -F.softplus(-f).mean()),
    ),
    Mistake(
        "you summed over the batch; the loss is the *mean* over the batch.",
        lambda f, kind="non_saturating": (
            F.softplus(-f).sum() if kind == "non_saturating" else -F.softplus(f).sum()
        ),
    ),
    Mistake(
        "you applied a sigmoid before a function that expects logits (a double sigmoid): "
        "pass the logits directly.",
        lambda f, kind="non_saturating": (
            _bce(f.sigmoid(), 1.0) if kind == "non_saturating" else -_bce(f.sigmoid(), 0.0)
        ),
    ),
]


def check_generator_loss(fn) -> None:
    """Check ``generator_loss(fake_logits, kind="non_saturating") -> scalar``:
    mean(softplus(-f)) ("non_saturating"), -mean(softplus(f)) ("minimax")."""
    assert_not_reference(fn, ref.generator_loss)
    name = "generator_loss"
    shapes = [(5,), (4, 1), (1,)]
    for dev, dtype in cases():
        for i, shape in enumerate(shapes):
            fake = _scores(shape, 700 + i, dtype, dev) - 0.5
            for kind in ("non_saturating", "minimax"):
                case = f"fake {shape}, kind={kind!r}, {dtype}, {dev.type}"
                before = fake.clone()
                expected = ref.generator_loss(fake, kind=kind)
                got = _call(fn, (fake,), {"kind": kind}, case=case, hints=_PROBABILITY_HINTS)
                inputs_unchanged(name, [before], [fake])
                _scalar(name, got, case)
                compare(
                    name,
                    got,
                    expected,
                    mistakes=_G_MISTAKES,
                    args=(fake,),
                    kwargs={"kind": kind},
                    case=case,
                )
    fake = randn(4, seed=710) * 2
    got = _call(fn, (fake,), case="called without kind=")
    compare(
        name,
        got,
        ref.generator_loss(fake),
        mistakes=_G_MISTAKES,
        args=(fake,),
        case="called without kind= (the default is 'non_saturating')",
    )
    for kind in ("non_saturating", "minimax"):
        _large_logits_kind(name, fn, kind)
        fake = randn(6, seed=720, dtype=torch.float64) * 3
        _check_gradients(
            name, fn, ref.generator_loss, (fake,), ("fake_logits",), kwargs={"kind": kind}
        )
    success(name, "both kinds, default, mean, stable at +-200, float32/float64, gradients")


def _large_logits_kind(name, fn, kind) -> None:
    _large_logits(
        name,
        fn,
        ref.generator_loss,
        lambda dt: (torch.tensor(_LARGE, dtype=dt),),
        {"kind": kind},
    )


# ---------------------------------------------------------------------------------------
# optimal_discriminator
# ---------------------------------------------------------------------------------------

_OPT_MISTAKES = [
    Mistake(
        "you returned p_model / (p_data + p_model), the probability of *fake*; D*(x) is the "
        "probability that x is real: p_data / (p_data + p_model).",
        lambda a, b: b / (a + b),
    ),
    Mistake(
        "you returned the density ratio p_data / p_model; D* normalises by the sum: "
        "p_data / (p_data + p_model), a value in [0, 1].",
        lambda a, b: a / b,
    ),
    Mistake(
        "you returned p_model / p_data; D*(x) = p_data / (p_data + p_model).",
        lambda a, b: b / a,
    ),
    Mistake(
        "you averaged the densities; D*(x) = p_data / (p_data + p_model).",
        lambda a, b: (a + b) / 2,
    ),
]


def _as64(v) -> torch.Tensor:
    return torch.as_tensor(v, dtype=torch.float64)


def check_optimal_discriminator(fn) -> None:
    """Check ``optimal_discriminator(p_data, p_model) -> p_data / (p_data + p_model)``
    on Python floats (-> float) and tensors (-> tensor of the broadcast shape), with
    0.5 where both densities vanish."""
    assert_not_reference(fn, ref.optimal_discriminator)
    name = "optimal_discriminator"
    for a, b in [(0.3, 0.7), (2.0, 0.5), (1.0, 1.0), (0.0, 0.4), (1e-3, 4.0)]:
        case = f"p_data={a}, p_model={b} (floats)"
        expected = ref.optimal_discriminator(a, b)
        got = _call(fn, (a, b), case=case)
        if isinstance(got, torch.Tensor) or not isinstance(got, float | int):
            raise AssertionError(
                f"{name} returned {type(got).__name__} for two Python floats{where(case)}: "
                "return a Python float there (plain arithmetic, no torch.tensor)."
                + (" Did you forget a `return`?" if got is None else "")
            )
        compare(
            name,
            _as64(got),
            _as64(expected),
            mistakes=_OPT_MISTAKES,
            args=(_as64(a), _as64(b)),
            case=case,
        )
    shapes = [((5,), (5,)), ((2, 3), (2, 3)), ((1,), (1,)), ((4, 1), (3,))]
    for dev, dtype in cases():
        for i, (sa, sb) in enumerate(shapes):
            case = f"p_data {sa}, p_model {sb}, {dtype}, {dev.type}"
            p_data = rand(*sa, seed=800 + i, dtype=dtype, dev=dev) * 2 + 0.01
            p_model = rand(*sb, seed=810 + i, dtype=dtype, dev=dev) * 2 + 0.01
            args = (p_data, p_model)
            before = [t.clone() for t in args]
            expected = ref.optimal_discriminator(*args)
            got = _call(fn, args, case=case)
            inputs_unchanged(name, before, args)
            compare(name, got, expected, mistakes=_OPT_MISTAKES, args=args, case=case)
        # A tensor and a float mix.
        p_data = rand(4, seed=820, dtype=dtype, dev=dev) + 0.1
        for args in ((p_data, 0.5), (0.5, p_data)):
            case = f"a tensor and a float, {dtype}, {dev.type}"
            expected = ref.optimal_discriminator(*args)
            got = _call(fn, args, case=case)
            compare(name, got, expected, mistakes=_OPT_MISTAKES, args=args, case=case)
    # Where both densities vanish, the convention is 0.5 ("cannot tell"), never 0/0.
    p_data = torch.tensor([0.0, 0.2, 0.0, 1.0])
    p_model = torch.tensor([0.0, 0.0, 0.3, 1.0])
    case = "p_data = p_model = 0 at some points"
    got = _call(fn, (p_data, p_model), case=case)
    expected = ref.optimal_discriminator(p_data, p_model)
    assert_tensor(got, expected, name, case)
    if not torch.isfinite(got).all() or not close(got, expected):
        raise AssertionError(
            f"{name} returned {got.tolist()} where both densities are 0{where(case)}, "
            f"expected {expected.tolist()}: 0 / 0 is nan. Outside both supports any D is "
            "optimal; the course's convention is 0.5. Use torch.where(total > 0, "
            "p_data / total_safe, 0.5) with a safe denominator."
        )
    got = _call(fn, (0.0, 0.0), case="p_data = p_model = 0.0 (floats)")
    if got != 0.5:
        raise AssertionError(
            f"{name}(0.0, 0.0) returned {got!r}, expected 0.5: where both densities vanish "
            "the course's convention is 0.5, not a ZeroDivisionError or nan."
        )
    success(name, "floats and tensors, broadcasting, 0.5 where both vanish, float32/float64")


# ---------------------------------------------------------------------------------------
# lsgan_losses
# ---------------------------------------------------------------------------------------


def _ls(r, f, a, b, c, half=0.5, swap=False, g_target=None, g_half=None):
    """A least-squares (d_loss, g_loss), variants built for the mistakes."""
    lo, hi = (b, a) if swap else (a, b)
    d = half * (r - hi).pow(2).mean() + half * (f - lo).pow(2).mean()
    g_half = half if g_half is None else g_half
    g = g_half * (f - (c if g_target is None else g_target)).pow(2).mean()
    return d, g


_LS_D_MISTAKES = [
    Mistake(
        "d_loss is missing the factor 0.5: L_D = 0.5 * mean((D(x) - b)^2) + "
        "0.5 * mean((D(G(z)) - a)^2) (Mao et al. 2017, eq. 2).",
        lambda r, f, a, b, c: _ls(r, f, a, b, c, half=1.0)[0],
    ),
    Mistake(
        "the targets are swapped in d_loss: b is the label for *real* and a for *fake*, "
        "L_D = 0.5 * mean((real_out - b)^2) + 0.5 * mean((fake_out - a)^2).",
        lambda r, f, a, b, c: _ls(r, f, a, b, c, swap=True)[0],
    ),
    Mistake(
        "you summed over the batch; each term is a *mean*.",
        lambda r, f, a, b, c: 0.5 * (r - b).pow(2).sum() + 0.5 * (f - a).pow(2).sum(),
    ),
    Mistake(
        "you applied a sigmoid: the least-squares losses act on the raw outputs.",
        lambda r, f, a, b, c: _ls(r.sigmoid(), f.sigmoid(), a, b, c)[0],
    ),
]

_LS_G_MISTAKES = [
    Mistake(
        "g_loss is missing the factor 0.5: L_G = 0.5 * mean((D(G(z)) - c)^2).",
        lambda r, f, a, b, c: _ls(r, f, a, b, c, g_half=1.0)[1],
    ),
    Mistake(
        "c is ignored in g_loss: you used b (the real label) as the generator's target. "
        "L_G = 0.5 * mean((fake_out - c)^2); b = c only in the 0-1 coding.",
        lambda r, f, a, b, c: _ls(r, f, a, b, c, g_target=b)[1],
    ),
    Mistake(
        "c is ignored in g_loss: you used a fixed target 1. L_G = 0.5 * mean((fake_out - c)^2).",
        lambda r, f, a, b, c: _ls(r, f, a, b, c, g_target=1.0)[1],
    ),
    Mistake(
        "g_loss uses a, the *fake* label, as the target; the generator wants the "
        "discriminator to output c: L_G = 0.5 * mean((fake_out - c)^2).",
        lambda r, f, a, b, c: _ls(r, f, a, b, c, g_target=a)[1],
    ),
    Mistake(
        "you summed g_loss over the batch; it is a *mean*.",
        lambda r, f, a, b, c: 0.5 * (f - c).pow(2).sum(),
    ),
    Mistake(
        "you applied a sigmoid: the least-squares losses act on the raw outputs.",
        lambda r, f, a, b, c: _ls(r.sigmoid(), f.sigmoid(), a, b, c)[1],
    ),
]


def _two_losses(name, fn, reference, args, kwargs, mistakes, case, mistake_args) -> None:
    """Run a ``(d_loss, g_loss)`` function and compare each part."""
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    before = [t.clone() for t in tensors]
    expected = reference(*args, **kwargs)
    got = _pair(name, _call(fn, args, kwargs, case=case), case)
    inputs_unchanged(name, before, tensors)
    for part, g, e, m in zip(("d_loss", "g_loss"), got, expected, mistakes, strict=True):
        _scalar(f"{name} ({part})", g, case)
        compare(f"{name} ({part})", g, e, mistakes=m, args=mistake_args, case=case)


def check_lsgan_losses(fn) -> None:
    """Check ``lsgan_losses(real_out, fake_out, a=0, b=1, c=1) -> (d_loss, g_loss)``:
    0.5 * mean((real - b)^2) + 0.5 * mean((fake - a)^2) and 0.5 * mean((fake - c)^2)."""
    assert_not_reference(fn, ref.lsgan_losses)
    name = "lsgan_losses"
    codings = [(0.0, 1.0, 1.0), (0.2, 0.9, 0.6), (-1.0, 1.0, 0.0)]
    for dev, dtype in cases():
        for i, (rs, fs) in enumerate(_PAIRS):
            real = _scores(rs, 900 + i, dtype, dev, scale=1.0) + 0.5
            fake = _scores(fs, 910 + i, dtype, dev, scale=1.0)
            for a, b, c in codings:
                case = f"real {rs}, fake {fs}, a={a}, b={b}, c={c}, {dtype}, {dev.type}"
                _two_losses(
                    name,
                    fn,
                    ref.lsgan_losses,
                    (real, fake),
                    {"a": a, "b": b, "c": c},
                    (_LS_D_MISTAKES, _LS_G_MISTAKES),
                    case,
                    (real, fake, a, b, c),
                )
    real, fake = randn(5, seed=920) + 0.5, randn(3, seed=921)
    _two_losses(
        name,
        fn,
        ref.lsgan_losses,
        (real, fake),
        {},
        (_LS_D_MISTAKES, _LS_G_MISTAKES),
        "called without a, b, c (defaults 0, 1, 1)",
        (real, fake, 0.0, 1.0, 1.0),
    )
    _check_gradients(
        name,
        fn,
        ref.lsgan_losses,
        (randn(5, seed=930, dtype=torch.float64), randn(3, seed=931, dtype=torch.float64)),
        ("real_out", "fake_out"),
        kwargs={"a": -1.0, "b": 1.0, "c": 0.0},
        parts=("d_loss", "g_loss"),
    )
    success(name, "labels a, b, c, factor 0.5, means, defaults, float32/float64, gradients")


# ---------------------------------------------------------------------------------------
# hinge_losses
# ---------------------------------------------------------------------------------------

_HINGE_D_MISTAKES = [
    Mistake(
        "the relu (max(0, .)) is missing: without it the discriminator is rewarded without "
        "bound for confident scores. L_D = mean(relu(1 - real)) + mean(relu(1 + fake)).",
        lambda r, f: (1 - r).mean() + (1 + f).mean(),
    ),
    Mistake(
        "the signs are swapped: reals should score above +1 and fakes below -1, "
        "L_D = mean(relu(1 - real)) + mean(relu(1 + fake)).",
        lambda r, f: F.relu(1 + r).mean() + F.relu(1 - f).mean(),
    ),
    Mistake(
        "the margin 1 is missing: L_D = mean(relu(1 - real)) + mean(relu(1 + fake)).",
        lambda r, f: F.relu(-r).mean() + F.relu(f).mean(),
    ),
    Mistake(
        "you averaged the two terms (a factor 0.5); L_D is their *sum*.",
        lambda r, f: 0.5 * (F.relu(1 - r).mean() + F.relu(1 + f).mean()),
    ),
    Mistake(
        "you summed over the batch; each term is a *mean*.",
        lambda r, f: F.relu(1 - r).sum() + F.relu(1 + f).sum(),
    ),
]

_HINGE_G_MISTAKES = [
    Mistake(
        "the generator loss has no hinge: L_G = -mean(D(G(z))), not mean(relu(1 - D(G(z)))). "
        "Only the discriminator uses the margin (Lim & Ye 2017; Miyato et al. 2018).",
        lambda r, f: F.relu(1 - f).mean(),
    ),
    Mistake(
        "the generator loss has no hinge: L_G = -mean(D(G(z))), not a relu of it.",
        lambda r, f: F.relu(-f).mean(),
    ),
    Mistake(
        "the generator loss has the wrong sign: the generator wants high scores on its "
        "fakes, so it minimises L_G = -mean(D(G(z))).",
        lambda r, f: f.mean(),
    ),
    Mistake(
        "the generator loss uses the real scores; it is -mean(fake_logits).",
        lambda r, f: -r.mean(),
    ),
    Mistake(
        "you summed the generator loss over the batch; it is -mean(fake_logits).",
        lambda r, f: -f.sum(),
    ),
]


def check_hinge_losses(fn) -> None:
    """Check ``hinge_losses(real_logits, fake_logits) -> (d_loss, g_loss)``:
    mean(relu(1 - real)) + mean(relu(1 + fake)) and -mean(fake)."""
    assert_not_reference(fn, ref.hinge_losses)
    name = "hinge_losses"
    for dev, dtype in cases():
        for i, (rs, fs) in enumerate(_PAIRS):
            case = f"real {rs}, fake {fs}, {dtype}, {dev.type}"
            real = _scores(rs, 1000 + i, dtype, dev, scale=2.0) + 0.5
            fake = _scores(fs, 1010 + i, dtype, dev, scale=2.0) - 0.5
            _two_losses(
                name,
                fn,
                ref.hinge_losses,
                (real, fake),
                {},
                (_HINGE_D_MISTAKES, _HINGE_G_MISTAKES),
                case,
                (real, fake),
            )
    # Confident scores beyond the margin cost nothing: the relu's job.
    real = torch.tensor([3.0, 5.0, 0.5])
    fake = torch.tensor([-4.0, -2.0, 0.0])
    _two_losses(
        name,
        fn,
        ref.hinge_losses,
        (real, fake),
        {},
        (_HINGE_D_MISTAKES, _HINGE_G_MISTAKES),
        "scores beyond the margin (real > 1, fake < -1)",
        (real, fake),
    )
    _check_gradients(
        name,
        fn,
        ref.hinge_losses,
        (
            randn(5, seed=1020, dtype=torch.float64) * 2,
            randn(3, seed=1021, dtype=torch.float64) * 2,
        ),
        ("real_logits", "fake_logits"),
        parts=("d_loss", "g_loss"),
    )
    success(name, "margins, relu, signs, means, float32/float64, gradients")


# ---------------------------------------------------------------------------------------
# DCGAN generator and discriminator (classes)
# ---------------------------------------------------------------------------------------

_POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)

_G_CONFIGS = [dict(z_dim=16, channels=1, base=8), dict(z_dim=5, channels=3, base=4)]
_D_CONFIGS = [dict(channels=1, base=8), dict(channels=3, base=4)]

_G_HINTS = {
    "conv_transpose2d": "A transposed convolution needs a 4-D input: reshape z (B, z_dim) to "
    "(B, z_dim, 1, 1) first (z.view(-1, z_dim, 1, 1) or z[:, :, None, None]).",
    "channels": "Build the layers from the constructor's arguments (z_dim, channels, base), "
    "not from fixed numbers.",
}
_D_HINTS = {
    "channels": "Build the layers from the constructor's arguments (channels, base), not from "
    "fixed numbers.",
}


def _build_module(cls, name: str, kwargs: dict):
    try:
        return call_student(cls, (), kwargs, references=[ref])
    except AssertionError as err:
        raise AssertionError(f"could not build {name}(**{kwargs}): {err}") from err


def _no_pooling(model: nn.Module, name: str, how: str) -> None:
    pools = [type(m).__name__ for m in model.modules() if isinstance(m, _POOLING)]
    if pools:
        raise AssertionError(
            f"{name} uses {pools[0]}: DCGAN has no pooling layers (Radford et al. 2016, sec. 3), "
            f"{how}."
        )


def _scaled_copy(model: nn.Module, factor: float = 100.0) -> nn.Module:
    """A copy with every parameter multiplied by ``factor``: pre-activations become huge, so
    the output layer's squashing (tanh, sigmoid or none) shows in the output range."""
    big = copy.deepcopy(model).to("cpu", torch.float64)
    with torch.no_grad():
        for p in big.parameters():
            p.mul_(factor)
    return big


def _batch_independent(name: str, model, inputs: torch.Tensor, lock, case: str) -> None:
    """In eval mode, sample i's output does not depend on the rest of the batch."""
    model.eval()
    with torch.no_grad():
        full = call_student(model, (inputs,), references=lock, case=case)
        alone = torch.cat(
            [
                call_student(model, (inputs[i : i + 1],), references=lock, case=case)
                for i in range(len(inputs))
            ]
        )
    if not close(full, alone):
        raise AssertionError(
            f"{name}: in eval mode the output for one input changes with the rest of the batch"
            f"{where(case)}. Each sample must be processed on its own: check the reshapes "
            "(keep the batch dimension first, e.g. z.view(B, z_dim, 1, 1), not "
            "z.view(z_dim, B, 1, 1))."
        )


def _gradients_reach_everything(name: str, model, inputs: torch.Tensor, lock) -> None:
    model.train()
    model.zero_grad()
    inputs = inputs.detach().clone().requires_grad_()
    out = call_student(model, (inputs,), references=lock, case="gradient check")
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise AssertionError(
            f"{name} returned a result without gradient: no gradient reaches the parameters. "
            "Do not use .detach(), .data, torch.no_grad() or numpy in forward (the GAN trains "
            "through both networks)."
        )
    out.pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    if missing or inputs.grad is None:
        raise AssertionError(
            f"{name}: no gradient reaches {missing or ['the input']}: every layer must be used "
            "in forward, and nothing may be detached (the GAN trains through both networks)."
        )


def _image_shape_message(name, out, b, c, case) -> str | None:
    if not isinstance(out, torch.Tensor):
        return None  # assert_tensor says it
    shape = tuple(out.shape)
    if shape == (b, c, 28, 28):
        return None
    if len(shape) == 2 and shape[1] == c * 28 * 28:
        return (
            f"{name} returned flat images {shape}{where(case)}: reshape them to (B, C, 28, 28) "
            "(better: let transposed convolutions build the image, no Linear layer at the end)."
        )
    if len(shape) == 4 and shape[2:] != (28, 28):
        return (
            f"{name} returned images of size {shape[2]}x{shape[3]}, expected 28x28{where(case)}: "
            "1x1 -> 7x7 needs ConvTranspose2d(kernel 7, stride 1, padding 0), and each "
            "doubling 7 -> 14 -> 28 ConvTranspose2d(kernel 4, stride 2, padding 1); "
            "H_out = (H_in - 1) * stride - 2 * padding + kernel."
        )
    if len(shape) == 4 and shape[1] != c:
        return (
            f"{name}(channels={c}) returned {shape[1]} channels{where(case)}: the last layer "
            "must produce `channels` channels."
        )
    return f"{name} returned shape {shape}, expected {(b, c, 28, 28)}{where(case)}."


def check_dcgan_generator(cls) -> None:
    """Check a ``DCGANGenerator(z_dim, channels, base)`` class: ``forward`` maps z (B, z_dim)
    to images (B, channels, 28, 28) in [-1, 1] through a final tanh.

    Judged: output shapes for two configurations and a batch of one, in train and eval
    mode; dtype and device follow the module; tanh at the output (not sigmoid, not none);
    the images depend on z, each sample on its own z only (eval mode); gradients reach
    every parameter and z; no pooling.
    """
    with keep_student_rng():  # the student's own seeds stay as they were
        _check_dcgan_generator(cls)


def _check_dcgan_generator(cls) -> None:
    assert_not_reference(cls, ref.DCGANGenerator)
    name = getattr(cls, "__name__", "DCGANGenerator")
    lock = [ref]  # the whole module: building on the reference's layers is not your own
    for k, cfg in enumerate(_G_CONFIGS):
        torch.manual_seed(k)
        model = _build_module(cls, name, cfg)
        _no_pooling(model, name, "the generator upsamples with transposed convolutions")
        z_dim, c = cfg["z_dim"], cfg["channels"]
        for dev, dtype in cases():
            model = model.to(dev, dtype)
            for mode in ("train", "eval"):
                model.train(mode == "train")
                for b in (5, 1):
                    case = f"{name}(**{cfg}), z of shape ({b}, {z_dim}), {mode} mode, {dtype}, "
                    case += dev.type
                    z = randn(b, z_dim, seed=40 + b, dtype=dtype, dev=dev)
                    with torch.no_grad():
                        out = call_student(model, (z,), references=lock, case=case, hints=_G_HINTS)
                    message = _image_shape_message(name, out, b, c, case)
                    if message:
                        raise AssertionError(message)
                    like = torch.empty(b, c, 28, 28, dtype=dtype, device=dev)
                    assert_tensor(out, like, name, case)
                    if not torch.isfinite(out).all() or out.min() < -1 or out.max() > 1:
                        raise AssertionError(
                            f"{name} returned values in [{out.min():.3g}, {out.max():.3g}]"
                            f"{where(case)}: images live in [-1, 1], so end with a tanh."
                        )
            case = f"{name}(**{cfg}), {dtype}, {dev.type}"
            z = randn(4, z_dim, seed=50, dtype=dtype, dev=dev)
            _batch_independent(name, model, z, lock, case)
            with torch.no_grad():
                other = call_student(model, (z.flip(0),), references=lock, case=case)
                out = call_student(model, (z,), references=lock, case=case)
            if close(out, other) or close(out[0], out[1]):
                raise AssertionError(
                    f"{name}: different z give the same image{where(case)}: the output must be "
                    "computed from z (no constant or stored tensor in place of the input)."
                )
        model = model.to("cpu", torch.float32)
        _gradients_reach_everything(name, model, randn(3, z_dim, seed=51), lock)
    # The output activation: with all parameters scaled up, the pre-activations are huge.
    big = _scaled_copy(model).train()
    with torch.no_grad():
        out = call_student(big, (randn(64, 5, seed=52, dtype=torch.float64),), references=lock)
    lo, hi = float(out.min()), float(out.max())
    if not (-1 <= lo and hi <= 1):
        raise AssertionError(
            f"{name}'s output is not bounded: with large weights it reaches [{lo:.3g}, {hi:.3g}]. "
            "End the generator with a tanh, so images lie in [-1, 1] like the data."
        )
    if lo >= 0:
        raise AssertionError(
            f"{name}'s output never goes below 0 (range [{lo:.3g}, {hi:.3g}] with large weights): "
            "a sigmoid gives [0, 1], but the course's images live in [-1, 1]. Use tanh."
        )
    success(name, "shapes (B, C, 28, 28), train/eval, tanh output, uses z, gradients, float64")


def check_dcgan_discriminator(cls) -> None:
    """Check a ``DCGANDiscriminator(channels, base)`` class: ``forward`` maps images
    (B, channels, 28, 28) to one logit per image, shape (B,).

    Judged: output shape (B,) for two configurations and a batch of one (no ``squeeze()``
    surprise), in train and eval mode; dtype and device follow the module; logits, not
    probabilities (no final sigmoid); each image scored on its own (eval mode); the score
    depends on the image; gradients reach every parameter and the input; LeakyReLU rather
    than ReLU; no pooling.
    """
    with keep_student_rng():
        _check_dcgan_discriminator(cls)


def _check_dcgan_discriminator(cls) -> None:
    assert_not_reference(cls, ref.DCGANDiscriminator)
    name = getattr(cls, "__name__", "DCGANDiscriminator")
    lock = [ref]
    for k, cfg in enumerate(_D_CONFIGS):
        torch.manual_seed(k)
        model = _build_module(cls, name, cfg)
        _no_pooling(model, name, "the discriminator downsamples with stride-2 convolutions")
        kinds = {type(m) for m in model.modules()}
        if nn.ReLU in kinds and nn.LeakyReLU not in kinds:
            raise AssertionError(
                f"{name} uses nn.ReLU: DCGAN's discriminator uses LeakyReLU(0.2), so that "
                "gradients also flow for negative pre-activations and reach the generator."
            )
        c = cfg["channels"]
        for dev, dtype in cases():
            model = model.to(dev, dtype)
            for mode in ("train", "eval"):
                model.train(mode == "train")
                for b in (5, 1):
                    case = f"{name}(**{cfg}), x of shape ({b}, {c}, 28, 28), {mode} mode, "
                    case += f"{dtype}, {dev.type}"
                    x = rand(b, c, 28, 28, seed=60 + b, dtype=dtype, dev=dev) * 2 - 1
                    with torch.no_grad():
                        out = call_student(model, (x,), references=lock, case=case, hints=_D_HINTS)
                    if isinstance(out, torch.Tensor) and out.shape != (b,):
                        if out.numel() == b and b == 1 and out.ndim == 0:
                            raise AssertionError(
                                f"{name} returned shape () for a batch of one{where(case)}: "
                                ".squeeze() also removes the batch dimension when B = 1. Use "
                                ".flatten() or .view(-1) to get logits of shape (B,)."
                            )
                        if out.numel() == b:
                            raise AssertionError(
                                f"{name} returned shape {tuple(out.shape)}{where(case)}, expected "
                                f"({b},): one logit per image. Flatten the (B, 1, 1, 1) output "
                                "with .flatten() or .view(-1)."
                            )
                    assert_tensor(out, torch.empty(b, dtype=dtype, device=dev), name, case)
                    if not torch.isfinite(out).all():
                        raise AssertionError(f"{name} returned nan or inf{where(case)}.")
            case = f"{name}(**{cfg}), {dtype}, {dev.type}"
            x = rand(4, c, 28, 28, seed=70, dtype=dtype, dev=dev) * 2 - 1
            _batch_independent(name, model, x, lock, case)
            with torch.no_grad():
                out = call_student(model, (x,), references=lock, case=case)
            if close(out[:2], out[2:]):
                raise AssertionError(
                    f"{name}: different images get the same score{where(case)}: the logits "
                    "must be computed from the input."
                )
        model = model.to("cpu", torch.float32)
        _gradients_reach_everything(name, model, rand(3, c, 28, 28, seed=71) * 2 - 1, lock)
    big = _scaled_copy(model).train()
    x = rand(64, 3, 28, 28, seed=72, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        out = call_student(big, (x,), references=lock)
    if float(out.min()) >= 0 and float(out.max()) <= 1:
        raise AssertionError(
            f"{name} returns probabilities in [0, 1] (even with huge weights): remove the final "
            "sigmoid. The discriminator outputs logits; discriminator_loss applies the sigmoid "
            "inside softplus / binary_cross_entropy_with_logits, which is numerically stable."
        )
    success(name, "logits of shape (B,), batch of one, train/eval, no sigmoid, gradients, float64")
