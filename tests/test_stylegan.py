"""course.stylegan against closed forms, torch's own instance norm, explicit loops and
explicit autograd computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course import stylegan as S

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=_gen(seed), dtype=torch.float64).to(dtype)


# ----------------------------------------------------------------------------- IN and AdaIN


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.5])
def test_instance_norm_matches_torch(dtype, eps):
    x = _randn(3, 4, 5, 7, seed=1, dtype=dtype) * 3 + 2
    out = S.instance_norm(x, eps)
    assert out.dtype == dtype and out.shape == x.shape
    torch.testing.assert_close(out, F.instance_norm(x, eps=eps), **TOL[dtype])


def test_instance_norm_statistics_and_errors():
    x = _randn(2, 3, 8, 8, seed=2) * 5 - 1
    out = S.instance_norm(x, eps=0.0)
    torch.testing.assert_close(out.mean(dim=(2, 3)), torch.zeros(2, 3, dtype=x.dtype))
    torch.testing.assert_close(out.var(dim=(2, 3), unbiased=False), torch.ones(2, 3, dtype=x.dtype))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        S.instance_norm(torch.randn(3, 4))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adain_output_statistics_are_the_style(dtype):
    x = _randn(3, 4, 6, 6, seed=3, dtype=dtype) * 2 + 1
    scale = _randn(3, 4, seed=4, dtype=dtype).abs() + 0.1
    bias = _randn(3, 4, seed=5, dtype=dtype)
    out = S.adain(x, scale, bias, eps=0.0)
    torch.testing.assert_close(out.mean(dim=(2, 3)), bias, **TOL[dtype])
    torch.testing.assert_close(out.std(dim=(2, 3), unbiased=False), scale, **TOL[dtype])
    # With eps: scale * IN(x) + bias, IN from torch.
    out = S.adain(x, scale, bias)
    want = scale[:, :, None, None] * F.instance_norm(x, eps=1e-5) + bias[:, :, None, None]
    torch.testing.assert_close(out, want, **TOL[dtype])
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        S.adain(x, scale[:, :3], bias)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adain_transfer_takes_the_style_statistics(dtype):
    content = _randn(2, 3, 8, 8, seed=6, dtype=dtype) * 4 - 2
    style = _randn(2, 3, 5, 9, seed=7, dtype=dtype) * 0.5 + 3  # other spatial size
    out = S.adain_transfer(content, style, eps=0.0)
    assert out.shape == content.shape
    torch.testing.assert_close(out.mean(dim=(2, 3)), style.mean(dim=(2, 3)), **TOL[dtype])
    torch.testing.assert_close(
        out.std(dim=(2, 3), unbiased=False), style.std(dim=(2, 3), unbiased=False), **TOL[dtype]
    )
    # The content's layout survives: the output is an increasing affine map of each content map.
    corr = torch.corrcoef(torch.stack([out[0, 0].flatten(), content[0, 0].flatten()]))
    assert corr[0, 1] > 1 - 1e-6
    # eps inside both stds: sqrt(var_s + eps) * (c - mu_c) / sqrt(var_c + eps) + mu_s.
    eps = 0.3
    mc, vc = content.mean((2, 3), keepdim=True), content.var((2, 3), keepdim=True, unbiased=False)
    ms, vs = style.mean((2, 3), keepdim=True), style.var((2, 3), keepdim=True, unbiased=False)
    want = (vs + eps).sqrt() * (content - mc) / (vc + eps).sqrt() + ms
    torch.testing.assert_close(S.adain_transfer(content, style, eps=eps), want, **TOL[dtype])


def test_adain_transfer_needs_matching_batch_and_channels():
    with pytest.raises(ValueError, match="expand"):
        S.adain_transfer(torch.randn(4, 3, 8, 8), torch.randn(1, 3, 8, 8))


# ----------------------------------------------------------------------------- mapping network


def _explicit_mapping(net: S.MappingNetwork, z: torch.Tensor, lr_mul: float) -> torch.Tensor:
    """The mapping network written out: normalise, then (W * lr_mul / sqrt(in)) x + lr_mul b."""
    x = z / torch.sqrt((z**2).sum(1, keepdim=True) / z.shape[1] + 1e-8)
    for layer in net.layers:
        weight, bias = layer.weight, layer.bias
        x = x @ (weight * lr_mul / math.sqrt(weight.shape[1])).T + bias * lr_mul
        x = torch.where(x > 0, x, 0.2 * x) * math.sqrt(2)
    return x


def test_mapping_network_forward_matches_explicit_mlp():
    torch.manual_seed(0)
    net = S.MappingNetwork(6, 5, num_layers=3, lr_mul=0.1).double()
    with torch.no_grad():
        for layer in net.layers:
            layer.bias.normal_()  # non-zero biases, so the bias' lr_mul is tested too
    z = _randn(4, 6, seed=8)
    torch.testing.assert_close(net(z), _explicit_mapping(net, z, 0.1), **TOL[torch.float64])
    # Only z's direction matters (up to the 1e-8 inside the root).
    torch.testing.assert_close(net(3.7 * z), net(z), rtol=1e-6, atol=1e-7)
    assert len(net.layers) == 3 and net(z).shape == (4, 5)


def test_mapping_network_defaults_and_equalized_init():
    torch.manual_seed(1)
    net = S.MappingNetwork(64, 64)
    assert len(net.layers) == 8  # the lecture's 8-layer MLP
    for layer in net.layers:
        assert layer.weight.shape == (64, 64) and layer.lr_mul == 0.01
        assert abs(layer.weight.std().item() * 0.01 - 1) < 0.05  # stored N(0, 1/lr_mul^2)
        assert torch.equal(layer.bias, torch.zeros(64))


def test_mapping_network_lr_mul_scales_the_gradient():
    """d out / d stored weight = lr_mul / sqrt(in) * d out / d effective weight."""
    torch.manual_seed(2)
    net = S.MappingNetwork(4, 3, num_layers=1, lr_mul=0.05).double()
    z = _randn(5, 4, seed=9)
    net(z).sum().backward()
    layer = net.layers[0]
    eff = (layer.weight * 0.05 / 2).detach().requires_grad_()
    x = z / z.pow(2).mean(1, keepdim=True).add(1e-8).sqrt()
    out = F.leaky_relu(x @ eff.T + layer.bias.detach() * 0.05, 0.2) * math.sqrt(2)
    out.sum().backward()
    torch.testing.assert_close(layer.weight.grad, eff.grad * 0.05 / 2)


# ----------------------------------------------------------------------------- modulation


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulate_weights_matches_the_formula_entry_by_entry(demodulate):
    weight = _randn(3, 2, 3, 3, seed=10)
    style = _randn(2, 2, seed=11)
    out = S.modulate_weights(weight, style, demodulate=demodulate, eps=1e-8)
    assert out.shape == (2, 3, 2, 3, 3)
    for b in range(2):
        for o in range(3):
            wp = torch.stack([style[b, i] * weight[o, i] for i in range(2)])  # (I, k, k)
            if demodulate:
                wp = wp / math.sqrt(sum(v.item() ** 2 for v in wp.flatten()) + 1e-8)
            torch.testing.assert_close(out[b, o], wp, **TOL[torch.float64])


def test_demodulated_kernels_have_unit_norm_per_output_channel():
    out = S.modulate_weights(_randn(8, 5, 3, 3, seed=12), _randn(4, 5, seed=13) * 10, eps=0.0)
    torch.testing.assert_close(out.pow(2).sum(dim=(2, 3, 4)), torch.ones(4, 8, dtype=out.dtype))


def _loop_conv(x, weight, style, demodulate=True, padding=None, eps=1e-8):
    """Per-sample F.conv2d with the per-sample kernel built explicitly (no modulate_weights)."""
    k = weight.shape[-1]
    padding = k // 2 if padding is None else padding
    outs = []
    for b in range(x.shape[0]):
        w = weight * style[b].view(1, -1, 1, 1)  # (O, I, k, k)
        if demodulate:
            w = w / torch.sqrt((w**2).sum(dim=(1, 2, 3), keepdim=True) + eps)
        outs.append(F.conv2d(x[b : b + 1], w, padding=padding))
    return torch.cat(outs)


def _unfused_conv(x, weight, style, demodulate=True, padding=None, eps=1e-8):
    """StyleGAN2's fused=False route: scale the input, one ordinary conv, scale the output."""
    k = weight.shape[-1]
    padding = k // 2 if padding is None else padding
    out = F.conv2d(x * style[:, :, None, None], weight, padding=padding)  # (B, O, H, W)
    if demodulate:
        d = (weight[None] * style[:, None, :, None, None]).pow(2).sum(dim=(2, 3, 4)) + eps
        out = out * d.rsqrt()[:, :, None, None]  # (B, O, 1, 1)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("k, padding", [(3, None), (1, None), (5, None), (3, 0)])
