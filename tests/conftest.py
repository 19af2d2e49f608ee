"""Shared pytest configuration for the course test suite."""

import os

# Plots render off-screen: no display in CI, in the grader or on this machine.
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
