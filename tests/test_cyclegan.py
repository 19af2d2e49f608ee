"""Week 06 references (``course.cyclegan``) against PyTorch's own losses, closed forms and
measurements: the losses against ``F.l1_loss``/``F.mse_loss``/BCE-with-logits, the
receptive-field calculator against the receptive field *measured* by back-propagating
from one output unit of the PatchGAN, the image pool's statistics, and the U-Net's skips
against its Jacobian."""

from __future__ import annotations

import collections
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.cyclegan import (
    PALETTE,
    ImagePool,
    PatchDiscriminator,
    ResnetGenerator,
    UNetGenerator,
    cycle_loss,
    cyclegan_generator_loss,
    identity_loss,
    lsgan_generator_loss,
    paired_digits,
    patchgan_layers,
    pix2pix_generator_loss,
    receptive_field,
    unpaired_digits,
)
from course.gan import lsgan_losses

DTYPES = [torch.float32, torch.float64]


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _images(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=_gen(seed), dtype=dtype).tanh()


# ----------------------------------------------------------------------------- losses


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", [cycle_loss, identity_loss])
def test_l1_losses_equal_torch_l1_loss(loss, dtype):
    a, b = _images(4, 3, 8, 8, seed=1, dtype=dtype), _images(4, 3, 8, 8, seed=2, dtype=dtype)
    got = loss(a, b)
    assert got.shape == () and got.dtype == dtype
    torch.testing.assert_close(got, F.l1_loss(b, a))
    torch.testing.assert_close(got, nn.L1Loss()(a, b))
    assert loss(a, a).item() == 0


def test_l1_loss_gradient_is_sign_over_n():
    a = _images(2, 3, 4, 4, seed=3, dtype=torch.float64)
    b = _images(2, 3, 4, 4, seed=4, dtype=torch.float64).requires_grad_()
    cycle_loss(a, b).backward()
    torch.testing.assert_close(b.grad, torch.sign(b.detach() - a) / a.numel())


def test_l1_losses_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        cycle_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="floating-point"):
        identity_loss(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))


@pytest.mark.parametrize("dtype", DTYPES)
def test_pix2pix_generator_loss_is_bce_plus_100_l1(dtype):
    logits = torch.randn(3, 1, 4, 4, generator=_gen(5), dtype=dtype) * 3
    fake, target = (
        _images(3, 3, 16, 16, seed=6, dtype=dtype),
        _images(3, 3, 16, 16, seed=7, dtype=dtype),
    )
    bce = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    torch.testing.assert_close(
        pix2pix_generator_loss(logits, fake, target), bce + 100 * F.l1_loss(fake, target)
    )
    torch.testing.assert_close(pix2pix_generator_loss(logits, fake, target, lambda_l1=0.0), bce)
    # The non-saturating form: -log D(x, G(x)) with D = sigmoid(logits).
    torch.testing.assert_close(
        pix2pix_generator_loss(logits, fake, target, 0.0), -torch.log(torch.sigmoid(logits)).mean()
    )


