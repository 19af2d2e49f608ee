"""`python -m grader ...` as a TA types it: release refuses a broken solution, and
autograde -> export -> feedback -> report produce the files a TA hands on."""

from __future__ import annotations

import csv
import json
import shutil

import nbformat
import pytest

from grader.__main__ import main
from tests.nbtools import release_path, solution_path

pytestmark = pytest.mark.grading
WEEK = "01_autoencoders"


def _tiny_solution(root, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    folder = root / "solutions" / WEEK
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{WEEK}.ipynb")


def test_release_refuses_a_solution_that_fails_in_fast_mode(tmp_path, capsys):
    _tiny_solution(tmp_path, "x = 1", "raise RuntimeError('the solution is broken')")
    assert main(["release", WEEK, "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "fails in FAST mode" in err and "the solution is broken" in err
    assert not (tmp_path / "notebooks" / WEEK).exists()


def test_release_verifies_then_generates(tmp_path, capsys):
    _tiny_solution(tmp_path, "import os\nassert os.environ['COURSE_FAST'] == '1'")
    assert main(["release", WEEK, "--root", str(tmp_path)]) == 0
    assert "ran clean in FAST mode" in capsys.readouterr().out
    released = nbformat.read(tmp_path / "notebooks" / WEEK / f"{WEEK}.ipynb", as_version=4)
    assert released.cells[0].id == "generated-banner"


def test_autograde_export_feedback_report(tmp_path, capsys):
    root = tmp_path / "course"
    shutil.copytree(solution_path(WEEK).parent, root / "solutions" / WEEK)
    for student, source in (("s1000001", solution_path(WEEK)), ("s1000002", release_path(WEEK))):
        folder = root / "submitted" / student / WEEK
        folder.mkdir(parents=True)
        shutil.copy(source, folder / f"{WEEK}.ipynb")
    assert main(["autograde", WEEK, "--root", str(root), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "s1000001: 14/14" in out and "s1000002: 0/14" in out

    assert main(["export", WEEK, "--root", str(root), "--csv", str(tmp_path / "g.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "g.csv")))
    assert [(r["student"], r["score"], r["max_score"]) for r in rows] == [
        ("s1000001", "14", "14"), ("s1000002", "0", "14")]

    assert main(["feedback", WEEK, "--root", str(root)]) == 0
    page = (root / "feedback" / "s1000002" / WEEK / "index.html").read_text()
    assert "NotImplementedError" in page  # the check's teaching message reaches the student

    assert main(["report", WEEK, "--root", str(root)]) == 0
    assert (root / "reports" / f"{WEEK}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "50%  interpolate" in capsys.readouterr().out

    # formgrader's view: the student's answers and each test's outcome, nbgrader metadata kept
    graded = json.loads((root / "autograded" / "s1000001" / WEEK / f"{WEEK}.ipynb").read_text())
    cells = {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in graded["cells"]}
    assert "torch.linspace" in "".join(cells["interpolate"]["source"])
    assert cells["test_interpolate"]["outputs"][0]["text"].startswith("passed: 2/2")


def test_unknown_week_is_a_clear_error(tmp_path, capsys):
    assert main(["autograde", "09_nothing", "--root", str(tmp_path), "--workers", "1"]) == 1
    assert "no source notebook" in capsys.readouterr().err


def test_autograde_refuses_when_the_solution_fails_in_the_sandbox(tmp_path, capsys):
    """A broken grading environment must not hand out zeros: the solution is graded first."""
    root = tmp_path / "course"
    shutil.copytree(solution_path(WEEK).parent, root / "solutions" / WEEK)
    broken = json.loads((root / "solutions" / WEEK / f"{WEEK}.ipynb").read_text())
    for cell in broken["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "test_add_noise":
            cell["source"] = "assert False, 'this environment is broken'\n"
    (root / "solutions" / WEEK / f"{WEEK}.ipynb").write_text(json.dumps(broken))
    folder = root / "submitted" / "s1000001" / WEEK
    folder.mkdir(parents=True)
    shutil.copy(solution_path(WEEK), folder / f"{WEEK}.ipynb")
    assert main(["autograde", WEEK, "--root", str(root), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "scores 12/14 in the grading sandbox" in err and "this environment is broken" in err
    assert not (root / "grades").exists()
