"""The week 06 checks (``course.checks.cyclegan``) judged on student-like code.

For every check: realistic wrong implementations are rejected with the message that
names *their* mistake, correct implementations written another way pass, and the
course's reference is refused (itself, a pasted copy, a subclass).
"""

from __future__ import annotations

import inspect
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import course.cyclegan as ref
from course.checks import cyclegan as C

NOT_YOURS = "reference implementation, not your own"


def _passes(check, fn, capsys) -> None:
    check(fn)
    assert "passed" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------
# cycle_loss / identity_loss
# ---------------------------------------------------------------------------------------


def _cycle_f_l1(real, reconstructed):
    return F.l1_loss(reconstructed, real)


def _cycle_float64(real, reconstructed):
    d = (real.double() - reconstructed.double()).abs()
    return (d.sum() / d.numel()).to(real.dtype)


def _cycle_nn_module(real, reconstructed):
    return nn.L1Loss()(real, reconstructed)


WRONG_L1 = [
    (lambda a, b: F.mse_loss(b, a), "squared error"),
    (lambda a, b: (b - a).mean(), "absolute value is missing"),
    (lambda a, b: (b - a).abs().sum(), "you summed over all elements"),
    (lambda a, b: (b - a).abs().flatten(1).sum(1).mean(), "summed |a - b| over each image"),
    (lambda a, b: (b - a).abs(), r"expected a scalar"),
    (lambda a, b: (b - a).flatten(1).norm(dim=1).mean(), "L2 \\*norm\\*"),
    (lambda a, b: F.l1_loss(b, a).detach(), "without gradient"),
]


@pytest.mark.parametrize("fn, message", WRONG_L1)
def test_check_cycle_loss_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_cycle_loss(fn)


def test_check_identity_loss_names_the_lecture_erratum():
    with pytest.raises(AssertionError, match="lecture slide does; that slide is an erratum"):
        C.check_identity_loss(lambda real, same: ((same - real) ** 2).mean())
    with pytest.raises(AssertionError, match="you summed over all elements"):
        C.check_identity_loss(lambda real, same: (same - real).abs().sum())
    with pytest.raises(AssertionError, match="absolute value is missing"):
        C.check_identity_loss(lambda real, same: (real - same).mean())


@pytest.mark.parametrize("fn", [_cycle_f_l1, _cycle_float64, _cycle_nn_module])
def test_check_cycle_and_identity_accept_correct_variants(fn, capsys):
    _passes(C.check_cycle_loss, fn, capsys)
    _passes(C.check_identity_loss, fn, capsys)


# ---------------------------------------------------------------------------------------
# pix2pix_generator_loss
# ---------------------------------------------------------------------------------------


def _p2p_bce(fake_logits, fake, target, lambda_l1=100):
    adv = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    return adv + lambda_l1 * F.l1_loss(fake, target)


def _p2p_logsigmoid(fake_logits, fake, target, lambda_l1=100.0):
    return -F.logsigmoid(fake_logits).mean() + lambda_l1 * (fake - target).abs().mean()


def _p2p_naive(fake_logits, fake, target, lambda_l1=100.0):
    return -torch.log(torch.sigmoid(fake_logits)).mean() + lambda_l1 * F.l1_loss(fake, target)


WRONG_P2P = [
    (
        lambda lo, f, t, lambda_l1=100: lambda_l1 * F.softplus(-lo).mean() + F.l1_loss(f, t),
        "lambda_l1 multiplies the wrong term",
    ),
    (
        lambda lo, f, t, lambda_l1=100: F.softplus(-lo).mean() + lambda_l1 * F.mse_loss(f, t),
        r"squared error \(L2\)",
    ),
    (
        lambda lo, f, t, lambda_l1=100: -F.softplus(lo).mean() + lambda_l1 * F.l1_loss(f, t),
        "saturating minimax",
    ),
    (
        lambda lo, f, t, lambda_l1=100: F.softplus(lo).mean() + lambda_l1 * F.l1_loss(f, t),
        "pushes the wrong way",
    ),
    (
        lambda lo, f, t, lambda_l1=100: F.softplus(-lo).mean() + F.l1_loss(f, t),
        "lambda_l1 is ignored",
    ),
    (lambda lo, f, t, lambda_l1=100: lambda_l1 * F.l1_loss(f, t), "adversarial term is missing"),
    (_p2p_naive, "wrong for large logits"),
]


