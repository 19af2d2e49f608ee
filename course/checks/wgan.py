"""Checks for week 04 (Wasserstein GANs): ``check_<name>(your_function)``.

Each check runs your code on seeded inputs (several shapes, batch of one included,
float32 and float64, the CPU and the accelerator when there is one) and compares it
with the course's reference, which is switched off while your code runs. A failure
names the likely mistake. Conventions (as in ``course.wgan``): losses are batch means
to be minimised; penalties come without their weight (no lambda, no gamma / 2 inside).
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import nn

from course import wgan as ref
from course.checks._core import (
    Mistake,
    assert_not_reference,
    assert_tensor,
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
    "check_clip_weights_",
    "check_critic_loss",
    "check_generator_loss",
    "check_gradient_penalty",
    "check_r1_penalty",
    "check_wasserstein_1d",
]


_call = caller(ref)


def _scalar(name: str, got, like: torch.Tensor, case: str) -> None:
    """A scalar result: name the reduction that was skipped."""
    if isinstance(got, torch.Tensor) and got.ndim > 0 and got.numel() > 1:
        raise AssertionError(
            f"{name} returned shape {tuple(got.shape)}, expected a scalar{where(case)}: "
            "average over the batch (.mean()) at the end."
        )
    if isinstance(got, torch.Tensor) and got.ndim > 0:
        raise AssertionError(
            f"{name} returned shape {tuple(got.shape)}, expected a 0-d scalar{where(case)}: "
            "reduce with .mean() rather than keeping a dimension."
        )
    assert_tensor(got, like, name, case, shape=())


def _nan_hint(name: str, got, expected: torch.Tensor, case: str, hint: str) -> None:
    if (
        isinstance(got, torch.Tensor)
        and not torch.isfinite(got).all()
        and torch.isfinite(expected).all()
    ):
        raise AssertionError(f"{name} returned nan or inf{where(case)}: {hint}")


# ---------------------------------------------------------------------------------------
# critic_loss and generator_loss
# ---------------------------------------------------------------------------------------

_RAW_SCORES = (
    "critic scores are raw and unbounded (negative too): a WGAN critic has no sigmoid and "
    "its loss no log. The critic's loss is mean(fake_scores) - mean(real_scores)."
)

_CRITIC_MISTAKES = [
    Mistake(
        "the signs are swapped. The critic *maximises* E[f(real)] - E[f(fake)], so the loss "
        "to minimise is mean(fake_scores) - mean(real_scores).",
        lambda r, f: r.mean() - f.mean(),
    ),
    Mistake(
        "this is the standard GAN's binary cross-entropy (log sigmoid). A WGAN critic's "
        "scores are raw: no sigmoid, no log; the loss is mean(fake) - mean(real).",
        lambda r, f: -F.logsigmoid(r).mean() - F.logsigmoid(-f).mean(),
    ),
    Mistake(
        "you summed over the batch instead of averaging: the loss is mean(fake) - "
        "mean(real), which does not grow with the batch size.",
        lambda r, f: f.sum() - r.sum(),
    ),
    Mistake(
        "you summed with the signs swapped: the loss is mean(fake) - mean(real).",
        lambda r, f: r.sum() - f.sum(),
    ),
    Mistake(
        "the real term is missing: the critic's loss is mean(fake) - mean(real).",
        lambda r, f: f.mean(),
    ),
    Mistake(
        "you used mean(fake) + mean(real); the real scores come with a minus sign.",
        lambda r, f: f.mean() + r.mean(),
    ),
]

_GEN_MISTAKES = [
    Mistake(
        "the sign is wrong. The generator wants the critic to score its samples *high*, "
        "so it minimises -mean(fake_scores).",
        lambda f: f.mean(),
    ),
    Mistake(
        "this is the standard GAN's non-saturating loss -log sigmoid(D(G(z))). A WGAN "
        "critic's scores are raw: the generator's loss is -mean(fake_scores), no log.",
        lambda f: -F.logsigmoid(f).mean(),
    ),
    Mistake(
        "this is the saturating GAN loss log(1 - sigmoid(D(G(z)))). A WGAN generator "
        "minimises -mean(fake_scores), no log, no sigmoid.",
        lambda f: F.logsigmoid(-f).mean(),
    ),
    Mistake(
        "you summed over the batch instead of averaging: the loss is -mean(fake_scores).",
        lambda f: -f.sum(),
    ),
    Mistake(
        "you summed with the wrong sign: the loss is -mean(fake_scores).",
        lambda f: f.sum(),
    ),
]

_BATCH_HINT = {
    "must match the size of tensor": "The real and fake batches may differ in size: "
    "average each separately, mean(fake) - mean(real), rather than subtracting elementwise."
}


def _score_shapes():
    # (real shape, fake shape): (B,) and (B, 1) forms, batches of different sizes, B = 1.
    return [((6,), (6,)), ((5, 1), (5, 1)), ((7,), (4,)), ((3, 1), (8,)), ((1,), (1, 1))]


def check_critic_loss(fn) -> None:
    """Check ``critic_loss(real_scores, fake_scores) -> mean(fake) - mean(real)``.

    Judged: values on (B,) and (B, 1) scores, real and fake batches of different sizes,
    a batch of one; scalar result, dtype, device; gradients -1/B_r and +1/B_f.
    """
    assert_not_reference(fn, ref.critic_loss)
    name = "critic_loss"
    for dev, dtype in cases():
        for i, (rs, fs) in enumerate(_score_shapes()):
            case = f"real_scores {rs}, fake_scores {fs}, {dtype}, {dev.type}"
            real = randn(*rs, seed=10 + i, dtype=dtype, dev=dev) * 2 + 0.5
            fake = randn(*fs, seed=20 + i, dtype=dtype, dev=dev) * 2 - 0.5
            args = (real, fake)
            before = [a.clone() for a in args]
            expected = ref.critic_loss(*args)
            got = _call(fn, args, case=case, hints=_BATCH_HINT)
            inputs_unchanged(name, before, args)
            _scalar(name, got, expected, case)
            _nan_hint(name, got, expected, case, _RAW_SCORES)
            compare(name, got, expected, mistakes=_CRITIC_MISTAKES, args=args, case=case)
    real = randn(5, seed=30, dtype=torch.float64).requires_grad_()
    fake = randn(3, 1, seed=31, dtype=torch.float64).requires_grad_()
    loss = _call(fn, (real, fake), case="gradient check")
    _loss_grads(name, loss, [(real, -1 / 5, "real_scores"), (fake, 1 / 3, "fake_scores")])
    success(name, "signs, batch means, (B,) and (B, 1) scores, float32/float64, gradients")


def check_generator_loss(fn) -> None:
    """Check ``generator_loss(fake_scores) -> -mean(fake_scores)``.

    Judged: values on (B,) and (B, 1) scores and a batch of one; scalar result, dtype,
    device; gradient -1/B.
    """
    assert_not_reference(fn, ref.generator_loss)
    name = "generator_loss"
    for dev, dtype in cases():
        for i, shape in enumerate([(6,), (5, 1), (1,), (1, 1)]):
            case = f"fake_scores {shape}, {dtype}, {dev.type}"
            fake = randn(*shape, seed=40 + i, dtype=dtype, dev=dev) * 2 - 0.3
            before = [fake.clone()]
            expected = ref.generator_loss(fake)
            got = _call(fn, (fake,), case=case)
            inputs_unchanged(name, before, [fake])
            _scalar(name, got, expected, case)
            _nan_hint(name, got, expected, case, _RAW_SCORES)
            compare(name, got, expected, mistakes=_GEN_MISTAKES, args=(fake,), case=case)
    fake = randn(4, 1, seed=50, dtype=torch.float64).requires_grad_()
    loss = _call(fn, (fake,), case="gradient check")
    _loss_grads(name, loss, [(fake, -1 / 4, "fake_scores")])
    success(name, "sign, batch mean, (B,) and (B, 1) scores, float32/float64, gradient")


def _loss_grads(name, loss, leaves) -> None:
    if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
        raise AssertionError(
            f"{name} returned a result without gradient: no .item(), .detach(), numpy or "
            "torch.no_grad() inside, the networks are trained through this loss."
        )
    loss.backward()
    for leaf, value, arg in leaves:
        if leaf.grad is None or not close(leaf.grad, torch.full_like(leaf, value)):
            raise AssertionError(
                f"{name}: wrong gradient w.r.t. {arg}; every score should get {value:+.4g} "
                "(= +-1 / batch size). Is a term detached or weighted differently?"
            )


# ---------------------------------------------------------------------------------------
# clip_weights_
# ---------------------------------------------------------------------------------------


def _seeded_(module: nn.Module, seed: int, scale: float = 0.05) -> nn.Module:
    """Overwrite every parameter with seeded normal numbers times ``scale``."""
    with torch.no_grad():
        for j, p in enumerate(module.parameters()):
            p.copy_(randn(*p.shape, seed=seed + j, dtype=torch.float64) * scale)
    return module


def _clip_critic(seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # default init must not touch the global RNG
        return _seeded_(
            nn.Sequential(
                nn.Conv2d(2, 3, 3, padding=1),
                nn.LeakyReLU(0.2),
                nn.Flatten(),
                nn.Linear(3 * 4 * 4, 6),
                nn.LayerNorm(6),
                nn.Linear(6, 1),
            ),
            seed,
        )


def check_clip_weights_(fn) -> None:
    """Check ``clip_weights_(critic, c=0.01)``: every parameter clamped to [-c, c], in place.

    Judged: the module's own parameter tensors are changed (weights *and* biases,
    LayerNorm's too), values equal ``p.clamp(-c, c)``, gradients untouched, the default
    c = 0.01, float32/float64; returning None (or the same module) is fine.
    """
    reference = ref.clip_weights_
    if fn is reference or getattr(fn, "__wrapped__", None) is reference:
        assert_not_reference(fn, reference)  # raises
    # The reference is wrapped by @torch.no_grad(), whose wrapper code every decorated
    # function shares: compare the undecorated bodies.
    assert_not_reference(inspect.unwrap(fn), inspect.unwrap(reference))
    name = "clip_weights_"
    for dev, dtype in cases():
        for c in (None, 0.05, 0.2):
            c_value = 0.01 if c is None else c
            case = f"c={'default' if c is None else c}, {dtype}, {dev.type}"
            critic = _clip_critic(60).to(dev, dtype)
            params = list(critic.parameters())
            for j, p in enumerate(params):
                p.grad = randn(*p.shape, seed=70 + j, dtype=dtype, dev=dev) * 0.3
            values = [p.detach().clone() for p in params]
            grads = [p.grad.clone() for p in params]
            args = (critic,) if c is None else (critic, c)
            got = _call(
                fn,
                args,
                case=case,
                hints={
                    "leaf Variable that requires grad": "Clamp the parameters inside "
                    "`with torch.no_grad():` (or clamp p.data): autograd forbids in-place "
                    "changes to parameters it tracks."
                },
            )
            _judge_clipping(name, critic, params, values, grads, got, c_value, case)
    success(name, "weights and biases clamped to [-c, c] in place, default c, float32/float64")


def _judge_clipping(name, critic, params, values, grads, got, c, case) -> None:
    if got is not None and got is not critic:
        new = list(got.parameters()) if isinstance(got, nn.Module) else []
        if new and all(torch.equal(p.detach(), v) for p, v in zip(params, values, strict=True)):
            raise AssertionError(
                f"{name} returned a new module and left the critic's own parameters as they "
                f"were{where(case)}: clip in place (p.clamp_(-c, c) under torch.no_grad()), "
                "the training loop keeps using the same critic and optimizer."
            )
    now = list(critic.parameters())
    if len(now) != len(params) or any(a is not b for a, b in zip(now, params, strict=True)):
        raise AssertionError(
            f"{name} replaced the critic's parameters by new ones{where(case)}: the optimizer "
            "still holds the old tensors. Clamp the existing ones in place: p.clamp_(-c, c)."
        )
    named = list(critic.named_parameters())
    wrong = [
        n for (n, p), v in zip(named, values, strict=True) if not close(p.detach(), v.clamp(-c, c))
    ]
    if wrong:
        unchanged = all(torch.equal(p.detach(), v) for p, v in zip(params, values, strict=True))
        grads_clipped = all(
            p.grad is not None and close(p.grad, g.clamp(-c, c))
            for p, g in zip(params, grads, strict=True)
        )
        if unchanged and grads_clipped:
            raise AssertionError(
                f"{name} clipped the gradients, not the weights{where(case)} (the lecture's "
                "slide erratum says 'weight clipping for gradients'). WGAN clips the "
                "*parameters* themselves after each critic step: p.clamp_(-c, c)."
            )
        if unchanged:
            raise AssertionError(
                f"{name} left every parameter unchanged{where(case)}: clamp them in place "
                "(p.clamp_(-c, c) under torch.no_grad()); p = p.clamp(-c, c) only rebinds a "
                "local name."
            )
        if all(n.endswith("bias") for n in wrong):
            raise AssertionError(
                f"{name} clipped the weights but not the biases ({', '.join(wrong)})"
                f"{where(case)}: WGAN clamps *every* parameter, for p in "
                "critic.parameters()."
            )
        if all(close(p.detach(), v.clamp(0, c)) for p, v in zip(params, values, strict=True)):
            raise AssertionError(
                f"{name} clamped to [0, c]{where(case)}: the range is symmetric, [-c, c]; "
                "negative weights must stay negative."
            )
        if all(
            close(p.detach(), v.clamp(-0.01, 0.01)) for p, v in zip(params, values, strict=True)
        ):
            raise AssertionError(
                f"{name} ignores its argument c{where(case)}: clamp to [-c, c], with c = 0.01 "
                "only as the default."
            )
        raise AssertionError(
            f"{name}: parameters {', '.join(wrong[:4])} are not p.clamp(-c, c) with "
            f"c = {c}{where(case)}: every parameter, weights and biases, clamped in place."
        )
    for (n, p), g in zip(named, grads, strict=True):
        if p.grad is None or not torch.equal(p.grad, g):
            raise AssertionError(
                f"{name} changed the gradient of {n}{where(case)}: clipping acts on the "
                "parameters only; leave .grad alone."
            )
        if not p.requires_grad:
            raise AssertionError(
                f"{name}: {n} no longer requires grad{where(case)}: the critic must stay "
                "trainable after clipping."
            )


# ---------------------------------------------------------------------------------------
# gradient_penalty
# ---------------------------------------------------------------------------------------


def _mlp_critic(dim: int, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # default init must not touch the global RNG
        # Tanh: the input gradient depends on the parameters non-linearly, so the double
        # backward is not trivial.
        return _seeded_(nn.Sequential(nn.Linear(dim, 8), nn.Tanh(), nn.Linear(8, 1)), seed, 0.6)


def _conv_critic(channels: int, size: int, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # default init must not touch the global RNG
        return _seeded_(
            nn.Sequential(
                nn.Conv2d(channels, 3, 3, padding=1),
                nn.Tanh(),
                nn.Flatten(),
                nn.Linear(3 * size * size, 1),
                nn.Flatten(0),  # (B,) scores
            ),
            seed,
            0.4,
        )


def _bcast(alpha, real):
    return alpha.reshape((real.shape[0],) + (1,) * (real.ndim - 1)).to(real)


def _input_grad(critic, x_hat):
    x_hat = x_hat.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return g


def _gp_variant(mix="ok", norm="ok", post="ok"):
    def penalty(critic, real, fake, alpha):
        a = _bcast(alpha, real)
        x_hat = a * real + (1 - a) * fake if mix == "ok" else a * fake + (1 - a) * real
        g = _input_grad(critic, x_hat)
        if norm == "batch":
            n = g.norm()
        elif norm == "squared":
            n = g.flatten(1).pow(2).sum(1)
        elif norm == "dim1":
            n = g.norm(2, dim=1)
        else:
            n = g.flatten(1).norm(2, dim=1)
        if post == "no_minus_one":
            return n.pow(2).mean()
        if post == "abs":
            return (n - 1).abs().mean()
        if post == "sum":
            return (n - 1).pow(2).sum()
        if post == "lambda":
            return 10 * (n - 1).pow(2).mean()
        return (n - 1).pow(2).mean()

    return penalty


_GP_MISTAKES = [
    Mistake(
        "you took one norm over the whole batch's gradient. The penalty is per sample: "
        "grad.flatten(1).norm(2, dim=1) gives (B,) norms, then mean((norm - 1)^2).",
        _gp_variant(norm="batch"),
    ),
    Mistake(
        "you used the squared norm ||grad||^2 inside (.pow(2).sum(...)) without the square "
        "root. The penalty is (||grad||_2 - 1)^2 with the plain Euclidean norm.",
        _gp_variant(norm="squared"),
    ),
    Mistake(
        "the -1 is missing: WGAN-GP pushes the gradient norm *towards 1* (two-sided), "
        "mean((||grad||_2 - 1)^2), not towards 0.",
        _gp_variant(post="no_minus_one"),
    ),
    Mistake(
        "you multiplied by lambda = 10 inside. The function returns the penalty without its "
        "weight; the training loop writes critic_loss + 10 * gradient_penalty(...).",
        _gp_variant(post="lambda"),
    ),
    Mistake(
        "real and fake are swapped in the interpolation: x_hat = alpha * real + "
        "(1 - alpha) * fake, alpha multiplies real.",
        _gp_variant(mix="swapped"),
    ),
    Mistake(
        "you took the norm over dim 1 only. For images the norm runs over every non-batch "
        "dim: grad.flatten(1).norm(2, dim=1).",
        _gp_variant(norm="dim1"),
    ),
    Mistake(
        "you used |norm - 1| instead of (norm - 1)^2: the penalty is squared.",
        _gp_variant(post="abs"),
    ),
    Mistake(
        "you summed over the batch instead of averaging: mean((||grad|| - 1)^2).",
        _gp_variant(post="sum"),
    ),
]


def _gp_setups(dev, dtype):
    """(label, critic, real, fake) for an MLP and a conv critic, batch of one included."""
    setups = []
    for i, batch in enumerate((4, 1)):
        critic = _mlp_critic(5, 80 + i).to(dev, dtype)
        real = randn(batch, 5, seed=90 + i, dtype=dtype, dev=dev)
        fake = randn(batch, 5, seed=95 + i, dtype=dtype, dev=dev) * 1.5 + 1
        setups.append((f"MLP critic, real ({batch}, 5)", critic, real, fake))
    for i, batch in enumerate((3, 1)):
        critic = _conv_critic(2, 4, 100 + i).to(dev, dtype)
        real = randn(batch, 2, 4, 4, seed=110 + i, dtype=dtype, dev=dev)
        fake = randn(batch, 2, 4, 4, seed=115 + i, dtype=dtype, dev=dev) - 0.5
        setups.append((f"conv critic, real ({batch}, 2, 4, 4)", critic, real, fake))
    return setups


def _param_grads(critic):
    """The parameters' gradients, zeros where none arrived (the last bias never gets one
    from an input-gradient penalty)."""
    return [
        torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
        for p in critic.parameters()
    ]


def check_gradient_penalty(fn) -> None:
    """Check ``gradient_penalty(critic, real, fake, alpha=None)`` (WGAN-GP, without lambda).

    Judged: values with given alpha, (B,) and (B, 1, ..., 1), for an MLP and a conv
    critic (batch of one included); the gradients the penalty sends to the critic's
    parameters (``create_graph=True``); none to the generator that made ``fake`` or to
    ``real``; alpha=None draws one U[0, 1] weight per sample.
    """
    assert_not_reference(fn, ref.gradient_penalty)
    name = "gradient_penalty"
    for dev, dtype in cases():
        for k, (label, critic, real, fake) in enumerate(_gp_setups(dev, dtype)):
            batch = real.shape[0]
            alpha = rand(batch, seed=120 + k, dtype=dtype, dev=dev)
            for form, a in (("(B,)", alpha), ("(B, 1, ...)", _bcast(alpha, real))):
                case = f"{label}, alpha {form}, {dtype}, {dev.type}"
                args = (critic, real, fake, a)
                before = [real.clone(), fake.clone(), a.clone()]
                params_before = [p.detach().clone() for p in critic.parameters()]
                expected = ref.gradient_penalty(critic, real, fake, alpha)
                critic.zero_grad(set_to_none=True)
                got = _call(fn, args, case=case)
                inputs_unchanged(name, before, [real, fake, a])
                if any(
                    not torch.equal(p.detach(), q)
                    for p, q in zip(critic.parameters(), params_before, strict=True)
                ):
                    raise AssertionError(
                        f"{name} changed the critic's parameters{where(case)}: it only "
                        "computes the penalty; the optimizer steps later."
                    )
                _scalar(name, got, expected, case)
                compare(
                    name,
                    got,
                    expected,
                    mistakes=_GP_MISTAKES,
                    args=(critic, real, fake, alpha),
                    case=case,
                )
                if dtype == torch.float64:
                    _gp_param_grads(name, fn, critic, real, fake, a, case)
    _gp_detached(name, fn)
    _gp_fresh_alpha(name, fn)
    success(
        name,
        "per-sample norms, MLP and conv critics, given and drawn alpha, gradients to the "
        "critic only, float32/float64",
    )


def _gp_param_grads(name, fn, critic, real, fake, alpha, case) -> None:
    critic.zero_grad(set_to_none=True)
    ref.gradient_penalty(critic, real, fake, alpha.reshape(-1)).backward()
    want = _param_grads(critic)
    critic.zero_grad(set_to_none=True)
    got = _call(fn, (critic, real, fake, alpha), case=case)
    if any(p.grad is not None for p in critic.parameters()):
        raise AssertionError(
            f"{name} already wrote gradients into the critic's parameters{where(case)}: "
            "return the penalty and let the training loop call .backward() on the total loss "
            "(torch.autograd.grad w.r.t. x_hat, not .backward() inside)."
        )
    if not isinstance(got, torch.Tensor) or not got.requires_grad:
        raise AssertionError(
            f"{name}: the penalty carries no gradient, so it cannot train the critic"
            f"{where(case)}. Take the input gradient with torch.autograd.grad(..., "
            "create_graph=True): with create_graph=False the gradient is a constant and the "
            "critic's parameters get nothing from the penalty."
        )
    got.backward()
    for (n, p), w in zip(critic.named_parameters(), want, strict=True):
        if p.grad is None and w.abs().sum() == 0:
            continue
        if p.grad is None:
            raise AssertionError(
                f"{name}: no gradient reaches the critic's {n}{where(case)}. Use "
                "torch.autograd.grad(scores.sum(), x_hat, create_graph=True): without "
                "create_graph=True the penalty does not reach the parameters."
            )
        if not close(p.grad, w):
            raise AssertionError(
                f"{name}: the gradient w.r.t. the critic's {n} is wrong although the value "
                f"is right{where(case)}: is part of the input gradient detached?"
            )
    critic.zero_grad(set_to_none=True)


def _gp_detached(name, fn) -> None:
    """A gradient must reach neither the generator that made ``fake`` nor ``real``."""
    dtype = torch.float64
    critic = _mlp_critic(5, 130).to(dtype)
    gen_weight = torch.tensor(1.3, dtype=dtype, requires_grad=True)  # a tiny generator
    fake = gen_weight * randn(4, 5, seed=131, dtype=dtype) + 0.2
    real = randn(4, 5, seed=132, dtype=dtype).requires_grad_()
    alpha = rand(4, seed=133, dtype=dtype)
    case = "fake produced by a generator, real requiring grad"
    got = _call(fn, (critic, real, fake, alpha), case=case)
    if not isinstance(got, torch.Tensor) or not got.requires_grad:
        return  # the gradient checks above have already named this
    got.backward()
    if gen_weight.grad is not None and gen_weight.grad.abs().item() > 0:
        raise AssertionError(
            f"{name} sends a gradient to the generator that produced fake{where(case)}: "
            "detach real and fake first (real.detach(), fake.detach()); the penalty "
            "constrains the critic only and must never push the generator."
        )
    if real.grad is not None and real.grad.abs().sum().item() > 0:
        raise AssertionError(
            f"{name} sends a gradient to real{where(case)}: detach real and fake before "
            "interpolating; the penalty trains the critic only."
        )


class _Recorder(nn.Module):
    """A critic that remembers the last batch it scored."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.inner(x)


