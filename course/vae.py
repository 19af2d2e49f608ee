"""Week 02 — variational autoencoders: a latent-variable model trained by a lower bound.

The model is :math:`p(z) = \\mathcal N(0, I)` and a decoder :math:`p_\\theta(x \\mid z)`;
the encoder :math:`q_\\phi(z \\mid x) = \\mathcal N(\\mu_\\phi(x), \\mathrm{diag}\\,
\\sigma^2_\\phi(x))` approximates the posterior. Both are trained by maximising the
evidence lower bound (Kingma & Welling 2014, eq. 3)

.. math::
    \\log p(x) \\ge \\mathrm{ELBO}(x) =
    \\mathbb E_{q(z \\mid x)}[\\log p(x \\mid z)] - \\mathrm{KL}(q(z \\mid x) \\,\\|\\, p(z)),

with equality when :math:`q` is the exact posterior. The order follows the lecture: the
reparameterisation trick, the KL term, the reconstruction likelihoods, the ELBO, the
tighter importance-weighted bound (Burda et al. 2016), and the models.

Conventions: every per-sample quantity is summed over all non-batch dimensions and
returned as ``(B,)``; the training loss is ``-elbo(...).mean()``. Encoders output the
log-variance ``logvar`` = :math:`\\log \\sigma^2` (not :math:`\\sigma`), so any real
output is a valid variance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "VAE",
    "ConditionalVAE",
    "bernoulli_log_likelihood",
    "elbo",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "iwae_bound",
    "reparameterize",
]

_LOG_2PI = math.log(2 * math.pi)


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, names: str, hint: str = "") -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
            + (f": {hint}" if hint else "")
        )


def _check_batched(t: torch.Tensor, name: str) -> None:
    if t.ndim < 2:
        raise ValueError(
            f"{name} must be batched, (B, ...) with at least 2 dims, got shape {tuple(t.shape)}: "
            "a single sample needs a leading batch dim (t.unsqueeze(0))"
        )


# ----------------------------------------------------------------------------- the pieces


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor | None = None
) -> torch.Tensor:
    """Draw :math:`z \\sim \\mathcal N(\\mu, \\mathrm{diag}\\, e^{\\mathrm{logvar}})` differentiably.

    :math:`z = \\mu + e^{\\frac12 \\mathrm{logvar}} \\odot \\varepsilon`,
    :math:`\\varepsilon \\sim \\mathcal N(0, I)` drawn like ``mu`` when ``noise`` is None.
    The randomness sits in :math:`\\varepsilon`, which does not depend on the parameters,
    so gradients flow to ``mu`` (:math:`\\partial z / \\partial \\mu = 1`) and ``logvar``
    (:math:`\\partial z / \\partial \\mathrm{logvar} = \\frac12 e^{\\frac12 \\mathrm{logvar}}
    \\varepsilon`) (Kingma & Welling 2014, sec. 2.4).

    Shapes: ``mu``, ``logvar``, ``noise`` and the result all share one shape, e.g. (B, D).
    """
    _check_same_shape(mu, logvar, "mu and logvar", "the encoder should output one of each per dim")
    if noise is None:
        noise = torch.randn_like(mu)
    _check_same_shape(noise, mu, "noise and mu")
    std = torch.exp(0.5 * logvar)  # like mu; exp(logvar / 2) = sigma, always positive
    return mu + std * noise  # like mu


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathrm{KL}(\\mathcal N(\\mu, \\mathrm{diag}\\, e^{\\mathrm{logvar}}) \\,\\|\\, \\mathcal N(0, I))` per sample.

    Closed form (Kingma & Welling 2014, appendix B), summed over every non-batch dim:

    .. math::
        \\mathrm{KL} = -\\tfrac12 \\sum_j \\left(1 + \\mathrm{logvar}_j - \\mu_j^2
        - e^{\\mathrm{logvar}_j}\\right) \\ge 0,

    zero exactly when :math:`\\mu = 0` and :math:`\\mathrm{logvar} = 0`.

    Shapes: ``mu``, ``logvar`` (B, ...) -> (B,).
    """
    _check_same_shape(mu, logvar, "mu and logvar")
    _check_batched(mu, "mu")
    per_dim = 1 + logvar - mu.pow(2) - logvar.exp()  # (B, ...)
    return -0.5 * per_dim.flatten(1).sum(dim=1)  # (B,)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """:math:`\\log p(x \\mid z)` for a Bernoulli decoder, summed over non-batch dims.

    .. math::
        \\log p(x \\mid z) = \\sum_j x_j \\log s(\\ell_j) + (1 - x_j) \\log(1 - s(\\ell_j)),

    with :math:`s` the sigmoid and :math:`\\ell` the decoder's logits. Computed as
    ``-binary_cross_entropy_with_logits``, which is stable for large :math:`|\\ell|`
    (never takes the log of a rounded-to-zero probability). ``x`` must lie in [0, 1]
    (binary, or grey levels as "soft" targets); course images in [-1, 1] must be mapped
    first, e.g. ``(x + 1) / 2`` or ``(x > 0).float()``.

    Shapes: ``logits``, ``x`` (B, ...) -> (B,).
    """
    _check_same_shape(logits, x, "logits and x", "reshape the decoder output with .view_as(x)")
    _check_batched(x, "x")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"x must lie in [0, 1] for a Bernoulli likelihood, got values in "
            f"[{x.min().item():.3g}, {x.max().item():.3g}]: course images are in [-1, 1], "
            "map them with (x + 1) / 2 or binarise with (x > 0).float()"
        )
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")  # (B, ...)
    return -nll.flatten(1).sum(dim=1)  # (B,)


def gaussian_log_likelihood(
    x_hat: torch.Tensor, x: torch.Tensor, sigma: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """:math:`\\log \\mathcal N(x; \\hat x, \\sigma^2 I)` for a Gaussian decoder, summed over non-batch dims.

    .. math::
        \\log p(x \\mid z) = \\sum_j -\\frac{(x_j - \\hat x_j)^2}{2 \\sigma^2}
        - \\tfrac12 \\log(2 \\pi \\sigma^2).

    The constant is kept so the value is a true log-density (comparable with
    :math:`\\log p(x)` and with other likelihoods); it does not change the gradient
    with respect to :math:`\\hat x`. With fixed :math:`\\sigma` this is the squared error
    scaled by :math:`1 / (2 \\sigma^2)`: :math:`\\sigma` sets the weight of the
    reconstruction against the KL term.

    Shapes: ``x_hat``, ``x`` (B, ...) -> (B,); ``sigma`` a positive float (or a tensor
    broadcastable against ``x``).
    """
    _check_same_shape(x_hat, x, "x_hat and x", "reshape the decoder output with .view_as(x)")
    _check_batched(x, "x")
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if (sigma <= 0).any():
        raise ValueError(f"sigma must be positive (a standard deviation), got {sigma}")
    log_var = 2 * torch.log(sigma)  # log sigma^2, broadcastable
    per_dim = -0.5 * ((x - x_hat) ** 2 / sigma**2 + log_var + _LOG_2PI)  # (B, ...)
    return per_dim.flatten(1).sum(dim=1)  # (B,)


def elbo(
    x: torch.Tensor,
    x_hat_or_logits: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    likelihood: str = "bernoulli",
    beta: float = 1.0,
) -> torch.Tensor:
    """The (beta-)ELBO per sample: reconstruction log-likelihood minus ``beta`` times the KL.

    .. math::
        \\mathrm{ELBO}_\\beta(x) = \\log p(x \\mid z) - \\beta\\,
        \\mathrm{KL}(q(z \\mid x) \\,\\|\\, \\mathcal N(0, I)),
        \\qquad z = \\mu + \\sigma \\odot \\varepsilon,

    a one-sample Monte-Carlo estimate of the expectation with the KL in closed form
    (Kingma & Welling 2014, eq. 10). ``beta = 1`` is the true bound; ``beta > 1`` is
    the beta-VAE of Higgins et al. (2017). ``likelihood="bernoulli"`` reads the decoder
    output as logits and needs ``x`` in [0, 1]; ``"gaussian"`` reads it as the mean
    :math:`\\hat x` with :math:`\\sigma = 1`. The loss to minimise is ``-elbo(...).mean()``.

    Shapes: ``x``, ``x_hat_or_logits`` (B, ...) (same shape); ``mu``, ``logvar``
    (B, latent_dim) -> (B,).
    """
    if likelihood == "bernoulli":
        rec = bernoulli_log_likelihood(x_hat_or_logits, x)  # (B,)
    elif likelihood == "gaussian":
        rec = gaussian_log_likelihood(x_hat_or_logits, x, sigma=1.0)  # (B,)
    else:
        raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
    kl = gaussian_kl(mu, logvar)  # (B,)
    if kl.shape != rec.shape:
        raise ValueError(
            f"x has batch size {rec.shape[0]} but mu has {kl.shape[0]}: pass the mu and "
            "logvar that the encoder produced for this x"
        )
    return rec - beta * kl  # (B,)


def iwae_bound(
    x: torch.Tensor, model: nn.Module, k: int, noise: torch.Tensor | None = None
) -> torch.Tensor:
    """The importance-weighted bound :math:`\\mathcal L_k` on :math:`\\log p(x)` (Burda et al. 2016, eq. 8).

    .. math::
        \\mathcal L_k(x) = \\log \\frac1k \\sum_{i=1}^k
        \\frac{p(x \\mid z_i)\\, p(z_i)}{q(z_i \\mid x)},
        \\qquad z_i = \\mu + \\sigma \\odot \\varepsilon_i \\sim q(z \\mid x),

    with ``model.encode(x) -> (mu, logvar)`` (B, L), ``model.decode(z) -> logits``
    (B, D) of a Bernoulli likelihood, and the prior :math:`\\mathcal N(0, I)`.
    :math:`\\mathbb E[\\mathcal L_k] \\le \\mathbb E[\\mathcal L_{k+1}] \\le \\log p(x)`, and
    ``k = 1`` is the one-sample ELBO with the KL *estimated* by
    :math:`\\log q(z \\mid x) - \\log p(z)` instead of in closed form (same expectation).
    The average is taken in log space with ``torch.logsumexp``, because the weights
    themselves underflow (:math:`\\log p(x \\mid z)` is hundreds of nats).

    Shapes: ``x`` (B, ...) in [0, 1] with D elements per sample; ``noise`` (k, B, L),
    drawn from :math:`\\mathcal N(0, I)` like ``mu`` when None -> (B,).
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k (number of importance samples) must be a positive int, got {k!r}")
    _check_batched(x, "x")
    mu, logvar = model.encode(x)  # (B, L), (B, L)
    _check_same_shape(mu, logvar, "mu and logvar from model.encode")
    batch, latent = mu.shape
    if noise is None:
        noise = torch.randn((k, batch, latent), dtype=mu.dtype, device=mu.device)  # (k, B, L)
    if noise.shape != (k, batch, latent):
        raise ValueError(
            f"noise must be (k, B, latent) = {(k, batch, latent)}, got {tuple(noise.shape)}"
        )
    z = reparameterize(mu.expand_as(noise), logvar.expand_as(noise), noise)  # (k, B, L)
    logits = model.decode(z.reshape(k * batch, latent))  # (k * B, D)
    x_flat = x.flatten(1)  # (B, D)
    if logits.shape != (k * batch, x_flat.shape[1]):
        raise ValueError(
            f"model.decode returned {tuple(logits.shape)}, expected (k * B, D) = "
            f"{(k * batch, x_flat.shape[1])}: decode must give flat logits per sample"
        )
    x_rep = x_flat.expand(k, *x_flat.shape).reshape(k * batch, -1)  # (k * B, D)
    log_px_z = bernoulli_log_likelihood(logits, x_rep).view(k, batch)  # (k, B)
    log_pz = -0.5 * (z.pow(2) + _LOG_2PI).sum(dim=2)  # (k, B), log N(z; 0, I)
    # (z - mu) / sigma is exactly the noise, so log q needs no division by sigma.
    log_qz = -0.5 * (noise.pow(2) + logvar + _LOG_2PI).sum(dim=2)  # (k, B)
    log_w = log_px_z + log_pz - log_qz  # (k, B), log importance weights
    return torch.logsumexp(log_w, dim=0) - math.log(k)  # (B,)


