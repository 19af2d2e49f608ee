"""The week 07 checks (``course.checks.flows``) judged on student-like code.

For every check: realistic wrong implementations are rejected with the message that
names *their* mistake, correct implementations written another way pass, and the
course's reference is refused.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import course.flows as ref
from course.checks import flows as C

NOT_YOURS = "reference implementation, not your own"


def _passes(check, fn, capsys) -> None:
    check(fn)
    assert "passed" in capsys.readouterr().out


def _rejects(check, fn, message) -> None:
    with pytest.raises(AssertionError, match=message):
        check(fn)


# ---------------------------------------------------------------------------------------
# masks
# ---------------------------------------------------------------------------------------


def _cb_loops(h, w, parity=0):
    m = torch.zeros(1, 1, h, w)
    for i in range(h):
        for j in range(w):
            m[0, 0, i, j] = 1.0 if (i + j + parity) % 2 == 0 else 0.0
    return m


def _cb_meshgrid(h, w, parity=0):
    ii, jj = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (1 - (ii + jj + parity) % 2).to(torch.float32)[None, None]


def _cb_swapped(h, w, parity=0):
    return _cb_loops(h, w, 1 - parity)


def _cb_no_view(h, w, parity=0):
    return _cb_loops(h, w, parity)[0, 0]


def _cb_bool(h, w, parity=0):
    return _cb_loops(h, w, parity).bool()


def _cb_product(h, w, parity=0):
    i, j = torch.arange(h)[:, None], torch.arange(w)[None, :]
    return ((i * j + parity) % 2 == 0).float()[None, None]


@pytest.mark.parametrize(
    "fn, message",
    [
        (_cb_swapped, "parity is swapped"),
        (_cb_no_view, r"keep the singleton dims"),
        (_cb_bool, "bool tensor"),
        (_cb_product, r"\(i \* j\) instead of \(i \+ j\)"),
    ],
)
def test_checkerboard_mask_mistakes(fn, message):
    _rejects(C.check_checkerboard_mask, fn, message)


@pytest.mark.parametrize("fn", [_cb_loops, _cb_meshgrid])
def test_checkerboard_mask_correct(fn, capsys):
    _passes(C.check_checkerboard_mask, fn, capsys)


def _ch_cat(c, parity=0):
    half = c // 2
    m = torch.cat([torch.ones(half), torch.zeros(c - half)])
    return (m if parity == 0 else 1 - m).reshape(1, c, 1, 1)


def _ch_index(c, parity=0):
    m = torch.zeros(1, c, 1, 1)
    if parity == 0:
        m[:, : c // 2] = 1
    else:
        m[:, c // 2 :] = 1
    return m


def _ch_ceil(c, parity=0):
    half = math.ceil(c / 2)
    m = torch.cat([torch.ones(half), torch.zeros(c - half)])
    return (m if parity == 0 else 1 - m).reshape(1, c, 1, 1)


def _ch_same_half(c, parity=0):
    return _ch_cat(c, 0)


def _ch_alternate(c, parity=0):
    return ((torch.arange(c) + parity) % 2 == 0).float().view(1, c, 1, 1)


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda c, parity=0: _ch_cat(c, 1 - parity), "parity is swapped"),
        (_ch_ceil, r"ceil\(c / 2\)"),
        (_ch_same_half, "parity is swapped \\(or ignored\\)"),
        (_ch_alternate, "you alternated channels"),
    ],
)
def test_channel_mask_mistakes(fn, message):
    _rejects(C.check_channel_mask, fn, message)


@pytest.mark.parametrize("fn", [_ch_cat, _ch_index])
def test_channel_mask_correct(fn, capsys):
    _passes(C.check_channel_mask, fn, capsys)


# ---------------------------------------------------------------------------------------
# coupling
# ---------------------------------------------------------------------------------------


def _cf(z_of, ld_of):
    def coupling_forward(x, mask, s_net, t_net):
        b = mask
        s, t = s_net(b * x), t_net(b * x)
        return z_of(x, b, s, t), ld_of(b, s)

    return coupling_forward


def _z_ok(x, b, s, t):
    return b * x + (1 - b) * (x * torch.exp(s) + t)


def _ld_ok(b, s):
    return ((1 - b) * s).flatten(1).sum(1)


def _cf_where(x, mask, s_net, t_net):
    """Another correct form: torch.where on a bool mask, float64 accumulation."""
    keep = mask.bool().expand_as(x)
    x_kept = torch.where(keep, x, torch.zeros_like(x))
    s = torch.where(keep, torch.zeros_like(x), s_net(x_kept))
    t = t_net(x_kept)
    z = torch.where(keep, x, x * s.exp() + t)
    return z, s.double().reshape(x.shape[0], -1).sum(-1).to(x.dtype)


def _cf_ignores_cond_net_input(x, mask, s_net, t_net):
    s, t = s_net(x), t_net(x)
    return mask * x + (1 - mask) * (x * torch.exp(s) + t), _ld_ok(mask, s)


def _cf_detached(x, mask, s_net, t_net):
    with torch.no_grad():
        return _cf(_z_ok, _ld_ok)(x, mask, s_net, t_net)


WRONG_CF = [
    (_cf(_z_ok, lambda b, s: -_ld_ok(b, s)), "log-det has the wrong sign"),
    (_cf(_z_ok, lambda b, s: s.flatten(1).sum(1)), r"forgot the \(1-b\) mask in the log-det"),
    (
        _cf(lambda x, b, s, t: x * torch.exp(s) + t, _ld_ok),
        "scaled and shifted the conditioning half",
    ),
    (_cf_ignores_cond_net_input, "must see only the kept half"),
    (_cf(_z_ok, lambda b, s: (1 - b) * s), r"log_det has shape .* expected \(B,\)"),
    (_cf(_z_ok, lambda b, s: ((1 - b) * s).sum()), "log_det is a single number"),
    (
        _cf(lambda x, b, s, t: b * x + (1 - b) * (x * torch.exp(-s) + t), _ld_ok),
        r"you used exp\(-s\)",
    ),
    (_cf_detached, "carries no gradient"),
    (
        lambda x, mask, s_net, t_net: _cf(_z_ok, _ld_ok)(x, mask, s_net, t_net)[0],
        r"pair \(y, log_det\)",
    ),
]


@pytest.mark.parametrize("fn, message", WRONG_CF)
def test_coupling_forward_mistakes(fn, message):
    _rejects(C.check_coupling_forward, fn, message)


@pytest.mark.parametrize("fn", [_cf(_z_ok, _ld_ok), _cf_where])
def test_coupling_forward_correct(fn, capsys):
    _passes(C.check_coupling_forward, fn, capsys)


def _ci_ok(z, mask, s_net, t_net):
    zk = mask * z
    s, t = s_net(zk), t_net(zk)
    return zk + (1 - mask) * (z - t) * torch.exp(-s)


def _ci_divide(z, mask, s_net, t_net):
    """Another correct form: divide by exp(s), computed in float64."""
    zk = mask * z
    s, t = s_net(zk).double(), t_net(zk).double()
    x = torch.where(mask.bool(), z.double(), (z.double() - t) / torch.exp(s))
    return x.to(z.dtype)


def _ci_plus(z, mask, s_net, t_net):
    zk = mask * z
    s, t = s_net(zk), t_net(zk)
    return zk + (1 - mask) * (z - t) * torch.exp(s)


def _ci_order(z, mask, s_net, t_net):
    zk = mask * z
    s, t = s_net(zk), t_net(zk)
    return zk + (1 - mask) * (z * torch.exp(-s) - t)


def _ci_no_kept(z, mask, s_net, t_net):
    zk = mask * z
    return (1 - mask) * (z - t_net(zk)) * torch.exp(-s_net(zk))


WRONG_CI = [
    (_ci_plus, r"multiplied by exp\(\+s\)"),
    (_ci_order, "undo the shift first"),
    (_ci_no_kept, "the kept half is missing"),
    (lambda z, mask, s_net, t_net: _ci_ok(z, 1 - mask, s_net, t_net), "returned wrong values"),
]


@pytest.mark.parametrize("fn, message", WRONG_CI)
def test_coupling_inverse_mistakes(fn, message):
    _rejects(C.check_coupling_inverse, fn, message)


@pytest.mark.parametrize("fn", [_ci_ok, _ci_divide])
def test_coupling_inverse_correct(fn, capsys):
    _passes(C.check_coupling_inverse, fn, capsys)


# ---------------------------------------------------------------------------------------
# ActNorm
# ---------------------------------------------------------------------------------------


def _make_actnorm(
    *, hw=True, sign=1.0, reinit=False, per_pixel=False, unbiased=False, log_std=False
):
    class ActNorm(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(channels))
            self.logs = nn.Parameter(torch.zeros(channels))
            self.register_buffer("done", torch.tensor(False))

        def _view(self, p, x):
            return p.view(1, -1, *([1] * (x.ndim - 2)))

        def forward(self, x):
            if reinit or not bool(self.done):
                with torch.no_grad():
                    dims = [0] if per_pixel else [0] + list(range(2, x.ndim))
                    mean = x.mean(dim=dims)
                    std = x.std(dim=dims, unbiased=unbiased)
                    if per_pixel and x.ndim == 4:  # (C, H, W) statistics
                        self.bias.data = -mean / std
                        self.logs.data = -torch.log(std)
                    else:
                        self.bias.data = -mean / std
                        self.logs.data = torch.log(std) if log_std else -torch.log(std)
                    self.done.fill_(True)
            logs = -self.logs if log_std else self.logs
            if per_pixel and x.ndim == 4:
                y = x * torch.exp(logs)[None] + self.bias[None]
                ld = logs.sum() * torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
                return y, ld
            y = x * torch.exp(self._view(logs, x)) + self._view(self.bias, x)
            n = x[0, 0].numel() if hw else 1
            ld = sign * n * logs.sum() * torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
            return y, ld

        def inverse(self, y):
            logs = -self.logs if log_std else self.logs
            return (y - self._view(self.bias, y)) * torch.exp(-self._view(logs, y))

    return ActNorm


class _ActNormScale(nn.Module):
    """Another correct form: a raw scale parameter, unbiased std, a Python-bool flag."""

    def __init__(self, channels):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.shift = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.ready = False

    def forward(self, x):
        x4 = x if x.ndim == 4 else x[:, :, None, None]
        if not self.ready:
            with torch.no_grad():
                flat = x4.transpose(0, 1).reshape(x4.shape[1], -1)  # (C, B*H*W)
                self.shift.copy_(flat.mean(1).view(1, -1, 1, 1))
                self.scale.copy_(1 / flat.std(1).view(1, -1, 1, 1))
            self.ready = True
        y = (x4 - self.shift) * self.scale
        ld = x4.shape[2] * x4.shape[3] * torch.log(self.scale.abs()).sum()
        return y.view_as(x), ld.expand(x.shape[0])

    def inverse(self, y):
        y4 = y if y.ndim == 4 else y[:, :, None, None]
        return (y4 / self.scale + self.shift).view_as(y)


def test_act_norm_mistakes():
    _rejects(C.check_act_norm, _make_actnorm(hw=False), "missing the factor H\\*W")
    _rejects(C.check_act_norm, _make_actnorm(sign=-1.0), "wrong sign")
    _rejects(C.check_act_norm, _make_actnorm(reinit=True), "re-initialised itself")
    _rejects(C.check_act_norm, _make_actnorm(per_pixel=True), "differs between pixels")


@pytest.mark.parametrize(
    "cls", [_make_actnorm(), _make_actnorm(unbiased=True, log_std=True), _ActNormScale]
)
def test_act_norm_correct(cls, capsys):
    _passes(C.check_act_norm, cls, capsys)


def test_act_norm_refuses_the_reference():
    _rejects(C.check_act_norm, ref.ActNorm, NOT_YOURS)

    class Mine(ref.ActNorm):
        pass

    _rejects(C.check_act_norm, Mine, NOT_YOURS)


# ---------------------------------------------------------------------------------------
# Invertible 1x1 conv
# ---------------------------------------------------------------------------------------


def _make_conv(*, hw=True, sign=1.0, inverse="inv", bias=False):
    class Invertible1x1Conv(nn.Module):
        def __init__(self, channels):
            super().__init__()
            w, _ = torch.linalg.qr(torch.randn(channels, channels))
            self.w = nn.Parameter(w)
            if bias:
                self.b = nn.Parameter(torch.zeros(channels))

        def forward(self, x):
            y = F.conv2d(x, self.w[:, :, None, None])
            if bias:
                y = y + self.b.view(1, -1, 1, 1)
            n = x.shape[2] * x.shape[3] if hw else 1
            ld = sign * n * torch.linalg.slogdet(self.w)[1]
            return y, ld.expand(x.shape[0])

        def inverse(self, y):
            w = torch.linalg.inv(self.w) if inverse == "inv" else self.w.T
            return F.conv2d(y, w[:, :, None, None])

    return Invertible1x1Conv


class _ConvLU(nn.Module):
    """Another correct form: Glow's LU parametrisation, einsum mixing."""

    def __init__(self, channels):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels))
        p, lower, upper = torch.linalg.lu(q)
        self.register_buffer("p", p)
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(torch.diagonal(upper).abs()))
        self.register_buffer("sign_s", torch.sign(torch.diagonal(upper)))

    def weight(self):
        c = self.p.shape[0]
        eye = torch.eye(c, dtype=self.lower.dtype, device=self.lower.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.p @ lower @ upper

    def forward(self, x):
        y = torch.einsum("oc,bchw->bohw", self.weight(), x)
        return y, x.shape[2] * x.shape[3] * self.log_s.sum() * x.new_ones(x.shape[0])

    def inverse(self, y):
        return torch.einsum("oc,bchw->bohw", torch.linalg.inv(self.weight()), y)


def test_invertible_1x1_conv_mistakes():
    _rejects(C.check_invertible_1x1_conv, _make_conv(hw=False), "missing the factor H\\*W")
    _rejects(C.check_invertible_1x1_conv, _make_conv(sign=-1.0), "wrong sign")
    _rejects(C.check_invertible_1x1_conv, _make_conv(inverse="T"), "the inverse used W\\^T")
    _rejects(C.check_invertible_1x1_conv, _make_conv(bias=True), "no bias")


@pytest.mark.parametrize("cls", [_make_conv(), _ConvLU])
def test_invertible_1x1_conv_correct(cls, capsys):
    _passes(C.check_invertible_1x1_conv, cls, capsys)


def test_invertible_1x1_conv_refuses_the_reference():
    _rejects(C.check_invertible_1x1_conv, ref.Invertible1x1Conv, NOT_YOURS)


# ---------------------------------------------------------------------------------------
# FlowSequence
# ---------------------------------------------------------------------------------------


def _make_flow(
    *, sign=1.0, reverse=False, sum_prior=True, inverse_order="reversed", last_only=False
):
    class FlowSequence(nn.Module):
        def __init__(self, layers, prior):
            super().__init__()
            self.layers = nn.ModuleList(layers)
            self.prior = prior

        def forward(self, x):
            total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
            for layer in reversed(self.layers) if reverse else self.layers:
                x, ld = layer(x)
                total = ld if last_only else total + ld
            return x, total

        def log_prob(self, x):
            z, ld = self(x)
            lp = self.prior.log_prob(z)
            lp = lp.sum() if sum_prior == "all" else lp.sum(dim=1) if sum_prior else lp
            return lp + sign * ld

        def sample(self, n, temperature=1.0):
            z = self.prior.sample((n,)) * temperature
            layers = reversed(self.layers) if inverse_order == "reversed" else self.layers
            for layer in layers:
                z = layer.inverse(z)
            return z

    return FlowSequence


class _FlowRecursive(nn.Module):
    """Another correct form: recursion, an explicit standard-normal log-density."""

    def __init__(self, layers, prior):
        super().__init__()
        self.layers, self.prior = list(layers), prior

    def log_prob(self, x):
        def go(v, i):
            if i == len(self.layers):
                return -0.5 * (v**2).sum(1) - 0.5 * v.shape[1] * math.log(2 * math.pi)
            y, ld = self.layers[i](v)
            return go(y, i + 1) + ld

        return go(x, 0)

    def sample(self, n, temperature=1.0):
        z = (
            torch.randn(
                n,
                *self.prior.mean.shape,
                dtype=self.prior.mean.dtype,
                device=self.prior.mean.device,
            )
            * temperature
        )
        for layer in self.layers[::-1]:
            z = layer.inverse(z)
        return z


def test_flow_sequence_mistakes():
    _rejects(C.check_flow_sequence, _make_flow(sign=-1.0), "enters with a plus sign")
    _rejects(C.check_flow_sequence, _make_flow(reverse=True), "layers ran in reverse order")
    _rejects(C.check_flow_sequence, _make_flow(sum_prior=False), "sum it over the non-batch")
    _rejects(C.check_flow_sequence, _make_flow(sum_prior="all"), "over the batch too")
    _rejects(C.check_flow_sequence, _make_flow(last_only=True), "only the last layer")
    _rejects(C.check_flow_sequence, _make_flow(inverse_order="forward"), r"\*reverse\* order")


@pytest.mark.parametrize("cls", [_make_flow(), _FlowRecursive])
def test_flow_sequence_correct(cls, capsys):
    _passes(C.check_flow_sequence, cls, capsys)


def test_flow_sequence_refuses_the_reference():
    _rejects(C.check_flow_sequence, ref.FlowSequence, NOT_YOURS)


# ---------------------------------------------------------------------------------------
# bits per dim, dequantisation
# ---------------------------------------------------------------------------------------


def _bpd_ok(log_prob, num_dims):
    return -log_prob / (num_dims * math.log(2))


def _bpd_log2(log_prob, num_dims):
    return -(log_prob * math.log2(math.e)) / num_dims


WRONG_BPD = [
    (lambda lp, d: -lp / d, "forgot the ln 2"),
    (lambda lp, d: lp / (d * math.log(2)), "sign is wrong"),
    (lambda lp, d: -lp / math.log(2), "did not divide by num_dims"),
    (lambda lp, d: -lp / (d * math.log(2)) + 8, "dequantisation offset"),
    (lambda lp, d: (-lp / (d * math.log(2))).mean(), "one value per sample"),
]


@pytest.mark.parametrize("fn, message", WRONG_BPD)
def test_bits_per_dim_mistakes(fn, message):
    _rejects(C.check_bits_per_dim, fn, message)


@pytest.mark.parametrize("fn", [_bpd_ok, _bpd_log2])
def test_bits_per_dim_correct(fn, capsys):
    _passes(C.check_bits_per_dim, fn, capsys)


def _deq(y_of, ld_of):
    def dequantize(x, noise=None, levels=256):
        u = torch.rand_like(x) if noise is None else noise
        k = torch.round((x + 1) / 2 * (levels - 1))
        return y_of(x, k, u, levels), ld_of(x, levels)

    return dequantize


def _y_ok(x, k, u, L):
    return (k + u) / L


def _ld_ok_deq(x, L):
    return torch.full((x.shape[0],), -x[0].numel() * math.log(L), dtype=x.dtype, device=x.device)


def _deq_int(x, noise=None, levels=256):
    """Another correct form: integer levels via .long(), log_det from a flattened view."""
    k = ((x + 1) * (levels - 1) / 2).round().long()
    u = noise if noise is not None else torch.rand(x.shape, dtype=x.dtype, device=x.device)
    y = (k.to(x.dtype) + u) / levels
    ld = -math.log(levels) * torch.ones_like(x).flatten(1).sum(1)
    return y, ld


WRONG_DEQ = [
    (_deq(lambda x, k, u, L: (k + u) / (L - 1), _ld_ok_deq), "divided by levels - 1"),
    (
        _deq(_y_ok, lambda x, L: torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)),
        "log_det is 0",
    ),
    (_deq(_y_ok, lambda x, L: -_ld_ok_deq(x, L)), "wrong sign"),
    (_deq(_y_ok, lambda x, L: _ld_ok_deq(x, L) / x[0].numel()), "missing the factor D"),
    (_deq(lambda x, k, u, L: (torch.round(x * (L - 1)) + u) / L, _ld_ok_deq), r"in \[-1, 1\]"),
    (_deq(lambda x, k, u, L: (k + torch.rand_like(x)) / L, _ld_ok_deq), "returned wrong values"),
]


