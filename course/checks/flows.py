"""Checks for week 07 (normalizing flows): ``check_<name>(your_function_or_class)``.

Each check runs your code on seeded inputs (vectors and images, float32 and float64, the
CPU and the accelerator when there is one) and compares it with the course's reference,
which is switched off while your code runs; log-determinants are judged against the
Jacobian of your own layer. A failure names the likely mistake. Conventions (as in
``course.flows``): layers map data to noise in ``forward(x) -> (y, log_det (B,))`` and
back in ``inverse(y)``; in masks 1 marks the kept (conditioning) part.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course import flows as ref
from course.checks._core import (
    Mistake,
    assert_not_reference,
    assert_tensor,
    call_student,
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
    "check_act_norm",
    "check_bits_per_dim",
    "check_channel_mask",
    "check_checkerboard_mask",
    "check_coupling_forward",
    "check_coupling_inverse",
    "check_dequantize",
    "check_flow_sequence",
    "check_invertible_1x1_conv",
    "check_made_masks",
]

_LN2 = math.log(2)


def _call(fn, args=(), kwargs=None, *, case: str = "", hints=None):
    return call_student(fn, args, kwargs, references=[ref], case=case, hints=hints)


def _pair(name: str, out, case: str):
    """A layer's result must be the pair (tensor, log_det)."""
    if out is None:
        raise AssertionError(f"{name} returned None{where(case)}. Did you forget a `return`?")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise AssertionError(
            f"{name} should return a pair (y, log_det), got {type(out).__name__}{where(case)}: "
            "the log-determinant travels with the output so that a flow can add them up."
        )
    return out


def _log_det_shape(name: str, log_det, batch: int, like: torch.Tensor, case: str) -> None:
    if isinstance(log_det, torch.Tensor) and log_det.shape != (batch,):
        if log_det.ndim == 0:
            raise AssertionError(
                f"{name}: log_det is a single number{where(case)}; it is one value per sample, "
                f"shape (B,) = ({batch},): sum over the non-batch dims only, not over the batch."
            )
        raise AssertionError(
            f"{name}: log_det has shape {tuple(log_det.shape)}, expected (B,) = ({batch},)"
            f"{where(case)}: sum the per-element log-scales over every non-batch dim "
            "(t.flatten(1).sum(dim=1))."
        )
    assert_tensor(log_det, like.new_zeros(batch), f"{name} (log_det)", case)


# ---------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------


def _mask_result(name, got, expected, mistakes, args, case):
    if isinstance(got, torch.Tensor) and got.dtype == torch.bool:
        raise AssertionError(
            f"{name} returned a bool tensor{where(case)}; return float32 (0.0 / 1.0), so that "
            "b * x and (1 - b) work: `.float()`."
        )
    if (
        isinstance(got, torch.Tensor)
        and got.shape != expected.shape
        and got.numel() == expected.numel()
    ):
        raise AssertionError(
            f"{name} returned shape {tuple(got.shape)}, expected {tuple(expected.shape)}{where(case)}: "
            "keep the singleton dims, so the mask broadcasts against a (B, C, H, W) batch "
            f"(.view{tuple(expected.shape)})."
        )
    compare(name, got, expected, mistakes=mistakes, args=args, case=case)


_CHECKER_MISTAKES = [
    Mistake(
        "the parity is swapped: parity 0 has 1 where (i + j) is even, so the top-left pixel "
        "is kept (1).",
        lambda h, w, parity: ref.checkerboard_mask(h, w, 1 - parity),
    ),
    Mistake(
        "you used (i * j) instead of (i + j): a checkerboard alternates along rows and columns.",
        lambda h, w, parity: (
            ((torch.arange(h)[:, None] * torch.arange(w)[None, :] + parity) % 2 == 0)
            .float()
            .view(1, 1, h, w)
        ),
    ),
    Mistake(
        "only the column index decides: that is a stripe pattern; use (i + j + parity) % 2.",
        lambda h, w, parity: (
            ((torch.arange(w)[None, :] + parity) % 2 == 0).float().expand(h, w).reshape(1, 1, h, w)
        ),
    ),
]


def check_checkerboard_mask(fn) -> None:
    """Check ``checkerboard_mask(h, w, parity=0) -> (1, 1, h, w)``, 1 where (i+j+parity) even."""
    assert_not_reference(fn, ref.checkerboard_mask)
    name = "checkerboard_mask"
    for h, w, parity in [(4, 4, 0), (4, 4, 1), (3, 5, 0), (5, 2, 1), (1, 1, 0), (6, 3, 1)]:
        case = f"h={h}, w={w}, parity={parity}"
        got = _call(fn, (h, w, parity), case=case)
        _mask_result(
            name, got, ref.checkerboard_mask(h, w, parity), _CHECKER_MISTAKES, (h, w, parity), case
        )
    got = _call(fn, (4, 6), case="h=4, w=6, parity left at its default")
    _mask_result(
        name,
        got,
        ref.checkerboard_mask(4, 6),
        _CHECKER_MISTAKES,
        (4, 6, 0),
        "h=4, w=6, default parity (0)",
    )
    success(name, "shapes (1, 1, h, w), both parities, odd sizes, float32")