# ----------------------------------------------------------------------------- models


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them and nothing after the last."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """A fully connected VAE with a Gaussian encoder and a Bernoulli decoder.

    Encoder ``in_dim -> hidden[0] -> ... -> 2 * latent_dim`` (ReLU between layers),
    split into ``mu`` and ``logvar``; decoder ``latent_dim -> ... -> hidden[0] ->
    in_dim`` giving *logits* (no sigmoid: :func:`bernoulli_log_likelihood` works on
    logits for stability). Train with ``-elbo(x, *model(x)).mean()`` on ``x`` in [0, 1].

    Shapes: ``encode`` (B, *) -> ``(mu, logvar)`` (B, latent_dim) each, flattening every
    non-batch dim; ``decode`` (B, latent_dim) -> logits (B, in_dim); ``forward`` ->
    ``(logits shaped like x, mu, logvar)``; ``sample(n)`` -> probabilities (n, in_dim).
    """

    def __init__(self, in_dim: int, latent_dim: int, hidden: Sequence[int] = (512, 256)) -> None:
        super().__init__()
        if in_dim < 1 or latent_dim < 1:
            raise ValueError(f"in_dim and latent_dim must be positive, got {in_dim}, {latent_dim}")
        self.in_dim, self.latent_dim = in_dim, latent_dim
        self.encoder = _mlp([in_dim, *hidden, 2 * latent_dim])  # one head for mu and logvar
        self.decoder = _mlp([latent_dim, *reversed(hidden), in_dim])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.flatten(1)  # (B, D)
        if x.shape[1] != self.in_dim:
            raise ValueError(f"expected {self.in_dim} features per sample, got {x.shape[1]}")
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, latent_dim) each
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z)  # (B, in_dim) logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)  # (B, latent_dim) each
        z = reparameterize(mu, logvar)  # (B, latent_dim)
        return self.decode(z).view_as(x), mu, logvar  # logits like x

    @torch.no_grad()
    def sample(self, n: int, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples :math:`\\sigma(\\mathrm{decode}(z))`, :math:`z \\sim \\mathcal N(0, I)`: probabilities (n, in_dim).

        Returns the Bernoulli means (grey images), not binary draws; ``noise``
        (n, latent_dim) replaces the prior draw when given. No gradients are kept.
        """
        p = next(self.parameters())
        if noise is None:
            noise = torch.randn(n, self.latent_dim, dtype=p.dtype, device=p.device)
        if noise.shape != (n, self.latent_dim):
            raise ValueError(f"noise must be (n, latent_dim) = {(n, self.latent_dim)}")
        return torch.sigmoid(self.decode(noise))  # (n, in_dim)


