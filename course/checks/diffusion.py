"""Checks for week 08 (denoising diffusion): ``check_<name>(your_function)``.

Each check runs your code on seeded inputs (several shapes, float32 and float64,
the CPU and the accelerator when there is one) on small schedules (``T = 50``,
linear and cosine) and compares it with the course's reference, which is switched
off while your code runs. A failure names the likely mistake. Conventions (as in
``course.diffusion``): schedules are float64 ``(T,)`` tensors, steps are indexed
from 0 (``alphas_cumprod[t]`` is the paper's :math:`\\bar\\alpha_{t+1}`), a tensor
``t`` is ``(B,)`` long and per-sample coefficients broadcast as ``(B, 1, ..., 1)``.
"""

from __future__ import annotations

import inspect
import math

import torch

from course import diffusion as ref
from course.checks._core import (
    TOL,
    Mistake,
    assert_not_reference,
    assert_tensor,
    call_student,
    cases,
    close,
    compare,
    devices,
    diagnose,
    inputs_unchanged,
    keep_student_rng,
    mismatch_message,
    rand,
    randn,
    success,
    where,
)

__all__ = [
    "check_cosine_beta_schedule",
    "check_ddim_step",
    "check_ddpm_step",
    "check_diffusion_loss",
    "check_guided_eps",
    "check_linear_beta_schedule",
    "check_q_posterior",
    "check_q_sample",
    "check_timestep_embedding",
]


def _references() -> list:
    """Everything ``course.diffusion`` defines, locked while the student's code runs.

    ``DiffusionSchedule`` is locked through its ``__init__`` only: the check hands the
    student a schedule built beforehand, whose attributes, ``len()`` and ``repr()``
    must keep working during the call.
    """
    found = []
    for value in vars(ref).values():
        if getattr(value, "__module__", None) != ref.__name__:
            continue
        if value is ref.DiffusionSchedule:
            found.append(value.__init__)
        elif inspect.isfunction(value) or inspect.isclass(value):
            found.append(value)
    return found


_BROADCAST = {
    "must match the size of tensor": "A per-sample coefficient a[t] has shape (B,); reshape it "
    "to (B, 1, ..., 1) (a[t].view(-1, *[1] * (x.ndim - 1))) so it broadcasts over each "
    "sample, not along the last dimension.",
    "Boolean value of Tensor": "Test `if noise is None:`, not `noise or ...`.",
}


def _call(fn, args, kwargs=None, *, case: str = "", hints: dict[str, str] | None = None):
    """``call_student`` with the module locked; known error phrases gain a hint."""
    return call_student(
        fn, args, kwargs, references=_references(), case=case, hints={**_BROADCAST, **(hints or {})}
    )


def _schedules() -> list[tuple[str, ref.DiffusionSchedule]]:
    """Small schedules, built before any student code runs (their __init__ gets locked)."""
    return [
        ("linear T=50", ref.DiffusionSchedule(ref.linear_beta_schedule(50, 1e-3, 0.2))),
        ("cosine T=50", ref.DiffusionSchedule(ref.cosine_beta_schedule(50))),
    ]


