"""Week 05 — style-based generators: AdaIN, the mapping network, noise, mixing, truncation,
and StyleGAN2's modulated convolutions.

StyleGAN (Karras, Laine, Aila 2019) feeds the latent code into the generator through
*styles*: a mapping network :math:`f: z \\mapsto w` (an 8-layer MLP), a learned affine map
per layer from :math:`w` to a style, and adaptive instance normalisation

.. math::
    \\mathrm{AdaIN}(x, y) = \\sigma(y)\\,\\frac{x - \\mu(x)}{\\sigma(x)} + \\mu(y),

with :math:`\\mu, \\sigma` per sample and channel over H and W (Huang & Belongie 2017, eq. 8).
The synthesis network starts from a learned constant, adds per-pixel noise after each
convolution (stochastic detail) and can mix the styles of two latents (style mixing) or
pull them towards the average (the truncation trick).

StyleGAN2 (Karras et al. 2020) traced the "water droplet" artifacts to instance
normalisation and replaced AdaIN by weight **modulation** :math:`w'_{ijk} = s_i w_{ijk}`
and **demodulation** :math:`w''_{ijk} = w'_{ijk} / \\sqrt{\\sum_{i,k} w'^2_{ijk} + \\epsilon}`
(their eq. 1 and 3; :math:`\\epsilon` *inside* the square root), run as one grouped
convolution; it adds path-length regularisation (their eq. 4), computed lazily.

Conventions: feature maps are (B, C, H, W); standard deviations are
:math:`\\sqrt{\\text{biased variance} + \\epsilon}` (the statistics of
``torch.nn.functional.instance_norm``); styles and latents are (B, w_dim) or, one per
layer, (B, L, w_dim). Every function keeps the input's dtype and device.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Discriminator",
    "EqualizedLinear",
    "MappingNetwork",
    "NoiseInjection",
    "StyleGenerator",
    "adain",
    "adain_transfer",
    "instance_norm",
    "modulate_weights",
    "modulated_conv2d",
    "path_length_penalty",
    "style_mix",
    "truncate",
]


def _check_maps(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (B, C, H, W)")
    if x.ndim != 4:
        raise ValueError(
            f"{name} must be feature maps (B, C, H, W), got shape {tuple(x.shape)}: "
            "statistics are taken per sample and channel over H and W"
        )


def _check_style(s: torch.Tensor, batch: int, channels: int, name: str) -> None:
    if not isinstance(s, torch.Tensor) or s.shape != (batch, channels):
        got = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
        raise ValueError(
            f"{name} must be (B, C) = ({batch}, {channels}), one value per sample and "
            f"channel, got {got}"
        )


# ----------------------------------------------------------------------------- IN and AdaIN


def _mean_std(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample and channel over H, W: mean and sqrt(biased var + eps), both (B, C, 1, 1)."""
    mean = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)  # (B, C, 1, 1), divides by H*W
    return mean, torch.sqrt(var + eps)


def instance_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Instance normalisation (Ulyanov et al. 2016): batch norm with a batch of one.

    .. math::
        \\mathrm{IN}(x)_{bchw} = \\frac{x_{bchw} - \\mu_{bc}}{\\sqrt{\\sigma^2_{bc} + \\epsilon}},
        \\quad \\mu_{bc} = \\frac{1}{HW}\\sum_{h,w} x_{bchw},\\;
        \\sigma^2_{bc} = \\frac{1}{HW}\\sum_{h,w} (x_{bchw} - \\mu_{bc})^2 .

    The variance is the *biased* one (divide by HW) and :math:`\\epsilon` sits inside the
    square root, as in ``F.instance_norm`` (the lecture slide without the root gives a
    variance, not a std). No learned scale or shift.

    Shapes: (B, C, H, W) -> (B, C, H, W).
    """
    _check_maps(x)
    mean, std = _mean_std(x, eps)
    return (x - mean) / std


def adain(
    x: torch.Tensor, style_scale: torch.Tensor, style_bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Adaptive instance normalisation with a given style: ``scale * IN(x) + bias``.

    .. math:: \\mathrm{AdaIN}(x, s) = s_{\\text{scale}}\\,\\mathrm{IN}(x) + s_{\\text{bias}}

    In StyleGAN the style :math:`(s_{\\text{scale}}, s_{\\text{bias}})` is a learned affine
    map "A" of :math:`w`; there are no learned :math:`\\gamma, \\beta` of the layer itself.

    Shapes: ``x`` (B, C, H, W), ``style_scale`` and ``style_bias`` (B, C) -> (B, C, H, W).
    """
    _check_maps(x)
    batch, channels = x.shape[:2]
    _check_style(style_scale, batch, channels, "style_scale")
    _check_style(style_bias, batch, channels, "style_bias")
    return style_scale[:, :, None, None] * instance_norm(x, eps) + style_bias[:, :, None, None]


