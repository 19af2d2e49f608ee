"""Checks for week 02 (variational autoencoders): ``check_<name>(your_function)``.

Each check runs your code on seeded inputs (several shapes, float32 and float64,
the CPU and the accelerator when there is one) and compares it with the course's
reference, which is switched off while your code runs. A failure names the
likely mistake. Conventions (as in ``course.vae``): every per-sample quantity is
summed over all non-batch dimensions and returned as (B,); ``logvar`` is
:math:`\\log \\sigma^2`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course import vae as ref
from course.checks._core import (
    Mistake,
    assert_not_reference,
    assert_tensor,
    call_student,
    cases,
    close,
    compare,
    inputs_unchanged,
    rand,
    randn,
    success,
    where,
)

__all__ = [
    "check_bernoulli_log_likelihood",
    "check_elbo",
    "check_gaussian_kl",
    "check_gaussian_log_likelihood",
    "check_reparameterize",
]

_LOG_2PI = math.log(2 * math.pi)


def _sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over every non-batch dim: (B, ...) -> (B,)."""
    return t.flatten(1).sum(dim=1)


def _call(fn, args, kwargs=None, *, case: str = "", hints: dict[str, str] | None = None):
    """``call_student`` whose error message gains a hint when it contains a known phrase."""
    return call_student(fn, args, kwargs, references=[ref], case=case, hints=hints)


def _per_sample(name: str, got, expected: torch.Tensor, case: str, scalar_hints=()) -> None:
    """A (B,) result: when the shape is wrong, say which reduction went wrong."""
    if not isinstance(got, torch.Tensor) or got.shape == expected.shape:
        return
    batch = expected.shape[0]
    if got.numel() == 1 and (got.ndim == 0 or batch != 1):
        hints = [
            *scalar_hints,
            (expected.sum(), "you summed over the batch too"),
            (expected.mean(), "you averaged over the batch"),
        ]
        for value, hint in hints:
            if close(got.detach().reshape(()), value):
                raise AssertionError(
                    f"{name}: {hint}. It returns one value per sample, shape (B,) = "
                    f"{tuple(expected.shape)}; reduce over the non-batch dims only "
                    f"(t.flatten(1).sum(dim=1)){where(case)}."
                )
        raise AssertionError(
            f"{name} returned a single number{where(case)}; it returns one value per sample, "
            f"shape (B,) = {tuple(expected.shape)}: sum over the non-batch dims only."
        )
    if got.ndim >= 2 and got.shape[0] == batch:
        raise AssertionError(
            f"{name} returned shape {tuple(got.shape)}, expected (B,) = {tuple(expected.shape)}"
            f"{where(case)}: sum over *every* non-batch dim (t.flatten(1).sum(dim=1)), not only "
            "over dim 1 and not over none."
        )


def _finite(name: str, got, expected: torch.Tensor, case: str, hint: str) -> None:
    """Name the cause when the result holds nan or inf and the correct one does not."""
    if (
        isinstance(got, torch.Tensor)
        and got.shape == expected.shape
        and not torch.isfinite(got).all()
        and torch.isfinite(expected).all()
    ):
        raise AssertionError(f"{name} returned nan or inf{where(case)}: {hint}")


def _leaves(tensors, names):
    """Fresh copies; those with a name track gradients, those named None do not."""
    return [
        t.detach().clone().requires_grad_(arg is not None)
        for t, arg in zip(tensors, names, strict=True)
    ]


def _check_gradients(name, fn, tensors, names, weight_shape, **kwargs) -> None:
    """The student's gradients w.r.t. the named ``tensors`` equal the reference's (float64, CPU)."""
    weight = randn(*weight_shape, seed=7, dtype=torch.float64)
    ref_leaves = _leaves(tensors, names)
    (getattr(ref, name)(*ref_leaves, **kwargs) * weight).sum().backward()
    leaves = _leaves(tensors, names)
    out = _call(fn, leaves, kwargs, case="gradient check")
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise AssertionError(
            f"{name} returned a result without gradient: do not use .item(), .detach(), "
            ".data, torch.no_grad() or numpy inside, the VAE is trained through it."
        )
    try:
        (out * weight).sum().backward()
    except RuntimeError as err:
        raise AssertionError(
            f"{name}: the backward pass failed ({err}). An in-place operation (add_, mul_, "
            "+=, ...) overwrote a tensor autograd saved for the gradient, e.g. the output of "
            "exp; use out-of-place operations there."
        ) from err
    for leaf, want, arg in zip(leaves, ref_leaves, names, strict=True):
        if arg is None:
            continue
        if leaf.grad is None:
            raise AssertionError(
                f"{name}: no gradient reaches {arg}. Did you detach it (.detach(), .data) or "
                "rebuild it with torch.tensor(...)? The VAE learns through this gradient."
            )
        if not close(leaf.grad, want.grad):
            raise AssertionError(
                f"{name} gives wrong gradients w.r.t. {arg} although the values are right: "
                "is part of the computation detached?"
            )