@pytest.mark.parametrize("fn, message", WRONG_P2P)
def test_check_pix2pix_generator_loss_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_pix2pix_generator_loss(fn)


@pytest.mark.parametrize("fn", [_p2p_bce, _p2p_logsigmoid])
def test_check_pix2pix_generator_loss_accepts_correct_variants(fn, capsys):
    _passes(C.check_pix2pix_generator_loss, fn, capsys)


# ---------------------------------------------------------------------------------------
# cyclegan_generator_loss
# ---------------------------------------------------------------------------------------


def _cg_mse(
    fake_y_scores,
    fake_x_scores,
    real_x,
    real_y,
    rec_x,
    rec_y,
    same_x=None,
    same_y=None,
    lambda_cyc=10.0,
    lambda_id=0.5,
):
    adv = F.mse_loss(fake_y_scores, torch.ones_like(fake_y_scores))
    adv = adv + F.mse_loss(fake_x_scores, torch.ones_like(fake_x_scores))
    cyc = F.l1_loss(rec_x, real_x) + F.l1_loss(rec_y, real_y)
    total = adv + lambda_cyc * cyc
    if same_x is not None and same_y is not None:
        total = total + lambda_cyc * lambda_id * (
            F.l1_loss(same_x, real_x) + F.l1_loss(same_y, real_y)
        )
    return total


def _cg_float64(
    fake_y_scores,
    fake_x_scores,
    real_x,
    real_y,
    rec_x,
    rec_y,
    same_x=None,
    same_y=None,
    lambda_cyc=10.0,
    lambda_id=0.5,
):
    def l1(a, b):
        return (a.double() - b.double()).abs().mean()

    terms = [((s.double() - 1) ** 2).mean() for s in (fake_y_scores, fake_x_scores)]
    terms.append(lambda_cyc * l1(real_x, rec_x))
    terms.append(lambda_cyc * l1(real_y, rec_y))
    if same_x is not None and same_y is not None:
        w = lambda_id * lambda_cyc
        terms += [w * l1(real_x, same_x), w * l1(real_y, same_y)]
    return torch.stack(terms).sum().to(real_x.dtype)


def _cg_wrong(**changes):
    """_cg_mse with one part changed."""
    adv = changes.get("adv", lambda s: F.mse_loss(s, torch.ones_like(s)))
    cyc = changes.get("cyc", F.l1_loss)
    ident = changes.get("ident", F.l1_loss)

    def loss(fy, fx, rx, ry, cx, cy, sx=None, sy=None, lambda_cyc=10.0, lambda_id=0.5):
        a = changes.get("adv_w", lambda lc: 1.0)(lambda_cyc)
        c = changes.get("cyc_w", lambda lc: lc)(lambda_cyc)
        i = changes.get("id_w", lambda lc, li: lc * li)(lambda_cyc, lambda_id)
        cycles = cyc(cx, rx) + (0 if changes.get("one_cycle") else cyc(cy, ry))
        total = a * (adv(fy) + adv(fx)) + c * cycles
        if sx is not None and sy is not None:
            total = total + i * (ident(sx, rx) + ident(sy, ry))
        return total

    return loss


def _cg_identity_always(
    fy, fx, rx, ry, cx, cy, same_x=None, same_y=None, lambda_cyc=10.0, lambda_id=0.5
):
    total = _cg_mse(fy, fx, rx, ry, cx, cy, lambda_cyc=lambda_cyc)
    return total + lambda_cyc * lambda_id * (
        (same_x - rx).abs().mean() + (same_y - ry).abs().mean()
    )


