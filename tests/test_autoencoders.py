"""Week 01 references (``course.autoencoders``) against closed forms and peer libraries.

Every expected value here comes from somewhere other than the code under test:
a hand computation, ``torch.nn.functional``, NumPy, SciPy or scikit-learn, or an
identity the quantity must satisfy (a projection is idempotent, the same subspace
has zero principal angles, ...).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA
from torch import nn

from course.autoencoders import (
    Autoencoder,
    SwapAutoencoder,
    add_noise,
    attribute_vector,
    interpolate,
    pca_baseline,
    pca_reconstruct,
    reconstruction_loss,
    subspace_angles,
)

DTYPES = [torch.float32, torch.float64]
# Agreement with an independent computation of the same quantity.
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _pca_data(n: int, d: int, seed: int, dtype, scales=None) -> torch.Tensor:
    """(n, d) data with distinct variances along a random orthonormal basis, mean far from 0."""
    g = _gen(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    if scales is None:
        scales = torch.linspace(3.0, 0.3, d, dtype=torch.float64)
    x = (torch.randn(n, d, generator=g, dtype=torch.float64) * scales) @ q.T  # (n, d)
    x = x + 2.0 + torch.randn(d, generator=g, dtype=torch.float64)  # (n, d), offset mean
    return x.to(dtype)


def _projector(rows: torch.Tensor) -> np.ndarray:
    """Orthogonal projector onto the row space of ``rows`` (k, D), computed in NumPy."""
    q, _ = np.linalg.qr(rows.detach().double().numpy().T)  # (D, k)
    return q @ q.T  # (D, D)


# ---------------------------------------------------------------------------------------
# reconstruction_loss
# ---------------------------------------------------------------------------------------


def test_reconstruction_loss_hand_computed():
    x_hat = torch.tensor([[0.5, 0.2]], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    # MSE: ((0.5 - 1)^2 + (0.2 - 0)^2) / 2
    assert reconstruction_loss(x_hat, x, kind="mse").item() == pytest.approx(0.145, abs=1e-15)
    # BCE: -(1 * log 0.5 + (1 - 0) * log(1 - 0.2)) / 2
    expected = -(math.log(0.5) + math.log(0.8)) / 2
    assert reconstruction_loss(x_hat, x, kind="bce").item() == pytest.approx(expected, abs=1e-15)
    # The default kind is the squared error.
    assert reconstruction_loss(x_hat, x).item() == pytest.approx(0.145, abs=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 1, 8, 8), (3, 10), (1, 5)])
def test_reconstruction_loss_matches_torch_functional(dtype, shape):
    g = _gen(0)
    x = (torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1).to(dtype)
    x_hat = (torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1).to(dtype)
    mse = reconstruction_loss(x_hat, x, kind="mse")
    assert mse.shape == () and mse.dtype == dtype
    # Mean over *all* elements, computed by hand in float64 and by F.mse_loss.
    by_hand = ((x_hat.double() - x.double()) ** 2).sum() / x.numel()
    torch.testing.assert_close(mse.double(), by_hand, **TOL[dtype])
    torch.testing.assert_close(mse, F.mse_loss(x_hat, x), **TOL[dtype])

    p = (torch.rand(*shape, generator=g, dtype=torch.float64) * 0.9 + 0.05).to(dtype)
    t = torch.rand(*shape, generator=g, dtype=torch.float64).to(dtype)  # soft targets
    bce = reconstruction_loss(p, t, kind="bce")
    assert bce.shape == () and bce.dtype == dtype
    pd, td = p.double(), t.double()
    by_hand = -(td * pd.log() + (1 - td) * (1 - pd).log()).sum() / t.numel()
    torch.testing.assert_close(bce.double(), by_hand, **TOL[dtype])
    torch.testing.assert_close(bce, F.binary_cross_entropy(p, t), **TOL[dtype])


def test_reconstruction_loss_gradient_is_the_mse_derivative():
    x_hat = torch.tensor([[0.5, 0.2], [0.0, -1.0]], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    reconstruction_loss(x_hat, x).backward()
    # d/dx_hat mean((x_hat - x)^2) = 2 (x_hat - x) / N
    torch.testing.assert_close(x_hat.grad, 2 * (x_hat.detach() - x) / 4)


def test_reconstruction_loss_rejects_shape_mismatch_and_bad_kind():
    with pytest.raises(ValueError, match="view_as"):
        reconstruction_loss(torch.zeros(2, 64), torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="'mse' or 'bce'"):
        reconstruction_loss(torch.zeros(2, 3), torch.zeros(2, 3), kind="l1")


# ---------------------------------------------------------------------------------------
# pca_baseline, pca_reconstruct, subspace_angles
# ---------------------------------------------------------------------------------------

PCA_CASES = [(200, 6, 2), (150, 5, 1), (10, 20, 3), (300, 8, 8)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d, k", PCA_CASES)
def test_pca_baseline_matches_numpy_svd(dtype, n, d, k):
    x = _pca_data(n, d, seed=n + d + k, dtype=dtype)
    comps, mean = pca_baseline(x, k)
    assert comps.shape == (k, d) and mean.shape == (d,)
    assert comps.dtype == dtype and mean.dtype == dtype
    xn = x.double().numpy()
    np.testing.assert_allclose(mean.double().numpy(), xn.mean(axis=0), rtol=1e-6, atol=1e-6)
    _, _, vt = np.linalg.svd(xn - xn.mean(axis=0), full_matrices=False)
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    # Signs are free: compare projectors C^T C, and each row up to sign (that fixes the order).
    c = comps.double().numpy()
    np.testing.assert_allclose(c.T @ c, vt[:k].T @ vt[:k], atol=tol)
    np.testing.assert_allclose(np.abs((c * vt[:k]).sum(axis=1)), np.ones(k), atol=tol)
    # Orthonormal rows.
    np.testing.assert_allclose(c @ c.T, np.eye(k), atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pca_baseline_matches_sklearn_and_orders_by_explained_variance(dtype):
    x = _pca_data(400, 7, seed=5, dtype=dtype)
    comps, mean = pca_baseline(x, 3)
    sk = PCA(n_components=3, svd_solver="full").fit(x.double().numpy())
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(mean.double().numpy(), sk.mean_, atol=tol)
    c = comps.double().numpy()
    np.testing.assert_allclose(c.T @ c, sk.components_.T @ sk.components_, atol=tol)
    np.testing.assert_allclose(np.abs((c * sk.components_).sum(axis=1)), np.ones(3), atol=tol)
    # The variance of the data along each component decreases, and equals sklearn's.
    xc = x.double().numpy() - sk.mean_
    variances = ((xc @ c.T) ** 2).sum(axis=0) / (len(xc) - 1)  # (3,)
    assert np.all(np.diff(variances) < 0)
    np.testing.assert_allclose(variances, sk.explained_variance_, rtol=1e-4)


def test_pca_baseline_is_not_fooled_by_the_mean():
    # Data on a line along e_1, far from the origin along e_2: the component is e_1.
    t = torch.linspace(-1, 1, 11, dtype=torch.float64)
    x = torch.stack([t, torch.full_like(t, 10.0)], dim=1)  # (11, 2)
    comps, mean = pca_baseline(x, 1)
    torch.testing.assert_close(mean, torch.tensor([0.0, 10.0], dtype=torch.float64))
    torch.testing.assert_close(comps.abs(), torch.tensor([[1.0, 0.0]], dtype=torch.float64))


def test_pca_baseline_validates_arguments():
    with pytest.raises(ValueError, match="flatten"):
        pca_baseline(torch.zeros(4, 1, 2, 2), 1)
    with pytest.raises(ValueError, match="k must be"):
        pca_baseline(torch.randn(5, 3), 4)
    with pytest.raises(ValueError, match="k must be"):
        pca_baseline(torch.randn(5, 3), 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pca_reconstruct_is_an_affine_projection(dtype):
    x = _pca_data(120, 6, seed=3, dtype=dtype)
    comps, mean = pca_baseline(x, 2)
    x_rec = pca_reconstruct(x, comps, mean)
    assert x_rec.shape == x.shape and x_rec.dtype == dtype
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else TOL[dtype]
    # Idempotent: reconstructing a reconstruction changes nothing.
    torch.testing.assert_close(pca_reconstruct(x_rec, comps, mean), x_rec, **tol)
    # The residual is orthogonal to the subspace.
    residual = (x - x_rec).double() @ comps.double().T  # (N, k)
    torch.testing.assert_close(residual, torch.zeros_like(residual), **tol)
    # Same as scikit-learn's transform + inverse_transform.
    sk = PCA(n_components=2, svd_solver="full").fit(x.double().numpy())
    expected = sk.inverse_transform(sk.transform(x.double().numpy()))
    np.testing.assert_allclose(x_rec.double().numpy(), expected, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pca_reconstruct_with_all_components_is_exact(dtype):
    x = _pca_data(50, 5, seed=4, dtype=dtype)
    comps, mean = pca_baseline(x, 5)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else TOL[dtype]
    torch.testing.assert_close(pca_reconstruct(x, comps, mean), x, **tol)


def test_pca_reconstruction_error_is_the_discarded_variance():
    # Eckart-Young: the mean squared residual per sample is the sum of the dropped eigenvalues.
    x = _pca_data(500, 6, seed=6, dtype=torch.float64)
    comps, mean = pca_baseline(x, 2)
    err = ((x - pca_reconstruct(x, comps, mean)) ** 2).sum(1).mean()
    xc = x.numpy() - x.numpy().mean(0)
    eigvals = np.linalg.eigvalsh(xc.T @ xc / len(xc))  # ascending
    assert err.item() == pytest.approx(eigvals[:-2].sum(), rel=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k, l", [(2, 2), (2, 3), (3, 1)])
def test_subspace_angles_matches_scipy(dtype, k, l):
    g = _gen(10 * k + l)
    a = torch.randn(k, 7, generator=g, dtype=torch.float64)
    b = torch.randn(l, 7, generator=g, dtype=torch.float64)
    got = subspace_angles(a.to(dtype), b.to(dtype))
    assert got.shape == (min(k, l),) and got.dtype == dtype
    # scipy takes *column* bases (D, k) and returns the angles in descending order.
    expected = np.sort(scipy.linalg.subspace_angles(a.numpy().T, b.numpy().T))
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(got.double().numpy(), expected, atol=tol)
    assert torch.all(got[1:] >= got[:-1])  # ascending


def test_subspace_angles_of_orthogonal_and_identical_subspaces():
    eye = torch.eye(4, dtype=torch.float64)
    torch.testing.assert_close(
        subspace_angles(eye[:2], eye[2:]), torch.full((2,), math.pi / 2, dtype=torch.float64)
    )
    # e_1 and e_1 + e_2 are 45 degrees apart.
    a, b = eye[:1], (eye[0] + eye[1])[None]
    torch.testing.assert_close(
        subspace_angles(a, b), torch.tensor([math.pi / 4], dtype=torch.float64)
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_subspace_angles_are_zero_under_a_change_of_basis(dtype):
    g = _gen(1)
    basis = torch.randn(3, 9, generator=g, dtype=torch.float64)
    mix = torch.randn(3, 3, generator=g, dtype=torch.float64) + 3 * torch.eye(3)  # invertible
    angles = subspace_angles((mix @ basis).to(dtype), basis.to(dtype))
    # arccos is ill-conditioned at 1: the angle of a cosine 1 - eps is about sqrt(2 eps).
    tol = 2e-3 if dtype == torch.float32 else 1e-6
    assert angles.abs().max().item() < tol
    # A subspace contains each of its directions: one row against all three.
    assert subspace_angles(basis[1:2], mix @ basis).abs().max().item() < 1e-6


# ---------------------------------------------------------------------------------------
# Autoencoder: shapes, parameters, and the lecture's claim about the linear case
# ---------------------------------------------------------------------------------------


def _mlp_params(sizes) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


@pytest.mark.parametrize(
    "in_dim, latent_dim, hidden", [(64, 2, (32,)), (20, 3, (16, 8)), (12, 4, ())]
)
def test_autoencoder_parameter_count(in_dim, latent_dim, hidden):
    model = Autoencoder(in_dim, latent_dim, hidden=hidden)
    sizes = [in_dim, *hidden, latent_dim]
    expected = _mlp_params(sizes) + _mlp_params(sizes[::-1])  # encoder + mirrored decoder
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize("dtype", DTYPES)
def test_autoencoder_image_round_trip_shapes(dtype):
    torch.manual_seed(0)
    model = Autoencoder(64, 2, hidden=(32,)).to(dtype)
    x = torch.randn(5, 1, 8, 8, dtype=dtype)
    z = model.encode(x)
    assert z.shape == (5, 2) and z.dtype == dtype
    assert (z < 0).any()  # no activation on the code
    assert model.decode(z).shape == (5, 64)
    x_hat = model(x)
    assert x_hat.shape == x.shape and x_hat.dtype == dtype
    torch.testing.assert_close(x_hat, model.decode(model.encode(x.flatten(1))).view(5, 1, 8, 8))
    with pytest.raises(ValueError, match="expected 64 features"):
        model.encode(torch.randn(5, 1, 4, 4, dtype=dtype))


@pytest.mark.parametrize("act, lo, hi", [("tanh", -1.0, 1.0), ("sigmoid", 0.0, 1.0)])
def test_autoencoder_out_activation_bounds_the_output(act, lo, hi):
    torch.manual_seed(0)
    model = Autoencoder(10, 2, hidden=(8,), out_activation=act)
    out = model(50 * torch.randn(256, 10)).detach()
    assert out.min() >= lo and out.max() <= hi
    assert out.min() < lo + 0.5 and out.max() > hi - 0.5  # the whole range is used
    with pytest.raises(ValueError, match="out_activation"):
        Autoencoder(10, 2, out_activation="relu")


def test_linear_autoencoder_is_affine():
    torch.manual_seed(0)
    model = Autoencoder(6, 2, hidden=())
    g = _gen(2)
    a, b = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(model(a + b) + model(torch.zeros(4, 6)), model(a) + model(b))
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == 2


def test_linear_autoencoder_learns_the_pca_subspace_but_not_its_basis():
    """The lecture's claim: an MSE-trained linear AE finds the PCA subspace, in another basis."""
    d, k = 8, 2
    g = _gen(0)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    scales = torch.tensor([3.0, 2.0, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05], dtype=torch.float64)
    x = ((torch.randn(512, d, generator=g, dtype=torch.float64) * scales) @ q.T + 1.0).float()
    torch.manual_seed(0)
    model = Autoencoder(d, k, hidden=())
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(300):  # full batch, about 0.3 s on one thread
        opt.zero_grad()
        loss = reconstruction_loss(model(x), x)
        loss.backward()
        opt.step()
    decoder = model.decoder[0].weight.detach().double()  # (D, k): its columns span the output
    comps, _ = pca_baseline(x.double(), k)
    # Same subspace: principal angles near zero, by our function and by scipy's.
    assert subspace_angles(decoder.T, comps).max().item() < 0.05
    assert scipy.linalg.subspace_angles(decoder.numpy(), comps.T.numpy()).max() < 0.05
    # As good as PCA, which is optimal (Eckart-Young): its error is the dropped variance / D.
    xc = x.double().numpy() - x.double().numpy().mean(0)
    pca_mse = np.linalg.eigvalsh(xc.T @ xc / len(xc))[:-k].sum() / d
    assert pca_mse * (1 - 1e-5) <= loss.item() <= 1.02 * pca_mse
    # ... but not PCA's basis: the decoder's columns are not orthonormal (any invertible
    # mix G of the components, W_d = V G, W_e = G^-1 V^T, reconstructs equally well).
    gram = decoder.T @ decoder  # (k, k)
    assert (gram - torch.eye(k, dtype=torch.float64)).abs().max().item() > 0.2


