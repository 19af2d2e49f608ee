"""Checks for week 01 (autoencoders): ``check_<name>(your_function)``.

Each check runs your code on seeded inputs (several shapes, float32 and float64,
the CPU and the accelerator when there is one) and compares it with the course's
reference, which is switched off while your code runs. A failure names the
likely mistake.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course import autoencoders as ref
from course.checks._core import (
    Mistake,
    assert_not_reference,
    assert_tensor,
    call_student,
    cases,
    close,
    compare,
    inputs_unchanged,
    keep_student_rng,
    rand,
    randn,
    success,
    where,
)

__all__ = [
    "check_add_noise",
    "check_attribute_vector",
    "check_autoencoder",
    "check_interpolate",
    "check_pca_baseline",
    "check_reconstruction_loss",
]


# ---------------------------------------------------------------------------------------
# reconstruction_loss
# ---------------------------------------------------------------------------------------

_MSE_MISTAKES = [
    Mistake(
        "you summed the squared errors; the loss is the mean over all elements "
        "(use .mean(), or F.mse_loss), so its scale does not depend on the image size.",
        lambda x_hat, x: ((x_hat - x) ** 2).sum(),
    ),
    Mistake(
        "you summed over the features of each sample and then averaged over the batch; the "
        "course's convention is the mean over *all* elements (batch and features).",
        lambda x_hat, x: ((x_hat - x) ** 2).flatten(1).sum(1).mean(),
    ),
    Mistake(
        "you took a square root (that is the RMSE); the loss is the mean squared error itself.",
        lambda x_hat, x: ((x_hat - x) ** 2).mean().sqrt(),
    ),
    Mistake(
        "you used the absolute error (L1); the MSE squares the differences.",
        lambda x_hat, x: (x_hat - x).abs().mean(),
    ),
    Mistake(
        "you squared the mean difference; square each difference first, then average.",
        lambda x_hat, x: ((x_hat - x).mean()) ** 2,
    ),
]

_BCE_MISTAKES = [
    Mistake(
        "you swapped the arguments of the binary cross-entropy: the prediction x_hat goes "
        "inside the logarithms, the target x weights them.",
        lambda x_hat, x: F.binary_cross_entropy(x, x_hat),
    ),
    Mistake(
        "the loss is negative: the BCE is *minus* the Bernoulli log-likelihood.",
        lambda x_hat, x: (x * x_hat.log() + (1 - x) * (1 - x_hat).log()).mean(),
    ),
    Mistake(
        "you treated x_hat as logits (binary_cross_entropy_with_logits); here x_hat already "
        "holds probabilities in [0, 1].",
        lambda x_hat, x: F.binary_cross_entropy_with_logits(x_hat, x),
    ),
    Mistake(
        "you summed instead of averaging over all elements.",
        lambda x_hat, x: F.binary_cross_entropy(x_hat, x, reduction="sum"),
    ),
    Mistake(
        "you dropped the (1 - x) log(1 - x_hat) term: the BCE rewards predicting 0 where x = 0 too.",
        lambda x_hat, x: -(x * x_hat.log()).mean(),
    ),
    Mistake(
        "kind='bce' computed a squared error: the BCE is -[x log x_hat + (1-x) log(1-x_hat)].",
        lambda x_hat, x: F.mse_loss(x_hat, x),
    ),
]


def check_reconstruction_loss(fn) -> None:
    """Check ``reconstruction_loss(x_hat, x, kind="mse" | "bce") -> scalar`` (mean over elements)."""
    assert_not_reference(fn, ref.reconstruction_loss)
    name = "reconstruction_loss"
    shapes = [(4, 1, 8, 8), (3, 10), (1, 5)]
    for dev, dtype in cases():
        for i, shape in enumerate(shapes):
            x = rand(*shape, seed=10 + i, dtype=dtype, dev=dev) * 2 - 1
            x_hat = rand(*shape, seed=20 + i, dtype=dtype, dev=dev) * 2 - 1
            p = rand(*shape, seed=30 + i, dtype=dtype, dev=dev) * 0.9 + 0.05
            target = (rand(*shape, seed=40 + i, dtype=dtype, dev=dev) > 0.5).to(dtype)
            target[..., 0] = 0.3  # grey pixels too: BCE targets need not be binary
            for kind, args, mistakes in [
                ("mse", (x_hat, x), _MSE_MISTAKES),
                ("bce", (p, target), _BCE_MISTAKES),
            ]:
                case = f"kind={kind!r}, shape {shape}, {dtype}, {dev.type}"
                before = [a.clone() for a in args]
                expected = ref.reconstruction_loss(*args, kind=kind)
                got = call_student(fn, args, {"kind": kind}, references=[ref], case=case)
                inputs_unchanged(name, before, args)
                if isinstance(got, torch.Tensor) and got.ndim >= 1 and got.shape[0] == shape[0]:
                    raise AssertionError(
                        f"{name} returned shape {tuple(got.shape)}, one value per sample; the "
                        f"loss is a single number, the mean over all elements{where(case)}."
                    )
                compare(name, got, expected, mistakes=mistakes, args=args, case=case)
    # The default kind is the squared error.
    x_hat, x = rand(3, 4, seed=1) * 2 - 1, rand(3, 4, seed=2) * 2 - 1
    got = call_student(fn, (x_hat, x), references=[ref], case="default kind")
    compare(name, got, ref.reconstruction_loss(x_hat, x), case="called without kind=")
    # Gradients reach the reconstruction (the decoder learns through them).
    for kind, a, b in [
        ("mse", x_hat, x),
        ("bce", rand(3, 4, seed=3) * 0.9 + 0.05, rand(3, 4, seed=4)),
    ]:
        a_mine, a_ref = a.clone().requires_grad_(), a.clone().requires_grad_()
        out = call_student(fn, (a_mine, b), {"kind": kind}, references=[ref], case=kind)
        if not out.requires_grad:
            raise AssertionError(
                f"{name} (kind={kind!r}) returned a tensor without gradient: do not use .item(), "
                ".detach() or numpy inside the loss."
            )
        out.backward()
        ref.reconstruction_loss(a_ref, b, kind=kind).backward()
        if a_mine.grad is None or not close(a_mine.grad, a_ref.grad):
            raise AssertionError(f"{name} (kind={kind!r}) gives wrong gradients w.r.t. x_hat.")
    success(name, "MSE and BCE, several shapes, float32/float64, gradients")


# ---------------------------------------------------------------------------------------
# pca_baseline
# ---------------------------------------------------------------------------------------


def _pca_data(n: int, d: int, seed: int, dtype, dev) -> torch.Tensor:
    """Data with well-separated variances along a random orthonormal basis, and an offset."""
    q, _ = torch.linalg.qr(randn(d, d, seed=seed, dtype=torch.float64))
    scales = torch.linspace(3.0, 0.3, d, dtype=torch.float64)  # distinct variances
    x = randn(n, d, seed=seed + 1, dtype=torch.float64) * scales @ q.T
    x = x + 2.0 + randn(d, seed=seed + 2, dtype=torch.float64)  # a mean far from 0
    return x.to(dev, dtype)


def _projector(components: torch.Tensor) -> torch.Tensor:
    c = components.detach().to("cpu", torch.float64)
    return c.T @ c  # (D, D)


def _uncentred(x, k):
    return torch.linalg.svd(x, full_matrices=False)[2][:k]


def _ascending(x, k):
    xc = x - x.mean(0)
    return torch.linalg.eigh(xc.T @ xc)[1][:, :k].T


def _columns_of_vh(x, k):
    return torch.linalg.svd(x - x.mean(0), full_matrices=False)[2][:, :k].T


def _rows_of_eigvecs(x, k):
    xc = x - x.mean(0)
    return torch.linalg.eigh(xc.T @ xc)[1].flip(-1)[:k]


_PCA_MISTAKES = [
    Mistake(
        "you did not centre the data: subtract the mean before the SVD, otherwise the first "
        "component points at the mean instead of along the largest variance.",
        _uncentred,
    ),
    Mistake(
        "you kept the *smallest*-variance directions: torch.linalg.eigh returns eigenvalues in "
        "ascending order, so take the last k eigenvectors (and put the largest first).",
        _ascending,
    ),
    Mistake(
        "you took columns of V^T (torch.linalg.svd returns Vh = V^T); the components are its "
        "first k *rows*, Vh[:k].",
        _columns_of_vh,
    ),
    Mistake(
        "you took rows of the eigenvector matrix; torch.linalg.eigh returns eigenvectors as "
        "*columns*: use eigvecs[:, -k:] (largest last) and transpose.",
        _rows_of_eigvecs,
    ),
]


def check_pca_baseline(fn) -> None:
    """Check ``pca_baseline(x (N, D), k) -> (components (k, D), mean (D,))``.

    Signs of components are free (PCA defines directions, not orientations); the
    span, orthonormality and the order by explained variance are checked.
    """
    assert_not_reference(fn, ref.pca_baseline)
    name = "pca_baseline"
    for dev, dtype in cases():
        for n, d, k, seed in [(200, 6, 2, 0), (150, 5, 1, 10), (10, 20, 3, 20), (300, 8, 8, 30)]:
            case = f"x of shape ({n}, {d}), k={k}, {dtype}, {dev.type}"
            x = _pca_data(n, d, seed, dtype, dev)
            before = [x.clone()]
            exp_c, exp_mean = ref.pca_baseline(x, k)
            got = call_student(fn, (x, k), references=[ref], case=case)
            inputs_unchanged(name, before, [x])
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise AssertionError(
                    f"{name} should return a pair (components, mean), got {type(got).__name__}."
                )
            comps, mean = got
            if isinstance(mean, torch.Tensor) and isinstance(comps, torch.Tensor):
                if mean.shape == (k, d) and comps.shape == (d,):
                    raise AssertionError(f"{name}: return (components, mean), in that order.")
            compare(f"{name}'s mean", mean, exp_mean, case=case)
            if isinstance(comps, torch.Tensor) and tuple(comps.shape) == (d, k) and d != k:
                raise AssertionError(
                    f"{name} returned components of shape {(d, k)}: one component per *row*, "
                    f"shape ({k}, {d}) — transpose your matrix."
                )
            assert_tensor(comps, exp_c, f"{name}'s components", case)
            loose = dict(atol=1e-4 if dtype == torch.float32 else 1e-8, rtol=0)
            gram = (
                comps.detach().to("cpu", torch.float64) @ comps.detach().to("cpu", torch.float64).T
            )
            if not torch.allclose(gram, torch.eye(k, dtype=torch.float64), **loose):
                hint = diagnose_pca(comps, x, k)
                raise AssertionError(
                    f"{name}: {hint or 'the components are not orthonormal rows (each of unit length, pairwise orthogonal)'}"
                    f" (failed on {case})."
                )
            if not torch.allclose(_projector(comps), _projector(exp_c), **loose):
                hint = diagnose_pca(comps, x, k)
                raise AssertionError(
                    f"{name}: "
                    + (hint or "your components do not span the top-k principal subspace.")
                    + f" (failed on {case})"
                )
            # Order: component i must be (up to sign) the i-th principal direction.
            cos = (comps.detach().double().cpu() * exp_c.double().cpu()).sum(1).abs()
            if not torch.allclose(cos, torch.ones_like(cos), **loose):
                raise AssertionError(
                    f"{name}: the right subspace, but the components are not ordered by "
                    f"explained variance, largest first (failed on {case})."
                )
    success(name, "subspace, orthonormality, order by variance, several shapes, float32/float64")


def diagnose_pca(comps: torch.Tensor, x: torch.Tensor, k: int) -> str | None:
    """Name the PCA mistake whose subspace equals the student's."""
    for mistake in _PCA_MISTAKES:
        try:
            wrong = mistake.fn(x, k)
        except Exception:
            continue
        if wrong.shape == comps.shape and close(_projector(comps), _projector(wrong)):
            return mistake.message
    return None


