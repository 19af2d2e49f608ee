"""Checks for the generative-model metrics (``course.metrics``): ``check_<name>(your_function)``.

Each check runs your code on seeded inputs (several shapes, NumPy arrays and torch
tensors, float32 and float64) and compares it with the course's reference, which is
switched off while your code runs. A failure names the likely mistake. Conventions (as
in ``course.metrics``): everything is computed in float64; covariances are unbiased
(divisor N - 1); FID and IS are returned as Python floats.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from course import metrics as ref
from course.checks._core import (
    TOL,
    Mistake,
    ReferenceCalledError,
    assert_not_reference,
    call_student,
    cases,
    close,
    inputs_unchanged,
    randn,
    success,
    where,
)

__all__ = ["check_feature_statistics", "check_frechet_distance", "check_inception_score"]


def _call(fn, args, kwargs=None, *, case: str = ""):
    """``call_student`` with the whole ``course.metrics`` module locked."""
    return call_student(fn, args, kwargs, references=[ref], case=case)


def _to_torch(x) -> torch.Tensor:
    """A CPU tensor view of a NumPy array or a tensor (for comparisons and snapshots)."""
    return torch.from_numpy(np.array(x)) if isinstance(x, np.ndarray) else x.detach().cpu()


def _snapshot(x):
    return x.copy() if isinstance(x, np.ndarray) else x.clone()


def _unchanged(name: str, before, after) -> None:
    inputs_unchanged(name, [_to_torch(b) for b in before], [_to_torch(a) for a in after])


# ---------------------------------------------------------------------------------------
# feature_statistics
# ---------------------------------------------------------------------------------------


def _centered(f: torch.Tensor) -> torch.Tensor:
    return f - f.mean(dim=0)  # (N, D)


_STATS_SIGMA_MISTAKES = [
    Mistake(
        "the covariance is biased: you divided by N (ddof=0, np.cov(..., bias=True), "
        "torch.cov(..., correction=0)). FID uses the unbiased covariance, divisor N - 1, "
        "as np.cov(features, rowvar=False) does.",
        lambda f: _centered(f).T @ _centered(f) / f.shape[0],
    ),
    Mistake(
        "the covariance is divided by D - 1 or D instead of N - 1: the divisor counts "
        "samples (rows), not feature dimensions.",
        lambda f: _centered(f).T @ _centered(f) / (f.shape[1] - 1),
    ),
    Mistake(
        "you centred the features with the wrong mean (over the feature axis, dim 1); "
        "subtract the mean over the samples, f.mean(dim=0), before the outer products.",
        lambda f: (
            (f - f.mean(dim=1, keepdim=True)).T
            @ (f - f.mean(dim=1, keepdim=True))
            / (f.shape[0] - 1)
        ),
    ),
    Mistake(
        "the covariance is not centred: subtract the mean before (f - mu)^T (f - mu) / (N - 1).",
        lambda f: f.T @ f / (f.shape[0] - 1),
    ),
]


def _stats_inputs():
    """(case, features) pairs: torch on every (device, dtype), then NumPy float64/float32."""
    shapes = [(10, 3), (7, 5), (4, 6), (9, 1)]  # N < D included: a singular covariance
    for dev, dtype in cases():
        for i, (n, d) in enumerate(shapes):
            f = randn(n, d, seed=200 + i, dtype=dtype, dev=dev) * 1.7 + 0.8
            yield f"features {(n, d)}, torch {dtype}, {dev.type}", f
    for i, (n, d) in enumerate(shapes[:2]):
        for np_dtype in (np.float64, np.float32):
            f = (randn(n, d, seed=210 + i, dtype=torch.float64) * 2.0 - 0.5).numpy()
            yield f"features {(n, d)}, numpy {np.dtype(np_dtype).name}", f.astype(np_dtype)


def _is_float64(x) -> bool:
    return x.dtype in (np.float64, torch.float64)


def check_feature_statistics(fn) -> None:
    """Check ``feature_statistics(features (N, D)) -> (mu (D,), sigma (D, D))``.

    Judged: the mean over the samples and the *unbiased* covariance (divisor N - 1),
    float64 outputs, NumPy in -> NumPy out and torch in -> torch out (on the input's
    device), several shapes including N < D, inputs left unchanged.
    """
    assert_not_reference(fn, ref.feature_statistics)
    name = "feature_statistics"
    for case, feats in _stats_inputs():
        is_numpy = isinstance(feats, np.ndarray)
        n, d = feats.shape
        before = [_snapshot(feats)]
        mu_ref, sigma_ref = ref.feature_statistics(feats)
        got = _call(fn, (feats,), case=case)
        _unchanged(name, before, [feats])
        if got is None:
            raise AssertionError(f"{name} returned None{where(case)}. Did you forget a `return`?")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError(
                f"{name} should return a pair (mu, sigma), got {type(got).__name__}{where(case)}."
            )
        mu, sigma = got
        kind = np.ndarray if is_numpy else torch.Tensor
        for label, out in (("mu", mu), ("sigma", sigma)):
            if not isinstance(out, kind):
                raise AssertionError(
                    f"{name} returned {label} as {type(out).__name__} for "
                    f"{'NumPy' if is_numpy else 'torch'} input{where(case)}: NumPy in -> NumPy "
                    "out, torch in -> torch out (do not convert between the two)."
                )
            if not _is_float64(out):
                raise AssertionError(
                    f"{name} returned {label} as {out.dtype}{where(case)}: return float64 "
                    "whatever the input dtype (convert first: features.double() or "
                    "np.asarray(features, dtype=np.float64)). FID is a small difference of "
                    "large traces and float32 loses its digits to that cancellation."
                )
            if not is_numpy and out.device.type != feats.device.type:
                raise AssertionError(
                    f"{name} returned {label} on {out.device} for input on {feats.device}"
                    f"{where(case)}: keep the input's device."
                )
        if tuple(mu.shape) != (d,):
            hint = ""
            if tuple(mu.shape) == (n,):
                hint = (
                    " You averaged over the feature axis: the mean is over the samples, "
                    "axis 0 (features.mean(axis=0) / features.mean(dim=0))."
                )
            elif tuple(mu.shape) == (1, d):
                hint = " Drop the kept dimension (keepdims=False): mu is a vector."
            raise AssertionError(
                f"{name} returned mu of shape {tuple(mu.shape)}, expected (D,) = ({d},)"
                f"{where(case)}.{hint}"
            )
        if tuple(sigma.shape) != (d, d):
            hint = ""
            if tuple(sigma.shape) == (n, n):
                hint = (
                    " That is the covariance of the transpose: rows are samples and columns "
                    "features, so use np.cov(features, rowvar=False) or torch.cov(features.T) "
                    "(both treat rows as variables by default)."
                )
            elif sigma.ndim == 0 or sigma.shape in ((), (1,), (1, 1)):
                hint = (
                    " A (D, D) matrix is expected: with np.cov / torch.cov pass the features "
                    "as (D, N)."
                )
            raise AssertionError(
                f"{name} returned sigma of shape {tuple(sigma.shape)}, expected (D, D) = "
                f"({d}, {d}){where(case)}.{hint}"
            )
        # Values: at the tolerance of the input's precision, the result must be float64.
        in_dtype = torch.float64 if _is_float64(feats) else torch.float32
        f64 = _to_torch(feats).to(torch.float64)
        mu_t, sigma_t = _to_torch(mu), _to_torch(sigma)
        if not close(mu_t, _to_torch(mu_ref), in_dtype):
            hint = ""
            if n == d and close(mu_t, f64.mean(dim=1), in_dtype):
                hint = " You averaged over the feature axis: the mean is over axis 0 (samples)."
            raise AssertionError(
                f"{name} returned a wrong mean{where(case)}: mu is the mean of the rows, "
                f"features.mean(axis=0).{hint}"
            )
        if not close(sigma_t, _to_torch(sigma_ref), in_dtype):
            for mistake in _STATS_SIGMA_MISTAKES:
                if close(sigma_t, mistake.fn(f64), in_dtype):
                    raise AssertionError(f"{name}: {mistake.message}{where(case)}")
            error = (sigma_t - _to_torch(sigma_ref)).abs().max().item()
            raise AssertionError(
                f"{name} returned a wrong covariance{where(case)}: largest difference "
                f"{error:.3g}. Sigma = (f - mu)^T (f - mu) / (N - 1), f of shape (N, D)."
            )
    success(name, "mean and unbiased covariance, NumPy and torch, float64 out, N < D")


# ---------------------------------------------------------------------------------------
# frechet_distance
# ---------------------------------------------------------------------------------------


def _sqrtm_psd(s: np.ndarray) -> np.ndarray:
    w, q = np.linalg.eigh(s)
    return (q * np.sqrt(np.clip(w, 0.0, None))) @ q.T


def _tr_sqrt(s1, s2) -> float:
    a = _sqrtm_psd(s1)
    m = a @ s2 @ a
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (m + m.T)), 0.0, None)).sum())


def _parts(mu1, s1, mu2, s2):
    diff = mu1 - mu2
    return float(diff @ diff), float(np.trace(s1) + np.trace(s2))


def _fid_no_two(mu1, s1, mu2, s2):
    mean, tr = _parts(mu1, s1, mu2, s2)
    return mean + tr - _tr_sqrt(s1, s2)


def _fid_no_sqrt(mu1, s1, mu2, s2):
    mean, tr = _parts(mu1, s1, mu2, s2)
    return mean + tr - 2.0 * float(np.trace(s1 @ s2))


def _fid_elementwise_sqrt(mu1, s1, mu2, s2):
    mean, tr = _parts(mu1, s1, mu2, s2)
    return mean + tr - 2.0 * float(np.trace(np.sqrt(np.abs(s1 * s2))))


def _fid_sqrt_of_product_entries(mu1, s1, mu2, s2):
    mean, tr = _parts(mu1, s1, mu2, s2)
    return mean + tr - 2.0 * float(np.sqrt(np.diag(s1 @ s2)).sum())


def _fid_norm_not_squared(mu1, s1, mu2, s2):
    mean, tr = _parts(mu1, s1, mu2, s2)
    return math.sqrt(mean) + tr - 2.0 * _tr_sqrt(s1, s2)


def _fid_no_mean(mu1, s1, mu2, s2):
    _, tr = _parts(mu1, s1, mu2, s2)
    return tr - 2.0 * _tr_sqrt(s1, s2)


_FID_MISTAKES = [
    Mistake(
        "the factor 2 on the trace term is missing: d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) "
        "- 2 tr((S1 S2)^(1/2)).",
        _fid_no_two,
    ),
    Mistake(
        "you used tr(S1 S2) without the square root: the last term is "
        "-2 tr((S1 S2)^(1/2)), the trace of the *matrix* square root of the product.",
        _fid_no_sqrt,
    ),
    Mistake(
        "you took an elementwise square root (np.sqrt / torch.sqrt of S1 * S2 or of "
        "S1 @ S2); (S1 S2)^(1/2) is the *matrix* square root: scipy.linalg.sqrtm, or the "
        "eigenvalues of A S2 A with A = S1^(1/2) (np.linalg.eigh).",
        _fid_elementwise_sqrt,
    ),
    Mistake(
        "you took an elementwise square root of the diagonal of S1 @ S2; (S1 S2)^(1/2) is "
        "the *matrix* square root: scipy.linalg.sqrtm, or sqrt of the eigenvalues of "
        "A S2 A with A = S1^(1/2).",
        _fid_sqrt_of_product_entries,
    ),
    Mistake(
        "||mu1 - mu2|| is not squared: the mean term is the *squared* distance "
        "||mu1 - mu2||^2 = (mu1 - mu2) @ (mu1 - mu2).",
        _fid_norm_not_squared,
    ),
    Mistake(
        "the mean term ||mu1 - mu2||^2 is missing.",
        _fid_no_mean,
    ),
]

_NAN_FID = (
    "a singular covariance (fewer samples than feature dimensions, N < D) has zero "
    "eigenvalues that round-off makes slightly negative, so a square root returns nan. "
    "Clip the eigenvalues to 0 before the square root (np.clip(w, 0, None)), or, as "
    "pytorch-fid does, add an eps offset eps * I (eps = 1e-6) to both covariances when "
    "the result is not finite."
)


def _gaussian(n: int, d: int, seed: int, scale: float, shift: float):
    """The mean and unbiased covariance of n seeded samples in d dims (float64 NumPy)."""
    f = (randn(n, d, seed=seed, dtype=torch.float64) * scale + shift).numpy()
    mix = randn(d, d, seed=seed + 1, dtype=torch.float64).numpy() / math.sqrt(d)
    f = f @ (np.eye(d) + 0.5 * mix)  # correlated features
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(d, d)


def _fid_inputs():
    """(case, (mu1, s1, mu2, s2)) in float64 NumPy; the caller converts them."""
    # (N1, N2, D): D = 1 first (closed form), then D > 1, then singular (N < D).
    for i, (n1, n2, d) in enumerate([(30, 25, 1), (40, 50, 2), (60, 45, 5), (80, 70, 8)]):
        mu1, s1 = _gaussian(n1, d, 300 + 10 * i, 1.0, 0.0)
        mu2, s2 = _gaussian(n2, d, 305 + 10 * i, 1.6, 0.7)
        yield f"D = {d}", (mu1, s1, mu2, s2)
    for i, (n1, n2, d) in enumerate([(3, 4, 6), (5, 5, 8)]):
        mu1, s1 = _gaussian(n1, d, 400 + 10 * i, 1.0, 0.0)
        mu2, s2 = _gaussian(n2, d, 405 + 10 * i, 1.3, 0.5)
        yield f"D = {d}, singular covariances (N = {n1}, {n2} < D)", (mu1, s1, mu2, s2)


def _as_python_float(name: str, got, case: str) -> float:
    """The student's result as a float, or an error naming the wrong return type."""
    if got is None:
        raise AssertionError(f"{name} returned None{where(case)}. Did you forget a `return`?")
    if isinstance(got, bool) or not isinstance(got, (float, int)):
        if isinstance(got, complex) or np.iscomplexobj(got):
            raise AssertionError(
                f"{name} returned a complex number ({got!r}){where(case)}: the distance is "
                "real. scipy.linalg.sqrtm of the non-symmetric product S1 @ S2 leaves "
                "round-off imaginary parts; take the real part and return a Python float, "
                "float(np.real(...)) (or use symmetric eigendecompositions, np.linalg.eigh, "
                "where no complex numbers arise)."
            )
        kind = "a torch tensor" if isinstance(got, torch.Tensor) else type(got).__name__
        raise AssertionError(
            f"{name} returned {kind}{where(case)}; a Python float is expected: return "
            "float(d2) (or d2.item())."
        )
    return float(got)


