"""The week 05 checks (``course.checks.stylegan``) judged on student-like code.

For every check: realistic wrong implementations must be rejected with the message that
names *their* mistake, correct implementations written another way must pass, and the
course's reference must be refused (the shared contract is in test_check_contract.py).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import course.stylegan as ref
from course.checks import stylegan as C

NOT_YOURS = "reference implementation, not your own"


def _passes(check, fn, capsys) -> None:
    check(fn)
    assert "passed" in capsys.readouterr().out


def _stats(x, eps, unbiased=False):
    mean = x.mean(dim=(2, 3), keepdim=True)
    return mean, (x.var(dim=(2, 3), keepdim=True, unbiased=unbiased) + eps).sqrt()


# ----------------------------------------------------------------------------- instance_norm


def _in_torch(x, eps=1e-5):
    return F.instance_norm(x, eps=eps)


def _in_float64_flatten(x, eps=1e-5):
    flat = x.double().flatten(2)  # (B, C, H*W)
    centred = flat - flat.mean(-1, keepdim=True)
    var = (centred**2).mean(-1, keepdim=True)
    return (centred * torch.rsqrt(var + eps)).view_as(x).to(x.dtype)


def _in_group_norm(x, eps=1e-5):
    return F.group_norm(x, x.shape[1], eps=eps)  # one group per channel = instance norm


def _in_variant(*, unbiased=False, eps_outside=False, no_root=False, dims=(2, 3)):
    def instance_norm(x, eps=1e-5):
        mean = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, keepdim=True, unbiased=unbiased)
        if no_root:
            return (x - mean) / (var + eps)
        std = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
        return (x - mean) / std

    return instance_norm


def _in_std_default(x, eps=1e-5):
    return (x - x.mean(dim=(2, 3), keepdim=True)) / (x.std(dim=(2, 3), keepdim=True) + eps)


@pytest.mark.parametrize(
    "fn, message",
    [
        (_in_variant(unbiased=True), "unbiased variance"),
        (_in_variant(eps_outside=True), "eps is outside the square root"),
        (_in_variant(no_root=True), "divided by the variance, not the standard deviation"),
        (_in_variant(dims=(0, 2, 3)), "over the batch too"),
        (_in_variant(dims=(1, 2, 3)), "over the channels too"),
        (_in_variant(dims=(3,)), "one spatial axis only"),
        (_in_std_default, "unbiased variance"),  # torch.std: the larger error is named
    ],
)
def test_check_instance_norm_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_instance_norm(fn)


def test_check_instance_norm_names_nan_on_a_constant_map():
    def no_eps(x, eps=1e-5):
        return (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), keepdim=True, unbiased=False)

    with pytest.raises(AssertionError, match="nan"):
        C.check_instance_norm(no_eps)


@pytest.mark.parametrize("fn", [_in_torch, _in_float64_flatten, _in_group_norm])
def test_check_instance_norm_accepts_correct_variants(fn, capsys):
    _passes(C.check_instance_norm, fn, capsys)


# ----------------------------------------------------------------------------- adain


def _adain_torch(x, style_scale, style_bias, eps=1e-5):
    return torch.addcmul(
        style_bias[..., None, None], style_scale[..., None, None], F.instance_norm(x, eps=eps)
    )


def _adain_einsum(x, style_scale, style_bias, eps=1e-5):
    mean, std = _stats(x, eps)
    return torch.einsum("bc,bchw->bchw", style_scale, (x - mean) / std) + style_bias.view(
        *style_bias.shape, 1, 1
    )


def _adain_swapped(x, style_scale, style_bias, eps=1e-5):
    return (
        style_bias[:, :, None, None] * F.instance_norm(x, eps=eps) + style_scale[:, :, None, None]
    )


def _adain_no_broadcast(x, style_scale, style_bias, eps=1e-5):
    return style_scale * F.instance_norm(x, eps=eps) + style_bias


def _adain_unbiased(x, style_scale, style_bias, eps=1e-5):
    mean, std = _stats(x, eps, unbiased=True)
    return style_scale[:, :, None, None] * (x - mean) / std + style_bias[:, :, None, None]


def _adain_one_plus(x, style_scale, style_bias, eps=1e-5):
    return (1 + style_scale[:, :, None, None]) * F.instance_norm(x, eps=eps) + style_bias[
        :, :, None, None
    ]


@pytest.mark.parametrize(
    "fn, message",
    [
        (_adain_swapped, "scale and bias are swapped"),
        (_adain_no_broadcast, r"style\[:, :, None, None\]"),
        (_adain_unbiased, "unbiased variance"),
        (_adain_one_plus, r"not \(1 \+ scale\)"),
    ],
)
def test_check_adain_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_adain(fn)


@pytest.mark.parametrize("fn", [_adain_torch, _adain_einsum])
def test_check_adain_accepts_correct_variants(fn, capsys):
    _passes(C.check_adain, fn, capsys)


# ----------------------------------------------------------------------------- adain_transfer


def _transfer_explicit(content, style, eps=1e-5):
    mc, sc = _stats(content, eps)
    ms, ss = _stats(style, eps)
    return ss * (content - mc) / sc + ms


def _transfer_float64(content, style, eps=1e-5):
    c, s = content.double(), style.double()
    ms = s.flatten(2).mean(-1)[..., None, None]
    ss = s.flatten(2).var(-1, unbiased=False).add(eps).sqrt()[..., None, None]
    return (F.instance_norm(c, eps=eps) * ss + ms).to(content.dtype)


def _transfer_torch_std(content, style, eps=1e-5):
    sd = style.std(dim=(2, 3), keepdim=True)  # unbiased: torch's default
    return sd * F.instance_norm(content, eps=eps) + style.mean(dim=(2, 3), keepdim=True)


def _transfer_unbiased_eps(content, style, eps=1e-5):
    sd = (style.var(dim=(2, 3), keepdim=True) + eps).sqrt()  # unbiased variance
    return sd * F.instance_norm(content, eps=eps) + style.mean(dim=(2, 3), keepdim=True)


def _transfer_swapped(content, style, eps=1e-5):
    return _transfer_explicit(style, content, eps)


def _transfer_no_eps(content, style, eps=1e-5):
    sd = style.var(dim=(2, 3), keepdim=True, unbiased=False).sqrt()
    return sd * F.instance_norm(content, eps=eps) + style.mean(dim=(2, 3), keepdim=True)


def _transfer_batch_stats(content, style, eps=1e-5):
    ms = style.mean(dim=(0, 2, 3), keepdim=True)
    sd = (style.var(dim=(0, 2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    return sd * F.instance_norm(content, eps=eps) + ms


@pytest.mark.parametrize(
    "fn, message",
    [
        (_transfer_torch_std, "style's std is torch's default"),
        (_transfer_unbiased_eps, "style's std is unbiased"),
        (_transfer_swapped, "content and style are swapped|raised"),
        (_transfer_no_eps, "style's std has no eps"),
        (_transfer_batch_stats, "over the whole batch"),
    ],
)
def test_check_adain_transfer_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_adain_transfer(fn)


@pytest.mark.parametrize("fn", [_transfer_explicit, _transfer_float64])
def test_check_adain_transfer_accepts_correct_variants(fn, capsys):
    _passes(C.check_adain_transfer, fn, capsys)


# ----------------------------------------------------------------------------- mapping network


def _mapping_class(
    *, norm="pixel", layers_default=8, lr_in_runtime=True, init_div=True, gain=True, act_last=True
):
    class MappingNetwork(torch.nn.Module):
        def __init__(self, z_dim, w_dim, num_layers=layers_default, lr_mul=0.01):
            super().__init__()
            dims = [z_dim] + [w_dim] * num_layers
            self.fcs = torch.nn.ModuleList(
                torch.nn.Linear(dims[i], dims[i + 1]) for i in range(num_layers)
            )
            for fc in self.fcs:
                torch.nn.init.normal_(fc.weight, std=1 / lr_mul if init_div else 1.0)
                torch.nn.init.zeros_(fc.bias)
            self.lr_mul = lr_mul

        def forward(self, z):
            if norm == "pixel":
                x = z / torch.sqrt(torch.mean(z**2, dim=1, keepdim=True) + 1e-8)
            elif norm == "l2":
                x = z / z.norm(dim=1, keepdim=True)
            else:
                x = z
            for i, fc in enumerate(self.fcs):
                lr = self.lr_mul if lr_in_runtime else 1.0
                x = F.linear(x, fc.weight * lr / math.sqrt(fc.in_features), fc.bias * lr)
                if i < len(self.fcs) - 1 or act_last:
                    x = F.leaky_relu(x, 0.2) * (math.sqrt(2) if gain else 1.0)
            return x

    return MappingNetwork


class _MappingParams(torch.nn.Module):
    """Correct, with raw parameter lists and the scales folded differently."""

    def __init__(self, z_dim, w_dim, num_layers=8, lr_mul=0.01):
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.w = torch.nn.ParameterList(
            torch.nn.Parameter(torch.randn(dims[i + 1], dims[i]) / lr_mul)
            for i in range(num_layers)
        )
        self.b = torch.nn.ParameterList(
            torch.nn.Parameter(torch.zeros(w_dim)) for _ in range(num_layers)
        )
        self.lr_mul = lr_mul

    def forward(self, z):
        x = z * z.square().mean(-1, keepdim=True).add(1e-8).rsqrt()
        for w, b in zip(self.w, self.b, strict=True):
            x = (x @ w.T) * (self.lr_mul / w.shape[1] ** 0.5) + b * self.lr_mul
            x = torch.where(x >= 0, x, 0.2 * x) * 2**0.5
        return x


@pytest.mark.parametrize(
    "cls, message",
    [
        (_mapping_class(norm=None), "z is not normalised"),
        (_mapping_class(norm="l2"), "L2 norm"),
        (_mapping_class(layers_default=4), "8-layer MLP"),
        (_mapping_class(lr_in_runtime=False), "learning-rate multiplier at run time"),
        (_mapping_class(init_div=False), "did not divide by lr_mul"),
        (_mapping_class(gain=False), r"gain sqrt\(2\)"),
        (_mapping_class(act_last=False), "the last layer has no activation"),
    ],
)
def test_check_mapping_network_names_the_mistake(cls, message):
    with pytest.raises(AssertionError, match=message):
        C.check_mapping_network(cls)


@pytest.mark.parametrize("cls", [_mapping_class(), _MappingParams])
def test_check_mapping_network_accepts_correct_variants(cls, capsys):
    _passes(C.check_mapping_network, cls, capsys)


def test_check_mapping_network_refuses_the_reference():
    with pytest.raises(AssertionError, match=NOT_YOURS):
        C.check_mapping_network(ref.MappingNetwork)

    class Sub(ref.MappingNetwork):
        pass

    with pytest.raises(AssertionError, match=NOT_YOURS):
        C.check_mapping_network(Sub)


def test_check_mapping_network_refuses_a_wrapped_reference():
    class Wrapper(torch.nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()
            self.inner = ref.MappingNetwork(*args, **kwargs)

        def forward(self, z):
            return self.inner(z)

    with pytest.raises(AssertionError, match="called the course's reference"):
        C.check_mapping_network(Wrapper)


# ----------------------------------------------------------------------------- modulate_weights


def _mw_einsum(weight, style, demodulate=True, eps=1e-8):
    w = torch.einsum("oikl,bi->boikl", weight, style)
    if demodulate:
        w = w / (w.square().sum((2, 3, 4), keepdim=True) + eps).sqrt()
    return w


def _mw_stylegan2(weight, style, demodulate=True, eps=1e-8):
    """StyleGAN2's route: demodulation coefficients from the squared weights and styles."""
    w = weight.unsqueeze(0) * style.reshape(style.shape[0], 1, -1, 1, 1)
    if demodulate:
        dcoefs = (weight.square()[None] * style.square()[:, None, :, None, None]).sum([2, 3, 4])
        w = w * (dcoefs + eps).rsqrt().reshape(*dcoefs.shape, 1, 1, 1)
    return w


