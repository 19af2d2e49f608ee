"""The week 08 checks (``course.checks.diffusion``) judged on student-like code.

For every check: realistic wrong implementations must be rejected with the message
that names *their* mistake, correct implementations written another way must pass,
and the course's reference must be refused (itself, or called through a wrapper).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import course.diffusion as ref
from course.checks import diffusion as C

NOT_YOURS = "reference implementation, not your own"
REFERENCE_CALLED = "called the course's reference"
STUB = r"replace `raise NotImplementedError\(\)`"


def _passes(check, fn, capsys) -> None:
    check(fn)
    assert "passed" in capsys.readouterr().out


def _col(a, t, x):
    """a[t] as (B, 1, ..., 1) in x's dtype/device."""
    return a.to(t.device)[t].reshape(-1, *[1] * (x.ndim - 1)).to(x)


# ---------------------------------------------------------------------------------------
# beta schedules
# ---------------------------------------------------------------------------------------


def _lin_float32(T, beta_start=1e-4, beta_end=0.02):
    return torch.linspace(beta_start, beta_end, T)


def _lin_arange(T, beta_start=1e-4, beta_end=0.02):
    return beta_start + (beta_end - beta_start) * torch.arange(T, dtype=torch.float64) / T


def _lin_swapped(T, beta_start=1e-4, beta_end=0.02):
    return torch.linspace(beta_end, beta_start, T, dtype=torch.float64)


def _lin_too_long(T, beta_start=1e-4, beta_end=0.02):
    return torch.linspace(beta_start, beta_end, T + 1, dtype=torch.float64)


@pytest.mark.parametrize(
    "fn, message",
    [
        (_lin_float32, "schedules are kept in float64"),
        (_lin_arange, "the last beta is not beta_end"),
        (_lin_swapped, "beta_start and beta_end are swapped"),
        (_lin_too_long, "gives exactly T values"),
    ],
)
def test_check_linear_beta_schedule_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_linear_beta_schedule(fn)


def _lin_numpy(T, beta_start=1e-4, beta_end=0.02):
    return torch.from_numpy(np.linspace(beta_start, beta_end, T))


def _lin_loop(T, beta_start=1e-4, beta_end=0.02):
    step = (beta_end - beta_start) / (T - 1) if T > 1 else 0.0
    return torch.tensor([beta_start + i * step for i in range(T)], dtype=torch.float64)


@pytest.mark.parametrize("fn", [_lin_numpy, _lin_loop])
def test_check_linear_beta_schedule_accepts_correct_variants(fn, capsys):
    _passes(C.check_linear_beta_schedule, fn, capsys)


def _cos(T, s=0.008, max_beta=0.999, *, square=2, clip=True, shift=0, out="betas", use_s=True):
    s = s if use_s else 0.0
    u = torch.arange(T + 1, dtype=torch.float64) - shift
    f = torch.cos((u / T + s) / (1 + s) * math.pi / 2) ** square
    if out == "abar":
        return f[1:] / f[0]
    betas = 1 - f[1:] / f[:-1]
    return betas.clamp(max=max_beta) if clip else betas


WRONG_COSINE = [
    (functools.partial(_cos, clip=False), "the betas are not clipped"),
    (functools.partial(_cos, shift=1), r"not 1 - f\(i\) / f\(i - 1\)"),
    (functools.partial(_cos, use_s=False), "the offset s is missing"),
    (functools.partial(_cos, square=1), "you used cos where the schedule has cos"),
    (functools.partial(_cos, out="abar"), "you returned alphas_cumprod"),
]


@pytest.mark.parametrize("fn, message", WRONG_COSINE)
def test_check_cosine_beta_schedule_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_cosine_beta_schedule(fn)


def _cos_abar(T, s=0.008, max_beta=0.999):
    def abar(t):
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2

    return torch.tensor(
        [min(1 - abar(i + 1) / abar(i), max_beta) for i in range(T)], dtype=torch.float64
    )