def _gp_fresh_alpha(name, fn) -> None:
    """alpha=None: one U[0, 1] weight per sample, x_hat on the segment [fake, real]."""
    with keep_student_rng():
        torch.manual_seed(0)
        for dev, dtype in cases():
            case = f"alpha=None, {dtype}, {dev.type}"
            batch = 400
            fake = randn(batch, 2, 3, 3, seed=140, dtype=dtype, dev=dev)
            shift = randn(batch, 1, 1, 1, seed=141, dtype=dtype, dev=dev).abs() + 0.5
            real = fake + shift  # real - fake is a constant per sample
            critic = _Recorder(_conv_critic(2, 3, 142).to(dev, dtype))
            got = _call(fn, (critic, real, fake), case=case)
            assert_tensor(got, real, name, case, shape=())
            if not critic.seen:
                raise AssertionError(f"{name} never called the critic{where(case)}.")
            x_hat = critic.seen[-1]
            if x_hat.shape != real.shape:
                raise AssertionError(
                    f"{name} gave the critic a batch of shape {tuple(x_hat.shape)}, expected "
                    f"{tuple(real.shape)}{where(case)}: score the interpolates only."
                )
            a = ((x_hat - fake) / shift).flatten(1).double().cpu()  # alpha per element
            if (a.max(1).values - a.min(1).values).max().item() > 1e-3:
                raise AssertionError(
                    f"{name} with alpha=None drew a different alpha for every element"
                    f"{where(case)}: draw ONE alpha per sample, torch.rand(B, 1, ..., 1), so "
                    "each interpolate lies on the segment between its real and fake sample."
                )
            a = a[:, 0]
            if a.min().item() < -1e-6 or a.max().item() > 1 + 1e-6:
                raise AssertionError(
                    f"{name} with alpha=None put interpolates outside the segment between "
                    f"real and fake{where(case)}: alpha ~ U[0, 1] (torch.rand, not randn)."
                )
            if a.std().item() < 0.1:
                raise AssertionError(
                    f"{name} with alpha=None used the same alpha for the whole batch"
                    f"{where(case)}: draw one alpha per sample, torch.rand(B, ...)."
                )
            if abs(a.mean().item() - 0.5) > 0.06 or a.min() > 0.05 or a.max() < 0.95:
                raise AssertionError(
                    f"{name} with alpha=None: the drawn alphas have mean {a.mean():.3g}, "
                    f"range [{a.min():.3g}, {a.max():.3g}]{where(case)}; alpha ~ U[0, 1]."
                )