# ---------------------------------------------------------------------------------------
# Autoencoder
# ---------------------------------------------------------------------------------------


def _build(cls, *args, **kwargs):
    try:
        with_locked = call_student(cls, args, kwargs, references=[ref])
    except AssertionError as err:
        raise AssertionError(
            f"could not build {getattr(cls, '__name__', cls)}{args}, {kwargs}: {err}"
        ) from err
    return with_locked


def _n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def check_autoencoder(cls) -> None:
    """Check an ``Autoencoder(in_dim, latent_dim, hidden=(...), out_activation=None)`` class.

    Judged: ``encode`` (B, *) -> (B, latent_dim) flattening the input, ``decode``
    (B, latent_dim) -> (B, in_dim), ``forward`` = decode(encode(x)) in x's shape,
    the mirrored layer sizes (parameter count), a linear model when ``hidden=()``,
    the output activation, gradients, float64 and devices.
    """
    with keep_student_rng():  # the student's own seeds stay as they were
        _check_autoencoder(cls)


def _check_autoencoder(cls) -> None:
    """Check an ``Autoencoder(in_dim, latent_dim, hidden=(...), out_activation=None)`` class.

    Judged: ``encode`` (B, *) -> (B, latent_dim) flattening the input, ``decode``
    (B, latent_dim) -> (B, in_dim), ``forward`` = decode(encode(x)) in x's shape,
    the mirrored layer sizes (parameter count), a linear model when
    ``hidden=()``, the output activation, gradients, float64 and devices.
    """
    assert_not_reference(cls, ref.Autoencoder)
    name = getattr(cls, "__name__", "Autoencoder")
    lock = [ref]  # the whole module: SwapAutoencoder or _mlp would do the work too
    configs = [
        dict(in_dim=20, latent_dim=3, hidden=(16, 8)),
        dict(in_dim=64, latent_dim=2, hidden=(32,)),
        dict(in_dim=12, latent_dim=4, hidden=()),
    ]
    for cfg in configs:
        torch.manual_seed(0)
        model = _build(cls, **cfg)
        expected = _n_params(ref.Autoencoder(**cfg))
        if _n_params(model) != expected:
            raise AssertionError(
                f"{name}(**{cfg}) has {_n_params(model)} parameters, expected {expected}: the "
                f"encoder is Linear layers {[cfg['in_dim'], *cfg['hidden'], cfg['latent_dim']]} "
                "with ReLU between them (none on the code), and the decoder mirrors it."
            )
        for dev, dtype in cases():
            model = model.to(dev, dtype)
            d, m = cfg["in_dim"], cfg["latent_dim"]
            case = f"{cfg}, {dtype}, {dev.type}"
            image = d == 64
            x = randn(*((5, 1, 8, 8) if image else (5, d)), seed=1, dtype=dtype, dev=dev)
            try:
                z = call_student(model.encode, (x,), references=lock, case=case)
            except AssertionError as err:
                if image and "cannot be multiplied" in str(err):
                    raise AssertionError(
                        f"{name}.encode failed on images of shape {tuple(x.shape)}: flatten every "
                        f"non-batch dim first (x.flatten(1)). Original error: {err}"
                    ) from err
                raise
            if not isinstance(z, torch.Tensor) or z.shape != (5, m):
                got_shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
                raise AssertionError(
                    f"{name}.encode returned {got_shape} for input {tuple(x.shape)}, expected "
                    f"(5, {m})"
                    + (": flatten every non-batch dim first (x.flatten(1))." if image else ".")
                )
            assert_tensor(z, torch.empty(5, m, dtype=dtype, device=dev), f"{name}.encode", case)
            x_flat = call_student(model.decode, (z,), references=lock, case=case)
            assert_tensor(
                x_flat, torch.empty(5, d, dtype=dtype, device=dev), f"{name}.decode", case
            )
            x_hat = call_student(model, (x,), references=lock, case=case)
            if isinstance(x_hat, torch.Tensor) and x_hat.shape == (5, m):
                raise AssertionError(
                    f"{name}.forward returned the code z; it must return the reconstruction "
                    "decode(encode(x))."
                )
            if isinstance(x_hat, torch.Tensor) and image and x_hat.shape == (5, d):
                raise AssertionError(
                    f"{name}.forward returned shape {(5, d)} for images {tuple(x.shape)}: give "
                    "the reconstruction the input's shape (x_hat.view_as(x))."
                )
            assert_tensor(x_hat, x, f"{name}.forward", case)
            with torch.no_grad():
                again = model.decode(model.encode(x)).reshape(x.shape)
            if not close(x_hat, again):
                raise AssertionError(f"{name}.forward(x) differs from decode(encode(x)) ({case}).")
            if cfg["hidden"] and not image:
                many = randn(512, d, seed=9, dtype=dtype, dev=dev) * 3.0
                with torch.no_grad():
                    z = call_student(model.encode, (many,), references=lock, case=case)
            if cfg["hidden"] and not image and bool((z >= 0).all()):
                raise AssertionError(
                    f"{name}.encode never returns negative codes: no ReLU after the encoder's last "
                    "layer — the code should be free to take any real value."
                )
        model = model.to("cpu", torch.float32)
        # A linear autoencoder is affine in both halves: the PCA link needs it.
        if not cfg["hidden"]:
            a, b = randn(4, cfg["in_dim"], seed=2), randn(4, cfg["in_dim"], seed=3)
            zero = torch.zeros(4, cfg["in_dim"])
            with torch.no_grad():
                lhs = model(a + b) + model(zero)
                rhs = model(a) + model(b)
            if not torch.allclose(lhs, rhs, atol=1e-4):
                raise AssertionError(
                    f"{name}(hidden=()) is not linear: with no hidden layers there is no "
                    "activation anywhere (out_activation=None), so the model is x -> W_d (W_e x + b_e) + b_d."
                )
        # Gradients reach every parameter and the input.
        x = randn(3, cfg["in_dim"], seed=4).requires_grad_()
        model.zero_grad()
        call_student(model, (x,), references=lock).pow(2).sum().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        if missing or x.grad is None:
            raise AssertionError(
                f"{name}: no gradient reaches {missing or ['the input']}: every layer must be "
                "used in forward, and nothing may be detached."
            )
    # The output activation bounds the reconstruction.
    torch.manual_seed(0)
    for act, lo, hi in [("tanh", -1.0, 1.0), ("sigmoid", 0.0, 1.0)]:
        model = _build(cls, 10, 2, hidden=(8,), out_activation=act)
        x = randn(64, 10, seed=5) * 50
        out = call_student(model, (x,), references=lock, case=f"out_activation={act!r}")
        wrong_range = out.min() < lo or out.max() > hi or torch.equal(out.min(), out.max())
        if act == "tanh" and out.min() >= 0:
            wrong_range = True  # a sigmoid also stays inside [-1, 1], but never goes below 0
        if wrong_range:
            raise AssertionError(
                f"{name}(out_activation={act!r}) returned values in [{out.min():.3g}, "
                f"{out.max():.3g}]: apply {act} to the decoder's output."
            )
    success(name, "shapes, architecture, linear case, activations, gradients, float64")


