"""Checks for week 06 (pix2pix and CycleGAN): ``check_<name>(your_function_or_class)``.

Each check runs your code on seeded inputs (several shapes, float32 and float64, the CPU
and the accelerator when there is one) and compares it with the course's reference,
which is switched off while your code runs. A failure names the likely mistake.
Conventions (as in ``course.cyclegan``): images are (B, C, H, W) in [-1, 1]; every L1
term is the mean over **all** elements; adversarial scores are raw discriminator
outputs, one per patch.
"""

from __future__ import annotations

import collections
import contextlib
import numbers
import random

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course import cyclegan as ref
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
    randn,
    success,
    where,
)

__all__ = [
    "check_cycle_loss",
    "check_cyclegan_generator_loss",
    "check_identity_loss",
    "check_image_pool",
    "check_pix2pix_generator_loss",
    "check_receptive_field",
    "check_unet_generator",
]


_call = caller(ref)


@contextlib.contextmanager
def _private_rng():
    """Seed torch, NumPy and Python's ``random`` for the check (deterministic statistics,
    whichever generator the student uses); give the student's states back after."""
    state, np_state = random.getstate(), np.random.get_state()
    with keep_student_rng():
        torch.manual_seed(0)
        random.seed(0)
        np.random.seed(0)
        try:
            yield
        finally:
            random.setstate(state)
            np.random.set_state(np_state)


def _scalar(name: str, got, expected: torch.Tensor, case: str) -> None:
    """A loss is a 0-d tensor: name a per-element or per-sample result."""
    if isinstance(got, torch.Tensor) and got.ndim > 0 and got.numel() > 1:
        raise AssertionError(
            f"{name} returned shape {tuple(got.shape)}, expected a scalar (shape ()){where(case)}: "
            "average over every element with .mean(), the loss is one number."
        )
    if isinstance(got, torch.Tensor) and got.shape != expected.shape and got.numel() == 1:
        raise AssertionError(
            f"{name} returned shape {tuple(got.shape)}, expected a 0-d scalar{where(case)}: "
            "use .mean() over the whole tensor (no keepdim, no .view(1))."
        )


def _grad_check(name, fn, ref_fn, tensors, names, kwargs=None) -> None:
    """Gradients w.r.t. every tensor named (not None) equal the reference's (float64, CPU)."""
    ref_leaves = [
        t.detach().clone().requires_grad_(n is not None)
        for t, n in zip(tensors, names, strict=True)
    ]
    ref_fn(*ref_leaves, **(kwargs or {})).backward()
    leaves = [
        t.detach().clone().requires_grad_(n is not None)
        for t, n in zip(tensors, names, strict=True)
    ]
    out = _call(fn, leaves, kwargs, case="gradient check")
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise AssertionError(
            f"{name} returned a result without gradient: no .item(), .detach(), numpy or "
            "torch.no_grad() inside; the generators are trained through this loss."
        )
    out.backward()
    for leaf, want, arg in zip(leaves, ref_leaves, names, strict=True):
        if arg is None:
            continue
        if leaf.grad is None:
            raise AssertionError(f"{name}: no gradient reaches {arg}. Did you detach it?")
        if not close(leaf.grad, want.grad):
            raise AssertionError(
                f"{name} gives wrong gradients w.r.t. {arg} although the values are right: is "
                "part of the computation detached?"
            )


# ---------------------------------------------------------------------------------------
# cycle_loss and identity_loss: L1, mean over all elements
# ---------------------------------------------------------------------------------------


def _l1_mistakes(what: str, l2_message: str) -> list[Mistake]:
    return [
        Mistake(l2_message, lambda a, b: (b - a).pow(2).mean()),
        Mistake(
            f"you took the L2 *norm* of the difference; the {what} is L1: mean(|a - b|).",
            lambda a, b: (b - a).flatten(1).norm(dim=1).mean(),
        ),
        Mistake(
            f"you took the root of the mean squared error; the {what} is L1: mean(|a - b|).",
            lambda a, b: (b - a).pow(2).mean().sqrt(),
        ),
        Mistake(
            "the absolute value is missing: positive and negative errors cancel. "
            "Use mean(|a - b|).",
            lambda a, b: (b - a).mean(),
        ),
        Mistake(
            "the absolute value is missing: positive and negative errors cancel. "
            "Use mean(|a - b|).",
            lambda a, b: (a - b).mean(),
        ),
        Mistake(
            "you summed over all elements; the course's convention (nn.L1Loss in the "
            "CycleGAN code) is the *mean* over all elements, so the weights 10 and 5 mean "
            "what the paper says.",
            lambda a, b: (b - a).abs().sum(),
        ),
        Mistake(
            "you summed |a - b| over each image's pixels and averaged over the batch; the "
            "course's convention is the mean over *all* elements (nn.L1Loss), .abs().mean().",
            lambda a, b: (b - a).abs().flatten(1).sum(dim=1).mean(),
        ),
    ]


