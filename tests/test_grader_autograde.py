"""The TA's autograder on a whole (hostile) class of week 01, serially and on a Dask
LocalCluster with 2 workers: exact scores, every repair and flag reported, the batch
completes, the gradebook is intact and nothing escapes the sandbox."""

from __future__ import annotations

import copy
import json
import pathlib
import shutil

import psutil
import pytest
from nbgrader.api import Gradebook

from grader import sandbox
from grader.autograde import Limits, autograde
from grader.pipeline import ROOT
from tests.nbtools import nbgrader_meta, release_path, solution_path

pytestmark = pytest.mark.grading
WEEK = "01_autoencoders"
FULL = {"test_reconstruction_loss": 2, "test_pca_baseline": 3, "test_autoencoder": 3,
        "test_add_noise": 2, "test_interpolate": 2, "test_attribute_vector": 2}
LIMITS = Limits(cell_timeout=10, wall_s=150, memory_mb=3072, max_procs=16)
STRONG = sandbox.isolation() == "strong"
CANARY = "/work/course-grader-canary.txt"

WRONG_INTERPOLATE = (
    "def interpolate(z0, z1, steps):\n"
    "    a = torch.linspace(1.0, 0.0, steps)[:, None]  # runs backwards\n"
    "    return (1 - a) * z0 + a * z1\n"
)


def _solution() -> dict:
    return json.loads(solution_path(WEEK).read_text())


def _cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if nbgrader_meta(c).get("grade_id") == grade_id)


def _with(grade_id: str, source: str, nb: dict | None = None) -> dict:
    nb = nb or _solution()
    _cell(nb, grade_id)["source"] = source
    return nb


def _append(grade_id: str, extra: str) -> dict:
    nb = _solution()
    cell = _cell(nb, grade_id)
    cell["source"] = "".join(cell["source"]) + "\n" + extra
    return nb


def _tests_deleted() -> dict:
    nb = _solution()
    nb["cells"] = [c for c in nb["cells"] if not nbgrader_meta(c).get("grade_id", "").startswith("test_")]
    return nb


def _reordered() -> dict:
    nb = _solution()
    nb["cells"] = nb["cells"][::-1]
    return nb


def _type_changed() -> dict:
    nb = _solution()
    cell = _cell(nb, "add_noise")
    cell["cell_type"] = "markdown"
    cell.pop("outputs", None)
    cell.pop("execution_count", None)
    return nb


def _metadata_lost() -> dict:
    nb = _solution()
    for n, cell in enumerate(nb["cells"]):
        cell["metadata"] = {}
        cell["id"] = f"lost-{n}"
    return nb


def _duplicated() -> dict:
    nb = _solution()
    cell = _cell(nb, "pca_baseline")
    stub = copy.deepcopy(_cell(json.loads(release_path(WEEK).read_text()), "pca_baseline"))
    nb["cells"].insert(nb["cells"].index(cell), stub)  # the stub above, the work below
    return nb


CALLS_REFERENCE = (
    "from course.autoencoders import interpolate as _reference\n\n"
    "def interpolate(z0, z1, steps):\n    return _reference(z0, z1, steps)\n"
)
REPLACES_CHECK = WRONG_INTERPOLATE + "checks.check_interpolate = lambda fn: print('passed')\n"
SYS_MODULES = WRONG_INTERPOLATE + (
    "import sys, types\n_fake = types.ModuleType('fake')\n"
    "_fake.check_interpolate = lambda fn: None\n"
    "sys.modules['course.checks.autoencoders'] = _fake\n"
    "import course.checks\ncourse.checks.autoencoders = _fake\n"
)
EDITS_COURSE = WRONG_INTERPOLATE + (
    "import course.checks.autoencoders as _m\n"
    "with open(_m.__file__, 'a') as _f:\n    _f.write('\\ncheck_interpolate = lambda fn: None\\n')\n"
)
PATCHES_TORCH = WRONG_INTERPOLATE + (
    "torch.allclose = lambda *a, **k: True\n"
    "torch.testing.assert_close = lambda *a, **k: None\n"
    "torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)\n"
)
PATCHES_INSIDE = (
    "def interpolate(z0, z1, steps):\n"
    "    torch.allclose = lambda *a, **k: True  # patched while the tests run\n"
    "    a = torch.linspace(1.0, 0.0, steps)[:, None]\n"
    "    return (1 - a) * z0 + a * z1\n"
)
FAKE_SCORE = WRONG_INTERPOLATE + "print('Score: 14/14 points, all tests passed')\n"
LOOPS = "def interpolate(z0, z1, steps):\n    while True:\n        pass\n"
ESCAPES = (
    f"try:\n    open({CANARY!r}, 'w').write('escaped')\nexcept OSError:\n    pass\n"
)
READS_OTHERS = (
    "import glob, json\n"
    "for _path in glob.glob('{root}/submitted/correct/*/*.ipynb'):\n"
    "    for _c in json.load(open(_path))['cells']:\n"
    "        if _c['metadata'].get('nbgrader', {{}}).get('grade_id') == 'interpolate':\n"
    "            exec(''.join(_c['source']))\n"
)
GRADEBOOK = (
    "import sqlite3, glob\n"
    "for _db in glob.glob('{root}/*.db'):\n"
    "    _con = sqlite3.connect(_db)\n"
    "    _con.execute('update grade set manual_score = 200')\n"
    "    _con.commit()\n"
)