# ---------------------------------------------------------------------------------------
# add_noise
# ---------------------------------------------------------------------------------------

_NOISE_MISTAKES = [
    Mistake(
        "values leave [-1, 1]: clip the corrupted image to the data range (x.clamp(-1, 1)).",
        lambda x, sigma, noise: x + sigma * noise,
    ),
    Mistake(
        "you scaled the noise by sigma**2; sigma is the standard deviation, so multiply by sigma.",
        lambda x, sigma, noise: (x + sigma**2 * noise).clamp(-1, 1),
    ),
    Mistake(
        "you clipped to [0, 1]; the course's images live in [-1, 1].",
        lambda x, sigma, noise: (x + sigma * noise).clamp(0, 1),
    ),
    Mistake(
        "the noise is not scaled by sigma.",
        lambda x, sigma, noise: (x + noise).clamp(-1, 1),
    ),
    Mistake(
        "you multiplied the image by the noise; a denoising autoencoder *adds* noise.",
        lambda x, sigma, noise: (x * (1 + sigma * noise)).clamp(-1, 1),
    ),
]


def check_add_noise(fn) -> None:
    """Check ``add_noise(x, sigma, noise=None) -> clip(x + sigma * noise, -1, 1)``."""
    assert_not_reference(fn, ref.add_noise)
    name = "add_noise"
    for dev, dtype in cases():
        for i, (shape, sigma) in enumerate([((4, 1, 8, 8), 0.5), ((3, 10), 0.1), ((2, 5), 0.0)]):
            case = f"shape {shape}, sigma={sigma}, {dtype}, {dev.type}"
            x = rand(*shape, seed=50 + i, dtype=dtype, dev=dev) * 2 - 1
            noise = randn(*shape, seed=60 + i, dtype=dtype, dev=dev)
            before = [x.clone(), noise.clone()]
            expected = ref.add_noise(x, sigma, noise)
            got = call_student(fn, (x, sigma, noise), references=[ref], case=case)
            inputs_unchanged(name, before, [x, noise])
            compare(
                name, got, expected, mistakes=_NOISE_MISTAKES, args=(x, sigma, noise), case=case
            )
    # noise=None: fresh standard normal noise, drawn like x.
    for dev, dtype in cases():
        x = torch.zeros(20000, dtype=dtype, device=dev)
        a = call_student(fn, (x, 0.1), references=[ref], case=f"noise=None, {dtype}, {dev.type}")
        b = call_student(fn, (x, 0.1), references=[ref], case=f"noise=None, {dtype}, {dev.type}")
        assert_tensor(a, x, name, f"noise=None, {dtype}, {dev.type}")
        if torch.equal(a, b):
            raise AssertionError(
                f"{name} with noise=None returned the same result twice: draw new noise each call."
            )
        mean, std = a.double().mean().item(), a.double().std().item()
        if abs(mean) > 0.005:
            raise AssertionError(
                f"{name} with noise=None: the noise has mean {mean:.3g}, not 0. torch.rand draws "
                "from U[0, 1); use Gaussian noise, torch.randn_like(x)."
            )
        if abs(std - 0.1) > 0.005:
            raise AssertionError(
                f"{name} with noise=None and sigma=0.1: the noise has std {std:.3g}, expected 0.1 "
                "(standard normal noise, torch.randn_like(x), times sigma)."
            )
    success(name, "given and fresh noise, clipping, float32/float64")


