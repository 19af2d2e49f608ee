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
from torch import nn

from course import vae as ref
from course.checks._core import (
    Mistake,
    assert_not_reference,
    assert_tensor,
    call_student,
    caller,
    cases,
    close,
    compare,
    inputs_unchanged,
    keep_student_rng,
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
    "check_iwae_bound",
    "check_reparameterize",
    "check_vae",
]

_LOG_2PI = math.log(2 * math.pi)


def _sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over every non-batch dim: (B, ...) -> (B,)."""
    return t.flatten(1).sum(dim=1)


_call = caller(ref)


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
    with keep_student_rng():  # the student's own seeds stay as they were
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


# ---------------------------------------------------------------------------------------
# VAE (the class)
# ---------------------------------------------------------------------------------------

# Sizes chosen so that the only nn.Linear with ``latent_dim`` inputs is the decoder's first:
# its input is the z that forward decoded, which the check reads back with a hook.
_VAE_CONFIGS = [
    dict(in_dim=20, latent_dim=3, hidden=(16, 8)),
    dict(in_dim=64, latent_dim=2, hidden=(32,)),
]


def _n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _build_vae(cls, name: str, cfg: dict):
    try:
        return call_student(cls, (), cfg, references=[ref])
    except AssertionError as err:
        raise AssertionError(f"could not build {name}(**{cfg}): {err}") from err


def check_vae(cls) -> None:
    """Check a ``VAE(in_dim, latent_dim, hidden=(...))`` class (Gaussian encoder, Bernoulli decoder).

    Judged: the layer sizes (parameter count), ``encode`` (B, *) -> ``(mu, logvar)``
    (B, latent_dim) each, flattening the input, with no activation on either;
    ``decode`` (B, latent_dim) -> *logits* (B, in_dim); ``forward(x)`` ->
    ``(logits shaped like x, mu, logvar)`` where the logits decode
    ``z = mu + exp(0.5 * logvar) * eps`` with fresh ``eps ~ N(0, I)`` per element and call;
    gradients reaching the encoder through z; float64 and devices.
    """
    with keep_student_rng():  # the student's own seeds stay as they were
        _check_vae(cls)


def _check_vae(cls) -> None:
    assert_not_reference(cls, ref.VAE)
    name = getattr(cls, "__name__", "VAE")
    for cfg in _VAE_CONFIGS:
        torch.manual_seed(0)
        model = _build_vae(cls, name, cfg)
        expected = _n_params(ref.VAE(**cfg))
        if _n_params(model) != expected:
            sizes = [cfg["in_dim"], *cfg["hidden"]]
            raise AssertionError(
                f"{name}(**{cfg}) has {_n_params(model)} parameters, expected {expected}: the "
                f"encoder is Linear layers {sizes} -> 2 * latent_dim = {2 * cfg['latent_dim']} "
                "outputs (mu and logvar; or two heads of latent_dim each) with ReLU between "
                f"them, and the decoder mirrors it, {cfg['latent_dim']} -> "
                f"{list(reversed(sizes))}."
            )
        for dev, dtype in cases():
            model = model.to(dev, dtype)
            _vae_shapes(model, name, cfg, dev, dtype)
        model = model.to("cpu", torch.float64)
        _vae_free_outputs(model, name, cfg)
        _vae_noise(model, name, cfg)
        _vae_gradients(model, name, cfg)
    success(name, "encode/decode/forward shapes, logits, reparameterised z, gradients, float64")


def _student(method, args, case=""):
    return call_student(method, args, references=[ref], case=case)


def _vae_shapes(model, name, cfg, dev, dtype) -> None:
    d, m = cfg["in_dim"], cfg["latent_dim"]
    image = d == 64
    case = f"{cfg}, {dtype}, {dev.type}"
    x = rand(*((5, 1, 8, 8) if image else (5, d)), seed=1, dtype=dtype, dev=dev)
    like = torch.empty(5, m, dtype=dtype, device=dev)
    try:
        enc = _student(model.encode, (x,), case)
    except AssertionError as err:
        if image and "cannot be multiplied" in str(err):
            raise AssertionError(
                f"{name}.encode failed on images of shape {tuple(x.shape)}: flatten every "
                f"non-batch dim first (x.flatten(1)). Original error: {err}"
            ) from err
        raise
    if isinstance(enc, torch.Tensor):
        hint = (
            "split the encoder's 2 * latent_dim outputs: mu, logvar = h.chunk(2, dim=1)"
            if enc.shape == (5, 2 * m)
            else "return the pair (mu, logvar), each (B, latent_dim)"
        )
        raise AssertionError(
            f"{name}.encode returned one tensor of shape {tuple(enc.shape)}{where(case)}: {hint}."
        )
    if not isinstance(enc, (tuple, list)) or len(enc) != 2:
        raise AssertionError(
            f"{name}.encode should return the pair (mu, logvar), got {type(enc).__name__}"
            f"{where(case)}." + (" Did you forget a `return`?" if enc is None else "")
        )
    mu, logvar = enc
    assert_tensor(mu, like, f"{name}.encode's mu", case)
    assert_tensor(logvar, like, f"{name}.encode's logvar", case)
    if close(mu, logvar):
        raise AssertionError(
            f"{name}.encode returned the same tensor as mu and as logvar{where(case)}: the "
            "encoder has 2 * latent_dim outputs, the first half is mu, the second logvar."
        )
    z = randn(5, m, seed=2, dtype=dtype, dev=dev)
    logits = _student(model.decode, (z,), case)
    assert_tensor(logits, torch.empty(5, d, dtype=dtype, device=dev), f"{name}.decode", case)
    out = _student(model, (x,), case)
    if isinstance(out, torch.Tensor) or not isinstance(out, (tuple, list)) or len(out) != 3:
        what = (
            f"a tensor of shape {tuple(out.shape)}"
            if isinstance(out, torch.Tensor)
            else (f"{len(out)} values" if isinstance(out, (tuple, list)) else type(out).__name__)
        )
        raise AssertionError(
            f"{name}.forward returned {what}{where(case)}; it returns the triple "
            "(logits, mu, logvar): the ELBO needs all three."
            + (" Did you forget a `return`?" if out is None else "")
        )
    logits_f, mu_f, logvar_f = out
    if isinstance(logits_f, torch.Tensor) and logits_f.shape == (5, m):
        raise AssertionError(
            f"{name}.forward returns (logits, mu, logvar) in this order, the logits first; its "
            f"first value has the latent shape {(5, m)}{where(case)}."
        )
    if isinstance(logits_f, torch.Tensor) and image and logits_f.shape == (5, d):
        raise AssertionError(
            f"{name}.forward returned logits of shape {(5, d)} for images {tuple(x.shape)}: give "
            "them the input's shape (logits.view_as(x)), so elbo(x, logits, ...) lines up."
        )
    assert_tensor(logits_f, x, f"{name}.forward's logits", case)
    assert_tensor(mu_f, like, f"{name}.forward's mu", case)
    assert_tensor(logvar_f, like, f"{name}.forward's logvar", case)
    if not (close(mu_f, mu) and close(logvar_f, logvar)):
        swapped = close(mu_f, logvar) and close(logvar_f, mu)
        raise AssertionError(
            f"{name}.forward's "
            + (
                "mu and logvar are swapped: return (logits, mu, logvar)"
                if swapped
                else "mu and logvar differ from encode(x): return the encoder's own mu and "
                "logvar (not z, not sigma)"
            )
            + f"{where(case)}."
        )


def _vae_free_outputs(model, name, cfg) -> None:
    """mu and logvar take any real value; decode returns logits, not probabilities."""
    d, m = cfg["in_dim"], cfg["latent_dim"]
    x = rand(512, d, seed=3, dtype=torch.float64) * 4
    with torch.no_grad():
        mu, logvar = _student(model.encode, (x,))
        logits = _student(model.decode, (randn(512, m, seed=4, dtype=torch.float64) * 3,))
    for value, what in ((mu, "mu"), (logvar, "logvar")):
        if not bool((value < 0).any()):
            raise AssertionError(
                f"{name}.encode never returns a negative {what}: no activation (ReLU, softplus, "
                "exp) on the encoder's last layer. mu is any real number and so is "
                "logvar = log sigma^2 (negative when sigma < 1)."
            )
    if bool((logits >= 0).all() and (logits <= 1).all()):
        raise AssertionError(
            f"{name}.decode returns values in [0, 1]: return the *logits* (no sigmoid at the "
            "end); bernoulli_log_likelihood takes logits, which is stable for large |logits|, "
            "and sampling applies the sigmoid."
        )


def _capture_z(model, m: int):
    """Hooks that record what the decoder's first Linear (m inputs) receives: the decoded z."""
    seen: list[torch.Tensor] = []
    handles = [
        module.register_forward_pre_hook(lambda _mod, args: seen.append(args[0].detach()))
        for module in model.modules()
        if isinstance(module, nn.Linear) and module.in_features == m
    ]
    return seen, handles