def _mw_variant(*, dims=(2, 3, 4), eps_outside=False, raw=False, ignore_flag=False):
    def modulate_weights(weight, style, demodulate=True, eps=1e-8):
        w = weight[None] * style[:, None, :, None, None]
        if demodulate or ignore_flag:
            src = weight[None] if raw else w
            sq = src.pow(2).sum(dim=dims, keepdim=True)
            w = w / (sq.sqrt() + eps if eps_outside else (sq + eps).sqrt())
        return w

    return modulate_weights


@pytest.mark.parametrize(
    "fn, message",
    [
        (_mw_variant(eps_outside=True), "eps is outside the square root"),
        (_mw_variant(dims=(1, 3, 4)), "summed over the output channels"),
        (_mw_variant(dims=(2,)), "over the input channels only"),
        (_mw_variant(dims=(3, 4)), "over the taps only"),
        (_mw_variant(raw=True), "unmodulated weight"),
        (_mw_variant(ignore_flag=True), "demodulate=False must return"),
    ],
)
def test_check_modulate_weights_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_modulate_weights(fn)


@pytest.mark.parametrize("fn", [_mw_einsum, _mw_stylegan2])
def test_check_modulate_weights_accepts_correct_variants(fn, capsys):
    _passes(C.check_modulate_weights, fn, capsys)


