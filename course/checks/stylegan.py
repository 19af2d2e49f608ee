"""Checks for week 05 (StyleGAN): ``check_<name>(your_function_or_class)``.

Each check runs your code on seeded inputs (several shapes, float32 and float64, the
CPU and the accelerator when there is one) and compares it with ``course.stylegan``,
which is switched off while your code runs. A failure names the likely mistake.
Conventions (as in ``course.stylegan``): statistics are per sample and channel over
H and W; a std is ``sqrt(biased variance + eps)``; demodulation divides by
``sqrt(sum w'^2 + eps)`` per sample and output channel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course import stylegan as ref
from course.checks._core import (
    Mistake,
    assert_not_reference,
    assert_tensor,
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
    "check_adain",
    "check_adain_transfer",
    "check_mapping_network",
    "check_modulate_weights",
    "check_modulated_conv2d",
    "check_noise_injection",
    "check_path_length_penalty",
    "check_style_mix",
    "check_truncate",
]

_BROADCAST = (
    "A (B, C) style must become (B, C, 1, 1) to act per channel on (B, C, H, W) maps: "
    "style[:, :, None, None]."
)
_HINTS = {"must match the size of tensor": _BROADCAST, "The size of tensor": _BROADCAST}


_call = caller(ref, default_hints=_HINTS)


def _grads_match(name, fn, args, kwargs, grad_args: dict[int, str], reference) -> None:
    """Gradients of a weighted sum of the output w.r.t. ``args[i]`` (float64, CPU) agree."""
    ref_leaves = [a.detach().clone().requires_grad_(i in grad_args) for i, a in enumerate(args)]
    ref_out = reference(*ref_leaves, **kwargs)
    weight = randn(*ref_out.shape, seed=99, dtype=torch.float64)
    (ref_out * weight).sum().backward()
    leaves = [a.detach().clone().requires_grad_(i in grad_args) for i, a in enumerate(args)]
    out = _call(fn, leaves, kwargs, case="gradient check")
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise AssertionError(
            f"{name} returned a result without gradient: no .detach(), .item(), numpy or "
            "torch.no_grad() inside, the generator is trained through it."
        )
    (out * weight).sum().backward()
    for i, arg in grad_args.items():
        if leaves[i].grad is None:
            raise AssertionError(f"{name}: no gradient reaches {arg}; is it detached?")
        if not close(leaves[i].grad, ref_leaves[i].grad):
            raise AssertionError(
                f"{name} gives wrong gradients w.r.t. {arg} although the values are right: "
                "is part of the computation detached (e.g. the statistics)?"
            )


def _norm(x, eps, dims=(2, 3), unbiased=False, eps_inside=True, root=True, center=True):
    """Instance-norm variants for the known mistakes."""
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, unbiased=unbiased)
    if not root:
        denom = var + eps
    elif eps_inside:
        denom = torch.sqrt(var + eps)
    else:
        denom = torch.sqrt(var) + eps
    return ((x - mean) if center else x) / denom


_EPS_OUTSIDE = (
    "eps is outside the square root: the std is sqrt(var + eps), not sqrt(var) + eps "
    "(a lecture slide has it wrong; F.instance_norm puts eps inside)."
)
_UNBIASED = (
    "you used the unbiased variance (divide by H*W - 1, torch's default for .var()/.std()); "
    "instance norm uses the biased one: x.var(dim=(2, 3), unbiased=False)."
)
_NO_ROOT = (
    "you divided by the variance, not the standard deviation: take the square root, "
    "sqrt(var + eps) (a lecture slide drops the root)."
)
_IN_MISTAKES = [
    Mistake(_UNBIASED, lambda x, eps: _norm(x, eps, unbiased=True)),
    Mistake(_EPS_OUTSIDE, lambda x, eps: _norm(x, eps, eps_inside=False)),
    Mistake(_NO_ROOT, lambda x, eps: _norm(x, eps, root=False)),
    Mistake(
        "you took the statistics over the batch too (that is batch norm): instance norm "
        "reduces over H and W only, per sample and channel: dim=(2, 3).",
        lambda x, eps: _norm(x, eps, dims=(0, 2, 3)),
    ),
    Mistake(
        "you took the statistics over the channels too (that is layer norm): instance norm "
        "keeps one mean and std per sample *and channel*: dim=(2, 3).",
        lambda x, eps: _norm(x, eps, dims=(1, 2, 3)),
    ),
    Mistake(
        "you reduced over one spatial axis only; the statistics are over H *and* W: dim=(2, 3).",
        lambda x, eps: _norm(x, eps, dims=(3,)),
    ),
    Mistake(
        "the mean is not subtracted: (x - mean) / sqrt(var + eps).",
        lambda x, eps: _norm(x, eps, center=False),
    ),
]

# Shapes (B, C, H, W), input scale and eps: a small variance with a large eps shows where
# eps sits; a large H*W and a small one show the biased variance.
_IN_CASES = [((2, 3, 5, 4), 3.0, 1e-5), ((1, 4, 3, 3), 0.3, 0.5), ((3, 2, 4, 4), 1.0, 0.1)]


def check_instance_norm(fn) -> None:
    """Check ``instance_norm(x, eps=1e-5) = (x - mean) / sqrt(biased var + eps)``, per sample
    and channel over H, W: values (several shapes and eps), constant maps, gradients."""
    assert_not_reference(fn, ref.instance_norm)
    name = "instance_norm"
    flat = torch.ones(1, 2, 3, 3)
    got = _call(fn, (flat, 1e-5), case="a constant feature map")
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        raise AssertionError(
            f"{name} returned nan/inf on a constant feature map (variance 0): eps belongs "
            "inside the square root, sqrt(var + eps), so the division is always safe."
        )
    for dev, dtype in cases():
        for i, (shape, scale, eps) in enumerate(_IN_CASES):
            case = f"shape {shape}, eps={eps}, {dtype}, {dev.type}"
            x = randn(*shape, seed=10 + i, dtype=dtype, dev=dev) * scale + 1.5
            before = x.clone()
            got = _call(fn, (x, eps), case=case)
            inputs_unchanged(name, [before], [x])
            compare(
                name,
                got,
                ref.instance_norm(x, eps),
                mistakes=_IN_MISTAKES,
                args=(x, eps),
                case=case,
            )
        x = randn(2, 3, 4, 4, seed=19, dtype=dtype, dev=dev)
        got = _call(fn, (x,), case=f"default eps, {dtype}")
        compare(name, got, ref.instance_norm(x), case=f"default eps=1e-5, {dtype}")
    got = _call(fn, (flat, 1e-5), case="a constant feature map")
    compare(name, got, ref.instance_norm(flat, 1e-5), case="a constant feature map")
    x = randn(2, 3, 4, 5, seed=20, dtype=torch.float64) * 2
    _grads_match(name, fn, (x,), {"eps": 1e-3}, {0: "x"}, ref.instance_norm)
    success(name, "shapes, eps inside the root, biased variance, float32/float64, gradients")


# ----------------------------------------------------------------------------- adain


def _adain_with(norm):
    return lambda x, s, b, eps: s[:, :, None, None] * norm(x, eps) + b[:, :, None, None]


_ADAIN_MISTAKES = [
    Mistake(
        "scale and bias are swapped: AdaIN = style_scale * IN(x) + style_bias.",
        lambda x, s, b, eps: b[:, :, None, None] * ref.instance_norm(x, eps) + s[:, :, None, None],
    ),
    Mistake(
        "the (B, C) style was broadcast against the last two dims (H, W), not against B and "
        "C. " + _BROADCAST,
        lambda x, s, b, eps: s * ref.instance_norm(x, eps) + b,
    ),
    Mistake(
        "x is not normalised first: AdaIN replaces x's own statistics, scale * IN(x) + bias.",
        lambda x, s, b, eps: s[:, :, None, None] * x + b[:, :, None, None],
    ),
    Mistake(
        "StyleGAN's reference takes the scale as it is: scale * IN(x) + bias, not "
        "(1 + scale) * IN(x) + bias.",
        lambda x, s, b, eps: (
            (1 + s[:, :, None, None]) * ref.instance_norm(x, eps) + b[:, :, None, None]
        ),
    ),
] + [Mistake(m.message, _adain_with(m.fn)) for m in _IN_MISTAKES]


def check_adain(fn) -> None:
    """Check ``adain(x, style_scale, style_bias, eps=1e-5) = scale * IN(x) + bias`` with
    (B, C) scale and bias broadcast per channel: values, gradients to x and the style."""
    assert_not_reference(fn, ref.adain)
    name = "adain"
    for dev, dtype in cases():
        for i, (shape, scale, eps) in enumerate(_IN_CASES + [((4, 4, 4, 4), 2.0, 1e-5)]):
            case = f"shape {shape}, eps={eps}, {dtype}, {dev.type}"
            x = randn(*shape, seed=30 + i, dtype=dtype, dev=dev) * scale - 0.5
            s = randn(*shape[:2], seed=40 + i, dtype=dtype, dev=dev) * 2
            b = randn(*shape[:2], seed=50 + i, dtype=dtype, dev=dev)
            args = (x, s, b, eps)
            before = [a.clone() for a in args[:3]]
            got = _call(fn, args, case=case)
            inputs_unchanged(name, before, args[:3])
            compare(name, got, ref.adain(*args), mistakes=_ADAIN_MISTAKES, args=args, case=case)
    args = tuple(
        randn(*sh, seed=60 + k, dtype=torch.float64)
        for k, sh in enumerate([(2, 3, 4, 4), (2, 3), (2, 3)])
    )
    _grads_match(
        name, fn, args, {"eps": 1e-3}, {0: "x", 1: "style_scale", 2: "style_bias"}, ref.adain
    )
    success(name, "per-channel scale and bias, eps, float32/float64, gradients")


# ----------------------------------------------------------------------------- adain_transfer


def _transfer(content, style, eps, c_norm=None, s_dims=(2, 3), s_unbiased=False, s_root_eps=True):
    c_norm = c_norm or (lambda x: _norm(x, eps))
    mean = style.mean(dim=s_dims, keepdim=True)
    var = style.var(dim=s_dims, keepdim=True, unbiased=s_unbiased)
    std = torch.sqrt(var + eps) if s_root_eps else torch.sqrt(var)
    return std * c_norm(content) + mean


_TRANSFER_MISTAKES = [
    Mistake(
        "content and style are swapped: the output keeps the *content's* layout and takes the "
        "*style's* mean and std.",
        lambda c, s, eps: _transfer(s, c, eps),
    ),
    Mistake(
        "you used torch's default unbiased std/var (divide by H*W - 1): use the biased "
        "statistics of instance norm, var(dim=(2, 3), unbiased=False), for both images.",
        lambda c, s, eps: _transfer(
            c, s, eps, c_norm=lambda x: _norm(x, eps, unbiased=True), s_unbiased=True
        ),
    ),
    Mistake(
        "the style's std is unbiased (torch's default .std()): both stds are sqrt(biased var "
        "+ eps), var(dim=(2, 3), unbiased=False).",
        lambda c, s, eps: _transfer(c, s, eps, s_unbiased=True),
    ),
    Mistake(
        "the style's std is torch's default .std(): unbiased and without eps. Both stds are "
        "sqrt(biased var + eps), var(dim=(2, 3), unbiased=False), as in instance_norm.",
        lambda c, s, eps: _transfer(c, s, eps, s_unbiased=True, s_root_eps=False),
    ),
    Mistake(
        "the style's std has no eps: both stds are sqrt(var + eps), the statistics of "
        "instance_norm (so adain_transfer(x, x) returns x).",
        lambda c, s, eps: _transfer(c, s, eps, s_root_eps=False),
    ),
    Mistake(
        "the style statistics were taken over the whole batch: each sample takes the mean "
        "and std of *its own* style image, per channel, over H and W.",
        lambda c, s, eps: _transfer(c, s, eps, s_dims=(0, 2, 3)),
    ),
    Mistake(
        "the content is normalised with eps outside the root: sqrt(var + eps).",
        lambda c, s, eps: _transfer(c, s, eps, c_norm=lambda x: _norm(x, eps, eps_inside=False)),
    ),
    Mistake(
        "the style's mean is missing: sigma(y) * IN(x) + mu(y).",
        lambda c, s, eps: _transfer(c, s, eps) - s.mean(dim=(2, 3), keepdim=True),
    ),
]


def check_adain_transfer(fn) -> None:
    """Check ``adain_transfer(content, style, eps=1e-5) = sigma(y) IN(x) + mu(y)``: values
    (the style may have another H, W), statistics of the output, gradients to both."""
    assert_not_reference(fn, ref.adain_transfer)
    name = "adain_transfer"
    shapes = [
        ((2, 3, 6, 6), (2, 3, 6, 6), 1e-5),
        ((1, 2, 5, 4), (1, 2, 3, 3), 0.3),
        ((3, 4, 4, 4), (3, 4, 7, 5), 1e-2),
    ]
    for dev, dtype in cases():
        for i, (c_shape, s_shape, eps) in enumerate(shapes):
            case = f"content {c_shape}, style {s_shape}, eps={eps}, {dtype}, {dev.type}"
            content = randn(*c_shape, seed=70 + i, dtype=dtype, dev=dev) * 2 + 1
            style = randn(*s_shape, seed=80 + i, dtype=dtype, dev=dev) * 0.7 - 2
            args = (content, style, eps)
            before = [content.clone(), style.clone()]
            got = _call(fn, args, case=case)
            inputs_unchanged(name, before, [content, style])
            compare(
                name,
                got,
                ref.adain_transfer(*args),
                mistakes=_TRANSFER_MISTAKES,
                args=args,
                case=case,
            )
    content = randn(2, 3, 5, 5, seed=90, dtype=torch.float64)
    style = randn(2, 3, 4, 4, seed=91, dtype=torch.float64) * 3
    _grads_match(
        name, fn, (content, style), {"eps": 1e-3}, {0: "content", 1: "style"}, ref.adain_transfer
    )
    success(name, "the style's biased mean and std, other spatial sizes, gradients")


# ----------------------------------------------------------------------------- mapping network


def _mapping(
    z,
    weights,
    biases,
    lr_mul,
    *,
    norm="pixel",
    wscale=True,
    wlr=True,
    blr=True,
    gain=True,
    act="lrelu",
    last_act=True,
):
    """Mapping-network variants for the known mistakes."""
    if norm == "pixel":
        x = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
    elif norm == "l2":
        x = F.normalize(z, dim=1)
    elif norm == "std":
        x = (z - z.mean(dim=1, keepdim=True)) / z.std(dim=1, keepdim=True)
    else:
        x = z
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        scale = (lr_mul if wlr else 1.0) / (math.sqrt(w.shape[1]) if wscale else 1.0)
        x = F.linear(x, w * scale, b * (lr_mul if blr else 1.0))
        if i < len(weights) - 1 or last_act:
            x = F.leaky_relu(x, 0.2) if act == "lrelu" else F.relu(x)
            x = x * math.sqrt(2) if gain else x
    return x


_MAPPING_MISTAKES = [
    (
        "z is not normalised first: the mapping network starts with z / sqrt(mean(z**2) + 1e-8), "
        "its second moment over the features.",
        dict(norm=None),
    ),
    (
        "z was divided by its L2 norm; StyleGAN divides by the root of its *mean* square, "
        "sqrt(mean(z**2, dim=1) + 1e-8) (larger by sqrt(z_dim)).",
        dict(norm="l2"),
    ),
    (
        "z was standardised (centred, divided by its std); StyleGAN only divides by the root "
        "mean square, no centring: z / sqrt(mean(z**2) + 1e-8).",
        dict(norm="std"),
    ),
    (
        "the weights miss the learning-rate multiplier at run time: the equalized weight is "
        "stored_weight * lr_mul / sqrt(in_features).",
        dict(wlr=False),
    ),
    (
        "the learning-rate multiplier at run time is missing (weights and biases): the layer "
        "uses stored_weight * lr_mul / sqrt(in_features) and stored_bias * lr_mul.",
        dict(wlr=False, blr=False),
    ),
    (
        "the weights miss the 1/sqrt(in_features) factor of the equalized learning rate: "
        "stored_weight * lr_mul / sqrt(in_features).",
        dict(wscale=False),
    ),
    ("the biases miss the learning-rate multiplier: use stored_bias * lr_mul.", dict(blr=False)),
    (
        "the activation lacks StyleGAN2's gain sqrt(2): leaky_relu(x, 0.2) * sqrt(2).",
        dict(gain=False),
    ),
    (
        "you used ReLU; the mapping network uses leaky ReLU with slope 0.2 (times sqrt(2)).",
        dict(act="relu"),
    ),
    (
        "the last layer has no activation; in StyleGAN2 every layer, the last included, is "
        "followed by leaky_relu(0.2) * sqrt(2).",
        dict(last_act=False),
    ),
]


def _linear_params(model, name):
    """The student's weights (2-D) and biases (1-D), in registration order."""
    params = list(model.parameters())
    weights = [p for p in params if p.ndim == 2]
    biases = [p for p in params if p.ndim == 1]
    if len(weights) + len(biases) != len(params):
        raise AssertionError(
            f"{name} has parameters that are neither (out, in) weights nor (out,) biases: "
            "the mapping network is only a stack of equalized linear layers."
        )
    return weights, biases


