"""Collect: import an LMS export (a folder or a .zip) into nbgrader's submitted layout.

``collect(source, week, root)`` puts each student's notebook at
``root/submitted/<student>/<week>/<week>.ipynb`` and writes what it did to
``root/submitted/collect_report_<week>.json``.

How a student id is recognised, in this order, on the path inside the export
(every folder name, a nested zip's name, and the file name, from the outside in):

- Moodle folder ``Jane Doe_12345_assignsubmission_file_/...``: the participant id ``12345``;
- Blackboard file ``<assignment>_<username>_attempt_<yyyy-mm-dd-hh-mm-ss>_<file>``: the
  username, and the attempt time (the newest attempt wins);
- Canvas file ``doejane_12345_678901_<file>`` (or ``doejane_LATE_12345_...``): the numeric
  user id ``12345`` (``678901`` is the submission id);
- any other name: the first match of ``id_pattern`` (default ``DEFAULT_ID_PATTERN``: an
  s-number such as ``s1234567``, else a whole run of at least 5 digits), in the outermost folder
  that has one, else in the file name (``s1234567.ipynb``, ``s1234567/untitled.ipynb``).

Ids are lower-cased. Without a ``roster``, a name with no id is rejected; with one, ids
outside it are too. One notebook per student: identical copies collapse, timed attempts
keep the newest, anything else is rejected for the TA to decide. Refused: symbolic links,
unsafe zip paths (zip-slip), zips nested more than one level, non-notebooks, files over
``max_bytes``. The notebook itself is not parsed (the grader repairs or rejects it), only
an empty file is noted. A student's earlier submission for the week is replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import IO

DEFAULT_ID_PATTERN = r"s\d{7}(?!\d)|(?<!\d)\d{5,}(?!\d)"  # s-number, or 5+ digits
MAX_BYTES = 50 * 1024 * 1024
SAFE_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*")
MOODLE = re.compile(r"(?P<name>.+)_(?P<id>\d+)_assignsubmission_[a-z]+_?")
CANVAS = re.compile(r"(?P<login>[A-Za-z0-9.-]+)_(?P<late>LATE_)?(?P<id>\d+)_\d+_(?P<file>.+)")
BLACKBOARD = re.compile(
    r"(?P<assignment>.+)_(?P<id>[^_]+)_attempt_"
    r"(?P<time>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)(?:_(?P<file>.+))?"
)
IGNORED = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store", "Thumbs.db"}


@dataclass
class Accepted:
    """One imported notebook."""

    student: str
    source: str  # path inside the export
    filename: str  # the student's own file name (LMS prefix removed)
    target: str  # relative to the course root
    notes: list[str] = field(default_factory=list)


@dataclass
class Rejected:
    """One file of the export that was not imported, and why."""

    source: str
    reason: str


@dataclass
class CollectReport:
    """What ``collect`` accepted, renamed, replaced and rejected."""

    week: str
    source: str
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def renamed(self) -> list[Accepted]:
        """Accepted notebooks whose file name was not ``<week>.ipynb``."""
        return [a for a in self.accepted if a.filename != f"{self.week}.ipynb"]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["renamed"] = [{"student": a.student, "filename": a.filename} for a in self.renamed]
        return data

    def __str__(self) -> str:
        lines = [
            f"collect {self.week} from {self.source}: {len(self.accepted)} accepted, "
            f"{len(self.renamed)} renamed, {len(self.rejected)} rejected"
        ]
        for a in self.accepted:
            extra = "".join(f"; {n}" for n in a.notes)
            lines.append(f"  accepted {a.student}: {a.source} -> {a.target}{extra}")
        for a in self.renamed:
            lines.append(f"  renamed  {a.student}: {a.filename!r} -> {self.week}.ipynb")
        for r in self.rejected:
            lines.append(f"  rejected {r.source}: {r.reason}")
        return "\n".join(lines)


@dataclass
class _Candidate:
    student: str
    source: str
    filename: str
    time: str | None
    staged: pathlib.Path
    digest: str
    notes: list[str]


Opener = Callable[[], IO[bytes]]


def collect(
    source: pathlib.Path,
    week: str,
    root: pathlib.Path,
    *,
    id_pattern: str = DEFAULT_ID_PATTERN,
    roster: Iterable[str] | None = None,
    max_bytes: int = MAX_BYTES,
) -> CollectReport:
    """Import the notebooks of ``source`` (a folder, a .zip or one .ipynb) into ``root``."""
    source, root = pathlib.Path(source), pathlib.Path(root)
    if not SAFE_ID.fullmatch(week.lower()):
        raise ValueError(f"not a week name: {week!r}")
    id_re = re.compile(id_pattern, re.IGNORECASE)
    known = None if roster is None else {s.lower() for s in roster}
    report = CollectReport(week=week, source=str(source))
    submitted = root / "submitted"
    submitted.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=submitted, prefix=".collect-") as tmp:
        candidates = []
        for name, size, opener in _entries(source, report):
            reason = _refuse(name, size, max_bytes)
            if reason:
                report.rejected.append(Rejected(name, reason))
                continue
            student, filename, time, notes = _identify(name, id_re)
            if student is None:
                report.rejected.append(Rejected(name, "no student id in the name"))
            elif not SAFE_ID.fullmatch(student):
                report.rejected.append(Rejected(name, f"not a usable student id: {student!r}"))
            elif known is not None and student not in known:
                report.rejected.append(Rejected(name, f"unknown student id {student!r}"))
            else:
                staged = pathlib.Path(tmp) / str(len(candidates))
                try:
                    digest = _copy(opener, staged, max_bytes)
                except ValueError as err:
                    report.rejected.append(Rejected(name, str(err)))
                    continue
                except (OSError, RuntimeError, zipfile.BadZipFile, EOFError) as err:
                    report.rejected.append(Rejected(name, f"unreadable: {err}"))
                    continue
                if staged.stat().st_size == 0:
                    notes.append("empty file")
                candidates.append(_Candidate(student, name, filename, time, staged, digest, notes))
        for cand in _choose(candidates, report):
            _install(cand, week, root, report)
    (submitted / f"collect_report_{week}.json").write_text(json.dumps(report.to_dict(), indent=2))
    return report


def _entries(source: pathlib.Path, report: CollectReport) -> Iterator[tuple[str, int, Opener]]:
    """Every file of the export as (path inside it, size, opener); refused entries are reported."""
    if source.is_dir():  # the TA's own path may be a link; links inside the export are refused
        yield from _dir_entries(source, report)
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            yield from _zip_entries(zf, "", report, nested=False)
    elif source.is_file():
        yield source.name, source.stat().st_size, lambda: source.open("rb")
    else:
        raise FileNotFoundError(f"no such folder or zip: {source}")


def _dir_entries(top: pathlib.Path, report: CollectReport) -> Iterator[tuple[str, int, Opener]]:
    for folder, dirs, files in os.walk(top):
        for name in sorted(dirs + files):
            path = pathlib.Path(folder, name)
            rel = path.relative_to(top).as_posix()
            if path.is_symlink():
                report.rejected.append(Rejected(rel, "symbolic link"))
            elif name in dirs or name in IGNORED:
                continue
            elif name.lower().endswith(".zip"):
                try:
                    with zipfile.ZipFile(path) as zf:
                        yield from _zip_entries(zf, rel + "/", report, nested=True)
                except zipfile.BadZipFile:
                    report.rejected.append(Rejected(rel, "not a readable zip"))
            else:
                yield rel, path.stat().st_size, (lambda p=path: p.open("rb"))
        dirs[:] = sorted(
            d for d in dirs if d not in IGNORED and not os.path.islink(f"{folder}/{d}")
        )


def _zip_entries(
    zf: zipfile.ZipFile, prefix: str, report: CollectReport, nested: bool
) -> Iterator[tuple[str, int, Opener]]:
    for info in zf.infolist():
        member = info.filename.replace("\\", "/")  # zips made on Windows may use backslashes
        name, parts = prefix + member, member.split("/")
        if member.startswith("/") or ".." in parts or ":" in parts[0]:
            report.rejected.append(Rejected(name, "unsafe path in the zip (zip-slip)"))
        elif stat.S_ISLNK(info.external_attr >> 16):
            report.rejected.append(Rejected(name, "symbolic link"))
        elif info.is_dir() or IGNORED.intersection(parts):
            continue
        elif info.filename.lower().endswith(".zip"):
            if nested:
                report.rejected.append(Rejected(name, "zip inside a nested zip"))
                continue
            try:
                with zf.open(info) as raw, zipfile.ZipFile(raw) as inner:
                    yield from _zip_entries(inner, name + "/", report, nested=True)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as err:
                report.rejected.append(Rejected(name, f"not a readable zip: {err}"))
        else:
            yield name, info.file_size, (lambda i=info: zf.open(i))


def _refuse(name: str, size: int, max_bytes: int) -> str | None:
    if not name.lower().endswith(".ipynb"):
        return "not a notebook (.ipynb)"
    if size > max_bytes:
        return f"too large: {size} bytes (limit {max_bytes})"
    return None


def _identify(name: str, id_re: re.Pattern) -> tuple[str | None, str, str | None, list[str]]:
    """(student id, the student's file name, attempt time, notes) for a path inside the export."""
    parts = [p for p in name.split("/") if p]
    last = len(parts) - 1
    for i, part in enumerate(parts):
        inner = parts[-1] if i < last else None
        if i < last and (m := MOODLE.fullmatch(part)):
            return m["id"], parts[-1], None, []
        if m := BLACKBOARD.fullmatch(part):  # before Canvas: its marker is the more specific
            return m["id"].lower(), inner or m["file"] or part, m["time"], [f"attempt {m['time']}"]
        if m := CANVAS.fullmatch(part):
            return m["id"], inner or m["file"], None, ["late (Canvas)"] if m["late"] else []
    for part in parts:
        if m := id_re.search(part.removesuffix(".ipynb").removesuffix(".zip")):
            return m[0].lower(), parts[-1], None, []
    return None, parts[-1], None, []


def _copy(opener: Opener, target: pathlib.Path, max_bytes: int) -> str:
    """Copy at most ``max_bytes`` (more is an error: zip headers can lie); return the sha256."""
    digest = hashlib.sha256()
    with opener() as src, target.open("wb") as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            dst.write(chunk)
            if dst.tell() > max_bytes:
                raise ValueError(f"too large: more than {max_bytes} bytes")
    return digest.hexdigest()


def _choose(candidates: list[_Candidate], report: CollectReport) -> list[_Candidate]:
    """One notebook per student: identical copies collapse, the newest attempt wins, else reject."""
    by_student: dict[str, list[_Candidate]] = {}
    for cand in candidates:
        by_student.setdefault(cand.student, []).append(cand)
    chosen = []
    for student, group in sorted(by_student.items()):
        group.sort(key=lambda c: (c.time or "", c.source), reverse=True)
        keep, others = group[0], group[1:]
        if all(c.digest == keep.digest for c in others):
            reason = f"same content as {keep.source}"
        elif all(c.time for c in group) and keep.time != others[0].time:
            reason = f"older attempt; kept the newest, {keep.source}"
        else:
            names = ", ".join(sorted(c.source for c in group))
            reason = f"{len(group)} different notebooks for student {student}: {names}"
            report.rejected.extend(
                Rejected(c.source, reason) for c in sorted(group, key=lambda c: c.source)
            )
            continue
        report.rejected.extend(
            Rejected(c.source, reason) for c in sorted(others, key=lambda c: c.source)
        )
        chosen.append(keep)
    return chosen


def _install(cand: _Candidate, week: str, root: pathlib.Path, report: CollectReport) -> None:
    folder = root / "submitted" / cand.student / week
    if folder.exists():
        cand.notes.append("replaced an existing submission")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    target = folder / f"{week}.ipynb"
    shutil.move(cand.staged, target)
    rel = target.relative_to(root).as_posix()
    report.accepted.append(Accepted(cand.student, cand.source, cand.filename, rel, cand.notes))