# ----------------------------------------------------------------------------- modulated_conv2d


def _mc_loop(x, weight, style, demodulate=True, padding=None, eps=1e-8):
    k = weight.shape[-1]
    pad = k // 2 if padding is None else padding
    w = _mw_einsum(weight, style, demodulate, eps)
    return torch.cat([F.conv2d(x[b : b + 1], w[b], padding=pad) for b in range(len(x))])


def _mc_unfused(x, weight, style, demodulate=True, padding=None, eps=1e-8):
    pad = weight.shape[-1] // 2 if padding is None else padding
    out = F.conv2d(x * style[:, :, None, None], weight, padding=pad)
    if demodulate:
        d = (weight[None] * style[:, None, :, None, None]).square().sum((2, 3, 4)) + eps
        out = out * d.rsqrt()[:, :, None, None]
    return out


def _mc_grouped(groups_fix=True, order_ok=True, pad_default=None, ignore_flag=False, eps_out=False):
    def modulated_conv2d(x, weight, style, demodulate=True, padding=pad_default, eps=1e-8):
        b, c, h, w_ = x.shape
        o, _, k, _ = weight.shape
        if padding is None:
            padding = k // 2
        mw = _mw_variant(eps_outside=eps_out)(weight, style, demodulate or ignore_flag, eps)
        if not order_ok:
            mw = mw.transpose(0, 1)
        mw = mw.reshape(b * o, c, k, k)
        out = F.conv2d(
            x.reshape(1, b * c, h, w_), mw, padding=padding, groups=b if groups_fix else 1
        )
        return out.reshape(b, o, *out.shape[2:])

    return modulated_conv2d


