"""The week 02 checks (``course.checks.vae``) judged on student-like code.

For every check: realistic wrong implementations must be rejected with the
message that names *their* mistake, correct implementations written another
way must pass, and the course's reference must be refused (itself, a pasted
copy, or called through a wrapper).
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

import course.vae as ref
from course.checks import vae as C

NOT_YOURS = "reference implementation, not your own"
REFERENCE_CALLED = "called the course's reference"
STUB = r"replace `raise NotImplementedError\(\)`"
LOG_2PI = math.log(2 * math.pi)


def _passes(check, fn, capsys) -> None:
    check(fn)
    assert "passed" in capsys.readouterr().out  # the one line of success


def _sum(t):
    return t.flatten(1).sum(dim=1)  # (B,)


# ---------------------------------------------------------------------------------------
# reparameterize
# ---------------------------------------------------------------------------------------


def _repar(std_of, *, shift=True, rand=False, detach_mu=False):
    """A student's reparameterize with the std computed by ``std_of(logvar)``."""

    def reparameterize(mu, logvar, noise=None):
        if noise is None:
            noise = torch.rand_like(mu) if rand else torch.randn_like(mu)
        base = mu.detach() if detach_mu else mu
        return (base if shift else 0) + std_of(logvar) * noise

    return reparameterize


def _half_exp(logvar):
    return torch.exp(0.5 * logvar)


def _repar_noise_or(mu, logvar, noise=None):
    noise = noise or torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * noise


def _repar_ignores_noise(mu, logvar, noise=None):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def _repar_sample_not_rsample(mu, logvar, noise=None):
    dist = Normal(mu, torch.exp(0.5 * logvar))
    return dist.sample() if noise is None else dist.loc + dist.scale * noise


def _repar_in_place(mu, logvar, noise=None):
    if noise is None:
        noise = torch.randn_like(mu)
    noise *= torch.exp(0.5 * logvar)  # scales the caller's noise
    return mu + noise


WRONG_REPARAM = [
    (_repar(torch.exp), r"used exp\(logvar\) as the standard deviation"),
    (_repar(torch.sqrt), r"sqrt\(logvar\) or log\(logvar\) fails"),
    (_repar(lambda lv: lv), "multiplied the noise by logvar itself"),
    (_repar(_half_exp, shift=False), "you forgot mu"),
    (_repar(_half_exp, rand=True), r"torch.rand draws from U\[0, 1\)"),
    (_repar(_half_exp, detach_mu=True), "no gradient reaches mu"),
    (_repar(lambda lv: torch.exp(-0.5 * lv)), r"exp\(-0.5 \* logvar\) = 1 / sigma"),
    (_repar_noise_or, "Test `if noise is None:`"),
    (_repar_ignores_noise, "returned a different z for the same noise"),
    (_repar_sample_not_rsample, r"z carries no gradient.*rsample"),
    (_repar_in_place, "changed its input number 3 in place"),
]


@pytest.mark.parametrize("fn, message", WRONG_REPARAM)
def test_check_reparameterize_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_reparameterize(fn)


def _repar_distribution(mu, logvar, noise=None):
    dist = Normal(mu, logvar.exp().sqrt())
    return dist.rsample() if noise is None else dist.loc + dist.scale * noise


def _repar_float64(mu, logvar, noise=None):
    if noise is None:
        noise = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device)
    z = mu.double() + (logvar.double() / 2).exp() * noise.double()
    return z.to(mu.dtype)


def _repar_in_place_on_copy(mu, logvar, noise=None):
    eps = torch.randn_like(mu) if noise is None else noise.clone()
    eps.mul_(logvar.mul(0.5).exp())  # in place on our own copy
    return eps.add_(mu)


@pytest.mark.parametrize("fn", [_repar_distribution, _repar_float64, _repar_in_place_on_copy])
def test_check_reparameterize_accepts_correct_variants(fn, capsys):
    _passes(C.check_reparameterize, fn, capsys)


def test_check_reparameterize_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    C.check_reparameterize(_repar_distribution)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------------------
# gaussian_kl
# ---------------------------------------------------------------------------------------


def _terms(mu, logvar):
    return 1 + logvar - mu.pow(2) - logvar.exp()


