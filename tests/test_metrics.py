"""``course.metrics`` against closed forms and peer libraries.

Every expected value here comes from somewhere other than the code under test:
pytorch-fid's ``calculate_frechet_distance``, a ``scipy.linalg.sqrtm`` implementation,
torchmetrics' ``FrechetInceptionDistance``, ``numpy.cov``, ``scipy.special.rel_entr``,
or a closed form (equal Gaussians, mean shift, 1-D and commuting covariances, perfect
and constant classifiers).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import torch
from torch import nn

from course.metrics import (
    feature_statistics,
    fid,
    fid_from_features,
    frechet_distance,
    inception_score,
    mnist_feature_extractor,
)

# Agreement with an independent float64 computation on well-conditioned input.
RTOL = 1e-9


def _scipy_frechet(mu1, sigma1, mu2, sigma2):
    """Textbook formula with scipy's general (non-symmetric) matrix square root."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)


def _pytorch_fid_frechet(mu1, sigma1, mu2, sigma2):
    fid_score = pytest.importorskip(
        "pytorch_fid.fid_score", reason="pytorch-fid not installed (pip install pytorch-fid)"
    )
    with warnings.catch_warnings():  # scipy >= 1.16 deprecates sqrtm's `disp` argument
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(fid_score.calculate_frechet_distance(mu1, sigma1, mu2, sigma2))


REFERENCES = {"pytorch_fid": _pytorch_fid_frechet, "scipy_sqrtm": _scipy_frechet}