def _class(root: pathlib.Path) -> dict[str, bytes]:
    """student -> the bytes of the notebook they submit."""
    def js(nb):
        return json.dumps(nb).encode()

    untouched = release_path(WEEK).read_bytes()
    cls = {
        "correct": js(_solution()),
        "partial": js(_with("interpolate", WRONG_INTERPOLATE)),
        "untouched": untouched,
        "tests_deleted": js(_tests_deleted()),
        "reordered": js(_reordered()),
        "type_changed": js(_type_changed()),
        "metadata_lost": js(_metadata_lost()),
        "duplicated": js(_duplicated()),
        "invalid_json": js(_solution())[:5000],
        "empty": b"",
        "calls_reference": js(_with("interpolate", CALLS_REFERENCE)),
        "replaces_check": js(_with("interpolate", REPLACES_CHECK)),
        "sys_modules": js(_with("interpolate", SYS_MODULES)),
        "patches_torch": js(_with("interpolate", PATCHES_TORCH)),
        "patches_inside": js(_with("interpolate", PATCHES_INSIDE)),
        "fake_score": js(_with("interpolate", FAKE_SCORE)),
        "exits_early": js(_append("interpolate", "import os\nos._exit(0)")),
        "sys_exit": js(_append("add_noise", "import sys\nsys.exit(0)")),
        "loops": js(_with("interpolate", LOOPS)),
        "allocates_20gb": js(_append("add_noise", "_hog = torch.ones(20 * 2**30, dtype=torch.uint8)")),
        "forks_50": js(_append("add_noise", "import subprocess\n_kids = [subprocess.Popen(['sleep', "
                                            "'4242']) for _ in range(50)]")),
        "writes_outside": js(_append("add_noise", ESCAPES)),
        "reads_others": js(_with("interpolate", READS_OTHERS.format(root=root))),
        "gradebook": js(_append("add_noise", GRADEBOOK.format(root=root))),
    }
    if STRONG:  # only where the file system is read-only can this be tried safely
        cls["edits_course"] = js(_with("interpolate", EDITS_COURSE))
    return cls


def _course(tmp: pathlib.Path) -> pathlib.Path:
    root = tmp / "course"
    (root / "solutions").mkdir(parents=True)
    shutil.copytree(solution_path(WEEK).parent, root / "solutions" / WEEK)
    for student, raw in _class(root).items():
        name = "Copy of 01_autoencoders.ipynb" if student == "duplicated" else f"{WEEK}.ipynb"
        folder = root / "submitted" / student / WEEK
        folder.mkdir(parents=True)
        (folder / name).write_bytes(raw)
    return root


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    pathlib.Path(CANARY).unlink(missing_ok=True)  # left by an earlier run with basic isolation
    serial_root = _course(tmp_path_factory.mktemp("serial"))
    parallel_root = _course(tmp_path_factory.mktemp("parallel"))
    serial = {r["student"]: r for r in autograde(WEEK, serial_root, workers=1, limits=LIMITS,
                                                  log=lambda *a: None)}
    parallel = {r["student"]: r for r in autograde(WEEK, parallel_root, workers=2, limits=LIMITS,
                                                    log=lambda *a: None)}
    yield serial_root, serial, parallel
    if not STRONG:
        pathlib.Path(CANARY).unlink(missing_ok=True)


def _scores(result: dict) -> dict:
    return {t["grade_id"]: t["score"] for t in result["tests"]}


def _without(*lost: str) -> dict:
    return {k: (0 if k in lost else v) for k, v in FULL.items()}