def _kl_in_place_on_exp(mu, logvar):
    t = logvar.exp()  # exp saves its output for the backward pass ...
    t.add_(mu * mu).sub_(logvar).sub_(1).mul_(0.5)  # ... which this overwrites
    return _sum(t)


WRONG_KL = [
    (lambda mu, lv: 0.5 * _sum(_terms(mu, lv)), "the KL term is negative: did you forget"),
    (lambda mu, lv: -_sum(_terms(mu, lv)), "the factor 1/2 is missing"),
    (lambda mu, lv: -0.5 * _terms(mu, lv).flatten(1).mean(1), "averaged over the latent"),
    (lambda mu, lv: -0.5 * _terms(mu, lv).sum(), "you summed over the batch too"),
    (lambda mu, lv: -0.5 * _sum(_terms(mu, lv)).mean(), "you averaged over the batch"),
    (
        lambda mu, lv: _sum(lv.exp() + mu**2 - torch.log(lv.mul(0.5).exp()) - 1),
        "erratum on the lecture slide",
    ),
    (
        lambda mu, lv: 0.5 * _sum(lv**2 + mu**2 - torch.log(lv**2) - 1),
        "used logvar as the standard deviation",
    ),
    (
        lambda mu, lv: 0.5 * _sum(lv.exp() + mu**2 - 2 * torch.log(lv) - 1),
        r"sqrt\(logvar\) or log\(logvar\) fails",
    ),
    (lambda mu, lv: -0.5 * _terms(mu, lv).sum(dim=1), r"over \*every\* non-batch dim"),
    (lambda mu, lv: -0.5 * _terms(mu, lv), r"returned shape \(4, 3\), expected \(B,\)"),
    (lambda mu, lv: -0.5 * _sum(_terms(mu, lv)).detach(), "result without gradient"),
    (_kl_in_place_on_exp, "in-place operation"),
    (
        lambda mu, lv: -0.5 * _sum(1 + lv - mu**2 - (0.5 * lv).exp()),
        r"used sigma = exp\(0.5 \* logvar\)",
    ),
]


@pytest.mark.parametrize("fn, message", WRONG_KL)
def test_check_gaussian_kl_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_gaussian_kl(fn)


def _kl_distributions(mu, logvar):
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return kl_divergence(q, p).flatten(1).sum(-1)  # (B,)


def _kl_float64_then_cast(mu, logvar):
    m, lv = mu.double(), logvar.double()
    per_sample = 0.5 * (m.square() + lv.exp() - lv - 1).reshape(len(m), -1).sum(1)
    return per_sample.to(mu.dtype)


def _kl_in_place_on_copy(mu, logvar):
    t = mu * mu  # a new tensor: ours to modify (mul saves its inputs, not its output)
    t.add_(logvar.exp()).sub_(logvar).sub_(1).mul_(0.5)
    dims = tuple(range(1, t.ndim))
    return t.sum(dim=dims)


@pytest.mark.parametrize("fn", [_kl_distributions, _kl_float64_then_cast, _kl_in_place_on_copy])
def test_check_gaussian_kl_accepts_correct_variants(fn, capsys):
    _passes(C.check_gaussian_kl, fn, capsys)


# ---------------------------------------------------------------------------------------
# bernoulli_log_likelihood
# ---------------------------------------------------------------------------------------


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def _bern_naive(logits, x):
    p = torch.sigmoid(logits)
    return _sum(x * torch.log(p) + (1 - x) * torch.log(1 - p))


def _bern_log_of_logits(logits, x):
    return _sum(x * torch.log(logits) + (1 - x) * torch.log(1 - logits))


WRONG_BERNOULLI = [
    (lambda lo, x: -_sum(_bce(torch.sigmoid(lo), x)), "double sigmoid"),
    (lambda lo, x: _sum(_bce(lo, x)), "sign is flipped: you returned the binary cross-entropy"),
    (lambda lo, x: -_bce(lo, x).flatten(1).mean(1), "you averaged over the pixels"),
    (lambda lo, x: -_sum(F.binary_cross_entropy(lo, x, reduction="none")), "not probabilities"),
    (_bern_log_of_logits, r"\*logits\* \(any real number\), not probabilities"),
    (lambda lo, x: -_sum(_bce(x, lo)), "you swapped logits and x"),
    (lambda lo, x: -_bce(lo, x).sum(), "you summed over the batch too"),
    (_bern_naive, r"wrong for large logits \(\+-40\)"),
    (lambda lo, x: _sum(Bernoulli(logits=lo).log_prob(x)), "only accepts 0/1 values"),
]


