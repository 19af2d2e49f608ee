"""How long grading one week-01 submission takes, next to its floor.

    python benchmarks/grading_floor.py [--repeats 3]

Prints (never asserts): the median wall time of
  * the floor: start a kernel, `import torch`, shut it down;
  * `nbgrader autograde` of one submission (the solution notebook), one command;
  * `nbgrader autograde` of five submissions in one command (marginal cost each);
  * the solution notebook executed top to bottom in FAST mode (nbclient).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.pipeline import nbgrader  # noqa: E402

WEEK = "01_autoencoders"


def floor() -> float:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch")])
    start = time.perf_counter()
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    return time.perf_counter() - start


def solution_notebook(tmp: pathlib.Path) -> float:
    nb = nbformat.read(ROOT / "solutions" / WEEK / f"{WEEK}.ipynb", as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp)}}
    ).execute()
    return time.perf_counter() - start


def autograde(tmp: pathlib.Path, name: str, students: int) -> float:
    """Seconds for one `nbgrader autograde` command grading ``students`` submissions."""
    root = tmp / name
    shutil.copytree(ROOT / "solutions" / WEEK, root / "solutions" / WEEK)
    db = f"sqlite:///{root / 'gradebook.db'}"
    nbgrader("generate_assignment", WEEK, "--force", root=root, db=db)
    for i in range(students):
        target = root / "submitted" / f"student{i}" / WEEK
        target.mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / WEEK / f"{WEEK}.ipynb", target / f"{WEEK}.ipynb")
    start = time.perf_counter()
    nbgrader("autograde", WEEK, "--force", root=root, db=db)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ["COURSE_FAST"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        floors = [floor() for _ in range(args.repeats)]
        grades = [autograde(tmp, f"one{i}", 1) for i in range(args.repeats)]
        batch = autograde(tmp, "batch", 5)
        notebook = [solution_notebook(tmp) for _ in range(max(1, args.repeats // 2))]
    f, g, n = (statistics.median(v) for v in (floors, grades, notebook))
    print(f"floor (kernel + import torch):        {f:6.2f} s")
    print(f"nbgrader autograde, one submission:   {g:6.2f} s  ({g / f:.2f}x the floor)")
    per = (batch - g) / 4  # the marginal cost of one more submission in a batch command
    print(
        f"nbgrader autograde, 5 in one command: {batch:6.2f} s  ({per:.2f} s per extra "
        f"submission, {per / f:.2f}x the floor)"
    )
    print(f"solution notebook, FAST mode:         {n:6.2f} s")


if __name__ == "__main__":
    main()
