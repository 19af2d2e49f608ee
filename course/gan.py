"""Week 03 — generative adversarial networks: a generator trained against a classifier.

A generator :math:`G: z \\mapsto x`, :math:`z \\sim p(z)`, and a discriminator
:math:`D: x \\mapsto [0, 1]` play the minimax game (Goodfellow et al. 2014, eq. 1)

.. math::
    \\min_G \\max_D V(D, G) = \\mathbb E_{x \\sim p_\\mathrm{data}}[\\log D(x)]
    + \\mathbb E_{z \\sim p(z)}[\\log(1 - D(G(z)))].

For a fixed :math:`G` the best discriminator is
:math:`D^*(x) = p_\\mathrm{data}(x) / (p_\\mathrm{data}(x) + p_g(x))` (Prop. 1), and at
:math:`D^*` the game's value is :math:`V(D^*, G) = 2\\,\\mathrm{JS}(p_\\mathrm{data} \\| p_g)
- \\log 4` (Thm. 1), minimised exactly when :math:`p_g = p_\\mathrm{data}`. The order
follows the lecture: the losses (BCE, non-saturating vs minimax, least squares, hinge),
the optimal discriminator, the models (2-D toy MLPs, DCGAN), and counting mode collapse.

Conventions: discriminators output **logits** :math:`\\ell` with :math:`D = \\sigma(\\ell)`,
never probabilities; every loss is written with ``softplus`` (``log(1 + e^t)``), stable for
any :math:`|\\ell|`, using :math:`-\\log \\sigma(\\ell) = \\mathrm{softplus}(-\\ell)` and
:math:`-\\log(1 - \\sigma(\\ell)) = \\mathrm{softplus}(\\ell)`. Losses are means over the
batch, to be *minimised*. Functions that return both a discriminator and a generator loss
compute them from the same tensors: in the discriminator step pass outputs on
``fake.detach()``, in the generator step use only the generator loss.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "ModeCoverage",
    "dcgan_init_",
    "discriminator_loss",
    "generator_loss",
    "hinge_losses",
    "lsgan_losses",
    "modes_covered",
    "optimal_discriminator",
]

GENERATOR_LOSS_KINDS = ("non_saturating", "minimax")


def _check_scores(t: torch.Tensor, name: str) -> None:
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor of discriminator outputs, got "
            f"{type(t).__name__}" + (f" of dtype {t.dtype}" if isinstance(t, torch.Tensor) else "")
        )
    if t.numel() == 0:
        raise ValueError(f"{name} is empty: the mean of an empty batch is undefined")


# ----------------------------------------------------------------------------- the losses


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's binary cross-entropy: real labelled 1, fake labelled 0.

    .. math::
        L_D = -\\mathbb E[\\log \\sigma(\\ell_\\mathrm{real})]
        - \\mathbb E[\\log(1 - \\sigma(\\ell_\\mathrm{fake}))]
        = \\mathrm{mean}(\\mathrm{softplus}(-\\ell_\\mathrm{real}))
        + \\mathrm{mean}(\\mathrm{softplus}(\\ell_\\mathrm{fake})),

    i.e. :math:`-V(D, G)` of Goodfellow et al. (2014, eq. 1) estimated by two batch means,
    and the *sum* (not the average) of the two ``binary_cross_entropy_with_logits`` means.
    The two batches may have different sizes. Pass ``fake_logits = D(G(z).detach())`` so
    this step does not update the generator.

    Shapes: ``real_logits`` (B_r,) or (B_r, 1), ``fake_logits`` (B_f,) or (B_f, 1) -> scalar.
    """
    _check_scores(real_logits, "real_logits")
    _check_scores(fake_logits, "fake_logits")
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()  # scalar


