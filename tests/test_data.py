"""Tests for course.data: offline digits, the torchvision paths, 2-D toys, loaders."""

import math
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from course import data


@pytest.fixture
def full_mode(monkeypatch, tmp_path):
    """Not FAST mode, and datasets rooted in an empty temporary folder."""
    monkeypatch.delenv("COURSE_FAST", raising=False)
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    return tmp_path


# ----------------------------------------------------------------------------- digits


@pytest.mark.parametrize("train, n", [(True, 1437), (False, 360)])
def test_digits_shape_dtype_range_labels(train, n):
    ds = data.digits(train=train)
    x, y = ds.tensors
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert x.min() >= -1 and x.max() <= 1
    assert x.min() == -1  # background is exactly -1
    assert x.max() > 0.8  # strokes reach near +1: values were divided by 16, not by 255
    assert set(y.tolist()) == set(range(10))
    assert ds.offline is True and "digits" in ds.description
    assert ds.classes == [str(k) for k in range(10)]
    img, label = ds[0]
    assert img.shape == (1, 28, 28) and int(label) == int(y[0])


def test_digits_split_is_deterministic_and_disjoint():
    a, b = data.digits(train=True), data.digits(train=True)
    assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    train = data.digits(train=True, size=8).tensors[0].reshape(1437, -1)
    test = data.digits(train=False, size=8).tensors[0].reshape(360, -1)
    # sklearn's digits has no exact duplicate images, so disjoint indices = disjoint images
    both = torch.cat([train, test])
    assert torch.unique(both, dim=0).shape[0] == 1797


def test_digits_size_8_is_the_original_scaled():
    from sklearn.datasets import load_digits

    raw = torch.tensor(load_digits().images, dtype=torch.float32) / 16 * 2 - 1  # (1797, 8, 8)
    x = data.digits(train=True, size=8).tensors[0][:, 0]  # (1437, 8, 8)
    # every resized-to-8 image is exactly one of the originals (identity resize)
    dist = torch.cdist(x.reshape(len(x), -1), raw.reshape(len(raw), -1))
    assert dist.min(dim=1).values.max() < 1e-5


def test_digits_resize_preserves_the_image():
    small = data.digits(train=True, size=8).tensors[0]  # (N, 1, 8, 8)
    big = data.digits(train=True, size=28).tensors[0]  # (N, 1, 28, 28)
    back = F.adaptive_avg_pool2d(big, 8)  # (N, 1, 8, 8)
    a = small.reshape(len(small), -1)
    b = back.reshape(len(back), -1)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    corr = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))  # (N,)
    # 28 / 8 = 3.5 is not an integer, so pooling back blurs a little: mean > 0.95, worst > 0.9
    assert corr.mean() > 0.95 and corr.min() > 0.9
    flipped = back.transpose(2, 3).reshape(len(back), -1)  # a transposed resize must fail
    flipped = flipped - flipped.mean(1, keepdim=True)
    assert ((a * flipped).sum(1) / (a.norm(dim=1) * flipped.norm(dim=1))).mean() < 0.8


def test_digits_channels_and_size():
    x = data.digits(train=False, size=32, channels=3).tensors[0]
    assert x.shape == (360, 3, 32, 32)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    with pytest.raises(ValueError, match="channels"):
        data.digits(channels=2)
    with pytest.raises(ValueError, match="size"):
        data.digits(size=0)


# ----------------------------------------------------------------------------- offline paths