WRONG_CG = [
    (_cg_wrong(one_cycle=True), "only one cycle direction"),
    (_cg_wrong(adv_w=lambda lc: lc, cyc_w=lambda lc: 1.0), "lambda_cyc multiplies the wrong term"),
    (_cg_wrong(id_w=lambda lc, li: li), r"identity weight is lambda_id \* lambda_cyc"),
    (_cg_wrong(ident=F.mse_loss), "squared L2 identity loss of the lecture slide"),
    (_cg_wrong(adv=lambda s: F.softplus(-s).mean()), "CycleGAN uses least squares"),
    (_cg_wrong(adv=lambda s: 0.5 * F.mse_loss(s, torch.ones_like(s))), "factor 1/2"),
    (_cg_wrong(adv=lambda s: (s**2).mean()), "label of \\*fakes\\*"),
    (_cg_identity_always, "leave the identity term out"),
    (lambda *a, **k: _cg_mse(*a[:6], **k), "identity term is missing"),
]


@pytest.mark.parametrize("fn, message", WRONG_CG)
def test_check_cyclegan_generator_loss_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_cyclegan_generator_loss(fn)


@pytest.mark.parametrize("fn", [_cg_mse, _cg_float64])
def test_check_cyclegan_generator_loss_accepts_correct_variants(fn, capsys):
    _passes(C.check_cyclegan_generator_loss, fn, capsys)


# ---------------------------------------------------------------------------------------
# receptive_field
# ---------------------------------------------------------------------------------------


def _rf_backwards(layers):
    """From the output back to the input: r_in = (r_out - 1) * s + k."""
    r = 1
    for k, s in reversed(layers):
        r = (r - 1) * s + k
    return r


def _rf_closed_form(layers):
    total, jump = 1, 1
    for k, s in layers:
        total, jump = total + (k - 1) * jump, jump * s
    return total


def _rf_tensor(layers):
    if not layers:
        return torch.tensor(1)
    k = torch.tensor([layer[0] for layer in layers])
    s = torch.tensor([layer[1] for layer in layers])
    jumps = torch.cumprod(torch.cat([torch.ones(1, dtype=s.dtype), s[:-1]]), 0)
    return 1 + ((k - 1) * jumps).sum()


WRONG_RF = [
    (C._rf_sum_kernels, "you added the kernel sizes"),
    (C._rf_no_strides, "the strides are ignored"),
    (C._rf_jump_after, "current layer's stride before"),
    (C._rf_from_zero, "off by one"),
    (C._rf_summed_strides, "you summed the strides"),
    (C._rf_reversed, "from output to input"),
    (lambda layers: None, "forget a `return`"),
]


@pytest.mark.parametrize("fn, message", WRONG_RF)
def test_check_receptive_field_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_receptive_field(fn)


@pytest.mark.parametrize("fn", [_rf_backwards, _rf_closed_form, _rf_tensor])
def test_check_receptive_field_accepts_correct_variants(fn, capsys):
    _passes(C.check_receptive_field, fn, capsys)


# ---------------------------------------------------------------------------------------
# ImagePool
# ---------------------------------------------------------------------------------------


class PoolOriginal:
    """The original code's structure: Python's random, (1, C, H, W) entries, torch.cat."""

    def __init__(self, size=50):
        self.size = size
        self.images = []

    def query(self, images):
        if self.size == 0:
            return images
        out = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                i = random.randint(0, self.size - 1)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


class PoolTorch:
    """Torch randomness, a mask drawn per batch element."""

    def __init__(self, size=50):
        self.size = size
        self.images = []

    def query(self, images):
        if self.size == 0:
            return images
        images = images.detach()
        result = images.clone()
        swap = torch.rand(len(images)) < 0.5
        for b in range(len(images)):
            if len(self.images) < self.size:
                self.images.append(images[b].clone())
            elif swap[b]:
                i = int(torch.randint(self.size, ()))
                result[b] = self.images[i]
                self.images[i] = images[b].clone()
        return result