def _build(cls, args, name, case=""):
    model = _call(cls, args, case=case)
    if not isinstance(model, torch.nn.Module):
        raise AssertionError(f"{name}(...) did not build an nn.Module")
    return model


def check_mapping_network(cls) -> None:
    """Check a ``MappingNetwork(z_dim, w_dim, num_layers=8, lr_mul=0.01)`` class.

    Judged: the number and shapes of layers (defaults included), the equalized-lr
    initialisation (stored weights N(0, 1/lr_mul^2), zero biases), and ``forward`` against
    the reference built with *your* parameters (normalisation of z, run-time scales
    lr_mul / sqrt(in) and lr_mul, leaky ReLU(0.2) * sqrt(2)), float64 and gradients.
    """
    with keep_student_rng():
        torch.manual_seed(0)
        _check_mapping_network(cls)


def _check_mapping_network(cls) -> None:
    assert_not_reference(cls, ref.MappingNetwork)
    name = getattr(cls, "__name__", "MappingNetwork")
    # Defaults: 8 layers, lr_mul = 0.01, equalized initialisation.
    model = _build(cls, (64, 32), name, "MappingNetwork(64, 32)")
    weights, biases = _linear_params(model, name)
    if len(weights) != 8:
        raise AssertionError(
            f"{name}(64, 32) has {len(weights)} weight matrices; by default the mapping network "
            "is the lecture's 8-layer MLP (num_layers=8)."
        )
    shapes = [tuple(w.shape) for w in weights]
    if shapes != [(32, 64)] + [(32, 32)] * 7:
        raise AssertionError(
            f"{name}(64, 32) has weight shapes {shapes}; expected (out, in) like nn.Linear: "
            "(w_dim, z_dim) first, then (w_dim, w_dim)."
        )
    if len(biases) != 8 or any(tuple(b.shape) != (32,) for b in biases):
        raise AssertionError(f"{name}(64, 32) needs one (w_dim,) bias per layer.")
    std = torch.cat([w.detach().flatten() for w in weights]).double().std().item()
    if abs(std * 0.01 - 1) > 0.1:
        hint = {1: "you did not divide by lr_mul", 0: "you initialised the *used* weight"}
        which = 1 if abs(std - 1) < 0.1 else 0 if std < 0.5 else None
        raise AssertionError(
            f"{name}(64, 32): the stored weights have std {std:.3g}, expected 1 / lr_mul = 100: "
            "with the equalized learning rate the stored weight is randn(out, in) / lr_mul and "
            "the scale lr_mul / sqrt(in) is applied at run time"
            + (f" ({hint[which]})." if which is not None else ".")
        )
    if any(b.detach().abs().max() > 0 for b in biases):
        raise AssertionError(f"{name}: the biases start at zero.")
    configs = [(6, 5, 3, 0.1), (4, 4, 1, 0.5), (64, 32, 8, 0.01)]
    for z_dim, w_dim, layers, lr_mul in configs:
        model = _build(
            cls,
            (z_dim, w_dim, layers, lr_mul),
            name,
            f"MappingNetwork({z_dim}, {w_dim}, {layers}, {lr_mul})",
        )
        weights, biases = _linear_params(model, name)
        if len(weights) != layers or len(biases) != layers:
            raise AssertionError(
                f"{name}({z_dim}, {w_dim}, num_layers={layers}) has {len(weights)} weight "
                f"matrices and {len(biases)} biases, expected {layers} of each."
            )
        with torch.no_grad():  # non-zero biases, so their lr multiplier is seen
            for k, b in enumerate(biases):
                b.copy_(randn(*b.shape, seed=200 + k) / lr_mul)
        reference = ref.MappingNetwork(z_dim, w_dim, layers, lr_mul)
        with torch.no_grad():
            for layer, w, b in zip(reference.layers, weights, biases, strict=True):
                layer.weight.copy_(w)
                layer.bias.copy_(b)
        for dev, dtype in cases():
            model, reference = model.to(dev, dtype), reference.to(dev, dtype)
            case = f"MappingNetwork({z_dim}, {w_dim}, {layers}, {lr_mul}), {dtype}, {dev.type}"
            z = randn(7, z_dim, seed=210, dtype=dtype, dev=dev) * 2.5
            got = _call(model, (z,), case=case)
            with torch.no_grad():
                expected = reference(z)
            mistakes = [
                Mistake(
                    msg,
                    lambda z, kw=kw, ws=weights, bs=biases, lr=lr_mul: _mapping(
                        z, [w.detach().to(z) for w in ws], [b.detach().to(z) for b in bs], lr, **kw
                    ),
                )
                for msg, kw in _MAPPING_MISTAKES
            ]
            compare(f"{name}.forward", got, expected, mistakes=mistakes, args=(z,), case=case)
        # Gradients reach every stored parameter, scaled by the equalized-lr factors.
        model, reference = model.to("cpu", torch.float64), reference.to("cpu", torch.float64)
        model.zero_grad()
        reference.zero_grad()
        z = randn(5, z_dim, seed=220, dtype=torch.float64)
        out = _call(model, (z,), case="gradient check")
        (out * randn(*out.shape, seed=221, dtype=torch.float64)).sum().backward()
        (reference(z) * randn(*out.shape, seed=221, dtype=torch.float64)).sum().backward()
        for k, (mine, theirs) in enumerate(
            zip(
                weights + biases,
                list(reference.parameters())[::2] + list(reference.parameters())[1::2],
                strict=True,
            )
        ):
            if mine.grad is None or not close(mine.grad, theirs.grad):
                raise AssertionError(
                    f"{name}: wrong or missing gradient for parameter {k}: use the stored "
                    "parameters in forward (no .data, .detach() or copies made in __init__)."
                )
    success(name, "8 equalized-lr layers, z normalisation, lr_mul, init, float64, gradients")