def test_mnist_fast_mode_prints_notice_and_returns_digits(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_FAST", "1")
    ds = data.mnist(train=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "MNIST" in out and "FAST" in out and "digits" in out
    assert ds.offline is True
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert torch.equal(ds.tensors[0], data.digits(train=True).tensors[0])
    assert len(data.mnist(train=False)) == 360


def test_fashion_and_cifar_stand_ins_are_announced(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_FAST", "1")
    fm = data.fashion_mnist(train=False)
    out = capsys.readouterr().out
    assert "FashionMNIST" in out and "stand-in" in out and "content is digits" in out
    assert fm[0][0].shape == (1, 28, 28) and fm.offline

    cf = data.cifar10(train=True)
    out = capsys.readouterr().out
    assert "CIFAR-10" in out and "stand-in" in out
    x = cf.tensors[0]
    assert x.shape == (1437, 3, 32, 32) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    # a colour tint: the channels differ, and differently from image to image
    assert not torch.equal(x[:, 0], x[:, 1])
    colour = x.amax(dim=(2, 3))  # (N, 3) brightest value per channel
    assert colour.std(dim=0).min() > 0.05
    assert torch.equal(x, data.cifar10(train=True).tensors[0])  # seeded tint


class _FailingDataset:
    """A torchvision-like class: no files on disk, and the network is down."""

    calls: list = []

    def __init__(self, root, train=True, transform=None, download=False):
        _FailingDataset.calls.append((download, socket.getdefaulttimeout()))
        if not download:
            raise RuntimeError("Dataset not found. You can use download=True to download it")
        raise OSError("[Errno 101] Network is unreachable")


def test_failed_download_falls_back_with_notice(full_mode, monkeypatch, capsys):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", _FailingDataset)
    _FailingDataset.calls = []
    before = socket.getdefaulttimeout()
    ds = data.mnist(train=False)
    out = capsys.readouterr().out
    assert ds.offline is True and ds[0][0].shape == (1, 28, 28) and len(ds) == 360
    assert out.count("\n") == 1
    assert "MNIST" in out and "could not be downloaded" in out and "OSError" in out
    # tried the disk first, then a download bounded by a socket timeout, then restored it
    assert [c[0] for c in _FailingDataset.calls] == [False, True]
    assert _FailingDataset.calls[1][1] == data.DOWNLOAD_TIMEOUT_S
    assert socket.getdefaulttimeout() == before


class _FakeMNIST:
    """A torchvision-like dataset 'on disk' holding one known 28x28 image."""

    pixels = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)  # 0..255, wrapping
    classes = ["0 - zero", "1 - one"]

    def __init__(self, root, train=True, transform=None, download=False):
        assert not download, "files are on disk: no download expected"
        self.root, self.train, self.transform = root, train, transform

    def __len__(self):
        return 1

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.pixels)), 7


def test_real_path_scales_to_minus_one_one(full_mode, monkeypatch, capsys):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", _FakeMNIST)
    ds = data.mnist(train=True)
    assert capsys.readouterr().out == ""  # no notice for the real dataset
    assert ds.offline is False and isinstance(ds, _FakeMNIST)
    assert ds.root == str(full_mode)  # COURSE_DATA is the default root
    x, y = ds[0]
    expected = torch.tensor(_FakeMNIST.pixels, dtype=torch.float32) / 255 * 2 - 1
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y == 7
    torch.testing.assert_close(x[0], expected, rtol=0, atol=1e-6)
    assert x.min() == -1 and x.max() == 1


def test_importing_course_data_does_not_import_torchvision():
    code = "import sys, course.data; assert 'torchvision' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ----------------------------------------------------------------------------- toy 2-D


@pytest.mark.parametrize("name", data.TOY_NAMES)
def test_toy_2d_shape_determinism_and_seeds(name):
    a = data.toy_2d(name, 500, seed=1)
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.isfinite(a).all() and a.abs().max() < 3.5
    assert torch.equal(a, data.toy_2d(name, 500, seed=1))
    assert not torch.allclose(a, data.toy_2d(name, 500, seed=2))
    assert data.toy_2d(name, 1).shape == (1, 2)


def test_toy_2d_does_not_touch_global_rng():
    torch.manual_seed(0)
    np.random.seed(0)
    expected_t, expected_np = torch.rand(3), np.random.rand(3)
    torch.manual_seed(0)
    np.random.seed(0)
    for name in data.TOY_NAMES:
        data.toy_2d(name, 10)
    assert torch.equal(torch.rand(3), expected_t)
    assert np.array_equal(np.random.rand(3), expected_np)


def test_8gaussians_radius_and_balanced_modes():
    n = 8000
    x = data.toy_2d("8gaussians", n, seed=0)
    radius = x.norm(dim=1)
    assert (radius - 2).abs().max() < 0.3
    modes = data.toy_2d_modes("8gaussians")  # (8, 2)
    assert modes.shape == (8, 2)
    torch.testing.assert_close(modes.norm(dim=1), torch.full((8,), 2.0))
    torch.testing.assert_close(modes[2], torch.tensor([0.0, 2.0]), atol=1e-6, rtol=0)
    nearest = torch.cdist(x, modes).argmin(dim=1)
    counts = torch.bincount(nearest, minlength=8).float()
    assert ((counts - n / 8).abs() < 0.15 * n / 8).all(), counts
    # std keyword: the spread around the nearest mode
    spread = (x - modes[nearest]).std()
    assert 0.04 < spread < 0.06
    wide = data.toy_2d("8gaussians", n, std=0.2)
    assert 0.17 < (wide - modes[torch.cdist(wide, modes).argmin(1)]).std() < 0.23


