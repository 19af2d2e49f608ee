"""Week 08 references (``course.diffusion``) against diffusers and closed forms.

Every expected value comes from somewhere other than the code under test: diffusers'
``DDPMScheduler`` / ``DDIMScheduler`` (betas and single sampler steps, given the same model
output and noise), the schedule formulas evaluated directly in Python float64, Bayes' rule
for a 1-D Gaussian (closed-form product of Gaussians and grid quadrature), Monte Carlo
moments of the forward process, and identities (``predict_x0_from_eps`` inverts
``q_sample``; guidance at scale 0 / 1 is the unconditional / conditional prediction).

diffusers is a test-only peer (``pip install diffusers``); the tests that need it skip
when it is missing.
"""

from __future__ import annotations

import math

import pytest
import torch

from course.diffusion import (
    DiffusionSchedule,
    UNet,
    cosine_beta_schedule,
    ddim_step,
    ddpm_step,
    diffusion_loss,
    extract,
    guided_eps,
    linear_beta_schedule,
    predict_x0_from_eps,
    q_posterior,
    q_sample,
    timestep_embedding,
)

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}
DIFFUSERS_NAME = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
SCHEDULES = {"linear": linear_beta_schedule, "cosine": cosine_beta_schedule}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _schedule(kind: str = "linear", T: int = 1000) -> DiffusionSchedule:
    return DiffusionSchedule(SCHEDULES[kind](T))


def _diffusers():
    return pytest.importorskip("diffusers")


def _tables_to_float64(sched, ours: DiffusionSchedule) -> None:
    """Replace a diffusers scheduler's float32 tables by ours in float64.

    With identical float64 tables both sides compute the same formulas in float64, so any
    difference left is round-off (~1e-15), not the float32 storage of diffusers' tables.
    """
    sched.betas = ours.betas.clone()
    sched.alphas = ours.alphas.clone()
    sched.alphas_cumprod = ours.alphas_cumprod.clone()
    sched.one = torch.tensor(1.0, dtype=torch.float64)
    if hasattr(sched, "final_alpha_cumprod"):
        sched.final_alpha_cumprod = torch.tensor(1.0, dtype=torch.float64)


# ----------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("T", [1000, 50])
def test_betas_match_diffusers(kind, T):
    diffusers = _diffusers()
    ref = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=DIFFUSERS_NAME[kind]).betas
    ours = SCHEDULES[kind](T)
    assert ours.dtype == torch.float64 and ours.shape == (T,)
    # diffusers stores float32: agreement to float32 precision, relative.
    rel = ((ours - ref.double()).abs() / ref.double().abs()).max().item()
    assert rel < 1e-6, rel
    # alphas_cumprod accumulates T float32 roundings on diffusers' side.
    ref_ac = diffusers.DDPMScheduler(
        num_train_timesteps=T, beta_schedule=DIFFUSERS_NAME[kind]
    ).alphas_cumprod.double()
    ours_ac = DiffusionSchedule(ours).alphas_cumprod
    assert ((ours_ac - ref_ac).abs() / ref_ac).max().item() < 1e-4


@pytest.mark.parametrize("T", [1000, 50, 7])
def test_cosine_schedule_direct_float64(T):
    s, max_beta = 0.008, 0.999

    def f(u: float) -> float:
        return math.cos(((u / T + s) / (1 + s)) * math.pi / 2) ** 2

    expected = torch.tensor(
        [min(1 - f(i + 1) / f(i), max_beta) for i in range(T)], dtype=torch.float64
    )
    got = cosine_beta_schedule(T)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert got[-1].item() == max_beta  # f(T) = cos^2(pi/2) ~ 0: the cap binds at the last step
    assert (got > 0).all()
    # Before the cap, abar is f(t)/f(0) exactly (Nichol & Dhariwal eq. 17).
    abar = DiffusionSchedule(got).alphas_cumprod
    expected_abar = torch.tensor([f(i + 1) / f(0) for i in range(T - 1)], dtype=torch.float64)
    torch.testing.assert_close(abar[:-1], expected_abar, rtol=1e-10, atol=1e-14)