# ---------------------------------------------------------------------------------------
# wasserstein_1d
# ---------------------------------------------------------------------------------------


def _w1_sorted(x, y):
    return torch.sort(x).values, torch.sort(y).values


_W1_MISTAKES = [
    Mistake(
        "you did not sort. In 1-D the optimal plan matches the i-th smallest x with the "
        "i-th smallest y: mean(|sort(x) - sort(y)|), not the pairs in the given order.",
        lambda x, y: (x - y).abs().mean(),
    ),
    Mistake(
        "you sorted only x. Both samples must be sorted: mean(|sort(x) - sort(y)|).",
        lambda x, y: (torch.sort(x).values - y).abs().mean(),
    ),
    Mistake(
        "you sorted only y. Both samples must be sorted: mean(|sort(x) - sort(y)|).",
        lambda x, y: (x - torch.sort(y).values).abs().mean(),
    ),
    Mistake(
        "you squared the differences. W_1 uses the absolute difference "
        "|x_(i) - y_(i)| (squares give W_2^2).",
        lambda x, y: (_w1_sorted(x, y)[0] - _w1_sorted(x, y)[1]).pow(2).mean(),
    ),
    Mistake(
        "this is W_2, sqrt(mean of squared differences). W_1 is the mean *absolute* "
        "difference of the sorted samples.",
        lambda x, y: (_w1_sorted(x, y)[0] - _w1_sorted(x, y)[1]).pow(2).mean().sqrt(),
    ),
    Mistake(
        "you summed instead of averaging: every point carries mass 1/N, so "
        "W_1 = mean(|sort(x) - sort(y)|).",
        lambda x, y: (_w1_sorted(x, y)[0] - _w1_sorted(x, y)[1]).abs().sum(),
    ),
    Mistake(
        "you compared the means: |mean(x) - mean(y)| is only a lower bound of W_1; match "
        "the sorted samples point by point.",
        lambda x, y: (x.mean() - y.mean()).abs(),
    ),
]


