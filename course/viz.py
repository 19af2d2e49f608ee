"""Plots for the course: image grids, loss curves, 2-D samples and densities, interpolations.

Every function returns the ``matplotlib.figure.Figure`` it drew on and never calls
``plt.show()``: Jupyter displays figures created in a cell by itself. Images follow the
data convention of :mod:`course.data`: ``(B, C, H, W)`` in ``[-1, 1]``, ``C`` in {1, 3};
values outside ``[-1, 1]`` (an untrained generator) are clamped for display. Inputs may
be torch tensors (any device, with or without grad) or numpy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def _to_numpy(x) -> np.ndarray:
    """A torch tensor (any device, grad or not) or array-like -> float numpy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float32)


def _check_images(x, name: str = "x") -> np.ndarray:
    """Validate ``(B, C, H, W)`` with C in {1, 3}; return it in [0, 1] as numpy."""
    x = _to_numpy(x)
    if x.ndim != 4:
        hint = " (a single image? add a batch dimension with x[None])" if x.ndim == 3 else ""
        hint = " (flattened images? reshape to (B, C, H, W))" if x.ndim == 2 else hint
        raise ValueError(f"{name} must be (B, C, H, W), got shape {tuple(x.shape)}{hint}")
    if x.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must have 1 (grey) or 3 (RGB) channels in dim 1, got shape {tuple(x.shape)}"
            " (channels-last (B, H, W, C)? permute to (B, C, H, W))"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} holds no images: shape {tuple(x.shape)}")
    return (np.clip(x, -1.0, 1.0) + 1.0) / 2.0  # [-1, 1] -> [0, 1] for imshow