def _view(a: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """a[t] (float64 schedule) as (B, 1, ..., 1) in x's dtype and device."""
    out = a.to(t.device)[t].view(-1, *[1] * (x.ndim - 1))
    return out.to(device=x.device, dtype=x.dtype)


def _steps(batch: int, T: int, seed: int, dev) -> torch.Tensor:
    """Distinct-ish per-sample steps covering both ends: (B,) long."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, T, (batch,), generator=g)
    if batch >= 2:
        t[0], t[-1] = 0, T - 1
    elif batch == 1:
        t[0] = T // 2
    return t.to(dev)


# ---------------------------------------------------------------------------------------
# beta schedules
# ---------------------------------------------------------------------------------------


def _schedule_result(name: str, got, T: int, case: str, hint_len: str) -> None:
    if not isinstance(got, torch.Tensor):
        raise AssertionError(
            f"{name} should return a torch.Tensor, got {type(got).__name__}{where(case)}."
            + (" Did you forget a `return`?" if got is None else "")
        )
    if got.dtype != torch.float64:
        raise AssertionError(
            f"{name} returned dtype {got.dtype}{where(case)}: schedules are kept in float64 "
            "(pass dtype=torch.float64 when you build them). alphas_cumprod is a product of "
            "up to 1000 factors, and float32 round-off in it shows in the samples."
        )
    if tuple(got.shape) != (T,):
        extra = hint_len if got.ndim == 1 and got.shape[0] in (T - 1, T + 1) else ""
        raise AssertionError(
            f"{name} returned shape {tuple(got.shape)}, expected (T,) = ({T},){where(case)}: "
            f"one beta per step.{extra}"
        )
    if got.device.type != "cpu":
        raise AssertionError(f"{name} returned a tensor on {got.device}: build it on the CPU.")


def _linear_mistakes(T, beta_start=1e-4, beta_end=0.02):
    d = torch.float64
    return [
        Mistake(
            "the last beta is not beta_end: both endpoints are included, "
            "torch.linspace(beta_start, beta_end, T) (arange(T) / T stops one step short).",
            lambda: beta_start + (beta_end - beta_start) * torch.arange(T, dtype=d) / T,
        ),
        Mistake(
            "the first beta is not beta_start: you took T + 1 points and dropped the first; "
            "both endpoints are included, torch.linspace(beta_start, beta_end, T).",
            lambda: torch.linspace(beta_start, beta_end, T + 1, dtype=d)[1:],
        ),
        Mistake(
            "beta_start and beta_end are swapped: the betas grow from beta_start (little noise "
            "at first) to beta_end.",
            lambda: torch.linspace(beta_end, beta_start, T, dtype=d),
        ),
        Mistake(
            "these are the alphas 1 - beta, not the betas.",
            lambda: 1 - torch.linspace(beta_start, beta_end, T, dtype=d),
        ),
    ]


def check_linear_beta_schedule(fn) -> None:
    """Check ``linear_beta_schedule(T, beta_start=1e-4, beta_end=0.02) -> (T,) float64``."""
    assert_not_reference(fn, ref.linear_beta_schedule)
    name = "linear_beta_schedule"
    hint = " torch.linspace(beta_start, beta_end, T) gives exactly T values, both ends included."
    for T, kwargs in [(1000, {}), (50, {}), (7, {"beta_start": 1e-3, "beta_end": 0.2}), (2, {})]:
        case = f"T={T}" + "".join(f", {k}={v}" for k, v in kwargs.items())
        expected = ref.linear_beta_schedule(T, **kwargs)
        got = _call(fn, (T,), kwargs, case=case)
        _schedule_result(name, got, T, case, hint)
        compare(name, got, expected, mistakes=_linear_mistakes(T, **kwargs), case=case)
    success(name, "T = 2, 7, 50, 1000, both endpoints, float64")


def _f(u: torch.Tensor, T: int, s: float, square: bool = True) -> torch.Tensor:
    c = torch.cos((u / T + s) / (1 + s) * math.pi / 2)
    return c**2 if square else c


def _cosine_mistakes(T, s=0.008, max_beta=0.999):
    d = torch.float64
    u = torch.arange(T + 1, dtype=d)
    i = torch.arange(T, dtype=d)

    def betas(f):
        return (1 - f[1:] / f[:-1]).clamp(max=max_beta)

    return [
        Mistake(
            "the betas are not clipped: at the last step f(T) = cos^2(pi/2) = 0, so "
            "1 - f(T)/f(T-1) = 1 and all signal is destroyed at once. Clip with "
            "betas.clamp(max=max_beta).",
            lambda: 1 - _f(u[1:], T, s) / _f(u[:-1], T, s),
        ),
        Mistake(
            "off by one: beta_i = 1 - f(i + 1) / f(i) for i = 0..T-1 (f at the T + 1 points "
            "0..T), not 1 - f(i) / f(i - 1).",
            lambda: (1 - _f(i, T, s) / _f(i - 1, T, s)).clamp(max=max_beta),
        ),
        Mistake(
            "off by one: f is evaluated at u = 0..T (T + 1 points, torch.arange(T + 1)), "
            "not at T + 1 points spread over 0..T - 1.",
            lambda: betas(_f(torch.linspace(0, T - 1, T + 1, dtype=d), T, s)),
        ),
        Mistake(
            "the offset s is missing: f(u) = cos^2((u / T + s) / (1 + s) * pi / 2); s keeps "
            "the first betas from being tiny.",
            lambda: betas(_f(u, T, 0.0)),
        ),
        Mistake(
            "you used cos where the schedule has cos^2: f(u) = cos((u / T + s) / (1 + s) * "
            "pi / 2) ** 2.",
            lambda: betas(_f(u, T, s, square=False)),
        ),
        Mistake(
            "you returned alphas_cumprod = f(t) / f(0), not the betas: "
            "beta_i = 1 - abar_i / abar_(i-1) = 1 - f(i + 1) / f(i).",
            lambda: _f(u[1:], T, s) / _f(u[:1], T, s),
        ),
        Mistake(
            "you returned the alphas 1 - beta, not the betas.",
            lambda: 1 - betas(_f(u, T, s)),
        ),
    ]


def check_cosine_beta_schedule(fn) -> None:
    """Check ``cosine_beta_schedule(T, s=0.008, max_beta=0.999) -> (T,) float64``."""
    assert_not_reference(fn, ref.cosine_beta_schedule)
    name = "cosine_beta_schedule"
    hint = (
        " f is evaluated at the T + 1 points u = 0..T, and the T betas are ratios of "
        "consecutive ones: 1 - f[1:] / f[:-1]."
    )
    for T, kwargs in [(1000, {}), (50, {}), (10, {"s": 0.05, "max_beta": 0.5}), (1, {})]:
        case = f"T={T}" + "".join(f", {k}={v}" for k, v in kwargs.items())
        expected = ref.cosine_beta_schedule(T, **kwargs)
        got = _call(fn, (T,), kwargs, case=case)
        _schedule_result(name, got, T, case, hint)
        compare(name, got, expected, mistakes=_cosine_mistakes(T, **kwargs), case=case)
    success(name, "T = 1, 10, 50, 1000, s and max_beta, float64")


# ---------------------------------------------------------------------------------------
# q_sample
# ---------------------------------------------------------------------------------------

_SHAPES = [(4, 3, 5, 5), (1, 2, 4, 4), (6, 8), (1, 3), (4, 4)]


def _q_sample_mistakes(sch):
    abar, a = sch.alphas_cumprod, sch.alphas

    def form(coef_x, coef_n):
        return lambda x0, t, noise: _view(coef_x, t, x0) * x0 + _view(coef_n, t, x0) * noise

    def wrong_broadcast(x0, t, noise):
        c1 = abar.sqrt().to(t.device)[t].to(x0)
        c2 = (1 - abar).sqrt().to(t.device)[t].to(x0)
        return c1 * x0 + c2 * noise  # (B,) against (..., W): along the last dim

    def one_t(x0, t, noise):
        return form(abar.sqrt(), (1 - abar).sqrt())(x0, t[:1].expand_as(t), noise)

    prev = sch.alphas_cumprod_prev
    wrapped = torch.roll(abar, 1)  # abar[t - 1] with Python's wrap-around at t = 0
    return [
        Mistake(
            "the sqrt on alphas_cumprod is missing: x_t = sqrt(abar_t) * x0 + "
            "sqrt(1 - abar_t) * noise (the *mean* scales by sqrt(abar_t)).",
            form(abar, (1 - abar).sqrt()),
        ),
        Mistake(
            "the noise is scaled by the variance 1 - abar_t; the std is sqrt(1 - abar_t).",
            form(abar.sqrt(), 1 - abar),
        ),
        Mistake(
            "both sqrts are missing: x_t = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * noise.",
            form(abar, 1 - abar),
        ),
        Mistake(
            "you used alphas (one step) where q(x_t | x0) needs the cumulative product "
            "alphas_cumprod (all steps 0..t at once).",
            form(a.sqrt(), (1 - a).sqrt()),
        ),
        Mistake(
            "you indexed alphas_cumprod at t - 1: steps are indexed from 0, so step t uses "
            "alphas_cumprod[t] (the paper's abar_{t+1}).",
            form(prev.sqrt(), (1 - prev).sqrt()),
        ),
        Mistake(
            "you indexed alphas_cumprod at t - 1 (and t = 0 wrapped to the last step): steps "
            "are indexed from 0, so step t uses alphas_cumprod[t].",
            form(wrapped.sqrt(), (1 - wrapped).sqrt()),
        ),
        Mistake(
            "the per-sample coefficient a[t] of shape (B,) broadcast along the last "
            "dimension; reshape it to (B, 1, ..., 1) so each sample gets its own step.",
            wrong_broadcast,
        ),
        Mistake(
            "every sample used the first sample's step t[0]: t holds one step per sample.",
            one_t,
        ),
        Mistake(
            "x0 and noise are swapped: x_t = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * noise.",
            lambda x0, t, noise: form(abar.sqrt(), (1 - abar).sqrt())(noise, t, x0),
        ),
    ]


def check_q_sample(fn) -> None:
    """Check ``q_sample(x0, t, noise, schedule) -> sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``."""
    assert_not_reference(fn, ref.q_sample)
    name = "q_sample"
    for sch_name, sch in _schedules():
        mistakes = _q_sample_mistakes(sch)
        for dev, dtype in cases():
            for i, shape in enumerate(_SHAPES):
                case = f"{sch_name}, shape {shape}, {dtype}, {dev.type}"
                x0 = randn(*shape, seed=300 + i, dtype=dtype, dev=dev)
                noise = randn(*shape, seed=310 + i, dtype=dtype, dev=dev)
                t = _steps(shape[0], len(sch), 320 + i, dev)
                args = (x0, t, noise, sch)
                before = [x0.clone(), t.clone(), noise.clone()]
                expected = ref.q_sample(*args)
                got = _call(fn, args, case=case)
                inputs_unchanged(name, before, [x0, t, noise])
                try:
                    compare(name, got, expected, mistakes=mistakes, args=args[:3], case=case)
                except AssertionError:
                    again = _call(fn, args, case=case)
                    if isinstance(got, torch.Tensor) and not torch.equal(got, again):
                        raise AssertionError(
                            f"{name} returned a different x_t for the same noise{where(case)}: "
                            "when noise is given, use it; draw fresh noise only when noise "
                            "is None."
                        ) from None
                    raise
    _check_fresh_noise(fn, name)
    success(name, "given noise, per-sample t, 2-D and 4-D, float32/float64, noise=None")


def _check_fresh_noise(fn, name: str) -> None:
    """noise=None: x_t ~ N(sqrt(abar_t) x0, (1 - abar_t) I), drawn like x0."""
    sch = _schedules()[0][1]
    with keep_student_rng():
        torch.manual_seed(0)
        for dev, dtype in cases():
            case = f"noise=None, {dtype}, {dev.type}"
            x0 = torch.ones(2, 20000, dtype=dtype, device=dev)
            t = torch.tensor([5, 40], device=dev)
            got = _call(fn, (x0, t, None, sch), case=case)
            assert_tensor(got, x0, f"{name} with noise=None", case)
            abar = sch.alphas_cumprod[[5, 40]]
            for row, a in zip(got.double().cpu(), abar.tolist(), strict=True):
                mean, std = row.mean().item(), row.std().item()
                if abs(mean - math.sqrt(a)) > 0.03 or abs(std - math.sqrt(1 - a)) > 0.03:
                    raise AssertionError(
                        f"{name} with noise=None gave mean {mean:.3g} and std {std:.3g}, "
                        f"expected {math.sqrt(a):.3g} and {math.sqrt(1 - a):.3g}{where(case)}: "
                        "draw standard normal noise like x0 (torch.randn_like(x0)) and use it "
                        "in the same formula."
                    )


# ---------------------------------------------------------------------------------------
# q_posterior
# ---------------------------------------------------------------------------------------


def _posterior_mistakes(sch):
    c1, c2 = sch.posterior_mean_coef1, sch.posterior_mean_coef2
    b, abar, prev = sch.betas, sch.alphas_cumprod, sch.alphas_cumprod_prev
    mean = [
        Mistake(
            "the two coefficients are swapped: beta_t sqrt(abar_{t-1}) / (1 - abar_t) "
            "weighs x0 and sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) weighs x_t.",
            lambda x0, x_t, t: _view(c2, t, x0) * x0 + _view(c1, t, x0) * x_t,
        ),
        Mistake(
            "x0 and x_t are swapped: the first argument is x0, the second x_t.",
            lambda x0, x_t, t: _view(c1, t, x0) * x_t + _view(c2, t, x0) * x0,
        ),
        Mistake(
            "the x0 coefficient uses sqrt(abar_t); it is beta_t sqrt(abar_{t-1}) / "
            "(1 - abar_t), with the *previous* cumulative product.",
            lambda x0, x_t, t: (
                _view(b * abar.sqrt() / (1 - abar), t, x0) * x0 + _view(c2, t, x0) * x_t
            ),
        ),
        Mistake(
            "the x_t coefficient uses alpha_t without its sqrt: "
            "sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t).",
            lambda x0, x_t, t: (
                _view(c1, t, x0) * x0 + _view((1 - prev) * sch.alphas / (1 - abar), t, x0) * x_t
            ),
        ),
    ]
    var = [
        Mistake(
            "you returned beta_t as the variance; the true posterior's variance is "
            "beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t) (eq. 7), exactly 0 at t = 0.",
            lambda x0, x_t, t: _view(b, t, x0),
        ),
        Mistake(
            "the factor beta_t is missing: beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t).",
            lambda x0, x_t, t: _view((1 - prev) / (1 - abar), t, x0),
        ),
        Mistake(
            "you returned the standard deviation sqrt(beta~_t); q_posterior returns the "
            "variance beta~_t.",
            lambda x0, x_t, t: _view(sch.posterior_variance.sqrt(), t, x0),
        ),
    ]
    return mean, var


def check_q_posterior(fn) -> None:
    """Check ``q_posterior(x0, x_t, t, schedule) -> (mean (B, ...), variance (B, 1, ..., 1))``."""
    assert_not_reference(fn, ref.q_posterior)
    name = "q_posterior"
    for sch_name, sch in _schedules():
        mean_mistakes, var_mistakes = _posterior_mistakes(sch)
        for dev, dtype in cases():
            for i, shape in enumerate(_SHAPES):
                case = f"{sch_name}, shape {shape}, {dtype}, {dev.type}"
                x0 = randn(*shape, seed=400 + i, dtype=dtype, dev=dev)
                x_t = randn(*shape, seed=410 + i, dtype=dtype, dev=dev)
                t = _steps(shape[0], len(sch), 420 + i, dev)
                args = (x0, x_t, t, sch)
                before = [x0.clone(), x_t.clone(), t.clone()]
                mean, var = ref.q_posterior(*args)
                got = _call(fn, args, case=case)
                inputs_unchanged(name, before, [x0, x_t, t])
                if not isinstance(got, tuple | list) or len(got) != 2:
                    raise AssertionError(
                        f"{name} should return a pair (mean, variance), got "
                        f"{type(got).__name__}{where(case)}."
                        + (" Did you forget a `return`?" if got is None else "")
                    )
                compare(f"{name} mean", got[0], mean, mistakes=mean_mistakes, args=args[:3],
                        case=case)  # fmt: skip
                v = got[1]
                if isinstance(v, torch.Tensor) and v.shape != var.shape:
                    raise AssertionError(
                        f"{name} variance has shape {tuple(v.shape)}, expected (B, 1, ..., 1) "
                        f"= {tuple(var.shape)}{where(case)}: one variance per sample, shaped "
                        "to broadcast against x (a[t].view(-1, *[1] * (x.ndim - 1)))."
                    )
                compare(f"{name} variance", v, var, mistakes=var_mistakes, args=args[:3],
                        case=case)  # fmt: skip
    success(name, "mean and variance, per-sample t (0 and T-1 included), float32/float64")


# ---------------------------------------------------------------------------------------
# ddpm_step
# ---------------------------------------------------------------------------------------


def _ddpm_mistakes(sch, t: int):
    b, a, abar = sch.betas[t], sch.alphas[t], sch.alphas_cumprod[t]

    def algo2(eps_coef, divide, sigma):
        def step(model_eps, x_t, noise):
            def c(v):
                return torch.as_tensor(v, dtype=torch.float64).to(x_t)

            out = (x_t - c(eps_coef) * model_eps) / c(divide)
            return out + c(sigma) * noise

        return step

    right_eps = b / (1 - abar).sqrt()
    sigma = b.sqrt() if t > 0 else 0.0
    return [
        Mistake(
            "noise was added at t = 0: the last step returns the mean alone (Algorithm 2: "
            "z = 0 when t = 0 here, the paper's t = 1).",
            algo2(right_eps, a.sqrt(), b.sqrt()),
        ),
        Mistake(
            "you used sigma_t^2 = beta~_t, the posterior variance. This course uses the "
            "paper's other choice, sigma_t^2 = beta_t ('fixed large', diffusers' "
            "variance_type='fixed_large'): add sqrt(beta_t) * noise.",
            algo2(right_eps, a.sqrt(), sch.posterior_variance[t].sqrt()),
        ),
        Mistake(
            "the noise is scaled by beta_t; sigma_t = sqrt(beta_t) is the std.",
            algo2(right_eps, a.sqrt(), b if t > 0 else 0.0),
        ),
        Mistake(
            "the eps coefficient misses a sqrt: it is beta_t / sqrt(1 - abar_t), not "
            "beta_t / (1 - abar_t).",
            algo2(b / (1 - abar), a.sqrt(), sigma),
        ),
        Mistake(
            "you divided by sqrt(abar_t); one reverse step divides by sqrt(alpha_t) (one "
            "step's alpha, not the cumulative product).",
            algo2(right_eps, abar.sqrt(), sigma),
        ),
        Mistake(
            "you divided by alpha_t; the factor is 1 / sqrt(alpha_t).",
            algo2(right_eps, a, sigma),
        ),
    ]


def check_ddpm_step(fn) -> None:
    """Check ``ddpm_step(model_eps, x_t, t, schedule, noise=None) -> x_{t-1}`` (sigma^2 = beta)."""
    assert_not_reference(fn, ref.ddpm_step)
    name = "ddpm_step"
    for sch_name, sch in _schedules():
        T = len(sch)
        for dev, dtype in cases():
            for i, shape in enumerate(_SHAPES[:4]):
                for t in (T - 1, T // 2, 1, 0):
                    case = f"{sch_name}, t={t}, shape {shape}, {dtype}, {dev.type}"
                    eps = randn(*shape, seed=500 + i + t, dtype=dtype, dev=dev)
                    x_t = randn(*shape, seed=510 + i + t, dtype=dtype, dev=dev)
                    noise = randn(*shape, seed=520 + i + t, dtype=dtype, dev=dev)
                    before = [eps.clone(), x_t.clone(), noise.clone()]
                    expected = ref.ddpm_step(eps, x_t, t, sch, noise)
                    got = _call(fn, (eps, x_t, t, sch, noise), case=case)
                    inputs_unchanged(name, before, [eps, x_t, noise])
                    compare(name, got, expected, mistakes=_ddpm_mistakes(sch, t),
                            args=(eps, x_t, noise), case=case)  # fmt: skip
    # Fresh noise: at t > 0 a new draw each call, at t = 0 none at all.
    sch = _schedules()[0][1]
    x = torch.zeros(2, 3, 4, 4)
    with keep_student_rng():
        torch.manual_seed(0)
        a = _call(fn, (x, x, 10, sch), case="noise=None, t=10")
        b = _call(fn, (x, x, 10, sch), case="noise=None, t=10")
        assert_tensor(a, x, f"{name} with noise=None", "t=10")
        if torch.equal(a, b):
            raise AssertionError(
                f"{name} with noise=None returned the same x_(t-1) twice at t=10: draw fresh "
                "noise at every call (torch.randn_like(x_t))."
            )
        last = _call(fn, (x, x, 0, sch), case="noise=None, t=0")
        if not close(last, torch.zeros_like(x)):
            raise AssertionError(
                f"{name} with noise=None added noise at t = 0: the last step returns the mean."
            )
    success(name, "t = T-1 .. 0, given and fresh noise, float32/float64")


# ---------------------------------------------------------------------------------------
# ddim_step
# ---------------------------------------------------------------------------------------


def _ddim(sch, model_eps, x_t, t, abar_prev, eta, noise, *, dir_sigma=True):
    """DDIM written out with a given abar_prev (float64 scalar tensor)."""
    abar_t = sch.alphas_cumprod[t]
    abar_prev = torch.as_tensor(abar_prev, dtype=torch.float64)
    sigma = torch.zeros((), dtype=torch.float64)
    if eta > 0:
        sigma = eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).sqrt()
    d = (1 - abar_prev - (sigma**2 if dir_sigma else 0)).clamp(min=0).sqrt()
    x0 = (x_t - (1 - abar_t).sqrt().to(x_t) * model_eps) / abar_t.sqrt().to(x_t)
    return abar_prev.sqrt().to(x_t) * x0 + d.to(x_t) * model_eps + sigma.to(x_t) * noise


def _ddim_mistakes(sch, t, t_prev, eta):
    abar = sch.alphas_cumprod
    prev = abar[t_prev] if t_prev >= 0 else torch.tensor(1.0, dtype=torch.float64)

    def m(message, abar_prev, eta_, **kw):
        return Mistake(message, lambda e, x, z: _ddim(sch, e, x, t, abar_prev, eta_, z, **kw))

    return [
        m(
            "you took abar_prev at t - 1; DDIM jumps from t to t_prev (which may be many "
            "steps earlier): use alphas_cumprod[t_prev].",
            sch.alphas_cumprod_prev[t],
            eta,
        ),
        m(
            "t_prev = -1 indexed alphas_cumprod[-1], the *last* step; t_prev = -1 means the "
            "final step to clean data, abar_prev = 1.",
            abar[t_prev],
            eta,
        ),
        m(
            "eta is ignored: sigma_t = eta * sqrt((1 - abar_prev) / (1 - abar_t)) * "
            "sqrt(1 - abar_t / abar_prev) adds noise when eta > 0.",
            prev,
            0.0,
        ),  # fmt: skip
        m(
            "the direction to x_t has coefficient sqrt(1 - abar_prev - sigma_t^2); you left "
            "out sigma_t^2.",
            prev,
            eta,
            dir_sigma=False,
        ),
        m("sigma_t misses the factor eta.", prev, 1.0),
    ]


def check_ddim_step(fn) -> None:
    """Check ``ddim_step(model_eps, x_t, t, t_prev, schedule, eta=0.0, noise=None)``."""
    assert_not_reference(fn, ref.ddim_step)
    name = "ddim_step"
    steps = [(49, 39, 0.0), (10, 0, 0.0), (5, -1, 0.0), (0, -1, 0.0), (30, 10, 1.0),
             (20, 19, 0.5), (3, -1, 0.3)]  # fmt: skip
    for sch_name, sch in _schedules():
        for dev, dtype in cases():
            for i, shape in enumerate(_SHAPES[:4]):
                for t, t_prev, eta in steps:
                    case = (
                        f"{sch_name}, t={t}, t_prev={t_prev}, eta={eta}, shape {shape}, "
                        f"{dtype}, {dev.type}"
                    )
                    eps = randn(*shape, seed=600 + i + t, dtype=dtype, dev=dev)
                    x_t = randn(*shape, seed=610 + i + t, dtype=dtype, dev=dev)
                    noise = randn(*shape, seed=620 + i + t, dtype=dtype, dev=dev)
                    before = [eps.clone(), x_t.clone(), noise.clone()]
                    expected = ref.ddim_step(eps, x_t, t, t_prev, sch, eta, noise)
                    got = _call(fn, (eps, x_t, t, t_prev, sch), {"eta": eta, "noise": noise},
                                case=case)  # fmt: skip
                    inputs_unchanged(name, before, [eps, x_t, noise])
                    try:
                        compare(name, got, expected,
                                mistakes=_ddim_mistakes(sch, t, t_prev, eta),
                                args=(eps, x_t, noise), case=case)  # fmt: skip
                    except AssertionError as err:
                        if t_prev == -1 and "alphas_cumprod[-1]" not in str(err):
                            raise AssertionError(
                                f"{err} t_prev = -1 is the final step to clean data: "
                                "abar_prev = 1 there (alphas_cumprod[-1] would be the *last* "
                                "step)."
                            ) from None
                        raise
    # eta = 0 is deterministic even with noise=None.
    sch = _schedules()[1][1]
    x = randn(2, 3, 4, 4, seed=630)
    e = randn(2, 3, 4, 4, seed=631)
    a = _call(fn, (e, x, 30, 20, sch), case="eta=0, noise=None")
    b = _call(fn, (e, x, 30, 20, sch), case="eta=0, noise=None")
    assert_tensor(a, x, name, "eta=0, noise=None")
    if not torch.equal(a, b):
        raise AssertionError(
            f"{name} with eta=0 returned different results for the same inputs: eta = 0 "
            "means sigma_t = 0, a deterministic step; draw noise only when eta > 0."
        )
    success(name, "eta = 0, 0.3, 0.5, 1, jumps to t_prev = -1, float32/float64")


# ---------------------------------------------------------------------------------------
# timestep_embedding
# ---------------------------------------------------------------------------------------


def _embedding(t, dim, *, base=10000.0, denom="half", sign=-1.0, order="sin_cos"):
    """The sinusoidal embedding written out in float64 on the CPU, with the knobs a student
    may turn. Returns (values (B, dim), the argument t * w behind each value (B, dim))."""
    t64 = t.detach().to("cpu", torch.float64)
    half = dim // 2
    i = torch.arange(half, dtype=torch.float64)  # (half,)
    d = {"half": half, "dim": dim, "half-1": max(half - 1, 1)}[denom]
    args = t64[:, None] * (base ** (sign * i / d))[None, :]  # (B, half)
    sin, cos = args.sin(), args.cos()
    first, second = (sin, cos) if order in ("sin_cos", "interleaved") else (cos, sin)
    if order.startswith("interleaved"):
        values = torch.stack([first, second], dim=-1).reshape(len(t64), dim)
        return values, torch.stack([args, args], dim=-1).reshape(len(t64), dim)
    return torch.cat([first, second], dim=1), torch.cat([args, args], dim=1)


def _embedding_close(got, want, args, dtype) -> bool:
    """Elementwise closeness that allows the round-off of sin(t w) at large t w: an
    argument near 1000 computed in float32 is off by ~1e-4, which sin passes on."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
        return False
    got64 = got.detach().to("cpu", torch.float64)
    tol = TOL.get(dtype, TOL[torch.float32])
    bound = tol["atol"] + tol["rtol"] * want.abs() + 32 * torch.finfo(dtype).eps * (1 + args.abs())
    return bool(torch.isfinite(got64).all()) and bool(((got64 - want).abs() <= bound).all())


_EMBEDDING_MISTAKES = [
    Mistake(
        "the halves are swapped: the course puts the sines first, [sin(t w), cos(t w)] "
        "(diffusers' flip_sin_to_cos=False), not [cos, sin].",
        lambda t, dim: _embedding(t, dim, order="cos_sin"),
    ),
    Mistake(
        "you interleaved sin and cos (sin t w_0, cos t w_0, sin t w_1, ...); the course "
        "concatenates two halves: torch.cat([sin(t w), cos(t w)], dim=-1).",
        lambda t, dim: _embedding(t, dim, order="interleaved"),
    ),
    Mistake(
        "you interleaved cos and sin (cos t w_0, sin t w_0, ...); the course concatenates "
        "two halves, sines first: torch.cat([sin(t w), cos(t w)], dim=-1).",
        lambda t, dim: _embedding(t, dim, order="interleaved_cos"),
    ),
    Mistake(
        "the frequency exponent divides by dim; it divides by half = dim / 2: "
        "w_i = 10000^(-i / half), i = 0 .. half - 1, so the lowest frequency is "
        "close to 1/10000.",
        lambda t, dim: _embedding(t, dim, denom="dim"),
    ),
    Mistake(
        "the frequency exponent divides by half - 1 (tensor2tensor's convention); the "
        "course divides by half = dim / 2: w_i = 10000^(-i / half).",
        lambda t, dim: _embedding(t, dim, denom="half-1"),
    ),
    Mistake(
        "the base is 1000; the frequencies are w_i = 10000^(-i / half), base 10000 "
        "(Vaswani et al. 2017, sec. 3.5).",
        lambda t, dim: _embedding(t, dim, base=1000.0),
    ),
    Mistake(
        "the minus sign in the exponent is missing: w_i = 10000^(-i / half) (equivalently "
        "exp(-log(10000) * i / half)) falls from 1 to about 1/10000; yours grows.",
        lambda t, dim: _embedding(t, dim, sign=1.0),
    ),
]


def _embedding_result(name, got, t, expected, case) -> None:
    """Type, dtype (float32 for integer t, t's dtype for float t), shape and device."""
    if not isinstance(got, torch.Tensor):
        raise AssertionError(
            f"{name} should return a torch.Tensor, got {type(got).__name__}{where(case)}."
            + (" Did you forget a `return`?" if got is None else "")
        )
    if got.dtype != expected.dtype:
        if t.dtype.is_floating_point:
            rule = f"a float t keeps its dtype, so a {t.dtype} t gives a {t.dtype} embedding"
        else:
            rule = (
                f"integer steps ({t.dtype}) give a float32 embedding (the network's dtype); "
                "compute in float64 if you like, then .to(torch.float32)"
            )
        raise AssertionError(f"{name} returned dtype {got.dtype}{where(case)}: {rule}.")
    assert_tensor(got, expected, name, case)


def check_timestep_embedding(fn) -> None:
    """Check ``timestep_embedding(t (B,), dim) -> (B, dim)``: [sin(t w), cos(t w)] halves,
    w_i = 10000^(-i / (dim / 2)); float32 for integer t, t's dtype for float t."""
    assert_not_reference(fn, ref.timestep_embedding)
    name = "timestep_embedding"
    dims = (2, 4, 6, 10, 32, 128)
    batches = (5, 1, 16, 3, 8, 4)
    for dev in devices():
        for t_dtype in (torch.long, torch.float32, torch.float64):
            for k, (dim, batch) in enumerate(zip(dims, batches, strict=True)):
                case = f"dim={dim}, B={batch}, t {t_dtype}, {dev.type}"
                g = torch.Generator().manual_seed(700 + k)
                if t_dtype == torch.long:
                    t = torch.randint(0, 1000, (batch,), generator=g)
                else:
                    t = torch.rand(batch, generator=g, dtype=torch.float64) * 1000
                if batch >= 3:
                    t[0], t[1], t[2] = 0, 999, 1  # both ends and the first step
                t = t.to(dev, t_dtype)
                before = t.clone()
                expected = ref.timestep_embedding(t, dim)
                want, args = _embedding(t, dim)
                got = _call(fn, (t, dim), case=case)
                inputs_unchanged(name, [before], [t])
                _embedding_result(name, got, t, expected, case)
                if _embedding_close(got, want, args, expected.dtype):
                    continue
                for mistake in _EMBEDDING_MISTAKES:
                    wrong, wrong_args = mistake.fn(t, dim)
                    if _embedding_close(got, wrong, wrong_args, expected.dtype):
                        raise AssertionError(f"{name}: {mistake.message}{where(case)}")
                if expected.dtype == torch.float64 and _embedding_close(
                    got, want, args, torch.float32
                ):
                    raise AssertionError(
                        f"{name} is only float32-accurate for a float64 t{where(case)}: "
                        "compute the frequencies and t * w in float64 (torch.arange(half, "
                        "dtype=torch.float64, device=t.device)); torch.arange defaults to "
                        "float32, and t.float() drops t's precision."
                    )
                raise AssertionError(mismatch_message(name, got, want.to(expected), case))
    success(name, "dims 2..128, integer and float t, [sin, cos] halves, dtypes")


# ---------------------------------------------------------------------------------------
# guided_eps
# ---------------------------------------------------------------------------------------

_GUIDED_MISTAKES = [
    Mistake(
        "eps_cond and eps_uncond are swapped: the guided noise starts from eps_uncond and "
        "moves toward eps_cond, eps_uncond + scale * (eps_cond - eps_uncond); scale = 0 "
        "gives eps_uncond, scale = 1 gives eps_cond.",
        lambda c, u, s: c + s * (u - c),
    ),
    Mistake(
        "you used the other classifier-free-guidance convention, (1 + w) eps_cond - "
        "w eps_uncond (Ho & Salimans 2022, eq. 6, with their w). The course's scale is "
        "their 1 + w: scale = 1 gives the conditional prediction, scale = 0 the "
        "unconditional one: eps_uncond + scale * (eps_cond - eps_uncond).",
        lambda c, u, s: (1 + s) * c - s * u,
    ),
    Mistake(
        "the unconditional baseline is missing: scale * (eps_cond - eps_uncond) is only "
        "the guidance direction; add it to eps_uncond.",
        lambda c, u, s: s * (c - u),
    ),
    Mistake(
        "the guidance direction is reversed: it points from eps_uncond toward eps_cond, "
        "eps_uncond + scale * (eps_cond - eps_uncond).",
        lambda c, u, s: u + s * (u - c),
    ),
]

_GUIDED_HINTS = {
    "Boolean value of Tensor": "scale may be a (B, 1, ..., 1) tensor, one guidance weight "
    "per sample: don't test it with `if`; the formula works for a float and a tensor alike.",
}


def check_guided_eps(fn) -> None:
    """Check ``guided_eps(eps_cond, eps_uncond, scale) -> (B, ...)``:
    eps_uncond + scale * (eps_cond - eps_uncond), scale a float or a (B, 1, ..., 1) tensor."""
    assert_not_reference(fn, ref.guided_eps)
    name = "guided_eps"
    for dev, dtype in cases():
        for i, shape in enumerate(_SHAPES):
            c = randn(*shape, seed=800 + i, dtype=dtype, dev=dev)
            u = randn(*shape, seed=810 + i, dtype=dtype, dev=dev)
            per_sample = 1 + 7 * rand(shape[0], seed=820 + i, dtype=dtype, dev=dev)
            per_sample = per_sample.view(-1, *[1] * (len(shape) - 1))
            # 3 first: at scale 0 the swapped and (1 + w) mistakes give the same output.
            for scale in (3.0, 1.0, 7.5, 0.0, per_sample):
                label = "a (B, 1, ..., 1) tensor" if isinstance(scale, torch.Tensor) else scale
                case = f"scale={label}, shape {shape}, {dtype}, {dev.type}"
                before = [c.clone(), u.clone()] + (
                    [scale.clone()] if isinstance(scale, torch.Tensor) else []
                )
                expected = ref.guided_eps(c, u, scale)
                got = _call(fn, (c, u, scale), case=case, hints=_GUIDED_HINTS)
                inputs_unchanged(name, before, [c, u] + before[2:])
                compare(name, got, expected, mistakes=_GUIDED_MISTAKES, args=(c, u, scale),
                        case=case)  # fmt: skip
    success(name, "scale = 0, 1, 3, 7.5 and per-sample tensor scales, float32/float64")


# ---------------------------------------------------------------------------------------
# diffusion_loss
# ---------------------------------------------------------------------------------------


class _ProbeModel(torch.nn.Module):
    """A tiny noise predictor that records what it is called with.

    ``eps_hat = w * x_t + c * (t + 1) / T``, per sample (so a per-sample loop gives the
    same outputs as one batched call); ``w`` and ``c`` are 0-d parameters, so the output
    keeps ``x_t``'s dtype and the loss has a known gradient.
    """

    def __init__(self, T: int, sample_shape: tuple[int, ...]):
        super().__init__()
        self.T = T
        self.sample_shape = tuple(sample_shape)
        self.w = torch.nn.Parameter(torch.tensor(0.3))
        self.c = torch.nn.Parameter(torch.tensor(0.7))
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x_t, t):
        if not isinstance(x_t, torch.Tensor) or tuple(x_t.shape[1:]) != self.sample_shape:
            raise TypeError(
                "the model is called as model(x_t, t) with x_t shaped like x0, (B, "
                f"{', '.join(map(str, self.sample_shape))}); it got "
                f"{type(x_t).__name__}{tuple(x_t.shape) if isinstance(x_t, torch.Tensor) else ''}"
            )
        if not isinstance(t, torch.Tensor) or t.ndim != 1 or t.shape[0] != x_t.shape[0]:
            raise TypeError(
                "the model is called as model(x_t, t) with t a (B,) tensor of integer steps, "
                "one per sample; it got "
                + (f"a tensor of shape {tuple(t.shape)}" if isinstance(t, torch.Tensor)
                   else type(t).__name__)
                + " (pass the same t you used for x_t)"
            )  # fmt: skip
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise TypeError(f"the model expects integer steps t (torch.long), got {t.dtype}")
        self.calls.append((x_t.detach().clone(), t.detach().clone()))
        tt = (t.to(x_t.dtype) + 1) / self.T  # (B,)
        return self.w * x_t + self.c * tt.view(-1, *[1] * (x_t.ndim - 1))  # (B, ...)

    def recorded(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """All calls since the last reset, concatenated along the batch; None if none."""
        if not self.calls:
            return None
        x_t = torch.cat([c[0] for c in self.calls])
        t = torch.cat([c[1] for c in self.calls])
        self.calls = []
        return x_t, t


def _loss_mistakes():
    """Wrong losses, as functions of (model output, noise, x0, x_t)."""

    def mse(a, b):
        return ((a - b) ** 2).mean()

    return [
        Mistake(
            "the target is x0, not the noise: the model predicts the noise that made x_t, "
            "so the loss is mean((model(x_t, t) - noise)^2) (Ho et al. 2020, eq. 14).",
            lambda out, noise, x0, x_t: mse(out, x0),
        ),
        Mistake(
            "the target is x_t, not the noise that made it: mean((model(x_t, t) - noise)^2).",
            lambda out, noise, x0, x_t: mse(out, x_t),
        ),
        Mistake(
            "you summed the squared errors; the loss is their mean over all elements "
            "(batch and pixels), so it does not grow with the batch or the image size.",
            lambda out, noise, x0, x_t: ((out - noise) ** 2).sum(),
        ),
        Mistake(
            "you summed the squared errors over each sample's elements and averaged over "
            "the batch; the loss is the mean over all elements (F.mse_loss).",
            lambda out, noise, x0, x_t: ((out - noise) ** 2).flatten(1).sum(1).mean(),
        ),
        Mistake(
            "you took the square root (an RMSE); the loss is the mean squared error.",
            lambda out, noise, x0, x_t: mse(out, noise).sqrt(),
        ),
        Mistake(
            "this is the mean absolute error (L1); the loss is the mean *squared* error.",
            lambda out, noise, x0, x_t: (out - noise).abs().mean(),
        ),
    ]


_LOSS_HINTS = {
    "out of bounds": "Steps are indexed from 0: draw t with torch.randint(0, T, (B,)), "
    "whose upper bound is exclusive, so t lies in 0..T-1.",
}


def _loss_case(fn, name, sch, x0, t, noise, case):
    """Given t and noise: x_t, t, the loss value and the gradient must match the reference."""
    T = len(sch)
    model = _ProbeModel(T, tuple(x0.shape[1:])).to(x0.device)
    expected = ref.diffusion_loss(model, x0, sch, t=t, noise=noise)
    expected.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    model.calls = []
    want_x_t = ref.q_sample(x0, t, noise, sch)
    before = [x0.clone(), t.clone(), noise.clone()]

    got = _call(fn, (model, x0, sch), {"t": t, "noise": noise}, case=case, hints=_LOSS_HINTS)
    inputs_unchanged(name, before, [x0, t, noise])
    assert_tensor(got, expected, f"{name} (the loss)", case, shape=())
    seen = model.recorded()
    if seen is None:
        raise AssertionError(
            f"{name} never called model(x_t, t){where(case)}: the model predicts the noise "
            "in x_t, and the loss compares that prediction with the noise."
        )
    seen_x_t, seen_t = seen
    if seen_t.shape != t.shape or not torch.equal(seen_t.to(t.device), t):
        if seen_t.shape == t.shape and torch.equal(seen_t.to(t.device), t + 1):
            raise AssertionError(
                f"{name} passed t + 1 to the model{where(case)}: steps are indexed from 0 in "
                "the course (t in 0..T-1); pass the t you were given unchanged."
            )
        raise AssertionError(
            f"{name} called the model with other steps than the t it was given{where(case)}: "
            f"given {t[:6].tolist()}, the model saw {seen_t[:6].tolist()}. When t is passed, "
            "use it (draw t only when it is None) and give the model the same t as q_sample."
        )
    if not close(seen_x_t, want_x_t):
        again = _ProbeModel(T, tuple(x0.shape[1:])).to(x0.device)
        _call(fn, (again, x0, sch), {"t": t, "noise": noise}, case=case, hints=_LOSS_HINTS)
        redo = again.recorded()
        if redo is not None and not torch.equal(redo[0], seen_x_t):
            raise AssertionError(
                f"{name} made a different x_t for the same t and noise{where(case)}: when "
                "noise is given, use it for x_t (draw fresh noise only when noise is None)."
            )
        hint = diagnose(seen_x_t, _q_sample_mistakes(sch), x0, t, noise)
        if hint is not None:
            raise AssertionError(
                f"{name}: the x_t passed to the model is wrong: {hint}{where(case)}"
            )
        raise AssertionError(
            f"{name}: the x_t passed to the model is wrong{where(case)}: expected "
            "x_t = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * noise with abar_t = "
            f"schedule.alphas_cumprod[t]. {mismatch_message('x_t', seen_x_t, want_x_t, case)}"
        )
    if not got.requires_grad:
        raise AssertionError(
            f"{name} returned a loss without a gradient{where(case)}: don't detach it, call "
            ".item(), or compute it under torch.no_grad(); training needs loss.backward()."
        )
    if not close(got, expected):
        with torch.no_grad():
            out = model(want_x_t, t)
            model.calls = []
        hint = diagnose(got, _loss_mistakes(), out, noise, x0, want_x_t)
        if hint is not None:
            raise AssertionError(f"{name}: {hint}{where(case)}")
        again = _call(fn, (model, x0, sch), {"t": t, "noise": noise}, case=case)
        model.calls = []
        if isinstance(again, torch.Tensor) and not torch.equal(got.detach(), again.detach()):
            raise AssertionError(
                f"{name} returned a different loss for the same t and noise{where(case)}, "
                "although x_t was right: the target must be the same noise that made x_t, "
                "not a fresh draw."
            )
        raise AssertionError(mismatch_message(name, got, expected, case))
    got.backward()
    for p, g in zip(model.parameters(), grads, strict=True):
        if p.grad is None or not close(p.grad, g):
            raise AssertionError(
                f"{name}: the gradient of the loss with respect to the model's parameters is "
                f"wrong{where(case)}, although the value is right: keep the whole computation "
                "in the graph (no .detach() on the model output)."
            )


def _check_drawn_t_and_noise(fn, name: str) -> None:
    """t=None and noise=None: t ~ U{0..T-1} per sample, fresh noise, consistent target."""
    sch = _schedules()[0][1]
    T = len(sch)
    B = 2000
    with keep_student_rng():
        torch.manual_seed(1)
        for dev, dtype in cases():
            case = f"t=None, noise=None, {dtype}, {dev.type}"
            x0 = (0.5 * randn(B, 3, seed=900, dtype=dtype, dev=dev)).add(0.5)
            model = _ProbeModel(T, (3,)).to(dev)
            got = _call(fn, (model, x0, sch), case=case, hints=_LOSS_HINTS)
            seen = model.recorded()
            if seen is None:
                raise AssertionError(f"{name} never called model(x_t, t){where(case)}.")
            x_t, t = seen
            if t.shape != (B,):
                raise AssertionError(
                    f"{name} passed t of shape {tuple(t.shape)} to the model{where(case)}: "
                    "draw one step per sample, torch.randint(0, T, (B,))."
                )
            if t.device.type != dev.type:
                raise AssertionError(
                    f"{name} drew t on {t.device} for x0 on {dev}{where(case)}: "
                    "pass device=x0.device to torch.randint."
                )
            if int(t.max()) >= T or int(t.min()) < 0:
                raise AssertionError(
                    f"{name} drew steps outside 0..T-1 (got {int(t.min())}..{int(t.max())}) "
                    f"{where(case)}: steps are indexed from 0, torch.randint(0, T, (B,))."
                )
            if bool((t == t[0]).all()):
                raise AssertionError(
                    f"{name} used the same step t for the whole batch{where(case)}: draw one "
                    "step per sample, torch.randint(0, T, (B,)), so every batch sees many "
                    "noise levels and the gradient has less variance."
                )
            if int(t.min()) >= 1:
                raise AssertionError(
                    f"{name} never drew t = 0 in {B} draws{where(case)}: steps are indexed "
                    "from 0 here (the paper's 1..T), so draw torch.randint(0, T, (B,)) — the "
                    "lower bound is included, the upper one excluded."
                )
            if int(t.max()) <= T - 2:
                raise AssertionError(
                    f"{name} never drew the last step t = T - 1 in {B} draws{where(case)}: "
                    "torch.randint(0, T, (B,)) already excludes T; randint(0, T - 1) "
                    "misses the noisiest step."
                )
            counts = torch.bincount(t.cpu(), minlength=T).double()
            if counts.max() > 2.5 * B / T or counts.min() < 0.3 * B / T:
                raise AssertionError(
                    f"{name} does not draw t uniformly from 0..T-1{where(case)} (counts per "
                    f"step range from {int(counts.min())} to {int(counts.max())}, expected "
                    f"about {B // T} each): use torch.randint(0, T, (B,))."
                )
            # Recover the noise that made x_t and test it.
            a = _view(sch.sqrt_alphas_cumprod, t, x0)
            s = _view(sch.sqrt_one_minus_alphas_cumprod, t, x0)
            eps = ((x_t.to(x0) - a * x0) / s).double()  # (B, 3)
            if bool((eps - eps[:1]).abs().max() < 1e-3):
                raise AssertionError(
                    f"{name} gave every sample the same noise{where(case)}: draw noise shaped "
                    "like x0, torch.randn_like(x0), not one sample's worth."
                )
            mean, std = eps.mean().item(), eps.std().item()
            if abs(mean) > 0.05 or abs(std - 1) > 0.05:
                raise AssertionError(
                    f"{name} with noise=None: the noise in x_t has mean {mean:.3g} and std "
                    f"{std:.3g}, expected 0 and 1{where(case)}: draw it with "
                    "torch.randn_like(x0) (normal, not torch.rand_like's uniform)."
                )
            with torch.no_grad():
                out = model(x_t.to(x0), t)
                model.calls = []
            want = ((out.double() - eps) ** 2).mean()
            if not isinstance(got, torch.Tensor) or got.shape != ():
                assert_tensor(got, x0, f"{name} (the loss)", case, shape=())
            if abs(got.item() - want.item()) > 1e-3 * max(1.0, want.item()):
                raise AssertionError(
                    f"{name} with noise=None: the loss is not mean((model(x_t, t) - noise)^2) "
                    f"for the noise that made x_t{where(case)}: draw the noise once and use "
                    "the same tensor in x_t and as the target."
                )
            model2 = _ProbeModel(T, (3,)).to(dev)
            _call(fn, (model2, x0, sch), case=case, hints=_LOSS_HINTS)
            seen2 = model2.recorded()
            if seen2 is not None and torch.equal(seen2[0], x_t):
                raise AssertionError(
                    f"{name} drew the same t and noise on two calls{where(case)}: don't seed "
                    "inside the function (torch.manual_seed); every training step needs "
                    "fresh t and noise."
                )


def check_diffusion_loss(fn) -> None:
    """Check ``diffusion_loss(model, x0, schedule, t=None, noise=None) -> ()``:
    mean((model(x_t, t) - noise)^2) with x_t = q_sample(x0, t, noise)."""
    assert_not_reference(fn, ref.diffusion_loss)
    name = "diffusion_loss"
    for sch_name, sch in _schedules():
        for dev, dtype in cases():
            for i, shape in enumerate(_SHAPES):
                case = f"{sch_name}, shape {shape}, {dtype}, {dev.type}"
                x0 = randn(*shape, seed=850 + i, dtype=dtype, dev=dev)
                noise = randn(*shape, seed=860 + i, dtype=dtype, dev=dev)
                t = _steps(shape[0], len(sch), 870 + i, dev)
                _loss_case(fn, name, sch, x0, t, noise, case)
    _check_drawn_t_and_noise(fn, name)
    success(name, "given t and noise, drawn t ~ U{0..T-1} and fresh noise, gradients, dtypes")