def _cos_minimum(T, s=0.008, max_beta=0.999):
    x = torch.linspace(0, T, T + 1, dtype=torch.float64)
    ac = torch.cos(((x / T) + s) / (1 + s) * torch.pi * 0.5).pow(2)
    ac = ac / ac[0]
    return torch.minimum(1 - ac[1:] / ac[:-1], torch.tensor(max_beta, dtype=torch.float64))


@pytest.mark.parametrize("fn", [_cos_abar, _cos_minimum])
def test_check_cosine_beta_schedule_accepts_correct_variants(fn, capsys):
    _passes(C.check_cosine_beta_schedule, fn, capsys)


# ---------------------------------------------------------------------------------------
# q_sample
# ---------------------------------------------------------------------------------------


def _qs(coef_x, coef_n):
    def q_sample(x0, t, noise, schedule):
        if noise is None:
            noise = torch.randn_like(x0)
        a = coef_x(schedule)
        b = coef_n(schedule)
        return _col(a, t, x0) * x0 + _col(b, t, x0) * noise

    return q_sample


def _qs_flat(x0, t, noise, schedule):
    abar = schedule.alphas_cumprod[t].to(x0)  # (B,) broadcast along the last dim
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def _qs_one_t(x0, t, noise, schedule):
    abar = schedule.alphas_cumprod[int(t[0])].to(x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def _qs_ignores_noise(x0, t, noise, schedule):
    noise = torch.randn_like(x0)
    return (
        _col(schedule.alphas_cumprod.sqrt(), t, x0) * x0
        + _col((1 - schedule.alphas_cumprod).sqrt(), t, x0) * noise
    )


WRONG_Q_SAMPLE = [
    (
        _qs(lambda s: s.alphas_cumprod, lambda s: (1 - s.alphas_cumprod).sqrt()),
        "sqrt on alphas_cumprod is missing",
    ),  # noqa: E501
    (_qs(lambda s: s.alphas.sqrt(), lambda s: (1 - s.alphas).sqrt()), "you used alphas"),
    (
        _qs(lambda s: s.alphas_cumprod_prev.sqrt(), lambda s: (1 - s.alphas_cumprod_prev).sqrt()),
        "indexed alphas_cumprod at t - 1",
    ),  # noqa: E501
    (
        _qs(lambda s: s.alphas_cumprod.sqrt(), lambda s: 1 - s.alphas_cumprod),
        "scaled by the variance 1 - abar_t",
    ),  # noqa: E501
    (_qs_flat, r"reshape it to \(B, 1, \.\.\., 1\)"),
    (_qs_one_t, "every sample used the first sample's step"),
    (_qs_ignores_noise, "different x_t for the same noise"),
]


@pytest.mark.parametrize("fn, message", WRONG_Q_SAMPLE)
def test_check_q_sample_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_q_sample(fn)


def _qs_from_betas(x0, t, noise, schedule):
    if noise is None:
        noise = torch.randn_like(x0)
    abar = torch.cumprod(1 - schedule.betas, 0)[t.cpu()].to(x0)
    shape = (len(x0),) + (1,) * (x0.dim() - 1)
    return abar.sqrt().view(shape) * x0 + (1 - abar).sqrt().view(shape) * noise


def _qs_loop(x0, t, noise, schedule):
    noise = torch.randn_like(x0) if noise is None else noise
    out = torch.empty_like(x0)
    assert len(schedule) == schedule.num_timesteps  # len() works during the check
    for i in range(x0.shape[0]):
        a = float(schedule.alphas_cumprod[int(t[i])])
        out[i] = math.sqrt(a) * x0[i] + math.sqrt(1 - a) * noise[i]
    return out


@pytest.mark.parametrize("fn", [_qs_from_betas, _qs_loop])
def test_check_q_sample_accepts_correct_variants(fn, capsys):
    _passes(C.check_q_sample, fn, capsys)


# ---------------------------------------------------------------------------------------
# q_posterior
# ---------------------------------------------------------------------------------------


def _qp(swap=False, var="posterior", flat_var=False):
    def q_posterior(x0, x_t, t, schedule):
        c1, c2 = schedule.posterior_mean_coef1, schedule.posterior_mean_coef2
        if swap:
            c1, c2 = c2, c1
        mean = _col(c1, t, x0) * x0 + _col(c2, t, x0) * x_t
        v = schedule.posterior_variance if var == "posterior" else schedule.betas
        variance = _col(v, t, x0)
        return mean, variance.flatten() if flat_var else variance

    return q_posterior


@pytest.mark.parametrize(
    "fn, message",
    [
        (_qp(swap=True), "the two coefficients are swapped"),
        (_qp(var="beta"), "you returned beta_t as the variance"),
        (_qp(flat_var=True), r"expected \(B, 1, \.\.\., 1\)"),
    ],
)
def test_check_q_posterior_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_q_posterior(fn)


def _qp_from_scratch(x0, x_t, t, schedule):
    b = schedule.betas
    abar = torch.cumprod(1 - b, 0)
    prev = torch.cat([torch.ones(1, dtype=abar.dtype), abar[:-1]])
    c1 = b * prev.sqrt() / (1 - abar)
    c2 = (1 - prev) * (1 - b).sqrt() / (1 - abar)
    var = b * (1 - prev) / (1 - abar)
    return _col(c1, t, x0) * x0 + _col(c2, t, x0) * x_t, _col(var, t, x0)


def _qp_weighted(x0, x_t, t, schedule):
    beta = _col(schedule.betas, t, x0)
    abar = _col(schedule.alphas_cumprod, t, x0)
    prev = _col(schedule.alphas_cumprod_prev, t, x0)
    mean = (beta * prev.sqrt() * x0 + (1 - prev) * (1 - beta).sqrt() * x_t) / (1 - abar)
    return mean, beta * (1 - prev) / (1 - abar)


@pytest.mark.parametrize("fn", [_qp_from_scratch, _qp_weighted])
def test_check_q_posterior_accepts_correct_variants(fn, capsys):
    _passes(C.check_q_posterior, fn, capsys)


# ---------------------------------------------------------------------------------------
# ddpm_step
# ---------------------------------------------------------------------------------------


def _ddpm(noise_at_0=False, sigma="beta", sqrt_eps=True, divide="alpha"):
    def ddpm_step(model_eps, x_t, t, schedule, noise=None):
        b = float(schedule.betas[t])
        a = float(schedule.alphas[t])
        abar = float(schedule.alphas_cumprod[t])
        coef = b / math.sqrt(1 - abar) if sqrt_eps else b / (1 - abar)
        div = math.sqrt(a) if divide == "alpha" else math.sqrt(abar)
        mean = (x_t - coef * model_eps) / div
        if t == 0 and not noise_at_0:
            return mean
        if noise is None:
            noise = torch.randn_like(x_t)
        var = b if sigma == "beta" else float(schedule.posterior_variance[t])
        return mean + math.sqrt(var) * noise

    return ddpm_step


@pytest.mark.parametrize(
    "fn, message",
    [
        (_ddpm(noise_at_0=True), "noise was added at t = 0"),
        (_ddpm(sigma="posterior"), "fixed_large"),
        (_ddpm(sqrt_eps=False), "the eps coefficient misses a sqrt"),
        (_ddpm(divide="abar"), r"you divided by sqrt\(abar_t\)"),
    ],
)
def test_check_ddpm_step_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_ddpm_step(fn)


def _ddpm_via_posterior(model_eps, x_t, t, schedule, noise=None):
    tt = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
    abar = _col(schedule.alphas_cumprod, tt, x_t)
    x0 = (x_t - (1 - abar).sqrt() * model_eps) / abar.sqrt()
    mean = (
        _col(schedule.posterior_mean_coef1, tt, x_t) * x0
        + _col(schedule.posterior_mean_coef2, tt, x_t) * x_t
    )
    if t > 0:
        noise = torch.randn_like(x_t) if noise is None else noise
        mean = mean + schedule.betas[t].sqrt().to(x_t) * noise
    return mean


@pytest.mark.parametrize("fn", [_ddpm(), _ddpm_via_posterior])
def test_check_ddpm_step_accepts_correct_variants(fn, capsys):
    _passes(C.check_ddpm_step, fn, capsys)


# ---------------------------------------------------------------------------------------
# ddim_step
# ---------------------------------------------------------------------------------------


def _ddim(prev_at="t_prev", use_eta=True, wrap=False):
    def ddim_step(model_eps, x_t, t, t_prev, schedule, eta=0.0, noise=None):
        ac = schedule.alphas_cumprod
        a_t = float(ac[t])
        if prev_at == "t-1":
            a_p = float(schedule.alphas_cumprod_prev[t])
        elif t_prev >= 0 or wrap:
            a_p = float(ac[t_prev])
        else:
            a_p = 1.0
        e = eta if use_eta else 0.0
        sigma = e * math.sqrt((1 - a_p) / (1 - a_t) * (1 - a_t / a_p)) if e > 0 else 0.0
        x0 = (x_t - math.sqrt(1 - a_t) * model_eps) / math.sqrt(a_t)
        out = math.sqrt(a_p) * x0 + math.sqrt(max(1 - a_p - sigma**2, 0.0)) * model_eps
        if sigma > 0:
            out = out + sigma * (torch.randn_like(x_t) if noise is None else noise)
        return out

    return ddim_step


def _ddim_nan_wrap(model_eps, x_t, t, t_prev, schedule, eta=0.0, noise=None):
    a_t, a_p = schedule.alphas_cumprod[t], schedule.alphas_cumprod[t_prev]
    sigma = eta * ((1 - a_p) / (1 - a_t) * (1 - a_t / a_p)).sqrt()  # nan when a_p < a_t
    x0 = (x_t - (1 - a_t).sqrt().to(x_t) * model_eps) / a_t.sqrt().to(x_t)
    d = (1 - a_p - sigma**2).sqrt().to(x_t)
    out = a_p.sqrt().to(x_t) * x0 + d * model_eps
    return out + sigma.to(x_t) * (torch.zeros_like(x_t) if noise is None else noise)


@pytest.mark.parametrize(
    "fn, message",
    [
        (_ddim(prev_at="t-1"), "you took abar_prev at t - 1"),
        (_ddim(use_eta=False), "eta is ignored"),
        (_ddim(wrap=True), r"t_prev = -1 indexed alphas_cumprod\[-1\]"),
        (_ddim_nan_wrap, r"abar_prev = 1 there"),
    ],
)
def test_check_ddim_step_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_ddim_step(fn)


def _ddim_tensors(model_eps, x_t, t, t_prev, schedule, eta=0.0, noise=None):
    ac = schedule.alphas_cumprod
    a_t = ac[t]
    a_p = ac[t_prev] if t_prev >= 0 else torch.tensor(1.0, dtype=torch.float64)
    var = eta**2 * (1 - a_p) / (1 - a_t) * (1 - a_t / a_p)
    pred_x0 = (x_t - (1 - a_t).sqrt().to(x_t) * model_eps) / a_t.sqrt().to(x_t)
    direction = (1 - a_p - var).clamp(min=0).sqrt().to(x_t) * model_eps
    out = a_p.sqrt().to(x_t) * pred_x0 + direction
    if eta > 0:
        out = out + var.sqrt().to(x_t) * (torch.randn_like(x_t) if noise is None else noise)
    return out


@pytest.mark.parametrize("fn", [_ddim(), _ddim_tensors])
def test_check_ddim_step_accepts_correct_variants(fn, capsys):
    _passes(C.check_ddim_step, fn, capsys)


# ---------------------------------------------------------------------------------------
# timestep_embedding
# ---------------------------------------------------------------------------------------


def _te(order="sin_cos", denom="half", base=10000.0, sign=-1.0, out_dtype=None):
    """A student-like embedding computed in float32 (float64 for a float64 t)."""

    def timestep_embedding(t, dim):
        dtype = t.dtype if t.is_floating_point() else torch.float32
        half = dim // 2
        d = {"half": half, "dim": dim}[denom]
        i = torch.arange(half, dtype=dtype, device=t.device)
        freqs = torch.exp(sign * math.log(base) * i / d)
        args = t.to(dtype)[:, None] * freqs[None, :]
        if order == "interleaved":
            emb = torch.stack([args.sin(), args.cos()], dim=-1).reshape(len(t), dim)
        elif order == "cos_sin":
            emb = torch.cat([args.cos(), args.sin()], dim=-1)
        else:
            emb = torch.cat([args.sin(), args.cos()], dim=-1)
        return emb.to(out_dtype) if out_dtype is not None else emb

    return timestep_embedding


@pytest.mark.parametrize(
    "fn, message",
    [
        (_te(order="cos_sin"), "the halves are swapped"),
        (_te(order="interleaved"), "you interleaved sin and cos"),
        (_te(denom="dim"), "the frequency exponent divides by dim"),
        (_te(base=1000.0), "the base is 1000"),
        (_te(sign=1.0), "the minus sign in the exponent is missing"),
        (_te(out_dtype=torch.float64), "integer steps .* give a float32 embedding"),
        (_te(out_dtype=torch.float32), "a float t keeps its dtype"),
    ],
)
def test_check_timestep_embedding_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_timestep_embedding(fn)


def _te_float32_freqs(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    emb = t[:, None] * freqs[None, :]
    dtype = t.dtype if t.is_floating_point() else torch.float32
    return torch.cat([emb.sin(), emb.cos()], dim=-1).to(dtype)


def _te_float32_t(t, dim):
    emb = _te(order="sin_cos")(t.float(), dim)
    return emb.to(t.dtype if t.is_floating_point() else torch.float32)


@pytest.mark.parametrize("fn", [_te_float32_freqs, _te_float32_t])
def test_check_timestep_embedding_names_float32_precision_for_float64_t(fn):
    with pytest.raises(AssertionError, match="only float32-accurate for a float64 t"):
        C.check_timestep_embedding(fn)


def _te_diffusers(t, dim):
    # diffusers' get_timestep_embedding, computed in t's dtype (float32 for integer t).
    dtype = t.dtype if t.is_floating_point() else torch.float32
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=dtype, device=t.device)
    emb = torch.exp(exponent / half)
    emb = t[:, None].to(dtype) * emb[None, :]
    return torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)