# ---------------------------------------------------------------------------------------
# reparameterize
# ---------------------------------------------------------------------------------------


def _std(logvar):
    return torch.exp(0.5 * logvar)


_REPARAM_MISTAKES = [
    Mistake(
        "you used exp(logvar) as the standard deviation; exp(logvar) is the *variance* "
        "sigma^2. The std is sigma = exp(0.5 * logvar).",
        lambda mu, logvar, noise: mu + logvar.exp() * noise,
    ),
    Mistake(
        "you used sqrt(logvar) as the standard deviation; logvar is log sigma^2 (any real "
        "number), so sigma = exp(0.5 * logvar).",
        lambda mu, logvar, noise: mu + logvar.sqrt() * noise,
    ),
    Mistake(
        "you multiplied the noise by logvar itself; logvar is log sigma^2, not sigma: "
        "z = mu + exp(0.5 * logvar) * noise.",
        lambda mu, logvar, noise: mu + logvar * noise,
    ),
    Mistake(
        "you forgot mu: z = mu + sigma * noise, the noise is scaled *and shifted*.",
        lambda mu, logvar, noise: _std(logvar) * noise,
    ),
    Mistake(
        "the noise is missing: z = mu + sigma * noise, not mu + sigma.",
        lambda mu, logvar, noise: mu + _std(logvar),
    ),
    Mistake(
        "you scaled by exp(-0.5 * logvar) = 1 / sigma; the std is exp(+0.5 * logvar).",
        lambda mu, logvar, noise: mu + torch.exp(-0.5 * logvar) * noise,
    ),
    Mistake(
        "mu and logvar are swapped: the first argument is mu, the second logvar.",
        lambda mu, logvar, noise: logvar + _std(mu) * noise,
    ),
]

_NAN_LOGVAR = (
    "logvar = log sigma^2 is any real number (negative when sigma < 1), so sqrt(logvar) "
    "or log(logvar) fails. The std is sigma = exp(0.5 * logvar)."
)
_BOOL_HINT = {
    "Boolean value of Tensor": "Test `if noise is None:` — `noise or torch.randn_like(mu)` "
    "asks a whole tensor for its truth value."
}


def check_reparameterize(fn) -> None:
    """Check ``reparameterize(mu, logvar, noise=None) -> mu + exp(0.5 * logvar) * noise``.

    Judged: values with given noise (several shapes, 4-D included), fresh standard
    normal noise when ``noise`` is None (statistics, dtype, device), and the
    gradients dz/dmu = 1 and dz/dlogvar = 0.5 * exp(0.5 * logvar) * noise.
    """
    assert_not_reference(fn, ref.reparameterize)
    name = "reparameterize"
    shapes = [(4, 3), (1, 5), (2, 3, 4, 4)]
    for dev, dtype in cases():
        for i, shape in enumerate(shapes):
            case = f"shape {shape}, {dtype}, {dev.type}"
            mu = randn(*shape, seed=100 + i, dtype=dtype, dev=dev)
            logvar = randn(*shape, seed=110 + i, dtype=dtype, dev=dev) * 1.5
            noise = randn(*shape, seed=120 + i, dtype=dtype, dev=dev)
            args = (mu, logvar, noise)
            before = [a.clone() for a in args]
            expected = ref.reparameterize(*args)
            got = _call(fn, args, case=case, hints=_BOOL_HINT)
            inputs_unchanged(name, before, args)
            _finite(name, got, expected, case, _NAN_LOGVAR)
            try:
                compare(name, got, expected, mistakes=_REPARAM_MISTAKES, args=args, case=case)
            except AssertionError:
                again = _call(fn, args, case=case)
                if isinstance(got, torch.Tensor) and not torch.equal(got, again):
                    raise AssertionError(
                        f"{name} returned a different z for the same noise{where(case)}: when "
                        "noise is given, use it; draw fresh noise only when noise is None."
                    ) from None
                raise
    _check_fresh_noise(fn, name)
    # Gradients with given noise: dz/dmu = 1, dz/dlogvar = 0.5 * sigma * noise.
    mu = randn(3, 4, seed=140, dtype=torch.float64).requires_grad_()
    logvar = randn(3, 4, seed=141, dtype=torch.float64).requires_grad_()
    noise = randn(3, 4, seed=142, dtype=torch.float64)
    weight = randn(3, 4, seed=143, dtype=torch.float64)
    z = _call(fn, (mu, logvar, noise), case="gradient check")
    _grad_flows(name, z, mu, logvar, weight, noise)
    success(name, "given and fresh noise, shapes, float32/float64, gradients to mu and logvar")


