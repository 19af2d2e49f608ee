"""Week 07 — normalizing flows: exact likelihood through an invertible map.

A flow is an invertible, differentiable map :math:`f: x \\mapsto z` onto a fixed prior
:math:`p_z`. The change of variables gives the exact density

.. math::
    \\log p_x(x) = \\log p_z(f(x)) + \\log \\Big|\\det \\frac{\\partial f(x)}{\\partial x}\\Big|,

and for a stack :math:`f = f_K \\circ \\dots \\circ f_1` the log-determinants add. Training
minimises the negative log-likelihood; sampling draws :math:`z \\sim p_z` and returns
:math:`f^{-1}(z)`. The order follows the lecture: masks, affine coupling (RealNVP; NICE is
the special case :math:`s = 0`), Glow's ActNorm and invertible 1x1 convolution, squeeze,
the flow as a sequence, dequantisation and bits per dimension, and the autoregressive
flows MAF and IAF built on MADE masks.

Conventions: every layer maps data towards noise in ``forward(x) -> (y, log_det (B,))``
and back in ``inverse(y) -> x``; ``log_det`` is :math:`\\log|\\det \\partial y/\\partial x|`
summed over all non-batch dims. In masks, 1 marks the kept (conditioning) part.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "IAF",
    "MADE",
    "MAF",
    "ActNorm",
    "AffineCoupling",
    "FlowSequence",
    "Invertible1x1Conv",
    "LogitTransform",
    "Squeeze",
    "bits_per_dim",
    "channel_mask",
    "checkerboard_mask",
    "coupling_forward",
    "coupling_inverse",
    "dequantize",
    "made_masks",
    "squeeze",
    "unsqueeze",
]


def _check_batched(t: torch.Tensor, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.ndim < 2:
        raise ValueError(
            f"{name} must be batched, (B, D) or (B, C, H, W), got shape {tuple(t.shape)}: "
            "a single sample needs a leading batch dim (t.unsqueeze(0))"
        )
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")


def _sum_per_sample(t: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,): sum over every non-batch dim."""
    return t.flatten(1).sum(dim=1)  # (B,)


# ----------------------------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------------------------


def checkerboard_mask(h: int, w: int, parity: int = 0) -> torch.Tensor:
    """RealNVP's spatial checkerboard: (1, 1, h, w) float32, 1 where ``(i + j + parity) % 2 == 0``.

    1 marks the kept (conditioning) pixels; ``parity=1`` swaps the roles.
    """
    if parity not in (0, 1):
        raise ValueError(f"parity must be 0 or 1, got {parity!r}")
    i = torch.arange(h).view(h, 1)  # (h, 1)
    j = torch.arange(w).view(1, w)  # (1, w)
    mask = ((i + j + parity) % 2 == 0).float()  # (h, w)
    return mask.view(1, 1, h, w)  # (1, 1, h, w)