def check_wasserstein_1d(fn) -> None:
    """Check ``wasserstein_1d(x (N,), y (N,)) -> mean(|sort(x) - sort(y)|)``.

    Judged: values on unsorted samples of sizes 1 to 50, 0-d result, dtype, device,
    inputs unchanged (no in-place sort), gradient w.r.t. x.
    """
    assert_not_reference(fn, ref.wasserstein_1d)
    name = "wasserstein_1d"
    for dev, dtype in cases():
        for i, n in enumerate((9, 50, 1, 2)):
            case = f"N = {n}, {dtype}, {dev.type}"
            x = randn(n, seed=150 + i, dtype=dtype, dev=dev)
            y = randn(n, seed=160 + i, dtype=dtype, dev=dev) * 2 + 0.3
            args = (x, y)
            before = [x.clone(), y.clone()]
            expected = ref.wasserstein_1d(x, y)
            got = _call(fn, args, case=case)
            inputs_unchanged(name, before, [x, y])
            _scalar(name, got, expected, case)
            compare(name, got, expected, mistakes=_W1_MISTAKES, args=args, case=case)
    x = randn(7, seed=170, dtype=torch.float64).requires_grad_()
    y = randn(7, seed=171, dtype=torch.float64) + 0.1
    got = _call(fn, (x, y), case="gradient check")
    if not isinstance(got, torch.Tensor) or not got.requires_grad:
        raise AssertionError(
            f"{name} returned a result without gradient: stay in torch (no numpy, scipy or "
            ".item()), the distance may be used as a loss."
        )
    got.backward()
    x2 = x.detach().clone().requires_grad_()
    ref.wasserstein_1d(x2, y).backward()
    if x.grad is None or not close(x.grad, x2.grad):
        raise AssertionError(
            f"{name}: wrong gradient w.r.t. x although the value is right: take the values "
            "of torch.sort (differentiable), not a detached copy."
        )
    success(name, "unsorted samples, N = 1 to 50, float32/float64, gradient")