def _check_fresh_noise(fn, name: str) -> None:
    """noise=None: standard normal noise drawn like mu, new at every call."""
    cuda = list(range(torch.cuda.device_count()))
    with torch.random.fork_rng(devices=cuda):  # the student's own seeds stay as they were
        torch.manual_seed(0)  # deterministic statistics: no flaky failures
        for dev, dtype in cases():
            case = f"noise=None, {dtype}, {dev.type}"
            zeros = torch.zeros(200, 100, dtype=dtype, device=dev)
            a = _call(fn, (zeros, zeros.clone()), case=case, hints=_BOOL_HINT)
            b = _call(fn, (zeros, zeros.clone()), case=case, hints=_BOOL_HINT)
            assert_tensor(a, zeros, f"{name} with noise=None", case)
            if torch.equal(a, b):
                raise AssertionError(
                    f"{name} with noise=None returned the same z twice{where(case)}: draw new "
                    "noise at every call (torch.randn_like(mu)), and do not reseed inside."
                )
            mean, std = a.double().mean().item(), a.double().std().item()
            if abs(mean) > 0.03 or abs(std - 1) > 0.03:
                uniform = abs(mean - 0.5) < 0.03
                raise AssertionError(
                    f"{name} with noise=None, mu = 0 and logvar = 0 gave z with mean {mean:.3g} "
                    f"and std {std:.3g}, expected 0 and 1{where(case)}: "
                    + (
                        "torch.rand draws from U[0, 1); the noise is standard normal, "
                        "torch.randn_like(mu)."
                        if uniform
                        else "draw standard normal noise, torch.randn_like(mu)."
                    )
                )
            mu = torch.full((200, 100), 2.0, dtype=dtype, device=dev)
            logvar = torch.full((200, 100), math.log(0.25), dtype=dtype, device=dev)
            z = _call(fn, (mu, logvar), case=case)
            assert_tensor(z, mu, f"{name} with noise=None", case)
            mean, std = z.double().mean().item(), z.double().std().item()
            if abs(mean - 2) > 0.02 or abs(std - 0.5) > 0.02:
                raise AssertionError(
                    f"{name} with noise=None, mu = 2 and sigma = 0.5 gave z with mean {mean:.3g} "
                    f"and std {std:.3g}{where(case)}: the fresh noise must go through the same "
                    "formula, z = mu + exp(0.5 * logvar) * noise."
                )
        shape = (2, 3, 4, 4)
        z = _call(fn, (torch.zeros(shape), torch.zeros(shape)), case=f"noise=None, {shape}")
        assert_tensor(z, torch.zeros(shape), f"{name} with noise=None", f"shape {shape}")
        # Gradients flow through freshly drawn noise too (rsample, not sample).
        mu = randn(3, 4, seed=150, dtype=torch.float64).requires_grad_()
        logvar = randn(3, 4, seed=151, dtype=torch.float64).requires_grad_()
        z = _call(fn, (mu, logvar), case="noise=None, gradient check")
        noise = ((z - mu) / _std(logvar)).detach() if isinstance(z, torch.Tensor) else None
        _grad_flows(f"{name} with noise=None", z, mu, logvar, torch.ones(3, 4).double(), noise)


def _grad_flows(name, z, mu, logvar, weight, noise) -> None:
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        raise AssertionError(
            f"{name}: z carries no gradient. The whole point of the reparameterisation trick is "
            "that z stays differentiable in mu and logvar: no .detach(), torch.no_grad() or "
            "Normal(...).sample() (use rsample(), or mu + sigma * noise)."
        )
    (z * weight).sum().backward()
    if mu.grad is None:
        raise AssertionError(
            f"{name}: no gradient reaches mu. Did you detach mu (mu.detach(), mu.data)? "
            "dz/dmu = 1 is how the encoder's mean learns."
        )
    if not close(mu.grad, weight):
        raise AssertionError(f"{name}: wrong gradient w.r.t. mu, dz/dmu should be 1.")
    if logvar.grad is None:
        raise AssertionError(
            f"{name}: no gradient reaches logvar. Did you detach it, or compute sigma outside "
            "the graph (math.exp, numpy, .item())?"
        )
    want = weight * 0.5 * _std(logvar.detach()) * noise
    if not close(logvar.grad, want):
        raise AssertionError(
            f"{name}: wrong gradient w.r.t. logvar; dz/dlogvar should be "
            "0.5 * exp(0.5 * logvar) * noise. Is the noise (or sigma) detached or reused?"
        )


