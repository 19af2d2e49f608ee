"""The README's two commands, the CI script that runs them, and the grader's command line."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

from grader.__main__ import main
from grader.pipeline import GraderError, resolve_weeks

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _command(marker: str) -> str:
    block = README.split(f"<!-- {marker} -->", 1)[1]
    return next(line for line in block.splitlines() if line.startswith("python "))


def test_readme_has_exactly_two_setup_commands():
    commands = re.findall(r"^python -m pip install .*$", README, flags=re.M)
    assert len(commands) == 2
    main_cmd, test_cmd = _command("main-command"), _command("test-command")
    assert set(commands) == {main_cmd, test_cmd}
    assert "torch==" in main_cmd and "torch==" in test_cmd  # pinned here, not in pyproject
    assert "jupyterlab notebooks/01_autoencoders/01_autoencoders.ipynb" in main_cmd
    assert test_cmd.split(" && ")[1].startswith("python -m pytest")


def test_ci_runs_the_readme_test_command_and_fails_on_no_tests(tmp_path):
    # Run .ci/run's extraction on a copy whose "test command" collects nothing: exit 5 -> 1.
    ci = (ROOT / ".ci" / "run").read_text()
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_text(ci)
    (tmp_path / "README.md").write_text(
        f"<!-- test-command -->\n```bash\npython -m pytest -q -p no:cacheprovider {tmp_path}/empty\n```\n"
    )
    (tmp_path / "empty").mkdir()
    proc = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "collected no tests" in proc.stderr
    assert f"CI: python -m pytest -q -p no:cacheprovider {tmp_path}/empty" in proc.stdout


def test_pyproject_does_not_pin_torch_exactly():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"torch>=' in pyproject and "torch==" not in pyproject


def test_unknown_week_is_a_clear_error(capsys):
    with pytest.raises(GraderError, match="unknown week '09_nope'"):
        resolve_weeks("09_nope")
    assert main(["release", "09_nope"]) == 1
    assert "unknown week" in capsys.readouterr().err
    assert resolve_weeks("all")[0] == "01_autoencoders"


def test_grader_help_runs_without_activating_an_environment():
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0 and "release" in proc.stdout


def test_nbgrader_finds_alembic_without_an_activated_environment(tmp_path, monkeypatch):
    """nbgrader shells out to `alembic` when it creates a gradebook: the pipeline must put
    this interpreter's bin/ on PATH itself (NBGRADER_NOTES.md)."""
    from grader.pipeline import generate

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    path = generate("01_autoencoders", out=tmp_path)
    assert path.is_file()