@pytest.mark.parametrize("fn, message", WRONG_DEQ)
def test_dequantize_mistakes(fn, message):
    _rejects(C.check_dequantize, fn, message)


def test_dequantize_with_gaussian_noise_is_rejected():
    def randn_noise(x, noise=None, levels=256):
        u = torch.randn_like(x) if noise is None else noise
        return _deq(_y_ok, _ld_ok_deq)(x, u, levels)

    _rejects(C.check_dequantize, randn_noise, "not uniform")


@pytest.mark.parametrize("fn", [_deq(_y_ok, _ld_ok_deq), _deq_int])
def test_dequantize_correct(fn, capsys):
    _passes(C.check_dequantize, fn, capsys)


# ---------------------------------------------------------------------------------------
# MADE masks
# ---------------------------------------------------------------------------------------


def _made(
    *,
    hidden_rule="ge",
    out_rule="gt",
    low=1,
    high_offset=0,
    transpose=False,
    input_from=1,
    seeded=True,
):
    def made_masks(in_dim, hidden_dims, seed=0):
        g = torch.Generator().manual_seed(seed) if seeded else None
        degs = [torch.arange(input_from, in_dim + input_from)]
        for h in hidden_dims:
            degs.append(torch.randint(low, in_dim + high_offset, (h,), generator=g))
        masks = []
        for a, b in zip(degs[:-1], degs[1:], strict=True):
            m = (b[:, None] >= a[None, :]) if hidden_rule == "ge" else (b[:, None] > a[None, :])
            masks.append(m.float())
        last = torch.arange(1, in_dim + 1)
        m = (
            last[:, None] > degs[-1][None, :]
            if out_rule == "gt"
            else last[:, None] >= degs[-1][None, :]
        )
        masks.append(m.float())
        return [m.T for m in masks] if transpose else masks

    return made_masks