def _te_pow_float64(t, dim):
    half = dim // 2
    i = torch.arange(half, dtype=torch.float64, device=t.device)
    freqs = 10000.0 ** (-i / half)
    args = torch.outer(t.double(), freqs)
    out = torch.empty(len(t), dim, dtype=torch.float64, device=t.device)
    out[:, :half], out[:, half:] = args.sin(), args.cos()
    return out.to(t.dtype if t.is_floating_point() else torch.float32)


@pytest.mark.parametrize("fn", [_te(), _te_diffusers, _te_pow_float64])
def test_check_timestep_embedding_accepts_correct_variants(fn, capsys):
    _passes(C.check_timestep_embedding, fn, capsys)


# ---------------------------------------------------------------------------------------
# guided_eps
# ---------------------------------------------------------------------------------------


def _ge_swapped(eps_cond, eps_uncond, scale):
    return eps_cond + scale * (eps_uncond - eps_cond)


def _ge_one_plus_w(eps_cond, eps_uncond, scale):
    return (1 + scale) * eps_cond - scale * eps_uncond


def _ge_no_baseline(eps_cond, eps_uncond, scale):
    return scale * (eps_cond - eps_uncond)


def _ge_reversed(eps_cond, eps_uncond, scale):
    return eps_uncond - scale * (eps_cond - eps_uncond)


