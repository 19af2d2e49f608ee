"""Each week's solution notebook in full mode (COURSE_FAST unset): wall time and quality.

    python benchmarks/full_mode.py [--weeks 02_vae,07_flows] [--limit-min 30]

Runs the notebook top to bottom in a fresh kernel exactly as a self-learner would (full
configuration, every core torch wants), with the real datasets when they are on disk or
can be downloaded and otherwise the bundled digits (the notebook prints which). Prints,
and never asserts: the wall time, whether it finished, the data it used, and the lines
the notebook prints about quality (ELBO, FID, modes, bits/dim, accuracy ...). A run that
passes ``--limit-min`` is stopped and reported as "stopped after N min in cell k/K",
which is a measured lower bound on the full-mode time.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.pipeline import available_weeks  # noqa: E402

# Lines a notebook prints about the quality of what it trained (and how long it took).
QUALITY = re.compile(
    r"(?i)(FID|nats|bits/dim|modes|accuracy|cycle L1|log-lik|MSE|"
    r"steps in|trained|seconds|course\.data:)"
)


def _shorten(lines: list[str], keep: int = 2) -> list[str]:
    """Runs of lines that differ only in their numbers (``epoch 3: FID 61.2`` ...) keep their
    first and last ``keep`` lines, with ``...`` between."""
    out, run = [], []

    def flush():
        out.extend(run if len(run) <= 2 * keep + 1 else run[:keep] + ["..."] + run[-keep:])
        run.clear()

    for line in lines:
        if run and re.sub(r"[\d.]+", "#", line) != re.sub(r"[\d.]+", "#", run[-1]):
            flush()
        run.append(line)
    flush()
    return out


def _head(cell) -> str:
    """The first non-empty line of a cell's source (what the cell is about)."""
    return next((line.strip() for line in cell.source.splitlines() if line.strip()), "")[:70]


def _printed(cell) -> list[str]:
    lines = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            lines += out.get("text", "").splitlines()
    return lines


def run(week: str, limit_s: float) -> dict:
    """Execute ``week``'s solution in full mode for at most ``limit_s`` seconds."""
    return run_notebook(ROOT / "solutions" / week / f"{week}.ipynb", limit_s, week)


def run_notebook(path: pathlib.Path, limit_s: float, name: str = "") -> dict:
    """Execute a notebook cell by cell (kernel env: this process's) for at most ``limit_s``.

    Returns ``{"week", "finished", "stopped_in": (k, K, first line) or None, "error", "seconds",
    "data", "quality": [printed lines]}``.
    """
    nb = nbformat.read(path, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    result = {"week": name or path.stem, "finished": False, "stopped_in": None, "error": None}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        client = NotebookClient(nb, kernel_name="python3", timeout=int(limit_s),
                                resources={"metadata": {"path": tmp}})
        with client.setup_kernel():
            for k, index in enumerate(code, 1):
                remaining = limit_s - (time.perf_counter() - start)
                if remaining <= 1:
                    result["stopped_in"] = (k, len(code), _head(nb.cells[index]))
                    break
                client.timeout = int(remaining)
                try:
                    client.execute_cell(nb.cells[index], index)
                except CellTimeoutError:
                    result["stopped_in"] = (k, len(code), _head(nb.cells[index]))
                    break
                except CellExecutionError as err:
                    result["error"] = f"cell {k}/{len(code)}: " + str(err).strip().splitlines()[-1]
                    break
            else:
                result["finished"] = True
    result["seconds"] = time.perf_counter() - start
    lines = [line for c in nb.cells if c.cell_type == "code" for line in _printed(c)]
    data = [line for line in lines if line.startswith("course.data:")]
    quality = [line for line in lines if QUALITY.search(line) and line not in data
               and not line.lstrip().startswith(("✔", "✘"))]  # a check's verdict is not quality
    result["data"] = "the real dataset" if not data else "offline: " + data[0].split(" instead")[0]
    result["quality"] = _shorten(quality)
    return result


def report(r: dict) -> str:
    minutes = r["seconds"] / 60
    if r["finished"]:
        status = f"finished in {minutes:.1f} min"
    elif r["error"]:
        status = f"FAILED after {minutes:.1f} min ({r['error']})"
    else:
        k, n, head = r["stopped_in"]
        status = f"stopped after {minutes:.1f} min in code cell {k}/{n} (not finished): {head}"
    lines = [f"{r['week']}: {status}", f"  data: {r['data']}"]
    lines += [f"  | {line.strip()[:150]}" for line in r["quality"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weeks", default=",".join(available_weeks()))
    parser.add_argument("--limit-min", type=float, default=60.0,
                        help="stop a notebook after this many minutes (default 60)")
    args = parser.parse_args()
    os.environ.pop("COURSE_FAST", None)
    os.environ.setdefault("MPLBACKEND", "Agg")
    for week in args.weeks.split(","):
        print(report(run(week, args.limit_min * 60)), flush=True)


if __name__ == "__main__":
    main()
