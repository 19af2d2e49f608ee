"""The metrics checks (``course.checks.metrics``) judged on student-like code.

For every check: realistic wrong implementations must be rejected with the message
that names *their* mistake, correct implementations written another way must pass,
and the course's reference must be refused (itself, or called through a wrapper).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import torch

import course.metrics as ref
from course.checks import metrics as C

NOT_YOURS = "reference implementation, not your own"
REFERENCE_CALLED = "called the course's reference"
STUB = r"NotImplementedError: replace `raise NotImplementedError\(\)`"


def _passes(check, fn, capsys) -> None:
    check(fn)
    assert "passed" in capsys.readouterr().out  # the one line of success


# ---------------------------------------------------------------------------------------
# feature_statistics
# ---------------------------------------------------------------------------------------


def _stats(cov, *, mean_axis=0, out_dtype=None):
    """A student's feature_statistics with the covariance computed by ``cov(f64)``."""

    def feature_statistics(features):
        if isinstance(features, torch.Tensor):
            f = features.double()
            mu, sigma = f.mean(dim=mean_axis), cov(f)
        else:
            f = np.asarray(features, dtype=np.float64)
            mu, sigma = f.mean(axis=mean_axis), cov(torch.from_numpy(f)).numpy()
        if out_dtype is not None:
            mu, sigma = mu.astype(out_dtype), sigma.astype(out_dtype)
        return mu, sigma

    return feature_statistics


def _biased(f):
    return torch.cov(f.T, correction=0)


def _no_rowvar(f):
    return torch.cov(f)  # rows taken as variables: (N, N)


def _stats_float32(features):
    if isinstance(features, torch.Tensor):
        f = features.float()
        return f.mean(dim=0), torch.cov(f.T)
    f = np.asarray(features, dtype=np.float32)
    return f.mean(axis=0), np.cov(f, rowvar=False).astype(np.float32)


def _stats_numpy_always(features):
    f = np.asarray(torch.as_tensor(features).double())
    return f.mean(axis=0), np.cov(f, rowvar=False)


WRONG_STATS = [
    (_stats(_biased), r"biased.*ddof=0"),
    (_stats(_no_rowvar), "covariance of the transpose"),
    (_stats(lambda f: torch.cov(f.T), mean_axis=1), "averaged over the feature axis"),
    (_stats_float32, "return float64"),
    (_stats_numpy_always, "NumPy in -> NumPy out, torch in -> torch out"),
    (_stats(lambda f: f.T @ f / (f.shape[0] - 1)), "not centred"),
]


@pytest.mark.parametrize("fn, message", WRONG_STATS)
def test_check_feature_statistics_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_feature_statistics(fn)


def _stats_torch_cov(features):
    if isinstance(features, torch.Tensor):
        f = features.to(torch.float64)
        return f.mean(0), torch.cov(f.T).reshape(f.shape[1], f.shape[1])
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.atleast_2d(np.cov(f.T))


def _stats_outer_products(features):
    is_torch = isinstance(features, torch.Tensor)
    f = features.double() if is_torch else torch.from_numpy(np.asarray(features, np.float64))
    mu = f.sum(0) / f.shape[0]
    sigma = sum(torch.outer(r - mu, r - mu) for r in f) / (f.shape[0] - 1)
    return (mu, sigma) if is_torch else (mu.numpy(), sigma.numpy())


@pytest.mark.parametrize("fn", [_stats_torch_cov, _stats_outer_products])
def test_check_feature_statistics_accepts_correct_variants(fn, capsys):
    _passes(C.check_feature_statistics, fn, capsys)


# ---------------------------------------------------------------------------------------
# frechet_distance
# ---------------------------------------------------------------------------------------


