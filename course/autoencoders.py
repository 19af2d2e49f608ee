"""Week 01 — autoencoders: compress, reconstruct, and what a code space is good for.

An autoencoder is an encoder :math:`e: \\mathbb{R}^D \\to \\mathbb{R}^m` and a decoder
:math:`d: \\mathbb{R}^m \\to \\mathbb{R}^D` with :math:`m < D` (undercomplete), trained so
that :math:`\\hat x = d(e(x))` is close to :math:`x`, usually in squared error
:math:`\\lVert x - d(e(x)) \\rVert^2`. The order below follows the lecture: the model and
its loss, the linear case and PCA, denoising, and walking around in the code space.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Autoencoder",
    "SwapAutoencoder",
    "add_noise",
    "attribute_vector",
    "interpolate",
    "pca_baseline",
    "pca_reconstruct",
    "reconstruction_loss",
    "subspace_angles",
]

_OUT_ACTIVATIONS = {None: nn.Identity, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _mlp(sizes: Sequence[int], out_activation: str | None) -> nn.Sequential:
    """Linear layers with ReLU between them, and ``out_activation`` after the last."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    layers.append(_OUT_ACTIVATIONS[out_activation]())
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """A fully connected autoencoder.

    Encoder ``in_dim -> hidden[0] -> ... -> latent_dim`` (ReLU between layers, no
    activation on the code, so codes may take any real value); the decoder
    mirrors it, ``latent_dim -> ... -> hidden[0] -> in_dim``, with
    ``out_activation`` (``None``, ``"tanh"`` for data in [-1, 1], ``"sigmoid"``
    for data in [0, 1]) at the end. ``hidden=()`` gives a *linear* autoencoder:
    trained with MSE it learns the PCA subspace.

    Shapes: ``encode`` (B, *) -> (B, latent_dim), flattening every non-batch dim;
    ``decode`` (B, latent_dim) -> (B, in_dim); ``forward`` returns ``x_hat`` with
    the shape of ``x``.
    """

    def __init__(
        self,
        in_dim: int,
        latent_dim: int,
        hidden: Sequence[int] = (256, 64),
        out_activation: str | None = None,
    ) -> None:
        super().__init__()
        if out_activation not in _OUT_ACTIVATIONS:
            raise ValueError(f"out_activation must be one of {list(_OUT_ACTIVATIONS)}")
        self.in_dim, self.latent_dim = in_dim, latent_dim
        sizes = [in_dim, *hidden, latent_dim]
        self.encoder = _mlp(sizes, out_activation=None)
        self.decoder = _mlp(sizes[::-1], out_activation=out_activation)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, D)
        if x.shape[1] != self.in_dim:
            raise ValueError(f"expected {self.in_dim} features per sample, got {x.shape[1]}")
        return self.encoder(x)  # (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (B, in_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)).view_as(x)  # (B, *) like x


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Mean reconstruction error over **all** elements (batch and features): a scalar.

    ``"mse"``: :math:`\\frac{1}{N}\\sum (\\hat x - x)^2`.
    ``"bce"``: :math:`-\\frac{1}{N}\\sum [x \\log \\hat x + (1 - x) \\log(1 - \\hat x)]`, with
    ``x_hat`` holding probabilities and ``x`` targets, both in [0, 1].

    Averaging over elements (not summing over features) keeps the loss's scale
    independent of the image size, so learning rates transfer between datasets.
    """
    if x_hat.shape != x.shape:
        raise ValueError(
            f"x_hat has shape {tuple(x_hat.shape)} but x has {tuple(x.shape)}: reshape the "
            "decoder output to the input's shape (x_hat.view_as(x))"
        )
    if kind == "mse":
        return F.mse_loss(x_hat, x)
    if kind == "bce":
        return F.binary_cross_entropy(x_hat, x)
    raise ValueError(f"kind must be 'mse' or 'bce', got {kind!r}")


def pca_baseline(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-``k`` principal components of ``x`` (N, D) and its mean (D,).

    Returns ``components`` (k, D) with orthonormal rows, ordered by explained
    variance (largest first), and ``mean`` (D,). Computed from the SVD of the
    centred data, :math:`x - \\bar x = U S V^T`: the components are the first k
    rows of :math:`V^T`. The sign of each component is arbitrary.
    """
    if x.ndim != 2:
        raise ValueError(f"x must be (N, D), got shape {tuple(x.shape)}: flatten it first")
    if not 1 <= k <= min(x.shape):
        raise ValueError(f"k must be in [1, min(N, D)] = [1, {min(x.shape)}], got {k}")
    mean = x.mean(dim=0)  # (D,)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)  # vh: (min(N, D), D)
    return vh[:k], mean