def _ge_if_scale(eps_cond, eps_uncond, scale):
    if scale == 1:
        return eps_cond
    return eps_uncond + scale * (eps_cond - eps_uncond)


@pytest.mark.parametrize(
    "fn, message",
    [
        (_ge_swapped, "eps_cond and eps_uncond are swapped"),
        (_ge_one_plus_w, "the other classifier-free-guidance convention"),
        (_ge_no_baseline, "the unconditional baseline is missing"),
        (_ge_reversed, "the guidance direction is reversed"),
        (_ge_if_scale, "don't test it with `if`"),
    ],
)
def test_check_guided_eps_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_guided_eps(fn)


def _ge_mix(eps_cond, eps_uncond, scale):
    return scale * eps_cond + (1 - scale) * eps_uncond


def _ge_lerp(eps_cond, eps_uncond, scale):
    return torch.lerp(eps_uncond, eps_cond, scale)


def _ge_plain(eps_cond, eps_uncond, scale):
    return eps_uncond + scale * (eps_cond - eps_uncond)


@pytest.mark.parametrize("fn", [_ge_mix, _ge_lerp, _ge_plain])
def test_check_guided_eps_accepts_correct_variants(fn, capsys):
    _passes(C.check_guided_eps, fn, capsys)


# ---------------------------------------------------------------------------------------
# diffusion_loss
# ---------------------------------------------------------------------------------------