def test_pix2pix_generator_loss_is_stable_for_large_logits():
    logits = torch.tensor([-200.0, 200.0])
    x = torch.zeros(1, 1, 2, 2)
    assert math.isclose(pix2pix_generator_loss(logits, x, x).item(), 100.0, rel_tol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lsgan_generator_loss_is_mse_to_one(dtype):
    s = torch.randn(4, 1, 3, 3, generator=_gen(8), dtype=dtype)
    torch.testing.assert_close(lsgan_generator_loss(s), F.mse_loss(s, torch.ones_like(s)))
    # Twice course.gan's g_loss (which carries the LSGAN paper's factor 1/2).
    torch.testing.assert_close(lsgan_generator_loss(s), 2 * lsgan_losses(s, s)[1])


def _cg_inputs(dtype=torch.float32, seed=10):
    scores = [torch.randn(2, 1, 3, 3, generator=_gen(seed + k), dtype=dtype) for k in range(2)]
    images = [_images(2, 3, 8, 8, seed=seed + 5 + k, dtype=dtype) for k in range(6)]
    return (*scores, *images)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cyclegan_generator_loss_with_standard_weights(dtype):
    fy, fx, rx, ry, cx, cy, sx, sy = _cg_inputs(dtype)
    one = torch.ones_like(fy)
    adv = F.mse_loss(fy, one) + F.mse_loss(fx, one)
    cyc = F.l1_loss(cx, rx) + F.l1_loss(cy, ry)
    ident = F.l1_loss(sx, rx) + F.l1_loss(sy, ry)
    torch.testing.assert_close(
        cyclegan_generator_loss(fy, fx, rx, ry, cx, cy, sx, sy), adv + 10 * cyc + 5 * ident
    )
    torch.testing.assert_close(cyclegan_generator_loss(fy, fx, rx, ry, cx, cy), adv + 10 * cyc)
    torch.testing.assert_close(
        cyclegan_generator_loss(fy, fx, rx, ry, cx, cy, sx, sy, lambda_cyc=2.0, lambda_id=0.25),
        adv + 2 * cyc + 0.5 * ident,
    )


def test_cyclegan_generator_loss_gradients_reach_every_generated_tensor():
    tensors = [t.requires_grad_() for t in _cg_inputs(torch.float64)]
    cyclegan_generator_loss(*tensors).backward()
    for i in (0, 1, 4, 5, 6, 7):
        assert tensors[i].grad is not None and tensors[i].grad.abs().sum() > 0


# ----------------------------------------------------------------------------- image pool


def _id_batch(first, n):
    return torch.arange(first, first + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2)


def _ids(x):
    return [int(v) for v in x[:, 0, 0, 0].tolist()]


def test_image_pool_fills_then_returns_half_old_half_new():
    pool = ImagePool(size=20, generator=_gen(0))
    x = _id_batch(0, 20)
    assert torch.equal(pool.query(x), x)  # filling: everything returned as is
    assert len(pool.images) == 20
    stored = collections.Counter(_ids(torch.stack(pool.images)))
    old = total = 0
    for r in range(500):
        x = _id_batch(100 + 4 * r, 4)
        out = pool.query(x)
        assert len(pool.images) <= 20
        after = collections.Counter(_ids(torch.stack(pool.images)))
        # Each image: returned itself (pool unchanged) or swapped with a stored one.
        assert after + collections.Counter(_ids(out)) == stored + collections.Counter(_ids(x))
        old += sum(a != b for a, b in zip(_ids(out), _ids(x), strict=True))
        total += 4
        stored = after
    # Binomial(2000, 1/2): standard deviation 0.011; 0.45..0.55 is 4.5 sigma.
    assert 0.45 < old / total < 0.55


def test_image_pool_is_reproducible_detached_and_can_be_off():
    runs = []
    for _ in range(2):
        pool = ImagePool(4, generator=_gen(3))
        runs.append(torch.cat([pool.query(_id_batch(4 * r, 4)) for r in range(10)]))
    assert torch.equal(*runs)
    pool = ImagePool(3)
    w = torch.ones((), requires_grad=True)
    out = pool.query(_id_batch(0, 5) * w)
    assert not out.requires_grad and not any(s.requires_grad for s in pool.images)
    off = ImagePool(0)
    x = _id_batch(0, 3)
    assert torch.equal(off.query(x), x) and off.images == []
    with pytest.raises(ValueError):
        ImagePool(-1)


# ----------------------------------------------------------------------------- receptive field


def _rf_backwards(layers):
    r = 1
    for k, s in reversed(layers):
        r = (r - 1) * s + k  # the input span of r units of a layer with kernel k, stride s
    return r


def test_receptive_field_of_the_standard_patchgan_is_70():
    assert receptive_field(patchgan_layers(3)) == 70
    assert receptive_field([]) == 1
    assert receptive_field([(3, 1)] * 4) == 9
    for layers in ([(7, 2), (3, 2), (3, 1)], [(2, 2)] * 5, [(5, 3), (1, 1), (4, 2)]):
        assert receptive_field(layers) == _rf_backwards(layers)


def _measured_receptive_field(model: nn.Module, channels: int, size: int) -> tuple[int, int]:
    x = torch.randn(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    out = model(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    touched = x.grad.abs().sum(dim=(0, 1)) != 0  # (size, size)
    rows = touched.any(dim=1).nonzero().flatten()
    cols = touched.any(dim=0).nonzero().flatten()
    assert rows.min() > 0 and rows.max() < size - 1, (
        "field clipped by the border: use a bigger input"
    )
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("n_layers, size", [(1, 48), (2, 64), (3, 128)])
def test_patch_discriminator_receptive_field_measured_by_backprop(n_layers, size):
    torch.manual_seed(n_layers)
    model = PatchDiscriminator(3, ndf=4, n_layers=n_layers, norm="none").double()
    convs = [(m.kernel_size[0], m.stride[0]) for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs == patchgan_layers(n_layers)
    expected = receptive_field(patchgan_layers(n_layers))
    assert _measured_receptive_field(model, 3, size) == (expected, expected)
    # Batch norm in eval mode is a per-channel affine map: same field.
    bn = PatchDiscriminator(3, ndf=4, n_layers=n_layers, norm="batch").double().eval()
    assert _measured_receptive_field(bn, 3, size) == (expected, expected)
    if n_layers == 3:
        assert expected == 70


def test_patch_discriminator_output_shape():
    d = PatchDiscriminator(6, ndf=8)
    assert d(torch.randn(2, 6, 64, 64)).shape == (2, 1, 6, 6)  # 64 -> 32 -> 16 -> 8 -> 7 -> 6


# ----------------------------------------------------------------------------- generators


def _conv_params(model):
    return sum(
        p.numel()
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
        for p in m.parameters()
    )


def test_unet_shapes_and_layer_sizes():
    g = UNetGenerator(1, 3, num_downs=3, ngf=4)
    out = g(torch.randn(2, 1, 16, 16))
    assert out.shape == (2, 3, 16, 16) and out.abs().max() <= 1
    # By hand: encoder 1->4->8->16, decoder 16->8, (8+8)->4, (4+4)->3, all 4x4 kernels.
    convs = [(1, 4), (4, 8), (8, 16), (16, 8), (16, 4), (8, 3)]
    assert _conv_params(g) == sum(i * o * 16 + o for i, o in convs)
    # Capped channels: ngf * min(2^i, 8).
    deep = UNetGenerator(1, 1, num_downs=6, ngf=1)
    enc = [m.out_channels for m in deep.modules() if isinstance(m, nn.Conv2d)]
    assert sorted(enc) == [1, 2, 4, 8, 8, 8]
    with pytest.raises(ValueError, match="divisible by 8"):
        g(torch.randn(1, 1, 12, 12))


def test_unet_skips_bypass_the_bottleneck():
    """With a 1x1 bottleneck of c channels, a U-Net *without* skips has Jacobian rank <= c;
    the skips carry the input around it (rank far above c)."""
    torch.manual_seed(0)
    g = UNetGenerator(1, 1, num_downs=3, ngf=2).double().eval()  # bottleneck 8 x 1 x 1
    x = torch.randn(64, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: g(v.view(1, 1, 8, 8)).flatten(), x)
    assert torch.linalg.matrix_rank(jac) > 20
    plain = nn.Sequential(  # the same encoder-decoder, no skips
        nn.Conv2d(1, 2, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(2, 4, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(4, 8, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(4, 2, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(2, 1, 4, 2, 1),
    ).double()
    jac = torch.autograd.functional.jacobian(lambda v: plain(v.view(1, 1, 8, 8)).flatten(), x)
    assert torch.linalg.matrix_rank(jac) <= 8


def test_resnet_generator_shapes():
    g = ResnetGenerator(3, 1, ngf=4, n_blocks=2)
    out = g(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 1, 16, 16) and out.abs().max() <= 1


# ----------------------------------------------------------------------------- data


@pytest.fixture
def fast(monkeypatch):
    """FAST mode: the offline digits, no download."""
    monkeypatch.setenv("COURSE_FAST", "1")


def test_paired_digits_paint_the_input_in_a_palette_colour(fast):
    ds = paired_digits(train=True)
    x, y, labels = ds.tensors
    assert x.shape[1:] == (1, 32, 32) and y.shape[1:] == (3, 32, 32) and len(labels) == len(x)
    assert x.min() >= -1 and x.max() <= 1 and y.min() >= -1 and y.max() <= 1
    ink = (x + 1) / 2  # (N, 1, H, W)
    # Recover each image's colour from its brightest pixel and repaint: must equal y.
    flat = ((y + 1) / 2).flatten(2)  # (N, 3, HW)
    idx = ink.flatten(1).argmax(dim=1)  # (N,)
    colour = flat[torch.arange(len(y)), :, idx] / ink.flatten(1).max(dim=1).values[:, None]
    palette01 = (PALETTE + 1) / 2
    nearest = torch.cdist(colour, palette01).argmin(dim=1)
    torch.testing.assert_close(colour, palette01[nearest], atol=1e-5, rtol=0)
    torch.testing.assert_close(y, ink * palette01[nearest][:, :, None, None] * 2 - 1)
    assert len(set(nearest.tolist())) == len(PALETTE)  # every colour occurs
    assert torch.equal(paired_digits(train=True).tensors[1], y)  # seeded
    small = paired_digits(train=True, n=100)
    assert len(small) == 100 and torch.equal(small.tensors[0], x[:100])


def test_unpaired_digits_are_two_disjoint_domains(fast):
    d = unpaired_digits(train=True)
    assert d.x.shape[1:] == d.y.shape[1:] == (3, 32, 32)
    assert abs(len(d.x) - len(d.y)) <= 1
    assert torch.equal(d.x[:, 0], d.x[:, 1]) and torch.equal(d.x[:, 0], d.x[:, 2])  # grey
    assert set(d.y.unique().tolist()) == {-1.0, 1.0}  # binarised, saturated colours
    # No image in both: Y's stroke masks never equal X's binarised strokes.
    mask_x = (d.x[:, 0] > 0).flatten(1)  # (N, HW)
    mask_y = (d.y.amax(dim=1) > 0).flatten(1)  # (M, HW)
    same = (mask_x[:, None, :] == mask_y[None, :, :]).all(dim=2)
    assert not same.any()
    grey_levels = ((d.x > -0.9) & (d.x < 0.9)).float().mean()
    assert grey_levels > 0.05  # X keeps its grey levels: more information than Y