def _vae_noise(model, name, cfg) -> None:
    """forward decodes z = mu + exp(0.5 logvar) * eps, eps ~ N(0, I) fresh per element and call."""
    d, m = cfg["in_dim"], cfg["latent_dim"]
    x = rand(3000, d, seed=5, dtype=torch.float64)
    with torch.no_grad():
        for scale in (1.0, 3.0, 10.0, 30.0):  # spread logvar so a wrong sigma shows
            mu, logvar = _student(model.encode, (x * scale,))
            if logvar.std() > 0.7:
                break
        x = x * scale
        first, _, _ = _student(model, (x,))
        seen, handles = _capture_z(model, m)
        try:
            logits, _, _ = _student(model, (x,))
        finally:
            for handle in handles:
                handle.remove()
        if torch.equal(first, logits):
            raise AssertionError(
                f"{name}.forward returned the same logits twice for the same x: it must decode a "
                "*random* z = mu + exp(0.5 * logvar) * eps with new noise eps at every call "
                "(torch.randn_like(mu)); do not decode mu alone and do not reseed."
            )
        if len(seen) != 1 or seen[0].shape != mu.shape:
            return  # an architecture the hook cannot read: the other tests still apply
        z = seen[0]
        decoded = _student(model.decode, (z,)).reshape(logits.shape)
    if not close(decoded, logits):
        if close(torch.sigmoid(decoded), logits):
            raise AssertionError(
                f"{name}.forward returns probabilities: return the decoder's logits (no sigmoid)."
            )
        return
    eps = (z - mu) / torch.exp(0.5 * logvar)  # (N, m), standard normal when all is well
    if bool((eps[1:] - eps[:1]).abs().max() < 1e-9):
        raise AssertionError(
            f"{name}.forward used the same noise for every sample of the batch: draw eps shaped "
            "like mu, (B, latent_dim), e.g. torch.randn_like(mu)."
        )
    if _standard_normal(eps, logvar):
        return
    hypotheses = [
        (
            torch.exp(logvar),
            "you used exp(logvar), the variance, as the standard deviation: "
            "sigma = exp(0.5 * logvar)",
        ),
        (torch.ones_like(logvar), "the noise is not scaled by sigma = exp(0.5 * logvar)"),
        (torch.exp(-0.5 * logvar), "you scaled the noise by 1 / sigma = exp(-0.5 * logvar)"),
    ]
    for std, hint in hypotheses:
        if _standard_normal((z - mu) / std, logvar):
            raise AssertionError(f"{name}.forward: {hint}.")
    if abs(eps.mean().item() - 0.5) < 0.1 and eps.std().item() < 0.5:
        raise AssertionError(
            f"{name}.forward: the noise looks uniform; torch.rand draws from U[0, 1), the noise "
            "is standard normal, torch.randn_like(mu)."
        )
    raise AssertionError(
        f"{name}.forward does not decode z = mu + exp(0.5 * logvar) * eps with eps ~ N(0, I): "
        f"(z - mu) / sigma has mean {eps.mean().item():.3g} and std {eps.std().item():.3g}, "
        "expected 0 and 1. Use your reparameterize(mu, logvar) on the encoder's outputs."
    )