def _grid(x01: np.ndarray, nrow: int, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile ``(B, C, H, W)`` images in [0, 1] into one ``(rows*(H+p)+p, nrow*(W+p)+p, C)`` array.

    ``nrow`` images per row, as in ``torchvision.utils.make_grid``; white padding.
    """
    b, c, h, w = x01.shape
    ncol = min(nrow, b)
    nrows = math.ceil(b / ncol)
    grid = np.full(
        (nrows * (h + padding) + padding, ncol * (w + padding) + padding, c),
        pad_value,
        dtype=np.float32,
    )
    for i in range(b):
        r, col = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = x01[i].transpose(1, 2, 0)  # (H, W, C)
    return grid


def _imshow_grid(ax: Axes, grid: np.ndarray) -> None:
    if grid.shape[2] == 1:
        ax.imshow(grid[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(grid, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def show_images(x, nrow: int = 8, title: str | None = None) -> Figure:
    """Show a batch of images as one grid.

    Args:
        x: ``(B, C, H, W)`` in ``[-1, 1]`` with ``C`` in {1, 3}; grey images use a grey
            colour map.
        nrow: images per row of the grid.
        title: optional figure title.

    Returns:
        The Figure (one Axes holding one image).
    """
    if not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow must be a positive int, got {nrow!r}")
    grid = _grid(_check_images(x), nrow)
    height, width = grid.shape[:2]
    scale = min(0.05, 12.0 / width, 12.0 / height)  # inches per pixel, at most 12 in wide
    fig, ax = plt.subplots(figsize=(max(width * scale, 2.0), max(height * scale, 2.0)))
    _imshow_grid(ax, grid)
    ax.set_frame_on(False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def image_rows(rows: dict[str, torch.Tensor], title: str | None = None) -> Figure:
    """Several labelled rows of images, e.g. ``{"input": x, "noisy": x_n, "reconstruction": r}``.

    Each value is ``(B, C, H, W)`` in ``[-1, 1]``; row ``k`` shows its ``B`` images side by
    side with the key as its label. Returns the Figure (one Axes per row).
    """
    if not rows:
        raise ValueError("image_rows needs at least one row: got an empty dict")
    grids = {name: _check_images(x, name=f"rows[{name!r}]") for name, x in rows.items()}
    grids = {name: _grid(x01, nrow=len(x01)) for name, x01 in grids.items()}
    widest = max(g.shape[1] / g.shape[0] for g in grids.values())
    fig, axes = plt.subplots(
        len(grids), 1, figsize=(min(1.2 * widest, 14.0), 1.4 * len(grids)), squeeze=False
    )
    for ax, (name, grid) in zip(axes[:, 0], grids.items(), strict=True):
        _imshow_grid(ax, grid)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        for side in ax.spines.values():
            side.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_losses(
    history: dict[str, Sequence[float]],
    title: str | None = None,
    logy: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """One line per key of ``history`` (e.g. what :func:`course.train.fit` returns).

    The x axis is the step index; ``logy=True`` uses a log scale for the values
    (non-positive values are then not drawn). Returns the Figure.
    """
    if not history:
        raise ValueError("plot_losses needs a non-empty dict {name: list of values}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    for name, values in history.items():
        values = _to_numpy(values).reshape(-1)  # (steps,)
        ax.plot(np.arange(len(values)), values, label=name, linewidth=1.2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    ax.legend()
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _check_points(x, name: str) -> np.ndarray:
    x = _to_numpy(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{name} must be (N, 2) points, got shape {tuple(x.shape)}")
    return x


def plot_2d(
    samples,
    reference=None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Scatter ``samples (N, 2)``, with ``reference (M, 2)`` (e.g. the data) in light grey behind.

    Returns the Figure (``ax.figure`` when ``ax`` is given).
    """
    samples = _check_points(samples, "samples")
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
    else:
        fig = ax.figure
    if reference is not None:
        reference = _check_points(reference, "reference")
        ax.scatter(reference[:, 0], reference[:, 1], s=4, c="lightgrey", label="reference")
    ax.scatter(samples[:, 0], samples[:, 1], s=4, c="tab:blue", alpha=0.7, label="samples")
    ax.set_aspect("equal", adjustable="datalim")
    if reference is not None:
        ax.legend(loc="upper right", markerscale=3)
    if title:
        ax.set_title(title)
    return fig


def plot_density(
    log_prob_fn: Callable[[torch.Tensor], torch.Tensor],
    xlim: tuple[float, float] = (-3, 3),
    ylim: tuple[float, float] = (-3, 3),
    n: int = 200,
    title: str | None = None,
    ax: Axes | None = None,
    device: torch.device | str | None = None,
) -> Figure:
    """Show the density ``p(x) = exp(log_prob_fn(x))`` of a 2-D model on a grid.

    ``log_prob_fn`` receives one float32 tensor of shape ``(n * n, 2)`` (on ``device``,
    default CPU), the grid points with x varying fastest, and must return ``(n * n,)``
    log-densities; it runs under ``torch.no_grad()``. The image has y increasing upwards.
    Returns the Figure.
    """
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2 (grid points per side), got {n!r}")
    xs = torch.linspace(xlim[0], xlim[1], n)  # (n,)
    ys = torch.linspace(ylim[0], ylim[1], n)  # (n,)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (n, n) each: row = y, column = x
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (n*n, 2)
    if device is not None:
        points = points.to(device)
    with torch.no_grad():
        log_p = log_prob_fn(points)
    log_p = _to_numpy(log_p)
    if log_p.size != n * n:
        raise ValueError(
            f"log_prob_fn must return one log-density per point: expected shape ({n * n},) "
            f"for a ({n * n}, 2) input, got {tuple(log_p.shape)}"
        )
    density = np.exp(log_p.reshape(n, n))  # (n, n), row i = ys[i]
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
    else:
        fig = ax.figure
    ax.imshow(
        density,
        origin="lower",  # row 0 (smallest y) at the bottom
        extent=(xlim[0], xlim[1], ylim[0], ylim[1]),
        cmap="viridis",
        aspect="equal",
    )
    if title:
        ax.set_title(title)
    return fig


def interpolation_strip(
    decode: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    z1: torch.Tensor,
    steps: int = 8,
    title: str | None = None,
    image_shape: tuple[int, int, int] | None = None,
) -> Figure:
    """Decode the straight line between two latents and show the images in one row.

    Decodes ``z_a = (1 - a) z0 + a z1`` for ``a = linspace(0, 1, steps)`` in one batch
    (under ``torch.no_grad()``). ``z0`` and ``z1`` are ``(D,)`` or ``(1, D)`` (any latent
    shape works, a leading batch dimension of 1 is dropped); ``decode`` maps
    ``(steps, D)`` to images ``(steps, C, H, W)`` in ``[-1, 1]``. A decoder returning
    flattened ``(steps, C*H*W)`` images is reshaped to ``image_shape``, by default a
    square grey image. Returns the Figure (one Axes per step).
    """
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2, got {steps!r}")
    z0, z1 = torch.as_tensor(z0), torch.as_tensor(z1)
    if z0.shape != z1.shape:
        raise ValueError(
            f"z0 and z1 must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}"
        )
    if z0.ndim >= 2 and z0.shape[0] == 1:
        z0, z1 = z0[0], z1[0]  # (D,)
    a = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)  # (steps,)
    a = a.reshape(steps, *([1] * z0.ndim))  # (steps, 1, ...) broadcasts against z
    with torch.no_grad():
        images = decode((1 - a) * z0 + a * z1)  # decode((steps, D))
    images = _to_numpy(images)
    if images.ndim == 2:  # flattened (steps, C*H*W)
        if image_shape is None:
            side = math.isqrt(images.shape[1])
            if side * side != images.shape[1]:
                raise ValueError(
                    f"decode returned flattened images of size {images.shape[1]}, which is not a "
                    "square: pass image_shape=(C, H, W)"
                )
            image_shape = (1, side, side)
        images = images.reshape(steps, *image_shape)  # (steps, C, H, W)
    x01 = _check_images(images, name="decode(z)")
    fig, axes = plt.subplots(1, steps, figsize=(1.3 * steps, 1.6), squeeze=False)
    for k, ax in enumerate(axes[0]):
        _imshow_grid(ax, x01[k].transpose(1, 2, 0))  # (H, W, C)
        ax.set_title(f"a={k / (steps - 1):.2f}", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_latent_2d(z, labels, title: str | None = None, ax: Axes | None = None) -> Figure:
    """Scatter 2-D latent codes ``z (N, 2)`` coloured by integer ``labels (N,)``.

    Up to 20 classes get one colour each and a legend; more get a colour bar.
    Returns the Figure.
    """
    z = _check_points(z, "z")
    labels = _to_numpy(labels).reshape(-1).astype(np.int64)  # (N,)
    if len(labels) != len(z):
        raise ValueError(f"labels must be (N,) = ({len(z)},), got {len(labels)} labels")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4.5))
    else:
        fig = ax.figure
    classes = np.unique(labels)
    if len(classes) <= 20:
        cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        for i, c in enumerate(classes):
            keep = labels == c
            ax.scatter(z[keep, 0], z[keep, 1], s=4, color=cmap(i), label=str(c))
        ax.legend(title="class", markerscale=3, fontsize=8, loc="best")
    else:
        points = ax.scatter(z[:, 0], z[:, 1], s=4, c=labels, cmap="viridis")
        fig.colorbar(points, ax=ax, label="class")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return fig