def test_modulated_conv2d_equals_loop_and_unfused_route(dtype, demodulate, k, padding):
    x = _randn(4, 3, 9, 7, seed=14, dtype=dtype)
    weight = _randn(5, 3, k, k, seed=15, dtype=dtype)
    style = _randn(4, 3, seed=16, dtype=dtype) + 1
    out = S.modulated_conv2d(x, weight, style, demodulate=demodulate, padding=padding)
    assert out.dtype == dtype
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else TOL[dtype]
    torch.testing.assert_close(out, _loop_conv(x, weight, style, demodulate, padding), **tol)
    torch.testing.assert_close(out, _unfused_conv(x, weight, style, demodulate, padding), **tol)


def test_modulated_conv2d_gradients_equal_the_loop():
    args = [_randn(3, 2, 6, 6, seed=17), _randn(4, 2, 3, 3, seed=18), _randn(3, 2, seed=19)]
    grads = []
    for fn in (S.modulated_conv2d, _loop_conv):
        leaves = [a.clone().requires_grad_() for a in args]
        (fn(*leaves) * _randn(3, 4, 6, 6, seed=20)).sum().backward()
        grads.append([leaf.grad for leaf in leaves])
    for g_ref, g_loop in zip(*grads, strict=True):
        torch.testing.assert_close(g_ref, g_loop, **TOL[torch.float64])