def _standard_normal(eps: torch.Tensor, logvar: torch.Tensor) -> bool:
    """Whether eps looks N(0, 1) overall and where logvar is low, middle and high."""
    order = logvar.flatten().argsort()
    for part in (order, *order.chunk(3)):
        values = eps.flatten()[part]
        if abs(values.mean().item()) > 0.07 or abs(values.std().item() - 1) > 0.07:
            return False
    return True


def _vae_gradients(model, name, cfg) -> None:
    """The reconstruction alone trains the encoder too, through z."""
    x = rand(16, cfg["in_dim"], seed=6, dtype=torch.float64)
    model.zero_grad()
    logits, _, _ = _student(model, (x,), "gradient check")
    if not logits.requires_grad:
        raise AssertionError(
            f"{name}.forward returned logits without gradient: no torch.no_grad(), .detach() "
            "or .data in forward."
        )
    logits.pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    if missing:
        raise AssertionError(
            f"{name}: the reconstruction term gives no gradient to {missing}. The encoder learns "
            "from the reconstruction through z, so z must stay in the graph: z = mu + sigma * eps "
            "(no .detach(), torch.no_grad() or Normal(...).sample(); rsample() is fine)."
        )


# ---------------------------------------------------------------------------------------
# iwae_bound
# ---------------------------------------------------------------------------------------


