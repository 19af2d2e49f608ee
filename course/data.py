"""Datasets for the course: real images, 2-D toy distributions, and their offline stand-ins.

Conventions used by every week:

* Images are float32 tensors shaped ``(C, H, W)`` scaled to ``[-1, 1]`` (background
  ``-1``, ink ``+1``), so a generator with a ``tanh`` output matches the data.
  Labels are integer class indices.
* ``mnist``, ``fashion_mnist`` and ``cifar10`` are the torchvision datasets, downloaded
  to ``$COURSE_DATA`` (default ``~/.cache/course/data``). In FAST mode
  (``COURSE_FAST=1``), or when the files are missing and cannot be downloaded, they
  return a small *offline* dataset of the same shape and dtype built from
  scikit-learn's bundled handwritten digits (real images, no download), and print one
  line saying so. There is never a silent fallback: ``dataset.offline`` says which one
  you have and ``dataset.description`` what it holds.
* 2-D toy distributions (``toy_2d``) are ``(n, 2)`` float32 tensors drawn from a local
  random generator seeded by ``seed``: the global random state is never touched.

torchvision and scikit-learn are imported inside the functions that need them, so
``import course.data`` stays cheap.
"""

from __future__ import annotations

import math
import os
import socket
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from course.runtime import fast_mode

DATA_ENV = "COURSE_DATA"
DOWNLOAD_TIMEOUT_S = 15  # seconds per socket operation: a dead network fails fast, never hangs

DIGITS_N_TRAIN = 1437  # the fixed split of scikit-learn's 1,797 digits: 1,437 train / 360 test
DIGITS_SPLIT_SEED = 0
DIGIT_CLASSES = [str(k) for k in range(10)]

TOY_NAMES = ("8gaussians", "25gaussians", "moons", "circles", "swissroll", "checkerboard")


# ----------------------------------------------------------------------------- images


class OfflineDataset(TensorDataset):
    """A ``TensorDataset(x, y)`` that says what it is.

    Items are ``(image (C, H, W) float32 in [-1, 1], label 0-d int64 tensor)``.
    Attributes: ``offline = True``, ``description`` (what the images really are),
    ``classes`` (label names) and ``targets`` (all labels, (N,) int64).
    """

    offline = True

    def __init__(self, x: torch.Tensor, y: torch.Tensor, description: str, classes: list[str]):
        super().__init__(x, y)
        self.description = description
        self.classes = list(classes)
        self.targets = y

    def __repr__(self) -> str:
        x = self.tensors[0]
        return (
            f"OfflineDataset({len(self)} images of shape {tuple(x.shape[1:])}: {self.description})"
        )


def default_root() -> Path:
    """Where datasets are stored: ``$COURSE_DATA`` if set, else ``~/.cache/course/data``."""
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "course" / "data"


def _scale_to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]. A module-level function (not a lambda) so the transform pickles."""
    return x * 2 - 1


def _image_transform():
    """``ToTensor`` (uint8 HWC -> float CHW in [0, 1]) followed by ``x * 2 - 1``."""
    from torchvision import transforms

    return transforms.Compose([transforms.ToTensor(), transforms.Lambda(_scale_to_unit_range)])


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits (bundled, no download): (N, 8, 8) in 0..16, (N,)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)


def digits(train: bool = True, size: int = 28, channels: int = 1) -> OfflineDataset:
    """scikit-learn's handwritten digits as an image dataset scaled to ``[-1, 1]``.

    The 8x8 images (values 0..16) are divided by 16, resized to ``size x size`` with
    bilinear interpolation (``align_corners=False``) and mapped to ``[-1, 1]``:
    background is ``-1`` and full-intensity strokes ``+1``. ``channels=3`` repeats the
    grey channel. The split is fixed (a permutation seeded with 0): 1,437 training and
    360 test images, disjoint.

    Returns:
        ``OfflineDataset`` (a ``TensorDataset``) of ``x (N, channels, size, size)``
        float32 and ``y (N,)`` int64 in ``0..9``.
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int (pixels per side), got {size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    images, labels = _digits_arrays()
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    idx = perm[:DIGITS_N_TRAIN] if train else perm[DIGITS_N_TRAIN:]

    x = torch.from_numpy(images)[idx].unsqueeze(1) / 16.0  # (N, 1, 8, 8) in [0, 1]
    # Bilinear weights are convex, so the result stays in [0, 1]; the clamp guards round-off.
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)  # (N, 1, s, s)
    x = (x.clamp(0, 1) * 2 - 1).repeat(1, channels, 1, 1)  # (N, channels, s, s) in [-1, 1]
    y = torch.from_numpy(labels)[idx]  # (N,)
    split = "train" if train else "test"
    description = (
        f"scikit-learn handwritten digits ({split} split, {len(y):,} real images) "
        f"resized from 8x8 to {size}x{size}, {channels} channel{'s' if channels > 1 else ''}"
    )
    return OfflineDataset(x.contiguous(), y, description, DIGIT_CLASSES)