@pytest.mark.parametrize("fn, message", WRONG_BERNOULLI)
def test_check_bernoulli_log_likelihood_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_bernoulli_log_likelihood(fn)


def _bern_logsigmoid(logits, x):
    return _sum(x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits))


def _bern_distribution(logits, x):
    return Bernoulli(logits=logits, validate_args=False).log_prob(x).flatten(1).sum(1)


def _bern_float64_softplus(logits, x):
    lo, t = logits.double(), x.double()
    ll = t * lo - F.softplus(lo)  # log sigmoid(l) = l - softplus(l)
    return ll.reshape(ll.shape[0], -1).sum(-1).to(logits.dtype)


@pytest.mark.parametrize("fn", [_bern_logsigmoid, _bern_distribution, _bern_float64_softplus])
def test_check_bernoulli_log_likelihood_accepts_correct_variants(fn, capsys):
    _passes(C.check_bernoulli_log_likelihood, fn, capsys)


# ---------------------------------------------------------------------------------------
# gaussian_log_likelihood
# ---------------------------------------------------------------------------------------


def _gll(per_dim):
    def gaussian_log_likelihood(x_hat, x, sigma=1.0):
        return _sum(per_dim(x_hat, x, sigma))

    return gaussian_log_likelihood


WRONG_GAUSSIAN = [
    (_gll(lambda xh, x, s: -0.5 * (x - xh) ** 2 / s**2), "dropped the constant"),
    (
        _gll(lambda xh, x, s: -((x - xh) ** 2) / s**2 - 0.5 * math.log(2 * math.pi * s**2)),
        "factor 0.5 is missing in front of the squared error",
    ),
    (
        _gll(lambda xh, x, s: -0.5 * ((x - xh) ** 2 / s + math.log(2 * math.pi * s))),
        "treated sigma as the variance",
    ),
    (
        _gll(lambda xh, x, s: -0.5 * ((x - xh) ** 2 / s + math.log(2 * math.pi * s**2))),
        "divided the squared error by sigma",
    ),
    (
        _gll(lambda xh, x, s: 0.5 * ((x - xh) ** 2 / s**2 + math.log(2 * math.pi * s**2))),
        "the sign is flipped: you returned the negative log-likelihood",
    ),
    (
        _gll(lambda xh, x, s: -0.5 * ((x - xh) ** 2 + LOG_2PI)),
        "sigma is ignored",
    ),
    (
        lambda xh, x, sigma=1.0: Normal(xh, sigma).log_prob(x).flatten(1).mean(1),
        "you averaged over the pixels",
    ),
    (
        lambda xh, x, sigma=1.0: Normal(xh, sigma).log_prob(x).sum(),
        "you summed over the batch too",
    ),
]


@pytest.mark.parametrize("fn, message", WRONG_GAUSSIAN)
def test_check_gaussian_log_likelihood_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_gaussian_log_likelihood(fn)


def _gauss_distribution(x_hat, x, sigma=1.0):
    return Normal(x_hat, sigma).log_prob(x).flatten(1).sum(1)


def _gauss_float64(x_hat, x, sigma=1.0):
    d = (x.double() - x_hat.double()).reshape(len(x), -1)  # (B, D)
    n = d.shape[1]
    ll = -(d**2).sum(1) / (2 * sigma**2) - n * (math.log(sigma) + 0.5 * LOG_2PI)
    return ll.to(x.dtype)


def _gauss_in_place_on_copy(x_hat, x, sigma=1.0):
    d = x - x_hat  # new tensor
    d.pow_(2).div_(sigma**2).add_(math.log(2 * math.pi * sigma**2)).mul_(-0.5)
    return d.sum(dim=tuple(range(1, d.ndim)))