def adain_transfer(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """AdaIN as style transfer (Huang & Belongie 2017, eq. 8): content statistics replaced
    by the style's.

    .. math:: \\sigma(y)\\,\\frac{x - \\mu(x)}{\\sigma(x)} + \\mu(y),

    :math:`x` = ``content``, :math:`y` = ``style``, :math:`\\mu, \\sigma` per sample and
    channel over H, W, both stds :math:`\\sqrt{\\text{biased var} + \\epsilon}`. The output
    has the content's layout and, up to :math:`\\epsilon`, the style's per-channel mean and
    std. ``style`` may have other H, W than ``content``.

    Shapes: ``content`` (B, C, H, W), ``style`` (B, C, H', W') -> (B, C, H, W).
    """
    _check_maps(content, "content")
    _check_maps(style, "style")
    if style.shape[:2] != content.shape[:2]:
        raise ValueError(
            f"content and style must agree in (B, C): got {tuple(content.shape[:2])} and "
            f"{tuple(style.shape[:2])}; one style for a whole batch: style.expand(B, -1, -1, -1)"
        )
    mean, std = _mean_std(style, eps)  # (B, C, 1, 1) each
    return adain(content, std.flatten(1), mean.flatten(1), eps)


# ----------------------------------------------------------------------------- mapping network


class EqualizedLinear(nn.Module):
    """A linear layer with the equalized learning rate of ProGAN/StyleGAN.

    Stored weight :math:`\\hat W \\sim \\mathcal N(0, 1/\\text{lr\\_mul}^2)`, shape (out, in);
    used weight :math:`W = \\hat W \\cdot \\text{lr\\_mul} / \\sqrt{\\text{in}}`; used bias
    :math:`b = \\hat b \\cdot \\text{lr\\_mul}`. Scaling at run time, not at init, makes
    Adam's step the same relative size for every layer; ``lr_mul`` < 1 slows a layer
    down (StyleGAN's mapping network uses 0.01).

    Shapes: (B, in) -> (B, out).
    """

    def __init__(
        self, in_features: int, out_features: int, lr_mul: float = 1.0, bias_init: float = 0.0
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.lr_mul = lr_mul
        self.scale = lr_mul / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)  # (B, out)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (slope 0.2) times sqrt(2), StyleGAN2's gain that keeps the variance."""
    return F.leaky_relu(x, 0.2) * math.sqrt(2)


class MappingNetwork(nn.Module):
    """StyleGAN's mapping network :math:`f: \\mathcal Z \\to \\mathcal W`, an MLP.

    1. normalise :math:`z` by its second moment:
       :math:`z / \\sqrt{\\mathrm{mean}_j z_j^2 + 10^{-8}}` (so only its direction matters);
    2. ``num_layers`` :class:`EqualizedLinear` layers ``z_dim -> w_dim -> ... -> w_dim``
       with learning-rate multiplier ``lr_mul`` and zero bias init, each followed by
       leaky ReLU(0.2) times :math:`\\sqrt 2` (the last one too, as in StyleGAN2).

    Attributes: ``layers`` (``nn.ModuleList`` of :class:`EqualizedLinear`).

    Shapes: (B, z_dim) -> (B, w_dim).
    """

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, lr_mul: float = 0.01):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.z_dim, self.w_dim = z_dim, w_dim
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            EqualizedLinear(dims[i], dims[i + 1], lr_mul=lr_mul) for i in range(num_layers)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be (B, z_dim={self.z_dim}), got {tuple(z.shape)}")
        x = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)  # (B, z_dim)
        for layer in self.layers:
            x = _lrelu(layer(x))  # (B, w_dim)
        return x