def _tinted_digits(train: bool, size: int = 32, seed: int = 0) -> OfflineDataset:
    """RGB digits with a random stroke colour per image (seeded), background black (-1)."""
    base = digits(train=train, size=size, channels=3)
    x, y = base.tensors
    gen = torch.Generator().manual_seed(seed + (0 if train else 1))
    colour = torch.rand(len(y), 3, 1, 1, generator=gen) * 0.8 + 0.2  # (N, 3, 1, 1) in [0.2, 1]
    colour = colour / colour.amax(dim=1, keepdim=True)  # brightest channel = 1: strokes stay vivid
    x = ((x + 1) / 2 * colour) * 2 - 1  # tint in [0, 1] space, back to [-1, 1]
    description = base.description.replace("3 channels", "3 channels, random colour tint")
    return OfflineDataset(x, y, description, DIGIT_CLASSES)


def _load_or_offline(
    name: str, cls_name: str, train: bool, root, offline_fn, offline_note: str, caveat: str = ""
):
    """The torchvision dataset ``cls_name`` if it is on disk or can be downloaded; else offline.

    ``offline_fn(train)`` builds the offline dataset; ``offline_note`` and ``caveat`` describe
    it in the one-line notice.
    """
    split = "train" if train else "test"
    if fast_mode():
        reason = "FAST mode is on (COURSE_FAST=1)"
    else:
        root = Path(root).expanduser() if root is not None else default_root()
        try:
            import torchvision.datasets as tvd

            cls = getattr(tvd, cls_name)
            transform = _image_transform()
            try:  # files already on disk: no network at all
                ds = cls(str(root), train=train, download=False, transform=transform)
            except Exception:
                old_timeout = socket.getdefaulttimeout()
                socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
                try:
                    ds = cls(str(root), train=train, download=True, transform=transform)
                finally:
                    socket.setdefaulttimeout(old_timeout)
            ds.offline = False
            ds.description = f"torchvision {cls_name} ({split} split) from {root}"
            return ds
        except Exception as err:  # no network, no torchvision, a corrupt file ...
            detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
            reason = f"it is not in {root} and could not be downloaded ({type(err).__name__}"
            reason += f": {detail[:120]})" if detail else ")"
    ds = offline_fn(train)
    caveat = f"; {caveat}" if caveat else ""
    print(
        f"course.data: {name} ({split}) is not used because {reason}; "
        f"using {offline_note} ({len(ds):,} real images{caveat}) instead."
    )
    return ds


def mnist(train: bool = True, root: str | os.PathLike | None = None) -> Dataset:
    """MNIST handwritten digits: items ``(image (1, 28, 28) float32 in [-1, 1], label 0..9)``.

    ``root`` defaults to :func:`default_root`. Offline (FAST mode, or no files and no
    network): scikit-learn's digits resized to 28x28, see :func:`digits`.
    ``dataset.offline`` tells which one was returned.
    """
    return _load_or_offline(
        "MNIST",
        "MNIST",
        train,
        root,
        lambda tr: digits(train=tr, size=28, channels=1),
        "scikit-learn's handwritten digits resized to 28x28",
    )


