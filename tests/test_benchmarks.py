"""The benchmark drivers report what happened: finished, stopped at the limit, or failed.

Timing itself is never asserted (benchmarks/ measures, tests do not).
"""

from __future__ import annotations

import importlib.util
import pathlib

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def full_mode():
    return _load("full_mode")


def _notebook(tmp_path, *sources: str) -> pathlib.Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def test_full_mode_runs_without_fast_mode_and_keeps_quality_lines(full_mode, tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    path = _notebook(
        tmp_path,
        "import os\nprint('fast flag:', os.environ.get('COURSE_FAST'))",
        "print('course.data: MNIST (train) is not used because offline; using digits instead.')",
        "for e in range(3):\n    print(f'epoch {e}: FID {30 - 10 * e:.2f}')\nprint('noise line')",
    )
    r = full_mode.run_notebook(path, 60, "toy")
    assert r["finished"] and r["error"] is None and r["stopped_in"] is None
    assert r["data"].startswith("offline: course.data: MNIST (train)")
    assert r["quality"] == ["epoch 0: FID 30.00", "epoch 1: FID 20.00", "epoch 2: FID 10.00"]
    text = full_mode.report(r)
    assert text.startswith("toy: finished in") and "| epoch 2: FID 10.00" in text


def test_full_mode_reports_where_it_stopped_and_why_it_failed(full_mode, tmp_path):
    # 12 s leave room for a slow kernel start on a busy machine; the cell would sleep 120 s
    slow = _notebook(tmp_path, "print('FID 99')", "import time\ntime.sleep(120)", "print('never')")
    r = full_mode.run_notebook(slow, 12, "slow")
    assert not r["finished"] and r["stopped_in"] == (2, 3, "import time") and r["seconds"] < 60
    assert r["quality"] == ["FID 99"] and "in code cell 2/3 (not finished)" in full_mode.report(r)

    broken = _notebook(tmp_path, "x = 1", "raise ValueError('diverged')", "print('never')")
    r = full_mode.run_notebook(broken, 60, "broken")
    assert not r["finished"] and "cell 2/3" in r["error"] and "diverged" in r["error"]
    assert "FAILED" in full_mode.report(r)


def test_run_all_refreshes_only_the_named_sections(tmp_path, monkeypatch):
    run_all = _load("run_all")
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    (tmp_path / "benchmarks").mkdir()
    table = run_all.benchmarks(quick=False, full_limit_min=60)
    old = {name: f"## {title}\n\nold {name}\n" for name, (title, _) in table.items()}
    (tmp_path / "benchmarks" / "RESULTS.md").write_text(
        "# Benchmark results\n\nheader\n\n" + "\n".join(old.values()) + "\n## Retired\n\nx\n")
    calls = []
    monkeypatch.setattr(run_all, "_run", lambda title, cmd, hw: calls.append(cmd) or f"## {title}\n\nnew\n")
    monkeypatch.setattr("sys.argv", ["run_all.py", "--only", "frechet,suite"])
    run_all.main()
    text = (tmp_path / "benchmarks" / "RESULTS.md").read_text()
    assert calls == [table["frechet"][1], table["suite"][1]]
    assert "old frechet" not in text and "old suite" not in text and text.count("\nnew\n") == 2
    assert "old autograde" in text and "old full-mode" in text and "Retired" not in text
    assert text.index("Fréchet") < text.index("FAST mode") < text.index("test suite")
    monkeypatch.setattr("sys.argv", ["run_all.py", "--only", "nosuch"])
    with pytest.raises(SystemExit):
        run_all.main()


def test_full_mode_shortens_runs_of_per_epoch_lines(full_mode):
    lines = ["real vs real: FID 3.1"] + [f"epoch {i}: FID {90 - i:.2f}" for i in range(1, 21)]
    lines += ["moons: log-lik -1.2", "8gaussians: log-lik 0.1"]
    assert full_mode._shorten(lines) == [
        "real vs real: FID 3.1", "epoch 1: FID 89.00", "epoch 2: FID 88.00", "...",
        "epoch 19: FID 71.00", "epoch 20: FID 70.00", "moons: log-lik -1.2",
        "8gaussians: log-lik 0.1"]
