"""Metrics for generative models: Fréchet distance (FID) and Inception Score (IS).

Both metrics judge samples through a fixed classifier network. FID (Heusel et al., 2017,
eq. 6) fits a Gaussian to the network's features of real and of generated images and
reports the Fréchet (2-Wasserstein) distance between the two Gaussians,

.. math::

    d^2 = \\lVert \\mu_1 - \\mu_2 \\rVert^2
          + \\operatorname{tr}(\\Sigma_1) + \\operatorname{tr}(\\Sigma_2)
          - 2 \\operatorname{tr}\\big((\\Sigma_1 \\Sigma_2)^{1/2}\\big).

IS (Salimans et al., 2016, sec. 4) scores the class predictions :math:`p(y \\mid x)` alone:
:math:`\\exp \\mathbb{E}_x \\operatorname{KL}(p(y \\mid x) \\,\\|\\, p(y))`. The order below follows
the lecture: the distance between two Gaussians, the statistics of a feature set, FID
from features, the Inception Score, and FID from images; last, an MNIST-domain feature
extractor (a small digit classifier, trained once and cached) for FIDs of 28x28 digits.

Everything is computed in float64: FID is a small difference of large traces, and float32
loses most of its digits to that cancellation.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "MNISTFeatureExtractor",
    "feature_statistics",
    "fid",
    "fid_from_features",
    "frechet_distance",
    "inception_score",
    "mnist_feature_extractor",
]

# Rows of ``probs`` must sum to 1 within this (float32 softmax outputs are off by ~1e-7).
_PROB_SUM_TOL = 1e-4


def _as_float64_numpy(x, name: str) -> np.ndarray:
    """A float64 NumPy copy of a NumPy array or a torch tensor (on any device)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric NumPy array or torch tensor") from err
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf; check the features that produced it")
    return x