def _gaussian_pair(dim: int, seed: int = 0):
    """Statistics of two different, well-conditioned feature sets (N = 4 D samples each)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4 * dim, dim))
    y = rng.normal(size=(4 * dim, dim)) @ rng.normal(size=(dim, dim)) * 0.3 + 0.5
    return (*feature_statistics(x), *feature_statistics(y))


def _random_cov(rng, dim: int) -> np.ndarray:
    a = rng.normal(size=(dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


# --- frechet_distance --------------------------------------------------------------------


@pytest.mark.parametrize("reference", list(REFERENCES))
@pytest.mark.parametrize("dim", [8, 64, 256])
def test_frechet_distance_matches_reference(reference, dim):
    stats = _gaussian_pair(dim)
    expected = REFERENCES[reference](*stats)
    assert frechet_distance(*stats) == pytest.approx(expected, rel=RTOL)


def test_identical_gaussians_give_zero():
    rng = np.random.default_rng(1)
    mu, sigma = rng.normal(size=16), _random_cov(rng, 16)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_pure_mean_shift_gives_squared_distance():
    rng = np.random.default_rng(2)
    mu1, mu2, sigma = rng.normal(size=10), rng.normal(size=10), _random_cov(rng, 10)
    expected = float(np.sum((mu1 - mu2) ** 2))
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(expected, rel=1e-10)


def test_one_dimensional_closed_form():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2.
    m1, s1, m2, s2 = 0.3, 1.7, -1.1, 0.4
    got = frechet_distance(np.array([m1]), np.array([[s1**2]]), np.array([m2]), np.array([[s2**2]]))
    assert got == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-12)


def test_commuting_diagonal_covariances():
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.1, 3.0, size=12), rng.uniform(0.1, 3.0, size=12)
    mu1, mu2 = rng.normal(size=12), rng.normal(size=12)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-12)


def test_symmetric_in_its_arguments():
    mu1, sigma1, mu2, sigma2 = _gaussian_pair(32, seed=4)
    forward = frechet_distance(mu1, sigma1, mu2, sigma2)
    backward = frechet_distance(mu2, sigma2, mu1, sigma1)
    assert forward == pytest.approx(backward, rel=1e-12)


@pytest.mark.parametrize("n1, n2", [(20, 30), (10, 200)])
def test_singular_covariances_are_finite_and_close_to_scipy(n1, n2):
    # N < D: the covariances have rank N - 1 < D = 64.
    rng = np.random.default_rng(5)
    stats = (*feature_statistics(rng.normal(size=(n1, 64))),)
    stats += (*feature_statistics(rng.normal(size=(n2, 64)) + 0.2),)
    assert np.linalg.matrix_rank(stats[1]) == n1 - 1
    got = frechet_distance(*stats)
    assert np.isfinite(got) and got > 0
    # scipy's sqrtm of a singular product is itself only accurate to ~1e-8.
    assert got == pytest.approx(_scipy_frechet(*stats), rel=1e-6)


def test_rank_deficient_features_are_finite():
    # Features on a 3-dimensional subspace of R^16, many samples.
    rng = np.random.default_rng(6)
    basis = rng.normal(size=(3, 16))
    x, y = rng.normal(size=(500, 3)) @ basis, rng.normal(size=(400, 3)) @ basis + 1.0
    got = fid_from_features(x, y)
    assert np.isfinite(got)
    assert got == pytest.approx(
        _scipy_frechet(*feature_statistics(x), *feature_statistics(y)), rel=1e-6
    )


def test_zero_covariances_give_mean_term():
    mu1, mu2, zero = np.ones(5), np.zeros(5), np.zeros((5, 5))
    assert frechet_distance(mu1, zero, mu2, zero) == pytest.approx(5.0, rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_and_numpy_inputs_agree(dtype):
    stats = _gaussian_pair(16, seed=7)
    expected = frechet_distance(*stats)
    tensors = [torch.as_tensor(s, dtype=dtype) for s in stats]
    got = frechet_distance(*tensors)
    assert isinstance(got, float)
    # float32 inputs are rounded before the float64 computation.
    rel = 1e-12 if dtype == torch.float64 else 1e-5
    assert got == pytest.approx(expected, rel=rel)


@pytest.mark.parametrize(
    "mu1, sigma1, mu2, sigma2, match",
    [
        (np.zeros((2, 1)), np.eye(2), np.zeros(2), np.eye(2), r"shape \(D,\)"),
        (np.zeros(2), np.eye(2), np.zeros(3), np.eye(3), "different lengths"),
        (np.zeros(2), np.eye(3), np.zeros(2), np.eye(2), r"\(D, D\)"),
        (np.zeros(2), np.ones((5, 2)), np.zeros(2), np.eye(2), r"\(D, D\)"),
        (np.zeros(2), np.array([[1.0, 1.0], [0.0, 1.0]]), np.zeros(2), np.eye(2), "symmetric"),
        (np.array([0.0, np.nan]), np.eye(2), np.zeros(2), np.eye(2), "NaN or inf"),
        (np.zeros(2), np.eye(2), np.zeros(2), np.full((2, 2), np.inf), "NaN or inf"),
    ],
)
def test_frechet_distance_rejects_bad_input(mu1, sigma1, mu2, sigma2, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(mu1, sigma1, mu2, sigma2)


# --- feature_statistics ------------------------------------------------------------------


def test_feature_statistics_numpy_matches_numpy_cov():
    x = np.random.default_rng(8).normal(size=(50, 7)).astype(np.float32)
    mu, sigma = feature_statistics(x)
    assert isinstance(mu, np.ndarray) and isinstance(sigma, np.ndarray)
    assert mu.dtype == sigma.dtype == np.float64
    assert mu.shape == (7,) and sigma.shape == (7, 7)
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_feature_statistics_torch_in_torch_out(dtype):
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(9), dtype=dtype)
    mu, sigma = feature_statistics(x)
    assert isinstance(mu, torch.Tensor) and isinstance(sigma, torch.Tensor)
    assert mu.dtype == sigma.dtype == torch.float64
    x64 = x.double().numpy()
    np.testing.assert_allclose(mu.numpy(), x64.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(x64, rowvar=False), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "bad", [np.zeros((1, 4)), np.zeros(4), torch.zeros(1, 3), np.zeros((2, 3, 4))]
)
def test_feature_statistics_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match=r"\(N, D\)|N = 2"):
        feature_statistics(bad)


def test_fid_from_features_equals_frechet_of_statistics():
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(60, 5)), rng.normal(size=(80, 5)) * 2 + 1
    expected = _pytorch_fid_or_scipy(*feature_statistics(x), *feature_statistics(y))
    assert fid_from_features(x, y) == pytest.approx(expected, rel=RTOL)
    assert fid_from_features(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(
        expected, rel=RTOL
    )
    with pytest.raises(ValueError, match="same feature extractor"):
        fid_from_features(x, y[:, :4])


def _pytorch_fid_or_scipy(*stats):
    try:
        import pytorch_fid.fid_score  # noqa: F401
    except ImportError:
        return _scipy_frechet(*stats)
    return _pytorch_fid_frechet(*stats)


# --- inception_score ---------------------------------------------------------------------


def _reference_inception_score(p: np.ndarray, bounds: list[int]) -> tuple[float, float]:
    """IS with explicitly given chunk boundaries and scipy's elementwise KL."""
    scores = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        part = p[lo:hi]
        p_y = part.mean(axis=0)
        kl = scipy.special.rel_entr(part, p_y[None, :]).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


