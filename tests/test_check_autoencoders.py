"""The week 01 checks (``course.checks.autoencoders``) judged on student-like code.

For every check: realistic wrong implementations must be rejected with the
message that names *their* mistake, correct implementations written another
way must pass, and the course's reference must be refused (itself, or called
through a wrapper). Where a check misbehaves, the test states the behaviour it
should have and is marked ``xfail(strict=True)`` with the defect as reason.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import course.autoencoders as ref
from course.checks import autoencoders as C

NOT_YOURS = "reference implementation, not your own"
REFERENCE_CALLED = "called the course's reference"
STUB = r"replace `raise NotImplementedError\(\)`"


def _passes(check, fn, capsys) -> None:
    check(fn)
    assert "passed" in capsys.readouterr().out  # the one line of success


# ---------------------------------------------------------------------------------------
# reconstruction_loss
# ---------------------------------------------------------------------------------------


def _bce(x_hat, x):
    return F.binary_cross_entropy(x_hat, x)


def _loss(mse, bce=_bce):
    """A student's reconstruction_loss from an MSE and a BCE formula."""

    def reconstruction_loss(x_hat, x, kind="mse"):
        return mse(x_hat, x) if kind == "mse" else bce(x_hat, x)

    return reconstruction_loss


def _mse(x_hat, x):
    return ((x_hat - x) ** 2).mean()


def _loss_in_place(x_hat, x, kind="mse"):
    if kind == "bce":
        return F.binary_cross_entropy(x_hat, x)
    diff = x_hat
    diff -= x  # modifies the caller's x_hat
    return (diff**2).mean()


def _loss_in_float64(x_hat, x, kind="mse"):
    a, b = x_hat.double(), x.double()
    if kind == "mse":
        return (a - b).pow(2).mean()  # forgot to cast back
    return F.binary_cross_entropy(x_hat, x)


WRONG_LOSSES = [
    (_loss(lambda a, b: ((a - b) ** 2).sum()), "you summed the squared errors"),
    (
        _loss(lambda a, b: ((a - b) ** 2).flatten(1).sum(1).mean()),
        "summed over the features of each sample and then averaged",
    ),
    (_loss(lambda a, b: ((a - b) ** 2).mean().sqrt()), r"took a square root \(that is the RMSE\)"),
    (_loss(lambda a, b: (a - b).abs().mean()), r"absolute error \(L1\)"),
    (_loss(lambda a, b: (a - b).mean() ** 2), "squared the mean difference"),
    (_loss(lambda a, b: ((a - b) ** 2).flatten(1).mean(1)), "one value per sample"),
    (_loss(lambda a, b: F.mse_loss(a, b).item()), "should return a torch.Tensor, got float"),
    (_loss(lambda a, b: F.mse_loss(a, b).detach()), "returned a tensor without gradient"),
    (_loss_in_place, "changed its input number 1 in place"),
    (_loss_in_float64, "returned dtype torch.float64 for torch.float32 input"),
    (_loss(_mse, lambda a, b: F.binary_cross_entropy(b, a)), "swapped the arguments"),
    (
        _loss(_mse, lambda a, b: (b * a.log() + (1 - b) * (1 - a).log()).mean()),
        r"the loss is negative: the BCE is \*minus\*",
    ),
    (
        _loss(_mse, lambda a, b: F.binary_cross_entropy_with_logits(a, b)),
        r"treated x_hat as logits",
    ),
    (
        _loss(_mse, lambda a, b: F.binary_cross_entropy(a, b, reduction="sum")),
        "you summed instead of averaging",
    ),
    (_loss(_mse, lambda a, b: -(b * a.log()).mean()), r"dropped the \(1 - x\) log\(1 - x_hat\)"),
    (_loss(_mse, _mse), "kind='bce' computed a squared error"),
]


@pytest.mark.parametrize("fn, message", WRONG_LOSSES)
def test_check_reconstruction_loss_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_reconstruction_loss(fn)


def _loss_explicit(x_hat, x, kind="mse"):
    if kind == "mse":
        return torch.mean(torch.square(x_hat - x))
    return -(x * torch.log(x_hat) + (1 - x) * torch.log1p(-x_hat)).mean()


