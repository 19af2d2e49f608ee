"""The whole chain, end to end, for every week: release -> submissions -> `nbgrader
autograde` -> scores.

A solution earns full marks on every autograded test, the untouched student notebook
earns zero, and one realistic wrong answer loses exactly that exercise's points.
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
WEEKS = available_weeks()

# Per week: one realistic mistake, planted into an otherwise perfect submission. Pick an
# answer no later tests cell depends on, so exactly one tests cell loses its points.
WRONG_ANSWERS = {
    "01_autoencoders": {
        "grade_id": "interpolate",
        "tests_id": "test_interpolate",
        "source": (
            "def interpolate(z0, z1, steps):\n"
            "    a = torch.linspace(1.0, 0.0, steps)[:, None]  # runs backwards\n"
            "    return (1 - a) * z0 + a * z1\n"
        ),
    },
}


def _submit(root: pathlib.Path, week: str, student: str, nb: nbformat.NotebookNode) -> None:
    folder = root / "submitted" / student / week
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{week}.ipynb")


@pytest.fixture(scope="module", params=WEEKS)
def graded(request, tmp_path_factory):
    """A course directory with three submissions of one week, autograded in one batch."""
    week = request.param
    wrong = WRONG_ANSWERS[week]
    root = tmp_path_factory.mktemp(f"course-{week}")
    shutil.copytree(solution_path(week).parent, root / "solutions" / week)
    db = f"sqlite:///{root / 'gradebook.db'}"
    nbgrader("generate_assignment", week, "--force", root=root, db=db)

    solution = nbformat.read(solution_path(week), as_version=4)
    untouched = nbformat.read(release_path(week), as_version=4)
    one_wrong = nbformat.read(solution_path(week), as_version=4)
    planted = 0
    for cell in one_wrong.cells:
        if nbgrader_meta(cell).get("grade_id") == wrong["grade_id"]:
            cell.source = wrong["source"]
            planted += 1
    assert planted == 1, f"{week}: no answer cell {wrong['grade_id']!r} to plant the mistake in"
    _submit(root, week, "perfect", solution)
    _submit(root, week, "untouched", untouched)
    _submit(root, week, "one_wrong", one_wrong)
    log = nbgrader("autograde", week, "--force", root=root, db=db)

    points = {
        nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"]
        for c in solution.cells
        if is_tests(c)
    }
    scores = {}
    with Gradebook(db) as gb:
        for student in ("perfect", "untouched", "one_wrong"):
            scores[student] = {
                grade_id: gb.find_grade(grade_id, week, week, student).score for grade_id in points
            }
    return week, points, scores, log


def test_every_week_has_a_planted_mistake():
    assert "01_autoencoders" in WEEKS
    assert set(WEEKS) <= set(WRONG_ANSWERS), "add the week's realistic wrong answer above"


def test_week_is_graded(graded):
    week, points, _, _ = graded
    assert len(points) >= 5, f"{week}: fewer than 5 autograded exercises"
    assert sum(points.values()) >= 10


def test_solution_gets_full_marks(graded):
    _, points, scores, log = graded
    assert scores["perfect"] == points, log


def test_untouched_notebook_gets_zero(graded):
    _, points, scores, _ = graded
    assert scores["untouched"] == {grade_id: 0 for grade_id in points}


def test_one_wrong_answer_loses_exactly_its_points(graded):
    week, points, scores, _ = graded
    expected = dict(points, **{WRONG_ANSWERS[week]["tests_id"]: 0})
    assert scores["one_wrong"] == expected
