"""The whole chain, end to end: release -> submissions -> `nbgrader autograde` -> scores.

A solution earns full marks on every autograded test, the untouched student notebook
earns zero, and one wrong answer loses exactly that exercise's points.
"""

from __future__ import annotations

import pathlib
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader.pipeline import available_weeks, nbgrader
from tests.nbtools import is_tests, nbgrader_meta, release_path, solution_path

pytestmark = pytest.mark.grading
WEEK = "01_autoencoders"

# One realistic mistake, planted into an otherwise perfect submission.
WRONG_ANSWER = {
    "grade_id": "interpolate",
    "tests_id": "test_interpolate",
    "source": (
        "def interpolate(z0, z1, steps):\n"
        "    a = torch.linspace(1.0, 0.0, steps)[:, None]  # runs backwards\n"
        "    return (1 - a) * z0 + a * z1\n"
    ),
}


def _submit(root: pathlib.Path, student: str, notebook: nbformat.NotebookNode) -> None:
    folder = root / "submitted" / student / WEEK
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{WEEK}.ipynb")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course directory with three submissions, autograded in one batch."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(solution_path(WEEK).parent, root / "solutions" / WEEK)
    db = f"sqlite:///{root / 'gradebook.db'}"
    nbgrader("generate_assignment", WEEK, "--force", root=root, db=db)

    solution = nbformat.read(solution_path(WEEK), as_version=4)
    untouched = nbformat.read(release_path(WEEK), as_version=4)
    one_wrong = nbformat.read(solution_path(WEEK), as_version=4)
    for cell in one_wrong.cells:
        if nbgrader_meta(cell).get("grade_id") == WRONG_ANSWER["grade_id"]:
            cell.source = WRONG_ANSWER["source"]
    _submit(root, "perfect", solution)
    _submit(root, "untouched", untouched)
    _submit(root, "one_wrong", one_wrong)
    log = nbgrader("autograde", WEEK, "--force", root=root, db=db)

    points = {
        nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"]
        for c in solution.cells
        if is_tests(c)
    }
    scores = {}
    with Gradebook(db) as gb:
        for student in ("perfect", "untouched", "one_wrong"):
            scores[student] = {
                grade_id: gb.find_grade(grade_id, WEEK, WEEK, student).score for grade_id in points
            }
    return points, scores, log


def test_week_01_is_graded(graded):
    points, _, _ = graded
    assert WEEK in available_weeks()
    assert len(points) >= 4 and sum(points.values()) >= 10


def test_solution_gets_full_marks(graded):
    points, scores, log = graded
    assert scores["perfect"] == points, log


def test_untouched_notebook_gets_zero(graded):
    points, scores, _ = graded
    assert scores["untouched"] == {grade_id: 0 for grade_id in points}


def test_one_wrong_answer_loses_exactly_its_points(graded):
    points, scores, _ = graded
    expected = dict(points, **{WRONG_ANSWER["tests_id"]: 0})
    assert scores["one_wrong"] == expected
