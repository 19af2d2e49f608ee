"""grader.feedback and grader.export, from hand-written result files (grades/<week>/*.json):
feedback pages escape everything and hide flags and hidden tests; the CSV and the PNG
report say exactly what the results say."""

from __future__ import annotations

import csv
import html
import json
import pathlib

import matplotlib.image
import nbformat
import pytest

from grader.export import export_csv, pass_rates, report_png
from grader.feedback import write_feedback

WEEK = "01_autoencoders"
SOLUTION = pathlib.Path(__file__).parent.parent / "solutions" / WEEK / f"{WEEK}.ipynb"
SCRIPT = "<script>alert('x')</script>"


def outcome(exercise: str, points: float, status: str, message: str = "", hidden=False) -> dict:
    score = points if status == "passed" else 0.0
    return {"grade_id": f"test_{exercise}", "exercise": exercise, "points": points,
            "score": score, "status": status, "message": message, "hidden": hidden}  # fmt: skip


def result(student, status="graded", reason=None, tests=(), **extra) -> dict:
    data = {
        "student": student, "week": WEEK, "status": status, "reason": reason,
        "score": sum(t["score"] for t in tests), "max_score": 7.0, "time_s": 4.25,
        "sandbox": "strong", "tests": list(tests), "manual": [], "answers": {},
        "repairs": [], "flags": [],
    }  # fmt: skip
    data.update(extra)
    return data


FULL = [
    outcome("reconstruction_loss", 2, "passed"),
    outcome("pca_baseline", 3, "passed"),
    outcome("interpolate", 2, "passed"),
]
PARTIAL = [
    outcome("reconstruction_loss", 2, "passed"),
    outcome("pca_baseline", 3, "failed", "a hidden test failed", hidden=True),
    outcome("interpolate", 2, "failed", SCRIPT),
]
STOPPED = [
    outcome("reconstruction_loss", 2, "passed"),
    outcome("pca_baseline", 3, "timeout", "timed out"),
    outcome("interpolate", 2, "not run", "not run: an earlier cell timed out"),
]
RESULTS = [
    result(
        "s1000001",
        tests=FULL,
        answers={
            "interpolate": "def interpolate(z0, z1, steps):\n    return z0 if steps < 2 else z1"
        },
        manual=[{"grade_id": "q-answer", "points": 3.0, "answer": "PCA is <b>linear</b>."}],
    ),
    result(
        "s1000002",
        tests=PARTIAL,
        answers={"pca_baseline": "def pca_baseline(x, k):\n    return x[:k], x.mean(0)"},
        repairs=[
            "test cell 'test_interpolate' was deleted: restored from the source",
            "=cell type of 'pca_baseline' was raw: changed to code",
        ],
        flags=[
            "answer 'interpolate' imports course.autoencoders.interpolate (the reference)",
            "answer 'pca_baseline' touches sys.modules",
        ],
    ),
    result("s1000003", reason="timeout: a cell ran longer than 30 s", time_s=61.0, tests=STOPPED),
    result(
        "s1000004", status="rejected", reason="invalid JSON: Expecting value: line 1", time_s=0.05
    ),
]


@pytest.fixture
def root(tmp_path) -> pathlib.Path:
    folder = tmp_path / "grades" / WEEK
    folder.mkdir(parents=True)
    for r in reversed(RESULTS):
        (folder / f"{r['student']}.json").write_text(json.dumps(r))
    return tmp_path


def hidden_test_lines() -> list[str]:
    """The code lines of every hidden tests block of the week's solution notebook."""
    lines = []
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        src = cell.source
        if "### BEGIN HIDDEN TESTS" in src:
            block = src.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
            lines += [ln.strip() for ln in block.splitlines() if ln.strip()]
    return lines