# ----------------------------------------------------------------------------- modulation


def modulate_weights(
    weight: torch.Tensor, style: torch.Tensor, demodulate: bool = True, eps: float = 1e-8
) -> torch.Tensor:
    """StyleGAN2 weight (de)modulation, one kernel per sample (Karras et al. 2020, eq. 1, 3).

    .. math::
        w'_{bo i k} = s_{bi}\\, w_{oik}, \\qquad
        w''_{bo i k} = \\frac{w'_{boik}}{\\sqrt{\\sum_{i, k} w'^2_{boik} + \\epsilon}},

    :math:`i` input channel, :math:`o` output channel, :math:`k` the kernel taps. The sum
    is per sample and **output** channel over input channels and taps, :math:`\\epsilon`
    inside the root: with unit-variance i.i.d. input, each output map then has unit
    expected variance.

    Shapes: ``weight`` (O, I, k, k), ``style`` (B, I) -> (B, O, I, k, k).
    """
    if weight.ndim != 4:
        raise ValueError(f"weight must be (O, I, k, k), got shape {tuple(weight.shape)}")
    _check_style(style, style.shape[0] if style.ndim == 2 else -1, weight.shape[1], "style")
    w = weight[None] * style[:, None, :, None, None]  # (B, O, I, k, k)
    if demodulate:
        w = w * torch.rsqrt(w.pow(2).sum(dim=(2, 3, 4), keepdim=True) + eps)  # (B, O, I, k, k)
    return w


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    style: torch.Tensor,
    demodulate: bool = True,
    padding: int | None = None,
    eps: float = 1e-8,
) -> torch.Tensor:
    """A modulated convolution, computed as **one grouped convolution** over the batch.

    Each sample :math:`b` is convolved with its own kernel
    ``modulate_weights(weight, style)[b]``. Folding the batch into the channels,
    (1, B*I, H, W) convolved with (B*O, I, k, k) and ``groups=B`` does all B
    convolutions in one call (StyleGAN2's "fused" route), no Python loop. ``padding``
    defaults to ``k // 2`` (same size for odd k).

    Shapes: ``x`` (B, I, H, W), ``weight`` (O, I, k, k), ``style`` (B, I) -> (B, O, H', W').
    """
    _check_maps(x)
    batch, in_ch, height, width = x.shape
    if weight.ndim != 4 or weight.shape[1] != in_ch:
        raise ValueError(
            f"weight must be (O, I={in_ch}, k, k) to match x's {in_ch} channels, got "
            f"{tuple(weight.shape)}"
        )
    _check_style(style, batch, in_ch, "style")
    out_ch, k = weight.shape[0], weight.shape[-1]
    padding = k // 2 if padding is None else padding
    w = modulate_weights(weight, style, demodulate, eps)  # (B, O, I, k, k)
    w = w.reshape(batch * out_ch, in_ch, k, k)  # (B*O, I, k, k): sample b owns rows b*O..
    x = x.reshape(1, batch * in_ch, height, width)  # (1, B*I, H, W)
    out = F.conv2d(x, w, padding=padding, groups=batch)  # (1, B*O, H', W')
    return out.reshape(batch, out_ch, *out.shape[2:])  # (B, O, H', W')


