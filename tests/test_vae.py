"""Week 02 references (``course.vae``) against closed forms and ``torch.distributions``.

Every expected value comes from somewhere other than the code under test:
``torch.distributions`` (KL, log-densities), a linear-Gaussian model whose evidence and
posterior are known exactly (probabilistic PCA), numerical quadrature over a 1-D
latent, or an identity the quantity must satisfy (KL >= 0, ELBO <= log p(x)).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

from course.data import digits
from course.vae import (
    VAE,
    ConditionalVAE,
    bernoulli_log_likelihood,
    elbo,
    gaussian_kl,
    gaussian_log_likelihood,
    iwae_bound,
    reparameterize,
)

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- reparameterize


@pytest.mark.parametrize("dtype", DTYPES)
def test_reparameterize_closed_form_with_given_noise(dtype):
    g = _gen(0)
    mu = torch.randn(4, 3, generator=g, dtype=dtype)
    logvar = torch.randn(4, 3, generator=g, dtype=dtype)
    noise = torch.randn(4, 3, generator=g, dtype=dtype)
    z = reparameterize(mu, logvar, noise)
    assert z.dtype == dtype and z.shape == (4, 3)
    torch.testing.assert_close(z, mu + torch.sqrt(torch.exp(logvar)) * noise, **TOL[dtype])


def test_reparameterize_gradients():
    g = _gen(1)
    mu = torch.randn(5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(5, 2, generator=g, dtype=torch.float64)
    reparameterize(mu, logvar, noise).sum().backward()
    # Elementwise map, so the gradient of the sum is the elementwise derivative.
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * noise)


def test_reparameterize_sample_statistics():
    torch.manual_seed(0)
    n = 200_000
    mu_1 = torch.tensor([-1.0, 0.0, 2.5], dtype=torch.float64)
    logvar_1 = torch.tensor([0.0, -2.0, 1.0], dtype=torch.float64)
    mu, logvar = mu_1.expand(n, 3), logvar_1.expand(n, 3)
    z = reparameterize(mu, logvar)
    var = logvar_1.exp()
    # 5 standard errors: the mean's SE is sqrt(var / n), the variance's sqrt(2 var^2 / n).
    assert (z.mean(0) - mu_1).abs().le(5 * (var / n).sqrt()).all(), z.mean(0)
    assert (z.var(0) - var).abs().le(5 * var * math.sqrt(2 / n)).all(), z.var(0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reparameterize_draws_noise_like_mu(dtype):
    mu = torch.zeros(3, 4, dtype=dtype)
    logvar = torch.full((3, 4), 0.3, dtype=dtype)
    torch.manual_seed(7)
    z = reparameterize(mu, logvar)
    torch.manual_seed(7)
    eps = torch.randn_like(mu)
    assert z.dtype == dtype and z.device == mu.device
    torch.testing.assert_close(z, mu + torch.exp(0.5 * logvar) * eps)
    assert z.std() > 0  # noise was actually drawn


def test_reparameterize_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="mu and logvar"):
        reparameterize(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="noise"):
        reparameterize(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, 2))


# ----------------------------------------------------------------------------- KL


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 5)])
def test_gaussian_kl_matches_torch_distributions(dtype, shape):
    g = _gen(2)
    mu = torch.randn(*shape, generator=g, dtype=dtype)
    logvar = torch.randn(*shape, generator=g, dtype=dtype)
    expected = kl_divergence(
        Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu))
    )
    expected = expected.flatten(1).sum(1)  # (B,)
    kl = gaussian_kl(mu, logvar)
    assert kl.shape == (shape[0],) and kl.dtype == dtype
    torch.testing.assert_close(kl, expected, **TOL[dtype])


def test_gaussian_kl_nonnegative_and_zero_at_prior():
    g = _gen(3)
    mu = 3 * torch.randn(1000, 4, generator=g, dtype=torch.float64)
    logvar = 3 * torch.randn(1000, 4, generator=g, dtype=torch.float64)
    assert (gaussian_kl(mu, logvar) >= 0).all()
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    torch.testing.assert_close(gaussian_kl(zeros, zeros), torch.zeros(3, dtype=torch.float64))
    # Any single deviation from the prior costs something.
    assert (gaussian_kl(zeros + torch.eye(3, 4, dtype=torch.float64), zeros) > 0).all()


def test_gaussian_kl_rejects_bad_shapes():
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="batched"):
        gaussian_kl(torch.zeros(3), torch.zeros(3))


# ----------------------------------------------------------------------------- likelihoods


@pytest.mark.parametrize("dtype", DTYPES)
def test_bernoulli_log_likelihood_matches_torch_distributions(dtype):
    g = _gen(4)
    logits = 4 * torch.randn(5, 1, 3, 3, generator=g, dtype=dtype)
    x = (torch.rand(5, 1, 3, 3, generator=g, dtype=dtype) > 0.5).to(dtype)
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    ll = bernoulli_log_likelihood(logits, x)
    assert ll.shape == (5,) and ll.dtype == dtype
    torch.testing.assert_close(ll, expected, **TOL[dtype])


def test_bernoulli_log_likelihood_validates():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bernoulli_log_likelihood(torch.zeros(2, 4), -torch.ones(2, 4))
    with pytest.raises(ValueError, match="same shape"):
        bernoulli_log_likelihood(torch.zeros(2, 4), torch.zeros(2, 2, 2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sigma", [1.0, 0.3])
def test_gaussian_log_likelihood_matches_torch_distributions(dtype, sigma):
    g = _gen(5)
    x_hat = torch.randn(4, 2, 5, generator=g, dtype=dtype)
    x = torch.randn(4, 2, 5, generator=g, dtype=dtype)
    expected = Normal(x_hat, torch.full_like(x_hat, sigma)).log_prob(x).flatten(1).sum(1)
    ll = gaussian_log_likelihood(x_hat, x, sigma)
    assert ll.shape == (4,) and ll.dtype == dtype
    torch.testing.assert_close(ll, expected, **TOL[dtype])


def test_gaussian_log_likelihood_validates():
    with pytest.raises(ValueError, match="sigma"):
        gaussian_log_likelihood(torch.zeros(2, 3), torch.zeros(2, 3), sigma=0.0)
    with pytest.raises(ValueError, match="same shape"):
        gaussian_log_likelihood(torch.zeros(2, 3), torch.zeros(3, 2))


# ----------------------------------------------------------------------------- ELBO


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_elbo_is_loglik_minus_beta_kl(dtype, beta):
    g = _gen(6)
    x = torch.rand(3, 1, 4, 4, generator=g, dtype=dtype)
    out = torch.randn(3, 1, 4, 4, generator=g, dtype=dtype)
    mu = torch.randn(3, 2, generator=g, dtype=dtype)
    logvar = torch.randn(3, 2, generator=g, dtype=dtype)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1)
    bern = Bernoulli(logits=out, validate_args=False).log_prob(x).flatten(1).sum(1)
    gauss = Normal(out, 1.0).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(elbo(x, out, mu, logvar, beta=beta), bern - beta * kl, **TOL[dtype])
    torch.testing.assert_close(
        elbo(x, out, mu, logvar, likelihood="gaussian", beta=beta), gauss - beta * kl, **TOL[dtype]
    )


def test_elbo_validates():
    x = torch.rand(3, 4)
    with pytest.raises(ValueError, match="likelihood"):
        elbo(x, x, torch.zeros(3, 2), torch.zeros(3, 2), likelihood="poisson")
    with pytest.raises(ValueError, match="batch size"):
        elbo(x, x, torch.zeros(2, 2), torch.zeros(2, 2))


# ---------------------------------------------------------------- closed form: probabilistic PCA


def _ppca(seed: int = 0, d: int = 5, m: int = 2, sigma: float = 0.5):
    """p(z) = N(0, I_m), p(x|z) = N(W z + b, sigma^2 I_d), W with orthogonal columns."""
    g = _gen(seed)
    q, _ = torch.linalg.qr(torch.randn(d, m, generator=g, dtype=torch.float64))  # (d, m)
    scales = torch.tensor([2.0, 0.7], dtype=torch.float64)[:m]
    w = q * scales  # (d, m), W^T W = diag(scales^2)
    b = torch.randn(d, generator=g, dtype=torch.float64)
    x = torch.randn(8, d, generator=g, dtype=torch.float64) * 2  # (B, d)
    return w, b, sigma, x


def _ppca_exact(w, b, sigma, x):
    d = w.shape[0]
    cov = w @ w.T + sigma**2 * torch.eye(d, dtype=w.dtype)
    log_px = MultivariateNormal(b, covariance_matrix=cov).log_prob(x)  # (B,)
    # Posterior N((I + W^T W / s^2)^{-1} W^T (x - b) / s^2, (I + W^T W / s^2)^{-1}): diagonal here.
    post_var = 1.0 / (1.0 + (w * w).sum(0) / sigma**2)  # (m,)
    post_mean = ((x - b) @ w) * post_var / sigma**2  # (B, m)
    return log_px, post_mean, post_var


def _ppca_elbo_analytic(w, b, sigma, x, m_q, v_q):
    """E_q[log p(x|z)] - KL: the reconstruction term is exact for a linear decoder."""
    rec = gaussian_log_likelihood(m_q @ w.T + b, x, sigma)  # at the mean, (B,)
    rec = rec - (v_q * (w * w).sum(0)).sum(-1) / (2 * sigma**2)  # + E[(W(z - m))^2] term
    return rec - gaussian_kl(m_q, torch.log(v_q).expand_as(m_q))


def test_ppca_elbo_equals_log_evidence_at_exact_posterior():
    w, b, sigma, x = _ppca()
    log_px, post_mean, post_var = _ppca_exact(w, b, sigma, x)
    # Sanity of the closed-form posterior: off-diagonals of W^T W vanish.
    wtw = w.T @ w
    torch.testing.assert_close(wtw, torch.diag(torch.diagonal(wtw)))
    exact = _ppca_elbo_analytic(w, b, sigma, x, post_mean, post_var.expand_as(post_mean))
    torch.testing.assert_close(exact, log_px, rtol=1e-10, atol=1e-10)
    # Monte-Carlo reconstruction term through reparameterize and elbo-style pieces.
    n = 100_000
    noise = torch.randn(n, *post_mean.shape, generator=_gen(9), dtype=torch.float64)
    logvar = torch.log(post_var).expand_as(post_mean)
    z = reparameterize(post_mean.expand_as(noise), logvar.expand_as(noise), noise)  # (n, B, m)
    x_hat = z @ w.T + b  # (n, B, d)
    rec = gaussian_log_likelihood(
        x_hat.reshape(-1, x.shape[1]), x.expand(n, *x.shape).reshape(-1, x.shape[1]), sigma
    ).view(n, -1)  # (n, B)
    mc = rec.mean(0) - gaussian_kl(post_mean, logvar)
    torch.testing.assert_close(mc, log_px, rtol=0, atol=0.05)


def test_ppca_elbo_never_exceeds_log_evidence():
    w, b, sigma, x = _ppca(seed=1)
    log_px, post_mean, post_var = _ppca_exact(w, b, sigma, x)
    g = _gen(10)
    gaps = []
    for _ in range(50):
        m_q = post_mean + torch.randn(post_mean.shape, generator=g, dtype=torch.float64)
        v_q = torch.exp(torch.randn(post_mean.shape, generator=g, dtype=torch.float64))
        gaps.append(log_px - _ppca_elbo_analytic(w, b, sigma, x, m_q, v_q))
    gaps = torch.stack(gaps)  # (50, B)
    assert (gaps > 0).all(), gaps.min()
    # The gap is KL(q || posterior): compare with torch.distributions for one draw.
    kl = kl_divergence(
        Normal(m_q, v_q.sqrt()), Normal(post_mean, post_var.sqrt().expand_as(post_mean))
    ).sum(-1)
    torch.testing.assert_close(gaps[-1], kl, rtol=1e-8, atol=1e-8)


# ----------------------------------------------------------------------------- IWAE


class _TinyBernoulli(nn.Module):
    """1-D latent, 6 Bernoulli pixels with logits a z + c; a fixed, imperfect encoder."""

    def __init__(self, dtype=torch.float64):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([2.0, -1.5, 1.0, 0.5, -2.5, 3.0], dtype=dtype))
        self.c = nn.Parameter(torch.tensor([0.1, 0.3, -0.5, 0.0, 0.2, -0.4], dtype=dtype))

    def encode(self, x):
        x = x.flatten(1)
        mu = 0.3 * (x.sum(1, keepdim=True) - 3.0)  # (B, 1)
        return mu, torch.full_like(mu, -0.5)

    def decode(self, z):
        return z * self.a + self.c  # (B, 6)


def _log_px_quadrature(model, x):
    z = torch.linspace(-12, 12, 40_001, dtype=torch.float64)[:, None]  # (G, 1)
    logits = model.decode(z)  # (G, 6)
    log_joint = Bernoulli(logits=logits).log_prob(x[:, None, :]).sum(-1)  # (B, G)
    log_joint = log_joint + Normal(0.0, 1.0).log_prob(z[:, 0])
    return torch.logsumexp(log_joint, dim=1) + math.log(z[1, 0] - z[0, 0])  # (B,)


@torch.no_grad()
def test_iwae_increases_with_k_and_stays_below_log_px():
    torch.manual_seed(0)
    model = _TinyBernoulli()
    x = torch.tensor([[1, 0, 1, 1, 0, 1], [0, 1, 0, 0, 1, 0]], dtype=torch.float64)
    log_px = _log_px_quadrature(model, x)  # (2,)
    reps = 2000  # average over many independent draws (copies of each x)
    xr = x.repeat_interleave(reps, 0)  # (2 * reps, 6)
    means = {}
    for k in (1, 10, 100):
        means[k] = iwae_bound(xr, model, k).view(2, reps).mean(1)  # (2,)
    assert (means[1] < means[10] - 0.01).all(), means
    assert (means[10] < means[100] - 0.001).all(), means
    assert (means[100] < log_px).all(), (means, log_px)
    # With many samples the bound is tight: L_k -> log p(x).
    torch.testing.assert_close(means[100], log_px, rtol=0, atol=0.05)


@pytest.mark.parametrize("dtype", DTYPES)
def test_iwae_k1_is_single_sample_elbo(dtype):
    model = _TinyBernoulli(dtype)
    x = torch.tensor([[1, 0, 1, 1, 0, 1], [0, 1, 0, 0, 1, 1]], dtype=dtype)
    noise = torch.randn(1, 2, 1, generator=_gen(3), dtype=dtype)
    bound = iwae_bound(x, model, 1, noise=noise)
    assert bound.shape == (2,) and bound.dtype == dtype
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * noise[0]  # (B, 1)
    q = Normal(mu, torch.exp(0.5 * logvar))
    expected = (
        Bernoulli(logits=model.decode(z)).log_prob(x).sum(1)
        + Normal(0.0, 1.0).log_prob(z).sum(1)
        - q.log_prob(z).sum(1)
    )
    torch.testing.assert_close(bound, expected, **TOL[dtype])


@torch.no_grad()
def test_iwae_k1_averages_to_closed_form_kl_elbo():
    torch.manual_seed(1)
    model = _TinyBernoulli()
    x = torch.tensor([[1, 0, 1, 1, 0, 1]], dtype=torch.float64).repeat(20_000, 1)
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar)
    reference = elbo(x, model.decode(z), mu, logvar).mean()
    torch.testing.assert_close(iwae_bound(x, model, 1).mean(), reference, rtol=0, atol=0.05)


def test_iwae_gradients_and_validation():
    model = _TinyBernoulli()
    x = torch.tensor([[1, 0, 1, 1, 0, 1]], dtype=torch.float64)
    iwae_bound(x, model, 5).sum().backward()
    assert model.a.grad is not None and model.a.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="k"):
        iwae_bound(x, model, 0)
    with pytest.raises(ValueError, match="noise"):
        iwae_bound(x, model, 3, noise=torch.zeros(2, 1, 1, dtype=torch.float64))


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("dtype", DTYPES)
def test_vae_shapes_and_gradients(dtype):
    torch.manual_seed(0)
    model = VAE(in_dim=16, latent_dim=3, hidden=(8, 6)).to(dtype)
    x = torch.rand(5, 1, 4, 4, dtype=dtype)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and logits.dtype == dtype
    assert mu.shape == logvar.shape == (5, 3)
    assert model.decode(torch.zeros(2, 3, dtype=dtype)).shape == (2, 16)
    samples = model.sample(7)
    assert samples.shape == (7, 16) and samples.dtype == dtype
    assert ((samples > 0) & (samples < 1)).all()
    noise = torch.randn(7, 3, dtype=dtype)
    torch.testing.assert_close(model.sample(7, noise=noise), torch.sigmoid(model.decode(noise)))
    (-elbo(x, logits, mu, logvar).mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="features"):
        model.encode(torch.rand(5, 15, dtype=dtype))


def test_conditional_vae_shapes_conditioning_and_gradients():
    torch.manual_seed(0)
    model = ConditionalVAE(in_dim=16, latent_dim=3, num_classes=4, hidden=(8,))
    x = torch.rand(6, 1, 4, 4)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    logits, mu, logvar = model(x, y)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (6, 3)
    (-elbo(x, logits, mu, logvar).mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    # The label reaches both encoder and decoder.
    mu0, _ = model.encode(x, torch.zeros(6, dtype=torch.long))
    mu1, _ = model.encode(x, torch.ones(6, dtype=torch.long))
    assert not torch.allclose(mu0, mu1)
    noise = torch.randn(5, 3)
    s0, s2 = model.sample(5, 0, noise=noise), model.sample(5, 2, noise=noise)
    assert s0.shape == (5, 16) and not torch.allclose(s0, s2)
    torch.testing.assert_close(model.sample(5, torch.full((5,), 2), noise=noise), s2)
    assert model.sample(4, 1).shape == (4, 16)
    with pytest.raises(ValueError, match="labels"):
        model(x, torch.full((6,), 4))
    with pytest.raises(ValueError, match="class indices"):
        model(x, torch.zeros(5, dtype=torch.long))


def _train_on_digits(lr: float = 3e-3, kl_sign: float = 1.0, steps: int = 100):
    """Train a small VAE on the bundled digits (28x28, binarised); held-out -ELBO before, after.

    ``kl_sign=-1`` plants the classic sign error, loss = -(log p(x|z) + KL).
    """
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = (digits(train=True).tensors[0] > 0).float().flatten(1)  # (1437, 784) in {0, 1}
    x_test = (digits(train=False).tensors[0] > 0).float().flatten(1)  # (360, 784)
    model = VAE(in_dim=784, latent_dim=8, hidden=(128,))
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def neg_elbo() -> float:
        with torch.no_grad():
            torch.manual_seed(123)  # the same posterior noise before and after
            return -elbo(x_test, *model(x_test)).mean().item()

    before = neg_elbo()
    g = _gen(0)
    for _ in range(steps):
        batch = x[torch.randint(0, len(x), (128,), generator=g)]  # (128, 784)
        logits, mu, logvar = model(batch)
        rec = bernoulli_log_likelihood(logits, batch)  # (128,)
        loss = -(rec - kl_sign * gaussian_kl(mu, logvar)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, neg_elbo()


# An untrained decoder pays about 784 ln 2 = 543 nats; 100 Adam steps reach about 180 nats.
MIN_GAIN_NATS, MAX_NEG_ELBO_NATS = 250.0, 260.0


def _improved_clearly(before: float, after: float) -> bool:
    return before - after >= MIN_GAIN_NATS and after <= MAX_NEG_ELBO_NATS


def test_vae_training_on_digits_improves_elbo():
    """FAST-mode evidence that the VAE learns: the held-out ELBO rises by >= 250 nats."""
    before, after = _train_on_digits()
    assert before > 500, before  # the bound of an untrained model: about 784 ln 2
    assert _improved_clearly(before, after), (before, after)


@pytest.mark.parametrize("broken", [dict(lr=0.0), dict(kl_sign=-1.0)], ids=["lr=0", "KL sign"])
def test_broken_training_fails_the_improvement_criterion(broken):
    """The margin above is not lax: a frozen model and a KL-sign error both miss it."""
    assert not _improved_clearly(*_train_on_digits(**broken))