def test_linear_schedule_values():
    b = linear_beta_schedule(1000)
    assert b.dtype == torch.float64
    assert b[0].item() == pytest.approx(1e-4, rel=1e-15)
    assert b[-1].item() == pytest.approx(0.02, rel=1e-15)
    torch.testing.assert_close(
        b.diff(), torch.full((999,), (0.02 - 1e-4) / 999, dtype=torch.float64)
    )
    b = linear_beta_schedule(10, beta_start=0.1, beta_end=0.2)
    torch.testing.assert_close(
        b, torch.tensor([0.1 + 0.1 * i / 9 for i in range(10)], dtype=torch.float64)
    )


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_closed_forms(kind):
    T = 200
    betas = SCHEDULES[kind](T)
    sch = DiffusionSchedule(betas.float())  # float32 in: still float64 tables
    betas = betas.float().double()
    assert sch.num_timesteps == T == len(sch)
    for name in [
        "betas",
        "alphas",
        "alphas_cumprod",
        "alphas_cumprod_prev",
        "posterior_variance",
        "posterior_mean_coef1",
        "posterior_mean_coef2",
    ]:
        v = getattr(sch, name)
        assert v.dtype == torch.float64 and v.shape == (T,), name
    b = betas.tolist()
    abar, prod = [], 1.0
    for beta in b:
        prod *= 1 - beta
        abar.append(prod)
    abar_prev = [1.0] + abar[:-1]
    f64 = dict(dtype=torch.float64)
    torch.testing.assert_close(
        sch.alphas, torch.tensor([1 - x for x in b], **f64), rtol=0, atol=1e-16
    )
    torch.testing.assert_close(sch.alphas_cumprod, torch.tensor(abar, **f64), rtol=1e-13, atol=0)
    assert sch.alphas_cumprod_prev[0].item() == 1.0
    torch.testing.assert_close(
        sch.alphas_cumprod_prev, torch.tensor(abar_prev, **f64), rtol=1e-13, atol=0
    )
    post_var = [b[i] * (1 - abar_prev[i]) / (1 - abar[i]) for i in range(T)]
    coef1 = [b[i] * math.sqrt(abar_prev[i]) / (1 - abar[i]) for i in range(T)]
    coef2 = [(1 - abar_prev[i]) * math.sqrt(1 - b[i]) / (1 - abar[i]) for i in range(T)]
    torch.testing.assert_close(
        sch.posterior_variance, torch.tensor(post_var, **f64), rtol=1e-12, atol=0
    )
    torch.testing.assert_close(
        sch.posterior_mean_coef1, torch.tensor(coef1, **f64), rtol=1e-12, atol=0
    )
    torch.testing.assert_close(
        sch.posterior_mean_coef2, torch.tensor(coef2, **f64), rtol=1e-12, atol=0
    )
    assert sch.posterior_variance[0].item() == 0.0  # exactly: x_0 is known given x_0
    assert sch.posterior_mean_coef1[0].item() == pytest.approx(1.0, abs=1e-15)
    assert sch.posterior_mean_coef2[0].item() == 0.0
    # The posterior variance never exceeds beta_t (it is beta_t times a factor < 1).
    assert (sch.posterior_variance <= sch.betas).all()