def check_frechet_distance(fn) -> None:
    """Check ``frechet_distance(mu1, sigma1, mu2, sigma2) -> float``.

    Judged: ``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))`` on D = 1 (closed
    form ``(mu1 - mu2)^2 + (s1^(1/2) - s2^(1/2))^2``), several D > 1 and singular
    covariances (N < D), given as NumPy float64 arrays and as torch tensors (float32 and
    float64); a Python float is returned and the inputs are left unchanged. Tolerance:
    1e-6 relative to ``||mu1 - mu2||^2 + tr(S1) + tr(S2)`` (the digits an honest float64
    computation, scipy.linalg.sqrtm included, keeps).
    """
    assert_not_reference(fn, ref.frechet_distance)
    name = "frechet_distance"
    runs = []
    for case, arrays in _fid_inputs():
        runs.append((f"{case}, numpy float64", arrays))
        for dev, dtype in cases():
            tensors = tuple(torch.from_numpy(a).to(dev, dtype) for a in arrays)
            runs.append((f"{case}, torch {dtype}, {dev.type}", tensors))
    for case, args in runs:
        before = [_snapshot(a) for a in args]
        expected = ref.frechet_distance(*args)
        try:
            out = _call(fn, args, case=case)
        except ReferenceCalledError:
            raise
        except AssertionError as err:
            if "singular" in case and ("LinAlgError" in str(err) or "ValueError" in str(err)):
                raise AssertionError(f"{err}. {_NAN_FID}") from err
            raise
        _unchanged(name, before, args)
        got = _as_python_float(name, out, case)
        # The reference's own float64 copy of the inputs, for the mistakes.
        a64 = tuple(_to_torch(a).to(torch.float64).numpy() for a in args)
        a64 = (a64[0], 0.5 * (a64[1] + a64[1].T), a64[2], 0.5 * (a64[3] + a64[3].T))
        mean, tr = _parts(*a64)
        tol = 1e-6 * (mean + tr) + 1e-12
        if not math.isfinite(got):
            raise AssertionError(f"{name} returned {got}{where(case)}: {_NAN_FID}")
        if abs(got - expected) <= tol:
            continue
        for mistake in _FID_MISTAKES:
            try:
                wrong = mistake.fn(*a64)
            except Exception:
                continue
            if math.isfinite(wrong) and abs(got - wrong) <= tol:
                raise AssertionError(f"{name}: {mistake.message}{where(case)}")
        hint = ""
        if a64[0].shape[0] == 1:
            hint = (
                " For D = 1 the distance is (mu1 - mu2)^2 + (sqrt(s1) - sqrt(s2))^2 with "
                "s1, s2 the variances."
            )
        elif math.isclose(got, math.sqrt(max(expected, 0.0)), rel_tol=1e-6):
            hint = " You returned the square root: FID is the squared distance d^2 itself."
        raise AssertionError(
            f"{name} returned {got:.10g}, expected {expected:.10g}{where(case)}.{hint}"
        )
    success(name, "D = 1 closed form, D up to 8, singular covariances, NumPy and torch")