def _sqrtm_psd(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix: ``Q diag(sqrt(L)) Q^T`` for ``sigma = Q L Q^T``.

    Shapes: (D, D) -> (D, D). Eigenvalues that round-off made slightly negative are
    clipped to 0, so a singular covariance has a well-defined (singular) root.
    """
    eigvals, eigvecs = np.linalg.eigh(sigma)  # (D,), (D, D)
    root = np.sqrt(np.clip(eigvals, 0.0, None))  # (D,)
    return (eigvecs * root) @ eigvecs.T  # (D, D): scales column i of Q by sqrt(L_i)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """:math:`\\operatorname{tr}((\\Sigma_1 \\Sigma_2)^{1/2})` without complex numbers.

    With :math:`A = \\Sigma_1^{1/2}`, the product :math:`\\Sigma_1 \\Sigma_2 = A (A \\Sigma_2 A)
    A^{-1}` is similar to the symmetric PSD matrix :math:`A \\Sigma_2 A`, so both have the
    same (real, non-negative) eigenvalues, and the trace of the square root is
    :math:`\\sum_i \\sqrt{\\lambda_i(A \\Sigma_2 A)}`. (The similarity needs :math:`A`
    invertible; for singular :math:`\\Sigma_1` it holds by continuity.) ``scipy.linalg.sqrtm``
    of the non-symmetric product instead returns round-off imaginary parts.
    """
    a = _sqrtm_psd(sigma1)  # (D, D)
    m = a @ sigma2 @ a  # (D, D), symmetric up to round-off
    m = 0.5 * (m + m.T)  # exactly symmetric for eigvalsh
    eigvals = np.linalg.eigvalsh(m)  # (D,)
    return float(np.sqrt(np.clip(eigvals, 0.0, None)).sum())


def _check_covariance(sigma: np.ndarray, name: str, dim: int) -> np.ndarray:
    if sigma.shape != (dim, dim):
        raise ValueError(
            f"{name} must have shape (D, D) = ({dim}, {dim}) to match the mean, got "
            f"{tuple(sigma.shape)}; pass the covariance of the features, not the features "
            "(feature_statistics computes both)"
        )
    scale = max(1.0, float(np.abs(sigma).max(initial=0.0)))
    if np.abs(sigma - sigma.T).max(initial=0.0) > 1e-5 * scale:
        raise ValueError(f"{name} must be a symmetric covariance matrix; it is not symmetric")
    return 0.5 * (sigma + sigma.T)  # remove round-off asymmetry


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between :math:`N(\\mu_1, \\Sigma_1)` and :math:`N(\\mu_2, \\Sigma_2)`.

    .. math::

        d^2 = \\lVert \\mu_1 - \\mu_2 \\rVert^2 + \\operatorname{tr}(\\Sigma_1)
              + \\operatorname{tr}(\\Sigma_2) - 2 \\operatorname{tr}((\\Sigma_1 \\Sigma_2)^{1/2})

    Shapes: ``mu1``, ``mu2`` (D,); ``sigma1``, ``sigma2`` (D, D), symmetric PSD. NumPy
    arrays or torch tensors (any device, any float dtype); computed in float64 on the
    CPU and returned as a Python float.

    Convention: the trace term goes through symmetric eigendecompositions,
    :math:`\\Sigma_1 = Q L Q^\\top`, :math:`A = Q L^{1/2} Q^\\top`, and
    :math:`\\operatorname{tr}((\\Sigma_1\\Sigma_2)^{1/2}) = \\sum_i \\sqrt{\\lambda_i(A \\Sigma_2
    A)}`, clipping round-off negative eigenvalues to 0. No complex numbers arise, so unlike
    pytorch-fid there is no "imaginary component" error. Singular covariances (fewer
    samples than feature dimensions, N <= D) need no regularisation on this route: the
    clipped result is finite and equals the limit of the regularised one.

    ``eps``: only a fallback. If the result is nevertheless not finite (overflow, or an
    eigensolver that did not converge) ``eps * I`` is added to *both* covariances and the
    distance is recomputed once, as pytorch-fid does; otherwise ``eps`` is unused, so on
    well-conditioned input the value agrees with pytorch-fid's
    ``calculate_frechet_distance`` to ~1e-12 relative.
    """
    mu1, mu2 = _as_float64_numpy(mu1, "mu1"), _as_float64_numpy(mu2, "mu2")
    sigma1, sigma2 = _as_float64_numpy(sigma1, "sigma1"), _as_float64_numpy(sigma2, "sigma2")
    if mu1.ndim != 1 or mu2.ndim != 1:
        raise ValueError(
            f"mu1 and mu2 must be vectors of shape (D,), got {tuple(mu1.shape)} and "
            f"{tuple(mu2.shape)}"
        )
    if mu1.shape != mu2.shape:
        raise ValueError(
            f"mu1 and mu2 have different lengths {mu1.shape[0]} and {mu2.shape[0]}: the two "
            "feature sets must come from the same feature extractor"
        )
    if not eps >= 0:
        raise ValueError(f"eps must be a non-negative number, got {eps}")
    dim = mu1.shape[0]
    sigma1 = _check_covariance(sigma1, "sigma1", dim)
    sigma2 = _check_covariance(sigma2, "sigma2", dim)

    diff = mu1 - mu2  # (D,)
    mean_term = float(diff @ diff)

    def distance(s1: np.ndarray, s2: np.ndarray) -> float:
        try:
            tr_covmean = _trace_sqrt_product(s1, s2)
        except np.linalg.LinAlgError:  # eigensolver did not converge
            return float("nan")
        return mean_term + float(np.trace(s1) + np.trace(s2)) - 2.0 * tr_covmean

    d2 = distance(sigma1, sigma2)
    if not np.isfinite(d2):
        # Fallback as in pytorch-fid: regularise both covariances with eps * I.
        offset = eps * np.eye(dim)  # (D, D)
        d2 = distance(sigma1 + offset, sigma2 + offset)
    if not np.isfinite(d2):
        raise ValueError(
            "the Fréchet distance is not finite even with eps * I added to the covariances; "
            "the features are probably too large (rescale them)"
        )
    return d2


def feature_statistics(features):
    """Mean and unbiased covariance of a feature set: the Gaussian that FID fits.

    .. math::

        \\mu = \\frac{1}{N} \\sum_n f_n, \\qquad
        \\Sigma = \\frac{1}{N - 1} \\sum_n (f_n - \\mu)(f_n - \\mu)^\\top

    Shapes: ``features`` (N, D) -> ``mu`` (D,), ``sigma`` (D, D), both float64.
    NumPy in -> NumPy out; torch in -> torch out, on the input's device. Same as
    ``numpy.cov(features, rowvar=False)`` (divisor N - 1, as pytorch-fid).
    """
    if isinstance(features, torch.Tensor):
        f = features.detach().to(torch.float64)
        _check_features(f.shape, bool(torch.isfinite(f).all()), "features")
        mu = f.mean(dim=0)  # (D,)
        centered = f - mu  # (N, D)
        sigma = centered.T @ centered / (f.shape[0] - 1)  # (D, D)
        return mu, 0.5 * (sigma + sigma.T)  # exactly symmetric
    f = np.asarray(features, dtype=np.float64)
    _check_features(f.shape, bool(np.isfinite(f).all()), "features")
    mu = f.mean(axis=0)  # (D,)
    centered = f - mu  # (N, D)
    sigma = centered.T @ centered / (f.shape[0] - 1)  # (D, D)
    return mu, 0.5 * (sigma + sigma.T)


def _check_features(shape, finite: bool, name: str) -> None:
    if len(shape) != 2:
        raise ValueError(
            f"{name} must have shape (N, D), one feature vector per row, got {tuple(shape)}; "
            "flatten image features with .flatten(1)"
        )
    if shape[0] < 2:
        raise ValueError(
            f"{name} needs at least N = 2 samples for a covariance, got N = {shape[0]}"
        )
    if not finite:
        raise ValueError(f"{name} contains NaN or inf")


def fid_from_features(feats_real, feats_fake) -> float:
    """FID between two feature sets: Fréchet distance of their fitted Gaussians.

    Shapes: ``feats_real`` (N1, D), ``feats_fake`` (N2, D), NumPy or torch; returns a
    Python float. Convention: unbiased covariances (``feature_statistics``). FID is biased
    upwards for small N (Chong & Forsyth, 2020): only compare values computed with the
    same N and the same feature extractor.
    """
    mu1, sigma1 = feature_statistics(feats_real)
    mu2, sigma2 = feature_statistics(feats_fake)
    if mu1.shape != mu2.shape:
        raise ValueError(
            f"real features have D = {mu1.shape[0]} dimensions, fake features D = "
            f"{mu2.shape[0]}: use the same feature extractor for both"
        )
    return frechet_distance(mu1, sigma1, mu2, sigma2)


def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """Inception Score of class predictions: ``exp(E_x KL(p(y|x) || p(y)))``.

    Shapes: ``probs`` (N, K), row n is the classifier's :math:`p(y \\mid x_n)` (softmax
    output, not logits); returns ``(mean, std)`` as Python floats.

    Convention (as in the original code of Salimans et al.): the N rows are cut into
    ``splits`` consecutive chunks, chunk k being rows ``k*N//splits`` to
    ``(k+1)*N//splits``. In each chunk, :math:`p(y)` is the chunk's mean row and

    .. math::

        \\mathrm{IS}_k = \\exp\\Big(\\frac{1}{|k|} \\sum_{n \\in k}
        \\sum_y p(y \\mid x_n) \\big(\\log p(y \\mid x_n) - \\log p(y)\\big)\\Big),

    with :math:`0 \\log 0 = 0`. ``mean`` and ``std`` (ddof 0) are over the ``splits``
    chunk scores. IS lies in [1, K]: 1 when every prediction is the same, K when each is
    confident (one-hot) and the classes are used equally.
    """
    p = _as_float64_numpy(probs, "probs")
    if p.ndim != 2:
        raise ValueError(f"probs must have shape (N, K), got {tuple(p.shape)}")
    n = p.shape[0]
    if not (isinstance(splits, (int, np.integer)) and 1 <= splits <= n):
        raise ValueError(f"splits must be an integer in [1, N] = [1, {n}], got {splits!r}")
    row_sums = p.sum(axis=1)  # (N,)
    if (p < 0).any() or np.abs(row_sums - 1.0).max() > _PROB_SUM_TOL:
        raise ValueError(
            "probs must hold probabilities: non-negative rows that sum to 1 (within "
            f"{_PROB_SUM_TOL}); got entries in [{p.min():.3g}, {p.max():.3g}] and row sums "
            f"in [{row_sums.min():.3g}, {row_sums.max():.3g}]. These look like logits: "
            "apply softmax(logits, dim=1) first"
        )

    scores = []
    for k in range(splits):
        part = p[k * n // splits : (k + 1) * n // splits]  # (N_k, K)
        p_y = part.mean(axis=0, keepdims=True)  # (1, K), the chunk's marginal p(y)
        # 0 log 0 = 0; where p(y|x) > 0 also p(y) > 0, so the log is finite there.
        nonzero = part > 0  # (N_k, K)
        log_ratio = np.log(np.where(nonzero, part, 1.0)) - np.log(np.where(nonzero, p_y, 1.0))
        kl = np.where(nonzero, part * log_ratio, 0.0)  # (N_k, K), KL summand per class
        scores.append(np.exp(kl.sum(axis=1).mean()))  # KL summed over K, averaged over N_k
    scores = np.asarray(scores)  # (splits,)
    return float(scores.mean()), float(scores.std())


class _InceptionFeatures(nn.Module):
    """torchvision's Inception-v3 up to the 2048-d pool features, for images in [-1, 1].

    Shapes: (B, C, H, W) with C in {1, 3} -> (B, 2048). Images are resized to 299 x 299
    (bilinear) and grey images repeated to 3 channels. torchvision's network normally
    expects ImageNet-normalised input and maps it to [-1, 1] itself (``transform_input``);
    our images are already in [-1, 1], so that step is switched off.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        net.fc = nn.Identity()  # keep the pool3 features, drop the 1000-way classifier
        net.transform_input = False
        self.net = net.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # (B, 3, H, W)
        x = nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(x)  # (B, 2048)


def _inception_extractor() -> nn.Module:
    """The default extractor; raises RuntimeError when the weights cannot be had."""
    try:
        from torchvision.models import Inception_V3_Weights, inception_v3  # lazy: heavy

        net = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1, aux_logits=True)
    except Exception as err:  # ImportError, or the download failed (offline, proxy, ...)
        raise RuntimeError(
            "fid could not load torchvision's pretrained Inception-v3 weights "
            f"({type(err).__name__}: {err}). Offline, pass your own network: "
            "fid(real, fake, feature_extractor=my_module), any nn.Module mapping images "
            "(N, C, H, W) in [-1, 1] to features (N, D)"
        ) from err
    return _InceptionFeatures(net)


@torch.no_grad()
def _extract_features(module: nn.Module, images, batch_size: int, name: str) -> torch.Tensor:
    """Features (N, D) float64 of images (N, C, H, W), batch by batch on the module's device."""
    images = torch.as_tensor(images)
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(
            f"{name} must be float images in [-1, 1], got dtype {images.dtype}; convert "
            "uint8 images with x.float() / 127.5 - 1"
        )
    lo, hi = float(images.min()), float(images.max())
    if lo < -1.0 - 1e-3 or hi > 1.0 + 1e-3:
        raise ValueError(
            f"{name} must lie in [-1, 1], got values in [{lo:.3g}, {hi:.3g}]; images in "
            "[0, 1] become x * 2 - 1, images in [0, 255] become x / 127.5 - 1"
        )
    param = next(module.parameters(), None)
    device = param.device if param is not None else images.device
    dtype = param.dtype if param is not None and param.is_floating_point() else images.dtype
    feats = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].to(device=device, dtype=dtype)  # (B, C, H, W)
        out = module(batch)
        feats.append(out.flatten(1).to("cpu", torch.float64))  # (B, D); pooled (B, D, 1, 1) too
    return torch.cat(feats)  # (N, D)


def fid(real_images, fake_images, feature_extractor: nn.Module | None = None, batch_size=256):
    """Fréchet Inception Distance between two image sets.

    Shapes: ``real_images`` (N1, C, H, W), ``fake_images`` (N2, C, H, W), float in
    [-1, 1]; returns a Python float, ``fid_from_features`` of the extractor's features.

    ``feature_extractor``: any ``nn.Module`` mapping a batch (B, C, H, W) to features
    (B, D). It runs in eval mode (restored afterwards) under ``torch.no_grad``, on the
    device and in the dtype of its parameters, ``batch_size`` images at a time. With
    ``None``, torchvision's ImageNet Inception-v3 (2048-d pool features) is used if its
    weights can be loaded; otherwise a RuntimeError asks for an extractor: nothing is
    silently substituted, since FIDs from different networks are not comparable.

    Convention: torchvision's Inception weights differ from the TensorFlow weights of the
    original FID, so values are comparable only with FIDs computed by this function, at
    the same N. A one-line notice names the extractor used.
    """
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if feature_extractor is None:
        module = _inception_extractor()
        label = "torchvision Inception-v3 (IMAGENET1K_V1), 2048-d pool features"
    elif isinstance(feature_extractor, nn.Module):
        module = feature_extractor
        label = f"{type(module).__name__} (user-supplied feature_extractor)"
    else:
        raise ValueError(
            f"feature_extractor must be an nn.Module or None, got {type(feature_extractor)}"
        )
    was_training = module.training
    module.eval()  # batch norm and dropout must not depend on the batch
    try:
        feats_real = _extract_features(module, real_images, batch_size, "real_images")
        feats_fake = _extract_features(module, fake_images, batch_size, "fake_images")
    finally:
        module.train(was_training)
    print(f"fid: features from {label}, D = {feats_real.shape[1]}")
    return fid_from_features(feats_real, feats_fake)


# ----------------------------------------------------------------------------- MNIST domain

CACHE_ENV = "COURSE_CACHE"
# Bump when the architecture or the training recipe changes: old cache files are then ignored.
_EXTRACTOR_VERSION = 1
_EXTRACTOR_SEED = 0
_EXTRACTOR_FEATURES = 64
# (epochs, batch size) per training source: a few seconds on one CPU core for the digits.
_EXTRACTOR_RECIPE = {"digits": (10, 64), "mnist": (2, 128)}


class MNISTFeatureExtractor(nn.Module):
    """A small CNN digit classifier whose penultimate layer serves as FID features.

    Shapes: ``forward(x)`` (B, 1, 28, 28) in [-1, 1] -> features (B, 64), the
    pre-activation of the last hidden layer; ``logits(x)`` -> (B, 10) class logits, and
    ``softmax(logits(x), dim=1)`` are the :math:`p(y \\mid x)` of an MNIST-domain Inception
    Score. Architecture: conv 5x5 stride 2 (16 ch) -> ReLU -> conv 3x3 stride 2 (32 ch) ->
    ReLU -> linear (64) = features -> ReLU -> linear (10). Attributes set by
    :func:`mnist_feature_extractor`: ``trained_on`` (a description of the training data),
    ``source`` (``"mnist"`` or ``"digits"``) and ``heldout_accuracy``.
    """

    num_features = _EXTRACTOR_FEATURES  # read by torchmetrics' FrechetInceptionDistance

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 5, stride=2, padding=2),  # (B, 16, 14, 14)
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),  # (B, 32, 7, 7)
            nn.ReLU(),
            nn.Flatten(),  # (B, 1568)
            nn.Linear(32 * 7 * 7, _EXTRACTOR_FEATURES),  # (B, 64)
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(_EXTRACTOR_FEATURES, 10))
        self.trained_on = "untrained"
        self.source = ""
        self.heldout_accuracy = float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(
                f"the MNIST feature extractor takes images of shape (B, 1, 28, 28) in [-1, 1], "
                f"got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(f"images must be float in [-1, 1], got dtype {x.dtype}")
        return self.body(x)  # (B, 64)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 10) of images (B, 1, 28, 28) in [-1, 1]."""
        return self.head(self(x))


def default_cache_dir() -> Path:
    """Where trained helper networks are cached: ``$COURSE_CACHE``, else ``~/.cache/course``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "course"


def _extractor_source():
    """``(source, train_dataset)``: MNIST if ``course.data.mnist`` can load it, else the digits."""
    from course import data  # lazy: data imports torchvision/scikit-learn on demand

    train = data.mnist(train=True)
    return ("digits" if getattr(train, "offline", True) else "mnist"), train


def _extractor_tensors(source: str, train):
    """``(x_train, y_train, x_test, y_test)``; the digits' fixed test split when offline."""
    from course import data

    test = data.digits(train=False, size=28) if source == "digits" else data.mnist(train=False)

    def tensors(ds):
        if hasattr(ds, "data") and hasattr(ds, "targets"):  # torchvision: skip per-item loop
            x = ds.data.unsqueeze(1).float() / 127.5 - 1  # uint8 (N, 28, 28) -> (N, 1, 28, 28)
            return x, torch.as_tensor(ds.targets).long()
        return data.as_tensors(ds)

    return (*tensors(train), *tensors(test))


def _random_shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Translate each image (B, 1, H, W) by its own integer offset in [-max_shift, max_shift]^2,
    filling with the background value -1 (augmentation: GAN samples are not always centred)."""
    b, _, h, w = x.shape
    padded = nn.functional.pad(x, [max_shift] * 4, value=-1.0)  # (B, 1, H + 2s, W + 2s)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, b), generator=gen)
    rows = (dy[:, None] + torch.arange(h)).to(x.device)  # (B, H)
    cols = (dx[:, None] + torch.arange(w)).to(x.device)  # (B, W)
    idx_b = torch.arange(b, device=x.device)[:, None, None]
    return padded[idx_b, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # (B, 1, H, W)


@torch.no_grad()
def _accuracy(model: MNISTFeatureExtractor, x: torch.Tensor, y: torch.Tensor, dev) -> float:
    correct = 0
    for start in range(0, len(y), 1000):
        logits = model.logits(x[start : start + 1000].to(dev))
        correct += int((logits.argmax(1).cpu() == y[start : start + 1000]).sum())
    return correct / len(y)


def _seeded_extractor() -> MNISTFeatureExtractor:
    """A freshly initialised network, seeded, without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_EXTRACTOR_SEED)
        return MNISTFeatureExtractor()


