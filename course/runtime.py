"""Where code runs and how long it may take: device choice, seeding, FAST mode, Colab.

Every notebook and every reference reads the environment only through these
functions, so one switch (``COURSE_FAST=1``) shrinks a whole week to seconds and
one function (:func:`device`) chooses the accelerator.
"""

from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch

FAST_ENV = "COURSE_FAST"


def device() -> torch.device:
    """The best available device: CUDA, else Apple MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every accelerator)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA and MPS device


def fast_mode() -> bool:
    """True when ``COURSE_FAST=1``: tiny configurations and offline data everywhere."""
    return os.environ.get(FAST_ENV, "").strip() == "1"


def on_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def pick(full, fast):
    """``fast`` in FAST mode, else ``full``: the one idiom notebooks use to shrink a config."""
    return fast if fast_mode() else full
