"""Every week's notebooks: the solution runs clean in FAST mode, the student version runs
with only its stubs failing, and the committed student notebook equals a fresh release."""

from __future__ import annotations

import json
import time

import nbformat
import pytest

from grader.pipeline import BANNER_ID, available_weeks, generate
from tests.nbtools import (
    errors,
    execute,
    is_answer,
    is_experiment,
    is_tests,
    nbgrader_meta,
    release_path,
    solution_path,
    stdout,
)

WEEKS = available_weeks()
pytestmark = pytest.mark.notebook


def test_every_listed_week_has_both_notebooks():
    assert "01_autoencoders" in WEEKS
    for week in WEEKS:
        assert release_path(week).is_file(), f"run `python -m grader release {week}`"


@pytest.mark.parametrize("week", WEEKS)
def test_solution_runs_clean_in_fast_mode(week, tmp_path):
    start = time.perf_counter()
    nb = execute(solution_path(week), tmp_path)
    elapsed = time.perf_counter() - start
    failed = [(c.id, e.ename, e.evalue) for c in nb.cells for e in errors(c)]
    assert not failed, f"cells raised: {failed}"
    test_cells = [c for c in nb.cells if is_tests(c)]
    assert len(test_cells) >= 4
    for cell in test_cells:
        assert "passed" in stdout(cell), f"{cell.id}: the visible check printed no success line"
    print(f"{week} solution notebook: {elapsed:.1f} s in FAST mode")


@pytest.mark.parametrize("week", WEEKS)
def test_student_notebook_fails_only_in_its_stubs(week, tmp_path):
    nb = execute(release_path(week), tmp_path, allow_errors=True)
    stub_hit = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errs = errors(cell)
        if is_tests(cell):
            # Each tests cell fails, and says why: the stub is not implemented yet.
            assert errs, f"{cell.id} passed against an unimplemented stub"
            assert "NotImplementedError" in errs[0].evalue + errs[0].ename, (cell.id, errs[0])
        elif is_experiment(cell):
            # Experiments use the student's functions: the first to fail stops at a stub;
            # later ones may then miss what it would have built.
            if errs and not stub_hit:
                text = errs[0].ename + errs[0].evalue
                assert "NotImplementedError" in text, (cell.id, text)
            stub_hit = stub_hit or bool(errs)
        else:
            # Setup, imports, configuration and the stubs' definitions themselves run clean.
            assert not errs, f"{cell.id} raised {errs[0].ename}: {errs[0].evalue}"


@pytest.mark.parametrize("week", WEEKS)
def test_release_is_in_sync_with_the_solution(week, tmp_path):
    fresh = generate(week, out=tmp_path)
    committed = release_path(week)
    assert json.loads(fresh.read_text()) == json.loads(committed.read_text()), (
        f"notebooks/{week} is stale: run `python -m grader release {week}` and commit it"
    )


@pytest.mark.parametrize("week", WEEKS)
def test_release_hides_solutions_and_hidden_tests(week):
    solution = nbformat.read(solution_path(week), as_version=4)
    release = nbformat.read(release_path(week), as_version=4)
    assert release.cells[0].id == BANNER_ID
    assert release.metadata["course"]["generated_from"] == f"solutions/{week}/{week}.ipynb"
    text = "\n".join(c.source for c in release.cells)
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    answers = {c.id: c for c in release.cells if is_answer(c)}
    assert len(answers) >= 4
    for cell in answers.values():
        assert "raise NotImplementedError()" in cell.source
    # Every graded cell of the source is in the release, with the same points.
    source_grades = {
        nbgrader_meta(c)["grade_id"]: nbgrader_meta(c).get("points")
        for c in solution.cells
        if nbgrader_meta(c).get("grade")
    }
    release_grades = {
        nbgrader_meta(c)["grade_id"]: nbgrader_meta(c).get("points")
        for c in release.cells
        if nbgrader_meta(c).get("grade")
    }
    assert source_grades == release_grades
    # Each answer cell is followed by its tests cell: a visible check call, hidden asserts.
    cells = solution.cells
    for i, cell in enumerate(cells):
        if is_answer(cell):
            nxt = next(c for c in cells[i + 1 :] if c.cell_type == "code")
            assert is_tests(nxt), f"{cell.id} is not followed by a tests cell"
            assert "checks.check_" in nxt.source and "BEGIN HIDDEN TESTS" in nxt.source
            hidden = nxt.source.split("### BEGIN HIDDEN TESTS")[1]
            assert "assert " in hidden, f"{nxt.id}: hidden tests must assert directly"
    manual = [
        c
        for c in solution.cells
        if nbgrader_meta(c).get("grade") and nbgrader_meta(c).get("solution")
    ]
    assert manual, "at least one manually graded written question"