# ----------------------------------------------------------------------------- modulation


def _modulate(
    weight,
    style,
    demodulate,
    eps,
    dims=(2, 3, 4),
    eps_inside=True,
    root=True,
    demod_raw=False,
    style_axis=2,
):
    shape = [1, 1, 1, 1, 1]
    shape[0], shape[style_axis] = style.shape[0], style.shape[1]
    w = weight[None] * style.view(shape)  # (B, O, I, k, k)
    if not demodulate:
        return w
    src = weight[None].expand_as(w) if demod_raw else w
    sq = src.pow(2).sum(dim=dims, keepdim=True)
    if not root:
        return w / (sq + eps)
    return w / (torch.sqrt(sq + eps) if eps_inside else torch.sqrt(sq) + eps)


_MODULATE_MISTAKES = [
    Mistake(
        "eps is outside the square root: w'' = w' / sqrt(sum w'^2 + eps) (one lecture slide "
        "puts it outside; the paper and the other slides inside).",
        lambda w, s, d, eps: _modulate(w, s, d, eps, eps_inside=False),
    ),
    Mistake(
        "you demodulated over the wrong axes: the sum runs over the *input* channels and the "
        "kernel taps, dims (2, 3, 4) of (B, O, I, k, k), once per sample and output channel; "
        "you summed over the output channels.",
        lambda w, s, d, eps: _modulate(w, s, d, eps, dims=(1, 3, 4)),
    ),
    Mistake(
        "you demodulated over the input channels only: the sum also runs over the kernel taps, "
        "dims (2, 3, 4) of (B, O, I, k, k).",
        lambda w, s, d, eps: _modulate(w, s, d, eps, dims=(2,)),
    ),
    Mistake(
        "you demodulated over the taps only: the sum also runs over the input channels, "
        "dims (2, 3, 4) of (B, O, I, k, k).",
        lambda w, s, d, eps: _modulate(w, s, d, eps, dims=(3, 4)),
    ),
    Mistake(
        "you demodulated over every axis, one number per sample: demodulation normalises each "
        "output channel separately, dims (2, 3, 4) of (B, O, I, k, k).",
        lambda w, s, d, eps: _modulate(w, s, d, eps, dims=(1, 2, 3, 4)),
    ),
    Mistake(
        "the demodulation norm uses the unmodulated weight: divide w' = s * w by "
        "sqrt(sum w'^2 + eps), the norm of the *modulated* weight.",
        lambda w, s, d, eps: _modulate(w, s, d, eps, demod_raw=True),
    ),
    Mistake(
        "you divided by the sum of squares, not by its square root: sqrt(sum w'^2 + eps).",
        lambda w, s, d, eps: _modulate(w, s, d, eps, root=False),
    ),
    Mistake(
        "the style scales the output channels; it scales the *input* channels: "
        "w' = w[None] * style[:, None, :, None, None].",
        lambda w, s, d, eps: _modulate(w, s, d, eps, style_axis=1),
    ),
    Mistake(
        "demodulate=False must return the modulated weights w' = s * w unnormalised.",
        lambda w, s, d, eps: _modulate(w, s, True, eps),
    ),
]