def _loss_float64_then_cast(x_hat, x, kind="mse"):
    a, b = x_hat.double(), x.double()
    losses = {"mse": lambda: (a - b).pow(2).sum() / b.numel(), "bce": lambda: nn.BCELoss()(a, b)}
    return losses[kind]().to(x.dtype)


def _loss_via_logits(x_hat, x, kind="mse"):
    if kind == "bce":  # the same BCE, computed from logit(p)
        return F.binary_cross_entropy_with_logits(torch.logit(x_hat), x)
    return nn.MSELoss()(x_hat, x)


@pytest.mark.parametrize("fn", [_loss_explicit, _loss_float64_then_cast, _loss_via_logits])
def test_check_reconstruction_loss_accepts_correct_variants(fn, capsys):
    _passes(C.check_reconstruction_loss, fn, capsys)


# ---------------------------------------------------------------------------------------
# pca_baseline
# ---------------------------------------------------------------------------------------


def _pca_uncentred(x, k):
    return torch.linalg.svd(x, full_matrices=False).Vh[:k], x.mean(0)


def _pca_smallest(x, k):
    xc = x - x.mean(0)
    _, vecs = torch.linalg.eigh(xc.T @ xc)  # ascending eigenvalues
    return vecs[:, :k].T, x.mean(0)


def _pca_columns_of_vh(x, k):
    vh = torch.linalg.svd(x - x.mean(0), full_matrices=False).Vh
    return vh[:, :k].T, x.mean(0)


def _pca_rows_of_eigvecs(x, k):
    xc = x - x.mean(0)
    _, vecs = torch.linalg.eigh(xc.T @ xc)
    vecs = vecs.flip(-1)  # largest first ... but eigenvectors are columns
    return vecs[:k], x.mean(0)


def _pca_largest_last(x, k):
    xc = x - x.mean(0)
    _, vecs = torch.linalg.eigh(xc.T @ xc)
    return vecs[:, -k:].T, x.mean(0)  # right subspace, smallest of the k first


def _pca_transposed(x, k):
    return torch.linalg.svd(x - x.mean(0), full_matrices=False).Vh[:k].T, x.mean(0)


def _pca_swapped(x, k):
    return x.mean(0), torch.linalg.svd(x - x.mean(0), full_matrices=False).Vh[:k]


def _pca_scaled(x, k):
    _, s, vh = torch.linalg.svd(x - x.mean(0), full_matrices=False)
    return s[:k, None] * vh[:k], x.mean(0)  # loadings, not unit vectors


def _pca_in_place(x, k):
    mean = x.mean(0)
    x -= mean  # centres the caller's data
    return torch.linalg.svd(x, full_matrices=False).Vh[:k], mean


def _pca_keepdim_mean(x, k):
    mean = x.mean(0, keepdim=True)
    return torch.linalg.svd(x - mean, full_matrices=False).Vh[:k], mean


WRONG_PCA = [
    (_pca_uncentred, "you did not centre the data"),
    (_pca_smallest, r"kept the \*smallest\*-variance directions"),
    (_pca_columns_of_vh, r"took columns of V\^T"),
    (_pca_rows_of_eigvecs, "took rows of the eigenvector matrix"),
    (_pca_largest_last, "not ordered by explained variance, largest first"),
    (_pca_transposed, "one component per \\*row\\*.*transpose your matrix"),
    (_pca_swapped, r"return \(components, mean\), in that order"),
    (_pca_scaled, "not orthonormal rows"),
    (_pca_in_place, "changed its input number 1 in place"),
    (_pca_keepdim_mean, r"mean returned shape \(1, 6\), expected \(6,\)"),
]


@pytest.mark.parametrize("fn, message", WRONG_PCA)
def test_check_pca_baseline_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_pca_baseline(fn)


def _pca_eigh_float64(x, k):
    x64 = x.double()
    mean = x64.mean(dim=0)  # (D,)
    xc = x64 - mean
    evals, evecs = torch.linalg.eigh(xc.T @ xc / (len(x) - 1))  # ascending
    order = torch.argsort(evals, descending=True)[:k]
    return evecs[:, order].T.to(x.dtype), mean.to(x.dtype)