_CHANNEL_MISTAKES = [
    Mistake(
        "the parity is swapped (or ignored): parity 0 keeps (1 on) the *first* c // 2 "
        "channels, parity 1 the other ones.",
        lambda c, parity: ref.channel_mask(c, 1 - parity),
    ),
    Mistake(
        "for odd c you kept ceil(c / 2) channels; parity 0 keeps the first c // 2 (rounded "
        "down), parity 1 the remaining c - c // 2.",
        lambda c, parity: (
            (torch.arange(c) < (c + 1) // 2).float()
            if parity == 0
            else (torch.arange(c) >= (c + 1) // 2).float()
        ).view(1, c, 1, 1),
    ),
    Mistake(
        "you alternated channels (0, 2, 4, ...); the channel mask splits them in two blocks: "
        "the first c // 2 and the rest.",
        lambda c, parity: ((torch.arange(c) + parity) % 2 == 0).float().view(1, c, 1, 1),
    ),
]


def check_channel_mask(fn) -> None:
    """Check ``channel_mask(c, parity=0) -> (1, c, 1, 1)``: first c // 2 channels for parity 0."""
    assert_not_reference(fn, ref.channel_mask)
    name = "channel_mask"
    for c, parity in [(4, 0), (4, 1), (6, 1), (5, 0), (5, 1), (2, 0), (7, 1)]:
        case = f"c={c}, parity={parity}"
        got = _call(fn, (c, parity), case=case)
        _mask_result(name, got, ref.channel_mask(c, parity), _CHANNEL_MISTAKES, (c, parity), case)
    got = _call(fn, (6,), case="c=6, parity left at its default")
    _mask_result(name, got, ref.channel_mask(6), _CHANNEL_MISTAKES, (6, 0), "c=6, default parity")
    success(name, "shapes (1, c, 1, 1), both parities, odd c, float32")


# ---------------------------------------------------------------------------------------
# Coupling
# ---------------------------------------------------------------------------------------


class _Net:
    """A fixed small network: tanh of a seeded linear map (vectors) or 3x3 conv (images).

    It takes any dtype and device, and records whether it ever saw a non-zero value on
    the transformed half (the conditioning input must be b * x).
    """

    def __init__(self, shape, seed: int, scale: float):
        if len(shape) == 1:
            (d,) = shape
            self.weight = randn(d, d, seed=seed, dtype=torch.float64) / math.sqrt(d)
        else:
            c = shape[0]
            self.weight = randn(c, c, 3, 3, seed=seed, dtype=torch.float64) / math.sqrt(9 * c)
        self.bias = randn(*shape, seed=seed + 1, dtype=torch.float64) * 0.3
        self.scale = scale

    def __call__(self, v):
        w = self.weight.to(v.device, v.dtype)
        b = self.bias.to(v.device, v.dtype)
        h = v @ w.t() if v.ndim == 2 else F.conv2d(v, w, padding=1)
        return self.scale * torch.tanh(2.0 * h + b)


def _coupling_setups(dev, dtype):
    """(case, x, mask, s_net, t_net) for a vector, a checkerboard and a channel coupling."""
    x_vec = randn(5, 6, seed=1, dtype=dtype, dev=dev) * 1.5
    m_vec = torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0, 0.0]], dtype=dtype, device=dev)
    x_img = randn(3, 2, 4, 4, seed=2, dtype=dtype, dev=dev)
    x_ch = randn(2, 4, 3, 3, seed=3, dtype=dtype, dev=dev)
    return [
        (
            f"(B, D) = (5, 6), vector mask, {dtype}, {dev.type}",
            x_vec,
            m_vec,
            _Net((6,), 10, 1.0),
            _Net((6,), 20, 2.0),
        ),
        (
            f"(3, 2, 4, 4), checkerboard mask, {dtype}, {dev.type}",
            x_img,
            ref.checkerboard_mask(4, 4, 1).to(dev, dtype),
            _Net((2, 4, 4), 30, 1.0),
            _Net((2, 4, 4), 40, 2.0),
        ),
        (
            f"(2, 4, 3, 3), channel mask, {dtype}, {dev.type}",
            x_ch,
            ref.channel_mask(4, 0).to(dev, dtype),
            _Net((4, 3, 3), 50, 1.0),
            _Net((4, 3, 3), 60, 2.0),
        ),
    ]


def _s_sum(t):
    return t.flatten(1).sum(dim=1)


_Z_MISTAKES = [
    Mistake(
        "you scaled and shifted the conditioning half too: z = b*x + (1-b)*(...), the part "
        "with b = 1 passes through unchanged, otherwise the layer cannot be inverted.",
        lambda x, b, s, t: x * torch.exp(s(b * x)) + t(b * x),
    ),
    Mistake(
        "s and t must see only the kept half b*x, not the whole x: then the inverse can "
        "recompute them from z (b*z = b*x).",
        lambda x, b, s, t: b * x + (1 - b) * (x * torch.exp(s(x)) + t(x)),
    ),
    Mistake(
        "you added t before scaling: z = x * exp(s) + t, not (x + t) * exp(s).",
        lambda x, b, s, t: b * x + (1 - b) * ((x + t(b * x)) * torch.exp(s(b * x))),
    ),
    Mistake(
        "you used exp(-s): the forward coupling multiplies by exp(s); exp(-s) belongs to the "
        "inverse.",
        lambda x, b, s, t: b * x + (1 - b) * (x * torch.exp(-s(b * x)) + t(b * x)),
    ),
    Mistake(
        "the roles of the mask are swapped: b = 1 marks the kept (conditioning) part, the "
        "transformed part is where 1 - b = 1.",
        lambda x, b, s, t: ref.coupling_forward(x, 1 - b, s, t)[0],
    ),
    Mistake(
        "you multiplied by s instead of exp(s): s is a log-scale.",
        lambda x, b, s, t: b * x + (1 - b) * (x * s(b * x) + t(b * x)),
    ),
]

_LD_MISTAKES = [
    Mistake(
        "the log-det has the wrong sign: z = x * exp(s) stretches by exp(s), so "
        "log|det| = +sum((1-b) * s).",
        lambda x, b, s, t: -_s_sum((1 - b) * s(b * x)),
    ),
    Mistake(
        "you forgot the (1-b) mask in the log-det sum: only the transformed entries are "
        "scaled, the kept ones have Jacobian 1, so log_det = sum((1-b) * s).",
        lambda x, b, s, t: _s_sum(s(b * x)),
    ),
    Mistake(
        "you summed s over the kept half (b * s); the scaled half is where 1 - b = 1.",
        lambda x, b, s, t: _s_sum(b * s(b * x)),
    ),
    Mistake(
        "you averaged instead of summing: log|det| of a diagonal Jacobian is the *sum* of "
        "the log-scales.",
        lambda x, b, s, t: ((1 - b) * s(b * x)).expand_as(x).flatten(1).mean(dim=1),
    ),
    Mistake(
        "you summed exp(s); the log-det is the sum of the log-scales s themselves "
        "(log exp(s) = s).",
        lambda x, b, s, t: _s_sum((1 - b) * torch.exp(s(b * x))),
    ),
    Mistake(
        "t does not belong in the log-det: a shift has Jacobian 1.",
        lambda x, b, s, t: _s_sum((1 - b) * (s(b * x) + t(b * x))),
    ),
]


