"""Week 03 references (``course.gan``) against torch's BCE, closed forms and quadrature.

Every expected value comes from somewhere other than the code under test:
``binary_cross_entropy_with_logits``, hand-written formulas, closed-form gradients of the
two generator losses, Goodfellow et al.'s Theorem 1 (``V(D*, G) = 2 JS - log 4``) with
JS computed independently by ``scipy.integrate.quad``, and a logistic regression
trained on samples, which must find ``D*`` by itself.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, stats

from course.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    ModeCoverage,
    discriminator_loss,
    generator_loss,
    hinge_losses,
    lsgan_losses,
    modes_covered,
    optimal_discriminator,
)

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _logits(n: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    return 3 * torch.randn(n, generator=_gen(seed), dtype=dtype)


# ----------------------------------------------------------------------------- losses


@pytest.mark.parametrize("dtype", DTYPES)
def test_discriminator_loss_is_sum_of_two_bce_means(dtype):
    real, fake = _logits(7, dtype, 0), _logits(5, dtype, 1)  # batch sizes may differ
    expected = F.binary_cross_entropy_with_logits(
        real, torch.ones_like(real)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    got = discriminator_loss(real, fake)
    assert got.shape == () and got.dtype == dtype
    torch.testing.assert_close(got, expected, **TOL[dtype])
    # and the textbook form -mean log D(x) - mean log(1 - D(G(z)))
    hand = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    torch.testing.assert_close(got, hand, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_generator_losses_match_bce(dtype):
    fake = _logits(9, dtype, 2)
    ns = generator_loss(fake)  # default is non-saturating
    torch.testing.assert_close(
        ns, F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)), **TOL[dtype]
    )
    mm = generator_loss(fake, kind="minimax")
    torch.testing.assert_close(
        mm, -F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)), **TOL[dtype]
    )
    # minimax is exactly minus the fake half of the discriminator loss
    real = _logits(4, dtype, 3)
    torch.testing.assert_close(
        mm, -(discriminator_loss(real, fake) - F.softplus(-real).mean()), **TOL[dtype]
    )


def test_generator_loss_rejects_unknown_kind():
    with pytest.raises(ValueError, match="non_saturating"):
        generator_loss(torch.zeros(3), kind="wasserstein")


@pytest.mark.parametrize("dtype", DTYPES)
def test_minimax_saturates_where_non_saturating_does_not(dtype):
    """At confidently rejected fakes (logit -> -inf), d/dl of minimax -> 0, of NS -> -1/B."""
    logits = torch.tensor([-30.0, -15.0, -5.0, 0.0, 5.0], dtype=dtype, requires_grad=True)
    b = logits.numel()
    (g_ns,) = torch.autograd.grad(generator_loss(logits, "non_saturating"), logits)
    (g_mm,) = torch.autograd.grad(generator_loss(logits, "minimax"), logits)
    with torch.no_grad():
        torch.testing.assert_close(g_ns, -torch.sigmoid(-logits) / b, **TOL[dtype])
        torch.testing.assert_close(g_mm, -torch.sigmoid(logits) / b, **TOL[dtype])
    assert abs(g_ns[0].item() + 1 / b) < 1e-6  # full-size signal
    assert abs(g_mm[0].item()) < 1e-12  # vanished
    assert abs(g_mm[0].item()) < 1e-9 * abs(g_ns[0].item())
    # same sign: both push the fake logits up
    assert (g_ns < 0).all() and (g_mm < 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_lsgan_losses_hand_formula(dtype):
    real, fake = _logits(6, dtype, 4), _logits(8, dtype, 5)
    for a, b, c in [(0, 1, 1), (-1, 1, 0)]:
        d, g = lsgan_losses(real, fake, a=a, b=b, c=c)
        exp_d = 0.5 * ((real - b) ** 2).mean() + 0.5 * ((fake - a) ** 2).mean()
        exp_g = 0.5 * ((fake - c) ** 2).mean()
        torch.testing.assert_close(d, exp_d, **TOL[dtype])
        torch.testing.assert_close(g, exp_g, **TOL[dtype])
    # perfect outputs cost nothing
    d, g = lsgan_losses(torch.ones(3, dtype=dtype), torch.zeros(3, dtype=dtype))
    assert d.item() == 0.0 and g.item() == 0.5


@pytest.mark.parametrize("dtype", DTYPES)
def test_hinge_losses_hand_formula(dtype):
    real = torch.tensor([2.0, 0.5, -1.0], dtype=dtype)
    fake = torch.tensor([-3.0, 0.0], dtype=dtype)
    d, g = hinge_losses(real, fake)
    # relu(1 - real) = [0, 0.5, 2] -> mean 2.5/3 ; relu(1 + fake) = [0, 1] -> mean 0.5
    torch.testing.assert_close(d, torch.tensor(2.5 / 3 + 0.5, dtype=dtype), **TOL[dtype])
    torch.testing.assert_close(g, torch.tensor(1.5, dtype=dtype), **TOL[dtype])


def test_losses_reject_bad_inputs():
    with pytest.raises(ValueError, match="empty"):
        discriminator_loss(torch.zeros(0), torch.zeros(3))
    with pytest.raises(ValueError, match="floating"):
        hinge_losses(torch.zeros(3, dtype=torch.long), torch.zeros(3))


# ----------------------------------------------------------------------------- optimal discriminator


def test_optimal_discriminator_floats_tensors_and_zero_density():
    assert optimal_discriminator(3.0, 1.0) == 0.75
    assert optimal_discriminator(0.0, 0.0) == 0.5  # documented convention off both supports
    p = torch.tensor([1.0, 0.0, 0.0, 2.0], dtype=torch.float64)
    q = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    d = optimal_discriminator(p, q)
    assert d.dtype == torch.float64
    torch.testing.assert_close(d, torch.tensor([0.5, 0.0, 0.5, 1.0], dtype=torch.float64))
    # gradients stay finite even where both densities vanish
    p.requires_grad_(True)
    optimal_discriminator(p, q).sum().backward()
    assert torch.isfinite(p.grad).all()
    with pytest.raises(ValueError, match="log"):
        optimal_discriminator(torch.tensor([-1.0]), torch.tensor([1.0]))


P_DATA = stats.norm(0.0, 1.0)
P_MODEL = stats.norm(1.0, 1.5)


def test_value_at_optimal_discriminator_is_2js_minus_log4():
    """Goodfellow et al. (2014), Theorem 1, for two 1-D Gaussians."""
    # V(D*, G) on a fine grid with the code under test (trapezoid rule)
    x = torch.linspace(-15, 15, 200_001, dtype=torch.float64)
    p = torch.from_numpy(P_DATA.pdf(x.numpy()))
    q = torch.from_numpy(P_MODEL.pdf(x.numpy()))
    d = optimal_discriminator(p, q)
    integrand = p * torch.log(d.clamp_min(1e-300)) + q * torch.log((1 - d).clamp_min(1e-300))
    value = torch.trapezoid(integrand, x).item()

    # JS independently, by adaptive quadrature of the KL definitions
    def kl_to_mixture(f, g):
        def h(t):
            a, m = f.pdf(t), 0.5 * (f.pdf(t) + g.pdf(t))
            return a * math.log(a / m) if a > 0 else 0.0

        return integrate.quad(h, -30, 30, limit=200)[0]

    js = 0.5 * kl_to_mixture(P_DATA, P_MODEL) + 0.5 * kl_to_mixture(P_MODEL, P_DATA)
    assert 0 < js < math.log(2)
    assert abs(value - (2 * js - math.log(4))) < 1e-7
    # and any other discriminator does worse (D* maximises V)
    worse = p * torch.log(torch.full_like(p, 0.5)) + q * torch.log(torch.full_like(q, 0.5))
    assert torch.trapezoid(worse, x).item() < value


def test_logistic_regression_discriminator_learns_d_star():
    """A discriminator trained by `discriminator_loss` on samples approaches D* (Prop. 1).

    With unequal variances log(p/q) is quadratic in x, so a logistic regression on
    features (x, x^2) can represent D* exactly.
    """
    torch.manual_seed(0)  # the nn.Linear init
    n = 20_000
    g = _gen(1)
    real = 0.0 + 1.0 * torch.randn(n, 1, generator=g)
    fake = 1.0 + 1.5 * torch.randn(n, 1, generator=g)

    def feats(t):
        return torch.cat([t, t**2], dim=1)  # (N, 2)

    disc = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(disc.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = discriminator_loss(disc(feats(real)).squeeze(1), disc(feats(fake)).squeeze(1))
        loss.backward()
        opt.step()
    grid = torch.linspace(-3, 3, 121).unsqueeze(1)  # (G, 1)
    with torch.no_grad():
        learned = torch.sigmoid(disc(feats(grid))).squeeze(1)  # (G,)
    d_star = optimal_discriminator(
        torch.from_numpy(P_DATA.pdf(grid.squeeze(1).numpy())).float(),
        torch.from_numpy(P_MODEL.pdf(grid.squeeze(1).numpy())).float(),
    )
    mae = (learned - d_star).abs().mean().item()
    assert mae < 0.05


# ----------------------------------------------------------------------------- models


def test_mlp_models_shapes():
    torch.manual_seed(0)
    gen, disc = MLPGenerator(), MLPDiscriminator()
    x = gen.sample(16, noise=torch.randn(16, 2, generator=_gen()))
    assert x.shape == (16, 2)
    assert disc(x).shape == (16,)
    assert MLPGenerator(z_dim=5, out_dim=3, hidden=8)(torch.zeros(4, 5)).shape == (4, 3)
    with pytest.raises(ValueError, match="z_dim"):
        gen(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="in_dim"):
        disc(torch.zeros(4))


@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_and_ranges(channels):
    torch.manual_seed(0)
    gen = DCGANGenerator(z_dim=16, channels=channels, base=8)
    disc = DCGANDiscriminator(channels=channels, base=8)
    z = torch.randn(4, 16, generator=_gen())
    x = gen(z)
    assert x.shape == (4, channels, 28, 28)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    torch.testing.assert_close(gen(z[:, :, None, None]), x)  # (B, z_dim, 1, 1) also accepted
    logits = disc(x)
    assert logits.shape == (4,)
    # logits, not probabilities: the last layer is a convolution, no sigmoid anywhere
    assert isinstance(list(disc.net)[-1], torch.nn.Conv2d)
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in disc.modules())
    # gradients reach the generator through the discriminator
    generator_loss(logits).backward()
    assert all(p.grad is not None for p in gen.parameters())
    with pytest.raises(ValueError, match="28"):
        disc(torch.zeros(2, channels, 32, 32))


def test_dcgan_follows_the_rules():
    gen, disc = DCGANGenerator(base=8), DCGANDiscriminator(base=8)
    g_layers, d_layers = list(gen.modules()), list(disc.modules())
    assert not any(isinstance(m, torch.nn.MaxPool2d | torch.nn.AvgPool2d) for m in d_layers)
    assert any(isinstance(m, torch.nn.ReLU) for m in g_layers)
    assert not any(isinstance(m, torch.nn.LeakyReLU) for m in g_layers)
    assert all(m.negative_slope == 0.2 for m in d_layers if isinstance(m, torch.nn.LeakyReLU))
    # no BatchNorm on G's output / D's input
    g_seq, d_seq = list(gen.net), list(disc.net)
    assert isinstance(g_seq[-1], torch.nn.Tanh) and isinstance(g_seq[-2], torch.nn.ConvTranspose2d)
    assert isinstance(d_seq[0], torch.nn.Conv2d) and isinstance(d_seq[1], torch.nn.LeakyReLU)
    # DCGAN init: conv weights ~ N(0, 0.02)
    w = gen.net[0].weight
    assert abs(w.std().item() - 0.02) < 0.005


# ----------------------------------------------------------------------------- mode collapse


def _ring_modes(k: int = 8, radius: float = 2.0) -> torch.Tensor:
    angles = torch.arange(k, dtype=torch.float64) * 2 * math.pi / k
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)  # (K, 2)


def test_modes_covered_all_vs_collapsed():
    modes, std, n = _ring_modes(), 0.02, 4000
    g = _gen(0)
    idx = torch.randint(0, 8, (n,), generator=g)
    good = modes[idx] + std * torch.randn(n, 2, generator=g, dtype=torch.float64)
    res = modes_covered(good, modes, std)
    assert isinstance(res, ModeCoverage)
    # within 3 sigma in 2-D: P(chi_2 <= 3) = 1 - exp(-9 / 2) = 0.9889
    assert res.covered == 8 and abs(res.high_quality - (1 - math.exp(-4.5))) < 0.01
    # collapsed onto two modes
    collapsed = modes[idx % 2] + std * torch.randn(n, 2, generator=g, dtype=torch.float64)
    covered, hq = modes_covered(collapsed, modes, std)
    assert covered == 2 and hq > 0.97
    # blurry: samples everywhere, low quality
    blurry = 3 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    res = modes_covered(blurry, modes, std)
    assert res.high_quality < 0.05
    # a handful of stray samples (< 1% of N) does not cover a mode
    stray = torch.cat([collapsed, modes[5:6].expand(10, 2)])
    assert modes_covered(stray, modes, std).covered == 2
    assert modes_covered(stray, modes, std, min_fraction=0.0).covered == 3


def test_modes_covered_rejects_bad_shapes():
    with pytest.raises(ValueError, match="same D"):
        modes_covered(torch.zeros(5, 2), torch.zeros(3, 3), 0.1)
    with pytest.raises(ValueError, match="std"):
        modes_covered(torch.zeros(5, 2), torch.zeros(3, 2), 0.0)