@pytest.mark.parametrize("splits", [1, 2])
def test_inception_score_perfect_classifier_gives_k(splits):
    k = 5
    probs = np.eye(k)[np.arange(20) % k]  # one-hot, every class equally often in each split
    mean, std = inception_score(probs, splits=splits)
    assert isinstance(mean, float) and isinstance(std, float)
    assert mean == pytest.approx(k, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_identical_rows_give_one():
    row = np.random.default_rng(11).dirichlet(np.ones(7))
    mean, std = inception_score(np.tile(row, (30, 1)), splits=3)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.1, 1.0])
def test_inception_score_matches_numpy_reference(alpha):
    probs = np.random.default_rng(12).dirichlet(alpha * np.ones(10), size=200)
    expected = _reference_inception_score(probs, [20 * k for k in range(11)])
    got = inception_score(torch.from_numpy(probs).float(), splits=10)
    assert got == pytest.approx(expected, rel=1e-5)  # float32 input
    assert inception_score(probs, splits=10) == pytest.approx(expected, rel=1e-12)


def test_inception_score_split_convention_when_n_not_divisible():
    # N = 23, splits = 4: chunk k is rows k*23//4 to (k+1)*23//4, i.e. 0, 5, 11, 17, 23.
    probs = np.random.default_rng(13).dirichlet(0.3 * np.ones(6), size=23)
    expected = _reference_inception_score(probs, [0, 5, 11, 17, 23])
    assert inception_score(probs, splits=4) == pytest.approx(expected, rel=1e-12)
    # A different chunking (e.g. numpy.array_split: 6, 6, 6, 5 rows) gives other numbers.
    other = _reference_inception_score(probs, [0, 6, 12, 18, 23])
    assert inception_score(probs, splits=4) != pytest.approx(other, rel=1e-6)


def test_inception_score_rejects_logits_with_softmax_hint():
    logits = torch.randn(20, 5, generator=torch.Generator().manual_seed(14))
    with pytest.raises(ValueError, match="softmax"):
        inception_score(logits, splits=2)
    # After the suggested fix it works.
    mean, _ = inception_score(torch.softmax(logits, dim=1), splits=2)
    assert 1.0 <= mean <= 5.0


@pytest.mark.parametrize(
    "probs, splits, match",
    [
        (np.full((4, 2), 0.5), 5, "splits"),
        (np.full((4, 2), 0.5), 0, "splits"),
        (np.full(4, 0.25), 1, r"\(N, K\)"),
        (np.array([[1.5, -0.5], [0.5, 0.5]]), 1, "non-negative"),
    ],
)
def test_inception_score_rejects_bad_input(probs, splits, match):
    with pytest.raises(ValueError, match=match):
        inception_score(probs, splits=splits)


