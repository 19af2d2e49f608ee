"""Week 04 references (``course.wgan``) against hand formulas, autograd loops and scipy.

Every expected value comes from somewhere other than the code under test: hand-written
means, an explicit per-sample ``torch.autograd.grad`` loop, the closed form
``(||w|| - 1)^2`` of the gradient penalty of a linear critic, the product bound on a
ReLU network's Lipschitz constant, ``scipy.stats.wasserstein_distance``, and Arjovsky et
al.'s parallel-lines example (EM = |theta|, JS = log 2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from course.gan import DCGANDiscriminator, MLPDiscriminator
from course.wgan import (
    ConvCritic,
    clip_weights_,
    critic_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
    wasserstein_1d,
)

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _critic(in_dim: int, dtype: torch.dtype, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(in_dim, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0)
    ).to(dtype)  # (B, ...) -> (B,); tanh so second derivatives are non-zero


def _input_weights(critic: nn.Sequential) -> list[nn.Parameter]:
    """Parameters a gradient penalty can reach: all but the output bias ("3.bias"),
    which shifts f without changing its gradient in x."""
    return [p for name, p in critic.named_parameters() if name != "3.bias"]


# ----------------------------------------------------------------------------- losses


@pytest.mark.parametrize("dtype", DTYPES)
def test_critic_and_generator_loss(dtype):
    real = torch.tensor([1.0, 2.0, 3.0], dtype=dtype)
    fake = torch.tensor([[-1.0], [0.5]], dtype=dtype)
    torch.testing.assert_close(critic_loss(real, fake), torch.tensor(-0.25 - 2.0, dtype=dtype))
    torch.testing.assert_close(generator_loss(fake), torch.tensor(0.25, dtype=dtype))
    with pytest.raises(ValueError, match="empty"):
        critic_loss(real, torch.zeros(0, dtype=dtype))


# ----------------------------------------------------------------------------- clipping


def test_clip_weights_in_place_bounds_every_parameter():
    torch.manual_seed(0)
    critic = nn.Sequential(
        nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)
    )
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(10)  # make sure there is something to clip, biases included
    before = [p for p in critic.parameters()]
    ptrs = [p.data_ptr() for p in critic.parameters()]
    ref = [p.detach().clone() for p in critic.parameters()]
    assert clip_weights_(critic, c=0.05) is None
    for p, q, r, ptr in zip(critic.parameters(), before, ref, ptrs, strict=True):
        assert p is q and p.data_ptr() == ptr  # same tensors, modified in place
        assert p.abs().max() <= torch.tensor(0.05)  # c rounded to float32, like p
        torch.testing.assert_close(p.detach(), r.clamp(-0.05, 0.05))
    with pytest.raises(ValueError, match="c must be"):
        clip_weights_(critic, c=0.0)


def test_clipped_critic_lipschitz_below_product_of_spectral_norms():
    torch.manual_seed(1)
    critic = nn.Sequential(
        nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)
    ).double()
    clip_weights_(critic, c=0.1)
    # ReLU and LeakyReLU are 1-Lipschitz, so Lip(f) <= prod_l ||W_l||_2
    bound = math.prod(
        torch.linalg.matrix_norm(m.weight.detach(), ord=2).item()
        for m in critic
        if isinstance(m, nn.Linear)
    )
    # every entry <= c, so ||W||_2 <= ||W||_F <= c sqrt(m n): clipping bounds the constant
    assert bound <= 0.1**3 * math.sqrt(2 * 64) * 64 * math.sqrt(64)
    g = _gen(2)
    x = torch.randn(5000, 2, generator=g, dtype=torch.float64)
    y = x + 0.1 * torch.randn(5000, 2, generator=g, dtype=torch.float64)
    with torch.no_grad():
        ratio = (critic(x) - critic(y)).abs().squeeze(1) / (x - y).norm(dim=1)  # (N,)
    assert 0 < ratio.max().item() <= bound


def _spectral_bound(critic: nn.Module) -> float:
    """prod_l ||W_l||_2 over the Linear layers: a Lipschitz bound for 1-Lipschitz activations."""
    return math.prod(
        torch.linalg.matrix_norm(m.weight.detach(), ord=2).item()
        for m in critic.modules()
        if isinstance(m, nn.Linear)
    )


def test_clipped_critic_stays_bounded_while_it_trains():
    """Algorithm 1 of Arjovsky et al.: RMSProp steps on the critic loss, clip after each.
    However hard the critic pushes, its measured Lipschitz constant (largest input-gradient
    norm, and largest difference quotient) stays under c^3 * sqrt(2 * 32) * 32 * sqrt(32),
    the bound that |w| <= c alone implies; without clipping the same steps break it."""
    c = 0.01
    entrywise = c**3 * math.sqrt(2 * 32) * 32 * math.sqrt(32)  # ||W||_2 <= ||W||_F <= c sqrt(mn)
    g = _gen(20)
    real = torch.randn(256, 2, generator=g, dtype=torch.float64) * 0.1 + 1.0
    fake = torch.randn(256, 2, generator=g, dtype=torch.float64) * 0.1 - 1.0
    probe = torch.randn(2000, 2, generator=g, dtype=torch.float64) * 2
    measured = {}
    for clip in (True, False):
        torch.manual_seed(21)
        critic = MLPDiscriminator(2, hidden=32).double()
        opt = torch.optim.RMSprop(critic.parameters(), lr=5e-3)
        for _ in range(200):
            loss = critic_loss(critic(real), critic(fake))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if clip:
                clip_weights_(critic, c)
        x = probe.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x)  # (N, 2): per-sample input gradients
        y = probe + 0.01 * torch.randn(2000, 2, generator=g, dtype=torch.float64)
        with torch.no_grad():
            quotient = (critic(probe) - critic(y)).abs() / (probe - y).norm(dim=1)  # (N,)
        measured[clip] = max(grad.norm(dim=1).max().item(), quotient.max().item())
        if clip:
            assert all(p.abs().max().item() <= c for p in critic.parameters())
            assert 0 < measured[clip] <= _spectral_bound(critic) <= entrywise
    assert measured[False] > 10 * entrywise  # the unclipped critic's slope grows unchecked


def test_conv_critic_shapes_no_batch_coupling_and_clipped_bound():
    torch.manual_seed(22)
    critic = ConvCritic(channels=1, base=8).double()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    x = torch.randn(5, 1, 28, 28, generator=_gen(23), dtype=torch.float64)
    scores = critic(x)
    assert scores.shape == (5,) and scores.dtype == torch.float64
    # one image's score does not depend on the rest of its batch (unlike with BatchNorm)
    torch.testing.assert_close(critic(x[2:3]), scores[2:3], rtol=1e-12, atol=1e-12)
    bn = DCGANDiscriminator(channels=1, base=8).double().train()
    assert not torch.allclose(bn(x)[2:3], bn(x[2:3].repeat(2, 1, 1, 1))[:1])
    # the gradient penalty of a batch equals the mean of one-image penalties
    alpha = torch.rand(5, generator=_gen(24), dtype=torch.float64)
    fake = torch.randn(5, 1, 28, 28, generator=_gen(25), dtype=torch.float64)
    torch.testing.assert_close(
        gradient_penalty(critic, x, fake, alpha), _gp_loop(critic, x, fake, alpha)
    )
    # Clipped, the critic is Lipschitz with a constant measured below the Schur bound
    # ||conv||_2 <= sqrt(max_out ||K[o]||_1 * max_in ||K[:, i]||_1): every output position sums
    # |K[o]| over its taps, every input position meets each tap of K[:, i] at most once
    # (whatever the stride; padding only drops terms). LeakyReLU is 1-Lipschitz.
    clip_weights_(critic, c=0.01)
    bound = math.prod(
        math.sqrt(
            m.weight.abs().sum(dim=(1, 2, 3)).max().item()
            * m.weight.abs().sum(dim=(0, 2, 3)).max().item()
        )
        for m in critic.net
        if isinstance(m, nn.Conv2d)
    )
    xr = torch.rand(64, 1, 28, 28, generator=_gen(26), dtype=torch.float64) * 2 - 1
    xr.requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(xr).sum(), xr)  # (B, 1, 28, 28)
    assert 0 < grad.flatten(1).norm(dim=1).max().item() <= bound
    with pytest.raises(ValueError, match="28, 28"):
        critic(torch.randn(2, 784, dtype=torch.float64))


# ----------------------------------------------------------------------------- gradient penalty


def _gp_loop(critic, real, fake, alpha):
    """The penalty one sample at a time, with nothing vectorised."""
    terms = []
    for i in range(real.shape[0]):
        xi = (alpha[i] * real[i] + (1 - alpha[i]) * fake[i]).detach().unsqueeze(0)
        xi.requires_grad_(True)
        (gi,) = torch.autograd.grad(critic(xi).sum(), xi, create_graph=True)
        terms.append((gi.flatten().norm() - 1) ** 2)
    return torch.stack(terms).mean()


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_penalty_matches_per_sample_loop_and_keeps_graph(dtype):
    critic = _critic(3 * 4 * 4, dtype)
    g = _gen(0)
    real = torch.randn(5, 3, 4, 4, generator=g, dtype=dtype)
    fake = torch.randn(5, 3, 4, 4, generator=g, dtype=dtype)
    alpha = torch.rand(5, generator=g, dtype=dtype)
    gp = gradient_penalty(critic, real, fake, alpha)
    assert gp.shape == () and gp.dtype == dtype
    torch.testing.assert_close(gp, _gp_loop(critic, real, fake, alpha), **TOL[dtype])
    # create_graph=True: the penalty trains the critic, every parameter
    grads = torch.autograd.grad(gp, _input_weights(critic))
    assert all(gr is not None and gr.abs().sum() > 0 for gr in grads)
    # and matches the loop's parameter gradients
    loop_grads = torch.autograd.grad(_gp_loop(critic, real, fake, alpha), _input_weights(critic))
    for a, b in zip(grads, loop_grads, strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_penalty_of_linear_critics(dtype):
    g = _gen(3)
    real = torch.randn(8, 6, generator=g, dtype=dtype)
    fake = torch.randn(8, 6, generator=g, dtype=dtype)
    w = torch.randn(6, generator=g, dtype=dtype)
    # grad of w.x is w everywhere, so GP = (||w|| - 1)^2 whatever alpha
    gp = gradient_penalty(lambda x: x @ w, real, fake)
    torch.testing.assert_close(gp, (w.norm() - 1) ** 2, **TOL[dtype])
    # unit-norm gradient everywhere: zero penalty
    unit = w / w.norm()
    gp0 = gradient_penalty(lambda x: x @ unit + 3.0, real, fake)
    assert abs(gp0.item()) < 1e-10


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_penalty_detaches_real_and_fake(dtype):
    gen = nn.Linear(2, 6).to(dtype)
    critic = _critic(6, dtype)
    z = torch.randn(4, 2, generator=_gen(4), dtype=dtype)
    fake = gen(z)  # attached to the generator
    real = torch.randn(4, 6, generator=_gen(5), dtype=dtype, requires_grad=True)
    gp = gradient_penalty(critic, real, fake)
    gp.backward()
    assert all(p.grad is None for p in gen.parameters())  # nothing reached the generator
    assert real.grad is None
    assert all(p.grad is not None for p in _input_weights(critic))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_penalty_alpha_shapes_equivalent(dtype):
    critic = _critic(2 * 3 * 3, dtype)
    g = _gen(6)
    real = torch.randn(4, 2, 3, 3, generator=g, dtype=dtype)
    fake = torch.randn(4, 2, 3, 3, generator=g, dtype=dtype)
    alpha = torch.rand(4, generator=g, dtype=dtype)
    a = gradient_penalty(critic, real, fake, alpha)
    b = gradient_penalty(critic, real, fake, alpha.view(4, 1, 1, 1))
    torch.testing.assert_close(a, b, **TOL[dtype])
    # alpha = 1 penalises at the reals, alpha = 0 at the fakes
    at_real = gradient_penalty(critic, real, fake, torch.ones(4, dtype=dtype))
    torch.testing.assert_close(
        at_real, gradient_penalty(critic, real, real + 1.0, torch.ones(4, dtype=dtype))
    )
    # drawn alpha: reproducible through the generator argument
    torch.testing.assert_close(
        gradient_penalty(critic, real, fake, generator=_gen(9)),
        gradient_penalty(critic, real, fake, torch.rand(4, generator=_gen(9), dtype=dtype)),
    )
    with pytest.raises(ValueError, match="alpha"):
        gradient_penalty(critic, real, fake, torch.rand(4, 2, dtype=dtype))
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, real, fake[:3])


# ----------------------------------------------------------------------------- EM in 1-D


@pytest.mark.parametrize("dtype", DTYPES)
def test_wasserstein_1d_matches_scipy(dtype):
    g = _gen(7)
    x = torch.randn(500, generator=g, dtype=dtype)
    y = 2 + 0.5 * torch.randn(500, generator=g, dtype=dtype)
    got = wasserstein_1d(x, y)
    assert got.shape == () and got.dtype == dtype
    expected = stats.wasserstein_distance(x.numpy(), y.numpy())
    assert abs(got.item() - expected) < (1e-5 if dtype == torch.float32 else 1e-12)
    assert wasserstein_1d(x, x).item() == 0.0
    torch.testing.assert_close(wasserstein_1d(x, x + 3), torch.tensor(3.0, dtype=dtype))
    with pytest.raises(ValueError, match="same size"):
        wasserstein_1d(x, y[:10])
    with pytest.raises(ValueError, match="1-D"):
        wasserstein_1d(x.view(20, 25), y.view(20, 25))


def _js_from_histograms(a: np.ndarray, b: np.ndarray, bins) -> float:
    """JS divergence between two 2-D samples from their histograms on common bins (nats)."""
    p, _, _ = np.histogram2d(a[:, 0], a[:, 1], bins=bins)
    q, _, _ = np.histogram2d(b[:, 0], b[:, 1], bins=bins)
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(u, v):
        mask = u > 0
        return float((u[mask] * np.log(u[mask] / v[mask])).sum())

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def test_parallel_lines_em_is_theta_js_is_log2():
    """Arjovsky et al. (2017), Example 1: P0 = (0, U[0,1]), P_theta = (theta, U[0,1])."""
    n = 20_000
    u = torch.rand(n, generator=_gen(8), dtype=torch.float64)  # shared y: matched pairs
    bins = [np.linspace(-1.025, 1.025, 42), np.linspace(0, 1, 11)]  # x-bins 0.05 wide
    p0 = torch.stack([torch.zeros(n, dtype=torch.float64), u], dim=1)  # (N, 2)
    ems, jss = [], []
    thetas = [-0.5, -0.2, 0.1, 0.3, 1.0]
    for theta in thetas:
        pt = torch.stack([torch.full((n,), theta, dtype=torch.float64), u], dim=1)  # (N, 2)
        # y is identical, so the cheapest coupling moves every point horizontally by theta:
        # the EM distance reduces to the 1-D one of the x-coordinates
        ems.append(wasserstein_1d(p0[:, 0], pt[:, 0]).item())
        jss.append(_js_from_histograms(p0.numpy(), pt.numpy(), bins))
    np.testing.assert_allclose(ems, np.abs(thetas), rtol=1e-12)
    # disjoint supports: every bin holds mass of only one of the two, so JS = log 2 exactly
    np.testing.assert_allclose(jss, math.log(2), rtol=1e-12)
    # at theta = 0 both vanish: JS jumps, EM is continuous
    assert wasserstein_1d(p0[:, 0], p0[:, 0]).item() == 0.0
    assert _js_from_histograms(p0.numpy(), p0.numpy(), bins) == 0.0


# ----------------------------------------------------------------------------- R1


@pytest.mark.parametrize("dtype", DTYPES)
def test_r1_penalty_matches_manual_autograd_and_keeps_graph(dtype):
    critic = _critic(2 * 3 * 3, dtype, seed=3)
    real = torch.randn(6, 2, 3, 3, generator=_gen(10), dtype=dtype).requires_grad_(True)
    logits = critic(real)  # (B,)
    r1 = r1_penalty(logits, real)
    assert r1.shape == () and r1.dtype == dtype
    manual = torch.stack(
        [
            torch.autograd.grad(logits[i], real, retain_graph=True)[0][i].pow(2).sum()
            for i in range(6)
        ]
    ).mean()
    torch.testing.assert_close(r1, manual, **TOL[dtype])
    grads = torch.autograd.grad(r1, _input_weights(critic))
    assert all(gr.abs().sum() > 0 for gr in grads)
    # linear discriminator: grad is w for every sample, R1 = ||w||^2
    w = torch.randn(5, generator=_gen(11), dtype=dtype)
    x = torch.randn(7, 5, generator=_gen(12), dtype=dtype, requires_grad=True)
    torch.testing.assert_close(r1_penalty((x @ w).unsqueeze(1), x), w.pow(2).sum(), **TOL[dtype])


def test_r1_penalty_errors_teach():
    critic = _critic(4, torch.float32)
    real = torch.randn(3, 4)
    with pytest.raises(ValueError, match="requires_grad_"):
        r1_penalty(critic(real), real)
    real.requires_grad_(True)
    with pytest.raises(ValueError, match="one logit per sample"):
        r1_penalty(critic(real)[:2], real)
    with torch.no_grad():
        no_graph = critic(real)
    with pytest.raises(ValueError, match="no graph"):
        r1_penalty(no_graph, real)