class _ToyVAE(nn.Module):
    """A controlled model: linear Gaussian encoder, linear Bernoulli decoder (any leading dims)."""

    def __init__(self, in_dim: int, latent: int, seed: int, dec_scale: float = 1.0, dtype=None):
        super().__init__()
        dtype = dtype or torch.float64
        self.w_enc = nn.Parameter(
            randn(in_dim, 2 * latent, seed=seed, dtype=dtype) * 1.5 / in_dim**0.5
        )
        self.b_enc = nn.Parameter(randn(2 * latent, seed=seed + 1, dtype=dtype) * 0.5)
        self.w_dec = nn.Parameter(randn(latent, in_dim, seed=seed + 2, dtype=dtype) * dec_scale)
        self.b_dec = nn.Parameter(randn(in_dim, seed=seed + 3, dtype=dtype))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.flatten(1) @ self.w_enc + self.b_enc  # (B, 2L)
        mu, logvar = h.chunk(2, dim=1)  # (B, L) each
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.w_dec + self.b_dec  # (..., L) -> (..., D) logits

    def forward(self, x):
        raise RuntimeError(
            "iwae_bound should call model.encode(x) and model.decode(z), not model(x): forward "
            "decodes a single z, the bound needs k of them per x"
        )


def _iwae_terms(x, model, noise, std_fn=None, q_from_noise=False):
    """log p(x|z_i), log p(z_i), log q(z_i|x) for z_i = mu + sigma * noise_i: each (k, B).

    ``std_fn`` replaces sigma = exp(0.5 logvar) (a mistake); ``q_from_noise`` then computes
    log q from the noise and logvar as written for the right sigma, as a student would.
    """
    mu, logvar = model.encode(x)  # (B, L)
    std = torch.exp(0.5 * logvar) if std_fn is None else std_fn(logvar)
    z = mu + std * noise  # (k, B, L)
    logits = model.decode(z)  # (k, B, D)
    target = x.flatten(1).expand_as(logits)  # (k, B, D)
    rec = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
    log_pz = -0.5 * (z**2 + _LOG_2PI).sum(-1)
    log_var = logvar if q_from_noise else 2 * torch.log(std)
    log_qz = -0.5 * (noise**2 + log_var + _LOG_2PI).sum(-1)
    return rec, log_pz, log_qz, mu, logvar


