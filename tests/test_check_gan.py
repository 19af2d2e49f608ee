"""The week 03 checks (``course.checks.gan``) judged on student-like code.

For every check: realistic wrong implementations must be rejected with the
message that names *their* mistake, correct implementations written another
way must pass, and the course's reference must be refused (itself, a pasted
copy, or called through a wrapper).
"""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import course.gan as ref
from course.checks import gan as C

NOT_YOURS = "reference implementation, not your own"
REFERENCE_CALLED = "called the course's reference"
STUB = r"replace `raise NotImplementedError\(\)`"


def _passes(check, fn, capsys) -> None:
    check(fn)
    assert "passed" in capsys.readouterr().out  # the one line of success


def _bce(logits, target: float, reduction="mean"):
    return F.binary_cross_entropy_with_logits(
        logits, torch.full_like(logits, target), reduction=reduction
    )


# ---------------------------------------------------------------------------------------
# discriminator_loss
# ---------------------------------------------------------------------------------------


def _d_naive_log_sigmoid(real_logits, fake_logits):
    return (
        -torch.log(torch.sigmoid(real_logits)).mean()
        - torch.log(1 - torch.sigmoid(fake_logits)).mean()
    )


def _d_bce_on_probabilities(real_logits, fake_logits):
    d_real, d_fake = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
    return F.binary_cross_entropy(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy(
        d_fake, torch.zeros_like(d_fake)
    )


def _d_bce_on_logits_as_probabilities(real_logits, fake_logits):
    return F.binary_cross_entropy(real_logits, torch.ones_like(real_logits)) + (
        F.binary_cross_entropy(fake_logits, torch.zeros_like(fake_logits))
    )


def _d_concatenated(real_logits, fake_logits):
    logits = torch.cat([real_logits.flatten(), fake_logits.flatten()])
    labels = torch.cat([torch.ones(real_logits.numel()), torch.zeros(fake_logits.numel())])
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits))


WRONG_D = [
    (lambda r, f: _bce(r, 0.0) + _bce(f, 1.0), "the labels are swapped"),
    (lambda r, f: _bce(r, 1.0, "sum") + _bce(f, 0.0, "sum"), "you summed over the batch"),
    (lambda r, f: (_bce(r, 1.0) + _bce(f, 0.0)) / 2, r"averaged the two terms \(a factor 0.5\)"),
    (_d_concatenated, "concatenated batch"),
    (lambda r, f: -(_bce(r, 1.0) + _bce(f, 0.0)), "the sign is flipped"),
    (lambda r, f: _bce(r.sigmoid(), 1.0) + _bce(f.sigmoid(), 0.0), "double sigmoid"),
    (_d_naive_log_sigmoid, r"wrong for large logits.*numerical stability.*softplus"),
    (_d_bce_on_probabilities, r"wrong for large logits.*binary_cross_entropy_with_logits"),
    (_d_bce_on_logits_as_probabilities, r"\*logits\* \(any real number\), not probabilities"),
    (lambda r, f: _bce(r, 1.0, "none").flatten() + 0 * f.sum(), "expected a scalar"),
    (lambda r, f: (_bce(r, 1.0) + _bce(f, 0.0)).detach(), "result without gradient"),
]


@pytest.mark.parametrize("fn, message", WRONG_D)
def test_check_discriminator_loss_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_discriminator_loss(fn)


def _d_logsigmoid(real_logits, fake_logits):
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()


def _d_float64_softplus(real_logits, fake_logits):
    r, f = real_logits.double(), fake_logits.double()
    loss = (r.neg().exp().log1p().where(r > -30, -r)).mean()  # stable softplus(-r) by hand
    loss = loss + (f - F.logsigmoid(f)).mean()  # softplus(f) = f - log sigmoid(f)
    return loss.to(real_logits.dtype)


def _d_bce_with_logits(real_logits, fake_logits):
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


@pytest.mark.parametrize("fn", [_d_logsigmoid, _d_float64_softplus, _d_bce_with_logits])
def test_check_discriminator_loss_accepts_correct_variants(fn, capsys):
    _passes(C.check_discriminator_loss, fn, capsys)


# ---------------------------------------------------------------------------------------
# generator_loss
# ---------------------------------------------------------------------------------------


def _gen(ns, mm):
    def generator_loss(fake_logits, kind="non_saturating"):
        return ns(fake_logits) if kind == "non_saturating" else mm(fake_logits)

    return generator_loss


