"""Grade every submission of a week: repaired, sandboxed, in parallel, one coordinator.

``autograde(week, root)`` reads ``root/submitted/<student>/<week>/*.ipynb``, rebuilds each
graded run from the source notebook (``grader.repair``), runs it in its own sandbox
(``grader.sandbox``) — serially, on a Dask ``LocalCluster`` (the default when more than
one worker is asked for) or on any Dask scheduler — and, in this process only, turns
the per-cell results into scores: ``root/grades/<week>/<student>.json`` and the nbgrader
gradebook ``root/gradebook.db`` (so manual grading in formgrader works as usual).

A tests cell earns its points when it ran to the end, nothing it relies on was tampered
with while it ran, and its result line was not forged. A submission that cannot run
(empty, invalid JSON, endless, crashing) gets a reason and zero for what did not run;
the batch always goes on.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
import time
from dataclasses import dataclass

from grader import repair, sandbox
from grader.pipeline import ROOT, GraderError, nbgrader


@dataclass
class Limits:
    """Per-submission limits (defaults sized for FAST-mode notebooks on a laptop)."""

    cell_timeout: float = 60.0  # seconds per cell
    wall_s: float = 300.0  # seconds per submission
    memory_mb: int = 4096  # address space allowed beyond what the imports mapped
    file_mb: int = 64  # largest file a submission may write
    max_procs: int = 32  # processes a submission may start


def source_notebook(root: pathlib.Path, week: str) -> pathlib.Path:
    for base in (root, ROOT):
        path = base / "solutions" / week / f"{week}.ipynb"
        if path.is_file():
            return path
    raise GraderError(f"no source notebook for {week} under {root}/solutions or {ROOT}/solutions")


def find_submissions(root: pathlib.Path, week: str) -> dict[str, tuple[pathlib.Path | None, str]]:
    """student -> (notebook path or None, note). A renamed notebook is accepted and noted."""
    found = {}
    for folder in sorted((root / "submitted").glob(f"*/{week}")):
        student = folder.parent.name
        expected = folder / f"{week}.ipynb"
        notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
        if expected.is_file():
            found[student] = (expected, "")
        elif len(notebooks) == 1:
            found[student] = (notebooks[0], f"notebook was renamed to {notebooks[0].name!r}")
        elif notebooks:
            newest = max(notebooks, key=lambda p: p.stat().st_mtime)
            found[student] = (newest, f"{len(notebooks)} notebooks submitted: graded the newest, "
                                      f"{newest.name!r}")
        else:
            found[student] = (None, "no notebook in the submission folder")
    return found


def hidden_paths(root: pathlib.Path) -> list[str]:
    """What a submission must not see from inside a strong sandbox."""
    paths = [root / name for name in ("submitted", "autograded", "grades", "feedback",
                                       "solutions", "source", ".git")]
    paths += [ROOT / "solutions", ROOT / ".git"]
    paths += list(root.glob("*.db"))
    return sorted({str(p.resolve()) for p in paths if p.exists()})


def build_job(week: str, prepared: repair.Prepared, limits: Limits, hide: list[str]) -> dict:
    return {
        "cells": prepared.cells,
        "cell_timeout": limits.cell_timeout,
        "memory_mb": limits.memory_mb,
        "file_mb": limits.file_mb,
        "hide": hide,
        "preload": [f"course.checks.{m}" for m in _week_modules(week)],
    }


def _week_modules(week: str) -> list[str]:
    import importlib.util

    topic = week.split("_", 1)[1]
    names = {"autoencoders": "autoencoders", "vae": "vae", "gan": "gan", "wgan": "wgan",
             "stylegan": "stylegan", "cyclegan": "cyclegan", "flows": "flows",
             "diffusion": "diffusion"}
    wanted = [names.get(topic, topic), "metrics"]
    return [m for m in wanted if importlib.util.find_spec(f"course.checks.{m}") is not None]


def run_job(job: dict, limits: Limits) -> dict:
    """Executed on a worker (or here when serial): the sandboxed run of one submission."""
    return sandbox.run(job, wall_s=limits.wall_s, max_procs=limits.max_procs)


def self_test(week: str, root: pathlib.Path, source: dict, limits: Limits, hide: list[str],
              client=None) -> None:
    """Grade the solution itself, sandboxed like a submission, before any student.

    If it does not earn full marks the sandbox or the environment is broken (a package that
    cannot be imported in it, a check that fails on the reference ...): stop here rather
    than hand out zeros nobody earned.
    """
    with tempfile.TemporaryDirectory(prefix="course-selftest-") as tmp:
        path = pathlib.Path(tmp) / f"{week}.ipynb"
        path.write_text(json.dumps(source))
        prep = repair.prepare(source, path)
    job = build_job(week, prep, limits, hide)
    run = (client.submit(run_job, job, limits, key=f"selftest-{week}", pure=False).result()
           if client is not None else run_job(job, limits))
    result = score("solution", week, prep, run)
    if result["score"] != result["max_score"] or result["reason"]:
        lost = [f"{t['grade_id']}: {t['message'][:300]}" for t in result["tests"] if not t["score"]]
        problems = [f"{cell}: {msg}" for cell, msg in result.get("source_errors", {}).items()]
        raise GraderError(
            f"the solution of {week} scores {result['score']:g}/{result['max_score']:g} in the "
            f"grading sandbox ({result['sandbox']} isolation), so grading would be wrong; nothing "
            "was graded.\n  " + "\n  ".join(problems + lost + [result["reason"] or ""]))


def score(student: str, week: str, prepared: repair.Prepared, run: dict | None,
          note: str = "", max_score: float | None = None) -> dict:
    """The coordinator's verdict for one submission (the JSON written to ``grades/``)."""
    repairs = ([note] if note else []) + prepared.repairs
    result = {
        "student": student, "week": week, "status": "graded", "reason": None,
        "score": 0.0,
        "max_score": sum(t["points"] for t in prepared.tests) if max_score is None else max_score,
        "time_s": 0.0, "sandbox": None, "tests": [], "manual": prepared.manual,
        "answers": prepared.answers, "repairs": repairs, "flags": list(prepared.flags),
    }
    if run is None:
        result.update(status="rejected", reason=prepared.rejected)
        return result
    cells = run["cells"]
    result.update(reason=run["reason"], time_s=round(run["time_s"], 2), sandbox=run["isolation"])
    for cell in prepared.cells:
        event = cells.get(cell["id"])
        if event and cell["kind"] == "source" and event["status"] != "ok":
            # A course cell (imports, configuration) failed: say so, it explains the zeros.
            result.setdefault("source_errors", {})[cell["id"]] = f"{event['ename']}: {event['evalue']}"
            result["reason"] = result["reason"] or (
                f"the notebook's own cell {cell['id']!r} failed ({event['ename']}: "
                f"{(event['evalue'] or '')[:200]}), after the submission's earlier cells")
        if event and event.get("tampered") and cell["kind"] != "tests":
            for what in event["tampered"]:
                result["flags"].append(f"cell {cell['id']!r} {what} (undone before the tests)")
    for test in prepared.tests:
        event = cells.get(test["grade_id"])
        entry = {"grade_id": test["grade_id"], "exercise": test["exercise"],
                 "points": test["points"], "score": 0.0, "hidden": False}
        if event is None:
            entry.update(status="not run", message=run["reason"] or "the notebook stopped before "
                                                                     "this test")
        elif event.get("forged"):
            entry.update(status="failed", message="more than one result arrived for this test")
            result["flags"].append(f"forged result lines for {test['grade_id']!r}")
        elif event["tampered"]:
            entry.update(status="failed", message="something this test relies on was changed "
                                                  "while it ran: " + "; ".join(event["tampered"]))
            result["flags"].extend(f"during {test['grade_id']!r}: {t}" for t in event["tampered"])
        elif event["status"] == "ok":
            entry.update(status="passed", score=test["points"], message="")
        elif event["status"] == "timeout":
            entry.update(status="timeout", message=f"the test {event['evalue']}")
        elif event["hidden"]:
            entry.update(status="failed", hidden=True, message="a hidden test failed")
        else:
            message = event["evalue"] or ""
            entry.update(status="failed" if event["ename"] == "AssertionError" else "error",
                         message=f"{event['ename']}: {message}" if event["ename"] != "AssertionError"
                         else message or "an assertion failed")
        result["tests"].append(entry)
    result["score"] = sum(t["score"] for t in result["tests"])
    return result