def _pca_gram_trick(x, k):
    """Eigenvectors of the (N, N) Gram matrix, mapped back: cheap when N < D."""
    mean = x.sum(0) / x.shape[0]
    xc = x.clone()
    xc -= mean  # in place, on our own copy
    x64 = xc.double()
    evals, u = torch.linalg.eigh(x64 @ x64.T)  # (N,), (N, N)
    evals, u = evals.flip(0)[:k], u.flip(-1)[:, :k]
    comps = (u.T @ x64) / evals.sqrt()[:, None]  # (k, D): v_i = X^T u_i / s_i
    return comps.to(x.dtype), mean


def _pca_numpy_sign_fixed(x, k):
    xn = x.detach().cpu().numpy()
    mean = xn.mean(axis=0)
    _, _, vt = np.linalg.svd(xn - mean, full_matrices=False)
    comps = vt[:k]
    signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
    comps = comps * signs[:, None]  # largest entry positive: signs are free
    return torch.from_numpy(comps).to(x), torch.from_numpy(mean).to(x)


@pytest.mark.parametrize("fn", [_pca_eigh_float64, _pca_gram_trick, _pca_numpy_sign_fixed])
def test_check_pca_baseline_accepts_correct_variants(fn, capsys):
    _passes(C.check_pca_baseline, fn, capsys)


# ---------------------------------------------------------------------------------------
# Autoencoder
# ---------------------------------------------------------------------------------------

_ACT = {None: nn.Identity, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _mlp(sizes, out_activation=None, relu_last=False):
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or relu_last:
            layers.append(nn.ReLU())
    layers.append(_ACT[out_activation]())
    return nn.Sequential(*layers)


class SequentialAE(nn.Module):
    """Correct: two nn.Sequential halves."""

    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__()
        sizes = [in_dim, *hidden, latent_dim]
        self.encoder = _mlp(sizes)
        self.decoder = _mlp(sizes[::-1], out_activation)

    def encode(self, x):
        return self.encoder(x.flatten(1))

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x)).view_as(x)


class ModuleListAE(nn.Module):
    """Correct: explicit layers in ModuleLists, created in mirror pairs, functional activations."""

    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__()
        sizes = [in_dim, *hidden, latent_dim]
        self.enc, self.dec = nn.ModuleList(), nn.ModuleList()
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            self.enc.append(nn.Linear(a, b))
            self.dec.insert(0, nn.Linear(b, a))
        self.out_activation = out_activation

    @staticmethod
    def _run(layers, h):
        for i, layer in enumerate(layers):
            h = layer(h)
            if i < len(layers) - 1:
                h = torch.relu(h)
        return h

    def encode(self, x):
        return self._run(self.enc, x.reshape(x.shape[0], -1))

    def decode(self, z):
        h = self._run(self.dec, z)
        if self.out_activation == "tanh":
            return torch.tanh(h)
        if self.out_activation == "sigmoid":
            return torch.sigmoid(h)
        return h

    def forward(self, x):
        return self.decode(self.encode(x)).reshape(x.shape)


class DictOfLayersAE(nn.Module):
    """Correct: a ModuleDict of named layers, decoder built before the encoder."""

    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__()
        sizes = [in_dim, *hidden, latent_dim]
        self.decoder = _mlp(sizes[::-1], out_activation)
        pairs = zip(sizes[:-1], sizes[1:], strict=True)
        self.layers = nn.ModuleDict({f"enc{i}": nn.Linear(a, b) for i, (a, b) in enumerate(pairs)})

    def encode(self, x):
        h = torch.flatten(x, start_dim=1)
        n = len(self.layers)
        for i in range(n):
            h = self.layers[f"enc{i}"](h)
            h = F.relu(h) if i < n - 1 else h
        return h

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x)).reshape_as(x)


@pytest.mark.parametrize("cls", [SequentialAE, ModuleListAE, DictOfLayersAE])
def test_check_autoencoder_accepts_correct_variants(cls, capsys):
    _passes(C.check_autoencoder, cls, capsys)


class ReturnsCode(SequentialAE):
    def forward(self, x):
        return self.encode(x)