def _train_extractor(source, x_train, y_train, x_test, y_test, dev) -> tuple[dict, float]:
    """Train the classifier (seeded, global random state untouched); state dict and accuracy."""
    epochs, batch_size = _EXTRACTOR_RECIPE[source]
    model = _seeded_extractor().to(dev).train()
    gen = torch.Generator().manual_seed(_EXTRACTOR_SEED)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=2e-3, total_steps=epochs * -(-len(y_train) // batch_size)
    )
    for _ in range(epochs):
        perm = torch.randperm(len(y_train), generator=gen)
        for start in range(0, len(y_train), batch_size):
            idx = perm[start : start + batch_size]
            xb = _random_shift(x_train[idx], gen).to(dev)  # (B, 1, 28, 28)
            loss = nn.functional.cross_entropy(model.logits(xb), y_train[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    acc = _accuracy(model, x_test, y_test, dev)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return state, acc


def mnist_feature_extractor(device=None, cache_dir: str | os.PathLike | None = None) -> nn.Module:
    """An MNIST-domain feature extractor for FID (and classifier for IS) on 28x28 digits.

    Returns an :class:`MNISTFeatureExtractor` in eval mode with frozen parameters, on
    ``device`` (default ``course.runtime.device()``): ``forward`` maps images
    (N, 1, 28, 28) in [-1, 1] to features (N, 64); ``logits`` gives (N, 10). Use it as
    ``fid(real, fake, feature_extractor=mnist_feature_extractor())``.

    The network is a small CNN classifier trained once, seeded, on MNIST when
    ``course.data.mnist`` can load it (files on disk or downloadable, FAST mode off), else
    on scikit-learn's bundled digits at 28x28 (offline, a few seconds on one CPU core).
    The weights are cached in ``cache_dir`` (default ``$COURSE_CACHE``, else
    ``~/.cache/course``) in a file named after the training data, so later calls only
    load. One printed line says which data it was trained on and its held-out accuracy.

    Convention: FIDs are comparable only when computed with the same extractor (same
    training data) and the same number of samples: a digits-trained and an MNIST-trained
    extractor give different numbers for the same images.
    """
    from course.runtime import device as default_device

    dev = torch.device(device) if device is not None else default_device()
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    source, train = _extractor_source()
    path = root / f"mnist_feature_extractor_{source}_v{_EXTRACTOR_VERSION}.pt"

    model = _seeded_extractor()
    payload = None
    if path.is_file():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(payload["state_dict"])
        except Exception as err:  # truncated or foreign file: retrain and overwrite
            print(f"mnist_feature_extractor: ignoring unreadable cache {path} ({err})")
            payload = None
    if payload is not None:
        action = f"loaded from {path}"
    else:
        start = time.perf_counter()
        state, acc = _train_extractor(source, *_extractor_tensors(source, train), dev)
        seconds = time.perf_counter() - start
        payload = {"state_dict": state, "heldout_accuracy": acc, "trained_on": train.description}
        model.load_state_dict(state)
        root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(payload, tmp)
        os.replace(tmp, path)  # atomic: parallel processes never read a half-written file
        action = f"trained in {seconds:.1f} s, cached to {path}"
    model.trained_on = str(payload["trained_on"])
    model.source = source
    model.heldout_accuracy = float(payload["heldout_accuracy"])
    model.to(dev).eval().requires_grad_(False)
    print(
        f"mnist_feature_extractor: CNN trained on {model.trained_on} "
        f"(held-out accuracy {model.heldout_accuracy:.1%}); {action}"
    )
    return model