# --- fid from images ---------------------------------------------------------------------


class _RandomProjection(nn.Module):
    """Flatten + a fixed random linear map: a tiny, deterministic feature extractor."""

    def __init__(self, in_dim: int, num_features: int, dtype=torch.float64) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(15)
        self.proj = nn.Linear(in_dim, num_features, dtype=dtype)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(num_features, in_dim, generator=gen, dtype=dtype))
            self.proj.bias.copy_(torch.randn(num_features, generator=gen, dtype=dtype))
        self.num_features = num_features  # read by torchmetrics instead of a dummy forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.flatten(1))  # (B, num_features)


def _image_sets():
    gen = torch.Generator().manual_seed(16)
    real = torch.rand(70, 1, 4, 4, generator=gen, dtype=torch.float64) * 2 - 1
    fake = (torch.rand(50, 1, 4, 4, generator=gen, dtype=torch.float64) * 1.6 - 0.9) ** 3
    return real, fake


def test_fid_with_custom_extractor_equals_fid_from_features(capsys):
    real, fake = _image_sets()
    extractor = _RandomProjection(16, 8)
    extractor.train()
    with torch.no_grad():
        expected = fid_from_features(extractor(real), extractor(fake))
    got = fid(real, fake, feature_extractor=extractor, batch_size=16)
    assert got == pytest.approx(expected, rel=1e-12)
    assert extractor.training  # mode restored
    notice = capsys.readouterr().out.strip().splitlines()
    assert len(notice) == 1 and "_RandomProjection" in notice[0]
    # Batching does not change the result.
    assert fid(real, fake, feature_extractor=extractor, batch_size=1000) == pytest.approx(
        got, rel=1e-12
    )


def test_fid_casts_images_to_the_extractor_dtype():
    real, fake = _image_sets()
    extractor = _RandomProjection(16, 8, dtype=torch.float32)
    got = fid(real, fake, feature_extractor=extractor)
    with torch.no_grad():
        expected = fid_from_features(extractor(real.float()), extractor(fake.float()))
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    "images, match",
    [
        (torch.rand(10, 1, 4, 4) * 255, r"\[-1, 1\]"),
        (torch.zeros(10, 16), r"\(N, C, H, W\)"),
        (torch.zeros(10, 1, 4, 4, dtype=torch.uint8), "float"),
    ],
)
def test_fid_rejects_bad_images(images, match):
    real, _ = _image_sets()
    with pytest.raises(ValueError, match=match):
        fid(real, images, feature_extractor=_RandomProjection(16, 8))


def test_fid_without_weights_asks_for_an_extractor(monkeypatch):
    torchvision_models = pytest.importorskip("torchvision.models")

    def offline(*args, **kwargs):
        raise OSError("simulated: no network to download the weights")

    monkeypatch.setattr(torchvision_models, "inception_v3", offline)
    real, fake = _image_sets()
    with pytest.raises(RuntimeError, match="feature_extractor="):
        fid(real, fake)


def test_fid_matches_torchmetrics_with_same_extractor():
    fid_module = pytest.importorskip(
        "torchmetrics.image.fid",
        reason="torchmetrics not installed (pip install torchmetrics) - cross-check skipped",
    )
    real, fake = _image_sets()
    extractor = _RandomProjection(16, 8)
    metric = fid_module.FrechetInceptionDistance(feature=extractor, normalize=False)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    expected = float(metric.compute())
    got = fid(real, fake, feature_extractor=extractor)
    # torchmetrics uses complex eigvals of S1 S2 and a one-pass covariance: ~1e-12 apart.
    assert got == pytest.approx(expected, rel=1e-9)


# --- the MNIST-domain feature extractor ----------------------------------------------------
# Trained once per test session into a temporary cache (offline: FAST mode, bundled digits);
# every later call in these tests only loads it.