# (O, I, k), B, style scale, eps
_MOD_CASES = [
    ((4, 3, 3), 2, 1.0, 1e-8),
    ((2, 5, 1), 3, 2.0, 1e-8),
    ((3, 3, 3), 2, 0.1, 0.5),
    ((6, 2, 5), 1, 1.0, 1e-3),
]


def check_modulate_weights(fn) -> None:
    """Check ``modulate_weights(weight (O, I, k, k), style (B, I), demodulate=True, eps=1e-8)
    -> (B, O, I, k, k)``: modulation, demodulation per output channel, eps, gradients."""
    assert_not_reference(fn, ref.modulate_weights)
    name = "modulate_weights"
    for dev, dtype in cases():
        for i, ((o, c, k), b, scale, eps) in enumerate(_MOD_CASES):
            for demod in (True, False):
                case = f"weight {(o, c, k, k)}, B={b}, demodulate={demod}, eps={eps}, {dtype}"
                weight = randn(o, c, k, k, seed=300 + i, dtype=dtype, dev=dev)
                style = randn(b, c, seed=310 + i, dtype=dtype, dev=dev) * scale + scale
                args = (weight, style, demod, eps)
                before = [weight.clone(), style.clone()]
                got = _call(fn, args, case=case)
                inputs_unchanged(name, before, [weight, style])
                compare(
                    name,
                    got,
                    ref.modulate_weights(*args),
                    mistakes=_MODULATE_MISTAKES,
                    args=args,
                    case=case,
                )
        weight = randn(3, 2, 3, 3, seed=320, dtype=dtype, dev=dev)
        style = randn(2, 2, seed=321, dtype=dtype, dev=dev)
        got = _call(fn, (weight, style), case="default demodulate=True, eps=1e-8")
        compare(
            name,
            got,
            ref.modulate_weights(weight, style),
            mistakes=_MODULATE_MISTAKES,
            args=(weight, style, True, 1e-8),
            case="default arguments",
        )
    args = (
        randn(3, 2, 3, 3, seed=330, dtype=torch.float64),
        randn(2, 2, seed=331, dtype=torch.float64),
    )
    _grads_match(name, fn, args, {}, {0: "weight", 1: "style"}, ref.modulate_weights)
    success(name, "modulation of the input channels, demodulation per output channel, gradients")