@pytest.mark.parametrize("fn", [_gauss_distribution, _gauss_float64, _gauss_in_place_on_copy])
def test_check_gaussian_log_likelihood_accepts_correct_variants(fn, capsys):
    _passes(C.check_gaussian_log_likelihood, fn, capsys)


# ---------------------------------------------------------------------------------------
# elbo
# ---------------------------------------------------------------------------------------


def _my_kl(mu, logvar):
    return -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)


def _my_rec(x, out, likelihood):
    if likelihood == "bernoulli":
        return -_sum(_bce(out, x))
    return _sum(Normal(out, 1.0).log_prob(x))


def _elbo(combine):
    def elbo(x, x_hat_or_logits, mu, logvar, likelihood="bernoulli", beta=1.0):
        rec = _my_rec(x, x_hat_or_logits, likelihood)
        return combine(rec, _my_kl(mu, logvar), beta)

    return elbo


def _elbo_no_gaussian_constant(x, out, mu, logvar, likelihood="bernoulli", beta=1.0):
    if likelihood == "bernoulli":
        rec = -_sum(_bce(out, x))
    else:
        rec = -0.5 * _sum((x - out) ** 2)
    return rec - beta * _my_kl(mu, logvar)


WRONG_ELBO = [
    (_elbo(lambda r, k, b: r + b * k), "you added the KL term"),
    (_elbo(lambda r, k, b: r - k), "beta is ignored"),
    (_elbo(lambda r, k, b: b * r - k), "you put beta on the reconstruction term"),
    (_elbo(lambda r, k, b: -(r - b * k)), r"you returned the loss, -ELBO"),
    (_elbo(lambda r, k, b: (r - b * k).mean()), "you averaged over the batch"),
    (_elbo(lambda r, k, b: -(r - b * k).mean()), r"returned the training loss -elbo\(...\).mean"),
    (_elbo(lambda r, k, b: r - k / b), "divided the KL by beta"),
    (_elbo_no_gaussian_constant, r"misses its constant -0.5 \* log\(2 pi\)"),
]


@pytest.mark.parametrize("fn, message", WRONG_ELBO)
def test_check_elbo_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_elbo(fn)


def _elbo_distributions(x, x_hat_or_logits, mu, logvar, likelihood="bernoulli", beta=1.0):
    if likelihood == "bernoulli":
        px = Bernoulli(logits=x_hat_or_logits, validate_args=False)
    else:
        px = Normal(x_hat_or_logits, torch.ones_like(x_hat_or_logits))
    q = Normal(mu, logvar.exp().sqrt())
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    rec = px.log_prob(x).flatten(1).sum(1)  # (B,)
    return rec - beta * kl_divergence(q, p).sum(1)  # (B,)


def _elbo_float64(x, x_hat_or_logits, mu, logvar, likelihood="bernoulli", beta=1.0):
    x64, o, m, lv = (t.double() for t in (x, x_hat_or_logits, mu, logvar))
    if likelihood == "gaussian":
        rec = (-0.5 * ((x64 - o) ** 2 + LOG_2PI)).flatten(1).sum(1)
    else:
        rec = (x64 * F.logsigmoid(o) + (1 - x64) * F.logsigmoid(-o)).flatten(1).sum(1)
    kl = 0.5 * (m**2 + lv.exp() - 1 - lv).sum(1)
    return (rec - beta * kl).to(x.dtype)


@pytest.mark.parametrize(
    "fn", [_elbo_distributions, _elbo_float64, _elbo(lambda r, k, b: r - b * k)]
)
def test_check_elbo_accepts_correct_variants(fn, capsys):
    _passes(C.check_elbo, fn, capsys)


# ---------------------------------------------------------------------------------------
# VAE (the class)
# ---------------------------------------------------------------------------------------