def _grad_check(name, fn, make_out, x, weight, ref_out):
    """Gradients w.r.t. x of sum(weight * out) equal the reference's."""
    xr = x.detach().clone().requires_grad_()
    (sum((o * w).sum() for o, w in zip(ref_out(xr), weight, strict=True))).backward()
    xs = x.detach().clone().requires_grad_()
    outs = make_out(xs)
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    if not all(isinstance(o, torch.Tensor) and o.requires_grad for o in outs):
        raise AssertionError(
            f"{name}: the result carries no gradient. Do not use .item(), .detach(), .data, "
            "torch.no_grad() or numpy inside: the flow is trained through this function."
        )
    (sum((o * w).sum() for o, w in zip(outs, weight, strict=True))).backward()
    if xs.grad is None or not close(xs.grad, xr.grad):
        raise AssertionError(
            f"{name} has the right values but wrong gradients: is part of the computation "
            "detached (torch.no_grad, .detach(), .data)?"
        )


def check_coupling_forward(fn) -> None:
    """Check ``coupling_forward(x, mask, s_net, t_net) -> (z, log_det)``.

    ``z = b*x + (1-b)*(x*exp(s(b*x)) + t(b*x))``, ``log_det = sum((1-b)*s(b*x))`` (B,).
    Vector, checkerboard and channel masks; float32/float64; gradients.
    """
    assert_not_reference(fn, ref.coupling_forward)
    name = "coupling_forward"
    for dev, dtype in cases():
        for case, x, b, s, t in _coupling_setups(dev, dtype):
            args = (x, b, s, t)
            before = [x.clone(), b.clone()]
            z_ref, ld_ref = ref.coupling_forward(*args)
            z, ld = _pair(name, _call(fn, args, case=case), case)
            inputs_unchanged(name, before, [x, b])
            compare(f"{name} (z)", z, z_ref, mistakes=_Z_MISTAKES, args=args, case=case)
            _log_det_shape(name, ld, x.shape[0], x, case)
            compare(f"{name} (log_det)", ld, ld_ref, mistakes=_LD_MISTAKES, args=args, case=case)
    case, x, b, s, t = _coupling_setups(torch.device("cpu"), torch.float64)[1]
    weights = (
        randn(*x.shape, seed=70, dtype=torch.float64),
        randn(x.shape[0], seed=71, dtype=torch.float64),
    )
    _grad_check(
        name,
        fn,
        lambda v: _call(fn, (v, b, s, t), case="gradient check"),
        x,
        weights,
        lambda v: ref.coupling_forward(v, b, s, t),
    )
    success(name, "vector, checkerboard and channel masks, float32/float64, gradients")


_INV_MISTAKES = [
    Mistake(
        "you multiplied by exp(+s): the inverse undoes the scaling, x = (z - t) * exp(-s).",
        lambda z, b, s, t: b * z + (1 - b) * (z - t(b * z)) * torch.exp(s(b * z)),
    ),
    Mistake(
        "the order is wrong: undo the shift first, then the scale: x = (z - t) * exp(-s), "
        "not z * exp(-s) - t.",
        lambda z, b, s, t: b * z + (1 - b) * (z * torch.exp(-s(b * z)) - t(b * z)),
    ),
    Mistake(
        "s and t must see the kept half b*z (= b*x), not the whole z.",
        lambda z, b, s, t: b * z + (1 - b) * (z - t(z)) * torch.exp(-s(z)),
    ),
    Mistake(
        "the kept half is missing: x = b*z + (1-b)*(...), the conditioning half comes back "
        "unchanged.",
        lambda z, b, s, t: (1 - b) * (z - t(b * z)) * torch.exp(-s(b * z)),
    ),
    Mistake(
        "you transformed the conditioning half too: only the part where 1 - b = 1 is "
        "un-scaled and un-shifted.",
        lambda z, b, s, t: (z - t(b * z)) * torch.exp(-s(b * z)),
    ),
    Mistake(
        "you added t: the forward pass added it, so the inverse subtracts it.",
        lambda z, b, s, t: b * z + (1 - b) * (z + t(b * z)) * torch.exp(-s(b * z)),
    ),
]


def check_coupling_inverse(fn) -> None:
    """Check ``coupling_inverse(z, mask, s_net, t_net) -> x``, the exact inverse of the coupling."""
    assert_not_reference(fn, ref.coupling_inverse)
    name = "coupling_inverse"
    for dev, dtype in cases():
        for case, x, b, s, t in _coupling_setups(dev, dtype):
            z = ref.coupling_forward(x, b, s, t)[0]
            args = (z, b, s, t)
            before = [z.clone(), b.clone()]
            got = _call(fn, args, case=case)
            inputs_unchanged(name, before, [z, b])
            expected = ref.coupling_inverse(*args)
            compare(name, got, expected, mistakes=_INV_MISTAKES, args=args, case=case)
            if not close(got, x):  # pragma: no cover - the reference itself is exact
                raise AssertionError(f"{name}: inverse(forward(x)) != x{where(case)}")
    case, x, b, s, t = _coupling_setups(torch.device("cpu"), torch.float64)[2]
    weights = (randn(*x.shape, seed=72, dtype=torch.float64),)
    _grad_check(
        name,
        fn,
        lambda v: _call(fn, (v, b, s, t), case="gradient check"),
        x,
        weights,
        lambda v: (ref.coupling_inverse(v, b, s, t),),
    )
    success(name, "inverse(forward(x)) == x for vector, checkerboard and channel masks")


# ---------------------------------------------------------------------------------------
# Layers with parameters: ActNorm and the invertible 1x1 convolution
# ---------------------------------------------------------------------------------------


def _new_layer(cls, channels: int, dev, dtype, name: str):
    layer = _call(cls, (channels,), case=f"{name}({channels})")
    if not isinstance(layer, torch.nn.Module):
        raise AssertionError(f"{name} must be an nn.Module subclass (class {name}(nn.Module)).")
    if not list(layer.parameters()):
        raise AssertionError(
            f"{name}({channels}) has no parameters: store the learnable quantities as "
            "nn.Parameter, so the optimiser trains them."
        )
    return layer.to(dev, dtype)


def _forward(layer, x, name, case):
    return _pair(f"{name}.forward", _call(layer, (x,), case=case), case)


def _inverse(layer, y, name, case):
    if not hasattr(layer, "inverse"):
        raise AssertionError(f"{name} has no method inverse(y).")
    out = _call(layer.inverse, (y,), case=case)
    assert_tensor(out, y, f"{name}.inverse", case)
    return out