# ---------------------------------------------------------------------------------------
# interpolate
# ---------------------------------------------------------------------------------------


def _lerp(z0, z1, a):
    return (1 - a)[:, None] * z0 + a[:, None] * z1


_INTERP_MISTAKES = [
    Mistake(
        "the path runs backwards: row 0 must be z0 and the last row z1 (weight (1 - a) on z0).",
        lambda z0, z1, steps: _lerp(
            z0, z1, torch.linspace(1, 0, steps, dtype=z0.dtype, device=z0.device)
        ),
    ),
    Mistake(
        "the endpoints are missing: include z0 and z1 themselves (a from 0 to 1 inclusive, "
        "torch.linspace(0, 1, steps)).",
        lambda z0, z1, steps: _lerp(
            z0, z1, torch.linspace(0, 1, steps + 2, dtype=z0.dtype, device=z0.device)[1:-1]
        ),
    ),
    Mistake(
        "the last row is not z1: a = i / steps stops short; use a = i / (steps - 1).",
        lambda z0, z1, steps: _lerp(
            z0, z1, torch.arange(steps, dtype=z0.dtype, device=z0.device) / steps
        ),
    ),
    Mistake(
        "the first row is not z0: a = (i + 1) / steps skips the start; use a = i / (steps - 1).",
        lambda z0, z1, steps: _lerp(
            z0, z1, torch.arange(1, steps + 1, dtype=z0.dtype, device=z0.device) / steps
        ),
    ),
]