class NoViewAs(SequentialAE):
    def forward(self, x):
        return self.decode(self.encode(x))


class ReluOnCode(SequentialAE):
    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__(in_dim, latent_dim, hidden, out_activation)
        self.encoder = _mlp([in_dim, *hidden, latent_dim], relu_last=True)


class DecoderNotMirrored(SequentialAE):
    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__(in_dim, latent_dim, hidden, out_activation)
        self.decoder = _mlp([latent_dim, in_dim], out_activation)  # one layer back


class HiddenReversed(SequentialAE):
    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__(in_dim, latent_dim, tuple(hidden)[::-1], out_activation)


class IgnoresOutActivation(SequentialAE):
    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__(in_dim, latent_dim, hidden, None)


class TanhOnCode(SequentialAE):
    def encode(self, x):
        return torch.tanh(super().encode(x))


class DetachedEncoder(SequentialAE):
    def forward(self, x):
        return self.decode(self.encode(x).detach()).view_as(x)


class SkipConnection(SequentialAE):
    def forward(self, x):
        return (self.decode(self.encode(x)) + x.flatten(1)).view_as(x)


class NoOutActivationArgument(SequentialAE):
    def __init__(self, in_dim, latent_dim, hidden=(256, 64)):
        super().__init__(in_dim, latent_dim, hidden)


WRONG_AUTOENCODERS = [
    (ReturnsCode, "forward returned the code z"),
    (NoViewAs, r"give the reconstruction the input's shape \(x_hat.view_as\(x\)\)"),
    (ReluOnCode, "never returns negative codes: no ReLU after the encoder's last layer"),
    (DecoderNotMirrored, "parameters, expected .*the decoder mirrors it"),
    (HiddenReversed, "parameters, expected"),
    (IgnoresOutActivation, r"out_activation='tanh'\) returned values .*apply tanh"),
    (TanhOnCode, r"\(hidden=\(\)\) is not linear"),
    (DetachedEncoder, "no gradient reaches .*encoder"),
    (SkipConnection, r"forward\(x\) differs from decode\(encode\(x\)\)"),
    (NoOutActivationArgument, "could not build .*unexpected keyword argument 'out_activation'"),
]


@pytest.mark.parametrize("cls, message", WRONG_AUTOENCODERS)
def test_check_autoencoder_names_the_mistake(cls, message):
    with pytest.raises(AssertionError, match=message):
        C.check_autoencoder(cls)


class NoFlatten(SequentialAE):
    def encode(self, x):
        return self.encoder(x)  # Linear on (B, 1, 8, 8): the last dim is 8, not 64


def test_check_autoencoder_tells_to_flatten():
    with pytest.raises(AssertionError, match=r"flatten every non-batch dim first"):
        C.check_autoencoder(NoFlatten)


class SigmoidForAnyActivation(SequentialAE):
    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__(in_dim, latent_dim, hidden, "sigmoid" if out_activation else None)


def test_check_autoencoder_rejects_sigmoid_in_place_of_tanh():
    with pytest.raises(AssertionError, match=r"out_activation='tanh'\).*apply tanh"):
        C.check_autoencoder(SigmoidForAnyActivation)


class DecoderFirstSmallPositiveBias(SequentialAE):
    """Correct: the decoder is built first, biases start at 0.01 (a common ReLU habit)."""

    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        nn.Module.__init__(self)
        sizes = [in_dim, *hidden, latent_dim]
        self.decoder = _mlp(sizes[::-1], out_activation)
        self.encoder = _mlp(sizes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0.01)


def test_check_autoencoder_accepts_an_unlucky_correct_initialisation(capsys):
    _passes(C.check_autoencoder, DecoderFirstSmallPositiveBias, capsys)


class DCGANInit(SequentialAE):
    """Correct: weights ~ N(0, 0.02), zero biases (the DCGAN initialisation)."""

    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__(in_dim, latent_dim, hidden, out_activation)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)


def test_check_autoencoder_accepts_a_small_initialisation(capsys):
    _passes(C.check_autoencoder, DCGANInit, capsys)