def _conv_route(x, weight, style, demodulate=True, padding=None, eps=1e-8, **kw):
    """A per-sample modulated conv with a chosen (possibly wrong) modulation."""
    k = weight.shape[-1]
    padding = k // 2 if padding is None else padding
    w = _modulate(weight, style, demodulate, eps, **kw)  # (B, O, I, k, k)
    return torch.cat([F.conv2d(x[b : b + 1], w[b], padding=padding) for b in range(len(x))])


def _mixed_groups(x, weight, style, demodulate=True, padding=None, eps=1e-8):
    """Kernel rows ordered (O, B) instead of (B, O): samples use each other's kernels."""
    b, c, h, wd = x.shape
    o, k = weight.shape[0], weight.shape[-1]
    padding = k // 2 if padding is None else padding
    w = _modulate(weight, style, demodulate, eps)  # (B, O, I, k, k)
    w = w.transpose(0, 1).reshape(b * o, c, k, k)
    out = F.conv2d(x.reshape(1, b * c, h, wd), w, padding=padding, groups=b)
    return out.reshape(b, o, *out.shape[2:])


_MODCONV_MISTAKES = [
    Mistake(
        "the grouped kernel's rows are in the wrong order: reshape the (B, O, I, k, k) "
        "weights to (B*O, I, k, k) directly (sample b owns rows b*O ... b*O + O - 1), "
        "no transpose, so each sample's group meets its own kernel.",
        _mixed_groups,
    ),
    Mistake(
        "every sample used the first sample's style: each sample b is convolved with its "
        "own kernel, modulated by style[b].",
        lambda x, w, s, d=True, p=None, eps=1e-8: _conv_route(x, w, s[:1].expand_as(s), d, p, eps),
    ),
    Mistake(
        "demodulate=False must skip the demodulation (toRGB layers use it).",
        lambda x, w, s, d=True, p=None, eps=1e-8: _conv_route(x, w, s, True, p, eps),
    ),
] + [
    Mistake(
        m.message,
        lambda x, w, s, d=True, p=None, eps=1e-8, kw=kw: _conv_route(x, w, s, d, p, eps, **kw),
    )
    for m, kw in zip(
        _MODULATE_MISTAKES[:-1],
        [
            dict(eps_inside=False),
            dict(dims=(1, 3, 4)),
            dict(dims=(2,)),
            dict(dims=(3, 4)),
            dict(dims=(1, 2, 3, 4)),
            dict(demod_raw=True),
            dict(root=False),
            dict(style_axis=1),
        ],
        strict=True,
    )
]

_GROUPS_HINT = (
    "With the batch folded into the channels, (1, B*I, H, W), the convolution needs "
    "groups=B: F.conv2d(x, w, padding=..., groups=B), so each sample meets only its own "
    "kernel."
)


def _padding_hint(name, got, expected, k, case) -> None:
    """Name an unpadded ('valid') convolution when padding=None should keep H and W."""
    if isinstance(got, torch.Tensor) and got.ndim == 4 and got.shape != expected.shape:
        h, wd = expected.shape[-2:]
        if k > 1 and tuple(got.shape[-2:]) == (h - k + 1, wd - k + 1):
            raise AssertionError(
                f"{name} returned {tuple(got.shape)}, expected {tuple(expected.shape)}"
                f"{where(case)}: padding=None means k // 2 (the output keeps H and W)."
            )