def test_feedback_pages(root):
    pages = write_feedback(root, WEEK)
    assert pages == [root / "feedback" / s / WEEK / "index.html"
                     for s in ("s1000001", "s1000002", "s1000003", "s1000004")]  # fmt: skip
    full, partial, stopped, rejected = (p.read_text() for p in pages)

    assert "Score: <strong>7 / 7</strong> (100%)" in full
    assert "return z0 if steps &lt; 2 else z1" in full  # the graded answer, escaped
    assert "PCA is &lt;b&gt;linear&lt;/b&gt;." in full
    assert '<td>interpolate</td><td>2 / 2</td><td class="passed">passed</td>' in full

    assert "Score: <strong>2 / 7</strong> (29%)" in partial
    assert "<script>" not in partial
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in partial
    assert "<td>a hidden test failed</td>" in partial
    assert (
        "<li>test cell &#x27;test_interpolate&#x27; was deleted: restored from the source</li>"
        in partial
    )
    assert "def pca_baseline(x, k):" in partial
    for flag in RESULTS[1]["flags"]:
        assert flag not in partial
    assert "sys.modules" not in partial and "the reference" not in partial

    assert "Reason: timeout: a cell ran longer than 30 s" in stopped
    assert '<td class="not-run">not run</td>' in stopped

    assert "could not be graded" in rejected
    assert "Reason: invalid JSON: Expecting value: line 1" in rejected
    assert "Score: <strong>0 / 7</strong> (0%)" in rejected

    hidden = hidden_test_lines()
    assert len(hidden) > 30
    for page in (full, partial, stopped, rejected):
        assert page.startswith("<!DOCTYPE html>")
        assert "src=" not in page and "href=" not in page  # self-contained
        leaked = [ln for ln in hidden if ln in html.unescape(page)]
        assert leaked == []


def test_feedback_refuses_an_unsafe_student_id(root):
    (root / "grades" / WEEK / "evil.json").write_text(json.dumps(result("../../etc")))
    with pytest.raises(ValueError, match="not a usable student id"):
        write_feedback(root, WEEK)


def test_export_csv_rows(root, tmp_path):
    path = tmp_path / "grades.csv"
    rows = export_csv(root, WEEK, path)
    with open(path, newline="") as f:
        assert list(csv.reader(f)) == rows
    assert rows == [
        ["student", "week", "score", "max_score", "percent", "status", "reason", "flags",
         "repairs", "time_s"],
        ["s1000001", WEEK, "7", "7", "100", "graded", "", "", "", "4.2"],
        ["s1000002", WEEK, "2", "7", "28.6", "graded", "",
         "answer 'interpolate' imports course.autoencoders.interpolate (the reference)"
         " | answer 'pca_baseline' touches sys.modules",
         "test cell 'test_interpolate' was deleted: restored from the source"
         " | =cell type of 'pca_baseline' was raw: changed to code", "4.2"],
        ["s1000003", WEEK, "2", "7", "28.6", "graded", "timeout: a cell ran longer than 30 s",
         "", "", "61"],
        ["s1000004", WEEK, "0", "7", "0", "rejected", "invalid JSON: Expecting value: line 1",
         "", "", "0.1"],
    ]  # fmt: skip


def test_export_csv_neutralises_formulas(root, tmp_path):
    evil = result("s1000005", status="rejected", reason="=HYPERLINK(\"http://x\")",
                  flags=["@SUM(A1)"])  # fmt: skip
    (root / "grades" / WEEK / "s1000005.json").write_text(json.dumps(evil))
    row = export_csv(root, WEEK, tmp_path / "g.csv")[-1]
    assert row[6:8] == ['\'=HYPERLINK("http://x")', "'@SUM(A1)"]


def test_report_png(root, tmp_path):
    path = tmp_path / "report.png"
    plotted = report_png(root, WEEK, path)
    # By hand, over the 4 students (the rejected one passed nothing):
    # reconstruction_loss 3/4, pca_baseline 1/4, interpolate 1/4; hardest first, ties by name.
    assert plotted["pass_rates"] == {"interpolate": 0.25, "pca_baseline": 0.25,
                                     "reconstruction_loss": 0.75}  # fmt: skip
    assert list(plotted["pass_rates"]) == ["interpolate", "pca_baseline", "reconstruction_loss"]
    assert plotted["percents"] == pytest.approx([100.0, 200 / 7, 200 / 7, 0.0])
    data = path.read_bytes()
    assert len(data) > 10_000 and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(path).shape[:2] == (450, 1100)


def test_pass_rate_needs_every_test_of_an_exercise():
    two = [outcome("gan", 1, "passed"), outcome("gan", 1, "failed")]
    assert pass_rates(
        [result("a", tests=two), result("b", tests=[outcome("gan", 1, "passed")])]
    ) == {"gan": 0.5}


def test_missing_results_are_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results for 01_autoencoders"):
        export_csv(tmp_path, WEEK, tmp_path / "x.csv")
    (tmp_path / "grades" / WEEK).mkdir(parents=True)
    (tmp_path / "grades" / WEEK / "s1.json").write_text("{ broken")
    with pytest.raises(ValueError, match="s1.json is not a valid result file"):
        write_feedback(tmp_path, WEEK)