class BuiltFromSwapAutoencoder(nn.Module):
    """Not the student's work: the reference architecture, taken from SwapAutoencoder."""

    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__()
        swap = ref.SwapAutoencoder(in_dim, latent_dim, hidden, out_activation, domains=1)
        self.encoder, self.decoder = swap.encoder, swap.decoders[0]

    def encode(self, x):
        return self.encoder(x.flatten(1))

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x)).view_as(x)


def test_check_autoencoder_refuses_the_reference_architecture_from_swap_autoencoder():
    with pytest.raises(AssertionError, match=REFERENCE_CALLED):
        C.check_autoencoder(BuiltFromSwapAutoencoder)


def test_check_autoencoder_refuses_a_pasted_copy():
    source = inspect.getsource(ref.Autoencoder).replace("class Autoencoder(", "class MyAE(", 1)
    namespace = dict(vars(ref), __name__="student_notebook")
    exec(compile(source, "<student cell>", "exec"), namespace)
    with pytest.raises(AssertionError, match=NOT_YOURS):
        C.check_autoencoder(namespace["MyAE"])


class BuiltWithReferenceHelper(SequentialAE):
    """Not the student's work: the layers come from the reference's private helper."""

    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        nn.Module.__init__(self)
        sizes = [in_dim, *hidden, latent_dim]
        self.encoder = ref._mlp(sizes, None)
        self.decoder = ref._mlp(sizes[::-1], out_activation)


def test_check_autoencoder_refuses_layers_from_the_reference_helper():
    with pytest.raises(AssertionError, match="could not build BuiltWithReferenceHelper"):
        C.check_autoencoder(BuiltWithReferenceHelper)


def test_check_autoencoder_says_the_helper_is_the_reference():
    with pytest.raises(AssertionError, match=REFERENCE_CALLED):
        C.check_autoencoder(BuiltWithReferenceHelper)


class ConstantOutput(SequentialAE):
    """Wrong: the decoder's output is multiplied away, whatever the activation."""

    def decode(self, z):
        return self.decoder(z) * 0.0


def test_check_autoencoder_rejects_a_constant_output():
    with pytest.raises(
        AssertionError, match=r"out_activation='tanh'\) returned values in \[0, 0\]"
    ):
        C.check_autoencoder(ConstantOutput)


def test_check_autoencoder_keeps_the_students_seed():
    after = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        C.check_autoencoder(SequentialAE)
        after.append(torch.rand(4))
    assert not torch.equal(after[0], after[1])


def test_check_autoencoder_leaves_the_global_rng_state_unchanged():
    torch.manual_seed(1234)
    torch.rand(3)  # somewhere in the middle of a stream, not just after seeding
    before = torch.get_rng_state()
    C.check_autoencoder(SequentialAE)
    assert torch.equal(torch.get_rng_state(), before)
    with pytest.raises(AssertionError):
        C.check_autoencoder(ReluOnCode)  # a failing check restores it too
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_check_autoencoder_leaves_the_cuda_rng_state_unchanged():
    torch.cuda.manual_seed_all(1234)
    before = torch.cuda.get_rng_state()
    C.check_autoencoder(SequentialAE)
    assert torch.equal(torch.cuda.get_rng_state(), before)


class HardCodedBatch(SequentialAE):
    """Wrong: the batch size of the check's own inputs is written into the reshape."""

    def encode(self, x):
        return self.encoder(x.reshape(5, -1))


def test_check_autoencoder_reports_a_crash_on_a_larger_batch():
    with pytest.raises(AssertionError, match="encode"):
        C.check_autoencoder(HardCodedBatch)


# ---------------------------------------------------------------------------------------
# add_noise
# ---------------------------------------------------------------------------------------


def _noise(formula, fresh=lambda x: torch.randn_like(x)):
    def add_noise(x, sigma, noise=None):
        if noise is None:
            noise = fresh(x)
        return formula(x, sigma, noise)

    return add_noise


def _clipped(x, sigma, noise):
    return (x + sigma * noise).clamp(-1, 1)


def _noise_in_place(x, sigma, noise=None):
    if noise is None:
        noise = torch.randn_like(x)
    return x.add_(sigma * noise).clamp_(-1, 1)