def pca_reconstruct(x: torch.Tensor, components: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Project ``x`` (N, D) onto the PCA subspace and back: ``(x - mean) V^T V + mean``."""
    codes = (x - mean) @ components.T  # (N, k)
    return codes @ components + mean  # (N, D)


def subspace_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the row spaces of ``a`` (k, D) and ``b`` (l, D).

    0 means the spaces share that direction. The rows need not be orthonormal:
    each basis is orthonormalised by QR first, then the cosines of the angles are
    the singular values of :math:`Q_a^T Q_b`. Used to compare a linear
    autoencoder's decoder with PCA: same subspace, different basis.
    """
    qa, _ = torch.linalg.qr(a.T)  # (D, k)
    qb, _ = torch.linalg.qr(b.T)  # (D, l)
    cosines = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)  # descending
    return torch.arccos(cosines)  # ascending


def add_noise(x: torch.Tensor, sigma: float, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Corrupt ``x`` (any shape, values in [-1, 1]) for a denoising autoencoder.

    :math:`\\tilde x = \\mathrm{clip}(x + \\sigma \\varepsilon, -1, 1)` with
    :math:`\\varepsilon \\sim \\mathcal N(0, I)` drawn like ``x`` when ``noise`` is None.
    Clipping keeps the corrupted image in the data's range; ``x`` is not modified.
    """
    if noise is None:
        noise = torch.randn_like(x)
    return (x + sigma * noise).clamp(-1.0, 1.0)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Points on the straight line from ``z0`` to ``z1`` (both (D,)), endpoints included.

    Returns (steps, D): row ``i`` is :math:`(1 - a_i) z_0 + a_i z_1` with
    :math:`a_i = i / (steps - 1)`, so row 0 is ``z0`` and the last row is ``z1``.
    """
    if z0.shape != z1.shape or z0.ndim != 1:
        raise ValueError(f"z0 and z1 must both be (D,), got {tuple(z0.shape)}, {tuple(z1.shape)}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (both endpoints), got {steps}")
    a = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)[:, None]  # (steps, 1)
    return (1 - a) * z0 + a * z1  # (steps, D)


def attribute_vector(z_with: torch.Tensor, z_without: torch.Tensor) -> torch.Tensor:
    """Latent arithmetic: the direction that adds an attribute.

    ``z_with`` (N, D) are codes of examples that have the attribute, ``z_without``
    (M, D) of examples that do not (N and M may differ). Returns (D,):
    :math:`\\bar z_{with} - \\bar z_{without}`, the difference of the two means;
    ``z + attribute_vector`` moves a code towards the attribute.
    """
    if z_with.ndim != 2 or z_without.ndim != 2 or z_with.shape[1] != z_without.shape[1]:
        raise ValueError(
            f"expected (N, D) and (M, D) codes, got {tuple(z_with.shape)}, {tuple(z_without.shape)}"
        )
    return z_with.mean(dim=0) - z_without.mean(dim=0)  # (D,)


class SwapAutoencoder(nn.Module):
    """One shared encoder, one decoder per domain: the idea behind autoencoder face swaps.

    Both domains are encoded by the same encoder, so the code must describe what
    they share (pose, shape); each decoder learns to render its own domain's
    appearance. ``swap(x, to=1)`` encodes images of any domain and decodes them
    with domain ``to``'s decoder. Shapes as in :class:`Autoencoder`.
    """

    def __init__(
        self,
        in_dim: int,
        latent_dim: int,
        hidden: Sequence[int] = (256, 64),
        out_activation: str | None = "tanh",
        domains: int = 2,
    ) -> None:
        super().__init__()
        sizes = [in_dim, *hidden, latent_dim]
        self.encoder = _mlp(sizes, out_activation=None)
        self.decoders = nn.ModuleList(
            _mlp(sizes[::-1], out_activation=out_activation) for _ in range(domains)
        )

    def forward(self, x: torch.Tensor, domain: int) -> torch.Tensor:
        return self.swap(x, to=domain)

    def swap(self, x: torch.Tensor, to: int) -> torch.Tensor:
        z = self.encoder(x.flatten(1))  # (B, latent_dim)
        return self.decoders[to](z).view_as(x)  # (B, *) like x