def _ns(f):
    return F.softplus(-f).mean()


def _mm(f):
    return -F.softplus(f).mean()


WRONG_G = [
    (_gen(_ns, lambda f: F.softplus(f).mean()), "the minimax loss has the wrong sign"),
    (_gen(_mm, _ns), "the kinds are swapped"),
    (_gen(lambda f: -torch.log(torch.sigmoid(f)).mean(), _mm), r"wrong for large logits"),
    (_gen(_ns, lambda f: torch.log(1 - torch.sigmoid(f)).mean()), "numerical stability"),
    (_gen(lambda f: _bce(f, 0.0), _mm), "you labelled the fakes 0"),
    (_gen(lambda f: -_ns(f), _mm), "the non-saturating loss has the wrong sign"),
    (_gen(lambda f: F.softplus(-f).sum(), lambda f: -F.softplus(f).sum()), "summed over"),
    (_gen(_ns, lambda f: -_bce(f, 1.0)), r"for 'minimax' you returned -BCE\(fake, 1\)"),
    (lambda fake_logits, kind="minimax": _gen(_ns, _mm)(fake_logits, kind), "without kind="),
]


@pytest.mark.parametrize("fn, message", WRONG_G)
def test_check_generator_loss_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_generator_loss(fn)


def _g_bce(fake_logits, kind="non_saturating"):
    if kind == "non_saturating":
        return _bce(fake_logits, 1.0)
    return -_bce(fake_logits, 0.0)


def _g_logsigmoid(fake_logits, kind="non_saturating"):
    if kind == "minimax":
        return F.logsigmoid(-fake_logits).mean()  # log(1 - sigmoid(l)) = logsigmoid(-l)
    if kind == "non_saturating":
        return -F.logsigmoid(fake_logits).mean()
    raise ValueError(kind)


@pytest.mark.parametrize("fn", [_g_bce, _g_logsigmoid, _gen(_ns, _mm)])
def test_check_generator_loss_accepts_correct_variants(fn, capsys):
    _passes(C.check_generator_loss, fn, capsys)


# ---------------------------------------------------------------------------------------
# optimal_discriminator
# ---------------------------------------------------------------------------------------


def _opt(formula):
    """A student's D* that handles 0/0 as the course does, with ``formula`` otherwise."""

    def optimal_discriminator(p_data, p_model):
        if not isinstance(p_data, torch.Tensor) and not isinstance(p_model, torch.Tensor):
            return 0.5 if p_data + p_model == 0 else float(formula(p_data, p_model))
        return torch.nan_to_num(formula(p_data, p_model), nan=0.5)

    return optimal_discriminator


WRONG_OPT = [
    (_opt(lambda a, b: b / (a + b)), r"p_model / \(p_data \+ p_model\), the probability of"),
    (_opt(lambda a, b: a / b), "the density ratio p_data / p_model"),
    (_opt(lambda a, b: b / a), r"you returned p_model / p_data"),
    (lambda a, b: a / (a + b), "0 / 0 is nan"),
    (lambda a, b: torch.as_tensor(a) / (torch.as_tensor(a) + b), "return a Python float"),
]


@pytest.mark.parametrize("fn, message", WRONG_OPT)
def test_check_optimal_discriminator_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_optimal_discriminator(fn)


def _opt_where(p_data, p_model):
    if not isinstance(p_data, torch.Tensor) and not isinstance(p_model, torch.Tensor):
        total = p_data + p_model
        return p_data / total if total > 0 else 0.5
    p_data, p_model = torch.broadcast_tensors(torch.as_tensor(p_data), torch.as_tensor(p_model))
    total = p_data + p_model
    out = torch.full_like(total, 0.5)
    mask = total > 0
    out[mask] = p_data[mask] / total[mask]
    return out


def _opt_sigmoid_of_log_ratio(p_data, p_model):
    # D* = 1 / (1 + p_model / p_data) = sigmoid(log p_data - log p_model)
    if not isinstance(p_data, torch.Tensor) and not isinstance(p_model, torch.Tensor):
        if p_data + p_model == 0:
            return 0.5
        return 1.0 / (1.0 + p_model / p_data) if p_data > 0 else 0.0
    like = p_data if isinstance(p_data, torch.Tensor) else p_model
    a = torch.as_tensor(p_data).to(like)
    b = torch.as_tensor(p_model).to(like)
    d = torch.sigmoid(torch.log(a) - torch.log(b))
    return torch.where((a + b) > 0, d, torch.full_like(d, 0.5))