def _dl(target="noise", low=0, high=None, one_t=False, use_noise=True, fresh_target=False,
        sqrt=True, reduce="mean", detach=False):  # fmt: skip
    """diffusion_loss with one switchable mistake."""

    def fn(model, x0, schedule, t=None, noise=None):
        T = schedule.num_timesteps
        B = x0.shape[0]
        if t is None:
            hi = T if high is None else high
            t = torch.randint(low, hi, (1,) if one_t else (B,), device=x0.device)
            t = t.expand(B) if one_t else t
        if noise is None or not use_noise:
            noise = torch.randn_like(x0)
        abar = schedule.alphas_cumprod.to(x0.device)[t.clamp(max=T - 1)]
        a = abar.to(x0).view(-1, *[1] * (x0.ndim - 1))
        a = a.sqrt() if sqrt else a
        s = (1 - abar).sqrt().to(x0).view(-1, *[1] * (x0.ndim - 1))
        x_t = a * x0 + s * noise
        out = model(x_t, t)
        tgt = {"noise": noise, "x0": x0}[target]
        if fresh_target:
            tgt = torch.randn_like(x0)
        err = (out - tgt) ** 2
        loss = err.sum() if reduce == "sum" else err.mean()
        return loss.detach() if detach else loss

    return fn


@pytest.mark.parametrize(
    "fn, message",
    [
        (_dl(target="x0"), "the target is x0, not the noise"),
        (_dl(sqrt=False), "the sqrt on alphas_cumprod is missing"),
        (_dl(reduce="sum"), "you summed the squared errors; the loss is their mean"),
        (_dl(use_noise=False), "when noise is given, use it"),
        (_dl(fresh_target=True), "the target must be the same noise that made x_t"),
        (_dl(one_t=True), "the same step t for the whole batch"),
        (_dl(low=1), r"never drew t = 0"),
        (_dl(low=1, high=51), r"outside 0..T-1"),
        (_dl(high=49), r"never drew the last step"),
        (_dl(detach=True), "without a gradient"),
    ],
)
def test_check_diffusion_loss_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_diffusion_loss(fn)