def _layers(sizes):
    """Linear layers with ReLU between them, none after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ChunkVAE(nn.Module):
    """Correct: one encoder head of 2 * latent_dim split with chunk, explicit randn_like."""

    def __init__(self, in_dim, latent_dim, hidden=(512, 256)):
        super().__init__()
        self.encoder = _layers([in_dim, *hidden, 2 * latent_dim])
        self.decoder = _layers([latent_dim, *reversed(hidden), in_dim])

    def encode(self, x):
        return self.encoder(x.flatten(1)).chunk(2, dim=1)

    def decode(self, z):
        return self.decoder(z)

    def sample_z(self, mu, logvar):
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.sample_z(mu, logvar)).view_as(x), mu, logvar


class TwoHeadsRsampleVAE(nn.Module):
    """Correct: separate mu and logvar heads, torch.distributions rsample, reshape."""

    def __init__(self, in_dim, latent_dim, hidden=(512, 256)):
        super().__init__()
        self.body = _layers([in_dim, *hidden])
        self.act = nn.ReLU()
        self.mu_head = nn.Linear(hidden[-1], latent_dim)
        self.logvar_head = nn.Linear(hidden[-1], latent_dim)
        self.decoder = _layers([latent_dim, *reversed(hidden), in_dim])

    def encode(self, x):
        h = self.act(self.body(x.reshape(len(x), -1)))
        return self.mu_head(h), self.logvar_head(h)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = Normal(mu, logvar.exp().sqrt()).rsample()
        return self.decode(z).reshape(x.shape), mu, logvar


@pytest.mark.parametrize("cls", [ChunkVAE, TwoHeadsRsampleVAE])
def test_check_vae_accepts_correct_variants(cls, capsys):
    _passes(C.check_vae, cls, capsys)


class DecodesMu(ChunkVAE):
    def sample_z(self, mu, logvar):
        return mu


class VarianceAsStd(ChunkVAE):
    def sample_z(self, mu, logvar):
        return mu + logvar.exp() * torch.randn_like(mu)


class OneNoiseForTheBatch(ChunkVAE):
    def sample_z(self, mu, logvar):
        return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[1], dtype=mu.dtype)


class UniformNoise(ChunkVAE):
    def sample_z(self, mu, logvar):
        return mu + torch.exp(0.5 * logvar) * torch.rand_like(mu)


class DetachedZ(ChunkVAE):
    def sample_z(self, mu, logvar):
        return Normal(mu, torch.exp(0.5 * logvar)).sample()


class SigmoidDecoder(ChunkVAE):
    def decode(self, z):
        return torch.sigmoid(self.decoder(z))


class ReluOnEncoderOutput(ChunkVAE):
    def encode(self, x):
        return torch.relu(self.encoder(x.flatten(1))).chunk(2, dim=1)


class EncodeReturnsOneTensor(ChunkVAE):
    def encode(self, x):
        return self.encoder(x.flatten(1))

    def forward(self, x):
        mu, logvar = self.encode(x).chunk(2, dim=1)
        return self.decode(self.sample_z(mu, logvar)).view_as(x), mu, logvar


class LatentsFirst(ChunkVAE):
    def forward(self, x):
        logits, mu, logvar = super().forward(x)
        return mu, logvar, logits


class ReturnsLogitsOnly(ChunkVAE):
    def forward(self, x):
        return super().forward(x)[0]


class NoViewAs(ChunkVAE):
    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.sample_z(mu, logvar)), mu, logvar


class NoSecondHiddenLayer(ChunkVAE):
    def __init__(self, in_dim, latent_dim, hidden=(512, 256)):
        super().__init__(in_dim, latent_dim, hidden)
        self.encoder = _layers([in_dim, hidden[0], 2 * latent_dim])


WRONG_VAES = [
    (DecodesMu, "returned the same logits twice"),
    (VarianceAsStd, r"used exp\(logvar\), the variance, as the standard deviation"),
    (OneNoiseForTheBatch, "same noise for every sample of the batch"),
    (UniformNoise, r"torch.rand draws from U\[0, 1\)"),
    (DetachedZ, r"reconstruction term gives no gradient to \['encoder"),
    (SigmoidDecoder, r"decode returns values in \[0, 1\]: return the \*logits\*"),
    (ReluOnEncoderOutput, "never returns a negative mu"),
    (EncodeReturnsOneTensor, r"encode returned one tensor .*chunk\(2, dim=1\)"),
    (LatentsFirst, "in this order, the logits first"),
    (ReturnsLogitsOnly, r"forward returned a tensor of shape .*triple \(logits, mu, logvar\)"),
    (NoViewAs, r"logits.view_as\(x\)"),
    (NoSecondHiddenLayer, "parameters, expected"),
]


@pytest.mark.parametrize("cls, message", WRONG_VAES, ids=[c.__name__ for c, _ in WRONG_VAES])
def test_check_vae_names_the_mistake(cls, message):
    with pytest.raises(AssertionError, match=message):
        C.check_vae(cls)


class SubclassOfReference(ref.VAE):
    pass


class WrapsReferenceVAE(nn.Module):
    def __init__(self, in_dim, latent_dim, hidden=(512, 256)):
        super().__init__()
        self.inner = ref.VAE(in_dim, latent_dim, hidden)

    def encode(self, x):
        return self.inner.encode(x)

    def decode(self, z):
        return self.inner.decode(z)

    def forward(self, x):
        return self.inner(x)


class UsesReferenceReparameterize(ChunkVAE):
    def sample_z(self, mu, logvar):
        return ref.reparameterize(mu, logvar)


@pytest.mark.parametrize("cls", [ref.VAE, SubclassOfReference])
def test_check_vae_refuses_the_reference_class(cls):
    with pytest.raises(AssertionError, match=NOT_YOURS):
        C.check_vae(cls)


def test_check_vae_refuses_a_pasted_copy():
    source = inspect.getsource(ref.VAE).replace("class VAE(", "class MyVAE(", 1)
    namespace = dict(vars(ref), __name__="student_notebook")
    exec(compile(source, "<student cell>", "exec"), namespace)
    with pytest.raises(AssertionError, match=NOT_YOURS):
        C.check_vae(namespace["MyVAE"])


@pytest.mark.parametrize("cls", [WrapsReferenceVAE, UsesReferenceReparameterize])
def test_check_vae_refuses_the_reference_inside(cls):
    with pytest.raises(AssertionError, match=REFERENCE_CALLED):
        C.check_vae(cls)


class StubVAE(ChunkVAE):
    def forward(self, x):
        raise NotImplementedError()


def test_check_vae_says_to_replace_the_stub():
    with pytest.raises(AssertionError, match=STUB):
        C.check_vae(StubVAE)


def test_check_vae_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    C.check_vae(ChunkVAE)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------------------
# iwae_bound
# ---------------------------------------------------------------------------------------


def _log_weights(x, model, k, noise, *, std=None, prior=True, q=True):
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), each term switchable: (k, B)."""
    mu, logvar = model.encode(x)  # (B, L)
    if noise is None:
        noise = torch.randn(k, *mu.shape, dtype=mu.dtype, device=mu.device)  # (k, B, L)
    sigma = torch.exp(0.5 * logvar) if std is None else std(logvar)
    z = mu + sigma * noise  # (k, B, L)
    logits = model.decode(z)  # (k, B, D)
    xf = x.flatten(1)
    log_w = (xf * F.logsigmoid(logits) + (1 - xf) * F.logsigmoid(-logits)).sum(-1)
    if prior:
        log_w = log_w - 0.5 * (z**2).sum(-1)  # log 2 pi cancels against q's
    if q:
        log_w = log_w + 0.5 * (noise**2 + logvar).sum(-1)
    return log_w