_CYCLE_MISTAKES = _l1_mistakes(
    "cycle loss",
    "you used the squared error (L2); the cycle-consistency loss is L1, mean(|F(G(x)) - x|): "
    "L1 punishes small differences more and blurs less.",
)
_IDENTITY_MISTAKES = _l1_mistakes(
    "identity loss",
    "you used the squared L2 norm, as the lecture slide does; that slide is an erratum. "
    "CycleGAN's identity loss is L1, like the cycle loss: mean(|G(y) - y|).",
)

_L1_SHAPES = [(4, 3, 8, 8), (1, 1, 5, 5), (2, 6)]


def _check_l1(fn, name: str, reference, mistakes) -> None:
    for dev, dtype in cases():
        for i, shape in enumerate(_L1_SHAPES):
            case = f"shape {shape}, {dtype}, {dev.type}"
            a = randn(*shape, seed=600 + i, dtype=dtype, dev=dev).tanh()
            b = randn(*shape, seed=610 + i, dtype=dtype, dev=dev).tanh()
            before = [a.clone(), b.clone()]
            expected = reference(a, b)
            got = _call(fn, (a, b), case=case)
            inputs_unchanged(name, before, (a, b))
            _scalar(name, got, expected, case)
            compare(name, got, expected, mistakes=mistakes, args=(a, b), case=case)
    same = randn(3, 2, 4, 4, seed=620)
    got = _call(fn, (same, same.clone()), case="identical images")
    compare(name, got, torch.zeros(()), mistakes=mistakes, args=(same, same), case="identical")
    a, b = randn(3, 2, 4, 4, seed=621, dtype=torch.float64), randn(3, 2, 4, 4, seed=622)
    _grad_check(name, fn, reference, (a, b.double()), ("real", "the reconstruction"))


def check_cycle_loss(fn) -> None:
    """Check ``cycle_loss(real, reconstructed) -> mean(|reconstructed - real|)`` (a scalar)."""
    assert_not_reference(fn, ref.cycle_loss)
    _check_l1(fn, "cycle_loss", ref.cycle_loss, _CYCLE_MISTAKES)
    success("cycle_loss", "L1, mean over all elements, float32/float64, gradients")


def check_identity_loss(fn) -> None:
    """Check ``identity_loss(real, same) -> mean(|same - real|)`` (L1, not the slide's L2)."""
    assert_not_reference(fn, ref.identity_loss)
    _check_l1(fn, "identity_loss", ref.identity_loss, _IDENTITY_MISTAKES)
    success("identity_loss", "L1 (not the slide's squared L2), mean over all elements, gradients")


# ---------------------------------------------------------------------------------------
# pix2pix_generator_loss
# ---------------------------------------------------------------------------------------


def _l1(a, b):
    return (a - b).abs().mean()


_P2P_MISTAKES = [
    Mistake(
        "lambda_l1 multiplies the wrong term: it weights the L1 term, "
        "mean(softplus(-logits)) + lambda_l1 * mean(|fake - target|).",
        lambda lo, f, t, lam=100.0: lam * F.softplus(-lo).mean() + _l1(f, t),
    ),
    Mistake(
        "lambda_l1 is ignored: the L1 term is weighted by lambda_l1 (100 by default).",
        lambda lo, f, t, lam=100.0: F.softplus(-lo).mean() + _l1(f, t),
    ),
    Mistake(
        "you used the squared error (L2) for the reconstruction term; pix2pix uses L1, "
        "which blurs less: lambda_l1 * mean(|fake - target|).",
        lambda lo, f, t, lam=100.0: F.softplus(-lo).mean() + lam * (f - t).pow(2).mean(),
    ),
    Mistake(
        "you minimised log(1 - D(x, G(x))) = -softplus(logits), the saturating minimax "
        "form; use the non-saturating -log D(x, G(x)) = softplus(-logits).",
        lambda lo, f, t, lam=100.0: -F.softplus(lo).mean() + lam * _l1(f, t),
    ),
    Mistake(
        "the adversarial term pushes the wrong way: softplus(logits) is the discriminator's "
        "loss on fakes (label 0). The generator wants label 1: softplus(-logits).",
        lambda lo, f, t, lam=100.0: F.softplus(lo).mean() + lam * _l1(f, t),
    ),
    Mistake(
        "the adversarial term is missing: pix2pix adds the cGAN loss mean(softplus(-logits)) "
        "to lambda_l1 * L1; without it the outputs are blurry.",
        lambda lo, f, t, lam=100.0: lam * _l1(f, t),
    ),
    Mistake(
        "you summed the L1 term over all elements; it is the mean, mean(|fake - target|).",
        lambda lo, f, t, lam=100.0: F.softplus(-lo).mean() + lam * (f - t).abs().sum(),
    ),
]

