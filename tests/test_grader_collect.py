"""grader.collect: LMS exports (Moodle, Canvas, Blackboard, plain folders, zips in zips)
land in nbgrader's submitted layout, and everything refused is reported with a reason."""

from __future__ import annotations

import io
import json
import os
import pathlib
import re
import stat
import zipfile

import pytest

from grader.collect import DEFAULT_ID_PATTERN, _copy, _identify, collect

WEEK = "01_autoencoders"


def nb(tag: str) -> bytes:
    """A small notebook-like file; collect never parses it, so content only needs to differ."""
    return json.dumps({"cells": [], "metadata": {"who": tag}, "nbformat": 4}).encode()


def write(root: pathlib.Path, files: dict[str, bytes]) -> pathlib.Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def target(root: pathlib.Path, student: str) -> pathlib.Path:
    return root / "submitted" / student / WEEK / f"{WEEK}.ipynb"


def accepted(report) -> dict[str, tuple[str, str]]:
    return {a.student: (a.source, a.filename) for a in report.accepted}


def rejected(report) -> dict[str, str]:
    return {r.source: r.reason for r in report.rejected}


def test_moodle_zip_with_nested_student_zips(tmp_path):
    export = tmp_path / "moodle.zip"
    inner = make_zip({
        "work/01_autoencoders.ipynb": nb("bo"),
        "__MACOSX/work/._01_autoencoders.ipynb": b"\0\0",
        "work/.ipynb_checkpoints/01_autoencoders-checkpoint.ipynb": nb("old"),
    })  # fmt: skip
    export.write_bytes(make_zip({
        "Jane Doe_12345_assignsubmission_file_/01_autoencoders.ipynb": nb("jane"),
        "John Roe_23456_assignsubmission_file_/Copy of 01_autoencoders.ipynb": nb("john"),
        "Ann Lee_34567_assignsubmission_file_/01_autoencoders (1).ipynb": nb("ann"),
        "Ann Lee_34567_assignsubmission_file_/report.pdf": b"%PDF-1.4",
        "Bo Chan_45678_assignsubmission_file_/work.zip": inner,
        "Cy Dee_56789_assignsubmission_onlinetext_/onlinetext.html": b"<p>hi</p>",
    }))  # fmt: skip
    root = tmp_path / "course"
    report = collect(export, WEEK, root)

    moodle = "_assignsubmission_file_/"
    assert accepted(report) == {
        "12345": (f"Jane Doe_12345{moodle}01_autoencoders.ipynb", "01_autoencoders.ipynb"),
        "23456": (f"John Roe_23456{moodle}Copy of 01_autoencoders.ipynb",
                  "Copy of 01_autoencoders.ipynb"),
        "34567": (f"Ann Lee_34567{moodle}01_autoencoders (1).ipynb", "01_autoencoders (1).ipynb"),
        "45678": (f"Bo Chan_45678{moodle}work.zip/work/01_autoencoders.ipynb",
                  "01_autoencoders.ipynb"),
    }  # fmt: skip
    assert {a.student for a in report.renamed} == {"23456", "34567"}
    assert rejected(report) == {
        f"Ann Lee_34567{moodle}report.pdf": "not a notebook (.ipynb)",
        "Cy Dee_56789_assignsubmission_onlinetext_/onlinetext.html": "not a notebook (.ipynb)",
    }
    for student, tag in [("12345", "jane"), ("23456", "john"), ("34567", "ann"), ("45678", "bo")]:
        assert target(root, student).read_bytes() == nb(tag)
    assert sorted(p.name for p in (root / "submitted").iterdir()) == [
        "12345", "23456", "34567", "45678", f"collect_report_{WEEK}.json",
    ]  # fmt: skip
    assert target(root, "12345").relative_to(root).as_posix() == report.accepted[0].target