def check_interpolate(fn) -> None:
    """Check ``interpolate(z0 (D,), z1 (D,), steps) -> (steps, D)``, endpoints included."""
    assert_not_reference(fn, ref.interpolate)
    name = "interpolate"
    for dev, dtype in cases():
        for i, (d, steps) in enumerate([(3, 5), (8, 2), (2, 10)]):
            case = f"D={d}, steps={steps}, {dtype}, {dev.type}"
            z0 = randn(d, seed=70 + i, dtype=dtype, dev=dev)
            z1 = randn(d, seed=80 + i, dtype=dtype, dev=dev)
            before = [z0.clone(), z1.clone()]
            expected = ref.interpolate(z0, z1, steps)
            got = call_student(fn, (z0, z1, steps), references=[ref], case=case)
            inputs_unchanged(name, before, [z0, z1])
            if (
                isinstance(got, torch.Tensor)
                and got.shape == (steps, d)
                and not close(got, expected)
            ):
                hint = None
                for m in _INTERP_MISTAKES:
                    if close(got, m.fn(z0, z1, steps)):
                        hint = m.message
                        break
                if hint:
                    raise AssertionError(f"{name}: {hint} (failed on {case})")
            if isinstance(got, torch.Tensor) and got.shape in {(steps + 1, d), (steps - 1, d)}:
                raise AssertionError(
                    f"{name} returned {got.shape[0]} points for steps={steps}: return exactly "
                    f"`steps` points, both endpoints included ({case})."
                )
            compare(name, got, expected, case=case)
    # Differentiable: gradients flow back to both endpoints (latent optimisation needs it).
    z0, z1 = randn(4, seed=1).requires_grad_(), randn(4, seed=2).requires_grad_()
    out = call_student(fn, (z0, z1, 6), references=[ref])
    if not out.requires_grad:
        raise AssertionError(
            f"{name}: the result carries no gradient. Build it from z0 and z1 with tensor "
            "operations; torch.tensor(...) of Python numbers cuts the graph."
        )
    out.sum().backward()
    if z0.grad is None or z1.grad is None or not close(z0.grad, torch.full_like(z0, 3.0)):
        raise AssertionError(f"{name}: gradients do not flow back to z0 and z1 correctly.")
    success(name, "endpoints, order, spacing, float32/float64, gradients")


