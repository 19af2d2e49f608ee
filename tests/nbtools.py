"""Helpers for the notebook and grading tests: execute a notebook, read its cells."""

from __future__ import annotations

import os
import pathlib

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent


def solution_path(week: str) -> pathlib.Path:
    return ROOT / "solutions" / week / f"{week}.ipynb"


def release_path(week: str) -> pathlib.Path:
    return ROOT / "notebooks" / week / f"{week}.ipynb"


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_answer(cell) -> bool:
    m = nbgrader_meta(cell)
    return cell.cell_type == "code" and m.get("solution", False) and not m.get("grade", False)


def is_tests(cell) -> bool:
    m = nbgrader_meta(cell)
    return cell.cell_type == "code" and m.get("grade", False) and not m.get("solution", False)


def is_experiment(cell) -> bool:
    return "experiment" in cell.get("metadata", {}).get("tags", [])


def execute(path: pathlib.Path, workdir: pathlib.Path, allow_errors: bool = False):
    """Execute a notebook in FAST mode in ``workdir``; return the executed notebook."""
    nb = nbformat.read(path, as_version=4)
    os.environ["COURSE_FAST"] = "1"  # inherited by the kernel
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return nb


def errors(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def stdout(cell) -> str:
    return "".join(
        o.text for o in cell.get("outputs", []) if o.output_type == "stream" and o.name == "stdout"
    )
