"""Tests for course.train: the fit loop's history, truncation and divergence, checkpoints."""

import math

import pytest
import torch
from torch import nn

from course.train import fit, load_checkpoint, save_checkpoint


@pytest.fixture
def full_mode(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)


@pytest.fixture
def fast_mode_on(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")


def _counter():
    calls = []

    def step(batch):
        calls.append(batch)
        return float(len(calls))

    return step, calls


def test_history_has_one_value_per_step(full_mode):
    step, calls = _counter()
    history = fit(step, list(range(4)), epochs=3, desc="test")
    assert list(history) == ["loss"]
    assert history["loss"] == [float(k) for k in range(1, 13)]
    assert calls == list(range(4)) * 3  # every batch of every epoch, in order


def test_max_steps_caps_steps_without_extra_batches(full_mode):
    step, calls = _counter()
    fetched = []

    class Loader:
        def __len__(self):
            return 10

        def __iter__(self):
            for k in range(10):
                fetched.append(k)
                yield k

    history = fit(step, Loader(), epochs=5, max_steps=7)
    assert len(history["loss"]) == 7 and len(calls) == 7
    assert len(fetched) == 7  # no batch loaded beyond the last step


def test_fast_mode_truncates(fast_mode_on):
    step, calls = _counter()
    history = fit(step, list(range(100)), epochs=10)
    assert len(history["loss"]) == 5 and calls == [0, 1, 2, 3, 4]
    step, calls = _counter()
    assert len(fit(step, list(range(100)), epochs=10, fast_steps=2)["loss"]) == 2
    step, calls = _counter()
    assert len(fit(step, list(range(100)), epochs=3, fast_steps=50, max_steps=3)["loss"]) == 3
    step, calls = _counter()
    # a fixed budget: the loader is cycled when fast_steps is larger than an epoch
    assert len(fit(step, list(range(3)), epochs=1, fast_steps=50)["loss"]) == 50
    # an empty loader ends at once instead of cycling forever
    assert fit(step, [], epochs=1, fast_steps=50) == {}


def test_dict_results_record_every_key_and_tensors_become_floats(full_mode):
    def step(batch):
        return {"loss": torch.tensor(2.0 * batch), "kl": 0.5, "rec": torch.tensor([batch])}

    history = fit(step, [1, 2, 3], epochs=1)
    assert set(history) == {"loss", "kl", "rec"}
    assert history["loss"] == [2.0, 4.0, 6.0] and history["kl"] == [0.5] * 3
    assert history["rec"] == [1.0, 2.0, 3.0]
    assert all(type(v) is float for v in history["loss"])


def test_non_scalar_result_is_rejected(full_mode):
    with pytest.raises(TypeError, match="scalar"):
        fit(lambda b: torch.ones(4), [0, 1], epochs=1)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_or_inf_raises_floating_point_error(full_mode, bad):
    def step(batch):
        return {"loss": bad if batch == 2 else 1.0}

    with pytest.raises(FloatingPointError, match=r"loss became (nan|inf) at step 2.*learning rate"):
        fit(step, [0, 1, 2, 3], epochs=1)
    with pytest.raises(FloatingPointError, match="at step 0"):
        fit(lambda b: torch.tensor(bad), [0], epochs=1)


def test_bad_arguments(full_mode):
    with pytest.raises(ValueError, match="epochs"):
        fit(lambda b: 0.0, [0], epochs=0)
    with pytest.raises(ValueError, match="max_steps"):
        fit(lambda b: 0.0, [0], epochs=1, max_steps=0)


def test_fit_trains_a_linear_regression(full_mode):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, generator=gen)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    batches = list(zip(x.split(32), y.split(32), strict=True))
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step(batch):
        xb, yb = batch
        loss = ((model(xb) - yb) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    history = fit(step, batches, epochs=10)
    assert len(history["loss"]) == 80
    assert history["loss"][-1] < 1e-3 < history["loss"][0]
    torch.testing.assert_close(model.bias.detach(), torch.tensor([0.3]), atol=0.02, rtol=0)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(16, 4)).sum().backward()
    opt.step()  # optimiser state now holds moments
    path = tmp_path / "sub" / "ckpt.pt"
    save_checkpoint(path, model=model, opt=opt, epoch=3)

    torch.manual_seed(1)
    model2 = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    opt2 = torch.optim.Adam(model2.parameters(), lr=1e-3)
    assert not torch.equal(model2[0].weight, model[0].weight)
    state = load_checkpoint(path, model=model2, opt=opt2)
    for (name, a), b in zip(model.state_dict().items(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    exp_avg = opt.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], exp_avg)
    assert state["epoch"] == 3
    with pytest.raises(KeyError, match="holds no 'critic'"):
        load_checkpoint(path, critic=model2)