def _loose(dtype):
    return dict(rtol=1e-3, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-7, atol=1e-9)


def _allclose(a, b, dtype) -> bool:
    return bool(
        torch.allclose(a.detach().double().cpu(), b.detach().double().cpu(), **_loose(dtype))
    )


def _channel_slopes(layer, x, name, case):
    """Probe the layer as a per-channel affine map: y = a_c * x + c_c at every position.

    Returns (a (C,), offset (C,)); fails when the map differs between positions."""
    with torch.no_grad():
        y0 = _forward(layer, torch.zeros_like(x), name, case)[0]
        y1 = _forward(layer, torch.ones_like(x), name, case)[0]
        y = _forward(layer, x, name, case)[0]
    a_full, c_full = y1 - y0, y0
    dims = [0] + list(range(2, x.ndim))
    a = a_full.mean(dim=dims)
    c = c_full.mean(dim=dims)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if not (
        _allclose(a_full, a.view(shape).expand_as(x), x.dtype)
        and _allclose(c_full, c.view(shape).expand_as(x), x.dtype)
        and _allclose(y, a.view(shape) * x + c.view(shape), x.dtype)
    ):
        raise AssertionError(
            f"{name}: the scale or bias differs between pixels or samples{where(case)}. ActNorm "
            "has ONE scale and ONE bias per channel, shared by every sample and position: "
            "reduce over the batch and H, W (dims 0, 2, 3) when you initialise, and keep the "
            "parameters of shape (C,) viewed as (1, C, 1, 1)."
        )
    return a, c


def check_act_norm(cls) -> None:
    """Check the class ``ActNorm(channels)``: per-channel ``y = scale * x + bias``.

    Judged: data-dependent init on the first batch (zero mean, unit variance per channel,
    biased or unbiased), no re-initialisation later, ``log_det = H*W*sum log|scale|`` (B,)
    against the layer's own Jacobian, the inverse, (B, C) input, and gradients reaching the
    parameters through y and log_det.
    """
    assert_not_reference(cls, ref.ActNorm)
    name = "ActNorm"
    for dev, dtype in cases():
        for shape in [(16, 3, 4, 4), (64, 4)]:
            case = f"input {shape}, {dtype}, {dev.type}"
            c = shape[1]
            layer = _new_layer(cls, c, dev, dtype, name)
            x = randn(*shape, seed=80, dtype=dtype, dev=dev) * 2.5 + 1.5
            y, ld = _forward(layer, x, name, case)
            assert_tensor(y, x, f"{name}.forward (y)", case)
            dims = [0] + list(range(2, x.ndim))
            mean, std = y.detach().mean(dim=dims), y.detach().std(dim=dims, unbiased=False)
            if not torch.allclose(mean, torch.zeros_like(mean), atol=1e-3):
                raise AssertionError(
                    f"{name}: after the first batch the output's per-channel mean is "
                    f"{_fmt(mean)}, not 0{where(case)}. Data-dependent init: on the first "
                    "forward pass set the bias from this batch's per-channel mean."
                )
            if not torch.allclose(std, torch.ones_like(std), atol=2e-2):
                raise AssertionError(
                    f"{name}: after the first batch the output's per-channel std is "
                    f"{_fmt(std)}, not 1{where(case)}. Data-dependent init: set the scale to "
                    "1 / std of this batch, per channel (over batch, H and W)."
                )
            first = y.detach().clone()
            # An affine copy of the first batch: a re-initialised layer normalises it to `first`.
            again = _forward(layer, x * 0.5 - 3.0, name, case)[0]
            if _allclose(again, first, dtype):
                raise AssertionError(
                    f"{name} re-initialised itself on a later batch{where(case)}: the data-"
                    "dependent init runs once, on the first batch; afterwards scale and bias are "
                    "ordinary trained parameters (keep a flag, e.g. a bool buffer `initialized`)."
                )
            # Make the parameters non-trivial, as after training.
            with torch.no_grad():
                for i, p in enumerate(layer.parameters()):
                    p.add_(0.05 * randn(*p.shape, seed=90 + i, dtype=torch.float64).to(p))
            a, _ = _channel_slopes(layer, x, name, case)
            hw = x[0, 0].numel()
            expected = hw * torch.log(a.abs()).sum() * torch.ones(shape[0], dtype=dtype, device=dev)
            y, ld = _forward(layer, x, name, case)
            _log_det_shape(name, ld, shape[0], x, case)
            if not _allclose(ld, expected, dtype):
                _act_log_det_hint(name, ld, expected, hw, case)
            x_back = _inverse(layer, y.detach(), name, case)
            if not _allclose(x_back, x, dtype):
                raise AssertionError(
                    f"{name}: inverse(forward(x)) != x{where(case)}: undo the bias and the "
                    "scale in the reverse order of forward (divide by the scale)."
                )
            if dtype == torch.float64 and dev.type == "cpu":
                _params_get_gradients(layer, x, name, case)
    success(name, "data-dependent init once, log_det = H*W*sum log|s|, inverse, (B, C) input")


def _fmt(t):
    return "[" + ", ".join(f"{v:.3g}" for v in t.detach().double().cpu().tolist()) + "]"


def _act_log_det_hint(name, ld, expected, hw, case):
    got = ld.detach().double().cpu()
    want = expected.detach().double().cpu()
    if hw > 1 and torch.allclose(got * hw, want, rtol=1e-3, atol=1e-4):
        raise AssertionError(
            f"{name}: log_det is missing the factor H*W = {hw}{where(case)}. The same scale "
            "multiplies every one of the H*W pixels of a channel, so the Jacobian's diagonal "
            "holds each log-scale H*W times: log_det = H * W * sum_c log|s_c|."
        )
    if torch.allclose(-got, want, rtol=1e-3, atol=1e-4):
        raise AssertionError(
            f"{name}: log_det has the wrong sign{where(case)}: y = s * (x ...) stretches by s, "
            "log|det| = +H*W*sum log|s| (a log-std parametrisation needs a minus)."
        )
    if hw > 1 and torch.allclose(-got * hw, want, rtol=1e-3, atol=1e-4):
        raise AssertionError(
            f"{name}: log_det has the wrong sign and is missing the factor H*W{where(case)}."
        )
    raise AssertionError(
        f"{name}: log_det is {_fmt(got[:3])}..., the Jacobian of your layer gives "
        f"{_fmt(want[:3])}...{where(case)}: log_det = H * W * sum_c log|scale_c|, one value per "
        "sample."
    )