def test_canvas_folder_late_renamed_and_two_different_notebooks(tmp_path):
    export = write(tmp_path / "canvas", {
        "doejane_12345_678901_01_autoencoders-1.ipynb": nb("jane"),
        "roejohn_LATE_23456_678902_01_autoencoders.ipynb": nb("john"),
        "leeann_34567_678903_untitled.ipynb": nb("ann"),
        "chanbo_45678_678904_01_autoencoders.ipynb": nb("bo-1"),
        "chanbo_45678_678905_mywork.ipynb": nb("bo-2"),
    })  # fmt: skip
    root = tmp_path / "course"
    report = collect(export, WEEK, root)

    assert accepted(report) == {
        "12345": ("doejane_12345_678901_01_autoencoders-1.ipynb", "01_autoencoders-1.ipynb"),
        "23456": ("roejohn_LATE_23456_678902_01_autoencoders.ipynb", "01_autoencoders.ipynb"),
        "34567": ("leeann_34567_678903_untitled.ipynb", "untitled.ipynb"),
    }
    assert [a.notes for a in report.accepted] == [[], ["late (Canvas)"], []]
    assert {a.student for a in report.renamed} == {"12345", "34567"}
    reason = (
        "2 different notebooks for student 45678: chanbo_45678_678904_01_autoencoders.ipynb, "
        "chanbo_45678_678905_mywork.ipynb"
    )
    assert rejected(report) == {
        "chanbo_45678_678904_01_autoencoders.ipynb": reason,
        "chanbo_45678_678905_mywork.ipynb": reason,
    }
    assert not (root / "submitted" / "45678").exists()
    assert target(root, "23456").read_bytes() == nb("john")


def test_blackboard_keeps_the_newest_attempt(tmp_path):
    bb = "01_autoencoders_{}_attempt_{}"
    export = write(tmp_path / "bb", {
        bb.format("s1234567", "2026-11-20-10-00-00") + "_mywork.ipynb": nb("first"),
        bb.format("s1234567", "2026-11-21-09-30-00") + "_01_autoencoders.ipynb": nb("second"),
        bb.format("s1234567", "2026-11-21-09-30-00") + ".txt": b"Name: Jane Doe",
        bb.format("s7654321", "2026-11-19-08-00-00") + "_a.ipynb": nb("same"),
        bb.format("s7654321", "2026-11-20-08-00-00") + "_b.ipynb": nb("same"),
    })  # fmt: skip
    root = tmp_path / "course"
    report = collect(export, WEEK, root)

    newest = bb.format("s1234567", "2026-11-21-09-30-00") + "_01_autoencoders.ipynb"
    assert accepted(report) == {
        "s1234567": (newest, "01_autoencoders.ipynb"),
        "s7654321": (bb.format("s7654321", "2026-11-20-08-00-00") + "_b.ipynb", "b.ipynb"),
    }
    assert report.accepted[0].notes == ["attempt 2026-11-21-09-30-00"]
    assert target(root, "s1234567").read_bytes() == nb("second")
    assert rejected(report) == {
        bb.format("s1234567", "2026-11-20-10-00-00") + "_mywork.ipynb":
            f"older attempt; kept the newest, {newest}",
        bb.format("s1234567", "2026-11-21-09-30-00") + ".txt": "not a notebook (.ipynb)",
        bb.format("s7654321", "2026-11-19-08-00-00") + "_a.ipynb":
            "same content as " + bb.format("s7654321", "2026-11-20-08-00-00") + "_b.ipynb",
    }  # fmt: skip


def test_plain_folders_ids_roster_and_renamed_notebooks(tmp_path):
    export = write(tmp_path / "plain", {
        "s1234567.ipynb": nb("a"),
        "s2345678/untitled.ipynb": nb("b"),
        "S3456789/01_autoencoders.ipynb": nb("c"),
        "s4567890/Copy of 01_autoencoders.ipynb": nb("d"),
        "readme.ipynb": nb("no id"),
        "s9999999/01_autoencoders.ipynb": nb("not enrolled"),
    })  # fmt: skip
    root = tmp_path / "course"
    roster = ["s1234567", "s2345678", "S3456789", "s4567890"]
    report = collect(export, WEEK, root, roster=roster)

    assert accepted(report) == {
        "s1234567": ("s1234567.ipynb", "s1234567.ipynb"),
        "s2345678": ("s2345678/untitled.ipynb", "untitled.ipynb"),
        "s3456789": ("S3456789/01_autoencoders.ipynb", "01_autoencoders.ipynb"),
        "s4567890": ("s4567890/Copy of 01_autoencoders.ipynb", "Copy of 01_autoencoders.ipynb"),
    }
    assert [a.filename for a in report.renamed] == [
        "s1234567.ipynb", "untitled.ipynb", "Copy of 01_autoencoders.ipynb",
    ]  # fmt: skip
    assert rejected(report) == {
        "readme.ipynb": "no student id in the name",
        "s9999999/01_autoencoders.ipynb": "unknown student id 's9999999'",
    }
    assert target(root, "s3456789").read_bytes() == nb("c")