@pytest.mark.parametrize("fn", [_opt_where, _opt_sigmoid_of_log_ratio])
def test_check_optimal_discriminator_accepts_correct_variants(fn, capsys):
    _passes(C.check_optimal_discriminator, fn, capsys)


# ---------------------------------------------------------------------------------------
# lsgan_losses
# ---------------------------------------------------------------------------------------


def _lsgan(d_of, g_of):
    def lsgan_losses(real_out, fake_out, a=0.0, b=1.0, c=1.0):
        return d_of(real_out, fake_out, a, b, c), g_of(fake_out, a, b, c)

    return lsgan_losses


def _d_ok(r, f, a, b, c):
    return 0.5 * ((r - b) ** 2).mean() + 0.5 * ((f - a) ** 2).mean()


def _g_ok(f, a, b, c):
    return 0.5 * ((f - c) ** 2).mean()


WRONG_LS = [
    (_lsgan(lambda r, f, a, b, c: 2 * _d_ok(r, f, a, b, c), _g_ok), "d_loss is missing the fa"),
    (_lsgan(_d_ok, lambda f, a, b, c: ((f - c) ** 2).mean()), "g_loss is missing the factor"),
    (_lsgan(lambda r, f, a, b, c: _d_ok(r, f, b, a, c), _g_ok), "the targets are swapped"),
    (_lsgan(_d_ok, lambda f, a, b, c: 0.5 * ((f - b) ** 2).mean()), "c is ignored in g_loss"),
    (_lsgan(_d_ok, lambda f, a, b, c: 0.5 * ((f - 1) ** 2).mean()), "used a fixed target 1"),
    (_lsgan(_d_ok, lambda f, a, b, c: 0.5 * ((f - a) ** 2).mean()), "uses a, the \\*fake\\*"),
    (
        _lsgan(lambda r, f, a, b, c: _d_ok(r.sigmoid(), f.sigmoid(), a, b, c), _g_ok),
        "you applied a sigmoid",
    ),
    (lambda r, f, a=0.0, b=1.0, c=1.0: _d_ok(r, f, a, b, c), r"should return a tuple"),
]


@pytest.mark.parametrize("fn, message", WRONG_LS)
def test_check_lsgan_losses_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_lsgan_losses(fn)


def _ls_mse(real_out, fake_out, a=0.0, b=1.0, c=1.0):
    d = F.mse_loss(real_out, torch.full_like(real_out, b)) + F.mse_loss(
        fake_out, torch.full_like(fake_out, a)
    )
    g = F.mse_loss(fake_out, torch.full_like(fake_out, c))
    return d / 2, g / 2


def _ls_float64(real_out, fake_out, a=0.0, b=1.0, c=1.0):
    r, f = real_out.double(), fake_out.double()
    d = (r - b).square().sum() / (2 * r.numel()) + (f - a).square().sum() / (2 * f.numel())
    g = (f - c).square().sum() / (2 * f.numel())
    return d.to(real_out.dtype), g.to(real_out.dtype)


@pytest.mark.parametrize("fn", [_ls_mse, _ls_float64, _lsgan(_d_ok, _g_ok)])
def test_check_lsgan_losses_accepts_correct_variants(fn, capsys):
    _passes(C.check_lsgan_losses, fn, capsys)


# ---------------------------------------------------------------------------------------
# hinge_losses
# ---------------------------------------------------------------------------------------


def _hinge(d_of, g_of):
    def hinge_losses(real_logits, fake_logits):
        return d_of(real_logits, fake_logits), g_of(fake_logits)

    return hinge_losses


def _hd_ok(r, f):
    return F.relu(1 - r).mean() + F.relu(1 + f).mean()


def _hg_ok(f):
    return -f.mean()


WRONG_HINGE = [
    (_hinge(lambda r, f: (1 - r).mean() + (1 + f).mean(), _hg_ok), "the relu .* is missing"),
    (_hinge(lambda r, f: F.relu(1 + r).mean() + F.relu(1 - f).mean(), _hg_ok), "signs are swap"),
    (_hinge(_hd_ok, lambda f: F.relu(1 - f).mean()), "the generator loss has no hinge"),
    (_hinge(_hd_ok, lambda f: f.mean()), "the generator loss has the wrong sign"),
    (_hinge(lambda r, f: F.relu(-r).mean() + F.relu(f).mean(), _hg_ok), "the margin 1 is miss"),
    (_hinge(lambda r, f: F.relu(1 - r).sum() + F.relu(1 + f).sum(), _hg_ok), "summed over"),
    (_hinge(_hd_ok, lambda f: -f.mean().detach()), "result without gradient"),
]