_PROB_HINTS = {
    "between 0 and 1": "The discriminator outputs *logits*: use F.softplus(-logits) or "
    "F.binary_cross_entropy_with_logits, not F.binary_cross_entropy."
}


def check_pix2pix_generator_loss(fn) -> None:
    """Check ``pix2pix_generator_loss(fake_logits, fake, target, lambda_l1=100)``:
    ``mean(softplus(-fake_logits)) + lambda_l1 * mean(|fake - target|)``."""
    assert_not_reference(fn, ref.pix2pix_generator_loss)
    name = "pix2pix_generator_loss"
    shapes = [((4, 1, 3, 3), (4, 3, 8, 8)), ((1, 1, 2, 2), (1, 1, 6, 6)), ((5,), (5, 2, 4, 4))]
    for dev, dtype in cases():
        for i, (ls, xs) in enumerate(shapes):
            logits = randn(*ls, seed=700 + i, dtype=dtype, dev=dev) * 2
            fake = randn(*xs, seed=710 + i, dtype=dtype, dev=dev).tanh()
            target = randn(*xs, seed=720 + i, dtype=dtype, dev=dev).tanh()
            for lam in (None, 7.5, 0.0):
                case = f"logits {ls}, images {xs}, lambda_l1={lam or 100.0}, {dtype}, {dev.type}"
                args = (logits, fake, target)
                kwargs = {} if lam is None else {"lambda_l1": lam}
                before = [t.clone() for t in args]
                expected = ref.pix2pix_generator_loss(*args, **kwargs)
                got = _call(fn, args, kwargs, case=case, hints=_PROB_HINTS)
                inputs_unchanged(name, before, args)
                _scalar(name, got, expected, case)
                mistake_args = (*args, 100.0 if lam is None else lam)
                compare(name, got, expected, mistakes=_P2P_MISTAKES, args=mistake_args, case=case)
    # Stable for confident discriminators: log(sigmoid(-60)) must not be -inf.
    logits = torch.tensor([[-60.0, 60.0, 0.0, -120.0]])
    fake, target = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
    expected = ref.pix2pix_generator_loss(logits, fake, target)
    got = _call(fn, (logits, fake, target), case="large logits")
    if not isinstance(got, torch.Tensor) or not close(got.detach().reshape(()), expected):
        raise AssertionError(
            f"{name} is wrong for large logits (+-60, -120): got {got}, expected "
            f"{expected.item():.4g}. sigmoid(-120) rounds to 0 and log(0) = -inf: use "
            "F.softplus(-logits) (or binary_cross_entropy_with_logits), stable for any logit."
        )
    tensors = (
        randn(3, 1, 2, 2, seed=730, dtype=torch.float64),
        randn(3, 2, 4, 4, seed=731, dtype=torch.float64),
        randn(3, 2, 4, 4, seed=732, dtype=torch.float64),
    )
    _grad_check(name, fn, ref.pix2pix_generator_loss, tensors, ("fake_logits", "fake", None))
    success(name, "non-saturating cGAN term + lambda * L1, default 100, stable, gradients")


# ---------------------------------------------------------------------------------------
# cyclegan_generator_loss
# ---------------------------------------------------------------------------------------


def _ls(s):
    return (s - 1).pow(2).mean()


def _cg(
    adv=_ls, cyc=_l1, ident=_l1, *, adv_w=1.0, cyc_w="lc", id_w="li*lc", directions=2, pairs="right"
):
    """A CycleGAN generator loss built from parts: the shape of a student's mistake."""

    def loss(fy, fx, rx, ry, cx, cy, sx=None, sy=None, lc=10.0, li=0.5):
        weights = {"lc": lc, "li*lc": li * lc, "li": li, "1": 1.0}
        a = lc if adv_w == "lc" else adv_w
        out = a * (adv(fy) + adv(fx))
        if pairs == "swapped_cycle":
            cycles = cyc(rx, cy) + cyc(ry, cx)
        else:
            cycles = cyc(rx, cx) + (cyc(ry, cy) if directions == 2 else 0)
        out = out + weights[cyc_w] * cycles
        if sx is not None and sy is not None and id_w is not None:
            ids = (
                ident(rx, sy) + ident(ry, sx)
                if pairs == "swapped_id"
                else ident(rx, sx) + ident(ry, sy)
            )
            out = out + weights[id_w] * ids
        return out

    return loss


