"""Run every benchmark and write benchmarks/RESULTS.md (hardware, date, versions, output).

    python benchmarks/run_all.py [--quick] [--only full-mode,suite] [--full-limit-min 60]

Each benchmark is its own script (runnable alone); this one runs them one after another
in fresh processes, so none warms the caches of the next, and never asserts anything.
By default everything runs, including every notebook in full mode (hours on a CPU: each
is stopped after ``--full-limit-min`` minutes and reported as such) and the whole test
suite. ``--quick`` shrinks the class and the dimensions and leaves out full mode and the
suite; ``--only`` re-runs the named sections and keeps the others of RESULTS.md.
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


def _run(title: str, args: list[str], hardware: str) -> str:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if "WARNING" not in line]
    if args[:2] == ["-m", "pytest"]:
        lines = lines[-1:]  # the summary line: passed, skipped, seconds
    if done.returncode:
        lines.append(f"(exit code {done.returncode}) " + done.stderr.strip()[-500:])
    took = time.perf_counter() - start
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    return (f"## {title}\n\n`python {shown}` ({took:.0f} s; {datetime.date.today().isoformat()}, "
            f"{hardware})\n\n```\n" + "\n".join(lines) + "\n```\n")


def benchmarks(quick: bool, full_limit_min: float) -> dict[str, tuple[str, list[str]]]:
    """name -> (section title, command line after ``python``)."""
    py = "benchmarks/"
    return {
        "autograde": ("Autograding: a class vs nbgrader, vs the floor, and vs class size",
                      [py + "autograde_throughput.py", "--students", "6" if quick else "30",
                       "--sizes", "10,30" if quick else "10,30,100"]),
        "floor": ("nbgrader autograde per submission vs the floor", [py + "grading_floor.py"]),
        "frechet": ("Fréchet distance vs pytorch-fid",
                    [py + "frechet.py", "--dims", "64,512" if quick else "64,512,2048"]),
        **{f"modconv{b}": (f"Modulated convolution, B = {b}",
                           [py + "modulated_conv.py", "--batch", b]) for b in ("1", "16", "64")},
        "notebooks": ("Every notebook in FAST mode", [py + "notebook_times.py"]),
        "full-mode": ("Every notebook in full mode: time and quality",
                      [py + "full_mode.py", "--limit-min", f"{full_limit_min:g}"]),
        "suite": ("The test suite, as the README runs it",
                  ["-m", "pytest", "-n", "auto", "--dist", "loadfile", "-q", "-p", "no:cacheprovider"]),
    }


def _sections(text: str) -> dict[str, str]:
    """The ``## title`` sections of an existing RESULTS.md, by title."""
    parts = text.split("\n## ")[1:]
    return {part.split("\n", 1)[0]: "## " + part.rstrip() + "\n" for part in parts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, and neither full mode nor the suite")
    parser.add_argument("--only", default="",
                        help="comma-separated names to (re)run; the other sections of an "
                             "existing RESULTS.md are kept. Names: autograde, floor, frechet, "
                             "modconv1, modconv16, modconv64, notebooks, full-mode, suite")
    parser.add_argument("--full-limit-min", type=float, default=60.0,
                        help="stop each full-mode notebook after this many minutes")
    args = parser.parse_args()
    table = benchmarks(args.quick, args.full_limit_min)
    names = [n for n in args.only.split(",") if n] or [
        n for n in table if not (args.quick and n in ("full-mode", "suite"))]
    unknown = sorted(set(names) - set(table))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {sorted(table)}")
    path = ROOT / "benchmarks" / "RESULTS.md"
    kept = _sections(path.read_text()) if args.only and path.exists() else {}
    hardware = _hardware()
    for name in names:
        title, command = table[name]
        print(f"running {name} ...", flush=True)
        kept[title] = _run(title, command, hardware)
    order = [title for title, _ in table.values()]
    body = [kept[t] for t in order if t in kept]  # sections of retired titles are dropped
    header = (f"# Benchmark results\n\nWritten by `python benchmarks/run_all.py` (last run "
              f"{datetime.date.today().isoformat()}; each section gives its own date and "
              f"machine).\n\n- Hardware of the last run: {hardware}\n"
              f"- Versions: {_versions()}\n\n")
    path.write_text(header + "\n".join(body))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
