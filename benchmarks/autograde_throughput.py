"""Class throughput: the course's sandboxed autograder vs plain `nbgrader autograde`.

    python benchmarks/autograde_throughput.py [--students 30] [--sizes 10,30,100]

Prints (never asserts), all measured in the same run on the same submissions of week 01
(a third correct, a third with one wrong answer, a third untouched):
  * the floor: a kernel that imports torch;
  * vanilla `nbgrader autograde` of the whole class in one command (course config);
  * `python -m grader autograde` serial (1 worker) and on a Dask LocalCluster (2 workers),
    seconds per submission and the speed-up over vanilla;
  * whether the scores of every submission agree;
  * with --sizes: autograde time vs class size, 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.grading_floor import floor  # noqa: E402
from grader.autograde import _ensure_gradebook, autograde  # noqa: E402
from grader.pipeline import nbgrader  # noqa: E402

WEEK = "01_autoencoders"
WRONG = (
    "def interpolate(z0, z1, steps):\n"
    "    a = torch.linspace(1.0, 0.0, steps)[:, None]\n"
    "    return (1 - a) * z0 + a * z1\n"
)


def make_class(root: pathlib.Path, students: int) -> None:
    solution = json.loads((ROOT / "solutions" / WEEK / f"{WEEK}.ipynb").read_text())
    wrong = json.loads(json.dumps(solution))
    for cell in wrong["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "interpolate":
            cell["source"] = WRONG
    untouched = json.loads((ROOT / "notebooks" / WEEK / f"{WEEK}.ipynb").read_text())
    shutil.copytree(ROOT / "solutions" / WEEK, root / "solutions" / WEEK)
    for i in range(students):
        folder = root / "submitted" / f"s{i:04d}" / WEEK
        folder.mkdir(parents=True)
        nb = (solution, wrong, untouched)[i % 3]
        (folder / f"{WEEK}.ipynb").write_text(json.dumps(nb))


def vanilla(root: pathlib.Path) -> tuple[float, dict]:
    from nbgrader.api import Gradebook

    db = f"sqlite:///{root / 'vanilla.db'}"
    nbgrader("generate_assignment", WEEK, "--force", root=root, db=db)
    start = time.perf_counter()
    nbgrader("autograde", WEEK, "--force", root=root, db=db)
    seconds = time.perf_counter() - start
    with Gradebook(db) as gb:
        scores = {s.student.id: s.score for s in gb.find_assignment(WEEK).submissions}
    return seconds, scores


def ours(root: pathlib.Path, workers: int) -> tuple[float, dict]:
    shutil.rmtree(root / "grades", ignore_errors=True)
    start = time.perf_counter()
    results = autograde(WEEK, root, workers=workers, log=lambda *a: None)
    return time.perf_counter() - start, {r["student"]: r["score"] for r in results}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--sizes", default="", help="e.g. 10,30,100: time vs class size")
    parser.add_argument("--only-sizes", action="store_true",
                        help="skip the comparison with nbgrader; only time vs class size")
    args = parser.parse_args()
    os.environ["COURSE_FAST"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    n = args.students
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "class"
        if not args.only_sizes:
            make_class(root, n)
            f = statistics.median(floor() for _ in range(3))
            t_vanilla, s_vanilla = vanilla(root)
            _ensure_gradebook(root, WEEK)  # nbgrader's db set-up, outside the timing
            t_serial, s_serial = ours(root, 1)
            t_dask, s_dask = ours(root, 2)
        sizes = [int(s) for s in args.sizes.split(",") if s]
        scaling = []
        for size in sizes:
            sub = pathlib.Path(tmp) / f"size{size}"
            make_class(sub, size)
            _ensure_gradebook(sub, WEEK)
            scaling.append((size, ours(sub, 1)[0], ours(sub, 2)[0]))
    if not args.only_sizes:
        _summary(n, f, (t_vanilla, s_vanilla), (t_serial, s_serial), (t_dask, s_dask))
    for size, one, two in scaling:
        print(f"class size {size:4d}: {one:7.1f} s with 1 worker, {two:7.1f} s with 2 workers "
              f"(Dask), {one / size:.2f} / {two / size:.2f} s per submission")


def _summary(n, f, vanilla_run, serial_run, dask_run) -> None:
    (t_vanilla, s_vanilla), (t_serial, s_serial), (t_dask, s_dask) = vanilla_run, serial_run, dask_run
    agree = s_vanilla == s_serial == s_dask
    print(f"class of {n} week-01 submissions (1/3 correct, 1/3 one wrong, 1/3 untouched)")
    print(f"floor (kernel + import torch):            {f:6.2f} s")
    print(f"vanilla nbgrader autograde (one command):  {t_vanilla:6.1f} s = "
          f"{t_vanilla / n:5.2f} s/submission ({t_vanilla / n / f:.2f}x the floor)")
    for label, t in (("course autograde, 1 worker", t_serial),
                     ("course autograde, 2 workers (Dask)", t_dask)):
        print(f"{label:<42} {t:6.1f} s = {t / n:5.2f} s/submission "
              f"({t / n / f:.2f}x the floor), {t_vanilla / t:.2f}x vanilla's throughput")
    print(f"identical scores for every submission: {agree}")
    if not agree:
        print("  vanilla:", s_vanilla, "\n  serial:", s_serial, "\n  dask:", s_dask)


if __name__ == "__main__":
    main()