def _iwae_mistake(combine, std_fn=None, q_from_noise=False):
    def wrong(x, model, k, noise=None):
        rec, log_pz, log_qz, mu, logvar = _iwae_terms(x, model, noise, std_fn, q_from_noise)
        return combine(rec, log_pz, log_qz, mu, logvar, k)

    return wrong


def _lme(log_w, k):
    return torch.logsumexp(log_w, dim=0) - math.log(k)  # (B,)


def _const(mu):
    """0.5 * L * log(2 pi): the constant of a log N(z; ., .) over L latent dims, per sample."""
    return 0.5 * mu.shape[1] * _LOG_2PI


_IWAE_MISTAKES = [
    Mistake(
        "you averaged the log-weights, mean_i log w_i: that is the k-sample estimate of the "
        "ELBO, not the IWAE bound. Average the *weights* in log space: "
        "logsumexp(log_w, dim=0) - log k.",
        _iwae_mistake(lambda r, p, q, mu, lv, k: (r + p - q).mean(0)),
    ),
    Mistake(
        "you forgot the -log k: the bound is the log of the *mean* of the k weights, "
        "logsumexp(log_w, dim=0) - log k, not the log of their sum.",
        _iwae_mistake(lambda r, p, q, mu, lv, k: torch.logsumexp(r + p - q, dim=0)),
    ),
    Mistake(
        "log p(z), the prior, is missing from the log-weights: "
        "log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x).",
        _iwae_mistake(lambda r, p, q, mu, lv, k: _lme(r - q, k)),
    ),
    Mistake(
        "log p(z), the prior, is missing from the log-weights: "
        "log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x).",
        _iwae_mistake(lambda r, p, q, mu, lv, k: _lme(r - q - _const(mu), k)),
    ),
    Mistake(
        "log q(z | x) is missing from the log-weights: the weights are p(x, z_i) / q(z_i | x), "
        "so log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x).",
        _iwae_mistake(lambda r, p, q, mu, lv, k: _lme(r + p, k)),
    ),
    Mistake(
        "log q(z | x) is missing from the log-weights: the weights are p(x, z_i) / q(z_i | x), "
        "so log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x).",
        _iwae_mistake(lambda r, p, q, mu, lv, k: _lme(r + p + _const(mu), k)),
    ),
    Mistake(
        "you added log q(z | x); the weights divide by q: "
        "log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x).",
        _iwae_mistake(lambda r, p, q, mu, lv, k: _lme(r + p + q, k)),
    ),
    Mistake(
        "you used one z for all k samples: draw k different z_i (noise[i] for sample i), or "
        "the k weights are identical and the bound is no tighter than the ELBO.",
        _iwae_mistake(lambda r, p, q, mu, lv, k: (r + p - q)[0]),
    ),
    Mistake(
        "you used the closed-form KL: mean_i log p(x | z_i) - KL(q || p) is the ELBO. The IWAE "
        "bound puts log p(z_i) - log q(z_i | x) inside each weight, then logsumexp - log k.",
        _iwae_mistake(lambda r, p, q, mu, lv, k: r.mean(0) - ref.gaussian_kl(mu, lv)),
    ),
    Mistake(
        "log q(z | x) misses its -0.5 * sum(logvar) term: log N(z; mu, sigma^2) = "
        "-0.5 * sum(((z - mu) / sigma)^2 + logvar + log 2 pi).",
        _iwae_mistake(lambda r, p, q, mu, lv, k: _lme(r + p - q - 0.5 * lv.sum(1), k)),
    ),
    Mistake(
        "log 2 pi appears in only one of log p(z) and log q(z | x): keep it in both (or drop "
        "it from both, it cancels).",
        _iwae_mistake(lambda r, p, q, mu, lv, k: _lme(r + p - q + _const(mu), k)),
    ),
    Mistake(
        "log 2 pi appears in only one of log p(z) and log q(z | x): keep it in both (or drop "
        "it from both, it cancels).",
        _iwae_mistake(lambda r, p, q, mu, lv, k: _lme(r + p - q - _const(mu), k)),
    ),
    Mistake(
        "you used exp(logvar), the variance, as the standard deviation of q: "
        "z = mu + exp(0.5 * logvar) * noise.",
        _iwae_mistake(lambda r, p, q, mu, lv, k: _lme(r + p - q, k), std_fn=torch.exp),
    ),
    Mistake(
        "you used exp(logvar), the variance, as the standard deviation of q: "
        "z = mu + exp(0.5 * logvar) * noise.",
        _iwae_mistake(
            lambda r, p, q, mu, lv, k: _lme(r + p - q, k), std_fn=torch.exp, q_from_noise=True
        ),
    ),
    Mistake(
        "the reconstruction term's sign is flipped: log p(x | z) = -BCE(logits, x) summed over "
        "the pixels.",
        _iwae_mistake(lambda r, p, q, mu, lv, k: _lme(-r + p - q, k)),
    ),
]