@pytest.mark.parametrize("fn, message", WRONG_HINGE)
def test_check_hinge_losses_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_hinge_losses(fn)


def _hinge_clamp(real_logits, fake_logits):
    d = torch.clamp(1 - real_logits, min=0).mean() + torch.clamp(1 + fake_logits, min=0).mean()
    return d, fake_logits.mean().neg()


def _hinge_minimum(real_logits, fake_logits):
    zero = torch.zeros((), dtype=real_logits.dtype, device=real_logits.device)
    d = -torch.minimum(zero, real_logits - 1).mean() - torch.minimum(zero, -fake_logits - 1).mean()
    return d, -fake_logits.sum() / fake_logits.numel()


@pytest.mark.parametrize("fn", [_hinge_clamp, _hinge_minimum])
def test_check_hinge_losses_accepts_correct_variants(fn, capsys):
    _passes(C.check_hinge_losses, fn, capsys)


# ---------------------------------------------------------------------------------------
# Shared: stubs, the reference itself, and wrappers around it
# ---------------------------------------------------------------------------------------

CHECKS = [
    (C.check_discriminator_loss, ref.discriminator_loss),
    (C.check_generator_loss, ref.generator_loss),
    (C.check_optimal_discriminator, ref.optimal_discriminator),
    (C.check_lsgan_losses, ref.lsgan_losses),
    (C.check_hinge_losses, ref.hinge_losses),
]
IDS = [check.__name__ for check, _ in CHECKS]


def _exec_copy(reference):
    """``reference`` pasted into a notebook cell below the student's own imports."""
    namespace = dict(vars(ref))
    exec(compile(inspect.getsource(reference), "<student cell>", "exec"), namespace)
    return namespace[reference.__name__]


@pytest.mark.parametrize("check, reference", CHECKS, ids=IDS)
def test_check_refuses_a_pasted_copy_of_the_reference(check, reference):
    # discriminator_loss is too short to call a verbatim copy plagiarism (an honest student
    # may write it token for token); its pasted copy is refused because it calls the
    # locked helper course.gan._check_scores.
    with pytest.raises(AssertionError, match=f"{NOT_YOURS}|{REFERENCE_CALLED}"):
        check(_exec_copy(reference))


def test_check_generator_loss_refuses_the_discriminator_loss_pieces():
    """A generator loss leaning on another locked reference function is not the student's."""

    def generator_loss(fake_logits, kind="non_saturating"):
        empty_real = torch.full_like(fake_logits, 100.0)  # softplus(-100) ~ 0
        return ref.discriminator_loss(empty_real, -fake_logits)

    with pytest.raises(AssertionError, match=REFERENCE_CALLED):
        C.check_generator_loss(generator_loss)


# ---------------------------------------------------------------------------------------
# DCGAN generator and discriminator (classes)
# ---------------------------------------------------------------------------------------


class SequentialG(nn.Module):
    """A correct generator: the course's layer plan, built with nn.Sequential."""

    def __init__(self, z_dim=64, channels=1, base=64):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 2 * base, 7, 1, 0, bias=False),
            nn.BatchNorm2d(2 * base),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * base, base, 4, 2, 1, bias=False),
            nn.BatchNorm2d(base),
            nn.ReLU(),
            nn.ConvTranspose2d(base, channels, 4, 2, 1),
            self.output_activation(),
        )

    def output_activation(self):
        return nn.Tanh()

    def forward(self, z):
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1))


class LinearProjectionG(nn.Module):
    """A correct generator as in the DCGAN paper's figure 1: a linear projection of z
    reshaped to 7x7 feature maps, then functional activations and biases everywhere."""

    def __init__(self, z_dim=64, channels=1, base=64):
        super().__init__()
        self.base = base
        self.project = nn.Linear(z_dim, 2 * base * 7 * 7)
        self.bn0 = nn.BatchNorm2d(2 * base)
        self.up1 = nn.ConvTranspose2d(2 * base, base, 4, 2, 1)
        self.bn1 = nn.BatchNorm2d(base)
        self.up2 = nn.ConvTranspose2d(base, channels, 4, 2, 1)

    def forward(self, z):
        h = F.relu(self.bn0(self.project(z).view(-1, 2 * self.base, 7, 7)))
        h = F.relu(self.bn1(self.up1(h)))
        return torch.tanh(self.up2(h))


