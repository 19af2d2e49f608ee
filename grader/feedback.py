"""Feedback: a self-contained HTML page per student, ``root/feedback/<student>/<week>/index.html``.

A page shows the score, each test's outcome and teaching message, the answers as graded and
the repairs made to the notebook. It never shows the TA-only flags, and it cannot show hidden
test code: the result files hold none.
"""

from __future__ import annotations

import pathlib
import re
from html import escape

from grader.export import load_results, percent

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: .4rem .6rem; text-align: left; vertical-align: top; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; }
.passed { color: #17702a; } .failed, .error, .timeout, .not-run { color: #b00020; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _points(x: float | None) -> str:
    return "?" if x is None else f"{float(x):g}"


def render(result: dict) -> str:
    """The HTML page of one result (every value from the result is escaped)."""
    student, week = result["student"], result.get("week", "")
    body = [f"<h1>{_e(week)}: feedback for {_e(student)}</h1>"]
    if result.get("status") == "rejected":
        body.append("<p><strong>Your submission could not be graded.</strong></p>")
    score = f"{_points(result.get('score') or 0)} / {_points(result.get('max_score'))}"
    share = "" if (p := percent(result)) is None else f" ({p:.0f}%)"
    body.append(f"<p>Score: <strong>{score}</strong>{share}</p>")
    if result.get("reason"):
        body.append(f"<p>Reason: {_e(result['reason'])}</p>")
    if result.get("tests"):
        head = "".join(f"<th>{h}</th>" for h in ("exercise", "points", "status", "message"))
        body.append(f"<h2>Tests</h2><table><tr>{head}</tr>")
        for t in result["tests"]:
            status = t.get("status", "")
            body.append(
                f"<tr><td>{_e(t.get('exercise') or t.get('grade_id', ''))}</td>"
                f"<td>{_points(t.get('score'))} / {_points(t.get('points'))}</td>"
                f'<td class="{_e(status.replace(" ", "-"))}">{_e(status)}</td>'
                f"<td>{_e(t.get('message') or '')}</td></tr>"
            )
        body.append("</table>")
    if result.get("repairs"):
        body.append("<h2>Repairs made to your notebook before grading</h2><ul>")
        body += [f"<li>{_e(r)}</li>" for r in result["repairs"]]
        body.append("</ul>")
    if result.get("answers"):
        body.append("<h2>Your answers, as graded</h2>")
        for name, code in result["answers"].items():
            body.append(f"<h3>{_e(name)}</h3><pre><code>{_e(code)}</code></pre>")
    if result.get("manual"):
        body.append("<h2>Written answers (graded by a TA)</h2>")
        for m in result["manual"]:
            title = f"{_e(m.get('grade_id', ''))} ({_points(m.get('points'))} points)"
            body.append(f"<h3>{title}</h3><pre>{_e(m.get('answer') or '')}</pre>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(week)}: {_e(student)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_feedback(root: pathlib.Path, week: str) -> list[pathlib.Path]:
    """Write the page of every result of ``week``; return the pages' paths, sorted by student."""
    root = pathlib.Path(root)
    pages = []
    for result in load_results(root, week):
        student = str(result["student"])
        if not SAFE_ID.fullmatch(student):
            raise ValueError(f"not a usable student id in the results of {week}: {student!r}")
        page = root / "feedback" / student / week / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(render(result), encoding="utf-8")
        pages.append(page)
    return pages