def fashion_mnist(train: bool = True, root: str | os.PathLike | None = None) -> Dataset:
    """Fashion-MNIST clothing images: items ``(image (1, 28, 28) float32 in [-1, 1], label 0..9)``.

    Offline it returns a stand-in: scikit-learn's digits at 28x28. Shapes and dtypes match
    Fashion-MNIST, the content is digits (and ``classes`` are digit names).
    """
    return _load_or_offline(
        "FashionMNIST",
        "FashionMNIST",
        train,
        root,
        lambda tr: _stand_in(digits(train=tr, size=28, channels=1), "FashionMNIST"),
        "a stand-in, scikit-learn's handwritten digits resized to 28x28",
        caveat="shapes match, content is digits",
    )


def cifar10(train: bool = True, root: str | os.PathLike | None = None) -> Dataset:
    """CIFAR-10 colour images: items ``(image (3, 32, 32) float32 in [-1, 1], label 0..9)``.

    Offline it returns a stand-in: scikit-learn's digits at 32x32 in RGB with a random
    (seeded) stroke colour per image. Shapes and dtypes match CIFAR-10, the content is
    coloured digits.
    """
    return _load_or_offline(
        "CIFAR-10",
        "CIFAR10",
        train,
        root,
        lambda tr: _stand_in(_tinted_digits(train=tr, size=32), "CIFAR-10"),
        "a stand-in, scikit-learn's handwritten digits resized to 32x32 RGB with a random tint",
        caveat="shapes match, content is digits",
    )


def _stand_in(ds: OfflineDataset, for_name: str) -> OfflineDataset:
    ds.description = f"stand-in for {for_name} (shapes match, content is digits): {ds.description}"
    return ds


# ----------------------------------------------------------------------------- loading


def loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = True,
    drop_last: bool = False,
    seed: int = 0,
) -> DataLoader:
    """A ``DataLoader`` that works the same on CPU, CUDA, Apple MPS, Colab and the grader.

    ``num_workers=0`` (worker processes break in some notebooks and cost start-up time),
    ``pin_memory`` only when CUDA is available, and shuffling driven by its own
    generator seeded with ``seed``: the same seed gives the same order, and the global
    random state is neither read nor changed.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=0,
        pin_memory=torch.cuda.is_available() and _on_cpu(dataset),
        generator=generator,
    )


def _on_cpu(dataset: Dataset) -> bool:
    """Whether the dataset yields CPU tensors (only those can be pinned: a dataset already
    moved to the GPU with ``.to(device())`` would make ``pin_memory`` fail)."""
    if isinstance(dataset, TensorDataset):
        return all(t.device.type == "cpu" for t in dataset.tensors)
    try:
        item = dataset[0]
    except (IndexError, KeyError, TypeError, NotImplementedError):
        return True
    items = item if isinstance(item, (tuple, list)) else (item,)
    return all(t.device.type == "cpu" for t in items if isinstance(t, torch.Tensor))


def subset(dataset: Dataset, n: int, seed: int = 0) -> Subset:
    """A random ``Subset`` of ``n`` distinct items (seeded), e.g. to shrink data in FAST mode.

    ``n`` larger than the dataset gives all of it, in a shuffled order.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (number of items), got {n!r}")
    perm = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return Subset(dataset, perm[:n].tolist())