def channel_mask(c: int, parity: int = 0) -> torch.Tensor:
    """RealNVP's channel-wise mask: (1, c, 1, 1) float32.

    Parity 0 keeps (1) the first ``c // 2`` channels, parity 1 keeps the rest.
    """
    if parity not in (0, 1):
        raise ValueError(f"parity must be 0 or 1, got {parity!r}")
    if c < 2:
        raise ValueError(f"a channel mask needs at least 2 channels, got c={c}")
    first = (torch.arange(c) < c // 2).float()  # (c,)
    mask = first if parity == 0 else 1.0 - first
    return mask.view(1, c, 1, 1)  # (1, c, 1, 1)


# ----------------------------------------------------------------------------------------
# Affine coupling (RealNVP; NICE when s = 0)
# ----------------------------------------------------------------------------------------


def _as_mask(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if x.ndim != mask.ndim:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not match input of shape {tuple(x.shape)}: "
            "use a (1, D) mask for (B, D) data and a (1, 1, H, W) or (1, C, 1, 1) mask for images"
        )
    return mask.to(device=x.device, dtype=x.dtype)


def coupling_forward(x: torch.Tensor, mask: torch.Tensor, s_net, t_net):
    """Affine coupling, data to noise: ``(z, log_det (B,))``.

    x: (B, D) or (B, C, H, W); mask b broadcastable to x, 1 on the kept half.
    ``z = b*x + (1-b)*(x*exp(s(b*x)) + t(b*x))`` and ``log_det = sum((1-b)*s(b*x))``
    over the non-batch dims (Dinh et al. 2017, eqs. 6-9). The Jacobian is triangular
    with diagonal ``exp((1-b)*s)``; t does not enter the determinant.
    """
    _check_batched(x, "x")
    b = _as_mask(mask, x)
    x_kept = b * x  # the conditioning half; the rest is zeroed
    s = s_net(x_kept)  # like x
    t = t_net(x_kept)  # like x
    z = x_kept + (1 - b) * (x * torch.exp(s) + t)
    log_det = _sum_per_sample((1 - b) * s)  # (B,)
    return z, log_det


def coupling_inverse(z: torch.Tensor, mask: torch.Tensor, s_net, t_net) -> torch.Tensor:
    """Exact inverse of :func:`coupling_forward`: ``x = b*z + (1-b)*(z - t(b*z))*exp(-s(b*z))``.

    The kept half is unchanged (``b*z == b*x``), so s and t can be recomputed from it;
    neither network has to be invertible.
    """
    _check_batched(z, "z")
    b = _as_mask(mask, z)
    z_kept = b * z
    s = s_net(z_kept)
    t = t_net(z_kept)
    return z_kept + (1 - b) * (z - t) * torch.exp(-s)


class AffineCoupling(nn.Module):
    """A coupling layer: ``forward(x) -> (z, log_det)``, ``inverse(z) -> x``.

    ``mask`` is stored as a buffer; ``s_net`` and ``t_net`` map a tensor to one of the same
    shape (a ``tanh`` at the end of ``s_net`` keeps early training stable).
    """

    def __init__(self, mask: torch.Tensor, s_net: nn.Module, t_net: nn.Module):
        super().__init__()
        self.register_buffer("mask", mask.float())
        self.s_net = s_net
        self.t_net = t_net

    def forward(self, x):
        return coupling_forward(x, self.mask, self.s_net, self.t_net)

    def inverse(self, z):
        return coupling_inverse(z, self.mask, self.s_net, self.t_net)


# ----------------------------------------------------------------------------------------
# Glow: ActNorm and the invertible 1x1 convolution
# ----------------------------------------------------------------------------------------


def _per_channel_view(x: torch.Tensor, c: int, name: str) -> tuple[int, ...]:
    """Broadcast shape of a per-channel parameter for x of shape (B, C) or (B, C, H, W)."""
    if x.ndim not in (2, 4) or x.shape[1] != c:
        raise ValueError(
            f"{name} expects (B, {c}) or (B, {c}, H, W) input, got shape {tuple(x.shape)}"
        )
    return (1, c) if x.ndim == 2 else (1, c, 1, 1)


def _spatial(x: torch.Tensor) -> int:
    """H * W of an image batch, 1 for (B, D) vectors: how often each channel's map repeats."""
    return x.shape[2] * x.shape[3] if x.ndim == 4 else 1


class ActNorm(nn.Module):
    """Glow's activation normalisation: ``y = (x - loc) * exp(log_scale)`` per channel.

    Data-dependent init (Kingma & Dhariwal 2018, sec. 3.1): on the first forward pass,
    ``loc`` and ``log_scale`` are set so that this batch's output has zero mean and unit
    (biased) variance per channel; afterwards they are ordinary parameters.
    ``log_det = H * W * sum_c log_scale_c`` for each sample (``H * W = 1`` for (B, C) input).
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        dims = [0] + list(range(2, x.ndim))  # everything but the channel dim
        mean = x.mean(dim=dims)  # (C,)
        std = x.std(dim=dims, unbiased=False)  # (C,)
        self.loc.copy_(mean)
        self.log_scale.copy_(-torch.log(std + self.eps))
        self.initialized.fill_(True)

    def forward(self, x):
        _check_batched(x, "x")
        shape = _per_channel_view(x, self.loc.numel(), "ActNorm")
        if not bool(self.initialized):
            self._initialize(x)
        y = (x - self.loc.view(shape)) * torch.exp(self.log_scale.view(shape))
        log_det = _spatial(x) * self.log_scale.sum() * x.new_ones(x.shape[0])  # (B,)
        return y, log_det

    def inverse(self, y):
        shape = _per_channel_view(y, self.loc.numel(), "ActNorm")
        return y * torch.exp(-self.log_scale.view(shape)) + self.loc.view(shape)


class Invertible1x1Conv(nn.Module):
    """Glow's invertible 1x1 convolution: every pixel's channel vector is mixed by ``W``.

    ``y[:, :, i, j] = W @ x[:, :, i, j]``, so the Jacobian is block diagonal with H*W
    copies of W: ``log_det = H * W * log|det W|``. ``W`` starts as a random rotation
    (orthogonal, ``log_det = 0``), drawn from ``generator`` when given. (B, C) input is
    mixed the same way (``H * W = 1``).
    """

    def __init__(self, channels: int, generator: torch.Generator | None = None):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=generator))
        self.weight = nn.Parameter(q)  # (C, C)

    def _mix(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            return x @ w.t()  # (B, C)
        return F.conv2d(x, w.view(*w.shape, 1, 1))  # (B, C, H, W)

    def forward(self, x):
        _check_batched(x, "x")
        _per_channel_view(x, self.weight.shape[0], "Invertible1x1Conv")
        w = self.weight.to(x.dtype)
        log_abs_det = torch.linalg.slogdet(w)[1]  # scalar
        log_det = _spatial(x) * log_abs_det * x.new_ones(x.shape[0])  # (B,)
        return self._mix(x, w), log_det

    def inverse(self, y):
        _per_channel_view(y, self.weight.shape[0], "Invertible1x1Conv")
        return self._mix(y, torch.linalg.inv(self.weight.to(y.dtype)))


# ----------------------------------------------------------------------------------------
# Squeeze (multi-scale) and the logit pre-processing
# ----------------------------------------------------------------------------------------


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2): each 2x2 patch becomes 4 channels (RealNVP sec. 3.6)."""
    b, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"squeeze needs even H and W, got {h}x{w}")
    x = x.view(b, c, h // 2, 2, w // 2, 2)  # (B, C, H/2, 2, W/2, 2)
    x = x.permute(0, 1, 3, 5, 2, 4)  # (B, C, 2, 2, H/2, W/2)
    return x.reshape(b, 4 * c, h // 2, w // 2)  # (B, 4C, H/2, W/2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`squeeze`: (B, 4C, H, W) -> (B, C, 2H, 2W)."""
    b, c4, h, w = x.shape
    c = c4 // 4
    x = x.view(b, c, 2, 2, h, w)  # (B, C, 2, 2, H, W)
    x = x.permute(0, 1, 4, 2, 5, 3)  # (B, C, H, 2, W, 2)
    return x.reshape(b, c, 2 * h, 2 * w)  # (B, C, 2H, 2W)


class Squeeze(nn.Module):
    """:func:`squeeze` as a flow layer: a permutation, so ``log_det = 0``."""

    def forward(self, x):
        return squeeze(x), x.new_zeros(x.shape[0])

    def inverse(self, y):
        return unsqueeze(y)


class LogitTransform(nn.Module):
    """Map y in [0, 1) to the real line: ``u = logit(alpha + (1 - 2 alpha) y)`` (RealNVP sec. 4.1).

    ``log_det = sum(log(1 - 2 alpha) - log(p) - log(1 - p))`` with ``p = alpha + (1 - 2 alpha) y``.
    """

    def __init__(self, alpha: float = 0.05):
        super().__init__()
        self.alpha = alpha

    def forward(self, y):
        p = self.alpha + (1 - 2 * self.alpha) * y
        u = torch.log(p) - torch.log1p(-p)
        log_det = _sum_per_sample(math.log(1 - 2 * self.alpha) - torch.log(p) - torch.log1p(-p))
        return u, log_det

    def inverse(self, u):
        return (torch.sigmoid(u) - self.alpha) / (1 - 2 * self.alpha)


# ----------------------------------------------------------------------------------------
# The flow
# ----------------------------------------------------------------------------------------


class FlowSequence(nn.Module):
    """A stack of flow layers on a fixed prior.

    ``forward(x) -> (z, log_det)`` applies the layers in order and adds their log-dets;
    ``log_prob(x) = log p_z(z) + log_det`` (B,), the prior's log-density summed over the
    non-batch dims; ``inverse(z)`` applies the inverses in reverse order;
    ``sample(n, temperature=1.0, noise=None)`` draws ``z`` from the prior (or takes
    ``noise``), scales its deviation from the prior's mean by ``temperature`` and
    returns ``inverse(z)``. ``prior`` is a ``torch.distributions.Distribution`` whose
    samples have the data's shape without the batch dim.
    """

    def __init__(self, layers: Sequence[nn.Module], prior: torch.distributions.Distribution):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.prior = prior

    def forward(self, x):
        log_det = x.new_zeros(x.shape[0])  # (B,)
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z):
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def log_prob(self, x):
        z, log_det = self(x)
        log_pz = self.prior.log_prob(z)
        if log_pz.ndim > 1:  # an elementwise prior such as Normal(zeros, ones)
            log_pz = _sum_per_sample(log_pz)  # (B,)
        return log_pz + log_det

    def sample(self, n: int, temperature: float = 1.0, noise: torch.Tensor | None = None):
        z = self.prior.sample((n,)) if noise is None else noise
        mean = self.prior.mean
        z = mean + temperature * (z - mean)
        return self.inverse(z)


# ----------------------------------------------------------------------------------------
# Dequantisation and bits per dimension
# ----------------------------------------------------------------------------------------


def dequantize(x: torch.Tensor, noise: torch.Tensor | None = None, levels: int = 256):
    """Uniform dequantisation of images in [-1, 1] with ``levels`` grey levels.

    The integer level is ``k = round((x + 1) / 2 * (levels - 1))`` in ``0..levels-1``; the
    result is ``y = (k + u) / levels`` in [0, 1) with ``u ~ U[0, 1)`` (or ``noise``).
    Returns ``(y, log_det (B,))`` with ``log_det = -D * log(levels)``: the density of y
    on [0, 1)^D lower-bounds the probability of the levels k as
    ``log P(k) >= E_u[log p(y)] - D log(levels)``, so add ``log_det`` to ``log p(y)``.
    """
    _check_batched(x, "x")
    k = torch.round((x + 1) / 2 * (levels - 1))  # integer levels 0..levels-1
    u = torch.rand_like(x) if noise is None else noise
    y = (k + u) / levels
    num_dims = x[0].numel()
    log_det = x.new_full((x.shape[0],), -num_dims * math.log(levels))  # (B,)
    return y, log_det


def bits_per_dim(log_prob: torch.Tensor, num_dims: int) -> torch.Tensor:
    """Negative log-likelihood in bits per dimension: ``-log_prob / (num_dims * ln 2)``, (B,).

    ``log_prob`` (B,) in nats; dequantisation offsets are the caller's (see :func:`dequantize`).
    """
    if not isinstance(num_dims, int) or num_dims < 1:
        raise ValueError(f"num_dims must be a positive int, got {num_dims!r}")
    if log_prob.ndim != 1:
        raise ValueError(
            f"log_prob must be (B,), one log-density per sample, got {tuple(log_prob.shape)}"
        )
    return -log_prob / (num_dims * math.log(2))


# ----------------------------------------------------------------------------------------
# Autoregressive flows: MADE, MAF, IAF
# ----------------------------------------------------------------------------------------


def made_masks(in_dim: int, hidden_dims: Sequence[int], seed: int = 0) -> list[torch.Tensor]:
    """MADE connectivity masks (Germain et al. 2015), one (out, in) float32 mask per layer.

    Input degrees are ``1..D``; hidden degrees are drawn uniformly in ``[1, D-1]`` (a local
    generator seeded with ``seed``); a hidden unit of degree k sees inputs of degree <= k
    (``deg_out >= deg_in``); output d (degree d) sees hidden units of degree < d
    (``deg_out > deg_in``), so output d depends on inputs ``1..d-1`` only.
    """
    if in_dim < 2:
        raise ValueError(f"MADE needs in_dim >= 2, got {in_dim}")
    g = torch.Generator().manual_seed(seed)
    degrees = [torch.arange(1, in_dim + 1)]  # input degrees 1..D
    for h in hidden_dims:
        degrees.append(torch.randint(1, in_dim, (h,), generator=g))  # in [1, D-1]
    masks = [
        (d_out[:, None] >= d_in[None, :]).float()  # (out, in)
        for d_in, d_out in zip(degrees[:-1], degrees[1:], strict=True)
    ]
    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())  # (D, last hidden)
    return masks