# ---------------------------------------------------------------------------------------
# r1_penalty
# ---------------------------------------------------------------------------------------


def _r1_variant(kind="ok"):
    def penalty(critic, real):
        x = real.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
        sq = g.flatten(1).pow(2).sum(1)  # (B,)
        if kind == "norm":
            return sq.sqrt().mean()
        if kind == "minus_one":
            return (sq.sqrt() - 1).pow(2).mean()
        if kind == "half":
            return 0.5 * sq.mean()
        if kind == "gamma":
            return 5 * sq.mean()
        if kind == "sum":
            return sq.sum()
        if kind == "elements":
            return g.pow(2).mean()
        return sq.mean()

    return penalty


_R1_MISTAKES = [
    Mistake(
        "you returned the norm ||grad||, not its square: R1 = mean(||grad_x D(x)||^2), "
        "the sum of squared gradient entries per sample.",
        _r1_variant("norm"),
    ),
    Mistake(
        "that is WGAN-GP's (||grad|| - 1)^2. R1 pushes the gradient on real data to 0: "
        "mean(||grad||^2), no -1.",
        _r1_variant("minus_one"),
    ),
    Mistake(
        "you multiplied by 1/2 (gamma / 2 with gamma = 1) inside. The function returns the "
        "penalty without its weight; the caller writes gamma / 2 * r1_penalty(...).",
        _r1_variant("half"),
    ),
    Mistake(
        "you multiplied by gamma / 2 = 5 inside. The function returns the penalty without "
        "its weight; the caller writes gamma / 2 * r1_penalty(...).",
        _r1_variant("gamma"),
    ),
    Mistake(
        "you summed over the batch instead of averaging: mean over samples of ||grad||^2.",
        _r1_variant("sum"),
    ),
    Mistake(
        "you averaged over every element. ||grad||^2 sums the squares over the non-batch "
        "dims (grad.flatten(1).pow(2).sum(1)); only the batch is averaged.",
        _r1_variant("elements"),
    ),
]


