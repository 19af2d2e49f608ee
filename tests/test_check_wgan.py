"""The week 04 checks (``course.checks.wgan``) judged on student-like code.

For every check: realistic wrong implementations must be rejected with the message
that names *their* mistake, correct implementations written another way must pass,
and the course's reference must be refused (itself or called through a wrapper).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course.checks import wgan as C

NOT_YOURS = "reference implementation, not your own"
REFERENCE_CALLED = "called the course's reference"
STUB = r"replace `raise NotImplementedError\(\)`"


def _passes(check, fn, capsys) -> None:
    check(fn)
    assert "passed" in capsys.readouterr().out  # the one line of success


# ---------------------------------------------------------------------------------------
# critic_loss / generator_loss
# ---------------------------------------------------------------------------------------

WRONG_CRITIC = [
    (lambda r, f: r.mean() - f.mean(), "the signs are swapped"),
    (lambda r, f: -torch.log(r).mean() - torch.log(1 - f).mean(), "no sigmoid and its loss no log"),
    (
        lambda r, f: (
            F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
            + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
        ),
        "standard GAN's binary cross-entropy",
    ),
    (lambda r, f: f.sum() - r.sum(), "summed over the batch instead of averaging"),
    (lambda r, f: (f.reshape(-1) - r.reshape(-1)).mean(), "average each separately"),
    (lambda r, f: (f.mean() - r.mean()).detach(), "result without gradient"),
]


@pytest.mark.parametrize("fn, message", WRONG_CRITIC)
def test_check_critic_loss_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_critic_loss(fn)


def _critic_float64(real_scores, fake_scores):
    return (fake_scores.double().sum() / fake_scores.numel()).to(fake_scores.dtype) - (
        real_scores.double().sum() / real_scores.numel()
    ).to(real_scores.dtype)


@pytest.mark.parametrize(
    "fn",
    [
        lambda r, f: -(r.mean() - f.mean()),
        _critic_float64,
        lambda r, f: torch.mean(f) + (-r).mean(),
    ],
)
def test_check_critic_loss_accepts_correct_variants(fn, capsys):
    _passes(C.check_critic_loss, fn, capsys)


WRONG_GEN = [
    (lambda f: f.mean(), "the sign is wrong"),
    (lambda f: -F.logsigmoid(f).mean(), "non-saturating loss"),
    (lambda f: torch.log(1 - torch.sigmoid(f)).mean(), "saturating GAN loss"),
    (lambda f: -f.sum(), "summed over the batch instead of averaging"),
    (lambda f: -f, "expected a scalar"),
]


@pytest.mark.parametrize("fn, message", WRONG_GEN)
def test_check_generator_loss_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_generator_loss(fn)


def _gen_neg_mean(fake_scores):
    return (-fake_scores).mean()


@pytest.mark.parametrize(
    "fn", [_gen_neg_mean, lambda f: -f.sum() / f.numel(), lambda f: torch.neg(f.mean())]
)
def test_check_generator_loss_accepts_correct_variants(fn, capsys):
    _passes(C.check_generator_loss, fn, capsys)


# ---------------------------------------------------------------------------------------
# clip_weights_
# ---------------------------------------------------------------------------------------


@torch.no_grad()
def _clip_only_weights(critic, c=0.01):
    for n, p in critic.named_parameters():
        if n.endswith("weight"):
            p.clamp_(-c, c)


@torch.no_grad()
def _clip_gradients(critic, c=0.01):
    for p in critic.parameters():
        p.grad.clamp_(-c, c)


def _clip_new_module(critic, c=0.01):
    import copy

    new = copy.deepcopy(critic)
    with torch.no_grad():
        for p in new.parameters():
            p.clamp_(-c, c)
    return new


@torch.no_grad()
def _clip_zero_c(critic, c=0.01):
    for p in critic.parameters():
        p.clamp_(0, c)


def _clip_rebind(critic, c=0.01):
    for p in critic.parameters():
        p = p.clamp(-c, c)  # noqa: PLW2901 - the mistake under test


def _clip_no_grad_missing(critic, c=0.01):
    for p in critic.parameters():
        p.clamp_(-c, c)


@torch.no_grad()
def _clip_fixed_c(critic, c=0.01):
    for p in critic.parameters():
        p.clamp_(-0.01, 0.01)


WRONG_CLIP = [
    (_clip_only_weights, "clipped the weights but not the biases"),
    (_clip_gradients, "clipped the gradients, not the weights"),
    (_clip_new_module, "returned a new module"),
    (_clip_zero_c, r"clamped to \[0, c\]"),
    (_clip_rebind, "left every parameter unchanged"),
    (_clip_no_grad_missing, "torch.no_grad"),
    (_clip_fixed_c, "ignores its argument c"),
]


@pytest.mark.parametrize("fn, message", WRONG_CLIP)
def test_check_clip_weights_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_clip_weights_(fn)


def _clip_data(critic, c=0.01):
    for p in critic.parameters():
        p.data = p.data.clamp(-c, c)


def _clip_min_max_returns_module(critic, c=0.01):
    with torch.no_grad():
        for module in critic.modules():
            for p in module.parameters(recurse=False):
                p.copy_(
                    torch.minimum(torch.maximum(p, torch.full_like(p, -c)), torch.full_like(p, c))
                )
    return critic


@pytest.mark.parametrize("fn", [_clip_data, _clip_min_max_returns_module])
def test_check_clip_weights_accepts_correct_variants(fn, capsys):
    _passes(C.check_clip_weights_, fn, capsys)


# ---------------------------------------------------------------------------------------
# gradient_penalty
# ---------------------------------------------------------------------------------------


def _gp(
    *,
    detach=True,
    create_graph=True,
    norm="flat",
    minus=1.0,
    lam=1.0,
    swap=False,
    alpha_per_element=False,
):
    """A student's gradient penalty with one knob turned."""

    def gradient_penalty(critic, real, fake, alpha=None):
        if detach:
            real, fake = real.detach(), fake.detach()
        b = real.shape[0]
        shape = (b,) + (1,) * (real.ndim - 1)
        if alpha is None:
            alpha = torch.rand(real.shape if alpha_per_element else shape, dtype=real.dtype)
            alpha = alpha.to(real.device)
        alpha = alpha.reshape(
            real.shape
            if alpha.numel() == real.numel() and b > 1 and alpha.ndim == real.ndim
            else shape
        )
        x = (alpha * fake + (1 - alpha) * real) if swap else (alpha * real + (1 - alpha) * fake)
        if not x.requires_grad:
            x.requires_grad_(True)
        scores = critic(x)
        (g,) = torch.autograd.grad(scores.sum(), x, create_graph=create_graph)
        if norm == "batch":
            n = g.norm()
        elif norm == "squared":
            n = (g**2).flatten(1).sum(1)
        else:
            n = g.flatten(1).norm(dim=1)
        return lam * ((n - minus) ** 2).mean()

    return gradient_penalty


