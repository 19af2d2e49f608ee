"""Shared pytest configuration for the course test suite."""

import os

# Plots render off-screen: no display in CI, in the grader or on this machine.
os.environ.setdefault("MPLBACKEND", "Agg")
# One thread per process: pytest-xdist workers and the notebook kernels they start share
# two cores, and oversubscribed torch threads made a notebook 5x slower (measured).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")


import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread per test process (the environment above covers child kernels):
    tiny tensors gain nothing from threads, and oversubscription on 2 cores costs a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