def check_r1_penalty(fn) -> None:
    """Check ``r1_penalty(real_logits, real) -> mean(||grad_real D(real)||^2)`` (no gamma/2).

    Judged: values for an MLP and a conv discriminator (batch of one included), (B,) and
    (B, 1) logits, and the gradients it sends to the discriminator's parameters
    (``create_graph=True``).
    """
    assert_not_reference(fn, ref.r1_penalty)
    name = "r1_penalty"
    for dev, dtype in cases():
        for k, (label, critic, real, _) in enumerate(_gp_setups(dev, dtype)):
            case = f"{label}, {dtype}, {dev.type}"
            critic.zero_grad(set_to_none=True)
            x_ref = real.clone().requires_grad_(True)
            expected = ref.r1_penalty(critic(x_ref), x_ref)
            expected.backward()
            want = _param_grads(critic)
            critic.zero_grad(set_to_none=True)
            x = real.clone().requires_grad_(True)
            logits = critic(x)
            if k % 2 == 1:
                logits = logits.reshape(-1, 1)  # (B, 1) form
            before = [x.detach().clone()]
            got = _call(fn, (logits, x), case=case)
            inputs_unchanged(name, before, [x.detach()])
            _scalar(name, got, expected, case)
            compare(name, got, expected, mistakes=_R1_MISTAKES, args=(critic, real), case=case)
            if not got.requires_grad:
                raise AssertionError(
                    f"{name}: the penalty carries no gradient, so it cannot train the "
                    f"discriminator{where(case)}. Use torch.autograd.grad(real_logits.sum(), "
                    "real, create_graph=True)."
                )
            got.backward()
            for (n, p), w in zip(critic.named_parameters(), want, strict=True):
                grad = torch.zeros_like(p) if p.grad is None else p.grad
                if not close(grad, w):
                    raise AssertionError(
                        f"{name}: wrong or missing gradient for the discriminator's {n}"
                        f"{where(case)}: take the input gradient with create_graph=True and "
                        "do not detach it."
                    )
            critic.zero_grad(set_to_none=True)
    success(name, "MLP and conv discriminators, (B,)/(B, 1) logits, float32/float64, gradients")