_CG_MISTAKES = [
    Mistake(
        "only one cycle direction is there. The lecture slide writes the cycle idea as "
        "G(F(x)) = x (erratum); the loss needs both cycles, "
        "cycle_loss(real_x, rec_x) + cycle_loss(real_y, rec_y), with rec_x = F(G(x)) and "
        "rec_y = G(F(y)).",
        _cg(directions=1),
    ),
    Mistake(
        "lambda_cyc multiplies the wrong term: it weights the cycle losses, not the "
        "adversarial ones. L = adv + lambda_cyc * cycle + lambda_id * lambda_cyc * identity.",
        _cg(adv_w="lc", cyc_w="1"),
    ),
    Mistake(
        "lambda_cyc multiplies the adversarial terms too: only the cycle (and identity) "
        "terms are weighted.",
        _cg(adv_w="lc"),
    ),
    Mistake(
        "the identity weight is lambda_id * lambda_cyc (0.5 * 10 = 5), not lambda_id alone.",
        _cg(id_w="li"),
    ),
    Mistake(
        "the identity weight is lambda_id * lambda_cyc (0.5 * 10 = 5), not lambda_cyc.",
        _cg(id_w="lc"),
    ),
    Mistake(
        "the identity term is missing although same_x and same_y were given: add "
        "lambda_id * lambda_cyc * (identity_loss(real_x, same_x) + identity_loss(real_y, same_y)).",
        _cg(id_w=None),
    ),
    Mistake(
        "you used the squared L2 identity loss of the lecture slide (erratum 9); CycleGAN's "
        "identity loss is L1, mean(|F(x) - x|) + mean(|G(y) - y|).",
        _cg(ident=lambda a, b: (a - b).pow(2).mean()),
    ),
    Mistake(
        "the cycle loss is squared L2; it is L1, mean(|F(G(x)) - x|).",
        _cg(cyc=lambda a, b: (a - b).pow(2).mean()),
    ),
    Mistake(
        "the adversarial terms use the BCE (softplus) loss; CycleGAN uses least squares, "
        "mean((D(fake) - 1)^2), on raw scores.",
        _cg(adv=lambda s: F.softplus(-s).mean()),
    ),
    Mistake(
        "the adversarial terms carry a factor 1/2 (course.gan.lsgan_losses' convention); "
        "CycleGAN's generator loss is mean((D(fake) - 1)^2) without it.",
        _cg(adv=lambda s: 0.5 * (s - 1).pow(2).mean()),
    ),
    Mistake(
        "the generator pushes the scores towards 0, the label of *fakes*; it wants the "
        "discriminators to say real: mean((D(fake) - 1)^2).",
        _cg(adv=lambda s: s.pow(2).mean()),
    ),
    Mistake(
        "the cycle pairs are crossed: compare real_x with rec_x = F(G(x)) and real_y with "
        "rec_y = G(F(y)).",
        _cg(pairs="swapped_cycle"),
    ),
    Mistake(
        "the identity pairs are crossed: same_x = F(x) is compared with real_x, "
        "same_y = G(y) with real_y.",
        _cg(pairs="swapped_id"),
    ),
]

_NONE_HINTS = {
    "NoneType": "same_x and same_y may be None: then leave the identity term out "
    "(`if same_x is not None and same_y is not None:`)."
}


def _cg_inputs(seed, dtype, dev, b=3):
    scores = [randn(b, 1, 3, 3, seed=seed + k, dtype=dtype, dev=dev) for k in range(2)]
    images = [randn(b, 3, 6, 6, seed=seed + 10 + k, dtype=dtype, dev=dev).tanh() for k in range(6)]
    return (*scores, *images)