class NoiseInjection(nn.Module):
    """Per-pixel noise for stochastic detail: ``x + strength * noise``.

    ``noise`` is one single-channel image per sample, (B, 1, H, W) drawn from
    :math:`\\mathcal N(0, I)` like ``x`` when not given, broadcast to all channels.
    ``strength`` is StyleGAN2's one learned scalar per layer, initialised to 0 (so a new
    layer starts noise-free); ``per_channel=True`` gives StyleGAN's learned per-channel
    factors "B" instead, (C,).

    Shapes: ``x`` (B, C, H, W), ``noise`` (B, 1, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, per_channel: bool = False) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(channels if per_channel else 1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        _check_maps(x)
        batch, _, height, width = x.shape
        if noise is None:
            noise = torch.randn(batch, 1, height, width, dtype=x.dtype, device=x.device)
        if noise.shape != (batch, 1, height, width):
            raise ValueError(
                f"noise must be (B, 1, H, W) = {(batch, 1, height, width)}, one image per "
                f"sample shared by all channels, got {tuple(noise.shape)}"
            )
        return x + self.strength.view(1, -1, 1, 1) * noise  # (B, C, H, W)


# ----------------------------------------------------------------------------- latents


def truncate(w: torch.Tensor, w_avg: torch.Tensor, psi: float = 0.7) -> torch.Tensor:
    """The truncation trick in :math:`\\mathcal W`: :math:`\\bar w + \\psi (w - \\bar w)`.

    :math:`\\psi = 1` leaves :math:`w` alone, :math:`\\psi = 0` gives the average image;
    smaller :math:`\\psi` trades variety for quality. :math:`\\bar w` is the average of
    :math:`f(z)` over many :math:`z` (not 0: :math:`\\mathcal W` is not centred).

    Shapes: ``w`` (B, w_dim) or (B, L, w_dim), ``w_avg`` (w_dim,) -> like ``w``.
    """
    if w_avg.shape != w.shape[-1:]:
        raise ValueError(
            f"w_avg must be (w_dim,) = {tuple(w.shape[-1:])}, got {tuple(w_avg.shape)}"
        )
    return w_avg + psi * (w - w_avg)


def style_mix(w1: torch.Tensor, w2: torch.Tensor, crossover: int, num_layers: int) -> torch.Tensor:
    """Style mixing: layers ``< crossover`` take ``w1``, the others ``w2``.

    Early (coarse, low-resolution) layers set pose and shape, late (fine) ones colour
    and micro-structure. ``crossover = 0`` is all ``w2``, ``crossover = num_layers`` all
    ``w1``.

    Shapes: ``w1``, ``w2`` (B, w_dim) -> (B, num_layers, w_dim).
    """
    if w1.shape != w2.shape or w1.ndim != 2:
        raise ValueError(
            f"w1 and w2 must both be (B, w_dim), got {tuple(w1.shape)} and {tuple(w2.shape)}"
        )
    if not 0 <= crossover <= num_layers:
        raise ValueError(f"crossover must be in 0..num_layers={num_layers}, got {crossover}")
    first = torch.arange(num_layers, device=w1.device) < crossover  # (L,)
    return torch.where(first[None, :, None], w1[:, None], w2[:, None])  # (B, L, w_dim)


def path_length_penalty(
    fake_images: torch.Tensor,
    w: torch.Tensor,
    pl_mean: float | torch.Tensor,
    decay: float = 0.01,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """StyleGAN2's path-length regulariser (Karras et al. 2020, eq. 4), without its weight.

    .. math::
        y = \\frac{\\varepsilon}{\\sqrt{HW}},\\; \\varepsilon \\sim \\mathcal N(0, I), \\qquad
        J^\\top y = \\nabla_w \\textstyle\\sum (g(w) \\odot y), \\qquad
        \\ell_b = \\sqrt{\\mathrm{mean}_L \\textstyle\\sum_{w\\_dim} (J^\\top y)_b^2},

    :math:`a \\leftarrow a + \\text{decay}\\,(\\mathrm{mean}_b\\, \\ell_b - a)` (detached), and
    the penalty :math:`\\mathrm{mean}_b (\\ell_b - a)^2`. ``noise`` is :math:`\\varepsilon`
    (standard normal, shaped like ``fake_images``; drawn when None): the division by
    :math:`\\sqrt{HW}` happens here. The gradient keeps its graph (``create_graph=True``)
    so the penalty trains the generator. ``fake_images`` must be computed from ``w``.

    Shapes: ``fake_images`` (B, C, H, W), ``w`` (B, L, w_dim) (or (B, w_dim), L = 1) ->
    ``(penalty, new_pl_mean)``, both 0-d.
    """
    _check_maps(fake_images, "fake_images")
    if not w.requires_grad:
        raise ValueError("w must require grad and fake_images must be computed from it")
    if w.shape[0] != fake_images.shape[0]:
        raise ValueError(
            f"w and fake_images disagree in batch: {w.shape[0]} vs {fake_images.shape[0]}"
        )
    height, width = fake_images.shape[2:]
    if noise is None:
        noise = torch.randn_like(fake_images)
    if noise.shape != fake_images.shape:
        raise ValueError(f"noise must be shaped like fake_images {tuple(fake_images.shape)}")
    y = noise / math.sqrt(height * width)  # (B, C, H, W): image-size-independent scale
    (grad,) = torch.autograd.grad((fake_images * y).sum(), w, create_graph=True)  # like w
    grad = grad.reshape(grad.shape[0], -1, grad.shape[-1])  # (B, L, w_dim)
    lengths = grad.pow(2).sum(dim=2).mean(dim=1).sqrt()  # (B,)
    pl_mean = torch.as_tensor(pl_mean, dtype=lengths.dtype, device=lengths.device)
    new_pl_mean = (pl_mean + decay * (lengths.mean() - pl_mean)).detach()  # 0-d
    penalty = (lengths - new_pl_mean).pow(2).mean()  # 0-d
    return penalty, new_pl_mean


# ----------------------------------------------------------------------------- the models


ModConv = Callable[..., torch.Tensor]


class _StyledConv(nn.Module):
    """Modulated 3x3 conv -> noise -> bias -> leaky ReLU (StyleGAN2 Fig. 2d), with optional
    bilinear 2x upsampling first."""

    def __init__(self, in_ch, out_ch, w_dim, up, modconv: ModConv, noise_layer):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
        self.affine = EqualizedLinear(w_dim, in_ch, bias_init=1.0)  # "A": w -> style s
        self.noise = noise_layer(out_ch)
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.up, self.modconv = up, modconv
        self.scale = 1 / math.sqrt(in_ch * 9)  # equalized learning rate

    def forward(self, x, w, noise=None):
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = self.modconv(x, self.weight * self.scale, self.affine(w))  # (B, O, H, W)
        x = self.noise(x, noise)
        return _lrelu(x + self.bias[None, :, None, None])


class _ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation, plus bias: features -> image."""

    def __init__(self, in_ch, out_ch, w_dim, modconv: ModConv):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 1, 1))
        self.affine = EqualizedLinear(w_dim, in_ch, bias_init=1.0)
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.modconv, self.scale = modconv, 1 / math.sqrt(in_ch)

    def forward(self, x, w):
        s = self.affine(w) * self.scale  # (B, I)
        return self.modconv(x, self.weight, s, demodulate=False) + self.bias[None, :, None, None]


