"""Week 08 — denoising diffusion: learn to undo a fixed, gradual noising process.

The forward process adds Gaussian noise in ``T`` small steps (Ho et al. 2020, eq. 2)

.. math::
    q(x_t \\mid x_{t-1}) = \\mathcal N(\\sqrt{1 - \\beta_t}\\, x_{t-1}, \\beta_t I),
    \\qquad q(x_t \\mid x_0) = \\mathcal N(\\sqrt{\\bar\\alpha_t}\\, x_0, (1 - \\bar\\alpha_t) I),

with :math:`\\alpha_t = 1 - \\beta_t` and :math:`\\bar\\alpha_t = \\prod_{s \\le t} \\alpha_s`
(eq. 4). A network :math:`\\varepsilon_\\theta(x_t, t)` is trained to predict the noise
(eq. 14), and sampling runs the reverse chain with DDPM (Algorithm 2) or DDIM (Song et al.
2021, eq. 12) steps. The order follows the lecture: beta schedules, the precomputed
schedule, the forward process, the true posterior, the reverse steps, the time embedding,
classifier-free guidance, the training loss, and the U-Net.

Conventions: code indexes steps from 0, so ``alphas_cumprod[i]`` is the paper's
:math:`\\bar\\alpha_{i+1}` and ``t`` runs over ``0 .. T-1`` (as in diffusers). Every
schedule is kept in float64 and cast to the input's dtype and device where used; a ``t``
that is a tensor is ``(B,)`` long, a ``t`` that is an ``int`` is one step for the whole
batch. No function clips the predicted :math:`x_0`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DiffusionSchedule",
    "UNet",
    "cosine_beta_schedule",
    "ddim_step",
    "ddpm_step",
    "diffusion_loss",
    "extract",
    "guided_eps",
    "linear_beta_schedule",
    "predict_x0_from_eps",
    "q_posterior",
    "q_sample",
    "timestep_embedding",
]


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, names: str, hint: str = "") -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
            + (f": {hint}" if hint else "")
        )


def _check_t(t: torch.Tensor, x: torch.Tensor, num_timesteps: int) -> None:
    """``t`` must be (B,) integer with 0 <= t < T, one step per sample of ``x`` (B, ...)."""
    if not isinstance(t, torch.Tensor) or t.ndim != 1:
        raise ValueError(
            f"t must be a (B,) long tensor, got {type(t).__name__}"
            + (f" of shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else "")
            + ": one timestep per sample, e.g. torch.full((B,), t, dtype=torch.long)"
        )
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"t must hold integer steps (torch.long), got dtype {t.dtype}")
    if x.ndim < 1 or t.shape[0] != x.shape[0]:
        raise ValueError(
            f"t must have one entry per sample: t has shape {tuple(t.shape)}, "
            f"x has shape {tuple(x.shape)}"
        )
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_timesteps):
        raise ValueError(
            f"t must lie in 0..{num_timesteps - 1} (steps are indexed from 0), got values in "
            f"[{int(t.min())}, {int(t.max())}]"
        )


def _check_int_t(t: int, num_timesteps: int, name: str = "t", low: int = 0) -> None:
    if isinstance(t, bool) or not isinstance(t, int):
        raise ValueError(f"{name} must be a Python int, got {type(t).__name__}")
    if not low <= t < num_timesteps:
        raise ValueError(f"{name} must lie in {low}..{num_timesteps - 1}, got {t}")


# ----------------------------------------------------------------------------- schedules


def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Linearly spaced :math:`\\beta_1, \\dots, \\beta_T` (Ho et al. 2020, sec. 4).

    ``beta_start`` and ``beta_end`` are the paper's values for ``T = 1000``; both ends are
    included (``torch.linspace``, as diffusers' ``beta_schedule="linear"``).

    Shapes: -> (T,) float64.
    """
    if T < 1:
        raise ValueError(f"T must be a positive number of steps, got {T}")
    if not 0 < beta_start <= beta_end < 1:
        raise ValueError(
            f"need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}"
        )
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)  # (T,)


