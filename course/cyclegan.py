"""Week 06 — image-to-image translation: pix2pix (paired) and CycleGAN (unpaired).

**pix2pix** (Isola et al., CVPR 2017) learns a map :math:`G: x \\mapsto y` from *pairs*
:math:`(x, y)`. A conditional discriminator :math:`D(x, y)` sees the input together with
the output, and the generator minimises

.. math::
    \\mathcal L_{cGAN}(G, D) + \\lambda\\, \\mathbb E_{x, y}\\lVert y - G(x)\\rVert_1,
    \\qquad \\lambda = 100,

with a **U-Net** generator (an encoder-decoder whose mirrored layers are joined by skip
connections) and a **PatchGAN** discriminator that classifies every 70x70 patch.

**CycleGAN** (Zhu et al., ICCV 2017) needs no pairs: two generators :math:`G: X \\to Y`,
:math:`F: Y \\to X`, two discriminators :math:`D_Y, D_X`, least-squares adversarial losses,
and the cycle-consistency loss :math:`\\mathbb E_x\\lVert F(G(x)) - x\\rVert_1 +
\\mathbb E_y\\lVert G(F(y)) - y\\rVert_1` with weight :math:`\\lambda_{cyc} = 10`, plus the
identity loss :math:`\\mathbb E_y\\lVert G(y) - y\\rVert_1 + \\mathbb E_x\\lVert F(x) - x\\rVert_1`
with weight :math:`0.5\\,\\lambda_{cyc}` (both L1: the lecture's squared-L2 identity loss is
an erratum). Discriminators are trained on a history of 50 generated images
(:class:`ImagePool`).

Conventions: images are ``(B, C, H, W)`` in ``[-1, 1]``; every L1 term is the **mean over
all elements** (as ``nn.L1Loss`` in the authors' code), not a per-image sum; weights are
applied by the caller except in the two full generator objectives. Discriminators output
raw scores (logits for pix2pix's BCE, least-squares scores for CycleGAN), one per patch.

The week's data: :func:`paired_digits` (grey digit -> the same digit in a random colour)
and :func:`unpaired_digits` (grey digits vs. binarised coloured digits, disjoint images),
both built from :func:`course.data.mnist` (torchvision MNIST, or its offline stand-in).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from course import data as _data

__all__ = [
    "PALETTE",
    "ImagePool",
    "PatchDiscriminator",
    "ResnetGenerator",
    "UNetGenerator",
    "UnpairedDigits",
    "cycle_loss",
    "cyclegan_generator_loss",
    "identity_loss",
    "lsgan_generator_loss",
    "paired_digits",
    "patchgan_layers",
    "pix2pix_generator_loss",
    "receptive_field",
    "unpaired_digits",
]


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError(f"{names} must be tensors, got {type(a).__name__}, {type(b).__name__}")
    if a.shape != b.shape:
        raise ValueError(
            f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}: "
            "compare each image with its own reconstruction (no broadcasting)"
        )
    if not a.is_floating_point() or not b.is_floating_point():
        raise ValueError(f"{names} must be floating-point images, got {a.dtype} and {b.dtype}")


# ----------------------------------------------------------------------------- the losses


def cycle_loss(real: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """One direction of the cycle-consistency loss: ``mean(|F(G(x)) - x|)``.

    .. math:: \\mathcal L_{cyc}^{X} = \\mathbb E_x \\lVert F(G(x)) - x \\rVert_1

    L1, averaged over **all** elements (batch, channels and pixels). The full cycle loss
    is the sum of both directions, ``cycle_loss(x, F(G(x))) + cycle_loss(y, G(F(y)))``;
    ``lambda_cyc`` is applied by the caller.

    Shapes: ``real``, ``reconstructed`` (B, C, H, W) (any equal shapes) -> scalar.
    """
    _check_pair(real, reconstructed, "real and reconstructed")
    return (reconstructed - real).abs().mean()  # scalar


def identity_loss(real: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """One term of the identity loss: ``mean(|G(y) - y|)`` for ``same = G(y)``.

    .. math:: \\mathcal L_{id}^{Y} = \\mathbb E_y \\lVert G(y) - y \\rVert_1

    A generator fed an image already in its target domain should return it unchanged,
    which keeps colours (Zhu et al. 2017, sec. 5.2). **L1**, mean over all elements: the
    lecture slide's squared L2 norm is an erratum. Weight ``0.5 * lambda_cyc`` by the caller.

    Shapes: ``real``, ``same`` (B, C, H, W) -> scalar.
    """
    _check_pair(real, same, "real and same")
    return (same - real).abs().mean()  # scalar


def lsgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """CycleGAN's least-squares generator loss ``mean((D(G(x)) - 1)^2)`` (no factor 1/2).

    The discriminator's loss is ``0.5 * (mean((D(y) - 1)^2) + mean(D(G(x))^2))``, i.e.
    ``course.gan.lsgan_losses(real, fake)[0]``. Shapes: (B, 1, h, w) patch scores -> scalar.
    """
    if not isinstance(fake_scores, torch.Tensor) or not fake_scores.is_floating_point():
        raise ValueError("fake_scores must be a floating-point tensor of discriminator outputs")
    return (fake_scores - 1).pow(2).mean()  # scalar


def pix2pix_generator_loss(
    fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor, lambda_l1: float = 100.0
) -> torch.Tensor:
    """The pix2pix generator objective (Isola et al. 2017, eq. 4), non-saturating form.

    .. math::
        \\mathcal L_G = \\mathbb E[-\\log D(x, G(x))] + \\lambda\\,\\mathbb E\\lVert y - G(x)\\rVert_1
        = \\mathrm{mean}(\\mathrm{softplus}(-\\ell)) + \\lambda\\,\\mathrm{mean}(|G(x) - y|)

    with :math:`\\ell = D(x, G(x))` the conditional discriminator's patch logits and
    :math:`\\lambda = 100` (the paper's value). ``lambda_l1=0`` gives the cGAN alone;
    the L1-only baseline simply drops the first term.

    Shapes: ``fake_logits`` (B, 1, h, w) (any shape), ``fake``, ``target`` (B, C, H, W) -> scalar.
    """
    _check_pair(fake, target, "fake and target")
    if not isinstance(fake_logits, torch.Tensor) or not fake_logits.is_floating_point():
        raise ValueError("fake_logits must be a floating-point tensor of discriminator logits")
    adversarial = F.softplus(-fake_logits).mean()  # -log sigmoid(l): the non-saturating loss
    return adversarial + lambda_l1 * (fake - target).abs().mean()  # scalar


def cyclegan_generator_loss(
    fake_y_scores: torch.Tensor,
    fake_x_scores: torch.Tensor,
    real_x: torch.Tensor,
    real_y: torch.Tensor,
    rec_x: torch.Tensor,
    rec_y: torch.Tensor,
    same_x: torch.Tensor | None = None,
    same_y: torch.Tensor | None = None,
    lambda_cyc: float = 10.0,
    lambda_id: float = 0.5,
) -> torch.Tensor:
    """The full generator-side CycleGAN objective (Zhu et al. 2017, eq. 3 + identity loss).

    .. math::
        \\mathcal L = \\mathbb E[(D_Y(G(x)) - 1)^2] + \\mathbb E[(D_X(F(y)) - 1)^2]
        + \\lambda_{cyc}\\,(\\lVert F(G(x)) - x\\rVert_1 + \\lVert G(F(y)) - y\\rVert_1)
        + \\lambda_{id}\\,\\lambda_{cyc}\\,(\\lVert F(x) - x\\rVert_1 + \\lVert G(y) - y\\rVert_1)

    Arguments: ``fake_y_scores = D_Y(G(x))``, ``fake_x_scores = D_X(F(y))`` (patch scores,
    least squares: no sigmoid), ``rec_x = F(G(x))``, ``rec_y = G(F(y))``, and optionally
    ``same_x = F(x)``, ``same_y = G(y)`` for the identity term (left out when either is
    None). Standard weights: ``lambda_cyc = 10``, identity weight ``lambda_id * lambda_cyc = 5``.
    Every norm is the mean over all elements.

    Shapes: scores (B, 1, h, w), images (B, C, H, W) -> scalar.
    """
    loss = lsgan_generator_loss(fake_y_scores) + lsgan_generator_loss(fake_x_scores)
    loss = loss + lambda_cyc * (cycle_loss(real_x, rec_x) + cycle_loss(real_y, rec_y))
    if same_x is not None and same_y is not None:
        ids = identity_loss(real_x, same_x) + identity_loss(real_y, same_y)
        loss = loss + lambda_id * lambda_cyc * ids
    return loss  # scalar


# ----------------------------------------------------------------------------- the image pool


class ImagePool:
    """The history of generated images the discriminators train on (Shrivastava et al. 2017).

    ``query(images)`` walks the batch image by image. While the pool holds fewer than
    ``size`` images, the new image is stored and returned. Once it is full, with
    probability 1/2 a randomly chosen *stored* image is returned and the new image takes
    its place; otherwise the new image is returned and the pool is left as it was. So
    once full about half of what the discriminator sees is older fakes, which damps the
    oscillation of the two players. ``size=0`` turns the pool off.

    Stored and returned images are detached (the pool must not keep generator graphs).
    Randomness comes from ``generator`` (a ``torch.Generator``; the global RNG when None).

    Attributes: ``size``; ``images``, the list of stored ``(C, H, W)`` tensors.
    Shapes: ``query`` (B, C, H, W) -> (B, C, H, W), same dtype and device.
    """

    def __init__(self, size: int = 50, generator: torch.Generator | None = None):
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"size must be an int >= 0, got {size!r}")
        self.size = size
        self.generator = generator
        self.images: list[torch.Tensor] = []

    def _uniform(self) -> float:
        return torch.rand((), generator=self.generator).item()

    def _index(self) -> int:
        return int(torch.randint(len(self.images), (), generator=self.generator))

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.ndim < 2:
            raise ValueError("images must be a batch tensor (B, C, H, W)")
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for image in images:  # (C, H, W)
            if len(self.images) < self.size:  # still filling: store and return it
                self.images.append(image.clone())
                out.append(image)
            elif self._uniform() < 0.5:  # swap: return an old image, keep the new one
                i = self._index()
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)  # (B, C, H, W)


# ----------------------------------------------------------------------------- PatchGAN


def receptive_field(layers: list[tuple[int, int]]) -> int:
    """The receptive field (pixels per side) of one output unit of a stack of convolutions.

    ``layers`` lists ``(kernel, stride)`` from the input to the output. Walking from the
    input, ``jump`` is the distance in input pixels between neighbouring units of the
    current layer (the product of the strides *before* it), and each layer widens the
    field by ``(kernel - 1) * jump``:

    .. math:: r = 1 + \\sum_l (k_l - 1) \\prod_{i < l} s_i

    The standard 70x70 PatchGAN, ``[(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)]``, gives 70.
    Padding does not change the field's size (it only moves it). An empty list gives 1.
    """
    r, jump = 1, 1
    for layer in layers:
        k, s = layer
        if int(k) != k or int(s) != s or k < 1 or s < 1:
            raise ValueError(f"each layer is (kernel, stride) with positive ints, got {layer!r}")
        r += (k - 1) * jump  # this layer spans k units of the previous one
        jump *= s  # units of this layer are s previous units apart
    return int(r)


def patchgan_layers(n_layers: int = 3) -> list[tuple[int, int]]:
    """``(kernel, stride)`` of :class:`PatchDiscriminator`'s convolutions, input to output.

    ``n_layers`` stride-2 convolutions, then two stride-1 ones (4x4 kernels throughout):
    ``n_layers=3`` -> 70x70 receptive field, 2 -> 34, 1 -> 16, 4 -> 142.
    """
    return [(4, 2)] * n_layers + [(4, 1), (4, 1)]


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels)  # no affine parameters, as in CycleGAN
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'instance', 'batch' or 'none', got {kind!r}")


class PatchDiscriminator(nn.Module):
    """The PatchGAN discriminator of pix2pix/CycleGAN: one score per overlapping patch.

    ``Conv(4, 2) LeakyReLU(0.2)``, then ``n_layers - 1`` blocks ``Conv(4, 2) Norm
    LeakyReLU``, one ``Conv(4, 1) Norm LeakyReLU`` and a final ``Conv(4, 1)`` to one
    channel; padding 1, channels ``ndf * min(2^i, 8)``. With ``n_layers=3`` every output
    unit sees a 70x70 input patch (:func:`receptive_field`), so the discriminator judges
    local texture and sharpness, while the L1 or cycle term takes care of the low
    frequencies. For pix2pix, pass the pair ``torch.cat([x, y], 1)`` (``in_channels`` =
    both). Outputs are raw scores (B, 1, h, w): logits for BCE, scores for least squares.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        chans = [in_channels] + [ndf * min(2**i, 8) for i in range(n_layers + 1)]
        layers: list[nn.Module] = []
        for i, (k, s) in enumerate(patchgan_layers(n_layers)[:-1]):
            layers.append(nn.Conv2d(chans[i], chans[i + 1], k, s, padding=1))
            if i > 0:  # no normalisation on the first layer (pix2pix, sec. 6.1.2)
                layers.append(_norm(norm, chans[i + 1]))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Conv2d(chans[-1], 1, 4, 1, padding=1))  # one score per patch
        self.model = nn.Sequential(*layers)
        self.n_layers = n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, 1, h, w)