def check_modulated_conv2d(fn) -> None:
    """Check ``modulated_conv2d(x (B, I, H, W), weight (O, I, k, k), style (B, I),
    demodulate=True, padding=None, eps=1e-8) -> (B, O, H', W')`` against a per-sample loop:
    values (kernel sizes, padding, eps), both demodulate settings, gradients. Any correct
    route passes; speed is not judged."""
    assert_not_reference(fn, ref.modulated_conv2d)
    name = "modulated_conv2d"
    hints = {"Given groups=1": _GROUPS_HINT, "expected input": _GROUPS_HINT, **_HINTS}
    # (B, I, O, k, H, W, padding, eps)
    configs = [
        (3, 2, 4, 3, 6, 5, None, 1e-8),
        (2, 3, 3, 1, 4, 4, None, 1e-8),
        (4, 2, 3, 3, 5, 5, 0, 1e-8),
        (2, 3, 2, 5, 7, 6, None, 0.5),
        (1, 4, 2, 3, 4, 4, 1, 1e-8),
    ]
    for dev, dtype in cases():
        for i, (b, c, o, k, h, wd, pad, eps) in enumerate(configs):
            x = randn(b, c, h, wd, seed=400 + i, dtype=dtype, dev=dev)
            weight = randn(o, c, k, k, seed=410 + i, dtype=dtype, dev=dev)
            style = randn(b, c, seed=420 + i, dtype=dtype, dev=dev) * (0.2 if eps > 0.1 else 1) + 1
            for demod in (True, False):
                case = (
                    f"x {tuple(x.shape)}, weight {tuple(weight.shape)}, padding={pad}, "
                    f"demodulate={demod}, eps={eps}, {dtype}, {dev.type}"
                )
                args = (x, weight, style, demod, pad, eps)
                before = [a.clone() for a in args[:3]]
                got = _call(fn, args, case=case, hints=hints)
                inputs_unchanged(name, before, args[:3])
                expected = ref.modulated_conv2d(*args)
                if pad is None:
                    _padding_hint(name, got, expected, k, case)
                compare(name, got, expected, mistakes=_MODCONV_MISTAKES, args=args, case=case)
        x = randn(2, 3, 5, 5, seed=430, dtype=dtype, dev=dev)
        weight = randn(4, 3, 3, 3, seed=431, dtype=dtype, dev=dev)
        style = randn(2, 3, seed=432, dtype=dtype, dev=dev)
        got = _call(fn, (x, weight, style), case="default arguments", hints=hints)
        _padding_hint(name, got, ref.modulated_conv2d(x, weight, style), 3, "default arguments")
        compare(
            name,
            got,
            ref.modulated_conv2d(x, weight, style),
            mistakes=_MODCONV_MISTAKES,
            args=(x, weight, style),
            case="default arguments",
        )
    args = (
        randn(3, 2, 5, 5, seed=440, dtype=torch.float64),
        randn(4, 2, 3, 3, seed=441, dtype=torch.float64),
        randn(3, 2, seed=442, dtype=torch.float64),
    )
    _grads_match(name, fn, args, {}, {0: "x", 1: "weight", 2: "style"}, ref.modulated_conv2d)
    success(name, "equals the per-sample convolutions, padding, demodulation, gradients")


# ----------------------------------------------------------------------------- noise


def check_noise_injection(cls) -> None:
    """Check a ``NoiseInjection(channels)`` module: ``forward(x, noise=None) -> x +
    strength * noise`` with one learned strength initialised to 0 and noise (B, 1, H, W),
    standard normal, fresh each call, shared by the channels."""
    with keep_student_rng():
        torch.manual_seed(0)
        _check_noise_injection(cls)


def _check_noise_injection(cls) -> None:
    assert_not_reference(cls, ref.NoiseInjection)
    name = getattr(cls, "__name__", "NoiseInjection")
    layer = _build(cls, (4,), name, "NoiseInjection(4)")
    params = list(layer.parameters())
    if len(params) != 1:
        raise AssertionError(
            f"{name}(4) has {len(params)} parameter tensors; it needs exactly one, the learned "
            "noise strength (nn.Parameter), a scalar (StyleGAN2) or one per channel."
        )
    strength = params[0]
    if strength.numel() not in (1, 4):
        raise AssertionError(f"{name}(4): the strength has {strength.numel()} entries, expected 1.")
    if strength.detach().abs().max() != 0:
        raise AssertionError(
            f"{name}: the strength starts at 0 (torch.zeros), so a new layer adds no noise until "
            "training asks for it."
        )
    for dev, dtype in cases():
        layer = layer.to(dev, dtype)
        case = f"{dtype}, {dev.type}"
        x = randn(3, 4, 5, 6, seed=500, dtype=dtype, dev=dev)
        noise = randn(3, 1, 5, 6, seed=501, dtype=dtype, dev=dev)
        got = _call(layer, (x, noise), case=case)
        if isinstance(got, torch.Tensor) and got.shape == x.shape and close(got, x + noise):
            raise AssertionError(
                f"{name}: the noise is not multiplied by the strength{where(case)}: "
                "x + strength * noise (the strength starts at 0, so a new layer adds nothing)."
            )
        compare(f"{name} with strength 0", got, x, case=case)
        with torch.no_grad():
            strength.fill_(0.7)
        before = [x.clone(), noise.clone()]
        got = _call(layer, (x, noise), case=case)
        inputs_unchanged(name, before, [x, noise])
        if (
            isinstance(got, torch.Tensor)
            and got.shape == x.shape
            and not close(got, x + 0.7 * noise)
        ):
            if close(got, x + noise):
                raise AssertionError(
                    f"{name}: the noise is not multiplied by the strength{where(case)}."
                )
            if not close(got, _call(layer, (x, noise), case=case)):
                raise AssertionError(
                    f"{name}: the given noise was ignored{where(case)}: use `noise` when it is "
                    "passed, draw fresh noise only when it is None."
                )
        compare(f"{name} with strength 0.7", got, x + 0.7 * noise, case=case)
        # Fresh noise: (B, 1, H, W) standard normal, broadcast to the channels.
        zeros = torch.zeros(64, 4, 16, 16, dtype=dtype, device=dev)
        a = _call(layer, (zeros,), case=f"noise=None, {case}")
        b = _call(layer, (zeros,), case=f"noise=None, {case}")
        assert_tensor(a, zeros, f"{name} with noise=None", case)
        n = a / 0.7
        if not torch.allclose(n, n[:, :1].expand_as(n)):
            raise AssertionError(
                f"{name}: with noise=None the channels got different noise{where(case)}; StyleGAN "
                "adds *one* single-channel noise image per sample, (B, 1, H, W), broadcast to "
                "all channels."
            )
        if torch.equal(a, b):
            raise AssertionError(f"{name}: noise=None gave the same noise twice; draw it anew.")
        if torch.allclose(n[0], n[1]):
            raise AssertionError(f"{name}: every sample got the same noise; draw (B, 1, H, W).")
        mean, std = n[:, 0].double().mean().item(), n[:, 0].double().std().item()
        if abs(mean) > 0.05 or abs(std - 1) > 0.05:
            raise AssertionError(
                f"{name}: with noise=None the noise has mean {mean:.3g} and std {std:.3g}, "
                "expected standard normal noise (torch.randn, not torch.rand)."
            )
        with torch.no_grad():
            strength.zero_()
    # The strength learns: d sum(out) / d strength = sum(noise).
    layer = layer.to("cpu", torch.float64)
    x = randn(2, 4, 3, 3, seed=510, dtype=torch.float64)
    noise = randn(2, 1, 3, 3, seed=511, dtype=torch.float64)
    out = _call(layer, (x, noise), case="gradient check")
    out.sum().backward()
    if strength.grad is None or abs(strength.grad.sum().item() - 4 * noise.sum().item()) > 1e-8:
        raise AssertionError(
            f"{name}: the strength gets no (or a wrong) gradient; use it in forward."
        )
    success(name, "zero init, scaled given noise, fresh (B, 1, H, W) normal noise, gradient")