# ---------------------------------------------------------------------------------------
# add_noise
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_add_noise_with_given_noise_is_clipped_sum(dtype):
    x = torch.tensor([0.2, 0.9, -0.9, 0.0, 1.0], dtype=dtype)
    noise = torch.tensor([0.4, 1.0, -1.0, -3.0, 0.0], dtype=dtype)
    before = x.clone()
    out = add_noise(x, 0.5, noise)
    # 0.2 + 0.2, 0.9 + 0.5 -> 1, -0.9 - 0.5 -> -1, 0 - 1.5 -> -1, 1 + 0
    expected = torch.tensor([0.4, 1.0, -1.0, -1.0, 1.0], dtype=dtype)
    torch.testing.assert_close(out, expected, **TOL[dtype])
    assert out.dtype == dtype
    assert torch.equal(x, before)  # x is not modified
    torch.testing.assert_close(add_noise(x, 0.0, noise), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_add_noise_draws_standard_normal_noise(dtype):
    torch.manual_seed(0)
    x = torch.zeros(200_000, dtype=dtype)
    a = add_noise(x, 0.1)
    b = add_noise(x, 0.1)
    assert a.dtype == dtype and a.shape == x.shape
    assert not torch.equal(a, b)  # fresh noise each call
    # Mean 0 (std error 2e-4), std 0.1 (std error 1.6e-4): Gaussian, scaled by sigma.
    assert abs(a.double().mean().item()) < 2e-3
    assert a.double().std().item() == pytest.approx(0.1, abs=2e-3)
    # Gaussian, not uniform: about 68.3% within one sigma (uniform with std 0.1: 57.7%).
    assert (a.abs() < 0.1).double().mean().item() == pytest.approx(0.6827, abs=0.01)
    assert torch.equal(x, torch.zeros_like(x))
    if dtype == torch.float64:
        # Drawn in float64, not float32 then cast: most values are not float32 numbers.
        assert (a != a.float().double()).double().mean().item() > 0.9


def test_add_noise_clips_to_the_data_range():
    torch.manual_seed(1)
    x = torch.rand(1000, dtype=torch.float64) * 2 - 1
    out = add_noise(x, 2.0)
    assert out.min().item() == -1.0 and out.max().item() == 1.0


# ---------------------------------------------------------------------------------------
# interpolate, attribute_vector
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("steps", [2, 5, 10])
def test_interpolate_endpoints_and_equal_spacing(dtype, steps):
    g = _gen(steps)
    z0 = torch.randn(4, generator=g, dtype=torch.float64).to(dtype)
    z1 = torch.randn(4, generator=g, dtype=torch.float64).to(dtype)
    path = interpolate(z0, z1, steps)
    assert path.shape == (steps, 4) and path.dtype == dtype
    torch.testing.assert_close(path[0], z0, **TOL[dtype])
    torch.testing.assert_close(path[-1], z1, **TOL[dtype])
    step = ((z1.double() - z0.double()) / (steps - 1)).expand(steps - 1, 4)
    torch.testing.assert_close(path.diff(dim=0).double(), step, **TOL[dtype])


def test_interpolate_hand_computed_and_validation():
    z0, z1 = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
    expected = torch.tensor([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0], [3.0, -1.0], [4.0, -2.0]])
    torch.testing.assert_close(interpolate(z0, z1, 5), expected)
    with pytest.raises(ValueError, match="at least 2"):
        interpolate(z0, z1, 1)
    with pytest.raises(ValueError, match=r"\(D,\)"):
        interpolate(z0, torch.zeros(3), 4)
    with pytest.raises(ValueError, match=r"\(D,\)"):
        interpolate(z0[None], z1[None], 4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_attribute_vector_is_the_difference_of_means(dtype):
    g = _gen(3)
    z_with = (torch.randn(6, 4, generator=g, dtype=torch.float64) + 1.0).to(dtype)
    z_without = torch.randn(9, 4, generator=g, dtype=torch.float64).to(dtype)
    v = attribute_vector(z_with, z_without)
    assert v.shape == (4,) and v.dtype == dtype
    expected = z_with.double().numpy().mean(0) - z_without.double().numpy().mean(0)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(v.double().numpy(), expected, atol=tol)
    # Moving every code without the attribute by v gives them the mean of the other group.
    moved = z_without + v  # (M, D)
    torch.testing.assert_close(moved.mean(0), z_with.mean(0), **TOL[dtype])


def test_attribute_vector_validates_shapes():
    with pytest.raises(ValueError, match=r"\(N, D\) and \(M, D\)"):
        attribute_vector(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"\(N, D\) and \(M, D\)"):
        attribute_vector(torch.zeros(4), torch.zeros(3, 4))


# ---------------------------------------------------------------------------------------
# SwapAutoencoder
# ---------------------------------------------------------------------------------------


def test_swap_autoencoder_shapes_and_separate_decoders():
    torch.manual_seed(0)
    model = SwapAutoencoder(64, 4, hidden=(16,), domains=2)
    x = torch.randn(3, 1, 8, 8)
    out0, out1 = model.swap(x, to=0), model.swap(x, to=1)
    assert out0.shape == x.shape and out1.shape == x.shape
    assert out0.abs().max() <= 1.0  # tanh by default: images in [-1, 1]
    assert not torch.allclose(out0, out1)  # each domain renders with its own decoder
    torch.testing.assert_close(model(x, 1), out1)
    # Nothing is shared between the decoders, everything in the encoder is shared.
    ids0 = {id(p) for p in model.decoders[0].parameters()}
    ids1 = {id(p) for p in model.decoders[1].parameters()}
    assert ids0 and not ids0 & ids1
    # A loss on domain 0 trains the encoder and decoder 0, never decoder 1.
    model.zero_grad()
    model(x, 0).pow(2).sum().backward()
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.decoders[0].parameters())
    assert all(p.grad is None for p in model.decoders[1].parameters())


def test_swap_autoencoder_decoders_count_and_parameter_count():
    model = SwapAutoencoder(20, 3, hidden=(8,), out_activation=None, domains=3)
    assert len(model.decoders) == 3
    sizes = [20, 8, 3]
    expected = _mlp_params(sizes) + 3 * _mlp_params(sizes[::-1])
    assert sum(p.numel() for p in model.parameters()) == expected