# ---------------------------------------------------------------------------------------
# gaussian_kl
# ---------------------------------------------------------------------------------------


def _kl_terms(mu, logvar):
    return 1 + logvar - mu**2 - logvar.exp()  # (B, ...)


_KL_MISTAKES = [
    Mistake(
        "the KL term is negative: did you forget the minus sign? "
        "KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) >= 0.",
        lambda mu, logvar: 0.5 * _sum(_kl_terms(mu, logvar)),
    ),
    Mistake(
        "the KL is twice too large: the factor 1/2 is missing, "
        "KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)).",
        lambda mu, logvar: -_sum(_kl_terms(mu, logvar)),
    ),
    Mistake(
        "the KL is negative and twice too large: both the minus sign and the factor 1/2 are "
        "missing, KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)).",
        lambda mu, logvar: _sum(_kl_terms(mu, logvar)),
    ),
    Mistake(
        "you averaged over the latent dimensions; the KL of a diagonal Gaussian is the *sum* "
        "over dimensions (t.flatten(1).sum(dim=1)).",
        lambda mu, logvar: -0.5 * _kl_terms(mu, logvar).flatten(1).mean(dim=1),
    ),
    Mistake(
        "this is the erratum on the lecture slide, sum(sigma^2 + mu^2 - log sigma - 1). The "
        "closed form is 1/2 * sum(sigma^2 + mu^2 - log sigma^2 - 1): a factor 1/2 in front, "
        "and log sigma^2 = logvar, not log sigma.",
        lambda mu, logvar: _sum(logvar.exp() + mu**2 - 0.5 * logvar - 1),
    ),
    Mistake(
        "you used log sigma where the formula has log sigma^2 = logvar: "
        "KL = 1/2 * sum(sigma^2 + mu^2 - log sigma^2 - 1) (the lecture slide has this erratum).",
        lambda mu, logvar: 0.5 * _sum(logvar.exp() + mu**2 - 0.5 * logvar - 1),
    ),
    Mistake(
        "you used logvar as the standard deviation sigma; the encoder outputs logvar = "
        "log sigma^2, so sigma^2 = exp(logvar) and log sigma^2 = logvar.",
        lambda mu, logvar: 0.5 * _sum(logvar**2 + mu**2 - (logvar**2).log() - 1),
    ),
    Mistake(
        "you used sigma = exp(0.5 * logvar) where the formula has the variance "
        "sigma^2 = exp(logvar).",
        lambda mu, logvar: -0.5 * _sum(1 + logvar - mu**2 - (0.5 * logvar).exp()),
    ),
    Mistake(
        "you wrote mu where the formula has mu^2.",
        lambda mu, logvar: -0.5 * _sum(1 + logvar - mu - logvar.exp()),
    ),
]


def check_gaussian_kl(fn) -> None:
    """Check ``gaussian_kl(mu, logvar) -> (B,)``: -0.5 * sum(1 + logvar - mu^2 - exp(logvar))."""
    assert_not_reference(fn, ref.gaussian_kl)
    name = "gaussian_kl"
    shapes = [(4, 3), (1, 5), (2, 3, 4, 4)]
    for dev, dtype in cases():
        for i, shape in enumerate(shapes):
            case = f"shape {shape}, {dtype}, {dev.type}"
            mu = randn(*shape, seed=200 + i, dtype=dtype, dev=dev)
            logvar = randn(*shape, seed=210 + i, dtype=dtype, dev=dev)
            args = (mu, logvar)
            before = [a.clone() for a in args]
            expected = ref.gaussian_kl(*args)
            got = _call(fn, args, case=case)
            inputs_unchanged(name, before, args)
            _per_sample(name, got, expected, case)
            _finite(name, got, expected, case, _NAN_LOGVAR)
            compare(name, got, expected, mistakes=_KL_MISTAKES, args=args, case=case)
    # The KL vanishes exactly when q is the prior.
    zeros = torch.zeros(3, 4)
    got = _call(fn, (zeros, zeros), case="mu = 0, logvar = 0")
    compare(name, got, torch.zeros(3), mistakes=_KL_MISTAKES, args=(zeros, zeros), case="q = p")
    _check_gradients(
        name,
        fn,
        (randn(3, 4, seed=220, dtype=torch.float64), randn(3, 4, seed=221, dtype=torch.float64)),
        ("mu", "logvar"),
        (3,),
    )
    success(name, "closed form, sum over dims, (B,), float32/float64, gradients")