WRONG_GP = [
    (_gp(create_graph=False), "create_graph=False"),
    (_gp(norm="batch"), "one norm over the whole batch"),
    (_gp(norm="squared"), "squared norm"),
    (_gp(minus=0.0), "the -1 is missing"),
    (_gp(lam=10.0), "lambda = 10 inside"),
    (_gp(swap=True), "real and fake are swapped"),
    (_gp(detach=False), "gradient to the generator that produced fake"),
    (_gp(alpha_per_element=True), "different alpha for every element"),
]


@pytest.mark.parametrize("fn, message", WRONG_GP)
def test_check_gradient_penalty_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_gradient_penalty(fn)


def _gp_loop(critic, real, fake, alpha=None):
    """Per-sample gradients one at a time, alpha via expand, norm via sqrt of sum."""
    real, fake = real.detach(), fake.detach()
    if alpha is None:
        alpha = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    alpha = alpha.reshape(-1).view(-1, *([1] * (real.ndim - 1))).expand_as(real)
    x_hat = torch.lerp(fake, real, alpha).requires_grad_()
    grads = torch.autograd.grad(
        critic(x_hat), x_hat, torch.ones_like(critic(x_hat)), create_graph=True
    )[0]
    terms = [(torch.sqrt((g**2).sum()) - 1) ** 2 for g in grads]
    return torch.stack(terms).mean()