def test_custom_id_pattern(tmp_path):
    export = write(tmp_path / "x", {"ab123/nb.ipynb": nb("a"), "12345/nb.ipynb": nb("b")})
    report = collect(export, WEEK, tmp_path / "course", id_pattern=r"[a-z]{2}\d{3}")
    assert accepted(report) == {"ab123": ("ab123/nb.ipynb", "nb.ipynb")}
    assert rejected(report) == {"12345/nb.ipynb": "no student id in the name"}


def test_zip_slip_symlinks_and_nesting_are_refused(tmp_path):
    link = zipfile.ZipInfo("s2222222/01_autoencoders.ipynb")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    deep = make_zip({"s4444444/x.zip": make_zip({"01_autoencoders.ipynb": nb("deep")})})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../s1111111.ipynb", nb("evil"))
        zf.writestr("/tmp/s1111112.ipynb", nb("evil"))
        zf.writestr("s3333333/../../s3333333.ipynb", nb("evil"))
        zf.writestr(link, "/etc/passwd")
        zf.writestr("s4444444.zip", deep)
        zf.writestr("s5555555.zip", b"not a zip")
        zf.writestr("s6666666/01_autoencoders.ipynb", nb("ok"))
        zf.writestr("..\\..\\s7777777.ipynb", nb("evil"))  # made on Windows
    export = tmp_path / "export.zip"
    export.write_bytes(buf.getvalue())
    root = tmp_path / "a" / "course"
    report = collect(export, WEEK, root)

    assert accepted(report) == {"s6666666": ("s6666666/01_autoencoders.ipynb",
                                             "01_autoencoders.ipynb")}  # fmt: skip
    reasons = rejected(report)
    assert reasons["../s1111111.ipynb"] == "unsafe path in the zip (zip-slip)"
    assert reasons["/tmp/s1111112.ipynb"] == "unsafe path in the zip (zip-slip)"
    assert reasons["s3333333/../../s3333333.ipynb"] == "unsafe path in the zip (zip-slip)"
    assert reasons["s2222222/01_autoencoders.ipynb"] == "symbolic link"
    assert reasons["s4444444.zip/s4444444/x.zip"] == "zip inside a nested zip"
    assert reasons["s5555555.zip"].startswith("not a readable zip")
    assert reasons["../../s7777777.ipynb"] == "unsafe path in the zip (zip-slip)"
    assert len(reasons) == 7
    assert sorted(p.name for p in tmp_path.rglob("*.ipynb")) == [f"{WEEK}.ipynb"]


def test_symlinks_in_a_folder_are_refused(tmp_path):
    secret = write(tmp_path / "secret", {"s1111111.ipynb": nb("secret")})
    export = write(tmp_path / "export", {"s2222222/01_autoencoders.ipynb": nb("ok")})
    os.symlink(secret / "s1111111.ipynb", export / "s1111111.ipynb")
    os.symlink(secret, export / "s3333333")
    report = collect(export, WEEK, tmp_path / "course")
    assert accepted(report) == {"s2222222": ("s2222222/01_autoencoders.ipynb",
                                             "01_autoencoders.ipynb")}  # fmt: skip
    assert rejected(report) == {"s1111111.ipynb": "symbolic link", "s3333333": "symbolic link"}


def test_size_limit_empty_and_invalid_files_are_not_parsed(tmp_path):
    export = write(tmp_path / "export", {
        "s1111111.ipynb": b"x" * 2001,
        "s2222222.ipynb": b"",
        "s3333333.ipynb": b"{ not json",
    })  # fmt: skip
    root = tmp_path / "course"
    report = collect(export, WEEK, root, max_bytes=2000)
    assert rejected(report) == {"s1111111.ipynb": "too large: 2001 bytes (limit 2000)"}
    assert [(a.student, a.notes) for a in report.accepted] == [
        ("s2222222", ["empty file"]), ("s3333333", []),
    ]  # fmt: skip
    assert target(root, "s2222222").read_bytes() == b""
    assert target(root, "s3333333").read_bytes() == b"{ not json"