# ---------------------------------------------------------------------------------------
# bernoulli_log_likelihood
# ---------------------------------------------------------------------------------------


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")  # (B, ...)


_BERNOULLI_MISTAKES = [
    Mistake(
        "you applied a sigmoid and then binary_cross_entropy_with_logits, which applies its "
        "own sigmoid (a double sigmoid): pass the decoder's logits directly.",
        lambda logits, x: -_sum(_bce(logits.sigmoid(), x)),
    ),
    Mistake(
        "the sign is flipped: you returned the binary cross-entropy (a loss, >= 0); the "
        "log-likelihood is its negative (<= 0).",
        lambda logits, x: _sum(_bce(logits, x)),
    ),
    Mistake(
        "you averaged over the pixels; the pixels are independent given z, so log p(x | z) "
        "is the *sum* of their log-likelihoods (t.flatten(1).sum(dim=1)).",
        lambda logits, x: -_bce(logits, x).flatten(1).mean(dim=1),
    ),
    Mistake(
        "the sign is flipped and you averaged over the pixels: log p(x | z) = "
        "-BCE summed over the pixels.",
        lambda logits, x: _bce(logits, x).flatten(1).mean(dim=1),
    ),
    Mistake(
        "you swapped logits and x: binary_cross_entropy_with_logits(input=logits, target=x).",
        lambda logits, x: -_sum(_bce(x, logits)),
    ),
    Mistake(
        "you treated the logits as probabilities: the decoder outputs logits (any real "
        "number); p = sigmoid(logits), or better use binary_cross_entropy_with_logits.",
        lambda logits, x: -_sum(F.binary_cross_entropy(logits.clamp(0, 1), x, reduction="none")),
    ),
]

_LOGITS_HINTS = {
    "between 0 and 1": "The decoder outputs *logits*, not probabilities: use "
    "F.binary_cross_entropy_with_logits(logits, x, reduction='none').",
    "support": "x may hold grey levels in [0, 1] (soft targets): torch.distributions.Bernoulli "
    "only accepts 0/1 values unless validate_args=False; "
    "-F.binary_cross_entropy_with_logits(logits, x, reduction='none') accepts both.",
}


def check_bernoulli_log_likelihood(fn) -> None:
    """Check ``bernoulli_log_likelihood(logits, x) -> (B,)``: -BCE-with-logits summed per sample."""
    assert_not_reference(fn, ref.bernoulli_log_likelihood)
    name = "bernoulli_log_likelihood"
    shapes = [(4, 1, 8, 8), (3, 10), (1, 5)]
    for dev, dtype in cases():
        for i, shape in enumerate(shapes):
            case = f"shape {shape}, {dtype}, {dev.type}"
            logits = randn(*shape, seed=300 + i, dtype=dtype, dev=dev) * 3
            x = (rand(*shape, seed=310 + i, dtype=dtype, dev=dev) > 0.5).to(dtype)
            if i > 0:
                x[..., 0] = 0.3  # grey levels too: soft targets in [0, 1]
            args = (logits, x)
            before = [a.clone() for a in args]
            expected = ref.bernoulli_log_likelihood(*args)
            got = _call(fn, args, case=case, hints=_LOGITS_HINTS)
            inputs_unchanged(name, before, args)
            _per_sample(name, got, expected, case)
            _finite(
                name,
                got,
                expected,
                case,
                "the decoder outputs *logits* (any real number), not probabilities, so "
                "log(logits) or log(1 - logits) fails. Use "
                "-F.binary_cross_entropy_with_logits(logits, x, reduction='none').",
            )
            compare(name, got, expected, mistakes=_BERNOULLI_MISTAKES, args=args, case=case)
    # Stability: sigmoid(40) rounds to 1, so log(1 - sigmoid(40)) = log(0) = -inf.
    for dtype in (torch.float32, torch.float64):
        case = f"large logits, {dtype}"
        logits = torch.tensor([[40.0, -40.0, 30.0, -30.0, 0.5]], dtype=dtype)
        x = torch.tensor([[0.0, 1.0, 0.0, 1.0, 1.0]], dtype=dtype)
        expected = ref.bernoulli_log_likelihood(logits, x)
        got = _call(fn, (logits, x), case=case, hints=_LOGITS_HINTS)
        assert_tensor(got, expected, name, case)
        if not close(got, expected):
            raise AssertionError(
                f"{name} is wrong for large logits (+-40){where(case)}: got {got.tolist()}, "
                f"expected {expected.tolist()}. sigmoid(40) rounds to 1, so log(1 - sigmoid) "
                "becomes log(0) (or a clamped guess). Work with logits: F.logsigmoid(l) and "
                "F.logsigmoid(-l), or -F.binary_cross_entropy_with_logits."
            )
    logits = randn(3, 6, seed=320, dtype=torch.float64)
    x = rand(3, 6, seed=321, dtype=torch.float64)
    _check_gradients(name, fn, (logits, x), ("logits", None), (3,))
    success(name, "sum over pixels, (B,), stable for large logits, float32/float64, gradients")