def test_25gaussians_modes_cover_the_grid():
    modes = data.toy_2d_modes("25gaussians")
    assert modes.shape == (25, 2)
    assert set(modes[:, 0].tolist()) == {-2.0, -1.0, 0.0, 1.0, 2.0}
    x = data.toy_2d("25gaussians", 5000)
    counts = torch.bincount(torch.cdist(x, modes).argmin(1), minlength=25)
    assert counts.min() > 120 and counts.max() < 280
    assert torch.cdist(x, modes).min(1).values.max() < 0.3


def test_checkerboard_occupies_black_squares():
    x = data.toy_2d("checkerboard", 4000)
    assert x.min() >= -2 and x.max() <= 2
    col, row = torch.floor(x[:, 0]) + 2, torch.floor(x[:, 1]) + 2
    assert ((row + col) % 2 == 0).all()
    cells = torch.bincount((row * 4 + col).long(), minlength=16)
    assert (cells > 0).sum() == 8


def test_circles_radii():
    r = data.toy_2d("circles", 2000).norm(dim=1)
    assert ((r - 1).abs() < 0.4).sum() + ((r - 2).abs() < 0.4).sum() == 2000
    assert ((r - 1).abs() < 0.4).sum() > 800 and ((r - 2).abs() < 0.4).sum() > 800


def test_toy_2d_bad_arguments():
    with pytest.raises(ValueError, match="8gaussians"):
        data.toy_2d("9gaussians", 10)
    with pytest.raises(ValueError, match="n must"):
        data.toy_2d("moons", 0)
    with pytest.raises(ValueError):
        data.toy_2d_modes("moons")


# ----------------------------------------------------------------------------- loading


def _indexed_dataset(n=50):
    return TensorDataset(torch.arange(n, dtype=torch.float32)[:, None], torch.arange(n))


def test_loader_order_is_reproducible_per_seed():
    ds = _indexed_dataset()

    def order(seed):
        return torch.cat([y for _, y in data.loader(ds, 8, seed=seed)]).tolist()

    torch.manual_seed(123)
    first = order(0)
    torch.manual_seed(456)  # the global seed must not matter
    assert order(0) == first
    assert order(1) != first
    assert sorted(first) == list(range(50))
    plain = torch.cat([y for _, y in data.loader(ds, 8, shuffle=False)]).tolist()
    assert plain == list(range(50))
    batches = list(data.loader(ds, 8, drop_last=True))
    assert len(batches) == 6 and all(len(b[1]) == 8 for b in batches)
    with pytest.raises(ValueError, match="batch_size"):
        data.loader(ds, 0)


def test_subset_and_as_tensors():
    ds = _indexed_dataset()
    sub = data.subset(ds, 10, seed=3)
    assert len(sub) == 10 and len(set(sub.indices)) == 10
    assert sub.indices == data.subset(ds, 10, seed=3).indices
    assert sub.indices != data.subset(ds, 10, seed=4).indices
    assert len(data.subset(ds, 500)) == 50

    x, y = data.as_tensors(sub)  # generic path (a Subset)
    assert x.shape == (10, 1) and y.dtype == torch.int64
    assert y.tolist() == sub.indices and torch.equal(x[:, 0].long(), y)
    x, y = data.as_tensors(ds, n=5)  # TensorDataset fast path
    assert torch.equal(y, torch.arange(5)) and x.shape == (5, 1)
    x, y = data.as_tensors(TensorDataset(torch.zeros(4, 2)))
    assert x.shape == (4, 2) and y is None


def test_as_tensors_on_digits_matches_tensors():
    ds = data.digits(train=False)
    x, y = data.as_tensors(data.subset(ds, 20, seed=0))
    idx = data.subset(ds, 20, seed=0).indices
    assert torch.equal(x, ds.tensors[0][idx]) and torch.equal(y, ds.tensors[1][idx])
    assert math.isclose(float(x.min()), -1.0)


def test_loader_pins_only_cpu_datasets():
    """A dataset already on an accelerator cannot be pinned (the week 01 notebook on Colab)."""
    from course.data import _on_cpu

    cpu = torch.utils.data.TensorDataset(torch.zeros(4, 2), torch.zeros(4))
    moved = torch.utils.data.TensorDataset(torch.zeros(4, 2, device="meta"))
    assert _on_cpu(cpu) and not _on_cpu(moved)
    assert not _on_cpu([(torch.zeros(2, device="meta"), 1)])
    assert _on_cpu([(torch.zeros(2), 1)])