def check_cyclegan_generator_loss(fn) -> None:
    """Check the full generator-side CycleGAN objective with the standard weights:
    ``mean((D_Y(G(x)) - 1)^2) + mean((D_X(F(y)) - 1)^2) + lambda_cyc * (cycles) +
    lambda_id * lambda_cyc * (identities)``."""
    assert_not_reference(fn, ref.cyclegan_generator_loss)
    name = "cyclegan_generator_loss"
    weightings = [{}, {"lambda_cyc": 3.0, "lambda_id": 0.2}, {"lambda_cyc": 10.0, "lambda_id": 0.0}]
    for dev, dtype in cases():
        for i, kw in enumerate(weightings):
            t = _cg_inputs(800 + 20 * i, dtype, dev, b=1 + i)
            for with_id in (True, False):
                args = t if with_id else t[:6]
                case = (
                    f"{'with' if with_id else 'without'} identity terms, weights "
                    f"{kw or 'default (10, 0.5)'}, {dtype}, {dev.type}"
                )
                before = [a.clone() for a in args]
                expected = ref.cyclegan_generator_loss(*args, **kw)
                got = _call(fn, args, kw, case=case, hints=_NONE_HINTS)
                inputs_unchanged(name, before, args)
                _scalar(name, got, expected, case)
                mistake_kw = {"lc": kw.get("lambda_cyc", 10.0), "li": kw.get("lambda_id", 0.5)}
                compare(
                    name,
                    got,
                    expected,
                    mistakes=_CG_MISTAKES,
                    args=args,
                    kwargs=mistake_kw,
                    case=case,
                )
    # Keyword call with explicit None, as a training loop without identity loss does it.
    t = _cg_inputs(900, torch.float32, torch.device("cpu"))
    expected = ref.cyclegan_generator_loss(*t[:6])
    got = _call(
        fn,
        t[:6],
        {"same_x": None, "same_y": None},
        case="same_x=None, same_y=None",
        hints=_NONE_HINTS,
    )
    compare(name, got, expected, mistakes=_CG_MISTAKES, args=t[:6], case="same_x=None")
    tensors = _cg_inputs(950, torch.float64, torch.device("cpu"))
    _grad_check(
        name,
        fn,
        ref.cyclegan_generator_loss,
        tensors,
        ("fake_y_scores", "fake_x_scores", None, None, "rec_x", "rec_y", "same_x", "same_y"),
    )
    success(name, "LSGAN terms, both cycles (x10), identity (x5), None handling, gradients")


# ---------------------------------------------------------------------------------------
# receptive_field
# ---------------------------------------------------------------------------------------


def _rf_sum_kernels(layers):
    return sum(k for k, _ in layers)


def _rf_no_strides(layers):
    return 1 + sum(k - 1 for k, _ in layers)


def _rf_jump_after(layers):
    r, jump = 1, 1
    for k, s in layers:
        jump *= s
        r += (k - 1) * jump
    return r


def _rf_from_zero(layers):
    r, jump = 0, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r


def _rf_summed_strides(layers):
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump += s
    return r


def _rf_reversed(layers):
    r, jump = 1, 1
    for k, s in reversed(list(layers)):
        r += (k - 1) * jump
        jump *= s
    return r


def _rf_kernel_times_strides(layers):
    r, jump = 1, 1
    for k, s in layers:
        r += k * jump
        jump *= s
    return r


_RF_MISTAKES = [
    (
        "you added the kernel sizes; strides make later layers see further: each layer adds "
        "(k - 1) * (product of the strides of the layers before it).",
        _rf_sum_kernels,
    ),
    (
        "the strides are ignored: each layer adds (k - 1) times the product of the strides of "
        "the layers *before* it, not (k - 1).",
        _rf_no_strides,
    ),
    (
        "you multiplied in the current layer's stride before adding its kernel: its (k - 1) "
        "is scaled by the strides of the layers *before* it only (update the jump after).",
        _rf_jump_after,
    ),
    (
        "off by one: a single 1x1 output unit sees 1 pixel, so start from r = 1, then add "
        "(k - 1) * jump per layer.",
        _rf_from_zero,
    ),
    (
        "you summed the strides; strides compound: the jump between neighbouring units is the "
        "*product* of the strides so far.",
        _rf_summed_strides,
    ),
    (
        "you walked the layers from output to input with the input-to-output formula: the list "
        "goes from the input to the output, and the jump grows with the strides seen so far.",
        _rf_reversed,
    ),
    (
        "each layer adds k * jump; it adds (k - 1) * jump (a 1x1 convolution adds nothing).",
        _rf_kernel_times_strides,
    ),
]

_RF_CASES = [
    [(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)],  # the 70x70 PatchGAN
    [(3, 1), (3, 1), (3, 1)],
    [(3, 2), (3, 1), (5, 2), (3, 1)],
    [(7, 1), (4, 2), (4, 2), (4, 1)],
    [(4, 2), (4, 1), (4, 1)],  # the 16x16 PatchGAN
    [(2, 2), (2, 2), (2, 2), (2, 2)],
    [(1, 1), (5, 3)],
    [(3, 1)],
    [],
]