def _client(workers: int, scheduler: str | None):
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=40)
    return Client(cluster), cluster


def autograde(week: str, root: pathlib.Path, *, workers: int | None = None,
              scheduler: str | None = None, limits: Limits | None = None,
              students: list[str] | None = None, log=print) -> list[dict]:
    """Grade all submissions of ``week`` under ``root``; returns the per-student results."""
    limits = limits or Limits()
    workers = workers or os.cpu_count() or 1
    source = json.loads(source_notebook(root, week).read_text())
    max_points = sum(float(repair.meta(c).get("points", 0)) for c in source["cells"]
                     if repair.is_tests(c))
    submissions = find_submissions(root, week)
    if students:
        submissions = {s: v for s, v in submissions.items() if s in students}
    if not submissions:
        raise GraderError(f"no submissions for {week} under {root / 'submitted'}")
    _ensure_gradebook(root, week)  # before any submission runs: fail early, hide it from them
    hide = hidden_paths(root)
    start = time.perf_counter()
    client = cluster = None
    if scheduler or workers > 1:
        # Every worker starts its warm process (seconds of importing torch) at once, and the
        # self-test runs on one of them: no start-up is paid twice or one after the other.
        client, cluster = _client(workers, scheduler)
        client.run(sandbox.prewarm)
    try:
        self_test(week, root, source, limits, hide, client)
        results = _grade_all(week, root, source, submissions, limits, hide, max_points, client, log)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    _update_gradebook(root, week, results)
    log(f"graded {len(results)} submissions of {week} in {time.perf_counter() - start:.1f} s")
    return [results[s] for s in sorted(results)]