@pytest.fixture(scope="session")
def digits_extractor(tmp_path_factory):
    cache = tmp_path_factory.mktemp("course_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_FAST", "1")
        before = torch.get_rng_state()
        model = mnist_feature_extractor(device="cpu", cache_dir=cache)
        assert torch.equal(torch.get_rng_state(), before), "training changed the global RNG"
    return cache, model


@pytest.fixture
def digits_sets():
    from course.data import as_tensors, digits

    x_train, y_train = as_tensors(digits(train=True))
    x_test, y_test = as_tensors(digits(train=False))
    return x_train, y_train, x_test, y_test


def _blur(x: torch.Tensor, size: int) -> torch.Tensor:
    """Separable Gaussian blur (sigma = size / 3) with background padding, independent of the
    code under test."""
    r = torch.arange(size, dtype=torch.float32) - size // 2
    w = torch.exp(-(r**2) / (2 * (size / 3) ** 2))
    w = w / w.sum()
    x = nn.functional.pad(x, [size // 2] * 4, value=-1.0)
    x = nn.functional.conv2d(x, w.view(1, 1, 1, size))
    return nn.functional.conv2d(x, w.view(1, 1, size, 1))


def test_extractor_classifies_heldout_digits(digits_extractor, digits_sets):
    _, model = digits_extractor
    _, _, x_test, y_test = digits_sets
    with torch.no_grad():
        pred = model.logits(x_test).argmax(dim=1)
    accuracy = float((pred == y_test).float().mean())
    assert accuracy >= 0.95
    assert model.heldout_accuracy == pytest.approx(accuracy)
    assert model.source == "digits" and "digits" in model.trained_on


def test_extractor_interface(digits_extractor, digits_sets):
    _, model = digits_extractor
    x = digits_sets[2][:5]
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    assert all(p.device.type == "cpu" for p in model.parameters())
    feats = model(x)
    assert feats.shape == (5, model.num_features) == (5, 64)
    assert torch.isfinite(feats).all() and feats.std() > 0
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        model(torch.zeros(5, 28, 28))
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        model(torch.zeros(5, 3, 32, 32))


def test_extractor_loads_from_cache_without_training(digits_extractor, monkeypatch, capsys):
    import course.metrics as metrics

    cache, model = digits_extractor
    capsys.readouterr()
    monkeypatch.setenv("COURSE_FAST", "1")

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although the cache holds the weights")

    monkeypatch.setattr(metrics, "_train_extractor", no_training)
    again = mnist_feature_extractor(device="cpu", cache_dir=cache)
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value)
    out = capsys.readouterr().out
    assert "loaded from" in out and "trained on scikit-learn" in out
    assert (cache / "mnist_feature_extractor_digits_v1.pt").is_file()


def test_extractor_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    import course.metrics as metrics

    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    assert metrics.default_cache_dir() == tmp_path
    monkeypatch.delenv("COURSE_CACHE")
    assert metrics.default_cache_dir() == metrics.Path.home() / ".cache" / "course"


@pytest.fixture
def short_recipe(monkeypatch):
    """One epoch instead of the full recipe: these tests are about caching, not accuracy."""
    import course.metrics as metrics

    monkeypatch.setitem(metrics._EXTRACTOR_RECIPE, "digits", (1, 64))
    monkeypatch.setitem(metrics._EXTRACTOR_RECIPE, "mnist", (1, 64))
    monkeypatch.setenv("COURSE_FAST", "1")


def test_extractor_training_is_seeded(short_recipe, tmp_path):
    first = mnist_feature_extractor(device="cpu", cache_dir=tmp_path / "a")
    second = mnist_feature_extractor(device="cpu", cache_dir=tmp_path / "b")
    for key, value in first.state_dict().items():
        assert torch.equal(second.state_dict()[key], value)


def test_extractor_retrains_over_a_corrupt_cache(short_recipe, tmp_path, capsys):
    path = tmp_path / "mnist_feature_extractor_digits_v1.pt"
    path.write_bytes(b"not a checkpoint")
    model = mnist_feature_extractor(device="cpu", cache_dir=tmp_path)
    assert "ignoring unreadable cache" in capsys.readouterr().out
    reloaded = torch.load(path, weights_only=True)
    assert torch.equal(reloaded["state_dict"]["head.1.weight"], model.head[1].weight)


class _FakeMNIST(torch.utils.data.Dataset):
    """Stands in for torchvision's MNIST: uint8 ``data`` (N, 28, 28), ``targets``, online."""

    offline = False

    def __init__(self, train: bool, digits_x: torch.Tensor, digits_y: torch.Tensor):
        self.data = ((digits_x[:, 0] + 1) * 127.5).round().to(torch.uint8)
        self.targets = digits_y
        self.description = f"fake MNIST ({'train' if train else 'test'} split)"

    def __len__(self):
        return len(self.targets)


def test_extractor_cache_is_keyed_by_training_data(
    short_recipe, tmp_path, monkeypatch, digits_sets, capsys
):
    import course.data

    x_train, y_train, x_test, y_test = digits_sets

    def fake_mnist(train=True, root=None):
        return _FakeMNIST(train, *((x_train, y_train) if train else (x_test, y_test)))

    offline_model = mnist_feature_extractor(device="cpu", cache_dir=tmp_path)
    monkeypatch.setattr(course.data, "mnist", fake_mnist)
    online_model = mnist_feature_extractor(device="cpu", cache_dir=tmp_path)
    out = capsys.readouterr().out
    assert online_model.source == "mnist" and "fake MNIST (train split)" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mnist_feature_extractor_digits_v1.pt",
        "mnist_feature_extractor_mnist_v1.pt",
    ]
    # Same seed, but trained on different pixels (uint8 round trip, other batch size).
    assert not torch.equal(online_model.head[1].weight, offline_model.head[1].weight)


