"""A small training-loop helper: progress bar, loss history, FAST-mode truncation, checkpoints.

The model-specific part of training (forward pass, loss, ``backward``, optimiser step) is
the notebook's ``step_fn``; :func:`fit` only loops over the data, records what ``step_fn``
returns, and stops early when asked::

    def step(batch):
        x, _ = batch
        loss = -elbo(x, *model(x)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss, "kl": kl.mean()}   # or just `return loss`

    history = fit(step, loader(train_set, 128), epochs=10)
    plot_losses(history)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from course.runtime import fast_mode

StepResult = float | torch.Tensor | Mapping[str, float | torch.Tensor]


def _as_float(value: Any, key: str, step: int) -> float:
    """A Python float from a number or a one-element tensor (detached, moved to the CPU)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(
                f"step_fn returned a tensor of shape {tuple(value.shape)} for {key!r} at step "
                f"{step}: return a scalar (e.g. loss.mean()), not a batch of values"
            )
        return float(value.detach().cpu().item())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"step_fn must return a number, a 0-d tensor or a dict of them; got "
            f"{type(value).__name__} for {key!r} at step {step}"
        ) from None


def fit(
    step_fn: Callable[[Any], StepResult],
    loader: Iterable,
    epochs: int,
    max_steps: int | None = None,
    fast_steps: int = 5,
    desc: str = "train",
    log_every: int = 1,
) -> dict[str, list[float]]:
    """Run ``step_fn(batch)`` on every batch of ``loader`` for ``epochs`` epochs.

    Args:
        step_fn: does one optimisation step on a batch and returns the values to record:
            a float, a 0-d tensor (recorded as ``"loss"``) or a dict ``{name: value}``.
        loader: any iterable of batches, usually :func:`course.data.loader`.
        epochs: passes over ``loader``.
        max_steps: stop after this many steps in total (any mode).
        fast_steps: in FAST mode (``COURSE_FAST=1``) run exactly this many steps in
            total (capped by ``max_steps``), cycling the loader as often as needed and
            ignoring ``epochs``.
        desc: label of the progress bar.
        log_every: refresh the progress bar's values every ``log_every`` steps
            (the history still records every step).

    Returns:
        ``history``: ``{name: [value at step 0, value at step 1, ...]}``, one entry per
        step taken, as Python floats. Steps are counted from 0.

    Raises:
        FloatingPointError: a recorded value is NaN or infinite (training diverged).
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    for name, value in (("max_steps", max_steps), ("fast_steps", fast_steps)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    if not isinstance(log_every, int) or log_every < 1:
        raise ValueError(f"log_every must be a positive int, got {log_every!r}")

    limit = max_steps
    if fast_mode():
        # A fixed step budget, whatever the epochs: FAST data sets are small, so the
        # loader is cycled until ``fast_steps`` steps have run.
        limit = fast_steps if limit is None else min(limit, fast_steps)
        epochs = sys.maxsize
    try:
        total = epochs * len(loader)
    except TypeError:  # an iterable without a length
        total = None
    if limit is not None:
        total = limit if total is None else min(total, limit)

    history: dict[str, list[float]] = {}
    step = 0
    with tqdm(total=total, desc=desc, dynamic_ncols=True) as bar:
        for epoch in range(epochs):
            steps_before = step
            for batch in loader:
                out = step_fn(batch)
                values = out.items() if isinstance(out, Mapping) else [("loss", out)]
                latest = {}
                for key, value in values:
                    value = _as_float(value, key, step)
                    if not math.isfinite(value):
                        raise FloatingPointError(
                            f"{key} became {value} at step {step} (epoch {epoch}): training "
                            "diverged; lower the learning rate? (also look for log(0), "
                            "division by zero or exp of a large number)"
                        )
                    history.setdefault(key, []).append(value)
                    latest[key] = value
                step += 1
                bar.update(1)
                if step % log_every == 0:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in latest.items()}, refresh=False)
                if limit is not None and step >= limit:
                    break  # before fetching another batch: loading one can be slow
            if (limit is not None and step >= limit) or step == steps_before:
                break  # done, or an empty loader
    return history


def save_checkpoint(path: str | Path, **objects: Any) -> None:
    """Save modules, optimisers and plain values to ``path`` in one file.

    Every keyword whose value has a ``state_dict()`` (``nn.Module``, optimiser, scheduler)
    is stored as its state dict; anything else (an epoch number, a history dict) as is::

        save_checkpoint("vae.pt", model=model, opt=opt, epoch=3)

    Parent folders are created.
    """
    if not objects:
        raise ValueError("save_checkpoint needs something to save, e.g. model=model, opt=opt")
    state = {
        name: obj.state_dict() if hasattr(obj, "state_dict") else obj
        for name, obj in objects.items()
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def load_checkpoint(path: str | Path, **objects: Any) -> dict[str, Any]:
    """Load a file written by :func:`save_checkpoint` into the given objects, in place.

    ``load_checkpoint("vae.pt", model=model, opt=opt)`` calls ``load_state_dict`` on each
    keyword's object with the state saved under the same name. Tensors are loaded to the
    CPU first (``map_location="cpu"``) and copied onto each object's own device, so a
    checkpoint saved on a GPU loads on a laptop.

    Returns:
        The whole checkpoint dict (plain values such as ``epoch`` are read from it).
    """
    state = torch.load(Path(path), map_location="cpu")
    for name, obj in objects.items():
        if name not in state:
            raise KeyError(
                f"checkpoint {str(path)!r} holds no {name!r}; it holds {sorted(state)}: "
                "use the keyword names given to save_checkpoint"
            )
        if not hasattr(obj, "load_state_dict"):
            raise TypeError(
                f"{name!r} has no load_state_dict (got {type(obj).__name__}); plain values are "
                "read from the returned dict instead"
            )
        obj.load_state_dict(state[name])
    return state