def _noise_reseeded(x, sigma, noise=None):
    if noise is None:
        torch.manual_seed(0)  # "reproducible" - but the same noise every call
        noise = torch.randn_like(x)
    return _clipped(x, sigma, noise)


WRONG_NOISE = [
    (_noise(lambda x, s, n: x + s * n), r"values leave \[-1, 1\]: clip"),
    (_noise(lambda x, s, n: (x + s**2 * n).clamp(-1, 1)), r"scaled the noise by sigma\*\*2"),
    (_noise(lambda x, s, n: (x + s * n).clamp(0, 1)), r"clipped to \[0, 1\]"),
    (_noise(lambda x, s, n: (x + n).clamp(-1, 1)), "the noise is not scaled by sigma"),
    (_noise(lambda x, s, n: (x * (1 + s * n)).clamp(-1, 1)), "multiplied the image by the noise"),
    (_noise_in_place, "changed its input number 1 in place"),
    (_noise(_clipped, lambda x: torch.rand_like(x)), r"torch.rand draws from U\[0, 1\)"),
    (_noise(_clipped, lambda x: torch.rand_like(x) * 2 - 1), r"std 0.05\d+, expected 0.1"),
    # The measured std of 20000 draws, printed with 3 digits: 0.00994, 0.01, 0.0101...
    (_noise(_clipped, lambda x: 0.1 * torch.randn_like(x)), r"std 0\.0(09|1)\d*, expected 0\.1"),
    (_noise_reseeded, "returned the same result twice: draw new noise"),
]


@pytest.mark.parametrize("fn, message", WRONG_NOISE)
def test_check_add_noise_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_add_noise(fn)


def _noise_clamp_kwargs(x, sigma, noise=None):
    if noise is None:
        noise = torch.randn(x.shape, dtype=x.dtype, device=x.device)
    return torch.clamp(x + sigma * noise, min=-1.0, max=1.0)


def _noise_in_place_on_copy(x, sigma, noise=None):
    out = x.clone()
    out.add_(noise if noise is not None else torch.randn_like(x), alpha=sigma)
    return out.clamp_(-1, 1)


def _noise_where_float64(x, sigma, noise=None):
    eps = torch.normal(torch.zeros_like(x), torch.ones_like(x)) if noise is None else noise
    y = x.double() + sigma * eps.double()
    y = torch.where(y > 1, torch.ones_like(y), torch.where(y < -1, -torch.ones_like(y), y))
    return y.to(x.dtype)


@pytest.mark.parametrize("fn", [_noise_clamp_kwargs, _noise_in_place_on_copy, _noise_where_float64])
def test_check_add_noise_accepts_correct_variants(fn, capsys):
    _passes(C.check_add_noise, fn, capsys)


# ---------------------------------------------------------------------------------------
# interpolate
# ---------------------------------------------------------------------------------------


def _path(weights):
    def interpolate(z0, z1, steps):
        a = weights(steps).to(z0)[:, None]  # (steps, 1)
        return (1 - a) * z0 + a * z1  # (steps, D)

    return interpolate


def _interp_modifies_z1(z0, z1, steps):
    a = torch.linspace(0, 1, steps, dtype=z0.dtype)[:, None]
    delta = z1
    delta -= z0  # modifies the caller's z1
    return z0 + a * delta


WRONG_INTERPOLATE = [
    (_path(lambda s: torch.linspace(1, 0, s)), "the path runs backwards"),
    (_path(lambda s: torch.linspace(0, 1, s + 2)[1:-1]), "the endpoints are missing"),
    (_path(lambda s: torch.arange(s) / s), r"a = i / steps stops short"),
    (_path(lambda s: torch.arange(1, s + 1) / s), "the first row is not z0"),
    (_path(lambda s: torch.linspace(0, 1, s + 1)), "returned 6 points for steps=5"),
    (lambda z0, z1, s: _path(lambda n: torch.linspace(0, 1, n))(z0, z1, s).T, r"shape \(3, 5\)"),
    (_interp_modifies_z1, "changed its input number 2 in place"),
]


@pytest.mark.parametrize("fn, message", WRONG_INTERPOLATE)
def test_check_interpolate_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_interpolate(fn)