def cosine_beta_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021, eq. 17) as betas.

    With :math:`f(u) = \\cos^2\\!\\big(\\tfrac{u/T + s}{1 + s} \\cdot \\tfrac{\\pi}{2}\\big)`,

    .. math::
        \\beta_i = \\min\\!\\left(1 - \\frac{f(i + 1)}{f(i)},\\ \\text{max\\_beta}\\right),
        \\qquad i = 0, \\dots, T - 1,

    so :math:`\\bar\\alpha` follows :math:`f(t)/f(0)` until the cap. The small offset ``s``
    keeps :math:`\\beta` from being tiny near ``t = 0``; ``max_beta`` < 1 avoids the
    singularity at ``t = T`` where :math:`f = 0` (their sec. 3.2). No lower clip (as
    diffusers' ``beta_schedule="squaredcos_cap_v2"``).

    Shapes: -> (T,) float64.
    """
    if T < 1:
        raise ValueError(f"T must be a positive number of steps, got {T}")
    u = torch.arange(T + 1, dtype=torch.float64)  # (T+1,)
    f = torch.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2  # (T+1,)
    betas = 1 - f[1:] / f[:-1]  # (T,)
    return betas.clamp(max=max_beta)  # (T,)


class DiffusionSchedule:
    """Every per-step constant of the forward process and its posterior, in float64.

    Precomputed once (as lucidrains' ``GaussianDiffusion``) from ``betas`` (T,):

    - ``alphas`` :math:`= 1 - \\beta_t`; ``alphas_cumprod`` :math:`= \\bar\\alpha_t =
      \\prod_{s \\le t} \\alpha_s`; ``alphas_cumprod_prev`` :math:`= \\bar\\alpha_{t-1}`,
      with 1 at index 0 (no noise before the first step).
    - ``posterior_variance`` :math:`\\tilde\\beta_t = \\beta_t (1 - \\bar\\alpha_{t-1}) /
      (1 - \\bar\\alpha_t)` (Ho et al. 2020, eq. 7), exactly 0 at index 0: :math:`x_0` is
      known given :math:`x_0`.
    - ``posterior_mean_coef1`` :math:`= \\beta_t \\sqrt{\\bar\\alpha_{t-1}} / (1 - \\bar\\alpha_t)`
      and ``posterior_mean_coef2`` :math:`= (1 - \\bar\\alpha_{t-1}) \\sqrt{\\alpha_t} /
      (1 - \\bar\\alpha_t)`, the weights of :math:`x_0` and :math:`x_t` in
      :math:`\\tilde\\mu_t` (eq. 7).
    - ``sqrt_alphas_cumprod``, ``sqrt_one_minus_alphas_cumprod`` (used by ``q_sample``) and
      ``num_timesteps`` ``T``.

    Functions cast these to the input's dtype and device with :func:`extract`.
    """

    def __init__(self, betas: torch.Tensor):
        betas = torch.as_tensor(betas).to(torch.float64)  # (T,), float64 whatever came in
        if betas.ndim != 1 or betas.numel() == 0:
            raise ValueError(
                f"betas must be a non-empty (T,) tensor, got shape {tuple(betas.shape)}"
            )
        if bool((betas <= 0).any()) or bool((betas > 1).any()):
            raise ValueError("betas must lie in (0, 1]: each step must add some noise")
        self.num_timesteps = betas.shape[0]
        self.betas = betas  # (T,)
        self.alphas = 1.0 - betas  # (T,)
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)  # (T,)
        self.alphas_cumprod_prev = F.pad(self.alphas_cumprod[:-1], (1, 0), value=1.0)  # (T,)
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()  # (T,)
        self.sqrt_one_minus_alphas_cumprod = (1.0 - self.alphas_cumprod).sqrt()  # (T,)
        # Eq. 7; (1 - abar_prev) is exactly 0 at index 0, so the variance is exactly 0 there.
        one_minus_abar = 1.0 - self.alphas_cumprod  # (T,)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / one_minus_abar  # (T,)
        self.posterior_mean_coef1 = betas * self.alphas_cumprod_prev.sqrt() / one_minus_abar  # (T,)
        self.posterior_mean_coef2 = (
            (1.0 - self.alphas_cumprod_prev) * self.alphas.sqrt() / one_minus_abar
        )  # (T,)

    def __len__(self) -> int:
        return self.num_timesteps

    def __repr__(self) -> str:
        return (
            f"DiffusionSchedule(T={self.num_timesteps}, beta in "
            f"[{self.betas.min().item():.3g}, {self.betas.max().item():.3g}])"
        )


def extract(
    a: torch.Tensor, t: torch.Tensor, x_shape: torch.Size | tuple[int, ...]
) -> torch.Tensor:
    """Gather ``a[t]`` per sample and shape it to broadcast against ``x``.

    Indexing happens in ``a``'s own dtype (float64 for schedules); the caller casts the
    small result, so no precision is lost before the gather.

    Shapes: ``a`` (T,), ``t`` (B,) long, ``x_shape`` (B, ...) -> (B, 1, ..., 1).
    """
    if a.ndim != 1:
        raise ValueError(f"a must be a (T,) schedule, got shape {tuple(a.shape)}")
    if t.ndim != 1:
        raise ValueError(f"t must be (B,), got shape {tuple(t.shape)}")
    out = a.to(t.device)[t]  # (B,)
    return out.view(t.shape[0], *([1] * (len(x_shape) - 1)))  # (B, 1, ..., 1)


def _coef(a: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """:func:`extract` cast to ``x``'s dtype and device: (B, 1, ..., 1)."""
    return extract(a, t.to(x.device), x.shape).to(device=x.device, dtype=x.dtype)


# ----------------------------------------------------------------------------- forward process


def q_sample(
    x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None, schedule: DiffusionSchedule
) -> torch.Tensor:
    """Draw :math:`x_t \\sim q(x_t \\mid x_0)` in one shot (Ho et al. 2020, eq. 4).

    :math:`x_t = \\sqrt{\\bar\\alpha_t}\\, x_0 + \\sqrt{1 - \\bar\\alpha_t}\\, \\varepsilon`,
    :math:`\\varepsilon \\sim \\mathcal N(0, I)` drawn like ``x0`` when ``noise`` is None.

    Shapes: ``x0``, ``noise`` (B, ...), ``t`` (B,) long -> (B, ...).
    """
    _check_t(t, x0, schedule.num_timesteps)
    if noise is None:
        noise = torch.randn_like(x0)
    _check_same_shape(noise, x0, "noise and x0")
    return (
        _coef(schedule.sqrt_alphas_cumprod, t, x0) * x0
        + _coef(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * noise
    )  # (B, ...)


def q_posterior(
    x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, schedule: DiffusionSchedule
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the true posterior :math:`q(x_{t-1} \\mid x_t, x_0)` (eq. 6-7).

    .. math::
        \\tilde\\mu_t = \\frac{\\sqrt{\\bar\\alpha_{t-1}}\\beta_t}{1 - \\bar\\alpha_t} x_0
        + \\frac{\\sqrt{\\alpha_t}(1 - \\bar\\alpha_{t-1})}{1 - \\bar\\alpha_t} x_t, \\qquad
        \\tilde\\beta_t = \\frac{1 - \\bar\\alpha_{t-1}}{1 - \\bar\\alpha_t} \\beta_t.

    At ``t = 0`` the mean is ``x0`` and the variance 0.

    Shapes: ``x0``, ``x_t`` (B, ...), ``t`` (B,) long -> mean (B, ...), variance
    (B, 1, ..., 1) (the same for every element of a sample; broadcasts against x).
    """
    _check_same_shape(x0, x_t, "x0 and x_t")
    _check_t(t, x_t, schedule.num_timesteps)
    mean = (
        _coef(schedule.posterior_mean_coef1, t, x_t) * x0
        + _coef(schedule.posterior_mean_coef2, t, x_t) * x_t
    )  # (B, ...)
    variance = _coef(schedule.posterior_variance, t, x_t)  # (B, 1, ..., 1)
    return mean, variance


def predict_x0_from_eps(
    x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, schedule: DiffusionSchedule
) -> torch.Tensor:
    """Invert :func:`q_sample` for :math:`x_0` given a noise (prediction), eq. 15.

    :math:`\\hat x_0 = (x_t - \\sqrt{1 - \\bar\\alpha_t}\\, \\varepsilon) / \\sqrt{\\bar\\alpha_t}`.
    Not clipped: images in [-1, 1] may be clamped by the caller if wanted.

    Shapes: ``x_t``, ``eps`` (B, ...), ``t`` (B,) long -> (B, ...).
    """
    _check_same_shape(eps, x_t, "eps and x_t", "the model must predict noise shaped like x_t")
    _check_t(t, x_t, schedule.num_timesteps)
    return (x_t - _coef(schedule.sqrt_one_minus_alphas_cumprod, t, x_t) * eps) / _coef(
        schedule.sqrt_alphas_cumprod, t, x_t
    )  # (B, ...)


# ----------------------------------------------------------------------------- reverse steps


def ddpm_step(
    model_eps: torch.Tensor,
    x_t: torch.Tensor,
    t: int,
    schedule: DiffusionSchedule,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """One ancestral sampling step :math:`x_t \\to x_{t-1}` (Ho et al. 2020, Algorithm 2).

    :math:`\\hat x_0` from :func:`predict_x0_from_eps`, then
    :math:`x_{t-1} = \\tilde\\mu_t(\\hat x_0, x_t) + \\sigma_t z` with
    :math:`\\sigma_t^2 = \\beta_t` (the paper's "fixed large" choice; :math:`\\tilde\\beta_t`
    is the other, sec. 3.2) and :math:`z \\sim \\mathcal N(0, I)` drawn like ``x_t`` when
    ``noise`` is None. No noise is added at ``t = 0``: the last step returns the mean.
    No clipping of :math:`\\hat x_0`. Equals diffusers' ``DDPMScheduler(
    variance_type="fixed_large", clip_sample=False).step``.

    Shapes: ``model_eps``, ``x_t``, ``noise`` (B, ...), ``t`` an int in 0..T-1 -> (B, ...).
    """
    _check_int_t(t, schedule.num_timesteps)
    _check_same_shape(model_eps, x_t, "model_eps and x_t")
    t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)  # (B,)
    x0_hat = predict_x0_from_eps(x_t, t_batch, model_eps, schedule)  # (B, ...)
    mean, _ = q_posterior(x0_hat, x_t, t_batch, schedule)  # (B, ...)
    if t == 0:
        return mean
    if noise is None:
        noise = torch.randn_like(x_t)
    _check_same_shape(noise, x_t, "noise and x_t")
    sigma = schedule.betas[t].sqrt().to(device=x_t.device, dtype=x_t.dtype)  # ()
    return mean + sigma * noise  # (B, ...)


def ddim_step(
    model_eps: torch.Tensor,
    x_t: torch.Tensor,
    t: int,
    t_prev: int,
    schedule: DiffusionSchedule,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """One DDIM step :math:`x_t \\to x_{t'}`, ``t' = t_prev < t`` (Song et al. 2021, eq. 12).

    .. math::
        x_{t'} = \\sqrt{\\bar\\alpha_{t'}}\\, \\hat x_0
        + \\sqrt{1 - \\bar\\alpha_{t'} - \\sigma_t^2}\\; \\varepsilon_\\theta + \\sigma_t z,
        \\qquad
        \\sigma_t = \\eta \\sqrt{\\frac{1 - \\bar\\alpha_{t'}}{1 - \\bar\\alpha_t}}
        \\sqrt{1 - \\frac{\\bar\\alpha_t}{\\bar\\alpha_{t'}}}  \\quad (\\text{eq. } 16).

    ``eta = 0`` is deterministic (DDIM), ``eta = 1`` has DDPM's posterior variance.
    ``t_prev = -1`` means :math:`\\bar\\alpha_{t'} = 1` (the final step to clean data).
    ``z`` is drawn like ``x_t`` when ``noise`` is None and :math:`\\sigma_t > 0`. No
    clipping. Equals diffusers' ``DDIMScheduler(clip_sample=False, set_alpha_to_one=True)``
    step.

    Shapes: ``model_eps``, ``x_t``, ``noise`` (B, ...), ``t`` int in 0..T-1, ``t_prev``
    int in -1..t-1 -> (B, ...).
    """
    _check_int_t(t, schedule.num_timesteps)
    _check_int_t(t_prev, t, name="t_prev", low=-1)
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    _check_same_shape(model_eps, x_t, "model_eps and x_t")
    abar_t = schedule.alphas_cumprod[t]  # () float64
    abar_prev = schedule.alphas_cumprod[t_prev] if t_prev >= 0 else torch.ones_like(abar_t)  # ()
    var = (1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)  # () eq. 16 with eta = 1
    sigma = eta * var.sqrt()  # ()
    # Clamp: eta > 1 could make the direction's variance negative; it is >= 0 for eta <= 1.
    dir_coef = (1 - abar_prev - sigma**2).clamp(min=0).sqrt()  # ()

    def cast(c: torch.Tensor) -> torch.Tensor:
        return c.to(device=x_t.device, dtype=x_t.dtype)

    x0_hat = (x_t - cast((1 - abar_t).sqrt()) * model_eps) / cast(abar_t.sqrt())  # (B, ...)
    x_prev = cast(abar_prev.sqrt()) * x0_hat + cast(dir_coef) * model_eps  # (B, ...)
    if eta > 0 and float(sigma) > 0:
        if noise is None:
            noise = torch.randn_like(x_t)
        _check_same_shape(noise, x_t, "noise and x_t")
        x_prev = x_prev + cast(sigma) * noise
    return x_prev


# ----------------------------------------------------------------------------- conditioning


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of the step (Vaswani et al. 2017, sec. 3.5; Ho et al. 2020, app. B).

    With ``half = dim / 2`` and :math:`\\omega_i = 10000^{-i / \\mathrm{half}}`,
    :math:`i = 0, \\dots, \\mathrm{half} - 1`: ``[sin(t w_0), ..., sin(t w_{half-1}),
    cos(t w_0), ..., cos(t w_{half-1})]`` (sines first, as diffusers'
    ``get_timestep_embedding(..., flip_sin_to_cos=False, downscale_freq_shift=0)``).
    Computed in float64; returned as float32 for integer ``t``, else in ``t``'s dtype.

    Shapes: ``t`` (B,) -> (B, dim); ``dim`` even.
    """
    if not isinstance(t, torch.Tensor) or t.ndim != 1:
        raise ValueError("t must be a (B,) tensor of timesteps")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0 or dim % 2:
        raise ValueError(f"dim must be a positive even int ([sin, cos] halves), got {dim}")
    out_dtype = t.dtype if t.dtype.is_floating_point else torch.float32
    half = dim // 2
    i = torch.arange(half, dtype=torch.float64, device=t.device)  # (half,)
    freqs = torch.exp(-math.log(10000.0) * i / half)  # (half,)
    args = t.to(torch.float64)[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([args.sin(), args.cos()], dim=1).to(out_dtype)  # (B, dim)


def guided_eps(
    eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float | torch.Tensor
) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022, eq. 6).

    :math:`\\tilde\\varepsilon = \\varepsilon_\\varnothing + w (\\varepsilon_c -
    \\varepsilon_\\varnothing)`: ``scale = 0`` is unconditional, ``1`` conditional, ``> 1``
    extrapolates past the conditional prediction (sharper, less diverse). Note this ``w``
    is the paper's ``1 + w``.

    Shapes: ``eps_cond``, ``eps_uncond`` (B, ...) -> (B, ...).
    """
    _check_same_shape(eps_cond, eps_uncond, "eps_cond and eps_uncond")
    return eps_uncond + scale * (eps_cond - eps_uncond)


# ----------------------------------------------------------------------------- training


def diffusion_loss(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    schedule: DiffusionSchedule,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """The simplified DDPM objective (Ho et al. 2020, eq. 14).

    :math:`L = \\mathbb E_{t, x_0, \\varepsilon} \\| \\varepsilon - \\varepsilon_\\theta(
    \\sqrt{\\bar\\alpha_t} x_0 + \\sqrt{1 - \\bar\\alpha_t} \\varepsilon, t) \\|^2`, the
    mean over all elements. ``t ~ U{0..T-1}`` per sample and ``noise ~ N(0, I)`` are drawn
    when not given; ``model(x_t, t)`` predicts the noise.

    Shapes: ``x0``, ``noise`` (B, ...), ``t`` (B,) long -> scalar ().
    """
    if t is None:
        t = torch.randint(0, schedule.num_timesteps, (x0.shape[0],), device=x0.device)  # (B,)
    if noise is None:
        noise = torch.randn_like(x0)
    x_t = q_sample(x0, t, noise, schedule)  # (B, ...)
    eps_hat = model(x_t, t)  # (B, ...)
    _check_same_shape(eps_hat, noise, "model(x_t, t) and noise", "the model predicts the noise")
    return F.mse_loss(eps_hat, noise)  # ()


# ----------------------------------------------------------------------------- model


class _ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the time embedding added in between (Ho et al. app. B)."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2 = nn.GroupNorm(min(groups, c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
        h = h + self.time(F.silu(temb))[:, :, None, None]  # (B, c_out, H, W)
        h = self.conv2(F.silu(self.norm2(h)))  # (B, c_out, H, W)
        return h + self.skip(x)  # (B, c_out, H, W)


class UNet(nn.Module):
    """A small time-conditioned U-Net for 28x28 images predicting the noise.

    Two resolutions below the input (28 -> 14 -> 7), one residual block per level on the
    way down and up, skip connections by concatenation, and the sinusoidal
    :func:`timestep_embedding` passed through an MLP and added inside every block.

    With ``num_classes = K`` the model is also class-conditional: a learned embedding of the
    label ``y`` in ``0..K-1`` is added to the time embedding, and the extra label ``K``
    (also used when ``y`` is None) means "no label", the unconditional model of
    classifier-free guidance (Ho & Salimans 2022): train with labels randomly replaced by
    ``K``, sample with :func:`guided_eps` of the two predictions.

    Shapes: ``x`` (B, channels, H, W) with H, W divisible by 4, ``t`` (B,), ``y`` (B,) long
    or None -> (B, channels, H, W).
    """

    def __init__(
        self, channels: int = 1, base: int = 32, time_dim: int = 128, num_classes: int | None = None
    ):
        super().__init__()
        self.time_dim = time_dim
        self.num_classes = num_classes
        self.time_mlp = nn.Sequential(
            nn.Linear(time_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
        )
        # Index num_classes is the "null" label of classifier-free guidance.
        self.label_emb = nn.Embedding(num_classes + 1, time_dim) if num_classes else None
        c1, c2, c3 = base, 2 * base, 2 * base
        self.inc = nn.Conv2d(channels, c1, 3, padding=1)
        self.down1 = _ResBlock(c1, c1, time_dim)
        self.pool1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)  # H -> H/2
        self.down2 = _ResBlock(c2, c2, time_dim)
        self.pool2 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)  # H/2 -> H/4
        self.mid = _ResBlock(c3, c3, time_dim)
        self.up2 = nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1)  # H/4 -> H/2
        self.dec2 = _ResBlock(2 * c2, c2, time_dim)
        self.up1 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)  # H/2 -> H
        self.dec1 = _ResBlock(2 * c1, c1, time_dim)
        self.out = nn.Sequential(
            nn.GroupNorm(min(8, c1), c1), nn.SiLU(), nn.Conv2d(c1, channels, 3, padding=1)
        )
        # Zero the last conv so the untrained model predicts eps = 0 (a stable start).
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(
                f"x must be (B, C, H, W) with H, W divisible by 4, got shape {tuple(x.shape)}"
            )
        if t.ndim != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"t must be (B,) with B = {x.shape[0]}, got shape {tuple(t.shape)}")
        temb = self.time_mlp(timestep_embedding(t, self.time_dim).to(x.dtype))  # (B, time_dim)
        if self.label_emb is not None:
            if y is None:  # unconditional: the null label
                y = torch.full_like(t, self.num_classes, dtype=torch.long)  # (B,)
            if y.shape != t.shape or y.dtype != torch.long:
                raise ValueError(f"y must be (B,) long labels, got {tuple(y.shape)} {y.dtype}")
            if int(y.min()) < 0 or int(y.max()) > self.num_classes:
                raise ValueError(f"y must lie in 0..{self.num_classes} ({self.num_classes} = none)")
            temb = temb + self.label_emb(y).to(x.dtype)  # (B, time_dim)
        elif y is not None:
            raise ValueError("this UNet has no classes: build it with num_classes=K to pass y")
        h1 = self.down1(self.inc(x), temb)  # (B, c1, H, W)
        h2 = self.down2(self.pool1(h1), temb)  # (B, c2, H/2, W/2)
        h = self.mid(self.pool2(h2), temb)  # (B, c3, H/4, W/4)
        h = self.dec2(torch.cat([self.up2(h), h2], dim=1), temb)  # (B, c2, H/2, W/2)
        h = self.dec1(torch.cat([self.up1(h), h1], dim=1), temb)  # (B, c1, H, W)
        return self.out(h)  # (B, channels, H, W)