def _iwae_logsigmoid(x, model, k, noise=None):
    return torch.logsumexp(_log_weights(x, model, k, noise), dim=0) - math.log(k)


def _iwae_distributions_loop(x, model, k, noise=None):
    """One importance sample at a time, log-densities from torch.distributions."""
    mu, logvar = model.encode(x)
    q = Normal(mu, torch.exp(0.5 * logvar))
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    log_w = []
    for i in range(k):
        z = q.rsample() if noise is None else mu + q.scale * noise[i]  # (B, L)
        px = Bernoulli(logits=model.decode(z), validate_args=False)
        log_w.append(
            px.log_prob(x.flatten(1)).sum(1) + prior.log_prob(z).sum(1) - q.log_prob(z).sum(1)
        )
    return torch.stack(log_w).logsumexp(0) - math.log(k)


def _iwae_max_trick_float64(x, model, k, noise=None):
    log_w = _log_weights(x, model, k, noise).double()  # (k, B)
    top = log_w.max(0).values  # (B,)
    return (top + (log_w - top).exp().mean(0).log()).to(x.dtype)


@pytest.mark.parametrize(
    "fn", [_iwae_logsigmoid, _iwae_distributions_loop, _iwae_max_trick_float64]
)
def test_check_iwae_bound_accepts_correct_variants(fn, capsys):
    _passes(C.check_iwae_bound, fn, capsys)