# ----------------------------------------------------------------------------- latents


_TRUNCATE_MISTAKES = [
    Mistake(
        "you truncated towards zero (psi * w); truncation pulls w towards the *average* "
        "w_avg: w_avg + psi * (w - w_avg). W is not centred at 0.",
        lambda w, w_avg, psi: psi * w,
    ),
    Mistake(
        "psi weights the wrong end: w_avg + psi * (w - w_avg), so psi = 1 leaves w unchanged "
        "and psi = 0 gives w_avg.",
        lambda w, w_avg, psi: w + psi * (w_avg - w),
    ),
    Mistake(
        "w_avg was added without being subtracted first: w_avg + psi * (w - w_avg).",
        lambda w, w_avg, psi: w_avg + psi * w,
    ),
]


def check_truncate(fn) -> None:
    """Check ``truncate(w, w_avg, psi=0.7) = w_avg + psi * (w - w_avg)`` for (B, w_dim) and
    (B, L, w_dim) latents, several psi, the default psi, gradients."""
    assert_not_reference(fn, ref.truncate)
    name = "truncate"
    for dev, dtype in cases():
        for i, (shape, psi) in enumerate(
            [((4, 5), 0.7), ((3, 2, 6), 0.5), ((2, 3), 0.0), ((5, 4), 1.0), ((2, 3), -0.5)]
        ):
            case = f"w {shape}, psi={psi}, {dtype}, {dev.type}"
            w = randn(*shape, seed=600 + i, dtype=dtype, dev=dev)
            w_avg = randn(shape[-1], seed=610 + i, dtype=dtype, dev=dev) + 2
            args = (w, w_avg, psi)
            got = _call(fn, args, case=case)
            compare(
                name, got, ref.truncate(*args), mistakes=_TRUNCATE_MISTAKES, args=args, case=case
            )
        w = randn(3, 4, seed=620, dtype=dtype, dev=dev)
        w_avg = randn(4, seed=621, dtype=dtype, dev=dev)
        got = _call(fn, (w, w_avg), case="default psi")
        if (
            isinstance(got, torch.Tensor)
            and got.shape == w.shape
            and not close(got, ref.truncate(w, w_avg))
        ):
            raise AssertionError(f"{name}: the default psi is 0.7, StyleGAN's value.")
    args = (randn(3, 4, seed=630, dtype=torch.float64), randn(4, seed=631, dtype=torch.float64))
    _grads_match(name, fn, args, {"psi": 0.6}, {0: "w", 1: "w_avg"}, ref.truncate)
    success(name, "towards w_avg, psi = 1 and 0, (B, L, w_dim), default 0.7, gradients")


_MIX_MISTAKES = [
    Mistake(
        "off by one: layers with index < crossover take w1; layer `crossover` itself already "
        "takes w2.",
        lambda w1, w2, c, n: ref.style_mix(w1, w2, min(c + 1, n), n),
    ),
    Mistake(
        "off by one: layers 0 .. crossover - 1 take w1 (crossover of them), the rest w2.",
        lambda w1, w2, c, n: ref.style_mix(w1, w2, max(c - 1, 0), n),
    ),
    Mistake(
        "w1 and w2 are swapped: the first (coarse) layers, index < crossover, take w1.",
        lambda w1, w2, c, n: ref.style_mix(w2, w1, c, n),
    ),
    Mistake(
        "the crossover was counted from the end: layers 0 .. crossover - 1 take w1.",
        lambda w1, w2, c, n: ref.style_mix(w1, w2, n - c, n),
    ),
]


def check_style_mix(fn) -> None:
    """Check ``style_mix(w1, w2, crossover, num_layers) -> (B, num_layers, w_dim)``: layers
    ``< crossover`` from ``w1``, the rest from ``w2``; gradients to both."""
    assert_not_reference(fn, ref.style_mix)
    name = "style_mix"
    for dev, dtype in cases():
        for i, (b, d, c, n) in enumerate(
            [(2, 3, 2, 5), (3, 4, 0, 4), (1, 2, 6, 6), (4, 3, 1, 7), (2, 5, 5, 8)]
        ):
            case = f"w (B={b}, w_dim={d}), crossover={c}, num_layers={n}, {dtype}, {dev.type}"
            w1 = randn(b, d, seed=700 + i, dtype=dtype, dev=dev)
            w2 = randn(b, d, seed=710 + i, dtype=dtype, dev=dev)
            args = (w1, w2, c, n)
            got = _call(fn, args, case=case)
            expected = ref.style_mix(*args)
            if isinstance(got, torch.Tensor) and got.shape == (n, b, d) and (n, b) != (b, n):
                raise AssertionError(
                    f"{name} returned (num_layers, B, w_dim) = {tuple(got.shape)}; the layer axis "
                    f"is dim 1: (B, num_layers, w_dim) = {tuple(expected.shape)} (torch.stack(..., "
                    "dim=1))."
                )
            compare(name, got, expected, mistakes=_MIX_MISTAKES, args=args, case=case)
    args = (randn(2, 3, seed=720, dtype=torch.float64), randn(2, 3, seed=721, dtype=torch.float64))
    _grads_match(
        name, fn, args, {"crossover": 2, "num_layers": 5}, {0: "w1", 1: "w2"}, ref.style_mix
    )
    success(name, "layers < crossover from w1, shape (B, L, w_dim), gradients")


# ----------------------------------------------------------------------------- path length


class _TinyGenerator(torch.nn.Module):
    """A fixed nonlinear map (B, L, D) -> (B, C, H, W) standing in for the synthesis net."""

    def __init__(self, layers, dim, channels, size, dtype):
        super().__init__()
        gen = torch.Generator().manual_seed(800)
        self.weight = torch.nn.Parameter(
            torch.randn(
                layers * dim, channels * size * size, generator=gen, dtype=torch.float64
            ).to(dtype)
            / math.sqrt(layers * dim)
        )
        self.shape = (channels, size, size)

    def forward(self, w):
        h = w.flatten(1) @ self.weight  # (B, C*H*W)
        return (torch.tanh(h) + 0.3 * h).view(-1, *self.shape)