def as_tensors(dataset: Dataset, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Stack a dataset (or its first ``n`` items) into tensors.

    Returns:
        ``x (N, ...)`` stacked inputs and ``y (N,)`` int64 labels, or ``None`` when the
        items carry no label (a single tensor or a 1-tuple).
    """
    total = len(dataset)
    n = total if n is None else min(n, total)
    if n < 1:
        raise ValueError(f"as_tensors needs at least one item, got n={n} (dataset size {total})")
    if isinstance(dataset, TensorDataset):  # fast path: no per-item loop
        tensors = [t[:n] for t in dataset.tensors]
        return tensors[0], (tensors[1].long() if len(tensors) > 1 else None)
    xs, ys = [], []
    for i in range(n):
        item = dataset[i]
        if isinstance(item, torch.Tensor):
            item = (item,)
        xs.append(torch.as_tensor(item[0]))
        if len(item) > 1:
            ys.append(int(item[1]))
    y = torch.tensor(ys, dtype=torch.long) if ys else None
    return torch.stack(xs), y  # (N, ...), (N,)


# ----------------------------------------------------------------------------- 2-D toys


def toy_2d_modes(name: str) -> torch.Tensor:
    """Mode centres of the Gaussian-mixture toys, ``(K, 2)`` float32.

    * ``"8gaussians"``: K = 8 points ``2 (cos 2 pi k / 8, sin 2 pi k / 8)``, k = 0..7,
      on the circle of radius 2.
    * ``"25gaussians"``: K = 25 grid points ``{-2, -1, 0, 1, 2}^2`` (row-major, x slowest).

    Used to count how many modes a generator covers (mode collapse).
    """
    if name == "8gaussians":
        angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8  # (8,)
        return (2 * torch.stack([angles.cos(), angles.sin()], dim=1)).float()  # (8, 2)
    if name == "25gaussians":
        g = torch.arange(-2, 3, dtype=torch.float32)  # (5,)
        return torch.cartesian_prod(g, g)  # (25, 2)
    raise ValueError(f"toy_2d_modes knows '8gaussians' and '25gaussians', got {name!r}")


def toy_2d(name: str, n: int, seed: int = 0, std: float = 0.05) -> torch.Tensor:
    """``n`` samples of a 2-D toy distribution, ``(n, 2)`` float32, deterministic per ``seed``.

    All live roughly in ``[-3, 3]^2`` (the default window of ``course.viz.plot_density``):

    * ``"8gaussians"``: mixture of 8 equally weighted Gaussians with std ``std`` centred on
      the circle of radius 2 at angles ``2 pi k / 8`` (see :func:`toy_2d_modes`).
    * ``"25gaussians"``: 25 equally weighted Gaussians with std ``std`` on the grid
      ``{-2, -1, 0, 1, 2}^2``.
    * ``"moons"``: scikit-learn's two moons (noise 0.05), centred and scaled by 1.5.
    * ``"circles"``: scikit-learn's two circles (factor 0.5, noise 0.05) scaled by 2:
      radii 2 and 1.
    * ``"swissroll"``: scikit-learn's swiss roll (noise 0.25), coordinates ``(x, z) / 5``.
    * ``"checkerboard"``: uniform on the 8 black squares of a 4x4 board of unit squares
      covering ``[-2, 2]^2`` (a square is black when its row + column index is even).

    ``std`` applies to the Gaussian mixtures only. Randomness comes from a local
    ``numpy.random.default_rng(seed)`` (or scikit-learn's ``random_state=seed``).
    """
    if name not in TOY_NAMES:
        raise ValueError(f"unknown toy distribution {name!r}; valid names: {', '.join(TOY_NAMES)}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int (number of samples), got {n!r}")
    n = int(n)
    rng = np.random.default_rng(seed)

    if name in ("8gaussians", "25gaussians"):
        centres = toy_2d_modes(name).numpy()  # (K, 2)
        k = rng.integers(0, len(centres), size=n)  # (n,) mode of each sample, uniform
        x = centres[k] + std * rng.standard_normal((n, 2))  # (n, 2)
    elif name == "moons":
        from sklearn.datasets import make_moons

        x, _ = make_moons(n_samples=n, noise=0.05, random_state=seed)  # x in [-1, 2], y in [-.5, 1]
        x = (x - np.array([0.5, 0.25])) * 1.5  # centred on the origin
    elif name == "circles":
        from sklearn.datasets import make_circles

        x, _ = make_circles(n_samples=n, factor=0.5, noise=0.05, random_state=seed)
        x = 2 * x  # radii 2 and 1
    elif name == "swissroll":
        from sklearn.datasets import make_swiss_roll

        x3, _ = make_swiss_roll(n_samples=n, noise=0.25, random_state=seed)  # (n, 3)
        x = x3[:, [0, 2]] / 5  # (n, 2): the roll seen from above
    else:  # checkerboard
        x1 = rng.uniform(-2, 2, size=n)  # (n,)
        col = np.floor(x1) + 2  # column index 0..3
        row = 2 * rng.integers(0, 2, size=n) + col % 2  # a row with row + col even: black square
        x2 = row - 2 + rng.uniform(0, 1, size=n)  # (n,)
        x = np.stack([x1, x2], axis=1)  # (n, 2)
    return torch.as_tensor(x, dtype=torch.float32)