def _interp_lists(z0, z1, steps):
    rows = [((1 - i / (steps - 1)) * z0 + i / (steps - 1) * z1).tolist() for i in range(steps)]
    return torch.tensor(rows, dtype=z0.dtype, device=z0.device)  # no graph back to z0, z1


def test_check_interpolate_explains_missing_gradients():
    with pytest.raises(AssertionError, match="the result carries no gradient"):
        C.check_interpolate(_interp_lists)


def _interp_lerp(z0, z1, steps):
    weights = torch.arange(steps, dtype=z0.dtype, device=z0.device) / (steps - 1)  # (steps,)
    return torch.lerp(z0.expand(steps, -1), z1.expand(steps, -1), weights[:, None])


def _interp_loop(z0, z1, steps):
    return torch.stack([z0 + (i / (steps - 1)) * (z1 - z0) for i in range(steps)])


def _interp_einsum_float64(z0, z1, steps):
    a = torch.linspace(0, 1, steps, dtype=torch.float64, device=z0.device)
    ends = torch.stack([z0, z1]).double()  # (2, D)
    weights = torch.stack([1 - a, a], dim=1)  # (steps, 2)
    return torch.einsum("sk,kd->sd", weights, ends).to(z0.dtype)


@pytest.mark.parametrize("fn", [_interp_lerp, _interp_loop, _interp_einsum_float64])
def test_check_interpolate_accepts_correct_variants(fn, capsys):
    _passes(C.check_interpolate, fn, capsys)


# ---------------------------------------------------------------------------------------
# attribute_vector
# ---------------------------------------------------------------------------------------


def _attr_in_place(z_with, z_without):
    z_with -= z_without.mean(0)  # modifies the caller's codes
    return z_with.mean(0)


WRONG_ATTRIBUTE = [
    (lambda a, b: b.mean(0) - a.mean(0), "the sign is reversed"),
    (lambda a, b: a.sum(0) - b.sum(0), "you subtracted sums"),
    (lambda a, b: a.median(0).values - b.median(0).values, "you used medians"),
    (lambda a, b: torch.cat([a, b]).mean(0), "averaged the two groups together"),
    (lambda a, b: (a - b).mean(0), "subtracting example by example fails"),
    (lambda a, b: a.mean() - b.mean(), r"returned shape \(\), expected \(4,\): average over"),
    (_attr_in_place, "changed its input number 1 in place"),
]


@pytest.mark.parametrize("fn, message", WRONG_ATTRIBUTE)
def test_check_attribute_vector_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match=message):
        C.check_attribute_vector(fn)


def test_check_attribute_vector_explains_averaging_over_features():
    with pytest.raises(AssertionError, match="dim 0"):
        C.check_attribute_vector(lambda a, b: a.mean(1) - b.mean(1))


def _attr_sum_over_count(z_with, z_without):
    return z_with.sum(dim=0) / z_with.shape[0] - z_without.sum(dim=0) / z_without.shape[0]


def _attr_weights(z_with, z_without):
    n, m = len(z_with), len(z_without)
    like = dict(dtype=z_with.dtype, device=z_with.device)
    w = torch.cat([torch.full((n,), 1.0 / n, **like), torch.full((m,), -1.0 / m, **like)])
    return w @ torch.cat([z_with, z_without])  # (D,)


def _attr_float64_keepdim(z_with, z_without):
    a = z_with.double().mean(dim=0, keepdim=True)  # (1, D)
    b = z_without.double().mean(dim=0, keepdim=True)  # (1, D)
    return (a - b).squeeze(0).to(z_with.dtype)


@pytest.mark.parametrize("fn", [_attr_sum_over_count, _attr_weights, _attr_float64_keepdim])
def test_check_attribute_vector_accepts_correct_variants(fn, capsys):
    _passes(C.check_attribute_vector, fn, capsys)


# ---------------------------------------------------------------------------------------
# Shared: stubs, the reference itself, and wrappers around it
# ---------------------------------------------------------------------------------------

FUNCTION_CHECKS = [
    (C.check_reconstruction_loss, ref.reconstruction_loss),
    (C.check_pca_baseline, ref.pca_baseline),
    (C.check_add_noise, ref.add_noise),
    (C.check_interpolate, ref.interpolate),
    (C.check_attribute_vector, ref.attribute_vector),
]
ALL_CHECKS = [*FUNCTION_CHECKS, (C.check_autoencoder, ref.Autoencoder)]
IDS = [check.__name__ for check, _ in ALL_CHECKS]