def test_fid_with_extractor_is_small_for_the_same_data(digits_extractor, digits_sets):
    _, model = digits_extractor
    x, y, _, _ = digits_sets
    halves = fid(x[0::2], x[1::2], feature_extractor=model)
    other_classes = fid(x[y < 5], x[y >= 5], feature_extractor=model)
    assert 0 <= halves < 0.05 * other_classes
    # Finite-sample bias only: a larger sample of the same data gives a smaller FID.
    quarters = fid(x[0::4], x[1::4], feature_extractor=model)
    assert halves < quarters


def test_fid_with_extractor_grows_with_noise_and_blur(digits_extractor, digits_sets):
    _, model = digits_extractor
    x = digits_sets[0]
    real, other = x[0::2], x[1::2]
    gen = torch.Generator().manual_seed(17)
    noise = torch.randn(other.shape, generator=gen)
    baseline = fid(real, other, feature_extractor=model)
    noised = [
        fid(real, (other + s * noise).clamp(-1, 1), feature_extractor=model)
        for s in (0.1, 0.2, 0.4, 0.8)
    ]
    blurred = [fid(real, _blur(other, k), feature_extractor=model) for k in (3, 5, 7, 9)]
    for values in (noised, blurred):
        assert all(a < b for a, b in zip([baseline, *values[:-1]], values, strict=True))
        assert values[-1] > 10 * baseline


def test_fid_with_extractor_matches_torchmetrics(digits_extractor, digits_sets):
    fid_module = pytest.importorskip(
        "torchmetrics.image.fid",
        reason="torchmetrics not installed (pip install torchmetrics) - cross-check skipped",
    )
    _, model = digits_extractor
    x_train, _, x_test, _ = digits_sets
    fake = _blur(x_test, 5)
    metric = fid_module.FrechetInceptionDistance(feature=model, normalize=False)
    metric.update(x_train, real=True)
    metric.update(fake, real=False)
    expected = float(metric.compute())
    assert fid(x_train, fake, feature_extractor=model) == pytest.approx(expected, rel=1e-6)