def test_demodulated_output_has_unit_variance():
    """Unit-variance i.i.d. input: each output pixel is sum of w''_i x_i with sum w''^2 = 1,
    so its variance is 1 whatever the style (away from the zero-padded border)."""
    g = _gen(21)
    x = torch.randn(16, 8, 40, 40, generator=g)
    weight = torch.randn(6, 8, 3, 3, generator=g)
    style = torch.rand(16, 8, generator=g) * 10 + 0.1  # wildly different styles per sample
    out = S.modulated_conv2d(x, weight, style)[:, :, 1:-1, 1:-1]
    per_map = out.var(dim=(2, 3))  # (B, O): each about 1
    assert abs(out.var().item() - 1) < 0.02
    assert (per_map - 1).abs().max() < 0.25
    # Without demodulation the variance follows the style's scale: far from 1.
    raw = S.modulated_conv2d(x, weight, style, demodulate=False)
    assert raw.var().item() > 100


def test_modulated_conv2d_bad_shapes():
    with pytest.raises(ValueError, match="I=3"):
        S.modulated_conv2d(torch.randn(2, 3, 5, 5), torch.randn(4, 2, 3, 3), torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        S.modulated_conv2d(torch.randn(2, 3, 5, 5), torch.randn(4, 3, 3, 3), torch.randn(1, 3))


# ----------------------------------------------------------------------------- noise


def test_noise_injection():
    layer = S.NoiseInjection(4)
    x = _randn(2, 4, 5, 5, seed=22).float()
    assert torch.equal(layer(x), x)  # strength starts at 0
    noise = _randn(2, 1, 5, 5, seed=23).float()
    with torch.no_grad():
        layer.strength.fill_(0.5)
    torch.testing.assert_close(layer(x, noise), x + 0.5 * noise.expand(-1, 4, -1, -1))
    fresh = layer(torch.zeros(2, 4, 5, 5))
    assert torch.equal(fresh[:, 0], fresh[:, 3])  # one noise image shared by the channels
    assert not torch.equal(fresh[0], fresh[1])  # but one per sample
    assert not torch.equal(layer(torch.zeros(2, 4, 5, 5)), fresh)  # fresh at every call
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        layer(x, torch.randn(2, 4, 5, 5))
    per_channel = S.NoiseInjection(4, per_channel=True)
    assert per_channel.strength.shape == (4,)


# ----------------------------------------------------------------------------- latents


def test_truncate():
    w, w_avg = _randn(5, 3, seed=24), _randn(3, seed=25)
    torch.testing.assert_close(S.truncate(w, w_avg, 1.0), w)
    torch.testing.assert_close(S.truncate(w, w_avg, 0.0), w_avg.expand(5, 3))
    torch.testing.assert_close(S.truncate(w, w_avg, 0.7), 0.3 * w_avg + 0.7 * w)
    ws = _randn(2, 4, 3, seed=26)
    torch.testing.assert_close(S.truncate(ws, w_avg, 0.5)[:, 2], S.truncate(ws[:, 2], w_avg, 0.5))
    with pytest.raises(ValueError, match="w_dim"):
        S.truncate(w, w_avg[:2])


def test_style_mix():
    w1, w2 = _randn(2, 3, seed=27), _randn(2, 3, seed=28)
    out = S.style_mix(w1, w2, crossover=2, num_layers=5)
    assert out.shape == (2, 5, 3)
    for layer in range(5):
        torch.testing.assert_close(out[:, layer], w1 if layer < 2 else w2)
    assert torch.equal(S.style_mix(w1, w2, 0, 4), w2[:, None].expand(-1, 4, -1))
    assert torch.equal(S.style_mix(w1, w2, 4, 4), w1[:, None].expand(-1, 4, -1))
    with pytest.raises(ValueError, match="crossover"):
        S.style_mix(w1, w2, 6, 5)


# ----------------------------------------------------------------------------- path length


def _explicit_path_lengths(g, w, noise):
    """|J_b^T y_b| via the full Jacobian of each sample's image w.r.t. its own w."""
    height, width = noise.shape[2:]
    lengths = []
    for b in range(w.shape[0]):
        jac = torch.autograd.functional.jacobian(lambda wb: g(wb[None])[0], w[b])  # (C,H,W,L,D)
        y = noise[b] / math.sqrt(height * width)
        jty = torch.einsum("chw,chwld->ld", y, jac)  # (L, D)
        lengths.append(jty.pow(2).sum(1).mean().sqrt())
    return torch.stack(lengths)


def test_path_length_penalty_matches_explicit_jacobians():
    torch.manual_seed(3)
    lin = torch.nn.Linear(2 * 3, 1 * 4 * 4).double()

    def g(w):  # a small nonlinear "generator": (B, L=2, D=3) -> (B, 1, 4, 4)
        return torch.tanh(lin(w.flatten(1))).view(-1, 1, 4, 4) ** 2

    w = _randn(5, 2, 3, seed=29).requires_grad_()
    noise = _randn(5, 1, 4, 4, seed=30)
    lengths = _explicit_path_lengths(g, w.detach(), noise)
    penalty, new_mean = S.path_length_penalty(g(w), w, pl_mean=0.5, decay=0.1, noise=noise)
    want_mean = 0.5 + 0.1 * (lengths.mean() - 0.5)
    torch.testing.assert_close(new_mean, want_mean, **TOL[torch.float64])
    torch.testing.assert_close(penalty, (lengths - want_mean).pow(2).mean(), **TOL[torch.float64])
    assert not new_mean.requires_grad
    # The graph is kept: the penalty trains the generator.
    penalty.backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_path_length_penalty_on_the_generator_and_fresh_noise():
    torch.manual_seed(4)
    G = S.StyleGenerator(z_dim=8, w_dim=8, channels=(8, 4), mapping_layers=2).double()
    ws = G.mapping(_randn(3, 8, seed=31))[:, None].repeat(1, G.num_ws, 1).detach()
    ws = ws + 0.1 * _randn(*ws.shape, seed=34)  # a different style per layer (W+)
    ws.requires_grad_()
    fixed = [_randn(3, 1, r, r, seed=40 + i) for i, r in enumerate([4, 8, 8])]
    noise = _randn(3, 1, 8, 8, seed=32)
    penalty, new_mean = S.path_length_penalty(G.synthesis(ws, fixed), ws, 0.0, noise=noise)
    lengths = torch.stack(
        [
            _explicit_path_lengths(
                lambda w, b=b: G.synthesis(w, [f[b : b + 1] for f in fixed]),
                ws[b : b + 1].detach(),
                noise[b : b + 1],
            )[0]
            for b in range(3)
        ]
    )
    torch.testing.assert_close(new_mean, 0.01 * lengths.mean(), **TOL[torch.float64])
    torch.testing.assert_close(penalty, (lengths - new_mean).pow(2).mean(), **TOL[torch.float64])
    a, _ = S.path_length_penalty(G.synthesis(ws, fixed), ws, 0.0)
    b, _ = S.path_length_penalty(G.synthesis(ws, fixed), ws, 0.0)
    assert a.item() != b.item()  # noise drawn fresh when not given
    with pytest.raises(ValueError, match="require grad"):
        S.path_length_penalty(G.synthesis(ws.detach(), fixed), ws.detach(), 0.0)


# ----------------------------------------------------------------------------- the models


def test_generator_shapes_styles_and_noise():
    torch.manual_seed(5)
    G = S.StyleGenerator(z_dim=16, w_dim=16, channels=(16, 8, 8))
    assert G.num_ws == 6 and G.resolution == 16
    assert G.layer_resolutions() == [4, 8, 8, 16, 16, 16]
    z = torch.randn(3, 16)
    img = G(z)
    assert img.shape == (3, 1, 16, 16)
    # Noise strengths start at 0: the output is deterministic until they are learned.
    assert torch.equal(G(z), img)
    for conv in G.convs:
        conv.noise.strength.data.fill_(1.0)
    assert not torch.equal(G(z), G(z))
    fixed = [torch.randn(3, 1, r, r) for r in G.layer_resolutions()[:-1]]
    assert torch.equal(G(z, fixed), G(z, fixed))  # given noise: deterministic again
    # Style i acts on layer i only: changing the last style changes the image.
    w = G.mapping(z)
    same = G.synthesis(S.style_mix(w, w, 6, 6), fixed)
    mixed = G.synthesis(S.style_mix(w, w.flip(0), 5, 6), fixed)
    assert torch.equal(same, G(z, fixed))
    assert not torch.allclose(same, mixed)
    D = S.Discriminator((4, 8, 8))
    assert D(torch.randn(5, 1, 16, 16)).shape == (5,)


def test_generator_runs_with_another_modulated_conv():
    """The building blocks are pluggable: the per-sample loop gives the same images."""
    torch.manual_seed(6)
    G = S.StyleGenerator(z_dim=8, w_dim=8, channels=(8, 4)).double()
    torch.manual_seed(6)
    G_loop = S.StyleGenerator(z_dim=8, w_dim=8, channels=(8, 4), modulated_conv=_loop_conv).double()
    z = _randn(2, 8, seed=33)
    torch.testing.assert_close(G(z), G_loop(z), **TOL[torch.float64])