# (batch, input shape, latent, k, decoder scale): the last has log p(x | z) near -1000 nats,
# where exp(log w) underflows even in float64.
_IWAE_CASES = [
    (4, (4, 16), 2, 5, 1.0),
    (3, (3, 1, 4, 4), 3, 7, 0.5),
    (2, (2, 784), 2, 4, 2.0),
    (5, (5, 12), 2, 1, 1.0),
]


def check_iwae_bound(fn) -> None:
    """Check ``iwae_bound(x, model, k, noise=None) -> (B,)``, Burda et al. (2016) eq. 8.

    ``logsumexp_i [log p(x|z_i) + log p(z_i) - log q(z_i|x)] - log k`` with
    ``z_i = mu + exp(0.5 * logvar) * noise[i]``, ``noise`` (k, B, L), on a controlled model
    (linear encoder and Bernoulli decoder). Judged: values with given noise (k = 1 too, and
    log-weights of about -1000 nats), fresh standard normal noise when ``noise`` is None,
    gradients to the model's parameters, float32/float64 and devices.
    """
    assert_not_reference(fn, ref.iwae_bound)
    name = "iwae_bound"
    for dev, dtype in cases():
        for i, (batch, shape, latent, k, scale) in enumerate(_IWAE_CASES):
            case = f"x {shape}, latent {latent}, k={k}, {dtype}, {dev.type}"
            model = _ToyVAE(math.prod(shape[1:]), latent, seed=600 + 10 * i, dec_scale=scale)
            model = model.to(dev, dtype)
            x = (rand(*shape, seed=650 + i, dtype=dtype, dev=dev) > 0.5).to(dtype)
            noise = randn(k, batch, latent, seed=670 + i, dtype=dtype, dev=dev)
            before = [x.clone(), noise.clone()]
            with torch.no_grad():
                expected = ref.iwae_bound(x, model, k, noise=noise)
                got = _call(fn, (x, model, k), dict(noise=noise), case=case)
                inputs_unchanged(name, before, [x, noise])
                if isinstance(got, torch.Tensor) and got.shape == (k,) and k != batch:
                    raise AssertionError(
                        f"{name} returned shape {(k,)}, one value per importance sample"
                        f"{where(case)}: reduce over the k samples (dim 0 of the (k, B) "
                        "log-weights), keep the batch: (B,)."
                    )
                _per_sample(name, got, expected, case)
                _finite(
                    name,
                    got,
                    expected,
                    case,
                    "log p(x | z) is about -1000 nats here, so the weights exp(log w) underflow "
                    "to 0 and log(mean(w)) = -inf. Average in log space: "
                    "torch.logsumexp(log_w, dim=0) - math.log(k).",
                )
                try:
                    compare(
                        name,
                        got,
                        expected,
                        mistakes=_IWAE_MISTAKES,
                        args=(x, model, k),
                        kwargs=dict(noise=noise),
                        case=case,
                    )
                except AssertionError:
                    again = _call(fn, (x, model, k), dict(noise=noise), case=case)
                    if isinstance(got, torch.Tensor) and not torch.equal(got, again):
                        raise AssertionError(
                            f"{name} returned a different value for the same noise{where(case)}: "
                            "when noise (k, B, L) is given, use it (z_i = mu + sigma * "
                            "noise[i]); draw fresh noise only when noise is None."
                        ) from None
                    raise
    _iwae_fresh_noise(fn, name)
    _iwae_gradients(fn, name)
    success(name, "logsumexp - log k, prior and q terms, k samples, fresh noise, gradients")


