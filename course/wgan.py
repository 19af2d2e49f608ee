"""Week 04 — Wasserstein GANs: a critic that estimates the earth mover's distance.

The earth mover's (Wasserstein-1) distance between :math:`P_r` and :math:`P_g` is

.. math::
    W(P_r, P_g) = \\inf_{\\gamma \\in \\Pi(P_r, P_g)} \\mathbb E_{(x, y) \\sim \\gamma}
    \\lVert x - y \\rVert
    = \\sup_{\\lVert f \\rVert_L \\le 1} \\mathbb E_{P_r}[f(x)] - \\mathbb E_{P_g}[f(x)],

the second form by Kantorovich-Rubinstein duality (Arjovsky et al. 2017, eq. 2-3). Unlike
JS it is continuous in the generator's parameters even when the supports are disjoint
(their Example 1, the parallel lines: :math:`W = |\\theta|` while
:math:`\\mathrm{JS} = \\log 2` for every :math:`\\theta \\ne 0`). A *critic* :math:`f`
(unbounded scores, no sigmoid) approximates the sup; the Lipschitz constraint is enforced
by weight clipping (Arjovsky et al. 2017, Algorithm 1), by a gradient penalty (Gulrajani et
al. 2017, eq. 3), or, for ordinary GAN discriminators, by the R1 penalty on real data
(Mescheder et al. 2018, eq. 9). The order follows the lecture: the losses, clipping, the
gradient penalty, EM in 1-D, R1, and a convolutional critic for 28x28 images.

Conventions: losses are batch means to be *minimised*; penalties come *without* their
weight (:math:`\\lambda`, :math:`\\gamma / 2`): the training loop multiplies, so the value
is comparable across papers.
"""

from __future__ import annotations

import torch
from torch import nn

from course.gan import dcgan_init_

__all__ = [
    "ConvCritic",
    "clip_weights_",
    "critic_loss",
    "generator_loss",
    "gradient_penalty",
    "r1_penalty",
    "wasserstein_1d",
]


def _check_scores(t: torch.Tensor, name: str) -> None:
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor of critic scores")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty: the mean of an empty batch is undefined")


# ----------------------------------------------------------------------------- the losses


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The critic's loss, :math:`\\mathbb E[f(\\tilde x)] - \\mathbb E[f(x)]` (Arjovsky et al. 2017, Alg. 1).

    Minimising it maximises the dual objective of eq. 3, so :math:`-L_f` estimates
    :math:`W(P_r, P_g)` (up to the Lipschitz constant) once the critic is trained. Scores
    are raw (no sigmoid, no log). Pass ``fake_scores = f(G(z).detach())``.

    Shapes: ``real_scores`` (B_r,) or (B_r, 1), ``fake_scores`` (B_f,) or (B_f, 1) -> scalar.
    """
    _check_scores(real_scores, "real_scores")
    _check_scores(fake_scores, "fake_scores")
    return fake_scores.mean() - real_scores.mean()  # scalar


def generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN generator's loss, :math:`-\\mathbb E[f(G(z))]` (Arjovsky et al. 2017, Alg. 1).

    The real term of :math:`W` does not depend on :math:`G` and is dropped.

    Shapes: ``fake_scores`` (B,) or (B, 1) -> scalar.
    """
    _check_scores(fake_scores, "fake_scores")
    return -fake_scores.mean()  # scalar


# ----------------------------------------------------------------------------- Lipschitz constraints