def _iwae_with(reduce, **terms):
    def iwae_bound(x, model, k, noise=None):
        return reduce(_log_weights(x, model, k, noise, **terms), k)

    return iwae_bound


def _lme(log_w, k):
    return torch.logsumexp(log_w, 0) - math.log(k)


def _iwae_one_z(x, model, k, noise=None):
    if noise is not None:
        noise = noise[:1].expand_as(noise)  # the first draw, k times
    return _lme(_log_weights(x, model, k, noise), k)


def _iwae_closed_form_kl(x, model, k, noise=None):
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * noise
    logits = model.decode(z)
    rec = -F.binary_cross_entropy_with_logits(
        logits, x.flatten(1).expand_as(logits), reduction="none"
    ).sum(-1)
    return rec.mean(0) - _my_kl(mu, logvar)


def _iwae_ignores_noise(x, model, k, noise=None):
    return _lme(_log_weights(x, model, k, None), k)


WRONG_IWAE = [
    (_iwae_with(lambda lw, k: lw.mean(0)), "you averaged the log-weights"),
    (_iwae_with(lambda lw, k: torch.logsumexp(lw, 0)), "you forgot the -log k"),
    (_iwae_with(_lme, prior=False), r"log p\(z\), the prior, is missing"),
    (_iwae_with(_lme, q=False), r"log q\(z \| x\) is missing"),
    (_iwae_one_z, "you used one z for all k samples"),
    (_iwae_closed_form_kl, "you used the closed-form KL"),
    (_iwae_with(lambda lw, k: lw.exp().mean(0).log()), "the weights exp\\(log w\\) underflow"),
    (_iwae_with(lambda lw, k: lw.logsumexp(1) - math.log(k)), r"reduce over the k samples"),
    (_iwae_with(_lme, std=torch.exp), r"exp\(logvar\), the variance, as the standard deviation"),
    (_iwae_ignores_noise, "different value for the same noise"),
    (_iwae_with(lambda lw, k: _lme(lw, k).detach()), "result without gradient"),
]


@pytest.mark.parametrize("fn, message", WRONG_IWAE)
def test_check_iwae_bound_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_iwae_bound(fn)


def test_check_iwae_bound_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    C.check_iwae_bound(_iwae_logsigmoid)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------------------
# Shared: stubs, the reference itself, and wrappers around it
# ---------------------------------------------------------------------------------------

CHECKS = [
    (C.check_reparameterize, ref.reparameterize),
    (C.check_gaussian_kl, ref.gaussian_kl),
    (C.check_bernoulli_log_likelihood, ref.bernoulli_log_likelihood),
    (C.check_gaussian_log_likelihood, ref.gaussian_log_likelihood),
    (C.check_elbo, ref.elbo),
    (C.check_iwae_bound, ref.iwae_bound),
]
IDS = [check.__name__ for check, _ in CHECKS]


def _exec_copy(reference):
    """``reference`` pasted into a notebook cell below the student's own imports."""
    namespace = dict(vars(ref), __name__="student_notebook")
    exec(compile(inspect.getsource(reference), "<student cell>", "exec"), namespace)
    return namespace[reference.__name__]


@pytest.mark.parametrize("check, reference", CHECKS, ids=IDS)
def test_check_refuses_a_pasted_copy_of_the_reference(check, reference):
    with pytest.raises(AssertionError, match=NOT_YOURS):
        check(_exec_copy(reference))


def test_check_elbo_refuses_the_reference_pieces():
    """An ELBO assembled from the course's own likelihood and KL is not the student's."""

    def elbo(x, x_hat_or_logits, mu, logvar, likelihood="bernoulli", beta=1.0):
        rec = ref.bernoulli_log_likelihood(x_hat_or_logits, x)
        return rec - beta * _my_kl(mu, logvar)

    with pytest.raises(AssertionError, match=REFERENCE_CALLED):
        C.check_elbo(elbo)