# ---------------------------------------------------------------------------------------
# attribute_vector
# ---------------------------------------------------------------------------------------

_ATTR_MISTAKES = [
    Mistake(
        "the sign is reversed: the vector should point *towards* the attribute, "
        "mean(z_with) - mean(z_without).",
        lambda a, b: b.mean(0) - a.mean(0),
    ),
    Mistake(
        "you subtracted sums; the groups have different sizes, so subtract their *means*.",
        lambda a, b: a.sum(0) - b.sum(0),
    ),
    Mistake(
        "you used medians; the attribute vector is the difference of the means.",
        lambda a, b: a.median(0).values - b.median(0).values,
    ),
    Mistake(
        "you averaged the two groups together instead of subtracting them.",
        lambda a, b: torch.cat([a, b]).mean(0),
    ),
]


def check_attribute_vector(fn) -> None:
    """Check ``attribute_vector(z_with (N, D), z_without (M, D)) -> (D,)``: mean difference."""
    assert_not_reference(fn, ref.attribute_vector)
    name = "attribute_vector"
    for dev, dtype in cases():
        for i, (n, m, d) in enumerate([(6, 9, 4), (5, 5, 3), (1, 7, 2)]):
            case = f"N={n}, M={m}, D={d}, {dtype}, {dev.type}"
            a = randn(n, d, seed=90 + i, dtype=dtype, dev=dev) + 1.0
            b = randn(m, d, seed=95 + i, dtype=dtype, dev=dev)
            before = [a.clone(), b.clone()]
            expected = ref.attribute_vector(a, b)
            try:
                got = call_student(fn, (a, b), references=[ref], case=case)
            except AssertionError as err:
                if n != m and "size" in str(err):
                    raise AssertionError(
                        f"{err}. The two groups have different sizes (N={n}, M={m}): average "
                        "each group over its examples (dim 0) before subtracting; averaging over "
                        "dim 1 or subtracting example by example fails."
                    ) from err
                raise
            inputs_unchanged(name, before, [a, b])
            if isinstance(got, torch.Tensor) and got.shape not in {(d,)}:
                raise AssertionError(
                    f"{name} returned shape {tuple(got.shape)}, expected ({d},): average over the "
                    f"examples, dim 0, not over the features ({case})."
                )
            compare(name, got, expected, mistakes=_ATTR_MISTAKES, args=(a, b), case=case)
    success(name, "mean difference, unequal group sizes, float32/float64")