class PoolNumpy(PoolOriginal):
    """NumPy's global generator, keeps (C, H, W) clones."""

    def query(self, images):
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif np.random.rand() > 0.5:
                i = np.random.randint(len(self.images))
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)


class PoolNeverStores(PoolOriginal):
    def query(self, images):
        return images


class PoolAlwaysNew(PoolOriginal):
    def query(self, images):
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.detach())
        return images


class PoolAlwaysOld(PoolOriginal):
    def query(self, images):
        out = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.detach())
                out.append(image)
            else:
                i = random.randint(0, self.size - 1)
                out.append(self.images[i])
                self.images[i] = image.detach()
        return torch.stack(out)


class PoolKeepsOld(PoolOriginal):
    """Returns an old image but forgets to store the new one."""

    def query(self, images):
        out = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.detach())
                out.append(image)
            elif random.random() > 0.5:
                out.append(self.images[random.randint(0, self.size - 1)])
            else:
                out.append(image)
        return torch.stack(out)


class PoolGrows(PoolOriginal):
    """Appends every image: the pool grows without bound."""

    def query(self, images):
        out = []
        for image in images:
            if len(self.images) >= self.size and random.random() > 0.5:
                out.append(self.images[random.randint(0, len(self.images) - 1)])
            else:
                out.append(image)
            self.images.append(image.detach())
        return torch.stack(out)


class PoolPerBatch(PoolOriginal):
    """One coin per batch."""

    def query(self, images):
        if len(self.images) < self.size:
            self.images.extend(i.detach() for i in images[: self.size - len(self.images)])
            return images
        if random.random() < 0.5:
            return images
        out = []
        for image in images:
            i = random.randint(0, self.size - 1)
            out.append(self.images[i])
            self.images[i] = image.detach()
        return torch.stack(out)


class PoolFirstSlot(PoolOriginal):
    """Always swaps slot 0."""

    def query(self, images):
        out = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.detach())
                out.append(image)
            elif random.random() > 0.5:
                out.append(self.images[0])
                self.images[0] = image.detach()
            else:
                out.append(image)
        return torch.stack(out)


class PoolKeepsGraph(PoolOriginal):
    def query(self, images):
        out = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.random() > 0.5:
                i = random.randint(0, self.size - 1)
                out.append(self.images[i])
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)


WRONG_POOL = [
    (PoolNeverStores, "while filling, store every new image"),
    (PoolAlwaysNew, "never returns an old image"),
    (PoolAlwaysOld, "almost\\) every time"),
    (PoolKeepsOld, "the new image takes its"),
    (PoolGrows, "more than size"),
    (PoolPerBatch, "whole batches at once"),
    (PoolFirstSlot, "same few slots"),
    (PoolKeepsGraph, "still require grad"),
]


@pytest.mark.parametrize("cls, message", WRONG_POOL, ids=[c.__name__ for c, _ in WRONG_POOL])
def test_check_image_pool_names_the_mistake(cls, message):
    with pytest.raises(AssertionError, match=message):
        C.check_image_pool(cls)


@pytest.mark.parametrize("cls", [PoolOriginal, PoolTorch, PoolNumpy])
def test_check_image_pool_accepts_correct_variants(cls, capsys):
    _passes(C.check_image_pool, cls, capsys)


def test_check_image_pool_leaves_the_rngs_alone():
    random.seed(5)
    torch.manual_seed(5)
    np.random.seed(5)
    expected = (random.random(), torch.rand(2), np.random.rand())
    random.seed(5)
    torch.manual_seed(5)
    np.random.seed(5)
    C.check_image_pool(PoolNumpy)
    got = (random.random(), torch.rand(2), np.random.rand())
    assert got[0] == expected[0] and torch.equal(got[1], expected[1]) and got[2] == expected[2]


# ---------------------------------------------------------------------------------------
# UNetGenerator
# ---------------------------------------------------------------------------------------


