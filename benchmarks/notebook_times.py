"""Each week's solution notebook run top to bottom in FAST mode (the < 60 s target).

    python benchmarks/notebook_times.py [--weeks 01_autoencoders,02_vae]

Prints (never asserts) the wall time of every available week, executed with nbclient in
a fresh kernel with COURSE_FAST=1, as the tests and the grader run them.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.pipeline import available_weeks  # noqa: E402


def run(week: str) -> float:
    nb = nbformat.read(ROOT / "solutions" / week / f"{week}.ipynb", as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        NotebookClient(nb, kernel_name="python3", timeout=600,
                       resources={"metadata": {"path": tmp}}).execute()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weeks", default=",".join(available_weeks()))
    args = parser.parse_args()
    os.environ["COURSE_FAST"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for week in args.weeks.split(","):
        print(f"{week:<16} {run(week):6.1f} s in FAST mode", flush=True)


if __name__ == "__main__":
    main()