# ---------------------------------------------------------------------------------------
# gaussian_log_likelihood
# ---------------------------------------------------------------------------------------


def _gauss(x_hat, x, sigma, scale=0.5, var=None, const=None, mean=False):
    """-scale * ((x - x_hat)^2 / var + const) per dim, reduced per sample (mistake builder)."""
    var = sigma**2 if var is None else var
    const = _LOG_2PI + math.log(sigma**2) if const is None else const
    per_dim = -scale * ((x - x_hat) ** 2 / var + const)
    return per_dim.flatten(1).mean(dim=1) if mean else _sum(per_dim)


_GAUSSIAN_MISTAKES = [
    Mistake(
        "you dropped the constant -0.5 * log(2 pi sigma^2) per dimension: without it the "
        "value is not a log-density (it must be comparable with other likelihoods).",
        lambda x_hat, x, sigma=1.0: _gauss(x_hat, x, sigma, const=0.0),
    ),
    Mistake(
        "you dropped log(2 pi) from the constant: -0.5 * log(2 pi sigma^2) = "
        "-0.5 * (log(2 pi) + log(sigma^2)) per dimension.",
        lambda x_hat, x, sigma=1.0: _gauss(x_hat, x, sigma, const=math.log(sigma**2)),
    ),
    Mistake(
        "you dropped log(sigma^2) from the constant: -0.5 * log(2 pi sigma^2) per dimension.",
        lambda x_hat, x, sigma=1.0: _gauss(x_hat, x, sigma, const=_LOG_2PI),
    ),
    Mistake(
        "the factor 0.5 is missing: log N(x; x_hat, sigma^2) = "
        "-(x - x_hat)^2 / (2 sigma^2) - 0.5 * log(2 pi sigma^2) per dimension.",
        lambda x_hat, x, sigma=1.0: _gauss(x_hat, x, sigma, scale=1.0),
    ),
    Mistake(
        "the factor 0.5 is missing in front of the squared error: "
        "-(x - x_hat)^2 / (2 sigma^2), not -(x - x_hat)^2 / sigma^2.",
        lambda x_hat, x, sigma=1.0: (
            _gauss(x_hat, x, sigma, const=0.0, scale=1.0)
            - 0.5 * (_LOG_2PI + math.log(sigma**2)) * x[0].numel()
        ),
    ),
    Mistake(
        "you divided the squared error by sigma; sigma is the standard deviation, so divide "
        "by the variance sigma^2.",
        lambda x_hat, x, sigma=1.0: _gauss(x_hat, x, sigma, var=sigma),
    ),
    Mistake(
        "the constant uses log(2 pi sigma) where it needs log(2 pi sigma^2) (sigma is the std).",
        lambda x_hat, x, sigma=1.0: _gauss(x_hat, x, sigma, const=_LOG_2PI + math.log(sigma)),
    ),
    Mistake(
        "you treated sigma as the variance; it is the standard deviation: the variance is "
        "sigma^2 (in the squared error and in the constant).",
        lambda x_hat, x, sigma=1.0: _gauss(
            x_hat, x, sigma, var=sigma, const=_LOG_2PI + math.log(sigma)
        ),
    ),
    Mistake(
        "sigma is ignored: divide the squared error by sigma^2 and use log(2 pi sigma^2).",
        lambda x_hat, x, sigma=1.0: _gauss(x_hat, x, 1.0),
    ),
    Mistake(
        "the sign is flipped: you returned the negative log-likelihood (a loss, here >= 0); "
        "the log-likelihood is -(x - x_hat)^2 / (2 sigma^2) - 0.5 * log(2 pi sigma^2).",
        lambda x_hat, x, sigma=1.0: -_gauss(x_hat, x, sigma),
    ),
    Mistake(
        "the sign is flipped and the constant dropped: that is the squared-error loss, the "
        "log-likelihood is -(x - x_hat)^2 / (2 sigma^2) - 0.5 * log(2 pi sigma^2).",
        lambda x_hat, x, sigma=1.0: -_gauss(x_hat, x, sigma, const=0.0),
    ),
    Mistake(
        "you returned minus the squared error; the Gaussian log-density is "
        "-(x - x_hat)^2 / (2 sigma^2) - 0.5 * log(2 pi sigma^2) per dimension.",
        lambda x_hat, x, sigma=1.0: -_sum((x - x_hat) ** 2),
    ),
    Mistake(
        "you averaged over the pixels; the pixels are independent given z, so log p(x | z) "
        "is the *sum* over them (t.flatten(1).sum(dim=1)).",
        lambda x_hat, x, sigma=1.0: _gauss(x_hat, x, sigma, mean=True),
    ),
]