@torch.no_grad()
def clip_weights_(critic: nn.Module, c: float = 0.01) -> None:
    """Clamp every parameter of ``critic`` (weights *and* biases) to :math:`[-c, c]`, in place.

    Weight clipping (Arjovsky et al. 2017, Alg. 1 line 7, :math:`c = 0.01`) keeps the
    parameters in a compact set, so the critic is :math:`K`-Lipschitz for some :math:`K`
    depending on :math:`c` and the architecture (for a ReLU/LeakyReLU MLP,
    :math:`K \\le \\prod_l \\lVert W_l \\rVert_2`). Call after every critic step. The paper
    itself calls clipping "a clearly terrible way to enforce a Lipschitz constraint": too
    small a :math:`c` vanishes gradients, too large slows convergence.
    """
    if c <= 0:
        raise ValueError(f"c must be > 0, got {c}")
    for p in critic.parameters():
        p.clamp_(-c, c)


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    alpha: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017, eq. 3), without :math:`\\lambda`.

    .. math::
        \\hat x = \\alpha x + (1 - \\alpha) \\tilde x, \\quad \\alpha \\sim U[0, 1], \\qquad
        \\mathrm{GP} = \\mathbb E\\big[(\\lVert \\nabla_{\\hat x} f(\\hat x) \\rVert_2 - 1)^2\\big].

    The optimal critic has gradient norm 1 on lines between coupled real and fake points
    (their Prop. 1), so the penalty is sampled there. ``real`` and ``fake`` are
    **detached** first: the penalty constrains the critic only and never pushes the
    generator. The gradient is taken with ``create_graph=True`` so ``penalty.backward()``
    reaches the critic's parameters (a double backward). The norm is over all non-batch
    dimensions of each sample; the mean is over the batch. Use ``critic_loss(...) + 10 *
    gradient_penalty(...)`` with the paper's :math:`\\lambda = 10`; do not combine with
    BatchNorm in the critic (it couples the per-sample gradients; the paper uses
    LayerNorm or none).

    ``alpha``: one mixing weight per sample, (B,) or broadcastable (B, 1, ..., 1); drawn
    :math:`U[0, 1]` like ``real`` (from ``generator`` if given) when None.

    Shapes: ``real``, ``fake`` (B, ...) -> scalar; ``critic`` maps (B, ...) to (B,) or (B, 1).
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {tuple(real.shape)} and "
            f"{tuple(fake.shape)}: draw as many fakes as the real batch"
        )
    if real.ndim < 2:
        raise ValueError(f"real must be batched (B, ...), got shape {tuple(real.shape)}")
    real, fake = real.detach(), fake.detach()  # the penalty must not reach the generator
    batch = real.shape[0]
    bcast = (batch,) + (1,) * (real.ndim - 1)  # (B, 1, ..., 1)
    if alpha is None:
        alpha = torch.rand(batch, generator=generator, dtype=real.dtype, device=real.device)
    if alpha.shape == (batch,):
        alpha = alpha.view(bcast)  # (B, 1, ..., 1)
    if alpha.shape != bcast:
        raise ValueError(
            f"alpha must be (B,) = ({batch},) or {bcast}: one mixing weight per sample, "
            f"got {tuple(alpha.shape)}"
        )
    alpha = alpha.to(real)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)  # (B, ...)
    scores = critic(x_hat)  # (B,) or (B, 1)
    if scores.numel() != batch:
        raise ValueError(
            f"critic must return one score per sample, (B,) or (B, 1), got {tuple(scores.shape)}"
        )
    # Samples are independent, so d(sum of scores)/dx_hat_i = d f(x_hat_i)/dx_hat_i.
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # (B, ...)
    grad_norm = grad.flatten(1).norm(2, dim=1)  # (B,)
    return (grad_norm - 1).pow(2).mean()  # scalar


# ----------------------------------------------------------------------------- EM in 1-D