# ----------------------------------------------------------------------------- generators


class _UNetBlock(nn.Module):
    """One level of the U-Net: ``down -> inner -> up``, output ``cat([x, up], 1)``.

    The outermost level returns ``up`` itself (no skip around the whole network).
    """

    def __init__(
        self,
        outer: int,
        inner: int,
        sub: nn.Module | None,
        *,
        in_ch=None,
        out_ch=None,
        outermost=False,
        norm="instance",
    ):
        super().__init__()
        in_ch = outer if in_ch is None else in_ch
        down = nn.Conv2d(in_ch, inner, 4, 2, 1)  # halves H and W
        up_in = inner if sub is None else 2 * inner  # the inner level returns cat([x, up])
        if outermost:
            up = nn.ConvTranspose2d(up_in, out_ch, 4, 2, 1)
            layers = [down, sub, nn.ReLU(), up, nn.Tanh()]
        elif sub is None:  # innermost: no normalisation on the 1x1 bottleneck
            layers = [
                nn.LeakyReLU(0.2),
                down,
                nn.ReLU(),
                nn.ConvTranspose2d(up_in, outer, 4, 2, 1),
                _norm(norm, outer),
            ]
        else:
            layers = [
                nn.LeakyReLU(0.2),
                down,
                _norm(norm, inner),
                sub,
                nn.ReLU(),
                nn.ConvTranspose2d(up_in, outer, 4, 2, 1),
                _norm(norm, outer),
            ]
        self.model = nn.Sequential(*layers)
        self.outermost = outermost

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], dim=1)  # the skip: (B, 2 * outer, H, W)