def _grade_all(week, root, source, submissions, limits, hide, max_points, client, log) -> dict:
    """Prepare every submission, run it (on ``client``'s workers, else here) and score it."""
    prepared, jobs = {}, {}
    for student, (path, note) in submissions.items():
        if path is None:
            prepared[student] = repair.Prepared(rejected=note)
            continue
        prep = repair.prepare(source, path)
        if note:
            prep.repairs.insert(0, note)
        prepared[student] = prep
        if prep.rejected is None:
            jobs[student] = build_job(week, prep, limits, hide)

    results: dict[str, dict] = {}

    def finish(student: str, run: dict | None) -> None:
        results[student] = score(student, week, prepared[student], run, max_score=max_points)
        _write(root, week, results[student])
        _write_autograded(root, week, source, results[student])
        r = results[student]
        log(f"{student}: {r['score']:g}/{r['max_score']:g}"
            + (f" ({r['reason']})" if r["reason"] else ""))

    for student in prepared:
        if student not in jobs:
            finish(student, None)
    if client is not None:
        from dask.distributed import as_completed

        futures = {client.submit(run_job, job, limits, key=f"grade-{week}-{student}",
                                 pure=False): student for student, job in jobs.items()}
        for future in as_completed(futures):
            student = futures[future]
            try:
                finish(student, future.result())
            except Exception as err:  # a worker died: that submission only
                finish(student, {"cells": {}, "reason": f"grading worker failed: {err}",
                                 "isolation": None, "forged": [], "time_s": 0.0})
    else:
        for student, job in jobs.items():
            finish(student, run_job(job, limits))
    return results


def _write(root: pathlib.Path, week: str, result: dict) -> None:
    folder = root / "grades" / week
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{result['student']}.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(target)


def _ensure_gradebook(root: pathlib.Path, week: str) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    db = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(db) as gb:
        try:
            gb.find_assignment(week)
            return
        except MissingEntry:
            pass
    _register_assignment(root, week, db)


def _write_autograded(root: pathlib.Path, week: str, source: dict, result: dict) -> None:
    """``autograded/<student>/<week>/<week>.ipynb``: the graded run as nbgrader's formgrader
    expects it (the source's cells and metadata, the student's answers, each test's outcome),
    so that TAs grade the written answers there as usual."""
    import copy

    nb = copy.deepcopy(source)
    tests = {t["grade_id"]: t for t in result["tests"]}
    manual = {m["grade_id"]: m["answer"] for m in result["manual"]}
    for cell in nb["cells"]:
        gid = repair.meta(cell).get("grade_id")
        if repair.is_answer(cell):
            cell["source"] = result["answers"].get(gid, "")
        elif repair.is_manual(cell):
            cell["source"] = manual.get(gid, "")
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
            if gid in tests:
                t = tests[gid]
                text = f"{t['status']}: {t['score']:g}/{t['points']:g}" + (
                    f"\n{t['message']}" if t["message"] else "")
                cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": text}]
    folder = root / "autograded" / result["student"] / week
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{week}.ipynb").write_text(json.dumps(nb, indent=1))


def _update_gradebook(root: pathlib.Path, week: str, results: dict[str, dict]) -> None:
    """Auto scores into nbgrader's gradebook, written by this process only."""
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    db = f"sqlite:///{root / 'gradebook.db'}"
    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SAWarning
    with Gradebook(db) as gb:
        for student, result in results.items():
            gb.update_or_create_student(student)
            try:
                gb.find_submission(week, student)
            except MissingEntry:
                gb.add_submission(week, student)
            for test in result["tests"]:
                grade = gb.find_grade(test["grade_id"], week, week, student)
                grade.auto_score = test["score"]
            gb.db.commit()


def _register_assignment(root: pathlib.Path, week: str, db: str) -> None:
    with tempfile.TemporaryDirectory(prefix="course-register-") as tmp:
        tmp_root = pathlib.Path(tmp)
        shutil.copytree(source_notebook(root, week).parent, tmp_root / "solutions" / week)
        nbgrader("generate_assignment", week, "--force", "--log-level=WARN", root=tmp_root, db=db)