def test_schedule_validation():
    with pytest.raises(ValueError, match="betas"):
        DiffusionSchedule(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="betas"):
        DiffusionSchedule(torch.tensor([0.1, 0.0, 0.2]))
    with pytest.raises(ValueError, match="T"):
        linear_beta_schedule(0)
    with pytest.raises(ValueError, match="T"):
        cosine_beta_schedule(0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extract_shape_dtype(dtype):
    a = torch.arange(10, dtype=torch.float64) / 7
    t = torch.tensor([3, 0, 9])
    x = torch.zeros(3, 2, 4, 5, dtype=dtype)
    out = extract(a, t, x.shape)
    assert out.shape == (3, 1, 1, 1)
    torch.testing.assert_close(out.flatten(), a[t])
    assert extract(a, t, (3, 2)).shape == (3, 1)
    # The course functions cast the gathered values to x's dtype.
    mean, var = q_posterior(x, x, torch.tensor([1, 2, 3]), _schedule())
    assert var.shape == (3, 1, 1, 1) and var.dtype == dtype and mean.dtype == dtype


# ----------------------------------------------------------------------------- forward process


@pytest.mark.parametrize("dtype", DTYPES)
def test_q_sample_closed_form_with_given_noise(dtype):
    sch = _schedule("cosine")
    g = _gen(0)
    x0 = torch.randn(4, 1, 3, 3, generator=g, dtype=dtype)
    noise = torch.randn(4, 1, 3, 3, generator=g, dtype=dtype)
    t = torch.tensor([0, 10, 500, 999])
    x_t = q_sample(x0, t, noise, sch)
    assert x_t.dtype == dtype and x_t.shape == x0.shape
    for i, ti in enumerate(t.tolist()):
        abar = sch.alphas_cumprod[ti].item()
        expected = math.sqrt(abar) * x0[i].double() + math.sqrt(1 - abar) * noise[i].double()
        torch.testing.assert_close(x_t[i], expected.to(dtype), **TOL[dtype])


@pytest.mark.parametrize("ti", [0, 100, 600, 999])
def test_q_sample_moments(ti):
    # x_t | x0 ~ N(sqrt(abar) x0, 1 - abar): check mean and variance by Monte Carlo.
    sch = _schedule("linear")
    n, x0_value = 200_000, 0.7
    x0 = torch.full((n, 1), x0_value, dtype=torch.float64)
    t = torch.full((n,), ti, dtype=torch.long)
    noise = torch.randn(n, 1, generator=_gen(ti), dtype=torch.float64)
    x_t = q_sample(x0, t, noise, sch)
    abar = sch.alphas_cumprod[ti].item()
    mean, var = math.sqrt(abar) * x0_value, 1 - abar
    se_mean = math.sqrt(var / n)
    se_var = var * math.sqrt(2 / (n - 1))
    assert abs(x_t.mean().item() - mean) < 5 * se_mean
    assert abs(x_t.var().item() - var) < 5 * se_var


def test_q_sample_draws_noise_when_absent():
    sch = _schedule()
    x0 = torch.zeros(2000, 1, dtype=torch.float64)
    t = torch.full((2000,), 999)
    a, b = q_sample(x0, t, None, sch), q_sample(x0, t, None, sch)
    assert not torch.equal(a, b)
    assert abs(a.std().item() - math.sqrt(1 - sch.alphas_cumprod[-1].item())) < 0.1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_predict_x0_inverts_q_sample(dtype, kind):
    sch = _schedule(kind)
    g = _gen(3)
    x0 = torch.randn(6, 2, 4, generator=g, dtype=dtype)
    noise = torch.randn(6, 2, 4, generator=g, dtype=dtype)
    t = torch.tensor([0, 1, 50, 300, 700, 900])  # cosine abar(999) ~ 0: inversion ill-posed there
    x_t = q_sample(x0, t, noise, sch)
    x0_hat = predict_x0_from_eps(x_t, t, noise, sch)
    assert x0_hat.dtype == dtype
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(x0_hat, x0, **tol)


# ----------------------------------------------------------------------------- true posterior


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("ti", [1, 2, 10, 250, 998])
def test_q_posterior_equals_bayes_rule(kind, ti):
    # Prior x_{t-1} | x0 ~ N(sqrt(abar_{t-1}) x0, 1 - abar_{t-1}); likelihood
    # x_t | x_{t-1} ~ N(sqrt(alpha_t) x_{t-1}, beta_t). The posterior is the normalised
    # product of the two Gaussians in x_{t-1}: precisions add, means are precision-weighted.
    sch = _schedule(kind)
    b = SCHEDULES[kind](1000).tolist()
    abar_prev = math.prod(1 - x for x in b[:ti])  # abar_{t-1}, recomputed independently
    beta, alpha = b[ti], 1 - b[ti]
    x0_vals, xt_vals = [0.3, -1.2, 2.0], [0.5, 0.1, -0.8]
    m0, v0 = [math.sqrt(abar_prev) * x for x in x0_vals], 1 - abar_prev
    prec = 1 / v0 + alpha / beta
    exp_var = 1 / prec
    exp_mean = [
        (m / v0 + math.sqrt(alpha) * xt / beta) / prec for m, xt in zip(m0, xt_vals, strict=True)
    ]

    x0 = torch.tensor(x0_vals, dtype=torch.float64)[:, None]  # (3, 1)
    x_t = torch.tensor(xt_vals, dtype=torch.float64)[:, None]  # (3, 1)
    t = torch.full((3,), ti)
    mean, var = q_posterior(x0, x_t, t, sch)
    assert mean.shape == (3, 1) and var.shape == (3, 1)
    torch.testing.assert_close(
        mean.flatten(), torch.tensor(exp_mean, dtype=torch.float64), rtol=1e-9, atol=1e-12
    )
    torch.testing.assert_close(
        var.flatten(), torch.full((3,), exp_var, dtype=torch.float64), rtol=1e-9, atol=1e-15
    )


@pytest.mark.parametrize("ti", [5, 400])
def test_q_posterior_grid_quadrature(ti):
    # Same posterior by brute force: unnormalised density on a fine grid, moments by sums.
    sch = _schedule("linear")
    abar_prev = sch.alphas_cumprod_prev[ti].item()
    beta = sch.betas[ti].item()
    x0v, xtv = 0.4, -0.3
    m0, v0 = math.sqrt(abar_prev) * x0v, 1 - abar_prev
    # A grid covering both the prior mean and the likelihood's peak, 10 sd beyond each.
    peak = xtv / math.sqrt(1 - beta)
    sd = math.sqrt(max(v0, beta))
    lo, hi = min(m0, peak) - 10 * sd, max(m0, peak) + 10 * sd
    grid = torch.linspace(lo, hi, 2_000_001, dtype=torch.float64)
    logp = -((grid - m0) ** 2) / (2 * v0) - (xtv - math.sqrt(1 - beta) * grid) ** 2 / (2 * beta)
    w = torch.exp(logp - logp.max())
    w = w / w.sum()
    q_mean = (w * grid).sum().item()
    q_var = (w * (grid - q_mean) ** 2).sum().item()
    mean, var = q_posterior(
        torch.tensor([[x0v]], dtype=torch.float64),
        torch.tensor([[xtv]], dtype=torch.float64),
        torch.tensor([ti]),
        sch,
    )
    assert mean.item() == pytest.approx(q_mean, rel=1e-7, abs=1e-9)
    assert var.item() == pytest.approx(q_var, rel=1e-6)


def test_q_posterior_at_t0_returns_x0():
    sch = _schedule("cosine")
    x0 = torch.randn(2, 3, generator=_gen(1), dtype=torch.float64)
    x_t = torch.randn(2, 3, generator=_gen(2), dtype=torch.float64)
    mean, var = q_posterior(x0, x_t, torch.zeros(2, dtype=torch.long), sch)
    torch.testing.assert_close(mean, x0, rtol=1e-15, atol=1e-15)
    assert (var == 0).all()


# ----------------------------------------------------------------------------- reverse steps vs diffusers


def _ddpm_reference(kind, T, float64):
    diffusers = _diffusers()
    sched = diffusers.DDPMScheduler(
        num_train_timesteps=T,
        beta_schedule=DIFFUSERS_NAME[kind],
        variance_type="fixed_large",
        clip_sample=False,
    )
    ours = DiffusionSchedule(SCHEDULES[kind](T))
    if float64:
        _tables_to_float64(sched, ours)
    else:
        ours = DiffusionSchedule(sched.betas)  # same float32 betas on both sides
    return sched, ours


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("ti", [999, 500, 37, 1, 0])
def test_ddpm_step_matches_diffusers_float64(kind, ti):
    sched, ours = _ddpm_reference(kind, 1000, float64=True)
    g = _gen(10 + ti)
    x_t = torch.randn(3, 1, 5, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(3, 1, 5, 5, generator=g, dtype=torch.float64)
    # diffusers draws its noise with torch.randn(shape, generator=..., dtype=...) on CPU;
    # two generators with the same seed give us the identical tensor.
    ref = sched.step(eps, ti, x_t, generator=_gen(123)).prev_sample
    noise = torch.randn(x_t.shape, generator=_gen(123), dtype=torch.float64)
    got = ddpm_step(eps, x_t, ti, ours, noise=noise)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, ref, rtol=1e-11, atol=1e-11)
    if ti == 0:  # no noise at the last step: the noise argument is ignored
        torch.testing.assert_close(ddpm_step(eps, x_t, 0, ours), ref, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("ti", [999, 300, 1, 0])
def test_ddpm_step_matches_diffusers_float32(kind, ti):
    sched, ours = _ddpm_reference(kind, 1000, float64=False)
    g = _gen(20 + ti)
    x_t = torch.randn(3, 1, 5, 5, generator=g)
    eps = torch.randn(3, 1, 5, 5, generator=g)
    ref = sched.step(eps, ti, x_t, generator=_gen(7)).prev_sample
    got = ddpm_step(eps, x_t, ti, ours, noise=torch.randn(x_t.shape, generator=_gen(7)))
    assert got.dtype == torch.float32
    # diffusers computes abar in float32 (T roundings); at cosine t=999 x0_hat is divided by
    # sqrt(abar) ~ 1e-4, so compare relative to the magnitude of the step.
    scale = ref.abs().max().item()
    assert (got - ref).abs().max().item() < 2e-4 * max(scale, 1.0)


def _ddim_reference(kind, T, steps):
    diffusers = _diffusers()
    sched = diffusers.DDIMScheduler(
        num_train_timesteps=T,
        beta_schedule=DIFFUSERS_NAME[kind],
        clip_sample=False,
        set_alpha_to_one=True,
    )
    sched.set_timesteps(steps)
    ours = DiffusionSchedule(SCHEDULES[kind](T))
    _tables_to_float64(sched, ours)
    return sched, ours


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_diffusers(kind, eta):
    T, steps = 1000, 50
    sched, ours = _ddim_reference(kind, T, steps)
    timesteps = sched.timesteps.tolist()
    assert timesteps[0] == 980 and timesteps[-1] == 0
    ratio = T // steps
    g = _gen(5)
    for ti in [timesteps[0], timesteps[1], timesteps[25], timesteps[-2], timesteps[-1]]:
        t_prev = ti - ratio if ti - ratio >= 0 else -1  # diffusers: final_alpha_cumprod = 1
        x_t = torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64)
        eps = torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64)
        noise = torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64)
        ref = sched.step(eps, ti, x_t, eta=eta, variance_noise=noise).prev_sample
        got = ddim_step(eps, x_t, ti, t_prev, ours, eta=eta, noise=noise)
        assert got.dtype == torch.float64
        torch.testing.assert_close(got, ref, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_step_matches_diffusers_float32(eta):
    diffusers = _diffusers()
    sched = diffusers.DDIMScheduler(
        num_train_timesteps=1000, clip_sample=False, set_alpha_to_one=True
    )
    sched.set_timesteps(50)
    ours = DiffusionSchedule(sched.betas)
    g = _gen(9)
    for ti in [980, 500, 20, 0]:
        x_t, eps, noise = (torch.randn(2, 1, 4, 4, generator=g) for _ in range(3))
        ref = sched.step(eps, ti, x_t, eta=eta, variance_noise=noise).prev_sample
        got = ddim_step(eps, x_t, ti, ti - 20 if ti >= 20 else -1, ours, eta=eta, noise=noise)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


def test_ddim_eta1_single_step_is_ddpm_posterior():
    # With t_prev = t - 1 and eta = 1, sigma_t^2 is the posterior variance and the mean is
    # the posterior mean at x0_hat (Song et al. 2021, sec. 4.1).
    sch = _schedule("linear")
    g = _gen(4)
    x_t, eps, noise = (torch.randn(3, 2, generator=g, dtype=torch.float64) for _ in range(3))
    for ti in [1, 10, 999]:
        t = torch.full((3,), ti)
        x0_hat = predict_x0_from_eps(x_t, t, eps, sch)
        mean, var = q_posterior(x0_hat, x_t, t, sch)
        got = ddim_step(eps, x_t, ti, ti - 1, sch, eta=1.0, noise=noise)
        torch.testing.assert_close(got, mean + var.sqrt() * noise, rtol=1e-10, atol=1e-10)


def test_ddim_eta0_is_deterministic_and_ignores_noise():
    sch = _schedule("cosine")
    x_t, eps = torch.randn(2, 3, generator=_gen(0)), torch.randn(2, 3, generator=_gen(1))
    a = ddim_step(eps, x_t, 500, 400, sch)
    b = ddim_step(eps, x_t, 500, 400, sch, noise=torch.randn(2, 3))
    assert torch.equal(a, b)
    # Final step to t_prev = -1 returns x0_hat.
    x0_hat = predict_x0_from_eps(x_t, torch.full((2,), 30), eps, sch)
    torch.testing.assert_close(ddim_step(eps, x_t, 30, -1, sch), x0_hat)


def test_ddpm_step_draws_noise_only_when_needed():
    sch = _schedule()
    x_t, eps = torch.randn(2, 3, generator=_gen(0)), torch.randn(2, 3, generator=_gen(1))
    assert not torch.equal(ddpm_step(eps, x_t, 5, sch), ddpm_step(eps, x_t, 5, sch))
    assert torch.equal(ddpm_step(eps, x_t, 0, sch), ddpm_step(eps, x_t, 0, sch))
    # t = 0 ignores given noise: x_{-1} is the posterior mean, i.e. x0_hat.
    x0_hat = predict_x0_from_eps(x_t, torch.zeros(2, dtype=torch.long), eps, sch)
    torch.testing.assert_close(ddpm_step(eps, x_t, 0, sch, noise=torch.ones(2, 3)), x0_hat)


# ----------------------------------------------------------------------------- conditioning


def test_timestep_embedding_by_hand():
    t = torch.tensor([0, 1, 2, 500])
    emb = timestep_embedding(t, 4)
    assert emb.shape == (4, 4) and emb.dtype == torch.float32
    # half = 2: frequencies 10000^0 = 1 and 10000^(-1/2) = 0.01.
    expected = torch.tensor(
        [[math.sin(x), math.sin(0.01 * x), math.cos(x), math.cos(0.01 * x)] for x in t.tolist()]
    )
    torch.testing.assert_close(emb, expected, rtol=1e-6, atol=1e-6)
    emb6 = timestep_embedding(torch.tensor([3.0], dtype=torch.float64), 6)
    assert emb6.dtype == torch.float64
    f = [10000 ** (-i / 3) for i in range(3)]
    expected6 = [math.sin(3 * w) for w in f] + [math.cos(3 * w) for w in f]
    torch.testing.assert_close(
        emb6[0], torch.tensor(expected6, dtype=torch.float64), rtol=1e-14, atol=1e-14
    )
    assert timestep_embedding(torch.tensor([1.5], dtype=torch.float32), 8).dtype == torch.float32


def test_timestep_embedding_matches_diffusers():
    diffusers = _diffusers()
    from diffusers.models.embeddings import get_timestep_embedding

    t = torch.arange(0, 1000, 37)
    ref = get_timestep_embedding(t, 128, flip_sin_to_cos=False, downscale_freq_shift=0)
    got = timestep_embedding(t, 128)
    assert diffusers is not None and got.shape == ref.shape == (len(t), 128)
    # diffusers forms t * freq in float32 (error ~ 1e3 * 6e-8); ours in float64.
    torch.testing.assert_close(got, ref, rtol=0, atol=2e-4)


def test_timestep_embedding_validation():
    with pytest.raises(ValueError, match="even"):
        timestep_embedding(torch.tensor([1]), 5)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        timestep_embedding(torch.tensor([[1]]), 4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_guided_eps(dtype):
    g = _gen(0)
    c, u = torch.randn(3, 4, generator=g, dtype=dtype), torch.randn(3, 4, generator=g, dtype=dtype)
    assert torch.equal(guided_eps(c, u, 0.0), u)
    torch.testing.assert_close(guided_eps(c, u, 1.0), c, **TOL[dtype])
    out = guided_eps(c, u, 3.0)
    assert out.dtype == dtype
    torch.testing.assert_close(out, u + 3.0 * (c - u), **TOL[dtype])
    with pytest.raises(ValueError, match="same shape"):
        guided_eps(c, u[:2], 1.0)


# ----------------------------------------------------------------------------- training loss


@pytest.mark.parametrize("dtype", DTYPES)
def test_diffusion_loss_known_models(dtype):
    sch = _schedule("cosine")
    g = _gen(0)
    x0 = torch.randn(4, 1, 6, 6, generator=g, dtype=dtype)
    noise = torch.randn(4, 1, 6, 6, generator=g, dtype=dtype)
    t = torch.tensor([0, 3, 400, 999])
    seen = {}

    def oracle(x_t, tt):  # predicts the true noise: loss 0
        seen["x_t"], seen["t"] = x_t, tt
        return noise

    loss = diffusion_loss(oracle, x0, sch, t=t, noise=noise)
    assert loss.shape == () and loss.dtype == dtype and loss.item() == 0.0
    torch.testing.assert_close(seen["x_t"], q_sample(x0, t, noise, sch))
    assert torch.equal(seen["t"], t)
    loss0 = diffusion_loss(lambda x_t, tt: torch.zeros_like(x_t), x0, sch, t=t, noise=noise)
    torch.testing.assert_close(loss0, noise.pow(2).mean(), **TOL[dtype])
    loss_half = diffusion_loss(lambda x_t, tt: 0.5 * noise, x0, sch, t=t, noise=noise)
    torch.testing.assert_close(loss_half, 0.25 * noise.pow(2).mean(), **TOL[dtype])


def test_diffusion_loss_draws_t_and_noise():
    sch = _schedule()
    seen = []

    def model(x_t, t):
        seen.append(t)
        return torch.zeros_like(x_t)

    x0 = torch.zeros(512, 1)
    loss = diffusion_loss(model, x0, sch)
    t = seen[0]
    assert t.shape == (512,) and t.dtype == torch.long and 0 <= t.min() and t.max() < 1000
    assert t.unique().numel() > 100  # uniform over 1000 steps
    # x0 = 0: x_t = sqrt(1 - abar) noise, loss = mean(noise^2) ~ 1.
    assert 0.8 < loss.item() < 1.2


# ----------------------------------------------------------------------------- validation


def test_t_validation_errors():
    sch = _schedule(T=100)
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="0..99"):
        q_sample(x, torch.tensor([0, 100]), None, sch)
    with pytest.raises(ValueError, match="0..99"):
        q_sample(x, torch.tensor([-1, 0]), None, sch)
    with pytest.raises(ValueError, match="integer"):
        q_sample(x, torch.tensor([0.0, 1.0]), None, sch)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        q_sample(x, 3, None, sch)
    with pytest.raises(ValueError, match="one entry per sample"):
        q_posterior(x, x, torch.tensor([1, 2, 3]), sch)
    with pytest.raises(ValueError, match="same shape"):
        q_sample(x, torch.tensor([1, 2]), torch.zeros(2, 4), sch)
    with pytest.raises(ValueError, match="same shape"):
        predict_x0_from_eps(x, torch.tensor([1, 2]), torch.zeros(3, 2), sch)
    with pytest.raises(ValueError, match="t must lie"):
        ddpm_step(x, x, 100, sch)
    with pytest.raises(ValueError, match="int"):
        ddpm_step(x, x, torch.tensor(3), sch)
    with pytest.raises(ValueError, match="t_prev"):
        ddim_step(x, x, 10, 10, sch)
    with pytest.raises(ValueError, match="t_prev"):
        ddim_step(x, x, 10, -2, sch)
    with pytest.raises(ValueError, match="eta"):
        ddim_step(x, x, 10, 5, sch, eta=-0.1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_preserved(dtype):
    sch = _schedule()
    x = torch.randn(2, 1, 4, 4, generator=_gen(0), dtype=dtype)
    t = torch.tensor([3, 7])
    outs = [
        q_sample(x, t, x, sch),
        *q_posterior(x, x, t, sch),
        predict_x0_from_eps(x, t, x, sch),
        ddpm_step(x, x, 5, sch, noise=x),
        ddpm_step(x, x, 0, sch),
        ddim_step(x, x, 5, 2, sch, eta=0.7, noise=x),
        ddim_step(x, x, 5, -1, sch),
        guided_eps(x, x, 2.0),
        diffusion_loss(lambda a, b: a, x, sch, t=t, noise=x),
    ]
    assert all(o.dtype == dtype for o in outs)
    assert timestep_embedding(t, 8).dtype == torch.float32
    assert sch.betas.dtype == torch.float64  # the tables stay float64


# ----------------------------------------------------------------------------- model


def test_unet_shapes_and_training_step():
    torch.manual_seed(0)
    net = UNet(channels=1, base=16, time_dim=32)
    x = torch.randn(3, 1, 28, 28)
    t = torch.tensor([0, 500, 999])
    out = net(x, t)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.equal(out, torch.zeros_like(out))  # zero-initialised last conv
    loss = diffusion_loss(net, x, _schedule(), t=t, noise=torch.randn_like(x))
    loss.backward()
    assert net.out[-1].weight.grad.abs().sum() > 0
    # With a non-zero head the output depends on t through the embedding.
    torch.nn.init.normal_(net.out[-1].weight)
    with torch.no_grad():
        a = net(x[:1].expand(2, -1, -1, -1), torch.tensor([1, 900]))
    assert not torch.allclose(a[0], a[1])
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 1, 30, 30), torch.tensor([1]))


def test_unet_class_conditioning():
    torch.manual_seed(0)
    net = UNet(channels=1, base=8, time_dim=16, num_classes=10)
    torch.nn.init.normal_(net.out[-1].weight)
    x = torch.randn(1, 1, 28, 28).expand(3, -1, -1, -1)
    t = torch.tensor([5, 5, 5])
    with torch.no_grad():
        a = net(x, t, torch.tensor([1, 2, 10]))
        null = net(x, t)  # y=None is the "no label" index 10
    assert not torch.allclose(a[0], a[1])  # the label changes the prediction
    torch.testing.assert_close(null[2], a[2])
    with pytest.raises(ValueError, match="0..10"):
        net(x, t, torch.tensor([0, 1, 11]))
    with pytest.raises(ValueError, match="no classes"):
        UNet(base=8, time_dim=16)(x, t, torch.tensor([0, 1, 2]))