def _gp_linalg(critic, real, fake, alpha=None):
    b = real.size(0)
    if alpha is None:
        alpha = torch.rand(b, 1, device=real.device).to(real.dtype)
    a = alpha.reshape(b, *[1] * (real.dim() - 1))
    x = (fake.detach() + a * (real.detach() - fake.detach())).requires_grad_(True)
    out = critic(x)
    g = torch.autograd.grad(out, x, grad_outputs=torch.ones_like(out), create_graph=True)[0]
    return torch.mean((torch.linalg.vector_norm(g.reshape(b, -1), dim=1) - 1.0) ** 2)


@pytest.mark.parametrize("fn", [_gp_loop, _gp_linalg])
def test_check_gradient_penalty_accepts_correct_variants(fn, capsys):
    _passes(C.check_gradient_penalty, fn, capsys)


# ---------------------------------------------------------------------------------------
# wasserstein_1d
# ---------------------------------------------------------------------------------------

WRONG_W1 = [
    (lambda x, y: (x - y).abs().mean(), "you did not sort"),
    (lambda x, y: (x.sort().values - y).abs().mean(), "you sorted only x"),
    (lambda x, y: (x.sort().values - y.sort().values).pow(2).mean(), "squared the differences"),
    (lambda x, y: (x.sort().values - y.sort().values).abs().sum(), "summed instead of averaging"),
    (lambda x, y: (x.mean() - y.mean()).abs(), "compared the means"),
]


@pytest.mark.parametrize("fn, message", WRONG_W1)
def test_check_wasserstein_1d_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_wasserstein_1d(fn)


def _w1_cdf(x, y):
    """The integral of |F_x - F_y| over the merged support (scipy's route)."""
    allv, _ = torch.sort(torch.cat([x, y]))
    deltas = allv[1:] - allv[:-1]
    xs, ys = torch.sort(x).values, torch.sort(y).values
    fx = torch.searchsorted(xs, allv[:-1].contiguous(), right=True).to(x.dtype) / x.numel()
    fy = torch.searchsorted(ys, allv[:-1].contiguous(), right=True).to(x.dtype) / y.numel()
    return ((fx - fy).abs() * deltas).sum()


def _w1_l1(x, y):
    return F.l1_loss(torch.sort(x)[0], torch.sort(y)[0])


@pytest.mark.parametrize(
    "fn", [_w1_cdf, _w1_l1, lambda x, y: torch.mean(torch.abs(x.msort() - y.msort()))]
)
def test_check_wasserstein_1d_accepts_correct_variants(fn, capsys):
    _passes(C.check_wasserstein_1d, fn, capsys)


# ---------------------------------------------------------------------------------------
# r1_penalty
# ---------------------------------------------------------------------------------------


def _r1(*, create_graph=True, square=True, scale=1.0, reduce="sample"):
    def r1_penalty(real_logits, real):
        (g,) = torch.autograd.grad(real_logits.sum(), real, create_graph=create_graph)
        if reduce == "elements":
            return scale * g.pow(2).mean()
        sq = g.flatten(1).pow(2).sum(1)
        return scale * (sq if square else sq.sqrt()).mean()

    return r1_penalty


WRONG_R1 = [
    (_r1(square=False), "returned the norm"),
    (_r1(scale=5.0), "gamma / 2 = 5 inside"),
    (_r1(reduce="elements"), "averaged over every element"),
    (_r1(create_graph=False), "create_graph=True"),
]


@pytest.mark.parametrize("fn, message", WRONG_R1)
def test_check_r1_penalty_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_r1_penalty(fn)


def _r1_ones(real_logits, real):
    g = torch.autograd.grad(real_logits, real, torch.ones_like(real_logits), create_graph=True)[0]
    return g.reshape(g.shape[0], -1).norm(dim=1).pow(2).mean()


def _r1_einsum(real_logits, real):
    (g,) = torch.autograd.grad(real_logits.sum(), [real], create_graph=True)
    flat = g.flatten(1)
    return torch.einsum("bi,bi->b", flat, flat).sum() / flat.shape[0]


@pytest.mark.parametrize("fn", [_r1_ones, _r1_einsum])
def test_check_r1_penalty_accepts_correct_variants(fn, capsys):
    _passes(C.check_r1_penalty, fn, capsys)


def test_check_gradient_penalty_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    C.check_gradient_penalty(_gp_linalg)
    assert torch.equal(torch.rand(3), expected)