def _np(x):
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _fid_scipy(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's calculate_frechet_distance."""
    mu1, sigma1, mu2, sigma2 = map(_np, (mu1, sigma1, mu2, sigma2))
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _fid_torch_eig(mu1, sigma1, mu2, sigma2):
    """tr((S1 S2)^(1/2)) as the sum of sqrt of the eigenvalues of S1 S2 (real, >= 0)."""
    t = [torch.as_tensor(x).double().cpu() for x in (mu1, sigma1, mu2, sigma2)]
    eig = torch.linalg.eigvals(t[1] @ t[3]).real.clamp(min=0)
    d2 = (t[0] - t[2]).pow(2).sum() + t[1].trace() + t[3].trace() - 2 * eig.sqrt().sum()
    return d2.item()


def _fid_with(tr_sqrt, *, two=2.0, squared=True, as_float=True):
    def frechet_distance(mu1, sigma1, mu2, sigma2):
        mu1, sigma1, mu2, sigma2 = map(_np, (mu1, sigma1, mu2, sigma2))
        dist = np.linalg.norm(mu1 - mu2)
        mean = dist**2 if squared else dist
        d2 = mean + np.trace(sigma1) + np.trace(sigma2) - two * tr_sqrt(sigma1, sigma2)
        return float(np.real(d2)) if as_float else d2

    return frechet_distance


def _tr_sqrtm(s1, s2):
    return np.trace(scipy.linalg.sqrtm(s1 @ s2)).real


def _tr_sqrtm_complex(s1, s2):
    return np.trace(scipy.linalg.sqrtm(s1 @ s2).astype(complex))


def _tr_eig_no_clip(s1, s2):
    return np.sqrt(np.linalg.eigvals(s1 @ s2).real).sum()  # nan for round-off negatives


def _fid_returns_tensor(mu1, sigma1, mu2, sigma2):
    return torch.tensor(_fid_scipy(mu1, sigma1, mu2, sigma2))


WRONG_FID = [
    (_fid_with(_tr_sqrtm, two=1.0), "factor 2 on the trace term is missing"),
    (_fid_with(lambda a, b: np.trace(a @ b)), r"tr\(S1 S2\) without the square root"),
    (_fid_with(lambda a, b: np.trace(np.sqrt(a * b))), "elementwise square root"),
    (_fid_with(_tr_sqrtm, squared=False), "is not squared"),
    (_fid_with(_tr_sqrtm_complex, as_float=False), r"complex number.*float\(np.real"),
    (_fid_returns_tensor, r"torch tensor.*a Python float is expected: return float\(d2\)"),
    (_fid_with(_tr_eig_no_clip), r"returned nan.*Clip the eigenvalues.*eps \* I"),
]


@pytest.mark.parametrize("fn, message", WRONG_FID)
def test_check_frechet_distance_names_the_mistake(fn, message):
    with np.errstate(all="ignore"):
        with pytest.raises(AssertionError, match=message):
            C.check_frechet_distance(fn)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("fn", [_fid_scipy, _fid_torch_eig])
def test_check_frechet_distance_accepts_correct_variants(fn, capsys):
    _passes(C.check_frechet_distance, fn, capsys)


# ---------------------------------------------------------------------------------------
# inception_score
# ---------------------------------------------------------------------------------------


def _is_numpy(probs, splits=10, *, kl=None, marginal="split", exp=True, ddof=0, cut="ref"):
    p = _np(probs).astype(np.float64)
    n = p.shape[0]
    if cut == "ref":
        parts = [p[k * n // splits : (k + 1) * n // splits] for k in range(splits)]
    else:
        parts = np.array_split(p, splits)
    scores = []
    for part in parts:
        p_y = (part if marginal == "split" else p).mean(axis=0, keepdims=True)
        if kl is None:
            terms = scipy.special.xlogy(part, part) - scipy.special.xlogy(part, p_y)
        else:
            terms = kl(part, p_y)
        mean_kl = terms.sum(axis=1).mean()
        scores.append(np.exp(mean_kl) if exp else mean_kl)
    return float(np.mean(scores)), float(np.std(scores, ddof=ddof))


def _is_variant(**options):
    return functools.partial(_is_numpy, **options)


def _is_torch(probs, splits=10):
    p = torch.as_tensor(probs).double()
    n = p.shape[0]
    scores = []
    for k in range(splits):
        part = p[k * n // splits : (k + 1) * n // splits]
        p_y = part.mean(dim=0)
        kl = torch.special.xlogy(part, part) - torch.special.xlogy(part, p_y)
        scores.append(kl.sum(dim=1).mean().exp())
    scores = torch.stack(scores)
    return scores.mean().item(), scores.std(correction=0).item()


def _is_plain_log(probs, splits=10):
    p = _np(probs).astype(np.float64)
    n = p.shape[0]
    scores = []
    for k in range(splits):
        part = p[k * n // splits : (k + 1) * n // splits]
        kl = part * (np.log(part) - np.log(part.mean(axis=0)))  # nan for p = 0
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


WRONG_IS = [
    (_is_variant(kl=lambda p, p_y: p_y * (np.log(p_y) - np.log(p))), "KL divergence is reversed"),
    (
        _is_variant(kl=lambda p, p_y: p * (np.log(p) - np.log(p).mean(axis=0))),
        "mean of the logs",
    ),
    (_is_variant(ddof=1), "std over the split scores uses ddof 0"),
    (_is_variant(marginal="all"), "marginal p.y. is taken over all rows"),
    (_is_variant(exp=False), "the exp is missing"),
    (_is_variant(cut="array_split"), r"split k is rows k\*N//splits"),
    (_is_plain_log, "0 log 0 = 0"),
]


@pytest.mark.parametrize("fn, message", WRONG_IS)
def test_check_inception_score_names_the_mistake(fn, message):
    with np.errstate(all="ignore"):
        with pytest.raises(AssertionError, match=message):
            C.check_inception_score(fn)


def test_check_inception_score_wants_python_floats():
    def returns_tensors(probs, splits=10):
        mean, std = _is_torch(probs, splits)
        return torch.tensor(mean), torch.tensor(std)

    with pytest.raises(AssertionError, match=r"Python floats are expected"):
        C.check_inception_score(returns_tensors)


@pytest.mark.parametrize("fn", [_is_numpy, _is_torch])
def test_check_inception_score_accepts_correct_variants(fn, capsys):
    _passes(C.check_inception_score, fn, capsys)


# ---------------------------------------------------------------------------------------
# Every check: the reference, wrappers, stubs
# ---------------------------------------------------------------------------------------

CHECKS = [
    (C.check_feature_statistics, ref.feature_statistics),
    (C.check_frechet_distance, ref.frechet_distance),
    (C.check_inception_score, ref.inception_score),
]
IDS = [r.__name__ for _, r in CHECKS]


def test_check_frechet_distance_refuses_fid_from_the_reference_statistics():
    """Calling another function of ``course.metrics`` is refused too: the module is locked."""

    def frechet_distance(mu1, sigma1, mu2, sigma2):
        ref.feature_statistics(np.zeros((3, 2)))
        return _fid_scipy(mu1, sigma1, mu2, sigma2)

    with pytest.raises(AssertionError, match=REFERENCE_CALLED):
        C.check_frechet_distance(frechet_distance)


@pytest.mark.parametrize("check", [c for c, _ in CHECKS], ids=IDS)
def test_check_notices_inputs_changed_in_place(check):
    def scribbles_then_returns(first, *args, **kwargs):
        first[0] = first[0] * 0 + 0.5  # NumPy and torch alike
        return None

    with pytest.raises(AssertionError, match="changed its input number 1 in place"):
        check(scribbles_then_returns)