def check_receptive_field(fn) -> None:
    """Check ``receptive_field(layers) -> int``: ``1 + sum_l (k_l - 1) * prod_{i<l} s_i``."""
    assert_not_reference(fn, ref.receptive_field)
    name = "receptive_field"
    for layers in _RF_CASES:
        case = f"layers={layers}"
        given = [tuple(layer) for layer in layers]
        expected = ref.receptive_field(given)
        got = _call(fn, (given,), case=case)
        if given != [tuple(layer) for layer in layers]:
            raise AssertionError(f"{name} changed the list of layers it was given{where(case)}.")
        if got is None:
            raise AssertionError(f"{name} returned None{where(case)}. Did you forget a `return`?")
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, numbers.Real) or isinstance(got, bool):
            raise AssertionError(
                f"{name} should return an int (pixels per side), got {type(got).__name__}"
                f"{where(case)}."
            )
        if got == expected:
            continue
        for message, wrong in _RF_MISTAKES:
            if layers and wrong(given) == got:
                raise AssertionError(
                    f"{name}: {message} (layers {layers}: expected {expected}, got {got})"
                )
        raise AssertionError(f"{name} returned {got} for {layers}, expected {expected}.")
    success(name, "70 for the standard PatchGAN, strides compound, empty stack = 1")


# ---------------------------------------------------------------------------------------
# ImagePool
# ---------------------------------------------------------------------------------------


def _ids(images: torch.Tensor) -> list[int]:
    """Each test image is constant: its value is its id."""
    return [int(round(v)) for v in images.detach().flatten(1)[:, 0].cpu().double().tolist()]


def _batch(first: int, n: int, dtype=torch.float32, dev=None) -> torch.Tensor:
    ids = torch.arange(first, first + n, dtype=torch.float64)
    return ids.view(n, 1, 1, 1).expand(n, 2, 3, 3).to(dev or "cpu", dtype).contiguous()


def _stored(pool, name: str) -> list:
    images = getattr(pool, "images", None)
    if not isinstance(images, (list, tuple)) and not isinstance(images, torch.Tensor):
        raise AssertionError(
            f"{name} keeps no list `self.images`: store the pool's images in a list attribute "
            "named `images` (each a (C, H, W) tensor), as in the original code."
        )
    return list(images)


def _make_pool(cls, size, name):
    try:
        return call_student(cls, (size,), references=[ref], case=f"{name}({size})")
    except AssertionError:
        raise
    except Exception as err:  # pragma: no cover - call_student converts errors already
        raise AssertionError(f"{name}({size}) failed: {err}") from err


def check_image_pool(cls) -> None:
    """Check ``ImagePool(size=50)`` with ``.query(images)``: store while filling, then swap
    each image with a random stored one with probability 1/2; never more than ``size``."""
    assert_not_reference(cls, ref.ImagePool)
    name = getattr(cls, "__name__", "ImagePool")
    with _private_rng():
        _check_image_pool(cls, name)
    success(name, "filling, the 50% swap per image, at most `size` images, size=0, detached")


