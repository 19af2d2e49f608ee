"""course.flows: every layer's log-det against the autograd Jacobian, exact inverses, a 2-D
flow's density integrating to 1, and coupling / ActNorm against nflows (a peer package)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from course import flows as F


def _net(d_in, d_out, seed, out_scale=0.5):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(d_in, 16), nn.Tanh(), nn.Linear(16, d_out), nn.Tanh())
    net[2].weight.data *= 4 * out_scale  # non-trivial scales
    return net.double()


def _conv_net(c, seed):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(c, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, c, 3, padding=1)
    ).double()


def _jacobian_log_det(fn, x):
    """log|det dy/dx| per sample by autograd; x (B, ...) float64, samples independent."""
    out = []
    for i in range(x.shape[0]):
        xi = x[i : i + 1]
        jac = jacobian(lambda v: fn(v)[0].reshape(-1), xi).reshape(xi.numel(), xi.numel())
        out.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


def _assert_layer(layer_fwd, layer_inv, x):
    y, log_det = layer_fwd(x)
    assert log_det.shape == (x.shape[0],)
    torch.testing.assert_close(log_det, _jacobian_log_det(layer_fwd, x), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(layer_inv(y), x, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------ masks


def test_checkerboard_mask_matches_the_definition():
    m = F.checkerboard_mask(3, 4)
    assert m.shape == (1, 1, 3, 4) and m.dtype == torch.float32
    for i in range(3):
        for j in range(4):
            assert m[0, 0, i, j] == float((i + j) % 2 == 0)
    torch.testing.assert_close(F.checkerboard_mask(3, 4, parity=1), 1 - m)


def test_channel_mask_keeps_the_first_half_for_parity_0():
    assert F.channel_mask(4).flatten().tolist() == [1, 1, 0, 0]
    assert F.channel_mask(5).flatten().tolist() == [1, 1, 0, 0, 0]
    assert F.channel_mask(5, parity=1).flatten().tolist() == [0, 0, 1, 1, 1]
    assert F.channel_mask(6).shape == (1, 6, 1, 1)
    with pytest.raises(ValueError, match="parity"):
        F.channel_mask(4, parity=2)


# ------------------------------------------------------------------------------ coupling


@pytest.mark.parametrize("parity", [0, 1])
def test_coupling_log_det_is_the_jacobian_on_vectors(parity):
    mask = (
        torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0]])
        if parity == 0
        else torch.tensor([[0.0, 1, 0, 1, 1]])
    )
    s, t = _net(5, 5, 0), _net(5, 5, 1)
    x = torch.randn(3, 5, dtype=torch.float64)
    _assert_layer(
        lambda v: F.coupling_forward(v, mask, s, t), lambda z: F.coupling_inverse(z, mask, s, t), x
    )


@pytest.mark.parametrize("kind", ["checkerboard", "channel"])
def test_coupling_log_det_is_the_jacobian_on_images(kind):
    mask = F.checkerboard_mask(3, 3, 1) if kind == "checkerboard" else F.channel_mask(2)
    s, t = _conv_net(2, 2), _conv_net(2, 3)
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    _assert_layer(
        lambda v: F.coupling_forward(v, mask, s, t), lambda z: F.coupling_inverse(z, mask, s, t), x
    )
    z, _ = F.coupling_forward(x, mask, s, t)
    keep = mask.double().expand_as(x).bool()
    assert torch.equal(z[keep], x[keep])  # the conditioning half passes unchanged


def test_coupling_rejects_a_mask_of_the_wrong_rank():
    with pytest.raises(ValueError, match="mask"):
        F.coupling_forward(torch.randn(2, 4), torch.ones(4), nn.Identity(), nn.Identity())


def test_coupling_agrees_with_nflows():
    nflows_coupling = pytest.importorskip("nflows.transforms.coupling")
    d = 6
    mask_nflows = torch.tensor([1, 0, 1, 0, 0, 1])  # nflows: > 0 is transformed
    torch.manual_seed(0)

    class Net(nn.Module):  # nflows calls transform_net(x, context)
        def __init__(self, n_in, n_out):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(n_in, 8), nn.Tanh(), nn.Linear(8, n_out))

        def forward(self, x, context=None):
            return self.body(x)

    peer = nflows_coupling.AffineCouplingTransform(mask_nflows, Net).double()
    ident, trans = peer.identity_features, peer.transform_features
    n_tr = len(trans)

    def params(x_kept):
        return peer.transform_net(x_kept[:, ident])  # (B, 2 * n_tr): shift, then raw scale

    def s_net(x_kept):
        raw = params(x_kept)[:, n_tr:]
        out = torch.zeros_like(x_kept)
        out[:, trans] = torch.log(torch.sigmoid(raw + 2) + 1e-3)  # nflows' scale, as a log
        return out

    def t_net(x_kept):
        out = torch.zeros_like(x_kept)
        out[:, trans] = params(x_kept)[:, :n_tr]
        return out

    ours = (mask_nflows <= 0).double().view(1, d)  # ours: 1 marks the kept half
    x = torch.randn(7, d, dtype=torch.float64)
    z_peer, ld_peer = peer(x)
    z, ld = F.coupling_forward(x, ours, s_net, t_net)
    torch.testing.assert_close(z, z_peer)
    torch.testing.assert_close(ld, ld_peer)
    torch.testing.assert_close(F.coupling_inverse(z, ours, s_net, t_net), peer.inverse(z_peer)[0])


# ------------------------------------------------------------------------------ ActNorm


def test_actnorm_data_dependent_init_and_log_det():
    layer = F.ActNorm(3).double()
    x = 2.0 + 3.0 * torch.randn(16, 3, 4, 4, dtype=torch.float64)
    y, _ = layer(x)
    torch.testing.assert_close(
        y.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-10, rtol=0
    )
    torch.testing.assert_close(
        y.std(dim=(0, 2, 3), unbiased=False), torch.ones(3).double(), atol=1e-5, rtol=0
    )
    before = [p.detach().clone() for p in layer.parameters()]
    layer(torch.randn(5, 3, 4, 4, dtype=torch.float64))  # a second batch must not re-initialise
    for p, q in zip(before, layer.parameters(), strict=True):
        assert torch.equal(p, q)
    with torch.no_grad():
        layer.log_scale.add_(torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64))
    small = torch.randn(2, 3, 2, 3, dtype=torch.float64)
    _assert_layer(layer, layer.inverse, small)
    torch.testing.assert_close(layer(small)[1], 6 * layer.log_scale.sum().expand(2))  # H*W = 6


def test_actnorm_on_vectors():
    layer = F.ActNorm(4).double()
    layer(torch.randn(32, 4, dtype=torch.float64) * 5)
    _assert_layer(layer, layer.inverse, torch.randn(3, 4, dtype=torch.float64))


def test_actnorm_agrees_with_nflows():
    norm = pytest.importorskip("nflows.transforms.normalization")
    peer = norm.ActNorm(3).double()
    x = 1.5 + 2.0 * torch.randn(8, 3, 5, 5, dtype=torch.float64)
    peer(x)  # nflows initialises from the data too (with the unbiased std)
    ours = F.ActNorm(3).double()
    with torch.no_grad():  # the same map: exp(ls) * x + shift = (x - loc) * exp(ls)
        ours.log_scale.copy_(peer.log_scale)
        ours.loc.copy_(-peer.shift * torch.exp(-peer.log_scale))
        ours.initialized.fill_(True)
    x2 = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    y_peer, ld_peer = peer(x2)
    y, ld = ours(x2)
    torch.testing.assert_close(y, y_peer)
    torch.testing.assert_close(ld, ld_peer)
    torch.testing.assert_close(ours.inverse(y), peer.inverse(y_peer)[0])


# ------------------------------------------------------------------------------ 1x1 conv


def test_invertible_1x1_conv_log_det_and_inverse():
    layer = F.Invertible1x1Conv(3, generator=torch.Generator().manual_seed(0)).double()
    w0 = layer.weight.detach().clone()
    torch.testing.assert_close(
        w0 @ w0.T, torch.eye(3, dtype=torch.float64), atol=1e-6, rtol=0
    )  # a rotation
    with torch.no_grad():
        layer.weight.add_(0.3 * torch.randn(3, 3, dtype=torch.float64))  # no longer orthogonal
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64)
    _assert_layer(layer, layer.inverse, x)
    y, _ = layer(x)
    torch.testing.assert_close(y[:, :, 1, 0], x[:, :, 1, 0] @ layer.weight.T)  # per-pixel mixing
    _assert_layer(layer, layer.inverse, torch.randn(3, 3, dtype=torch.float64))


# ------------------------------------------------------------------------------ squeeze, logit


def test_squeeze_is_a_permutation_and_inverts():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float64).view(2, 3, 4, 6)
    y = F.squeeze(x)
    assert y.shape == (2, 12, 2, 3)
    assert torch.equal(y.flatten(1).sort().values, x.flatten(1).sort().values)
    assert y[0, 0, 0, 1] == x[0, 0, 0, 2] and y[0, 1, 0, 0] == x[0, 0, 0, 1]  # 2x2 patches
    assert torch.equal(F.unsqueeze(y), x)
    layer = F.Squeeze()
    _assert_layer(layer, layer.inverse, torch.randn(1, 1, 2, 2, dtype=torch.float64))


def test_logit_transform_log_det():
    layer = F.LogitTransform(0.05)
    _assert_layer(layer, layer.inverse, torch.rand(3, 4, dtype=torch.float64))


# ------------------------------------------------------------------------------ MADE, MAF, IAF


def test_made_masks_are_autoregressive():
    d = 5
    masks = F.made_masks(d, [16, 12], seed=3)
    assert [tuple(m.shape) for m in masks] == [(16, 5), (12, 16), (5, 12)]
    path = masks[2] @ masks[1] @ masks[0]  # (D, D): paths from input j to output i
    assert torch.equal(path * torch.triu(torch.ones(d, d)), torch.zeros(d, d))  # only j < i
    assert (path[1:, 0] > 0).all()  # with this many units, input 1 reaches every later output
    deg = masks[0].sum(dim=1)  # hidden degree = number of inputs seen
    assert deg.min() >= 1 and deg.max() <= d - 1
    assert all(
        torch.equal(a, b) for a, b in zip(masks, F.made_masks(d, [16, 12], seed=3), strict=True)
    )
    with pytest.raises(ValueError):
        F.made_masks(1, [4])


@pytest.mark.parametrize("cls", [F.MAF, F.IAF])
def test_autoregressive_flows_log_det_and_triangular_jacobian(cls):
    torch.manual_seed(0)
    made = F.MADE(F.made_masks(4, [24, 24], seed=1)).double()
    layer = cls(made)
    x = torch.randn(2, 4, dtype=torch.float64)
    _assert_layer(layer, layer.inverse, x)
    jac = jacobian(lambda v: layer(v)[0], x[:1]).reshape(4, 4)
    assert torch.allclose(torch.triu(jac, 1), torch.zeros(4, 4, dtype=torch.float64))


# ------------------------------------------------------------------------------ the flow


def _flow_2d(seed=0):
    torch.manual_seed(seed)
    layers = []
    for k in range(4):
        mask = torch.tensor([[1.0, 0.0]]) if k % 2 == 0 else torch.tensor([[0.0, 1.0]])
        layers += [F.ActNorm(2), F.AffineCoupling(mask, _net(2, 2, 10 + k), _net(2, 2, 20 + k))]
    layers.append(F.Invertible1x1Conv(2, generator=torch.Generator().manual_seed(seed)))
    prior = torch.distributions.Normal(
        torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    )
    flow = F.FlowSequence(layers, prior).double()
    flow.log_prob(torch.randn(256, 2, dtype=torch.float64) * 1.5 + 0.5)  # initialise ActNorm
    return flow


def test_flow_log_prob_is_the_change_of_variables():
    flow = _flow_2d()
    x = torch.randn(3, 2, dtype=torch.float64)
    z = flow(x)[0]
    manual = torch.distributions.MultivariateNormal(
        torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    )
    expected = manual.log_prob(z) + _jacobian_log_det(flow, x)
    torch.testing.assert_close(flow.log_prob(x), expected)


def test_flow_density_integrates_to_one():
    flow = _flow_2d()
    n, lim = 400, 8.0
    xs = torch.linspace(-lim, lim, n, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="ij"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        p = flow.log_prob(grid).exp()
    cell = (xs[1] - xs[0]) ** 2
    assert abs((p.sum() * cell).item() - 1.0) < 2e-3


def test_flow_sample_inverts_the_forward_map():
    flow = _flow_2d()
    noise = torch.randn(50, 2, dtype=torch.float64)
    x = flow.sample(50, noise=noise)
    torch.testing.assert_close(flow(x)[0], noise)
    torch.testing.assert_close(flow(flow.sample(50, temperature=0.5, noise=noise))[0], 0.5 * noise)
    assert flow.sample(7).shape == (7, 2)


# ------------------------------------------------------------------------------ bits/dim


def test_bits_per_dim_closed_form():
    lp = torch.tensor([-784 * math.log(2) * 3.0, 0.0])
    torch.testing.assert_close(F.bits_per_dim(lp, 784), torch.tensor([3.0, 0.0]))
    with pytest.raises(ValueError):
        F.bits_per_dim(lp.view(2, 1), 784)


def test_dequantized_uniform_model_costs_eight_bits():
    x = torch.rand(4, 1, 3, 3) * 2 - 1
    y, offset = F.dequantize(x)
    assert (y >= 0).all() and (y < 1).all()
    k = torch.round((x + 1) / 2 * 255)
    assert torch.equal(torch.floor(y * 256), k)  # each level gets its own cell
    # A model uniform on [0, 1)^D has log p(y) = 0: every one of 256 levels costs 8 bits.
    bpd = F.bits_per_dim(torch.zeros(4) + offset, 9)
    torch.testing.assert_close(bpd, torch.full((4,), 8.0))
    y2, _ = F.dequantize(x, noise=torch.zeros_like(x))
    torch.testing.assert_close(y2, k / 256)


def test_float32_inputs_keep_their_dtype():
    mask = F.checkerboard_mask(4, 4)
    x = torch.randn(2, 1, 4, 4)
    z, ld = F.coupling_forward(x, mask, lambda v: 0.1 * v, lambda v: v)
    assert z.dtype == ld.dtype == torch.float32
    z64, _ = F.coupling_forward(x.double(), mask, lambda v: 0.1 * v, lambda v: v)
    assert z64.dtype == torch.float64