def test_zip_member_over_the_limit_and_a_stream_longer_than_announced(tmp_path):
    export = tmp_path / "export.zip"
    export.write_bytes(make_zip({"s1111111.ipynb": b"y" * 5000}))
    report = collect(export, WEEK, tmp_path / "course", max_bytes=4999)
    assert rejected(report) == {"s1111111.ipynb": "too large: 5000 bytes (limit 4999)"}
    # The copy itself stops at the limit, whatever size a header announced.
    with pytest.raises(ValueError, match="too large: more than 5 bytes"):
        _copy(lambda: io.BytesIO(b"y" * 10), tmp_path / "copy", 5)


def test_resubmission_replaces_and_report_is_written(tmp_path):
    root = tmp_path / "course"
    first = write(tmp_path / "first", {"s1234567/01_autoencoders.ipynb": nb("v1")})
    collect(first, WEEK, root)
    stale = target(root, "s1234567").parent / "stale.txt"
    stale.write_text("left by an older run")
    second = write(tmp_path / "second", {"s1234567/Copy of 01_autoencoders.ipynb": nb("v2")})
    report = collect(second, WEEK, root)

    assert target(root, "s1234567").read_bytes() == nb("v2")
    assert not stale.exists()
    assert report.accepted[0].notes == ["replaced an existing submission"]
    saved = json.loads((root / "submitted" / f"collect_report_{WEEK}.json").read_text())
    assert saved["accepted"] == [{
        "student": "s1234567",
        "source": "s1234567/Copy of 01_autoencoders.ipynb",
        "filename": "Copy of 01_autoencoders.ipynb",
        "target": f"submitted/s1234567/{WEEK}/{WEEK}.ipynb",
        "notes": ["replaced an existing submission"],
    }]  # fmt: skip
    assert saved["renamed"] == [
        {"student": "s1234567", "filename": "Copy of 01_autoencoders.ipynb"}
    ]
    assert saved["rejected"] == []
    text = str(report)
    assert text.splitlines()[0] == (
        f"collect {WEEK} from {second}: 1 accepted, 1 renamed, 0 rejected"
    )
    assert "replaced an existing submission" in text
    assert "renamed  s1234567: 'Copy of 01_autoencoders.ipynb' -> 01_autoencoders.ipynb" in text
    assert not list((root / "submitted").glob(".collect-*"))


def test_missing_source_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        collect(tmp_path / "nope", WEEK, tmp_path / "course")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jane Doe_12345_assignsubmission_file_/s7654321.ipynb", ("12345", "s7654321.ipynb")),
        ("doejane_LATE_12345_678901_01_autoencoders-2.ipynb", ("12345", "01_autoencoders-2.ipynb")),
        ("doejane_12345_678901_work.zip/w/untitled.ipynb", ("12345", "untitled.ipynb")),
        ("hw_1_2_jdoe7_attempt_2026-11-20-10-00-00_a.ipynb", ("jdoe7", "a.ipynb")),
        ("01_autoencoders_s1234567_attempt_2026-11-20-10-00-00.ipynb",
         ("s1234567", "01_autoencoders_s1234567_attempt_2026-11-20-10-00-00.ipynb")),
        ("week01/s1234567/01_autoencoders (1).ipynb", ("s1234567", "01_autoencoders (1).ipynb")),
        ("2026-11-20/0123456.ipynb", ("0123456", "0123456.ipynb")),
        ("s12345678.ipynb", ("12345678", "s12345678.ipynb")),
        ("jdoe12345/nb.ipynb", ("12345", "nb.ipynb")),
        ("01_autoencoders.ipynb", (None, "01_autoencoders.ipynb")),
        ("2026-11-20/nb_1234.ipynb", (None, "nb_1234.ipynb")),
    ],
)  # fmt: skip
def test_identify(name, expected):
    student, filename, _, _ = _identify(name, re.compile(DEFAULT_ID_PATTERN, re.IGNORECASE))
    assert (student, filename) == expected