def _check_image_pool(cls, name: str) -> None:
    size, batch = 10, 8
    for dev, dtype in cases():
        pool = _make_pool(cls, size, name)
        case = f"{dtype}, {dev.type}"
        # Filling: every image is stored and returned as it is.
        x = _batch(1, size, dtype, dev)
        out = call_student(pool.query, (x,), references=[ref], case=f"filling, {case}")
        assert_tensor(out, x, f"{name}.query", f"filling, {case}")
        stored = _stored(pool, name)
        if not torch.equal(out, x):
            raise AssertionError(
                f"{name}.query changed images while the pool was still filling ({case}): until "
                "it holds `size` images, store each new image and return it as it is."
            )
        if len(stored) != size:
            raise AssertionError(
                f"{name} holds {len(stored)} images after {size} queries into a pool of size "
                f"{size}: while filling, store every new image (append it to self.images)."
                if len(stored) < size
                else f"{name} keeps {len(stored)} images, more than size={size}."
            )
        # Full: per image, a fair coin; heads returns a random old image and stores the new.
        pool_ids = collections.Counter(_ids(torch.stack([s.reshape(2, 3, 3) for s in stored])))
        first_fill = set(pool_ids)
        old = total = all_or_nothing = 0
        rounds = 150 if dtype == torch.float32 else 30
        for r in range(rounds):
            x = _batch(1000 + batch * r, batch, dtype, dev)
            new_ids = _ids(x)
            out = call_student(pool.query, (x,), references=[ref], case=f"full pool, {case}")
            assert_tensor(out, x, f"{name}.query", f"full pool, {case}")
            stored = _stored(pool, name)
            if len(stored) > size:
                raise AssertionError(
                    f"{name} holds {len(stored)} images, more than size={size}: once full, a "
                    "new image only *replaces* the stored image it returns."
                )
            got_ids = _ids(out)
            after = collections.Counter(_ids(torch.stack([s.reshape(2, 3, 3) for s in stored])))
            n_old = sum(g != n for g, n in zip(got_ids, new_ids, strict=True))
            if after + collections.Counter(got_ids) != pool_ids + collections.Counter(new_ids):
                if n_old and after == pool_ids:
                    raise AssertionError(
                        f"{name} returned a stored image but kept it and dropped the new one "
                        f"({case}): when it returns an old image, the new image takes its "
                        "place in the pool (self.images[i] = new image)."
                    )
                else:
                    raise AssertionError(
                        f"{name}: what was returned and what is stored do not add up ({case}). "
                        "For each image: either return it (pool unchanged), or return a "
                        "randomly chosen stored image and store the new one in its place."
                    )
            pool_ids = after
            old += n_old
            total += batch
            all_or_nothing += n_old in (0, batch)
        fraction = old / total
        if fraction == 0:
            raise AssertionError(
                f"{name} never returns an old image once full ({case}): with probability 1/2 "
                "return a random stored image instead (and store the new one)."
            )
        if fraction > 0.95:
            raise AssertionError(
                f"{name} returns an old image (almost) every time once full ({case}): the swap "
                "happens with probability 1/2 per image (`if random.random() > 0.5`)."
            )
        if all_or_nothing > 0.5 * rounds:
            raise AssertionError(
                f"{name} swaps whole batches at once ({case}): flip the coin for each image "
                "of the batch separately."
            )
        low, high = (0.44, 0.56) if rounds >= 100 else (0.35, 0.65)
        if not low <= fraction <= high:
            raise AssertionError(
                f"{name} returned an old image for {fraction:.0%} of the images once full "
                f"({case}); expected about 50%: swap with probability 1/2."
            )
        if rounds >= 100 and len(first_fill & set(pool_ids)) > 2:
            raise AssertionError(
                f"{name} keeps swapping the same few slots ({case}): pick the stored image to "
                "return uniformly at random (random.randint(0, size - 1))."
            )
    # The pool must not keep the generator's graph alive.
    pool = _make_pool(cls, 4, name)
    w = torch.ones((), requires_grad=True)
    for r in range(3):
        call_student(pool.query, (_batch(5000 + 4 * r, 4) * w,), references=[ref], case="grad")
    if any(isinstance(s, torch.Tensor) and s.requires_grad for s in _stored(pool, name)):
        raise AssertionError(
            f"{name} stores images that still require grad: detach them (image.detach()) so "
            "the pool does not keep every generator graph alive (a memory leak)."
        )
    # size = 0: the pool is off.
    pool = _make_pool(cls, 0, name)
    x = _batch(0, 4)
    out = call_student(
        pool.query,
        (x,),
        references=[ref],
        case="size=0",
        hints={"": "size=0 turns the pool off: return the images as they are."},
    )
    assert_tensor(out, x, f"{name}(0).query", "size=0")
    if not torch.equal(out, x):
        raise AssertionError(f"{name}(0).query must return its input unchanged: size 0 = no pool.")


# ---------------------------------------------------------------------------------------
# UNetGenerator
# ---------------------------------------------------------------------------------------

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def _conv_params(model: nn.Module) -> int:
    return sum(p.numel() for m in model.modules() if isinstance(m, _CONVS) for p in m.parameters())


def _unet_count(in_ch, out_ch, n, ngf, *, concat=True, cap=True, outer_skip=False) -> int:
    """Parameters of the U-Net's convolutions for several wiring variants."""
    c = [ngf * (min(2**i, 8) if cap else 2**i) for i in range(n)]
    total = 0
    enc_in = [in_ch, *c[:-1]]
    for i in range(n):
        total += enc_in[i] * c[i] * 16 + c[i]  # Conv 4x4
    for i in range(n):  # decoder level i maps to enc_in[i] channels (out_ch at the top)
        inner = c[i] * (2 if concat and i < n - 1 else 1)
        out = out_ch if i == 0 else c[i - 1]
        total += inner * out * 16 + out
    if outer_skip:
        total = total - (2 * c[0] * out_ch * 16) + (2 * c[0] + in_ch) * out_ch * 16
    return total


_UNET_HINTS = {
    "Sizes of tensors must match": "You concatenated feature maps of different resolutions: "
    "each decoder level takes the encoder output of the *same* size (the mirrored level).",
    "channels": "A layer got a different number of channels than it was built for: a "
    "decoder level after a skip takes 2 * c_i channels (the skip and the upsampled map).",
}