def _pl_lengths(fake, w, noise, *, scale=True, reduce="mean_l"):
    h, wd = fake.shape[2:]
    y = noise / math.sqrt(h * wd) if scale else noise
    (grad,) = torch.autograd.grad((fake * y).sum(), w, create_graph=True)
    sq = grad.pow(2)
    if reduce == "mean_l":
        return sq.sum(dim=2).mean(dim=1).sqrt()
    if reduce == "sum_all":
        return sq.sum(dim=(1, 2)).sqrt()
    if reduce == "mean_all":
        return sq.mean(dim=(1, 2)).sqrt()
    return sq.sum(dim=2).mean(dim=1)  # "no_sqrt"


def _pl_penalty(fake, w, pl_mean, decay, noise, *, ema="ok", old_mean=False, **kw):
    lengths = _pl_lengths(fake, w, noise, **kw)
    if ema == "ok":
        new = pl_mean + decay * (lengths.mean() - pl_mean)
    else:  # the weights of old and new swapped
        new = decay * pl_mean + (1 - decay) * lengths.mean()
    new = new.detach()
    return (lengths - (pl_mean if old_mean else new)).pow(2).mean(), new


_PL_MISTAKES = [
    (
        "y is not scaled: y = noise / sqrt(H * W), so the penalty does not depend on the image "
        "size.",
        dict(scale=False),
    ),
    (
        "the length sums the squared gradient over the layers too; StyleGAN2 takes the *mean* "
        "over the L layers of the sum over w_dim: sqrt(grad.pow(2).sum(2).mean(1)).",
        dict(reduce="sum_all"),
    ),
    (
        "the length averages over w_dim; it sums over w_dim and averages over the L layers: "
        "sqrt(grad.pow(2).sum(2).mean(1)).",
        dict(reduce="mean_all"),
    ),
    (
        "the square root is missing: the path length is sqrt(mean_L sum_w_dim grad^2).",
        dict(reduce="no_sqrt"),
    ),
    (
        "the moving average is backwards: new_pl_mean = pl_mean + decay * (mean(lengths) - "
        "pl_mean), i.e. keep 1 - decay of the old value.",
        dict(ema="swapped"),
    ),
    (
        "the penalty uses the old pl_mean; update it first and penalise (lengths - new_pl_mean)^2.",
        dict(old_mean=True),
    ),
]


def check_path_length_penalty(fn) -> None:
    """Check ``path_length_penalty(fake_images, w, pl_mean, decay=0.01, noise=None) ->
    (penalty, new_pl_mean)`` on a small nonlinear stand-in generator: the path lengths,
    the moving average (detached), the penalty, that its graph reaches the generator
    (``create_graph=True``), and fresh noise when ``noise`` is None."""
    assert_not_reference(fn, ref.path_length_penalty)
    name = "path_length_penalty"
    configs = [(3, 2, 4, 1, 4, 0.0, 0.01), (2, 3, 3, 2, 5, 1.5, 0.1), (4, 1, 5, 1, 3, 0.7, 0.5)]
    for dev, dtype in cases():
        for i, (b, layers, dim, ch, size, pl_mean, decay) in enumerate(configs):
            case = (
                f"fake (B={b}, C={ch}, {size}x{size}), w (B, L={layers}, w_dim={dim}), "
                f"pl_mean={pl_mean}, decay={decay}, {dtype}, {dev.type}"
            )
            gen = _TinyGenerator(layers, dim, ch, size, dtype).to(dev)
            w0 = randn(b, layers, dim, seed=810 + i, dtype=dtype, dev=dev)
            noise = randn(b, ch, size, size, seed=820 + i, dtype=dtype, dev=dev)
            w = w0.clone().requires_grad_()
            out = _call(fn, (gen(w), w, pl_mean), {"decay": decay, "noise": noise}, case=case)
            if out is None:
                raise AssertionError(f"{name} returned None. Did you forget a `return`?")
            if not isinstance(out, tuple) or len(out) != 2:
                raise AssertionError(f"{name} must return (penalty, new_pl_mean){where(case)}.")
            penalty, new_mean = out
            w_ref = w0.clone().requires_grad_()
            want_pen, want_mean = ref.path_length_penalty(gen(w_ref), w_ref, pl_mean, decay, noise)
            new_mean_t = torch.as_tensor(new_mean).to(want_mean)
            if isinstance(new_mean, torch.Tensor) and new_mean.requires_grad:
                raise AssertionError(
                    f"{name}: new_pl_mean carries a graph; it is a running statistic, detach it "
                    "(otherwise every later penalty backpropagates into old iterations)."
                )

            def wrong(kw, which, gen=gen, w0=w0, pl_mean=pl_mean, decay=decay, noise=noise):
                w = w0.clone().requires_grad_()
                return _pl_penalty(gen(w), w, torch.tensor(pl_mean).to(w0), decay, noise, **kw)[
                    which
                ].detach()

            mistakes = [Mistake(m, lambda *a, kw=kw: wrong(kw, 1)) for m, kw in _PL_MISTAKES]
            compare(
                f"{name}'s new_pl_mean",
                new_mean_t.reshape(()),
                want_mean,
                mistakes=mistakes,
                case=case,
            )
            mistakes = [Mistake(m, lambda *a, kw=kw: wrong(kw, 0)) for m, kw in _PL_MISTAKES]
            if not isinstance(penalty, torch.Tensor) or not penalty.requires_grad:
                raise AssertionError(
                    f"{name}: the penalty has no graph back to the generator. Take the gradient "
                    "with torch.autograd.grad(..., create_graph=True) so penalty.backward() "
                    "trains the generator (a double backward)."
                )
            compare(
                f"{name}'s penalty",
                penalty.reshape(()) if penalty.numel() == 1 else penalty,
                want_pen.detach(),
                mistakes=mistakes,
                case=case,
            )
            penalty.backward()
            if gen.weight.grad is None or not torch.isfinite(gen.weight.grad).all():
                raise AssertionError(f"{name}: penalty.backward() does not reach the generator.")
    # Fresh noise when None.
    gen = _TinyGenerator(2, 3, 1, 4, torch.float64)
    w = randn(3, 2, 3, seed=830, dtype=torch.float64).requires_grad_()
    a = _call(fn, (gen(w), w, 0.0), case="noise=None")
    b = _call(fn, (gen(w), w, 0.0), case="noise=None")
    if torch.equal(torch.as_tensor(a[0]).detach(), torch.as_tensor(b[0]).detach()):
        raise AssertionError(f"{name}: with noise=None, draw fresh noise at every call.")
    success(name, "path lengths, moving average, penalty with its graph, fresh noise")