# ---------------------------------------------------------------------------------------
# inception_score
# ---------------------------------------------------------------------------------------


def _split_bounds(n: int, splits: int):
    return [(k * n // splits, (k + 1) * n // splits) for k in range(splits)]


def _kl_rows(part: np.ndarray, p_y: np.ndarray) -> np.ndarray:
    """KL(p(y|x) || p(y)) per row, 0 log 0 = 0: (N_k, K), (K,) -> (N_k,)."""
    nz = part > 0
    log_ratio = np.log(np.where(nz, part, 1.0)) - np.log(np.where(nz, p_y, 1.0))
    return np.where(nz, part * log_ratio, 0.0).sum(axis=1)


def _is_from(chunks, score):
    """(mean, std) over the per-chunk ``score(part)``; std ddof 0."""
    s = np.asarray([score(part) for part in chunks])
    return float(s.mean()), float(s.std())


def _chunks(p, splits, how="ref"):
    n = p.shape[0]
    if how == "ref":
        return [p[a:b] for a, b in _split_bounds(n, splits)]
    if how == "array_split":
        return np.array_split(p, splits)
    if how == "chunk":
        size = -(-n // splits)
        return [p[i : i + size] for i in range(0, n, size)]
    size = n // splits  # "drop": equal chunks, remainder dropped
    return [p[k * size : (k + 1) * size] for k in range(splits)]


def _score(part):
    return math.exp(_kl_rows(part, part.mean(axis=0)).mean())


def _is_reversed_kl(p, splits):
    def score(part):
        p_y = part.mean(axis=0, keepdims=True)
        return math.exp((p_y * (np.log(p_y) - np.log(part))).sum(axis=1).mean())

    return _is_from(_chunks(p, splits), score)


def _is_mean_of_log(p, splits):
    def score(part):
        log_py = np.log(part).mean(axis=0, keepdims=True)  # geometric, not arithmetic, mean
        return math.exp((part * (np.log(part) - log_py)).sum(axis=1).mean())

    return _is_from(_chunks(p, splits), score)


def _is_mean_of_exp(p, splits):
    return _is_from(
        _chunks(p, splits), lambda part: np.exp(_kl_rows(part, part.mean(axis=0))).mean()
    )


def _is_ddof1(p, splits):
    s = np.asarray([_score(part) for part in _chunks(p, splits)])
    return float(s.mean()), float(s.std(ddof=1))


def _is_global_marginal(p, splits):
    p_y = p.mean(axis=0)
    return _is_from(_chunks(p, splits), lambda part: math.exp(_kl_rows(part, p_y).mean()))


def _is_no_exp(p, splits):
    return _is_from(_chunks(p, splits), lambda part: _kl_rows(part, part.mean(axis=0)).mean())


def _is_kl_mean_over_classes(p, splits):
    return _is_from(
        _chunks(p, splits),
        lambda part: math.exp(_kl_rows(part, part.mean(axis=0)).mean() / part.shape[1]),
    )


def _splitter(how):
    return lambda p, splits: _is_from(_chunks(p, splits, how), _score)


_SPLITS = (
    "split k is rows k*N//splits to (k+1)*N//splits, as in the original code (np.array_split, "
    "torch.chunk and equal chunks that drop the remainder cut differently when splits does "
    "not divide N)."
)

_IS_MISTAKES = [
    Mistake(
        "the KL divergence is reversed: IS uses KL(p(y|x) || p(y)) = "
        "sum_y p(y|x) (log p(y|x) - log p(y)), weighted by p(y|x), not by p(y).",
        _is_reversed_kl,
    ),
    Mistake(
        "the marginal is the mean of the logs (a geometric mean): p(y) is the mean of the "
        "rows p(y|x) and the log is taken after averaging, log(mean), not mean(log).",
        _is_mean_of_log,
    ),
    Mistake(
        "you averaged exp(KL) over the samples; IS is exp of the *mean* KL in each split: "
        "exp(mean_x KL(p(y|x) || p(y))).",
        _is_mean_of_exp,
    ),
    Mistake(
        "the marginal p(y) is taken over all rows; it is the mean of the rows of each "
        "split (part.mean(axis=0)), computed separately for every split.",
        _is_global_marginal,
    ),
    Mistake(
        "the exp is missing: IS = exp(mean KL), you returned the mean KL itself.",
        _is_no_exp,
    ),
    Mistake(
        "the KL is averaged over the classes; sum it over the K classes, then average over "
        "the samples.",
        _is_kl_mean_over_classes,
    ),
    Mistake(_SPLITS, _splitter("array_split")),
    Mistake(_SPLITS, _splitter("chunk")),
    Mistake(_SPLITS, _splitter("drop")),
]

_DDOF = (
    "the mean is right but the std is not: the std over the split scores uses ddof 0 "
    "(np.std's default; torch.std needs correction=0 / unbiased=False)."
)
_NAN_IS = (
    "a probability of exactly 0 gives log 0 = -inf and 0 * -inf = nan; use 0 log 0 = 0 "
    "(mask the zeros with np.where / torch.where, or use scipy.special.xlogy / "
    "torch.special.xlogy)."
)


def _is_inputs():
    """(case, probs, splits): dense softmax outputs, then one-hot rows with exact zeros."""
    for i, (n, k, splits) in enumerate([(20, 5, 4), (30, 10, 3), (17, 4, 5), (12, 3, 1)]):
        logits = randn(n, k, seed=500 + i, dtype=torch.float64) * 2.0
        probs = torch.softmax(logits, dim=1)
        yield f"probs {(n, k)}, splits={splits}, numpy float64", probs.numpy(), splits
        for dev, dtype in cases():
            yield (
                f"probs {(n, k)}, splits={splits}, torch {dtype}, {dev.type}",
                probs.to(dev, dtype),
                splits,
            )
    # Confident, unbalanced predictions: many exact zeros (0 log 0 = 0).
    labels = torch.tensor([0, 1, 2, 0, 1, 0, 3, 0, 2, 1, 0, 3])
    onehot = 0.85 * torch.nn.functional.one_hot(labels, 5).double()
    onehot[:, 4] = 0.15  # one class always gets a little, the rest exactly 0
    yield "one-hot-like probs with exact zeros (12, 5), splits=2", onehot.numpy(), 2


def check_inception_score(fn) -> None:
    """Check ``inception_score(probs (N, K), splits=10) -> (mean, std)``.

    Judged: ``exp(mean_x KL(p(y|x) || p(y)))`` per split, split k being rows
    ``k*N//splits`` to ``(k+1)*N//splits`` and ``p(y)`` the split's mean row, then the
    mean and the std (ddof 0) over the splits, returned as two Python floats; NumPy and
    torch inputs, splits not dividing N, exact zeros (0 log 0 = 0). Tolerance 1e-9
    relative for float64 input, 1e-5 for float32.
    """
    assert_not_reference(fn, ref.inception_score)
    name = "inception_score"
    for case, probs, splits in _is_inputs():
        before = [_snapshot(probs)]
        expected = ref.inception_score(probs, splits=splits)
        got = _call(fn, (probs,), {"splits": splits}, case=case)
        _unchanged(name, before, [probs])
        if got is None:
            raise AssertionError(f"{name} returned None{where(case)}. Did you forget a `return`?")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError(
                f"{name} should return a pair (mean, std) of Python floats, got "
                f"{type(got).__name__}{where(case)}."
            )
        values = []
        for label, v in zip(("mean", "std"), got, strict=True):
            if isinstance(v, bool) or not isinstance(v, (float, int)):
                kind = "a torch tensor" if isinstance(v, torch.Tensor) else type(v).__name__
                raise AssertionError(
                    f"{name} returned the {label} as {kind}{where(case)}; Python floats are "
                    "expected: return float(mean), float(std)."
                )
            values.append(float(v))
        mean, std = values
        if not (math.isfinite(mean) and math.isfinite(std)):
            raise AssertionError(f"{name} returned ({mean}, {std}){where(case)}: {_NAN_IS}")
        is32 = not _is_float64(probs)
        rtol = TOL[torch.float32]["rtol"] / 10 if is32 else TOL[torch.float64]["rtol"]
        scale = max(1.0, expected[0])  # std may be 0 (one split): judge it on IS's scale

        def near(a, b, rtol=rtol, scale=scale):
            return abs(a - b) <= rtol * scale

        if near(mean, expected[0]) and near(std, expected[1]):
            continue
        p64 = _to_torch(probs).to(torch.float64).numpy()
        for mistake in _IS_MISTAKES:
            try:
                with np.errstate(all="ignore"):
                    wrong = mistake.fn(p64, splits)
            except Exception:
                continue
            if near(mean, wrong[0]) and near(std, wrong[1]) and not near(mean, expected[0]):
                raise AssertionError(f"{name}: {mistake.message}{where(case)}")
        if near(mean, expected[0]):
            ddof1 = _is_ddof1(p64, splits)
            if near(std, ddof1[1]):
                raise AssertionError(f"{name}: {_DDOF}{where(case)}")
            raise AssertionError(
                f"{name} returned std {std:.10g}, expected {expected[1]:.10g}{where(case)}: "
                "the std is over the splits' scores, ddof 0."
            )
        raise AssertionError(
            f"{name} returned ({mean:.10g}, {std:.10g}), expected ({expected[0]:.10g}, "
            f"{expected[1]:.10g}){where(case)}. Per split: p(y) = mean row, IS_k = "
            "exp(mean over rows of sum_y p(y|x) (log p(y|x) - log p(y)))."
        )
    success(name, "per-split marginals, k*N//splits splits, std ddof 0, 0 log 0, NumPy/torch")