def _params_get_gradients(layer, x, name, case):
    layer.zero_grad()
    y, ld = _forward(layer, x, name, case)
    if not ld.requires_grad:
        raise AssertionError(
            f"{name}: log_det carries no gradient{where(case)}: compute it from the parameters "
            "(not a detached copy or .item()), the likelihood is trained through it."
        )
    (y.sum() + ld.sum()).backward()
    if all(p.grad is None or not p.grad.abs().sum() for p in layer.parameters()):
        raise AssertionError(f"{name}: no gradient reaches the parameters{where(case)}.")


def check_invertible_1x1_conv(cls) -> None:
    """Check the class ``Invertible1x1Conv(channels)``: ``y[:, :, i, j] = W @ x[:, :, i, j]``.

    Judged after perturbing the parameters (so W is not orthogonal): the same channel mixing at
    every pixel, ``log_det = H*W*log|det W|`` (B,) against the layer's own Jacobian, the
    inverse, an invertible initial W, and gradients reaching the parameters.
    """
    assert_not_reference(cls, ref.Invertible1x1Conv)
    name = "Invertible1x1Conv"
    for dev, dtype in cases():
        c = 4
        shape = (3, c, 3, 5)
        case = f"input {shape}, {dtype}, {dev.type}"
        layer = _new_layer(cls, c, dev, dtype, name)
        x = randn(*shape, seed=100, dtype=dtype, dev=dev)
        _, ld0 = _forward(layer, x, name, case)
        if not torch.isfinite(ld0).all():
            raise AssertionError(
                f"{name}: the initial log_det is not finite{where(case)}: initialise W as an "
                "invertible matrix, e.g. a random rotation (torch.linalg.qr of a random matrix)."
            )
        with torch.no_grad():
            for i, p in enumerate(layer.parameters()):
                p.add_(0.3 * randn(*p.shape, seed=110 + i, dtype=torch.float64).to(p))
        with torch.no_grad():
            probe = torch.eye(c, dtype=dtype, device=dev).view(
                c, c, 1, 1
            )  # one pixel per basis vector
            w = _forward(layer, probe, name, case + ", probing W")[0].reshape(c, c).t()  # (C, C)
            y, ld = _forward(layer, x, name, case)
        assert_tensor(y, x, f"{name}.forward (y)", case)
        expected_y = torch.einsum("oc,bchw->bohw", w, x)
        if not _allclose(y, expected_y, dtype):
            raise AssertionError(
                f"{name}: y is not one linear channel mixing applied at every pixel{where(case)}: "
                "a 1x1 convolution is y[:, :, i, j] = W @ x[:, :, i, j], no bias, no spatial "
                "mixing (F.conv2d(x, W.view(C, C, 1, 1)))."
            )
        hw = shape[2] * shape[3]
        log_abs_det = torch.linalg.slogdet(w.double().cpu())[1]
        expected = (hw * log_abs_det).expand(shape[0]).to(dev, dtype)
        _log_det_shape(name, ld, shape[0], x, case)
        if not torch.isfinite(ld).all():
            raise AssertionError(
                f"{name}: log_det is nan{where(case)}: det W can be negative, use log|det W| "
                "(torch.linalg.slogdet(W)[1]), not log(det W)."
            )
        if not _allclose(ld, expected, dtype):
            got = ld.detach().double().cpu()
            if torch.allclose(got * hw, expected.double().cpu(), rtol=1e-3, atol=1e-4):
                raise AssertionError(
                    f"{name}: log_det is missing the factor H*W = {hw}{where(case)}. W mixes the "
                    "channels of each of the H*W pixels: the Jacobian is block diagonal with H*W "
                    "copies of W, so log_det = H * W * log|det W|."
                )
            if torch.allclose(-got, expected.double().cpu(), rtol=1e-3, atol=1e-4):
                raise AssertionError(
                    f"{name}: log_det has the wrong sign{where(case)}: +H*W*log|det W| for y = W x."
                )
            raise AssertionError(
                f"{name}: log_det is {_fmt(got)}, expected H*W*log|det W| = "
                f"{_fmt(expected)}{where(case)}."
            )
        x_back = _inverse(layer, y.detach(), name, case)
        if not _allclose(x_back, x, dtype):
            transposed = torch.einsum("co,bchw->bohw", w, y.detach())
            if _allclose(x_back, transposed, dtype):
                raise AssertionError(
                    f"{name}: the inverse used W^T{where(case)}. W^T is the inverse only while "
                    "W is orthogonal (at init); after training it is not: use "
                    "torch.linalg.inv(W)."
                )
            raise AssertionError(
                f"{name}: inverse(forward(x)) != x{where(case)}: mix the channels with W^-1."
            )
        if dtype == torch.float64 and dev.type == "cpu":
            _params_get_gradients(layer, x, name, case)
    success(name, "y = W x per pixel, log_det = H*W*log|det W|, exact inverse, gradients")


# ---------------------------------------------------------------------------------------
# The flow: FlowSequence
# ---------------------------------------------------------------------------------------


class _Scale(torch.nn.Module):
    """y = x * exp(a) + c per dimension: log_det = sum(a)."""

    def __init__(self, d, seed):
        super().__init__()
        self.a = randn(d, seed=seed, dtype=torch.float64) * 0.5
        self.c = randn(d, seed=seed + 1, dtype=torch.float64)

    def forward(self, x):
        a, c = self.a.to(x), self.c.to(x)
        return x * torch.exp(a) + c, a.sum() * x.new_ones(x.shape[0])

    def inverse(self, y):
        a, c = self.a.to(y), self.c.to(y)
        return (y - c) * torch.exp(-a)