def check_gaussian_log_likelihood(fn) -> None:
    """Check ``gaussian_log_likelihood(x_hat, x, sigma=1.0) -> (B,)``, constant included."""
    assert_not_reference(fn, ref.gaussian_log_likelihood)
    name = "gaussian_log_likelihood"
    shapes = [(4, 1, 8, 8), (3, 10), (1, 5)]
    for dev, dtype in cases():
        for i, shape in enumerate(shapes):
            for sigma in (1.0, 0.5, 2.0):
                case = f"shape {shape}, sigma={sigma}, {dtype}, {dev.type}"
                x = rand(*shape, seed=400 + i, dtype=dtype, dev=dev) * 2 - 1
                x_hat = randn(*shape, seed=410 + i, dtype=dtype, dev=dev) * 0.5
                args = (x_hat, x, sigma)
                before = [x_hat.clone(), x.clone()]
                expected = ref.gaussian_log_likelihood(*args)
                got = _call(fn, args, case=case)
                inputs_unchanged(name, before, [x_hat, x])
                _per_sample(name, got, expected, case)
                compare(name, got, expected, mistakes=_GAUSSIAN_MISTAKES, args=args, case=case)
    # The default is sigma = 1.
    x, x_hat = rand(3, 4, seed=420) * 2 - 1, randn(3, 4, seed=421)
    got = _call(fn, (x_hat, x), case="called without sigma")
    compare(
        name,
        got,
        ref.gaussian_log_likelihood(x_hat, x),
        mistakes=_GAUSSIAN_MISTAKES,
        args=(x_hat, x),
        case="called without sigma (default 1.0)",
    )
    x_hat = randn(3, 6, seed=422, dtype=torch.float64)
    x = rand(3, 6, seed=423, dtype=torch.float64)
    _check_gradients(name, fn, (x_hat, x), ("x_hat", None), (3,), sigma=0.5)
    success(name, "constant, sigma, sum over pixels, (B,), float32/float64, gradients")


# ---------------------------------------------------------------------------------------
# elbo
# ---------------------------------------------------------------------------------------


def _rec(x, out, likelihood):
    if likelihood == "bernoulli":
        return ref.bernoulli_log_likelihood(out, x)
    return ref.gaussian_log_likelihood(out, x)


def _other_rec(x, out, likelihood):
    if likelihood == "bernoulli":  # a Gaussian of mean `out`, sigma = 1
        return ref.gaussian_log_likelihood(out, x)
    return -_sum(_bce(out, x))  # a Bernoulli with logits `out` (x outside [0, 1] allowed)


def _elbo_mistake(rec=1.0, kl=-1.0, beta_on="kl", swap=False, rec_fn=None):
    """A wrong ELBO: rec_scale * rec + kl_scale * KL, beta placed as told."""

    def wrong(x, out, mu, logvar, likelihood="bernoulli", beta=1.0):
        r = (rec_fn or (_other_rec if swap else _rec))(x, out, likelihood)
        k = ref.gaussian_kl(mu, logvar)
        weights = {"kl": (1.0, beta), "rec": (beta, 1.0), "none": (1.0, 1.0), "div": (1, 1 / beta)}
        wr, wk = weights[beta_on]
        return rec * wr * r + kl * wk * k

    return wrong


def _gaussian_no_constant(x, out, likelihood):
    if likelihood != "gaussian":
        raise ValueError("only a Gaussian mistake")
    return -0.5 * _sum((x - out) ** 2)