class _MaskedLinear(nn.Linear):
    def __init__(self, mask: torch.Tensor):
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.float())

    def forward(self, x):
        return F.linear(x, self.weight * self.mask.to(self.weight.dtype), self.bias)


class MADE(nn.Module):
    """A masked MLP: ``forward(x (B, D)) -> (mu, s)``, each (B, D), output d seeing x_{<d}.

    ``masks`` (from :func:`made_masks`) fixes the connectivity; the output mask is used twice,
    once for ``mu`` and once for the log-scale ``s``.
    """

    def __init__(self, masks: Sequence[torch.Tensor]):
        super().__init__()
        *hidden, out = masks
        self.hidden = nn.ModuleList(_MaskedLinear(m) for m in hidden)
        self.out = _MaskedLinear(torch.cat([out, out], dim=0))  # (2D, last hidden)
        self.dim = out.shape[0]

    def forward(self, x):
        h = x
        for layer in self.hidden:
            h = F.relu(layer(h))
        mu, s = self.out(h).chunk(2, dim=1)  # (B, D) each
        return mu, torch.tanh(s)  # a bounded log-scale keeps training stable


class MAF(nn.Module):
    """Masked autoregressive flow layer (Papamakarios et al. 2017).

    Density direction in one pass: ``z = (x - mu(x)) * exp(-s(x))``, ``log_det = -sum s``.
    Sampling is sequential: ``x_d = z_d exp(s_d) + mu_d`` needs ``x_{<d}``, so D passes.
    """

    def __init__(self, made: MADE):
        super().__init__()
        self.made = made

    def forward(self, x):
        mu, s = self.made(x)
        return (x - mu) * torch.exp(-s), -s.sum(dim=1)

    def inverse(self, z):
        x = torch.zeros_like(z)
        for d in range(z.shape[1]):  # one network pass per dimension
            mu, s = self.made(x)
            x = x.clone()
            x[:, d] = z[:, d] * torch.exp(s[:, d]) + mu[:, d]
        return x


class IAF(nn.Module):
    """Inverse autoregressive flow layer (Kingma et al. 2016): the conditioners read z.

    Sampling in one pass: ``x = z * exp(s(z)) + mu(z)``. The density direction is
    sequential: ``z_d = (x_d - mu_d(z_{<d})) exp(-s_d(z_{<d}))`` needs ``z_{<d}``.
    ``forward(x) -> (z, log_det = -sum s(z))``.
    """

    def __init__(self, made: MADE):
        super().__init__()
        self.made = made

    def forward(self, x):
        z = torch.zeros_like(x)
        for d in range(x.shape[1]):  # one network pass per dimension
            mu, s = self.made(z)
            z = z.clone()
            z[:, d] = (x[:, d] - mu[:, d]) * torch.exp(-s[:, d])
        _, s = self.made(z)
        return z, -s.sum(dim=1)

    def inverse(self, z):
        mu, s = self.made(z)
        return z * torch.exp(s) + mu
