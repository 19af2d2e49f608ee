"""Release: turn the instructor notebooks in ``solutions/`` into the student notebooks
in ``notebooks/`` with nbgrader, and stamp them as generated files.

``python -m grader release 01_autoencoders`` (or ``all``). The generated notebooks
are committed; ``tests/test_release_sync.py`` proves they equal a fresh generation.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIG = ROOT / "grader" / "nbgrader_config.py"
WEEKS = (
    "01_autoencoders",
    "02_vae",
    "03_gan",
    "04_wgan",
    "05_stylegan",
    "06_cyclegan",
    "07_flows",
    "08_diffusion",
)
BANNER_ID = "generated-banner"


class GraderError(RuntimeError):
    """A grading step failed; the message says which and why."""


def available_weeks(root: pathlib.Path = ROOT) -> list[str]:
    """Weeks that have a solution notebook, in course order."""
    return [w for w in WEEKS if (root / "solutions" / w / f"{w}.ipynb").is_file()]


def resolve_weeks(week: str, root: pathlib.Path = ROOT) -> list[str]:
    """``"all"`` or one week name -> the list of weeks; a clear error for anything else."""
    if week == "all":
        return available_weeks(root)
    if week not in WEEKS:
        raise GraderError(f"unknown week {week!r}; expected 'all' or one of {', '.join(WEEKS)}")
    if week not in available_weeks(root):
        raise GraderError(f"week {week} has no solution notebook at solutions/{week}/{week}.ipynb")
    return [week]


def environment() -> dict[str, str]:
    """The environment for nbgrader subprocesses: FAST mode, and this interpreter's bin/ on PATH."""
    env = dict(os.environ)
    env["COURSE_FAST"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")  # kernels graded side by side must not oversubscribe
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # silences a debugger warning on stderr
    return env


def nbgrader(*args: str, root: pathlib.Path = ROOT, db: str | None = None) -> str:
    """Run one nbgrader command with the course's config on the course directory ``root``."""
    shim = root / "nbgrader_config.py"  # nbgrader reads its config from the working directory
    if not shim.exists():
        shim.write_text(f"load_subconfig({str(CONFIG)!r})  # noqa: F821\n")
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}"]
    if db is not None:
        cmd.append(f"--CourseDirectory.db_url={db}")
    proc = subprocess.run(cmd, cwd=root, env=environment(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise GraderError(f"`nbgrader {' '.join(args)}` failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def verify(week: str, root: pathlib.Path = ROOT, timeout: int = 300) -> float:
    """Run the solution notebook of ``week`` top to bottom in FAST mode; seconds taken.

    Raises ``GraderError`` naming the failing cells: a solution that fails must not be
    released (its students would get tests that their correct answers cannot pass).
    """
    import time

    import nbclient

    path = root / "solutions" / week / f"{week}.ipynb"
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    saved = dict(os.environ)
    os.environ.update(environment())
    try:
        with tempfile.TemporaryDirectory(prefix="course-verify-") as tmp:
            client = nbclient.NotebookClient(nb, timeout=timeout, allow_errors=True,
                                             kernel_name="python3", resources={"metadata": {"path": tmp}})
            client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    failed = [
        f"{cell.get('id')}: {out.get('ename')}: {out.get('evalue', '')[:200]}"
        for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", []) if out.get("output_type") == "error"
    ]
    if failed:
        raise GraderError(f"solutions/{week} fails in FAST mode, not released:\n  " + "\n  ".join(failed))
    return time.perf_counter() - start


def stamp(notebook_path: pathlib.Path, week: str) -> None:
    """Mark a generated notebook as generated: a banner cell and notebook metadata."""
    nb = nbformat.read(notebook_path, as_version=4)
    source = f"solutions/{week}/{week}.ipynb"
    nb.metadata["course"] = {"week": week, "generated_from": source}
    banner = nbformat.v4.new_markdown_cell(
        f"<small>Generated from `{source}` by `python -m grader release {week}`. Students: "
        "this is your copy, work in it. Instructors: edit the source and regenerate; never "
        "edit this file by hand.</small>",
        id=BANNER_ID,
    )
    nb.cells = [c for c in nb.cells if c.get("id") != BANNER_ID]
    nb.cells.insert(0, banner)
    nbformat.write(nb, notebook_path)


def generate(week: str, root: pathlib.Path = ROOT, out: pathlib.Path | None = None) -> pathlib.Path:
    """Generate the student notebook of ``week`` from ``root/solutions`` and return its path.

    nbgrader writes into ``root/notebooks/<week>/`` (``out``, when given, receives a copy
    instead and ``root/notebooks`` is left untouched). The gradebook used while
    generating is a throw-away one: releasing never touches the TA's grades.
    """
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        tmp_root = pathlib.Path(tmp)
        shutil.copytree(root / "solutions" / week, tmp_root / "solutions" / week)
        nbgrader(
            "generate_assignment",
            week,
            "--force",
            "--log-level=WARN",
            root=tmp_root,
            db=f"sqlite:///{tmp_root / 'release.db'}",
        )
        produced = tmp_root / "notebooks" / week
        for nb_path in produced.glob("*.ipynb"):
            stamp(nb_path, week)
        target = (out or root / "notebooks") / week
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(produced, target)
    return target / f"{week}.ipynb"
