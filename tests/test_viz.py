"""Tests for course.viz: each plot returns its Figure, shows what it was given, rejects bad shapes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course import viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images(b=5, c=1, h=6, w=6, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_show_images_grid_layout_and_scaling():
    x = _images(b=5, c=1, h=6, w=6)
    fig = viz.show_images(x, nrow=2, title="five")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    (im,) = fig.axes[0].get_images()
    grid = np.asarray(im.get_array())
    # 3 rows x 2 columns of 6x6 images with 2 px padding
    assert grid.shape == (3 * 8 + 2, 2 * 8 + 2)
    np.testing.assert_allclose(grid[2:8, 2:8], ((x[0, 0] + 1) / 2).numpy(), atol=1e-6)
    np.testing.assert_allclose(grid[10:16, 2:8], ((x[2, 0] + 1) / 2).numpy(), atol=1e-6)
    assert im.get_cmap().name == "gray"
    assert fig.axes[0].get_title() == "five"


def test_show_images_rgb_numpy_and_clamping():
    x = np.full((2, 3, 4, 4), 5.0, dtype=np.float32)  # out of range: clamped to white
    x[1] = -7.0
    fig = viz.show_images(x, nrow=8)
    grid = np.asarray(fig.axes[0].get_images()[0].get_array())
    assert grid.shape == (8, 14, 3)
    assert np.all(grid[2:6, 2:6] == 1.0) and np.all(grid[2:6, 8:12] == 0.0)


def test_show_images_accepts_grad_and_rejects_bad_shapes():
    x = _images(b=2).requires_grad_()
    assert isinstance(viz.show_images(x), Figure)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        viz.show_images(torch.zeros(1, 28, 28))
    with pytest.raises(ValueError, match="channels"):
        viz.show_images(torch.zeros(2, 28, 28, 1))
    with pytest.raises(ValueError, match="channels"):
        viz.show_images(torch.zeros(2, 2, 8, 8))


def test_image_rows_one_axes_per_row():
    rows = {"input": _images(b=4), "noisy": _images(b=4, seed=1), "rgb": _images(b=3, c=3)}
    fig = viz.image_rows(rows, title="denoising")
    assert len(fig.axes) == 3
    assert [ax.get_ylabel() for ax in fig.axes] == ["input", "noisy", "rgb"]
    grid = np.asarray(fig.axes[0].get_images()[0].get_array())
    assert grid.shape == (6 + 4, 4 * 8 + 2)  # the four images side by side
    with pytest.raises(ValueError, match="noisy"):
        viz.image_rows({"input": _images(), "noisy": torch.zeros(3, 6, 6)})


def test_plot_losses_one_line_per_key():
    history = {"loss": [3.0, 2.0, 1.0], "kl": [0.5, 0.4, 0.3]}
    fig = viz.plot_losses(history, title="VAE", logy=True)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["loss", "kl"]
    np.testing.assert_array_equal(lines[0].get_ydata(), [3.0, 2.0, 1.0])
    np.testing.assert_array_equal(lines[0].get_xdata(), [0, 1, 2])
    assert ax.get_yscale() == "log" and ax.get_title() == "VAE"
    assert viz.plot_losses({"loss": [1.0]}).axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError):
        viz.plot_losses({})


def test_plot_2d_samples_over_reference():
    samples, reference = torch.randn(30, 2), torch.randn(50, 2)
    fig = viz.plot_2d(samples, reference=reference, title="ring")
    (ax,) = fig.axes
    ref, smp = ax.collections  # reference drawn first: it sits behind
    assert ref.get_offsets().shape == (50, 2) and smp.get_offsets().shape == (30, 2)
    np.testing.assert_allclose(smp.get_offsets(), samples.numpy())
    fig2, axes = plt.subplots(1, 2)
    assert viz.plot_2d(samples, ax=axes[1]) is fig2 and len(axes[1].collections) == 1
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        viz.plot_2d(torch.zeros(10, 3))


def test_plot_density_grid_and_orientation():
    seen = {}
    centre = torch.tensor([1.0, -2.0])

    def log_prob(x):
        seen["shape"], seen["dtype"], seen["grad"] = x.shape, x.dtype, torch.is_grad_enabled()
        return -0.5 * ((x - centre) ** 2).sum(1) / 0.1  # a bump at (1, -2)

    n = 61  # grid step 0.1: the bump's centre is a grid point
    fig = viz.plot_density(log_prob, n=n, title="bump")
    assert seen == {"shape": (n * n, 2), "dtype": torch.float32, "grad": False}
    (ax,) = fig.axes
    (im,) = ax.get_images()
    density = np.asarray(im.get_array())
    assert density.shape == (n, n)
    row, col = np.unravel_index(density.argmax(), density.shape)
    grid = np.linspace(-3, 3, n)
    # with origin="lower", row indexes y and column indexes x
    assert im.origin == "lower"
    assert abs(grid[col] - 1.0) < 0.1 and abs(grid[row] + 2.0) < 0.1
    np.testing.assert_allclose(density.max(), 1.0, atol=1e-3)  # exp(log p), not log p
    with pytest.raises(ValueError, match="one log-density per point"):
        viz.plot_density(lambda x: x, n=10)


def test_interpolation_strip_decodes_the_line():
    seen = {}

    def decode(z):  # (steps, 1) -> images whose value equals the latent
        seen["z"] = z.clone()
        return z.reshape(-1, 1, 1, 1).expand(-1, 1, 4, 4)

    z0, z1 = torch.tensor([-1.0]), torch.tensor([[1.0]])[0:1]
    fig = viz.interpolation_strip(decode, z0, z1.reshape(1), steps=5, title="line")
    torch.testing.assert_close(seen["z"], torch.linspace(-1, 1, 5)[:, None])
    assert len(fig.axes) == 5
    first = np.asarray(fig.axes[0].get_images()[0].get_array())
    last = np.asarray(fig.axes[-1].get_images()[0].get_array())
    assert first.shape == (4, 4) and np.all(first == 0.0) and np.all(last == 1.0)

    fig = viz.interpolation_strip(decode, torch.zeros(1, 1), torch.ones(1, 1), steps=3)
    assert seen["z"].shape == (3, 1) and len(fig.axes) == 3


def test_interpolation_strip_flattened_decoder():
    w = torch.randn(3, 16)
    fig = viz.interpolation_strip(lambda z: torch.tanh(z @ w), torch.zeros(3), torch.ones(3))
    assert len(fig.axes) == 8
    assert np.asarray(fig.axes[0].get_images()[0].get_array()).shape == (4, 4)
    with pytest.raises(ValueError, match="image_shape"):
        viz.interpolation_strip(lambda z: z @ torch.randn(3, 15), torch.zeros(3), torch.ones(3))
    with pytest.raises(ValueError, match="same shape"):
        viz.interpolation_strip(lambda z: z, torch.zeros(3), torch.ones(4))


def test_plot_latent_2d_colours_by_class():
    z = torch.randn(60, 2)
    labels = torch.arange(60) % 3
    fig = viz.plot_latent_2d(z, labels, title="latent")
    (ax,) = fig.axes
    assert len(ax.collections) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]
    np.testing.assert_allclose(ax.collections[1].get_offsets(), z[labels == 1].numpy())
    many = viz.plot_latent_2d(torch.randn(100, 2), torch.arange(100) % 30)
    assert len(many.axes) == 2  # scatter + colour bar
    with pytest.raises(ValueError, match="labels"):
        viz.plot_latent_2d(z, labels[:10])