class UNetLoop(nn.Module):
    """Lists of layers and an explicit stack of skips; concatenation order [up, skip]."""

    def __init__(
        self, in_channels, out_channels, num_downs, ngf=64, skips=True, cap=8, same_level=True
    ):
        super().__init__()
        c = [ngf * min(2**i, cap) for i in range(num_downs)]
        self.skips, self.same_level = skips, same_level
        self.down = nn.ModuleList(
            nn.Conv2d(a, b, 4, 2, 1) for a, b in zip([in_channels, *c[:-1]], c, strict=True)
        )
        self.up = nn.ModuleList()
        for i in reversed(range(num_downs)):
            inner = c[i] * (2 if skips and i < num_downs - 1 else 1)
            self.up.append(nn.ConvTranspose2d(inner, out_channels if i == 0 else c[i - 1], 4, 2, 1))

    def forward(self, x):
        feats = []
        for i, conv in enumerate(self.down):
            x = conv(x if i == 0 else F.leaky_relu(x, 0.2))
            feats.append(x)
        h = feats.pop()
        for j, conv in enumerate(self.up):
            if j > 0 and self.skips:
                skip = feats.pop() if self.same_level else feats.pop(0)
                h = torch.cat([h, skip], dim=1)
            h = conv(F.relu(h))
        return torch.tanh(h)


class UNetRecursive(nn.Module):
    """The reference's recursive structure written differently, with batch norm."""

    def __init__(self, in_channels, out_channels, num_downs, ngf=64):
        super().__init__()
        c = [ngf * min(2**i, 8) for i in range(num_downs)]
        self.enc = nn.ModuleList()
        self.dec = nn.ModuleList()
        prev = in_channels
        for i, ch in enumerate(c):
            self.enc.append(
                nn.Sequential(
                    *([] if i == 0 else [nn.LeakyReLU(0.2)]),
                    nn.Conv2d(prev, ch, 4, 2, 1),
                    *([nn.BatchNorm2d(ch)] if 0 < i < num_downs - 1 else []),
                )
            )
            prev = ch
        for i in range(num_downs):
            inner = c[i] * (1 if i == num_downs - 1 else 2)
            out = out_channels if i == 0 else c[i - 1]
            tail = [nn.Tanh()] if i == 0 else [nn.BatchNorm2d(out)]
            self.dec.append(
                nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(inner, out, 4, 2, 1), *tail)
            )

    def forward(self, x):
        feats = []
        for layer in self.enc:
            x = layer(x)
            feats.append(x)
        h = feats[-1]
        for i in reversed(range(len(self.dec))):
            h = self.dec[i](h)
            if i > 0:
                h = torch.cat([feats[i - 1], h], 1)
        return h


class UNetNoSkips(UNetLoop):
    def __init__(self, in_channels, out_channels, num_downs, ngf=64):
        super().__init__(in_channels, out_channels, num_downs, ngf, skips=False)


class UNetAddedSkips(UNetNoSkips):
    def forward(self, x):
        feats = []
        for i, conv in enumerate(self.down):
            x = conv(x if i == 0 else F.leaky_relu(x, 0.2))
            feats.append(x)
        h = feats.pop()
        for j, conv in enumerate(self.up):
            if j > 0:
                h = h + feats.pop()
            h = conv(F.relu(h))
        return torch.tanh(h)


class UNetWrongLevel(UNetLoop):
    def __init__(self, in_channels, out_channels, num_downs, ngf=64):
        super().__init__(in_channels, out_channels, num_downs, ngf, same_level=False)


class UNetNoCap(UNetLoop):
    def __init__(self, in_channels, out_channels, num_downs, ngf=64):
        super().__init__(in_channels, out_channels, num_downs, ngf, cap=1024)


class UNetNoTanh(UNetLoop):
    def forward(self, x):
        return torch.atanh(super().forward(x).clamp(-0.999, 0.999)) * 3