def _iwae_fresh_noise(fn, name: str) -> None:
    """noise=None: k standard normal draws per x; the average over many x matches the reference."""
    with keep_student_rng(), torch.no_grad():
        torch.manual_seed(0)
        for dev, dtype in cases():
            case = f"noise=None, {dtype}, {dev.type}"
            model = _ToyVAE(8, 2, seed=700).to(dev, dtype)
            x = (rand(1, 8, seed=701, dtype=dtype, dev=dev) > 0.5).to(dtype).repeat(4000, 1)
            a = _call(fn, (x, model, 3), case=case)
            b = _call(fn, (x, model, 3), case=case)
            assert_tensor(a, x[:, 0], f"{name} with noise=None", case)
            if torch.equal(a, b):
                raise AssertionError(
                    f"{name} with noise=None returned the same values twice{where(case)}: draw "
                    "new noise (k, B, L) at every call, and do not reseed inside."
                )
            if bool((a - a[0]).abs().max() < 1e-6):
                raise AssertionError(
                    f"{name} with noise=None gave every copy of the same x the same value"
                    f"{where(case)}: draw separate noise for every sample of the batch, "
                    "shape (k, B, L)."
                )
            want = ref.iwae_bound(x, model, 3)  # the reference with its own fresh noise
            spread = want.double().std().item() * math.sqrt(2 / len(x))
            gap = abs(a.double().mean().item() - want.double().mean().item())
            if gap > 5 * spread + 1e-3:
                raise AssertionError(
                    f"{name} with noise=None averages {a.double().mean().item():.4g} over 4,000 "
                    f"copies of one x, the bound's expectation is about "
                    f"{want.double().mean().item():.4g}{where(case)}: draw the noise from a "
                    "standard normal (torch.randn), shaped (k, B, L), like mu."
                )


def _iwae_gradients(fn, name: str) -> None:
    """With fixed noise, the gradients w.r.t. the model's parameters equal the reference's."""
    x = (rand(3, 10, seed=710, dtype=torch.float64) > 0.5).double()
    noise = randn(4, 3, 2, seed=711, dtype=torch.float64)
    weight = randn(3, seed=712, dtype=torch.float64)
    model_ref, model = _ToyVAE(10, 2, seed=720), _ToyVAE(10, 2, seed=720)
    (ref.iwae_bound(x, model_ref, 4, noise=noise) * weight).sum().backward()
    out = _call(fn, (x, model, 4), dict(noise=noise), case="gradient check")
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise AssertionError(
            f"{name} returned a result without gradient: no torch.no_grad(), .detach(), .item() "
            "or numpy inside; the IWAE is trained through this bound."
        )
    (out * weight).sum().backward()
    for (pname, p), p_ref in zip(model.named_parameters(), model_ref.parameters(), strict=True):
        if p.grad is None:
            raise AssertionError(
                f"{name}: no gradient reaches the model's {pname}. Is z (or mu, logvar) detached?"
            )
        if not close(p.grad, p_ref.grad):
            raise AssertionError(
                f"{name} gives wrong gradients w.r.t. the model's {pname} although the values are "
                "right: is part of the computation detached (z, the weights)?"
            )