def generator_loss(fake_logits: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """The generator's loss on :math:`\\ell = D(G(z))` logits, in two flavours.

    - ``"minimax"`` — minimise the game itself, :math:`\\mathbb E[\\log(1 - \\sigma(\\ell))]
      = -\\mathrm{mean}(\\mathrm{softplus}(\\ell))`. Its gradient
      :math:`\\partial / \\partial \\ell = -\\sigma(\\ell) / B` vanishes when the
      discriminator confidently rejects the fakes (:math:`\\ell \\to -\\infty`), which is
      exactly the situation early in training: the loss *saturates*.
    - ``"non_saturating"`` (default) — maximise :math:`\\log D(G(z))` instead,
      :math:`-\\mathbb E[\\log \\sigma(\\ell)] = \\mathrm{mean}(\\mathrm{softplus}(-\\ell))`;
      same fixed point, gradient :math:`-\\sigma(-\\ell) / B \\to -1/B` for rejected fakes
      (Goodfellow et al. 2014, sec. 3, the heuristic used in practice).

    Shapes: ``fake_logits`` (B,) or (B, 1) -> scalar.
    """
    _check_scores(fake_logits, "fake_logits")
    if kind == "non_saturating":
        return F.softplus(-fake_logits).mean()  # scalar
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()  # scalar
    raise ValueError(f"kind must be one of {GENERATOR_LOSS_KINDS}, got {kind!r}")


def lsgan_losses(
    real_out: torch.Tensor,
    fake_out: torch.Tensor,
    a: float = 0.0,
    b: float = 1.0,
    c: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares GAN losses (Mao et al. 2017, eq. 2): ``(d_loss, g_loss)``.

    .. math::
        L_D = \\tfrac12 \\mathbb E[(D(x) - b)^2] + \\tfrac12 \\mathbb E[(D(G(z)) - a)^2],
        \\qquad L_G = \\tfrac12 \\mathbb E[(D(G(z)) - c)^2],

    with :math:`a` the label for fake, :math:`b` for real and :math:`c` the value the
    generator wants the discriminator to believe. The default ``a=0, b=c=1`` is the
    0-1 coding of the paper's experiments; ``a=-1, b=1, c=0`` minimises the Pearson
    :math:`\\chi^2` divergence (their eq. 9 with :math:`b - c = 1, b - a = 2`). ``real_out``
    and ``fake_out`` are raw outputs (no sigmoid): the least-squares loss penalises
    fakes that are classified correctly but lie far from the boundary.

    Shapes: ``real_out`` (B_r,) or (B_r, 1), ``fake_out`` (B_f,) or (B_f, 1) -> two scalars.
    """
    _check_scores(real_out, "real_out")
    _check_scores(fake_out, "fake_out")
    d_loss = 0.5 * (real_out - b).pow(2).mean() + 0.5 * (fake_out - a).pow(2).mean()  # scalar
    g_loss = 0.5 * (fake_out - c).pow(2).mean()  # scalar
    return d_loss, g_loss


def hinge_losses(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hinge GAN losses (Lim & Ye 2017; Miyato et al. 2018, eq. 16-17): ``(d_loss, g_loss)``.

    .. math::
        L_D = \\mathbb E[\\max(0, 1 - D(x))] + \\mathbb E[\\max(0, 1 + D(G(z)))],
        \\qquad L_G = -\\mathbb E[D(G(z))].

    The discriminator is a margin classifier: reals scored above +1 and fakes below -1
    cost nothing, so it stops pushing once it is confidently right.

    Shapes: ``real_logits`` (B_r,) or (B_r, 1), ``fake_logits`` (B_f,) or (B_f, 1) -> two scalars.
    """
    _check_scores(real_logits, "real_logits")
    _check_scores(fake_logits, "fake_logits")
    d_loss = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()  # scalar
    g_loss = -fake_logits.mean()  # scalar
    return d_loss, g_loss


# ----------------------------------------------------------------------------- theory


def optimal_discriminator(
    p_data: torch.Tensor | float, p_model: torch.Tensor | float
) -> torch.Tensor | float:
    """The best discriminator for a fixed generator (Goodfellow et al. 2014, Prop. 1).

    .. math::
        D^*(x) = \\frac{p_\\mathrm{data}(x)}{p_\\mathrm{data}(x) + p_g(x)},

    found by maximising :math:`a \\log y + b \\log(1 - y)` pointwise in :math:`y`.

    Convention where both densities vanish (:math:`p_\\mathrm{data} + p_g = 0`): outside
    both supports :math:`D` does not enter :math:`V(D, G)`, so any value is optimal; we
    return **0.5** ("cannot tell"), which also avoids 0/0 when densities underflow far in
    the tails. Negative densities raise ``ValueError``.

    Shapes: ``p_data``, ``p_model`` density values of any broadcastable shapes (or Python
    floats) -> their broadcast shape (a float if both are floats).
    """
    if not isinstance(p_data, torch.Tensor) and not isinstance(p_model, torch.Tensor):
        a, b = float(p_data), float(p_model)
        if a < 0 or b < 0:
            raise ValueError(f"densities must be >= 0, got p_data={a}, p_model={b}")
        return 0.5 if a + b == 0 else a / (a + b)
    like = p_data if isinstance(p_data, torch.Tensor) else p_model
    p_data = torch.as_tensor(p_data, dtype=like.dtype, device=like.device)
    p_model = torch.as_tensor(p_model, dtype=like.dtype, device=like.device)
    if (p_data < 0).any() or (p_model < 0).any():
        raise ValueError(
            "densities must be >= 0, got a negative value: pass p(x), not log p(x) "
            "(exponentiate log-densities first)"
        )
    total = p_data + p_model  # broadcast shape
    safe = torch.where(total > 0, total, torch.ones_like(total))  # no 0/0 in the unused branch
    return torch.where(total > 0, p_data / safe, torch.full_like(total, 0.5))  # broadcast shape


# ----------------------------------------------------------------------------- the models


class MLPGenerator(nn.Module):
    """A generator for 2-D toy data: ``z_dim -> hidden -> hidden -> out_dim``, ReLU between.

    No output activation: toy targets (rings and grids of Gaussians) are unbounded.

    Shapes: ``forward`` (B, z_dim) -> (B, out_dim); ``sample(n)`` -> (n, out_dim).
    """

    def __init__(self, z_dim: int = 2, out_dim: int = 2, hidden: int = 128) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be (B, z_dim) = (B, {self.z_dim}), got {tuple(z.shape)}")
        return self.net(z)  # (B, out_dim)

    def sample(self, n: int, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples :math:`G(z)`, :math:`z \\sim \\mathcal N(0, I)` drawn unless ``noise`` (n, z_dim) is given.

        Keeps the graph (call under ``torch.no_grad()`` to plot); (n, out_dim).
        """
        p = next(self.parameters())
        if noise is None:
            noise = torch.randn(n, self.z_dim, dtype=p.dtype, device=p.device)
        if noise.shape != (n, self.z_dim):
            raise ValueError(
                f"noise must be (n, z_dim) = {(n, self.z_dim)}, got {tuple(noise.shape)}"
            )
        return self(noise)  # (n, out_dim)


class MLPDiscriminator(nn.Module):
    """A discriminator for 2-D toy data: ``in_dim -> hidden -> hidden -> 1`` logit.

    LeakyReLU(0.2) between layers (as in DCGAN's discriminator: gradients also flow for
    negative pre-activations, so the generator gets a signal everywhere).

    Shapes: (B, in_dim) -> logits (B,).
    """

    def __init__(self, in_dim: int = 2, hidden: int = 128) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"x must be (B, in_dim) = (B, {self.in_dim}), got {tuple(x.shape)}")
        return self.net(x).squeeze(1)  # (B,)


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN initialisation, in place (Radford et al. 2016, sec. 4): conv weights
    :math:`\\mathcal N(0, 0.02^2)`, BatchNorm scales :math:`\\mathcal N(1, 0.02^2)`, biases 0.

    Use as ``model.apply(dcgan_init_)``; draws from torch's global generator, like any
    ``nn.Module`` constructor (seed with ``torch.manual_seed`` for a reproducible net).
    """
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """DCGAN generator for 28x28 images (MNIST-sized), tanh output in [-1, 1].

    ``z (B, z_dim) -> (B, z_dim, 1, 1)`` then transposed convolutions
    ``1 -> 7 -> 14 -> 28``:

    - ConvTranspose(z_dim, 2*base, k=7): (B, 2*base, 7, 7), BatchNorm, ReLU
    - ConvTranspose(2*base, base, k=4, s=2, p=1): (B, base, 14, 14), BatchNorm, ReLU
    - ConvTranspose(base, channels, k=4, s=2, p=1): (B, channels, 28, 28), tanh

    The DCGAN rules (Radford et al. 2016, sec. 3): no pooling (fractionally strided
    convolutions upsample), no fully connected hidden layers, BatchNorm in every layer
    except the generator's output (and the discriminator's input), ReLU in the generator
    with tanh at the output, LeakyReLU(0.2) in the discriminator. We chose 28x28 rather
    than the paper's 64x64 (or a padded 32x32) so MNIST and the course digits need no
    resizing: 7 -> 14 -> 28 is two stride-2 doublings. Weights are initialised by
    :func:`dcgan_init_`.

    Shapes: (B, z_dim) or (B, z_dim, 1, 1) -> (B, channels, 28, 28).
    """

    image_size = 28

    def __init__(self, z_dim: int = 64, channels: int = 1, base: int = 64) -> None:
        super().__init__()
        self.z_dim, self.channels = z_dim, channels
        self.net = nn.Sequential(
            # bias=False before BatchNorm: its shift makes a bias redundant
            nn.ConvTranspose2d(z_dim, 2 * base, 7, 1, 0, bias=False),  # (B, 2*base, 7, 7)
            nn.BatchNorm2d(2 * base),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * base, base, 4, 2, 1, bias=False),  # (B, base, 14, 14)
            nn.BatchNorm2d(base),
            nn.ReLU(),
            nn.ConvTranspose2d(base, channels, 4, 2, 1),  # (B, channels, 28, 28), no BN at output
            nn.Tanh(),  # images live in [-1, 1]
        )
        self.apply(dcgan_init_)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim == 2 and z.shape[1] == self.z_dim:
            z = z[:, :, None, None]  # (B, z_dim, 1, 1)
        if z.ndim != 4 or z.shape[1:] != (self.z_dim, 1, 1):
            raise ValueError(
                f"z must be (B, z_dim) or (B, z_dim, 1, 1) with z_dim={self.z_dim}, "
                f"got {tuple(z.shape)}"
            )
        return self.net(z)  # (B, channels, 28, 28)

    def sample(self, n: int, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` images :math:`G(z)`, :math:`z \\sim \\mathcal N(0, I)` unless ``noise`` (n, z_dim) is given.

        Keeps the graph; (n, channels, 28, 28) in [-1, 1]. Call ``.eval()`` first to use
        the BatchNorm running statistics.
        """
        p = next(self.parameters())
        if noise is None:
            noise = torch.randn(n, self.z_dim, dtype=p.dtype, device=p.device)
        if noise.shape != (n, self.z_dim):
            raise ValueError(
                f"noise must be (n, z_dim) = {(n, self.z_dim)}, got {tuple(noise.shape)}"
            )
        return self(noise)  # (n, channels, 28, 28)


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator for 28x28 images: strided convolutions down to one logit.

    - Conv(channels, base, k=4, s=2, p=1): (B, base, 14, 14), LeakyReLU(0.2), no BatchNorm
      on the input layer (Radford et al. 2016, sec. 3: it caused sample oscillation)
    - Conv(base, 2*base, k=4, s=2, p=1): (B, 2*base, 7, 7), BatchNorm, LeakyReLU(0.2)
    - Conv(2*base, 1, k=7): (B, 1, 1, 1) -> logits (B,)

    Strided convolutions replace pooling, so the network learns its own downsampling.
    Outputs logits, not probabilities: use with :func:`discriminator_loss`.

    Shapes: (B, channels, 28, 28) -> (B,).
    """

    def __init__(self, channels: int = 1, base: int = 64) -> None:
        super().__init__()
        self.channels = channels
        self.net = nn.Sequential(
            nn.Conv2d(channels, base, 4, 2, 1),  # (B, base, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2d(base, 2 * base, 4, 2, 1, bias=False),  # (B, 2*base, 7, 7)
            nn.BatchNorm2d(2 * base),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * base, 1, 7, 1, 0),  # (B, 1, 1, 1)
        )
        self.apply(dcgan_init_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (self.channels, 28, 28):
            raise ValueError(
                f"x must be (B, {self.channels}, 28, 28), got {tuple(x.shape)}: "
                "flattened images need x.view(-1, C, 28, 28)"
            )
        return self.net(x).flatten()  # (B,)


# ----------------------------------------------------------------------------- mode collapse


class ModeCoverage(NamedTuple):
    """Result of :func:`modes_covered`.

    Fields: ``covered`` — number of modes (of K) that received enough high-quality
    samples; ``high_quality`` — fraction of the N samples within ``threshold * std`` of
    their nearest mode, in [0, 1].
    """

    covered: int
    high_quality: float


def modes_covered(
    samples: torch.Tensor,
    modes: torch.Tensor,
    std: float,
    threshold: float = 3.0,
    min_fraction: float = 0.01,
) -> ModeCoverage:
    """Count the modes a generator reaches, to measure mode collapse on a mixture of Gaussians.

    The protocol of Metz et al. (2017, sec. 3.1) and Srivastava et al. (2017, VEEGAN):
    each sample is assigned to its nearest mode (Euclidean); it is **high quality** if
    that distance is at most ``threshold * std`` (``std`` of each mixture component).
    A mode is **covered** if it received at least
    :math:`\\max(1, \\lceil \\text{min\\_fraction} \\cdot N \\rceil)` high-quality samples
    (default 1% of N, so a stray sample does not count as covering a mode; with K = 8 or
    25 modes a uniform generator gives each mode 12.5% or 4%, far above it).

    A collapsed generator scores few modes with high quality near 1; a blurry one scores
    many modes with low quality. Report both.

    Shapes: ``samples`` (N, 2), ``modes`` (K, 2) (any equal feature dim works) ->
    :class:`ModeCoverage` (covered: int, high_quality: float).
    """
    if samples.ndim != 2 or modes.ndim != 2 or samples.shape[1] != modes.shape[1]:
        raise ValueError(
            f"samples must be (N, D) and modes (K, D) with the same D, got "
            f"{tuple(samples.shape)} and {tuple(modes.shape)}"
        )
    if samples.shape[0] == 0 or modes.shape[0] == 0:
        raise ValueError("samples and modes must be non-empty")
    if std <= 0 or threshold <= 0:
        raise ValueError(f"std and threshold must be > 0, got std={std}, threshold={threshold}")
    if not 0 <= min_fraction <= 1:
        raise ValueError(f"min_fraction must lie in [0, 1], got {min_fraction}")
    modes = modes.to(samples)
    dist = torch.cdist(samples, modes)  # (N, K)
    nearest_dist, nearest = dist.min(dim=1)  # (N,), (N,)
    good = nearest_dist <= threshold * std  # (N,)
    counts = torch.bincount(nearest[good], minlength=modes.shape[0])  # (K,)
    min_count = max(1, math.ceil(min_fraction * samples.shape[0]))
    covered = int((counts >= min_count).sum())
    return ModeCoverage(covered=covered, high_quality=float(good.float().mean()))