_ELBO_MISTAKES = [
    Mistake(
        "you added the KL term; the ELBO *subtracts* it: log p(x | z) - beta * KL.",
        _elbo_mistake(kl=+1.0),
    ),
    Mistake(
        "you returned the loss, -ELBO = -log p(x | z) + beta * KL. elbo returns the bound "
        "itself, one value per sample; the training loss is -elbo(...).mean().",
        _elbo_mistake(rec=-1.0, kl=+1.0),
    ),
    Mistake(
        "beta is ignored: the KL term is weighted by beta, log p(x | z) - beta * KL.",
        _elbo_mistake(beta_on="none"),
    ),
    Mistake(
        "you put beta on the reconstruction term; beta weights the KL: log p(x | z) - beta * KL.",
        _elbo_mistake(beta_on="rec"),
    ),
    Mistake(
        "you divided the KL by beta; multiply it: log p(x | z) - beta * KL.",
        _elbo_mistake(beta_on="div"),
    ),
    Mistake(
        "you used the wrong likelihood: likelihood='bernoulli' reads the decoder output as "
        "logits (binary cross-entropy), likelihood='gaussian' as the mean with sigma = 1.",
        _elbo_mistake(swap=True),
    ),
    Mistake(
        "the reconstruction term's sign is flipped: you used the binary cross-entropy (a loss); "
        "log p(x | z) = -BCE.",
        _elbo_mistake(rec=-1.0),
    ),
    Mistake(
        "the Gaussian reconstruction term misses its constant -0.5 * log(2 pi) per dimension "
        "(sigma = 1): use the full log-density, as in gaussian_log_likelihood.",
        _elbo_mistake(rec_fn=_gaussian_no_constant),
    ),
]


def check_elbo(fn) -> None:
    """Check ``elbo(x, x_hat_or_logits, mu, logvar, likelihood="bernoulli", beta=1.0) -> (B,)``."""
    assert_not_reference(fn, ref.elbo)
    name = "elbo"
    shapes = [((4, 1, 8, 8), 3), ((3, 10), 2), ((1, 5), 4)]
    scalar_hints = lambda expected: [  # noqa: E731
        (-expected.mean(), "you returned the training loss -elbo(...).mean()"),
        (-expected.sum(), "you returned the loss -elbo(...) summed over the batch"),
    ]
    for dev, dtype in cases():
        for i, (shape, latent) in enumerate(shapes):
            mu = randn(shape[0], latent, seed=500 + i, dtype=dtype, dev=dev)
            logvar = randn(shape[0], latent, seed=510 + i, dtype=dtype, dev=dev)
            out = randn(*shape, seed=520 + i, dtype=dtype, dev=dev) * 2
            for likelihood in ("bernoulli", "gaussian"):
                x = rand(*shape, seed=530 + i, dtype=dtype, dev=dev)
                x = (x > 0.5).to(dtype) if likelihood == "bernoulli" else x * 2 - 1
                for beta in (1.0, 4.0, 0.5):
                    case = f"x {shape}, likelihood={likelihood!r}, beta={beta}, {dtype}, {dev.type}"
                    args = (x, out, mu, logvar)
                    kwargs = dict(likelihood=likelihood, beta=beta)
                    before = [a.clone() for a in args]
                    expected = ref.elbo(*args, **kwargs)
                    got = _call(fn, args, kwargs, case=case)
                    inputs_unchanged(name, before, args)
                    _per_sample(name, got, expected, case, scalar_hints(expected))
                    compare(
                        name,
                        got,
                        expected,
                        mistakes=_ELBO_MISTAKES,
                        args=args,
                        kwargs=kwargs,
                        case=case,
                    )
    # Defaults: a Bernoulli likelihood and beta = 1.
    x = (rand(3, 6, seed=540) > 0.5).float()
    logits, mu, logvar = randn(3, 6, seed=541), randn(3, 2, seed=542), randn(3, 2, seed=543)
    got = _call(fn, (x, logits, mu, logvar), case="defaults")
    compare(
        name,
        got,
        ref.elbo(x, logits, mu, logvar),
        mistakes=_ELBO_MISTAKES,
        args=(x, logits, mu, logvar),
        case="called without likelihood= and beta= (defaults 'bernoulli' and 1.0)",
    )
    for likelihood in ("bernoulli", "gaussian"):
        x = rand(3, 6, seed=550, dtype=torch.float64)
        tensors = (
            x,
            randn(3, 6, seed=551, dtype=torch.float64),
            randn(3, 2, seed=552, dtype=torch.float64),
            randn(3, 2, seed=553, dtype=torch.float64),
        )
        _check_gradients(
            name,
            fn,
            tensors,
            (None, "x_hat_or_logits", "mu", "logvar"),
            (3,),
            likelihood=likelihood,
            beta=2.0,
        )
    success(name, "both likelihoods, beta, (B,), float32/float64, gradients")