class UpsampleConvG(nn.Module):
    """A correct generator that upsamples by nearest neighbour + convolution."""

    def __init__(self, z_dim=64, channels=1, base=64):
        super().__init__()
        self.layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(z_dim, base, 7),
                nn.BatchNorm2d(base),
                nn.Upsample(scale_factor=2),
                nn.Conv2d(base, base, 3, padding=1),
                nn.BatchNorm2d(base),
                nn.Upsample(scale_factor=2),
                nn.Conv2d(base, channels, 3, padding=1),
            ]
        )

    def forward(self, z):
        h = z[:, :, None, None]
        for layer in self.layers:
            h = layer(h)
            if isinstance(layer, nn.BatchNorm2d):
                h = F.leaky_relu(h, 0.2)
        return h.tanh()


@pytest.mark.parametrize("cls", [SequentialG, LinearProjectionG, UpsampleConvG])
def test_check_dcgan_generator_accepts_correct_variants(cls, capsys):
    _passes(C.check_dcgan_generator, cls, capsys)


class NoTanhG(SequentialG):
    def output_activation(self):
        return nn.Identity()


class SigmoidG(SequentialG):
    def output_activation(self):
        return nn.Sigmoid()


class NoReshapeG(SequentialG):
    def forward(self, z):
        return self.net(z)


class FirstKernel4G(SequentialG):
    """1 -> 4 -> 8 -> 16: the first layer copied from a 64x64 DCGAN (kernel 4)."""

    def __init__(self, z_dim=64, channels=1, base=64):
        super().__init__(z_dim, channels, base)
        self.net[0] = nn.ConvTranspose2d(z_dim, 2 * base, 4, 1, 0, bias=False)


class OneChannelG(SequentialG):
    def __init__(self, z_dim=64, channels=1, base=64):
        super().__init__(z_dim, 1, base)


class FlatOutputG(SequentialG):
    def forward(self, z):
        return super().forward(z).flatten(1)


class DetachedG(SequentialG):
    def forward(self, z):
        return super().forward(z).detach()


class PooledG(SequentialG):
    def __init__(self, z_dim=64, channels=1, base=64):
        super().__init__(z_dim, channels, base)
        self.net[0] = nn.ConvTranspose2d(z_dim, 2 * base, 14, 1, 0, bias=False)  # 14x14
        self.net.insert(3, nn.MaxPool2d(2))  # back to 7x7


class BatchMixingG(SequentialG):
    """Transposes z, then reshapes to (B, z_dim, 1, 1): entries of different samples mix."""

    def forward(self, z):
        return self.net(z.T.reshape(z.shape[0], self.z_dim, 1, 1))


WRONG_G_CLASSES = [
    (NoTanhG, r"(not bounded|images live in \[-1, 1\]).*end with a tanh"),
    (SigmoidG, r"never goes below 0.*sigmoid.*Use tanh"),
    (NoReshapeG, r"reshape z \(B, z_dim\) to\s+\(B, z_dim, 1, 1\)"),
    (FirstKernel4G, r"size 16x16, expected 28x28.*kernel 7"),
    (OneChannelG, r"returned 1 channels"),
    (FlatOutputG, r"flat images"),
    (DetachedG, r"no gradient reaches"),
    (PooledG, r"uses MaxPool2d: DCGAN has no pooling"),
    (BatchMixingG, r"changes with the rest of the batch"),
]


@pytest.mark.parametrize(
    "cls, message", WRONG_G_CLASSES, ids=[c.__name__ for c, _ in WRONG_G_CLASSES]
)
def test_check_dcgan_generator_names_the_mistake(cls, message):
    with pytest.raises(AssertionError, match=message):
        C.check_dcgan_generator(cls)


class SequentialD(nn.Module):
    """A correct discriminator: the course's layer plan."""

    def __init__(self, channels=1, base=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, base, 4, 2, 1),
            self.activation(),
            nn.Conv2d(base, 2 * base, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * base),
            self.activation(),
            nn.Conv2d(2 * base, 1, 7, 1, 0),
        )

    def activation(self):
        return nn.LeakyReLU(0.2)

    def forward(self, x):
        return self.net(x).view(-1)


