"""Run every benchmark and write benchmarks/RESULTS.md (hardware, date, versions, output).

    python benchmarks/run_all.py [--quick] [--with-suite]

Each benchmark is its own script (runnable alone); this one runs them one after another
in fresh processes, so none warms the caches of the next, and never asserts anything.
``--quick`` shrinks the class and the dimensions; ``--with-suite`` also times the whole
test suite as the README runs it. Full-mode quality runs are not part of it (hours on a
CPU; see each notebook's configuration cell).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _versions() -> str:
    import nbgrader
    import numpy
    import torch

    return (f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"numpy {numpy.__version__}, nbgrader {nbgrader.__version__}")


def _hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}"


def _run(title: str, args: list[str]) -> str:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if "WARNING" not in line]
    if done.returncode:
        lines.append(f"(exit code {done.returncode}) " + done.stderr.strip()[-500:])
    took = time.perf_counter() - start
    return (f"## {title}\n\n`python {' '.join(args)}` ({took:.0f} s)\n\n```\n"
            + "\n".join(lines) + "\n```\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--with-suite", action="store_true")
    args = parser.parse_args()
    students, dims = ("6", "64,512") if args.quick else ("30", "64,512,2048")
    sections = [
        _run("Autograding: a class vs nbgrader, and vs the floor",
             ["benchmarks/autograde_throughput.py", "--students", students]),
        _run("nbgrader autograde per submission vs the floor", ["benchmarks/grading_floor.py"]),
        _run("Fréchet distance vs pytorch-fid", ["benchmarks/frechet.py", "--dims", dims]),
        *[_run(f"Modulated convolution, B = {b}", ["benchmarks/modulated_conv.py", "--batch", b])
          for b in ("1", "16", "64")],
        _run("Every notebook in FAST mode", ["benchmarks/notebook_times.py"]),
    ]
    if args.with_suite:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-n", "auto", "--dist",
                               "loadfile", "-q"], cwd=ROOT, capture_output=True, text=True)
        tail = done.stdout.strip().splitlines()[-1:]
        sections.append(f"## The test suite\n\n{time.perf_counter() - start:.0f} s: "
                        f"{' '.join(tail)}\n")
    header = (f"# Benchmark results\n\nWritten by `python benchmarks/run_all.py` on "
              f"{datetime.date.today().isoformat()}.\n\n- Hardware: {_hardware()}\n"
              f"- Versions: {_versions()}\n\n")
    (ROOT / "benchmarks" / "RESULTS.md").write_text(header + "\n".join(sections))
    print(f"wrote {ROOT / 'benchmarks' / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