class UNetSkipsIgnored(UNetLoop):
    """Right layer sizes, but the skip half of each decoder input is zeros."""

    def forward(self, x):
        feats = []
        for i, conv in enumerate(self.down):
            x = conv(x if i == 0 else F.leaky_relu(x, 0.2))
            feats.append(x)
        h = feats.pop()
        for j, conv in enumerate(self.up):
            if j > 0:
                h = torch.cat([h, torch.zeros_like(feats.pop())], 1)
            h = conv(F.relu(h))
        return torch.tanh(h)


WRONG_UNET = [
    (UNetNoSkips, "the skips are missing or added"),
    (UNetAddedSkips, "the skips are missing or added"),
    (UNetWrongLevel, "different resolutions"),
    (UNetNoCap, "not capped"),
    (UNetNoTanh, "nn.Tanh"),
    (UNetSkipsIgnored, "only through the bottleneck"),
]


@pytest.mark.parametrize("cls, message", WRONG_UNET, ids=[c.__name__ for c, _ in WRONG_UNET])
def test_check_unet_generator_names_the_mistake(cls, message):
    with pytest.raises(AssertionError, match=message):
        C.check_unet_generator(cls)


@pytest.mark.parametrize("cls", [UNetLoop, UNetRecursive])
def test_check_unet_generator_accepts_correct_variants(cls, capsys):
    _passes(C.check_unet_generator, cls, capsys)


# ---------------------------------------------------------------------------------------
# The reference itself, a pasted copy, a subclass
# ---------------------------------------------------------------------------------------

FUNCTION_CHECKS = [
    (C.check_cycle_loss, ref.cycle_loss),
    (C.check_identity_loss, ref.identity_loss),
    (C.check_pix2pix_generator_loss, ref.pix2pix_generator_loss),
    (C.check_cyclegan_generator_loss, ref.cyclegan_generator_loss),
    (C.check_receptive_field, ref.receptive_field),
]
CLASS_CHECKS = [(C.check_image_pool, ref.ImagePool), (C.check_unet_generator, ref.UNetGenerator)]


def _exec_copy(reference):
    namespace = dict(vars(ref), __name__="student_notebook")
    exec(compile(inspect.getsource(reference), "<student cell>", "exec"), namespace)
    return namespace[reference.__name__]


@pytest.mark.parametrize("check, reference", FUNCTION_CHECKS + CLASS_CHECKS)
def test_check_refuses_the_reference(check, reference):
    with pytest.raises(AssertionError, match=NOT_YOURS):
        check(reference)


@pytest.mark.parametrize(
    "check, reference",
    [(c, r) for c, r in FUNCTION_CHECKS if r is not ref.cycle_loss and r is not ref.identity_loss]
    + CLASS_CHECKS,
)
def test_check_refuses_a_pasted_copy(check, reference):
    with pytest.raises(AssertionError, match=NOT_YOURS):
        check(_exec_copy(reference))


@pytest.mark.parametrize("check, reference", CLASS_CHECKS)
def test_class_check_refuses_a_subclass(check, reference):
    class Mine(reference):
        pass

    with pytest.raises(AssertionError, match=NOT_YOURS):
        check(Mine)


def test_unet_check_refuses_a_wrapper_that_builds_the_reference():
    class Wrapper(nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()
            self.inner = ref.UNetGenerator(*args, **kwargs)

        def forward(self, x):
            return self.inner(x)

    with pytest.raises(AssertionError, match="called the course's reference"):
        C.check_unet_generator(Wrapper)


def test_cyclegan_loss_check_refuses_the_reference_cycle_loss():
    def loss(fy, fx, rx, ry, cx, cy, sx=None, sy=None, lambda_cyc=10.0, lambda_id=0.5):
        total = _cg_mse(fy, fx, rx, ry, cx, cy, lambda_cyc=0.0)
        return total + lambda_cyc * (ref.cycle_loss(rx, cx) + ref.cycle_loss(ry, cy))

    with pytest.raises(AssertionError, match="called the course's reference"):
        C.check_cyclegan_generator_loss(loss)
