"""Export: the week's grades as a CSV for the TA, and a PNG of how the class did.

Both read the coordinator's results, ``root/grades/<week>/<student>.json``.
"""

from __future__ import annotations

import csv
import json
import pathlib

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

COLUMNS = [
    "student", "week", "score", "max_score", "percent",
    "status", "reason", "flags", "repairs", "time_s",
]  # fmt: skip


def load_results(root: pathlib.Path, week: str) -> list[dict]:
    """Every result of ``week``, sorted by student; a clear error for a missing or broken file."""
    folder = pathlib.Path(root) / "grades" / week
    if not folder.is_dir():
        raise FileNotFoundError(f"no results for {week}: {folder} does not exist")
    results = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not a valid result file: {err}") from err
        data.setdefault("student", path.stem)
        results.append(data)
    return sorted(results, key=lambda r: r["student"])


def _number(x: float | None, digits: int = 2) -> str:
    """12.0 -> '12', 12.5 -> '12.5', None -> ''."""
    return "" if x is None else f"{round(float(x), digits):g}"


def _text(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection): '=cmd' -> "'=cmd"."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def percent(result: dict) -> float | None:
    """Score as a percentage of the maximum, or None when the maximum is unknown or zero."""
    top = result.get("max_score") or 0
    return None if top <= 0 else 100.0 * (result.get("score") or 0) / top


def export_csv(root: pathlib.Path, week: str, path: pathlib.Path) -> list[list[str]]:
    """Write one row per student (sorted) to ``path``; return the rows written, header first."""
    rows = [COLUMNS]
    for r in load_results(root, week):
        rows.append([
            r["student"], r.get("week", week), _number(r.get("score") or 0),
            _number(r.get("max_score")), _number(percent(r), 1), r.get("status", ""),
            _text(r.get("reason") or ""), _text(" | ".join(r.get("flags") or [])),
            _text(" | ".join(r.get("repairs") or [])), _number(r.get("time_s"), 1),
        ])  # fmt: skip
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return rows


def pass_rates(results: list[dict]) -> dict[str, float]:
    """Per exercise, the fraction of all students (rejected ones included) who passed every
    test of it; sorted from the hardest exercise to the easiest, ties by name."""
    passed: dict[str, int] = {}
    for r in results:
        ok: dict[str, bool] = {}
        for t in r.get("tests") or []:
            name = t.get("exercise") or t.get("grade_id", "?")
            ok[name] = ok.get(name, True) and t.get("status") == "passed"
        for name, good in ok.items():
            passed[name] = passed.get(name, 0) + good
    rates = {name: n / len(results) for name, n in passed.items()}
    return dict(sorted(rates.items(), key=lambda kv: (kv[1], kv[0])))


def report_png(root: pathlib.Path, week: str, path: pathlib.Path) -> dict:
    """Save the score histogram and the pass rate of each exercise to ``path`` (PNG).

    Returns what was plotted: ``{"percents": [...], "pass_rates": {exercise: rate}}``.
    """
    results = load_results(root, week)
    if not results:
        raise ValueError(f"no results for {week}")
    percents = [p if (p := percent(r)) is not None else 0.0 for r in results]
    rates = pass_rates(results)
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    hist, bars = fig.subplots(1, 2, width_ratios=(1, 1.3))
    hist.hist(percents, bins=range(0, 101, 10), color="tab:blue", edgecolor="white")
    title = f"{week}: scores of {len(results)} students"
    hist.set(xlim=(0, 100), xlabel="score (%)", ylabel="students", title=title)
    hist.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole students
    bars.barh(list(rates), [100 * v for v in rates.values()], color="tab:orange")
    bars.set(xlim=(0, 100), xlabel="students who passed (%)", title="pass rate per exercise")
    bars.invert_yaxis()  # the hardest exercise on top
    fig.savefig(path, format="png", dpi=100)
    return {"percents": percents, "pass_rates": rates}