def _mc_first_style(x, weight, style, demodulate=True, padding=None, eps=1e-8):
    return _mc_loop(x, weight, style[:1].expand_as(style), demodulate, padding, eps)


@pytest.mark.parametrize(
    "fn, message",
    [
        (_mc_grouped(groups_fix=False), "groups=B"),
        (_mc_grouped(order_ok=False), "rows are in the wrong order"),
        (_mc_grouped(pad_default=0), r"padding=None means k // 2"),
        (_mc_grouped(ignore_flag=True), "demodulate=False must skip"),
        (_mc_grouped(eps_out=True), "eps is outside the square root"),
        (_mc_first_style, "first sample's style"),
    ],
)
def test_check_modulated_conv2d_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_modulated_conv2d(fn)


@pytest.mark.parametrize("fn", [_mc_loop, _mc_unfused, _mc_grouped()])
def test_check_modulated_conv2d_accepts_any_correct_route(fn, capsys):
    _passes(C.check_modulated_conv2d, fn, capsys)


# ----------------------------------------------------------------------------- noise injection


def _noise_class(*, init=0.0, per_channel_noise=False, uniform=False, scale=True, ignore=False):
    class NoiseInjection(torch.nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.full((1,), init))
            self.channels = channels

        def forward(self, x, noise=None):
            if noise is None or ignore:
                c = x.shape[1] if per_channel_noise else 1
                draw = torch.rand if uniform else torch.randn
                noise = draw(x.shape[0], c, *x.shape[2:], dtype=x.dtype, device=x.device)
            return x + (self.weight.view(1, -1, 1, 1) if scale else 1) * noise

    return NoiseInjection