def _dl_per_sample_noise_check(model, x0, schedule, t=None, noise=None):
    """Draws noise only when it is None, but the drawn noise is shared by every sample."""
    if t is None:
        t = torch.randint(0, schedule.num_timesteps, (x0.shape[0],), device=x0.device)
    if noise is None:
        noise = torch.randn_like(x0[:1]).expand_as(x0)
    abar = _col(schedule.alphas_cumprod, t, x0)
    return F.mse_loss(model(abar.sqrt() * x0 + (1 - abar).sqrt() * noise, t), noise)


def _dl_seeded(model, x0, schedule, t=None, noise=None):
    torch.manual_seed(0)
    return _dl()(model, x0, schedule, t, noise)


@pytest.mark.parametrize(
    "fn, message",
    [
        (_dl_per_sample_noise_check, "every sample the same noise"),
        (_dl_seeded, "don't seed inside the function"),
    ],
)
def test_check_diffusion_loss_names_noise_mistakes(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_diffusion_loss(fn)


def _dl_loop(model, x0, schedule, t=None, noise=None):
    """One sample at a time, coefficients from the betas in float64."""
    B, T = x0.shape[0], len(schedule.betas)
    if t is None:
        t = torch.randint(0, T, (B,), device=x0.device)
    if noise is None:
        noise = torch.randn_like(x0)
    abar = torch.cumprod(1 - schedule.betas, 0)
    total = 0.0
    for i in range(B):
        a = abar[int(t[i])]
        x_t = a.sqrt() * x0[i : i + 1].double() + (1 - a).sqrt() * noise[i : i + 1].double()
        eps_hat = model(x_t.to(x0.dtype), t[i : i + 1])
        total = total + ((eps_hat - noise[i : i + 1]) ** 2).sum()
    return total / x0.numel()


def _dl_mse(model, x0, schedule, t=None, noise=None):
    if t is None:
        t = torch.randint(schedule.num_timesteps, size=(len(x0),), device=x0.device)
    eps = torch.randn_like(x0) if noise is None else noise
    ab = schedule.alphas_cumprod.to(x0)[t.cpu()].to(x0.device).reshape(-1, *(1,) * (x0.dim() - 1))
    return F.mse_loss(eps, model(torch.sqrt(ab) * x0 + torch.sqrt(1 - ab) * eps, t))


@pytest.mark.parametrize("fn", [_dl(), _dl_loop, _dl_mse])
def test_check_diffusion_loss_accepts_correct_variants(fn, capsys):
    _passes(C.check_diffusion_loss, fn, capsys)


def test_check_diffusion_loss_names_a_t_shift():
    def shifted(model, x0, schedule, t=None, noise=None):
        noise = torch.randn_like(x0) if noise is None else noise
        t = torch.randint(0, schedule.num_timesteps, (len(x0),)) if t is None else t
        abar = _col(schedule.alphas_cumprod, t, x0)
        return F.mse_loss(model(abar.sqrt() * x0 + (1 - abar).sqrt() * noise, t + 1), noise)

    with pytest.raises(AssertionError, match="passed t \\+ 1 to the model"):
        C.check_diffusion_loss(shifted)


# ---------------------------------------------------------------------------------------
# every check
# ---------------------------------------------------------------------------------------

CHECKS = [
    (C.check_linear_beta_schedule, ref.linear_beta_schedule),
    (C.check_cosine_beta_schedule, ref.cosine_beta_schedule),
    (C.check_q_sample, ref.q_sample),
    (C.check_q_posterior, ref.q_posterior),
    (C.check_ddpm_step, ref.ddpm_step),
    (C.check_ddim_step, ref.ddim_step),
    (C.check_timestep_embedding, ref.timestep_embedding),
    (C.check_guided_eps, ref.guided_eps),
    (C.check_diffusion_loss, ref.diffusion_loss),
]
IDS = [check.__name__ for check, _ in CHECKS]


def test_check_refuses_a_schedule_built_with_the_reference():
    def q_sample(x0, t, noise, schedule):
        sch = ref.DiffusionSchedule(schedule.betas)
        return _qs_from_betas(x0, t, noise, sch)

    with pytest.raises(AssertionError, match=REFERENCE_CALLED):
        C.check_q_sample(q_sample)