def wasserstein_1d(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Earth mover's distance between two equal-size 1-D samples (as empirical measures).

    In 1-D the optimal transport plan is monotone: the i-th smallest of ``x`` goes to the
    i-th smallest of ``y``, so

    .. math::
        W_1(\\hat P_x, \\hat P_y) = \\frac1N \\sum_i |x_{(i)} - y_{(i)}|,

    the integral :math:`\\int |F_x - F_y|` of the difference of the empirical CDFs
    (equals ``scipy.stats.wasserstein_distance(x, y)``).

    Shapes: ``x`` (N,), ``y`` (N,) -> 0-d tensor.
    """
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"x and y must be 1-D samples of the same size (N,), got {tuple(x.shape)} and "
            f"{tuple(y.shape)}: flatten with .flatten() or subsample to equal N"
        )
    if x.numel() == 0:
        raise ValueError("x and y are empty")
    x_sorted = torch.sort(x).values  # (N,)
    y_sorted = torch.sort(y.to(x)).values  # (N,)
    return (x_sorted - y_sorted).abs().mean()  # ()


# ----------------------------------------------------------------------------- R1


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The R1 penalty (Mescheder et al. 2018, eq. 9), without :math:`\\gamma / 2`.

    .. math::
        R_1 = \\mathbb E_{x \\sim P_r}\\big[\\lVert \\nabla_x D(x) \\rVert_2^2\\big],

    penalising the discriminator's gradient on real data only, which makes the GAN
    dynamics locally convergent near the equilibrium. Norm over all non-batch dims, mean
    over the batch; ``create_graph=True`` so the penalty trains the discriminator. Use as
    ``d_loss + gamma / 2 * r1_penalty(D(real), real)``.

    ``real`` must require grad *before* it goes through the discriminator:
    ``real = real.detach().requires_grad_(True); real_logits = D(real)``.

    Shapes: ``real_logits`` (B,) or (B, 1), ``real`` (B, ...) -> scalar.
    """
    if not real.requires_grad:
        raise ValueError(
            "real does not require grad, so the gradient of D(real) w.r.t. real is undefined: "
            "call real = real.detach().requires_grad_(True) before computing real_logits = D(real)"
        )
    if real.ndim < 2:
        raise ValueError(f"real must be batched (B, ...), got shape {tuple(real.shape)}")
    if real_logits.numel() != real.shape[0]:
        raise ValueError(
            f"real_logits must hold one logit per sample of real, (B,) or (B, 1) with "
            f"B = {real.shape[0]}, got shape {tuple(real_logits.shape)}"
        )
    if real_logits.grad_fn is None:
        raise ValueError(
            "real_logits has no graph: compute it from real (real_logits = D(real)) "
            "outside torch.no_grad()"
        )
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)  # like real
    return grad.flatten(1).pow(2).sum(dim=1).mean()  # scalar


# ----------------------------------------------------------------------------- a critic for images


class ConvCritic(nn.Module):
    """The DCGAN discriminator (:class:`course.gan.DCGANDiscriminator`) without BatchNorm:
    a critic for 28x28 images whose score of one image never depends on the rest of the batch.

    - Conv(channels, base, k=4, s=2, p=1): (B, base, 14, 14), LeakyReLU(0.2)
    - Conv(base, 2*base, k=4, s=2, p=1): (B, 2*base, 7, 7), LeakyReLU(0.2)
    - Conv(2*base, 1, k=7): (B, 1, 1, 1) -> scores (B,)

    Why no BatchNorm: the gradient penalty constrains :math:`\\lVert \\nabla_x f(x) \\rVert`
    *per sample*, which is meaningless when :math:`f(x_i)` depends on every :math:`x_j` of
    the batch (Gulrajani et al. 2017, sec. 4: "no critic batch normalization"; they suggest
    layer normalization instead). Without it the network is also a plain composition of
    convolutions and 1-Lipschitz LeakyReLUs, so clipping its weights bounds its Lipschitz
    constant. Outputs raw scores (no sigmoid): use with :func:`critic_loss`, or as logits
    with the losses of :mod:`course.gan`, so that every loss of a comparison sees the same
    network. Initialised like DCGAN (:func:`course.gan.dcgan_init_`).

    Shapes: (B, channels, 28, 28) -> (B,).
    """

    def __init__(self, channels: int = 1, base: int = 64) -> None:
        super().__init__()
        self.channels = channels
        self.net = nn.Sequential(
            nn.Conv2d(channels, base, 4, 2, 1),  # (B, base, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2d(base, 2 * base, 4, 2, 1),  # (B, 2*base, 7, 7)
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * base, 1, 7, 1, 0),  # (B, 1, 1, 1)
        )
        self.apply(dcgan_init_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.channels, 28, 28):
            raise ValueError(
                f"x must be (B, {self.channels}, 28, 28), got {tuple(x.shape)}: "
                "flattened images need x.view(-1, C, 28, 28)"
            )
        return self.net(x).flatten()  # (B,)