class _NoisePerChannel(torch.nn.Module):
    """Correct: StyleGAN 1's per-channel strengths, noise drawn with randn_like."""

    def __init__(self, channels):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x, noise=None):
        if noise is None:
            noise = torch.randn_like(x[:, :1])
        return torch.addcmul(x, self.scale, noise)


@pytest.mark.parametrize(
    "cls, message",
    [
        (_noise_class(init=1.0), "starts at 0"),
        (_noise_class(per_channel_noise=True), "channels got different noise"),
        (_noise_class(uniform=True), r"torch.randn, not torch.rand"),
        (_noise_class(scale=False), "parameter tensors|strength starts|not multiplied"),
        (_noise_class(ignore=True), "given noise was ignored"),
    ],
)
def test_check_noise_injection_names_the_mistake(cls, message):
    with pytest.raises(AssertionError, match=message):
        C.check_noise_injection(cls)


@pytest.mark.parametrize("cls", [_noise_class(), _NoisePerChannel])
def test_check_noise_injection_accepts_correct_variants(cls, capsys):
    _passes(C.check_noise_injection, cls, capsys)


def test_check_noise_injection_refuses_the_reference():
    with pytest.raises(AssertionError, match=NOT_YOURS):
        C.check_noise_injection(ref.NoiseInjection)


# ----------------------------------------------------------------------------- truncate, style_mix


def _trunc_lerp(w, w_avg, psi=0.7):
    return torch.lerp(w_avg.expand_as(w), w, psi)


def _trunc_expanded(w, w_avg, psi=0.7):
    return psi * w + (1 - psi) * w_avg


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda w, w_avg, psi=0.7: psi * w, "towards zero"),
        (lambda w, w_avg, psi=0.7: w + psi * (w_avg - w), "psi weights the wrong end"),
        (lambda w, w_avg, psi=0.7: w_avg + psi * w, "without being subtracted"),
        (lambda w, w_avg, psi=0.5: w_avg + psi * (w - w_avg), "default psi is 0.7"),
    ],
)
def test_check_truncate_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_truncate(fn)


@pytest.mark.parametrize("fn", [_trunc_lerp, _trunc_expanded])
def test_check_truncate_accepts_correct_variants(fn, capsys):
    _passes(C.check_truncate, fn, capsys)


def _mix_stack(w1, w2, crossover, num_layers):
    return torch.stack([w1 if i < crossover else w2 for i in range(num_layers)], dim=1)


def _mix_repeat_cat(w1, w2, crossover, num_layers):
    first = w1[:, None].repeat(1, crossover, 1)
    rest = w2[:, None].repeat(1, num_layers - crossover, 1)
    return torch.cat([first, rest], dim=1)


def _mix_variant(shift=0, swap=False, dim=1):
    def style_mix(w1, w2, crossover, num_layers):
        a, b = (w2, w1) if swap else (w1, w2)
        return torch.stack([a if i < crossover + shift else b for i in range(num_layers)], dim=dim)

    return style_mix