class LinearHeadD(nn.Module):
    """A correct discriminator with a linear read-out and functional leaky ReLUs."""

    def __init__(self, channels=1, base=64):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, base, 5, 2, 2)
        self.conv2 = nn.Conv2d(base, 2 * base, 5, 2, 2)
        self.bn2 = nn.BatchNorm2d(2 * base)
        self.fc = nn.Linear(2 * base * 7 * 7, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.bn2(self.conv2(h)), 0.2)
        return self.fc(h.flatten(1))[:, 0]


@pytest.mark.parametrize("cls", [SequentialD, LinearHeadD])
def test_check_dcgan_discriminator_accepts_correct_variants(cls, capsys):
    _passes(C.check_dcgan_discriminator, cls, capsys)


class SigmoidD(SequentialD):
    def forward(self, x):
        return torch.sigmoid(super().forward(x))


class SqueezeD(SequentialD):
    def forward(self, x):
        return self.net(x).squeeze()


class ColumnD(SequentialD):
    def forward(self, x):
        return self.net(x).view(-1, 1)


class ReluD(SequentialD):
    def activation(self):
        return nn.ReLU()


class OneChannelD(SequentialD):
    def __init__(self, channels=1, base=64):
        super().__init__(1, base)


class AvgPoolD(SequentialD):
    def __init__(self, channels=1, base=64):
        super().__init__(channels, base)
        self.net[-1] = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(2 * base, 1, 1))


class DetachedD(SequentialD):
    def forward(self, x):
        return super().forward(x.detach())


WRONG_D_CLASSES = [
    (SigmoidD, r"probabilities in \[0, 1\].*remove the final\s+sigmoid"),
    (SqueezeD, r"shape \(\) for a batch of one.*\.squeeze\(\)"),
    (ColumnD, r"returned shape \(5, 1\).*\.flatten\(\)"),
    (ReluD, r"nn.ReLU.*LeakyReLU\(0.2\)"),
    (OneChannelD, r"channels.*constructor's arguments"),
    (AvgPoolD, r"uses AdaptiveAvgPool2d: DCGAN has no pooling"),
    (DetachedD, r"no gradient reaches \['the input'\]"),
]


@pytest.mark.parametrize(
    "cls, message", WRONG_D_CLASSES, ids=[c.__name__ for c, _ in WRONG_D_CLASSES]
)
def test_check_dcgan_discriminator_names_the_mistake(cls, message):
    with pytest.raises(AssertionError, match=message):
        C.check_dcgan_discriminator(cls)


DCGAN_CHECKS = [
    (C.check_dcgan_generator, ref.DCGANGenerator),
    (C.check_dcgan_discriminator, ref.DCGANDiscriminator),
]


@pytest.mark.parametrize("check, reference", DCGAN_CHECKS, ids=["generator", "discriminator"])
def test_dcgan_checks_refuse_the_reference_and_its_subclass(check, reference):
    with pytest.raises(AssertionError, match=NOT_YOURS):
        check(reference)
    subclass = type("Mine", (reference,), {})
    with pytest.raises(AssertionError, match=NOT_YOURS):
        check(subclass)
    with pytest.raises(AssertionError, match=f"{NOT_YOURS}|{REFERENCE_CALLED}"):
        check(_exec_copy(reference))


@pytest.mark.parametrize("check, reference", DCGAN_CHECKS, ids=["generator", "discriminator"])
def test_dcgan_checks_refuse_a_wrapper_around_the_reference(check, reference):
    class Wrapper(nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()
            self.inner = reference(*args, **kwargs)

        def forward(self, x):
            return self.inner(x)

    with pytest.raises(AssertionError, match=REFERENCE_CALLED):
        check(Wrapper)


@pytest.mark.parametrize(
    "check, cls", [(C.check_dcgan_generator, SequentialG), (C.check_dcgan_discriminator, SigmoidD)]
)
def test_dcgan_checks_leave_the_global_rng_state_unchanged(check, cls):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    try:
        check(cls)
    except AssertionError:
        pass  # a failing check restores it too
    assert torch.equal(torch.get_rng_state(), before)


class StubG(nn.Module):
    def __init__(self, z_dim=64, channels=1, base=64):
        super().__init__()
        self.layer = nn.Linear(1, 1)

    def forward(self, z):
        raise NotImplementedError()


def test_check_dcgan_generator_says_to_replace_the_stub():
    with pytest.raises(AssertionError, match=STUB):
        C.check_dcgan_generator(StubG)