class ConditionalVAE(nn.Module):
    """A VAE conditioned on a class label (Sohn et al. 2015): :math:`q(z \\mid x, y)`, :math:`p(x \\mid z, y)`.

    The label enters as a one-hot vector concatenated to the encoder input
    (``in_dim + num_classes``) and to the decoder input (``latent_dim + num_classes``);
    the prior stays :math:`\\mathcal N(0, I)`. Because the decoder is told the class, the
    latent is free to code the style, and ``sample(n, y)`` draws digits of a chosen class.

    Shapes: ``y`` (B,) int64 class indices in ``[0, num_classes)``; otherwise as in
    :class:`VAE`: ``forward(x, y)`` -> ``(logits like x, mu, logvar)``,
    ``sample(n, y)`` -> probabilities (n, in_dim), ``y`` an int or (n,) labels.
    """

    def __init__(
        self,
        in_dim: int,
        latent_dim: int,
        num_classes: int,
        hidden: Sequence[int] = (512, 256),
    ) -> None:
        super().__init__()
        if in_dim < 1 or latent_dim < 1 or num_classes < 1:
            raise ValueError(
                f"in_dim, latent_dim and num_classes must be positive, got "
                f"{in_dim}, {latent_dim}, {num_classes}"
            )
        self.in_dim, self.latent_dim, self.num_classes = in_dim, latent_dim, num_classes
        self.encoder = _mlp([in_dim + num_classes, *hidden, 2 * latent_dim])
        self.decoder = _mlp([latent_dim + num_classes, *reversed(hidden), in_dim])

    def _one_hot(self, y: torch.Tensor, batch: int, like: torch.Tensor) -> torch.Tensor:
        if y.shape != (batch,) or y.dtype.is_floating_point:
            raise ValueError(
                f"y must be (B,) = ({batch},) integer class indices, got shape {tuple(y.shape)} "
                f"and dtype {y.dtype}"
            )
        if batch and (y.min() < 0 or y.max() >= self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes}), got {y.tolist()}")
        return F.one_hot(y.long(), self.num_classes).to(like)  # (B, num_classes)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.flatten(1)  # (B, D)
        if x.shape[1] != self.in_dim:
            raise ValueError(f"expected {self.in_dim} features per sample, got {x.shape[1]}")
        h = torch.cat([x, self._one_hot(y, x.shape[0], x)], dim=1)  # (B, D + num_classes)
        mu, logvar = self.encoder(h).chunk(2, dim=1)  # (B, latent_dim) each
        return mu, logvar

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (B, {self.latent_dim}), got {tuple(z.shape)}")
        h = torch.cat([z, self._one_hot(y, z.shape[0], z)], dim=1)  # (B, latent + num_classes)
        return self.decoder(h)  # (B, in_dim) logits

    def forward(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x, y)  # (B, latent_dim) each
        z = reparameterize(mu, logvar)  # (B, latent_dim)
        return self.decode(z, y).view_as(x), mu, logvar  # logits like x

    @torch.no_grad()
    def sample(
        self, n: int, y: int | torch.Tensor, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``n`` samples of class ``y`` (an int for all, or (n,) labels): probabilities (n, in_dim)."""
        p = next(self.parameters())
        if isinstance(y, int):
            y = torch.full((n,), y, dtype=torch.long, device=p.device)  # (n,)
        if noise is None:
            noise = torch.randn(n, self.latent_dim, dtype=p.dtype, device=p.device)
        if noise.shape != (n, self.latent_dim):
            raise ValueError(f"noise must be (n, latent_dim) = {(n, self.latent_dim)}")
        return torch.sigmoid(self.decode(noise, y))  # (n, in_dim)