def _made_numpy(in_dim, hidden_dims, seed=0):
    """Another correct form: numpy degrees, min-degree rule of the MADE paper."""
    import numpy as np

    rng = np.random.default_rng(seed)
    degs = [np.arange(1, in_dim + 1)]
    for h in hidden_dims:
        lo = min(int(degs[-1].min()), in_dim - 1)
        degs.append(rng.integers(lo, in_dim, size=h))
    masks = [
        torch.from_numpy((b[:, None] >= a[None, :]).astype("float32"))
        for a, b in zip(degs[:-1], degs[1:], strict=True)
    ]
    masks.append(torch.from_numpy((degs[0][:, None] > degs[-1][None, :]).astype("float32")))
    return masks


WRONG_MADE = [
    (_made(out_rule="ge"), "output mask uses >="),
    (_made(hidden_rule="gt"), "> is only for the output layer"),
    (_made(high_offset=1), r"hidden degrees must lie in \[1, D-1\]"),
    (_made(transpose=True), r"expected \(out, in\)"),
    (_made(input_from=0), r"number the inputs 0..D-1\?"),
    (_made(seeded=False), "same seed gave different masks"),
]


@pytest.mark.parametrize("fn, message", WRONG_MADE)
def test_made_masks_mistakes(fn, message):
    _rejects(C.check_made_masks, fn, message)


@pytest.mark.parametrize("fn", [_made(), _made_numpy])
def test_made_masks_correct(fn, capsys):
    _passes(C.check_made_masks, fn, capsys)


def test_function_checks_refuse_a_pasted_copy_of_coupling_forward():
    import inspect
    import textwrap

    src = textwrap.dedent(inspect.getsource(ref.coupling_forward))
    namespace = dict(vars(ref))
    exec(compile(src, "<student>", "exec"), namespace)
    _rejects(C.check_coupling_forward, namespace["coupling_forward"], NOT_YOURS)