@pytest.mark.parametrize(
    "fn, message",
    [
        (_mix_variant(shift=1), "layer `crossover` itself already takes w2"),
        (_mix_variant(shift=-1), "off by one"),
        (_mix_variant(swap=True), "w1 and w2 are swapped"),
        (_mix_variant(dim=0), r"the layer axis is dim 1"),
    ],
)
def test_check_style_mix_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_style_mix(fn)


@pytest.mark.parametrize("fn", [_mix_stack, _mix_repeat_cat])
def test_check_style_mix_accepts_correct_variants(fn, capsys):
    _passes(C.check_style_mix, fn, capsys)


# ----------------------------------------------------------------------------- path length


def _pl_variant(*, scale=True, reduce="ok", ema_ok=True, old_mean=False, graph=True, detach=True):
    def path_length_penalty(fake_images, w, pl_mean, decay=0.01, noise=None):
        if noise is None:
            noise = torch.randn_like(fake_images)
        h, wd = fake_images.shape[2:]
        y = noise / math.sqrt(h * wd) if scale else noise
        (g,) = torch.autograd.grad((fake_images * y).sum(), w, create_graph=graph)
        if reduce == "ok":
            lengths = g.square().sum(2).mean(1).sqrt()
        elif reduce == "sum_all":
            lengths = g.flatten(1).norm(dim=1)
        else:
            lengths = g.square().sum(2).mean(1)
        if ema_ok:
            new = pl_mean + decay * (lengths.mean() - pl_mean)
        else:
            new = decay * pl_mean + (1 - decay) * lengths.mean()
        if detach:
            new = new.detach()
        return (lengths - (pl_mean if old_mean else new)).square().mean(), new

    return path_length_penalty


def _pl_lerp(fake_images, w, pl_mean, decay=0.01, noise=None):
    if noise is None:
        noise = torch.randn(fake_images.shape, dtype=fake_images.dtype, device=fake_images.device)
    y = noise / (fake_images.shape[2] * fake_images.shape[3]) ** 0.5
    (jty,) = torch.autograd.grad(outputs=(fake_images * y).sum(), inputs=w, create_graph=True)
    lengths = jty.pow(2).sum(dim=-1).mean(dim=-1).sqrt()  # (B,)
    pl_mean = torch.as_tensor(pl_mean, dtype=lengths.dtype, device=lengths.device)
    new = pl_mean.lerp(lengths.mean().detach(), decay)
    return F.mse_loss(lengths, new.expand_as(lengths)), new


@pytest.mark.parametrize(
    "fn, message",
    [
        (_pl_variant(scale=False), r"y is not scaled"),
        (_pl_variant(reduce="sum_all"), "sums the squared gradient over the layers too"),
        (_pl_variant(reduce="no_sqrt"), "square root is missing"),
        (_pl_variant(ema_ok=False), "moving average is backwards"),
        (_pl_variant(old_mean=True), "uses the old pl_mean"),
        (_pl_variant(graph=False), "create_graph=True"),
        (_pl_variant(detach=False), "detach it"),
    ],
)
def test_check_path_length_penalty_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_path_length_penalty(fn)


@pytest.mark.parametrize("fn", [_pl_variant(), _pl_lerp])
def test_check_path_length_penalty_accepts_correct_variants(fn, capsys):
    _passes(C.check_path_length_penalty, fn, capsys)


# ----------------------------------------------------------------------------- copies


@pytest.mark.parametrize(
    "check, reference",
    [
        (C.check_modulated_conv2d, ref.modulated_conv2d),
        (C.check_path_length_penalty, ref.path_length_penalty),
        (C.check_adain_transfer, ref.adain_transfer),
    ],
)
def test_checks_refuse_a_pasted_copy(check, reference):
    import inspect
    import textwrap

    namespace = dict(vars(ref))
    exec(textwrap.dedent(inspect.getsource(reference)), namespace)  # a verbatim copy
    with pytest.raises(AssertionError, match=NOT_YOURS):
        check(namespace[reference.__name__])