class UNetGenerator(nn.Module):
    """The pix2pix U-Net: an encoder-decoder with skips between mirrored levels.

    Encoder: ``num_downs`` convolutions ``Conv(4, stride 2, padding 1)`` with channels
    ``c_i = ngf * min(2^i, 8)``, i = 0..num_downs-1 (LeakyReLU(0.2) before every one but the
    first, a norm after every one but the first and the last). Decoder: the mirror image
    with ``ConvTranspose(4, 2, 1)`` after a ReLU; every decoder level except the innermost
    takes the **concatenation** of the level below's output and the encoder feature of the
    same resolution (so its input has twice the channels); the last one maps ``2 * ngf`` to
    ``out_channels`` followed by tanh. H and W must be divisible by ``2 ** num_downs``
    (the bottleneck is ``H / 2^num_downs``).

    The skips carry the input's high-frequency detail straight to the output, so the
    bottleneck only has to carry what must change.

    Shapes: (B, in_channels, H, W) -> (B, out_channels, H, W) in [-1, 1].
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_downs: int,
        ngf: int = 64,
        norm: str = "instance",
    ):
        super().__init__()
        if num_downs < 1:
            raise ValueError(f"num_downs must be >= 1, got {num_downs}")
        chans = [ngf * min(2**i, 8) for i in range(num_downs)]  # encoder outputs c_0..c_{n-1}
        block = None
        for i in range(num_downs - 1, 0, -1):  # innermost first: level i joins c_{i-1} and c_i
            block = _UNetBlock(chans[i - 1], chans[i], block, norm=norm)
        self.model = (
            _UNetBlock(ngf, chans[0], block, in_ch=in_channels, out_ch=out_channels, outermost=True)
            if num_downs > 1
            else nn.Sequential(
                nn.Conv2d(in_channels, ngf, 4, 2, 1),
                nn.ReLU(),
                nn.ConvTranspose2d(ngf, out_channels, 4, 2, 1),
                nn.Tanh(),
            )
        )
        self.num_downs = num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.num_downs
        if x.ndim != 4 or x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(
                f"UNetGenerator(num_downs={self.num_downs}) needs (B, C, H, W) with H and W "
                f"divisible by {factor}, got {tuple(x.shape)}"
            )
        return self.model(x)  # (B, out_channels, H, W)


class _ResBlock(nn.Module):
    def __init__(self, ch: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3),
            _norm(norm, ch),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3),
            _norm(norm, ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # (B, ch, H, W)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator (Johnson et al. 2016): down, residual blocks, up.

    ``c7s1-ngf``, ``n_down`` stride-2 3x3 convolutions doubling the channels, ``n_blocks``
    residual blocks, ``n_down`` transposed convolutions back, ``c7s1-out_channels`` and tanh.
    The paper uses 6 blocks at 128x128 and 9 at 256x256. H and W must be divisible by
    ``2 ** n_down``. Shapes: (B, in, H, W) -> (B, out, H, W) in [-1, 1].
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ngf: int = 64,
        n_blocks: int = 6,
        n_down: int = 2,
        norm: str = "instance",
    ):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7),
            _norm(norm, ngf),
            nn.ReLU(),
        ]
        ch = ngf
        for _ in range(n_down):
            layers += [nn.Conv2d(ch, 2 * ch, 3, 2, 1), _norm(norm, 2 * ch), nn.ReLU()]
            ch *= 2
        layers += [_ResBlock(ch, norm) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1),
                _norm(norm, ch // 2),
                nn.ReLU(),
            ]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, out_channels, H, W)


# ----------------------------------------------------------------------------- the week's data

# Six saturated colours: every channel is exactly -1 or +1 (RGB in [-1, 1]).
PALETTE = torch.tensor(
    [[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1], [-1, 1, 1], [1, -1, 1]],
    dtype=torch.float32,
)


def _digit_images(train: bool, size: int, root, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` ``course.data.mnist`` images, padded/resized: (N, 1, size, size), (N,)."""
    x, y = _data.as_tensors(_data.mnist(train=train, root=root), n)  # (N, 1, 28, 28) in [-1, 1]
    if size == 32:
        x = F.pad(x, (2, 2, 2, 2), value=-1.0)  # (N, 1, 32, 32): a background border
    elif size != 28:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp(-1, 1).contiguous(), y