def check_unet_generator(cls) -> None:
    """Check ``UNetGenerator(in_channels, out_channels, num_downs, ngf=64)``: shapes, tanh
    range, the convolution sizes of the mirrored encoder/decoder with concatenated skips,
    and that the skips really bypass the bottleneck (Jacobian rank)."""
    assert_not_reference(cls, ref.UNetGenerator)
    name = getattr(cls, "__name__", "UNetGenerator")
    with keep_student_rng():
        torch.manual_seed(0)
        _check_unet(cls, name)
    success(name, "shapes, tanh output, mirrored levels, concatenated skips past the bottleneck")


def _build(cls, name, *args, **kwargs):
    return call_student(
        cls, args, kwargs, references=[ref], case=f"{name}{args} {kwargs}".replace("{}", "")
    )


def _check_unet(cls, name: str) -> None:
    configs = [((1, 3, 3), {"ngf": 4}, 8), ((3, 2, 4), {"ngf": 2}, 16), ((2, 1, 5), {"ngf": 2}, 32)]
    for args, kwargs, hw in configs:
        model = _build(cls, name, *args, **kwargs)
        label = f"{name}{args}, ngf={kwargs['ngf']}"
        want = _unet_count(*args, kwargs["ngf"])
        got = _conv_params(model)
        if got != want:
            in_ch, out_ch, n = args
            variants = [
                (
                    _unet_count(*args, kwargs["ngf"], concat=False),
                    "the decoder levels take c_i input channels: the skips are missing or added "
                    "(+) instead of concatenated. Each decoder level after the innermost gets "
                    "torch.cat([skip, up], dim=1), 2 * c_i channels.",
                ),
                (
                    _unet_count(*args, kwargs["ngf"], cap=False),
                    "the channels are not capped: c_i = ngf * min(2**i, 8).",
                ),
                (
                    _unet_count(*args, kwargs["ngf"], outer_skip=True),
                    "the input image is concatenated to the last decoder layer; the outermost "
                    "level has no skip (its output is the image).",
                ),
            ]
            hint = next((h for count, h in variants if count == got), None)
            raise AssertionError(
                f"{label}: its convolutions hold {got} parameters, expected {want}. "
                + (
                    hint
                    or "Encoder: Conv2d(4, 2, 1) from in_channels through c_0..c_{n-1} "
                    "(c_i = ngf * min(2**i, 8)); decoder: ConvTranspose2d(4, 2, 1) mirroring it, "
                    "2 * c_i input channels after each skip, ending in out_channels."
                )
            )
        for dev, dtype in cases():
            case = f"{label}, input (2, {args[0]}, {hw}, {hw}), {dtype}, {dev.type}"
            model = model.to(dev, dtype)
            x = randn(2, args[0], hw, hw, seed=1000 + hw, dtype=dtype, dev=dev)
            out = call_student(model, (x,), references=[ref], case=case, hints=_UNET_HINTS)
            assert_tensor(
                out,
                torch.empty(2, args[1], hw, hw, dtype=dtype, device=dev),
                f"{name}.forward",
                case,
            )
            if out.abs().max() > 1 or torch.equal(out.min(), out.max()):
                raise AssertionError(
                    f"{name}.forward's output is not a tanh image in [-1, 1] ({case}): end the "
                    "last decoder layer with nn.Tanh()."
                )
        model = model.to("cpu", torch.float32)
        x = randn(2, args[0], hw, hw, seed=1100).requires_grad_()
        model.zero_grad()
        call_student(model, (x,), references=[ref], case=label).pow(2).sum().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        if missing or x.grad is None:
            raise AssertionError(
                f"{label}: no gradient reaches {missing or ['the input']}: every layer must be "
                "used in forward."
            )
    # The skips bypass the bottleneck: without them, every output depends on the input only
    # through c_{n-1} numbers (a 1x1 bottleneck), so the Jacobian's rank is at most c_{n-1}.
    model = _build(cls, name, 1, 1, 3, ngf=2).double().eval()
    x = randn(1, 1, 8, 8, seed=1200, dtype=torch.float64)

    def flat(inp):
        return model(inp.view(1, 1, 8, 8)).flatten()

    with torch.no_grad():
        call_student(model, (x,), references=[ref], case="Jacobian")
    jac = torch.autograd.functional.jacobian(flat, x.flatten())  # (64, 64)
    rank = int(torch.linalg.matrix_rank(jac))
    if rank <= 8:
        raise AssertionError(
            f"{name}(1, 1, 3, ngf=2): the output depends on the input only through the "
            f"bottleneck (Jacobian rank {rank} <= 8 bottleneck values): the skip connections "
            "do not reach the decoder. Concatenate each encoder output with the decoder output "
            "of the same resolution."
        )