EXPECTED = {
    "correct": FULL,
    "partial": _without("test_interpolate"),
    "untouched": _without(*FULL),
    "tests_deleted": FULL,
    "reordered": FULL,
    "type_changed": FULL,
    "metadata_lost": FULL,
    "duplicated": FULL,
    "calls_reference": _without("test_interpolate"),
    "replaces_check": _without("test_interpolate"),
    "sys_modules": _without("test_interpolate"),
    "patches_torch": _without("test_interpolate"),
    "patches_inside": _without("test_interpolate"),
    "fake_score": _without("test_interpolate"),
    "exits_early": _without("test_interpolate", "test_attribute_vector"),
    "sys_exit": FULL,
    "loops": _without("test_interpolate"),
    "allocates_20gb": FULL,
    "writes_outside": FULL,
    "gradebook": FULL,
    "edits_course": _without("test_interpolate"),
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_exact_scores(graded, student):
    _, serial, _ = graded
    if student not in serial:
        pytest.skip("only tried where the sandbox file system is read-only")
    result = serial[student]
    assert _scores(result) == EXPECTED[student], (result["reason"], result["tests"])
    assert result["score"] == sum(EXPECTED[student].values())
    assert result["max_score"] == 14


def test_serial_and_parallel_grades_are_identical(graded):
    _, serial, parallel = graded
    assert set(serial) == set(parallel)
    for student in serial:
        assert _scores(serial[student]) == _scores(parallel[student]), student
        assert serial[student]["status"] == parallel[student]["status"]


def test_unreadable_submissions_are_rejected_with_a_reason(graded):
    _, serial, _ = graded
    assert serial["empty"]["status"] == "rejected"
    assert "empty" in serial["empty"]["reason"]
    assert serial["invalid_json"]["status"] == "rejected"
    assert "not valid notebook JSON" in serial["invalid_json"]["reason"]
    for student in ("empty", "invalid_json"):
        assert serial[student]["score"] == 0 and serial[student]["max_score"] == 14


@pytest.mark.parametrize("student, phrase", [
    ("tests_deleted", "tests cell 'test_add_noise' was missing"),
    ("reordered", "reordered"),
    ("type_changed", "answer 'add_noise' had become a markdown cell"),
    ("metadata_lost", "answer 'pca_baseline' found by the pca_baseline it defines"),
    ("duplicated", "answer 'pca_baseline' appeared 2 times"),
    ("duplicated", "renamed to 'Copy of 01_autoencoders.ipynb'"),
])
def test_every_repair_is_reported(graded, student, phrase):
    _, serial, _ = graded
    assert any(phrase in r for r in serial[student]["repairs"]), serial[student]["repairs"]


@pytest.mark.parametrize("student, phrase", [
    ("calls_reference", "imports interpolate from course.autoencoders"),
    ("replaces_check", "assigns to checks.check_interpolate"),
    ("replaces_check", "replaced course.checks.autoencoders.check_interpolate"),
    ("sys_modules", "touches sys.modules"),
    ("sys_modules", "replaced sys.modules['course.checks.autoencoders']"),
    ("patches_torch", "patched torch.allclose"),
    ("patches_torch", "patched Tensor.__eq__"),
    ("patches_inside", "during 'test_interpolate': patched torch.allclose"),
    ("fake_score", "prints something that looks like a score"),
    ("exits_early", "kills the kernel (os._exit)"),
    ("sys_exit", "exits the kernel (sys.exit)"),
    ("forks_50", "starts processes"),
    ("writes_outside", "opens a file outside its folder"),
    ("reads_others", "calls exec"),
])
def test_every_flag_is_reported(graded, student, phrase):
    _, serial, parallel = graded
    for results in (serial, parallel):
        assert any(phrase in f for f in results[student]["flags"]), results[student]["flags"]


def test_honest_work_raises_no_flags(graded):
    _, serial, _ = graded
    for student in ("correct", "partial", "untouched", "reordered", "metadata_lost"):
        assert serial[student]["flags"] == [], (student, serial[student]["flags"])


def test_stopped_runs_say_why(graded):
    _, serial, _ = graded
    assert "exited early" in serial["exits_early"]["reason"]
    loops = {t["grade_id"]: t for t in serial["loops"]["tests"]}
    assert loops["test_interpolate"]["status"] == "timeout"
    assert serial["loops"]["reason"] is None  # one slow test, not a lost submission


def _hidden_lines() -> list[str]:
    lines = []
    for cell in _solution()["cells"]:
        source = "".join(cell["source"])
        if "### BEGIN HIDDEN TESTS" in source:
            block = source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 12]
    return lines


def test_results_teach_without_revealing_hidden_tests(graded):
    _, serial, _ = graded
    partial = {t["grade_id"]: t for t in serial["partial"]["tests"]}["test_interpolate"]
    assert partial["status"] == "failed" and not partial["hidden"]
    assert "interpolate" in partial["message"]  # the visible check's teaching message
    hidden = _hidden_lines()
    assert len(hidden) > 10
    everything = json.dumps(serial)
    assert not [line for line in hidden if line in everything]


def test_forked_processes_are_contained_and_gone(graded):
    _, serial, _ = graded
    result = serial["forks_50"]
    # Either the pids limit made fork fail inside the cell (the work before it still counts),
    # or, where no cgroup is available, the run was stopped with a reason.
    if result["reason"]:
        assert "processes" in result["reason"]
    else:
        assert _scores(result) == FULL
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "4242"]]
    assert leftovers == []


def test_nothing_escaped_the_sandbox(graded):
    root, serial, _ = graded
    assert not (ROOT / "course" / "checks" / "autoencoders.py").read_text().rstrip().endswith(
        "check_interpolate = lambda fn: None")
    if STRONG:  # with basic isolation the TA's user may write there; flagged, not blocked
        assert not pathlib.Path(CANARY).exists()
        assert _scores(serial["reads_others"])["test_interpolate"] == 0  # could not copy


def test_gradebook_holds_the_coordinators_scores_only(graded):
    root, serial, _ = graded
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student, result in serial.items():
            if result["status"] != "graded":
                continue
            for test in result["tests"]:
                grade = gb.find_grade(test["grade_id"], WEEK, WEEK, student)
                assert grade.auto_score == test["score"]
                if STRONG:
                    assert grade.manual_score is None  # the 'gradebook' submission could not write