class StyleGenerator(nn.Module):
    """A small StyleGAN2 generator: mapping network, learned constant, modulated convs,
    per-layer noise and skip toRGB outputs (StyleGAN2 Fig. 7b, "skip" generator).

    Resolutions ``4 -> 8 -> ... -> resolution``; ``channels[r]`` feature maps at the r-th
    resolution. The 4x4 block has one conv; every other block upsamples (bilinear) and
    has two. Style inputs: ``num_ws = number of convs + 1``; a block's toRGB uses the
    style of the next conv (as StyleGAN2). The building blocks are arguments so a
    notebook can plug in its own: ``mapping`` (a module (B, z_dim) -> (B, w_dim)),
    ``modulated_conv`` (a function like :func:`modulated_conv2d`) and ``noise_layer``
    (a class like :class:`NoiseInjection`).

    ``forward(z)`` maps and synthesises; ``synthesis(ws (B, num_ws, w_dim), noise=None)``
    takes styles; ``noise`` is a list of (B, 1, H, W) per conv, drawn when None.
    Output (B, img_channels, resolution, resolution), not squashed (no tanh, as StyleGAN).
    """

    def __init__(
        self,
        z_dim: int = 64,
        w_dim: int = 64,
        channels: tuple[int, ...] = (64, 64, 32, 16),
        img_channels: int = 1,
        mapping_layers: int = 8,
        mapping: nn.Module | None = None,
        modulated_conv: ModConv | None = None,
        noise_layer: type | None = None,
    ) -> None:
        super().__init__()
        modconv = modulated_conv or modulated_conv2d
        noise_layer = noise_layer or NoiseInjection
        self.z_dim, self.w_dim = z_dim, w_dim
        self.resolution = 4 * 2 ** (len(channels) - 1)
        self.mapping = (
            mapping if mapping is not None else MappingNetwork(z_dim, w_dim, mapping_layers)
        )
        self.const = nn.Parameter(torch.randn(1, channels[0], 4, 4))  # the learned constant
        self.convs = nn.ModuleList(
            [_StyledConv(channels[0], channels[0], w_dim, False, modconv, noise_layer)]
        )
        self.to_rgbs = nn.ModuleList([_ToRGB(channels[0], img_channels, w_dim, modconv)])
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            self.convs.append(_StyledConv(c_in, c_out, w_dim, True, modconv, noise_layer))
            self.convs.append(_StyledConv(c_out, c_out, w_dim, False, modconv, noise_layer))
            self.to_rgbs.append(_ToRGB(c_out, img_channels, w_dim, modconv))
        self.num_ws = len(self.convs) + 1

    def layer_resolutions(self) -> list[int]:
        """The resolution each style input acts on (for labelling coarse/middle/fine)."""
        res = [4] + [4 * 2 ** (i // 2 + 1) for i in range(len(self.convs) - 1)]
        return res + [self.resolution]

    def synthesis(self, ws: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        noise = noise or [None] * len(self.convs)
        x = self.const.expand(ws.shape[0], -1, -1, -1)  # (B, C0, 4, 4)
        x = self.convs[0](x, ws[:, 0], noise[0])
        img = self.to_rgbs[0](x, ws[:, 1])  # (B, img_ch, 4, 4)
        for b, to_rgb in enumerate(self.to_rgbs[1:]):
            i = 1 + 2 * b  # first conv of this block
            x = self.convs[i](x, ws[:, i], noise[i])  # upsampled
            x = self.convs[i + 1](x, ws[:, i + 1], noise[i + 1])
            img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
            img = img + to_rgb(x, ws[:, i + 2])  # skip connection of toRGB outputs
        return img

    def forward(self, z: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        w = self.mapping(z)  # (B, w_dim)
        return self.synthesis(w[:, None].expand(-1, self.num_ws, -1), noise)

    @torch.no_grad()
    def mean_w(self, n: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """:math:`\\bar w`, the average of f(z) over ``n`` draws of z: (w_dim,)."""
        p = self.const
        z = torch.randn(n, self.z_dim, generator=generator, dtype=p.dtype).to(p.device)
        return self.mapping(z).mean(dim=0)


class Discriminator(nn.Module):
    """A small convolutional discriminator: 3x3 convs and average-pool downsampling from
    ``resolution`` to 4x4, then a linear layer to one logit per image.

    Shapes: (B, img_channels, R, R) -> (B,).
    """

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 64), img_channels: int = 1):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(img_channels, channels[0], 3, padding=1),
            nn.LeakyReLU(0.2),
        ]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(0.2), nn.AvgPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels[-1] * 16, 1)
        self.resolution = 4 * 2 ** (len(channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # (B, C, 4, 4)
        return self.head(h.flatten(1)).flatten()  # (B,)