class _Shear(torch.nn.Module):
    """An additive-plus-scale coupling on dims (first half -> second half), own code."""

    def __init__(self, d, seed, flip):
        super().__init__()
        self.net = _Net((d,), seed, 1.0)
        mask = (torch.arange(d) < d // 2).double()
        self.mask = (1 - mask if flip else mask).view(1, d)

    def forward(self, x):
        b = self.mask.to(x)
        s = self.net(b * x)
        return b * x + (1 - b) * (x * torch.exp(s) + s), _s_sum((1 - b) * s)

    def inverse(self, z):
        b = self.mask.to(z)
        s = self.net(b * z)
        return b * z + (1 - b) * (z - s) * torch.exp(-s)


def _flow_layers(d):
    return [_Scale(d, 120), _Shear(d, 130, False), _Shear(d, 140, True), _Scale(d, 150)]


def _push(layers, x):
    ld = x.new_zeros(x.shape[0])
    for layer in layers:
        x, l = layer(x)
        ld = ld + l
    return x, ld


def _normal(d, dtype, dev):
    return torch.distributions.Normal(
        torch.zeros(d, dtype=dtype, device=dev), torch.ones(d, dtype=dtype, device=dev)
    )


_SUM_PRIOR_HINT = {
    "must match the size": "prior.log_prob(z) of a Normal(zeros(D), ones(D)) is per dimension, "
    "(B, D): sum it over the non-batch dims before adding the (B,) log-det."
}


def check_flow_sequence(cls) -> None:
    """Check the class ``FlowSequence(layers, prior)``: ``log_prob(x) -> (B,)`` and ``sample(n)``.

    ``log_prob(x) = sum_dims log p_z(z) + sum_layers log_det`` with the layers applied in
    order; ``sample(n, temperature=1.0)`` pushes prior samples (deviation from the prior's
    mean scaled by the temperature) through the inverses in reverse order. The layers
    given are the check's own.
    """
    assert_not_reference(cls, ref.FlowSequence)
    name = "FlowSequence"
    d = 4
    for dev, dtype in cases():
        case = f"(B, D) = (6, {d}), {dtype}, {dev.type}"
        layers = _flow_layers(d)
        prior = _normal(d, dtype, dev)
        flow = _call(cls, (layers, prior), case=case)
        x = randn(6, d, seed=160, dtype=dtype, dev=dev)
        got = _call(flow.log_prob, (x,), case=case, hints=_SUM_PRIOR_HINT)
        z, ld = _push(layers, x)
        log_pz = _s_sum(prior.log_prob(z))
        expected = log_pz + ld
        if isinstance(got, torch.Tensor) and got.shape == x.shape:
            raise AssertionError(
                f"{name}.log_prob returned shape {tuple(got.shape)}, expected (B,) = (6,)"
                f"{where(case)}: prior.log_prob(z) of a Normal is per dimension; sum it over "
                "the non-batch dims."
            )
        _log_det_shape(f"{name}.log_prob", got, 6, x, case)
        if not close(got, expected):
            rev_z, rev_ld = _push(layers[::-1], x)
            hints = [
                (
                    log_pz - ld,
                    "the log-det enters with a plus sign: log p(x) = log p(z) + "
                    "log|det df/dx| (the data side is the one whose volume changes)",
                ),
                (
                    log_pz,
                    "the log-determinants are missing: log p(x) = log p(z) + sum of the "
                    "layers' log_det",
                ),
                (ld, "the prior term log p_z(f(x)) is missing"),
                (
                    log_pz.sum() + ld,
                    "you summed the prior's log-density over the batch too: "
                    "sum over the non-batch dims only (.sum(dim=1))",
                ),
                (
                    _s_sum(prior.log_prob(rev_z)) + rev_ld,
                    "the layers ran in reverse order: the density direction applies layers[0] "
                    "first",
                ),
                (
                    log_pz + layers[-1](_push(layers[:-1], x)[0])[1],
                    "only the last layer's log_det was kept: add them up (log_det = log_det + ld)",
                ),
                (
                    _s_sum(prior.log_prob(x)) + ld,
                    "the prior is evaluated at x; evaluate it at z = f(x)",
                ),
            ]
            for value, hint in hints:
                if close(got, value):
                    raise AssertionError(f"{name}.log_prob: {hint}{where(case)}.")
            compare(f"{name}.log_prob", got, expected, case=case)
        _check_sampling(flow, layers, d, dtype, dev, name)
    success(name, "log_prob = log p(z) + sum of log-dets, sample() inverts in reverse order")


def _check_sampling(flow, layers, d, dtype, dev, name):
    n = 4000
    with keep_student_rng():
        torch.manual_seed(0)
        for temperature in (1.0, 0.5):
            case = f"sample({n}, temperature={temperature}), {dtype}, {dev.type}"
            kwargs = {} if temperature == 1.0 else {"temperature": temperature}
            with torch.no_grad():
                x = _call(flow.sample, (n,), kwargs, case=case)
            assert_tensor(x, torch.zeros(n, d, dtype=dtype, device=dev), f"{name}.sample", case)
            with torch.no_grad():
                z = _push(layers, x)[0]
            mean, std = z.mean(dim=0), z.std(dim=0)
            if not (mean.abs().max() < 0.1 and (std - temperature).abs().max() < 0.1):
                raise AssertionError(
                    f"{name}.sample: pushing your samples back through the layers gives z with "
                    f"mean {_fmt(mean)} and std {_fmt(std)}, expected 0 and {temperature}"
                    f"{where(case)}. Sample z from the prior (scaled by the temperature), then "
                    "apply the layers' inverses in *reverse* order."
                )


# ---------------------------------------------------------------------------------------
# Dequantisation and bits per dimension
# ---------------------------------------------------------------------------------------

_BPD_MISTAKES = [
    Mistake(
        "you forgot the ln 2: -log_prob / num_dims is in nats per dim; divide by ln 2 to get bits.",
        lambda lp, d: -lp / d,
    ),
    Mistake(
        "the sign is wrong: bits/dim is the *negative* log-likelihood, -log_prob / (D ln 2).",
        lambda lp, d: lp / (d * _LN2),
    ),
    Mistake(
        "you did not divide by num_dims: bits per *dimension* = -log_prob / (num_dims ln 2).",
        lambda lp, d: -lp / _LN2,
    ),
    Mistake(
        "you multiplied by ln 2 instead of dividing: nats -> bits divides by ln 2 (log2 e = 1 "
        "/ ln 2).",
        lambda lp, d: -lp * _LN2 / d,
    ),
    Mistake(
        "you added the dequantisation offset (8 bits for 256 levels) inside; bits_per_dim "
        "converts the log_prob it is given, the caller adds -D log 256 to log_prob.",
        lambda lp, d: -lp / (d * _LN2) + 8.0,
    ),
    Mistake(
        "you used log10: bits are log base 2, divide by ln 2.",
        lambda lp, d: -lp / (d * math.log(10)),
    ),
]


def check_bits_per_dim(fn) -> None:
    """Check ``bits_per_dim(log_prob (B,), num_dims) -> -log_prob / (num_dims * ln 2)`` (B,)."""
    assert_not_reference(fn, ref.bits_per_dim)
    name = "bits_per_dim"
    for dev, dtype in cases():
        for b, d in [(5, 784), (1, 2), (7, 3072)]:
            case = f"B={b}, num_dims={d}, {dtype}, {dev.type}"
            lp = -rand(b, seed=170 + d, dtype=dtype, dev=dev) * d * 3.0 + 0.5
            expected = ref.bits_per_dim(lp, d)
            before = [lp.clone()]
            got = _call(fn, (lp, d), case=case)
            inputs_unchanged(name, before, [lp])
            if isinstance(got, torch.Tensor) and got.ndim == 0 and b > 1:
                raise AssertionError(
                    f"{name} returned one number{where(case)}; return one value per sample (B,), "
                    "average later if you need a scalar."
                )
            compare(name, got, expected, mistakes=_BPD_MISTAKES, args=(lp, d), case=case)
    success(name, "-log p / (D ln 2), (B,), float32/float64")


def _levels(x, levels):
    return torch.round((x + 1) / 2 * (levels - 1))


_DEQ_Y_MISTAKES = [
    Mistake(
        "you divided by levels - 1 = 255: y = (k + u) / 256 so that the 256 cells [k, k+1)/256 "
        "tile [0, 1) without overlap.",
        lambda x, u, L: (_levels(x, L) + u) / (L - 1),
    ),
    Mistake(
        "you treated x as if it were in [0, 1]; the images are in [-1, 1]: k = round((x + 1) / 2 "
        "* 255).",
        lambda x, u, L: (torch.round(x * (L - 1)) + u) / L,
    ),
    Mistake(
        "you added the noise to x directly; first recover the integer level "
        "k = round((x + 1) / 2 * 255), then y = (k + u) / 256.",
        lambda x, u, L: (x + 1) / 2 + u / L,
    ),
    Mistake(
        "the noise is missing: y = (k + u) / 256 with u ~ U[0, 1); without it the model can put "
        "infinite density on the 256 levels.",
        lambda x, u, L: _levels(x, L) / L,
    ),
    Mistake(
        "you used floor instead of round for the level: (x + 1) / 2 * 255 is an integer up to "
        "round-off, and floor turns 2.9999999 into 2.",
        lambda x, u, L: (torch.floor((x + 1) / 2 * (L - 1)) + u) / L,
    ),
]


def check_dequantize(fn) -> None:
    """Check ``dequantize(x, noise=None, levels=256) -> (y, log_det)``.

    ``k = round((x + 1) / 2 * (levels - 1))``, ``y = (k + u) / levels`` in [0, 1),
    ``log_det = -D * log(levels)`` (B,); fresh U[0, 1) noise when ``noise`` is None.
    """
    assert_not_reference(fn, ref.dequantize)
    name = "dequantize"
    for dev, dtype in cases():
        for shape, levels in [((4, 1, 5, 5), 256), ((3, 6), 256), ((2, 3, 2, 2), 16)]:
            case = f"x {shape}, levels={levels}, {dtype}, {dev.type}"
            k = torch.randint(0, levels, shape, generator=torch.Generator().manual_seed(180))
            x = (k.double() / (levels - 1) * 2 - 1).to(dev, dtype)  # exact image levels in [-1, 1]
            u = rand(*shape, seed=181, dtype=dtype, dev=dev)
            kwargs = {"noise": u} if levels == 256 else {"noise": u, "levels": levels}
            y_ref, ld_ref = ref.dequantize(x, **kwargs)
            before = [x.clone(), u.clone()]
            y, ld = _pair(name, _call(fn, (x,), kwargs, case=case), case)
            inputs_unchanged(name, before, [x, u])
            compare(
                f"{name} (y)", y, y_ref, mistakes=_DEQ_Y_MISTAKES, args=(x, u, levels), case=case
            )
            _log_det_shape(name, ld, shape[0], x, case)
            num = x[0].numel()
            hints = [
                (
                    torch.zeros_like(ld_ref),
                    "log_det is 0: the unit cube [0, 1)^D is 256^D times "
                    "smaller than the integer grid's cells [k, k+1)^D, so log P(k) >= log p(y) - D "
                    "log 256: return log_det = -D log(levels)",
                ),
                (
                    -ld_ref,
                    "log_det has the wrong sign: squeezing [0, 256) into [0, 1) makes "
                    "densities larger, so the correction is -D log(levels)",
                ),
                (
                    ld_ref / num,
                    "log_det is missing the factor D: every one of the D dims pays log(levels)",
                ),
                (
                    ld_ref * math.log(levels - 1) / math.log(levels),
                    "use log(levels) = log 256, the width of the cells y = (k + u) / 256",
                ),
            ]
            if not close(ld, ld_ref):
                for value, hint in hints:
                    if close(ld, value):
                        raise AssertionError(f"{name}: {hint}{where(case)}.")
                compare(f"{name} (log_det)", ld, ld_ref, case=case)
    _check_fresh_uniform_noise(fn, name)
    success(name, "levels, y = (k + u) / L in [0, 1), log_det = -D log L, fresh noise")


def _check_fresh_uniform_noise(fn, name):
    with keep_student_rng():
        torch.manual_seed(0)
        for dev, dtype in cases():
            case = f"noise=None, {dtype}, {dev.type}"
            k = torch.randint(0, 256, (50, 40), generator=torch.Generator().manual_seed(182))
            x = (k.double() / 255 * 2 - 1).to(dev, dtype)
            y1 = _pair(name, _call(fn, (x,), case=case), case)[0]
            y2 = _pair(name, _call(fn, (x,), case=case), case)[0]
            assert_tensor(y1, x, f"{name} with noise=None", case)
            u = (y1 * 256 - k.to(dev, dtype)).detach()
            if torch.equal(y1, y2):
                raise AssertionError(
                    f"{name} with noise=None returned the same y twice{where(case)}: draw new "
                    "noise u ~ U[0, 1) at every call (torch.rand_like(x))."
                )
            if u.min() < -1e-3 or u.max() > 1 + 1e-3 or abs(u.mean().item() - 0.5) > 0.05:
                raise AssertionError(
                    f"{name} with noise=None: the noise is not uniform on [0, 1){where(case)} "
                    f"(min {u.min().item():.3g}, max {u.max().item():.3g}, mean "
                    f"{u.mean().item():.3g}): use torch.rand_like(x), not randn."
                )


# ---------------------------------------------------------------------------------------
# MADE masks
# ---------------------------------------------------------------------------------------


def check_made_masks(fn) -> None:
    """Check ``made_masks(in_dim, hidden_dims, seed=0) -> list of (out, in) masks``.

    Judged by properties (any random hidden degrees are fine): one binary mask per layer
    with shape (out, in); the first mask equals ``deg_h >= j`` for input degrees 1..D with
    hidden degrees in [1, D-1]; each further hidden mask ``deg_out >= deg_in``; the output
    mask ``d > deg_in`` (strict), so the product of the masks is strictly lower-triangular
    (output d depends only on inputs before it); the same seed gives the same masks.
    """
    assert_not_reference(fn, ref.made_masks)
    name = "made_masks"
    for d, hidden, seed in [(5, [20, 20], 0), (3, [8], 1), (8, [32, 16, 24], 2), (2, [4], 3)]:
        case = f"in_dim={d}, hidden_dims={hidden}, seed={seed}"
        masks = _call(fn, (d, hidden), {"seed": seed}, case=case)
        if masks is None:
            raise AssertionError(f"{name} returned None{where(case)}. Did you forget a `return`?")
        masks = list(masks)
        sizes = [d, *hidden, d]
        if len(masks) != len(hidden) + 1:
            raise AssertionError(
                f"{name} returned {len(masks)} masks, expected {len(hidden) + 1}{where(case)}: one "
                "per linear layer, the hidden layers and the output layer."
            )
        for i, m in enumerate(masks):
            want = (sizes[i + 1], sizes[i])
            if not isinstance(m, torch.Tensor):
                raise AssertionError(f"{name}: mask {i} is a {type(m).__name__}, not a tensor.")
            if tuple(m.shape) == want[::-1] and want[0] != want[1]:
                raise AssertionError(
                    f"{name}: mask {i} has shape {tuple(m.shape)}, expected (out, in) = {want}"
                    f"{where(case)}: masks multiply nn.Linear weights, which are (out, in); "
                    "transpose it."
                )
            if tuple(m.shape) != want:
                raise AssertionError(
                    f"{name}: mask {i} has shape {tuple(m.shape)}, expected (out, in) = {want}"
                    f"{where(case)}."
                )
            if not m.is_floating_point() or not torch.all((m == 0) | (m == 1)):
                raise AssertionError(
                    f"{name}: mask {i} must be a float tensor of 0s and 1s{where(case)}."
                )
        _made_structure(masks, d, name, case)
        again = [m.clone() for m in _call(fn, (d, hidden), {"seed": seed}, case=case)]
        if not all(torch.equal(a, b) for a, b in zip(masks, again, strict=True)):
            raise AssertionError(
                f"{name}: two calls with the same seed gave different masks{where(case)}: draw "
                "the hidden degrees from a generator seeded with `seed` "
                "(torch.Generator().manual_seed(seed))."
            )
    success(name, "shapes (out, in), degrees in [1, D-1], >= for hidden, > for the output")


def _made_structure(masks, d, name, case):
    inputs = torch.arange(1, d + 1, dtype=torch.float64)
    first = masks[0].double()
    deg = first.sum(dim=1)  # a hidden unit of degree k sees inputs 1..k: k ones
    expected_first = (deg[:, None] >= inputs[None, :]).double()
    if not torch.equal(first, expected_first):
        shifted = (deg[:, None] > inputs[None, :] - 1).double()
        raise AssertionError(
            f"{name}: the first mask is not 'hidden degree >= input degree' with input degrees "
            f"1..D{where(case)}"
            + (": did you number the inputs 0..D-1?" if torch.equal(first, shifted) else ".")
        )
    if deg.min() >= 2 and deg.max() == d:
        raise AssertionError(
            f"{name}: the hidden units see one input too many{where(case)}: did you number the "
            "inputs 0..D-1? MADE's input degrees are 1..D, hidden degrees lie in [1, D-1]."
        )
    if deg.min() < 1 or deg.max() > d - 1:
        hint = (
            "a unit of degree D sees every input and may feed no output (outputs see degrees "
            "< d <= D): it is wasted"
            if deg.max() > d - 1
            else "a unit of degree 0 sees no input (did you use > in a hidden layer? a hidden "
            "unit of degree k sees inputs 1..k, >=; > is only for the output layer)"
        )
        raise AssertionError(
            f"{name}: hidden degrees must lie in [1, D-1] = [1, {d - 1}], yours span "
            f"[{int(deg.min())}, {int(deg.max())}]{where(case)}: {hint}."
        )
    for i, m in enumerate(masks[1:-1], start=1):
        m = m.double()
        # Recover this layer's degrees as the largest degree it reads (>= rule): for each row,
        # the degree is consistent only if the row equals (k >= deg_in) for some k.
        found = []
        for row in m:
            ks = [k for k in range(1, d) if torch.equal(row, (k >= deg).double())]
            if not ks:
                strict = [k for k in range(1, d) if torch.equal(row, (k > deg).double())]
                raise AssertionError(
                    f"{name}: hidden mask {i} does not follow 'degree_out >= degree_in'"
                    f"{where(case)}"
                    + (": you used >, which is only for the output layer." if strict else ".")
                )
            found.append(ks[0])
        deg = torch.tensor(found, dtype=torch.float64)
    out = masks[-1].double()
    expected_out = (inputs[:, None] > deg[None, :]).double()
    if not torch.equal(out, expected_out):
        if torch.equal(out, (inputs[:, None] >= deg[None, :]).double()):
            raise AssertionError(
                f"{name}: the output mask uses >=; it must be strict, degree_out > degree_in. "
                f"With >=, output d can see input d itself and the model cheats: it predicts x_d "
                f"from x_d{where(case)}."
            )
        raise AssertionError(
            f"{name}: the output mask is not 'output d sees hidden units of degree < d' (outputs "
            f"have degrees 1..D){where(case)}."
        )
    path = masks[0].double()
    for m in masks[1:]:
        path = m.double() @ path
    if torch.triu(path).abs().sum() > 0:  # pragma: no cover - implied by the rules above
        raise AssertionError(
            f"{name}: some output depends on itself or a later input{where(case)}."
        )