def _colourise(grey: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """Ink ``(grey + 1) / 2`` painted in ``colours`` (N, 3) on a black background."""
    ink = (grey + 1) / 2  # (N, 1, H, W) in [0, 1]
    rgb = (colours[:, :, None, None] + 1) / 2  # (N, 3, 1, 1) in [0, 1]
    return ink * rgb * 2 - 1  # (N, 3, H, W) in [-1, 1]


def paired_digits(
    train: bool = True, size: int = 32, root=None, seed: int = 0, n: int | None = None
) -> TensorDataset:
    """The paired task (pix2pix): a grey digit -> the same digit in a random colour.

    Items ``(x (1, size, size), y (3, size, size), label)``, all in [-1, 1]: ``y`` paints
    the ink of ``x`` in a colour drawn uniformly from the six of :data:`PALETTE`, per
    image (seeded). Colour cannot be predicted from the grey input, so an L1-only model
    can only output the per-pixel median colour: a dull, washed-out average, while the
    conditional GAN must commit to a plausible, saturated colour.

    Built from :func:`course.data.mnist` (torchvision MNIST; offline, scikit-learn's
    digits), 28x28 padded to 32x32 with background; ``n`` keeps the first ``n`` images.
    """
    grey, labels = _digit_images(train, size, root, n)
    gen = torch.Generator().manual_seed(seed + (0 if train else 1))
    colours = PALETTE[torch.randint(len(PALETTE), (len(labels),), generator=gen)]  # (N, 3)
    return TensorDataset(grey, _colourise(grey, colours), labels)


class UnpairedDigits(NamedTuple):
    """The two domains of :func:`unpaired_digits`: ``(x, y, labels_x, labels_y)``."""

    x: torch.Tensor  # (N, 3, H, W): grey digits, smooth ink, white on black
    y: torch.Tensor  # (M, 3, H, W): binarised digits in one of six saturated colours
    labels_x: torch.Tensor  # (N,): for evaluation only, never for training
    labels_y: torch.Tensor  # (M,)


def unpaired_digits(
    train: bool = True, size: int = 32, root=None, seed: int = 0, n: int | None = None
) -> UnpairedDigits:
    """The unpaired task (CycleGAN): two domains of digits built from *disjoint* images.

    * X: grey digits (the ink's smooth grey levels kept), repeated to 3 channels;
    * Y: other digits, **binarised** (ink > 0) and painted in one of the six colours of
      :data:`PALETTE`, so every pixel of Y is exactly +-1 per channel.

    A random half of the images (seeded) goes to X, the other half to Y: no image appears
    in both, so nothing pairs them. Y holds less information than X (no grey levels), so
    a cycle X -> Y -> X that reconstructs the grey levels must hide them in G(x): the
    steganography failure mode. Labels are returned for evaluation only. ``n`` uses the
    first ``n`` images of ``course.data.mnist`` (all when None) before the split.
    """
    grey, labels = _digit_images(train, size, root, n)
    gen = torch.Generator().manual_seed(seed + (0 if train else 1))
    perm = torch.randperm(len(labels), generator=gen)
    ix, iy = perm[: len(perm) // 2], perm[len(perm) // 2 :]
    x = grey[ix].repeat(1, 3, 1, 1)  # (N, 3, H, W)
    binary = torch.where(grey[iy] > 0, 1.0, -1.0)  # (M, 1, H, W): crisp strokes
    colours = PALETTE[torch.randint(len(PALETTE), (len(iy),), generator=gen)]  # (M, 3)
    return UnpairedDigits(x, _colourise(binary, colours), labels[ix], labels[iy])