def test_check_autoencoder_refuses_the_reference_itself():
    # The function checks' shared contract lives in tests/test_check_contract.py.
    with pytest.raises(AssertionError, match=NOT_YOURS):
        C.check_autoencoder(ref.Autoencoder)


def _exec_copy(reference):
    """``reference`` pasted into a notebook cell below the student's own imports."""
    namespace = dict(vars(ref), __name__="student_notebook")
    exec(compile(inspect.getsource(reference), "<student cell>", "exec"), namespace)
    return namespace[reference.__name__]


DISTINCTIVE_CHECKS = [(c, r) for c, r in FUNCTION_CHECKS if r is not ref.add_noise]


@pytest.mark.parametrize(
    "check, reference", DISTINCTIVE_CHECKS, ids=[c.__name__ for c, _ in DISTINCTIVE_CHECKS]
)
def test_check_refuses_a_pasted_copy_of_the_reference(check, reference):
    with pytest.raises(AssertionError, match=NOT_YOURS):
        check(_exec_copy(reference))


def test_check_add_noise_accepts_a_copy_of_the_short_reference(capsys):
    # Deliberate: add_noise is too short to tell a copy from an honest implementation
    # written with the same tokens (course.checks._core._distinctive).
    _passes(C.check_add_noise, _exec_copy(ref.add_noise), capsys)


def test_check_add_noise_refuses_a_wrapper_calling_the_reference():
    def add_noise(x, sigma, noise=None):
        return ref.add_noise(x, sigma, noise)

    with pytest.raises(AssertionError):  # the message: see test_check_says_the_wrapper_...
        C.check_add_noise(add_noise)


@pytest.mark.parametrize("check, reference", FUNCTION_CHECKS, ids=IDS[:-1])
def test_check_refuses_a_wrapper_calling_the_reference(check, reference):
    def wrapper(*args, **kwargs):
        return reference(*args, **kwargs)

    with pytest.raises(AssertionError):
        check(wrapper)


class WrapsReference(nn.Module):
    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__()
        self.inner = ref.Autoencoder(in_dim, latent_dim, hidden, out_activation)

    def encode(self, x):
        return self.inner.encode(x)

    def decode(self, z):
        return self.inner.decode(z)

    def forward(self, x):
        return self.inner(x)


class BorrowsReferenceMethods(SequentialAE):
    encode = ref.Autoencoder.encode
    decode = ref.Autoencoder.decode
    forward = ref.Autoencoder.forward

    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        super().__init__(in_dim, latent_dim, hidden, out_activation)
        self.in_dim = in_dim


def test_check_autoencoder_refuses_a_wrapper_around_the_reference():
    with pytest.raises(AssertionError, match=f"could not build WrapsReference.*{REFERENCE_CALLED}"):
        C.check_autoencoder(WrapsReference)


def test_check_autoencoder_refuses_borrowed_reference_methods():
    with pytest.raises(AssertionError):
        C.check_autoencoder(BorrowsReferenceMethods)


def test_check_autoencoder_says_borrowed_methods_are_the_reference():
    with pytest.raises(AssertionError, match=REFERENCE_CALLED):
        C.check_autoencoder(BorrowsReferenceMethods)


def _stub(*args, **kwargs):
    raise NotImplementedError()


class StubAE(SequentialAE):
    """Layers written, methods not yet."""

    def encode(self, x):
        raise NotImplementedError()

    decode = forward = encode


class StubInitAE(nn.Module):
    def __init__(self, in_dim, latent_dim, hidden=(256, 64), out_activation=None):
        raise NotImplementedError()


def test_check_autoencoder_asks_to_replace_the_stubs():
    with pytest.raises(AssertionError, match=f"encode raises NotImplementedError: {STUB}"):
        C.check_autoencoder(StubAE)
    with pytest.raises(AssertionError, match=f"could not build StubInitAE.*{STUB}"):
        C.check_autoencoder(StubInitAE)
