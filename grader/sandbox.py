"""Run one submission's cells in an isolated process and collect its per-cell results.

``run(job)`` starts ``python -m grader.runner`` and watches it from outside:

* **strong** isolation (Linux, when ``unshare`` may create namespaces, e.g. as root in a
  container): fresh mount, PID and network namespaces. Inside, the file system is
  read-only, ``/tmp`` is private, the course directories (submissions, gradebook,
  solutions) are hidden, there is no network, and when the runner ends every process it
  left behind dies with its PID namespace.
* **basic** isolation elsewhere: a private working directory, its own session, and the
  limits below; what the submission may read or write is then only what the TA's user may.

Always: a memory limit (``RLIMIT_AS``), a file-size limit, a per-cell timeout (inside),
a wall-time limit per submission and a process-count limit (both enforced from outside:
the whole process tree is killed), and a cap on what comes back. Results travel on a
private pipe, one line per cell, prefixed by a per-job token.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psutil

MAX_RESULT_BYTES = 2_000_000


@functools.lru_cache(maxsize=1)
def isolation() -> str:
    """``"strong"`` when namespaces are available here, else ``"basic"``."""
    if os.environ.get("COURSE_GRADER_ISOLATION") == "basic" or not sys.platform.startswith("linux"):
        return "basic"
    unshare = shutil.which("unshare")
    if not unshare or not os.path.isdir("/dev/shm"):
        return "basic"
    probe = [unshare, "--mount", "--pid", "--net", "--fork", "--propagation", "private",
             "sh", "-c", "mount -t tmpfs tmpfs /dev/shm && mount -o remount,bind,ro / && echo ok"]
    try:
        out = subprocess.run(probe, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "basic"
    return "strong" if out.stdout.strip() == "ok" else "basic"


def _command(fd: int, mode: str) -> list[str]:
    runner = [sys.executable, "-m", "grader.runner", "--fd", str(fd)]
    if mode == "strong":
        return ["unshare", "--mount", "--pid", "--net", "--fork", "--kill-child",
                "--propagation", "private", *runner, "--strong"]
    return runner


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        family = []
    for p in [*family]:
        try:
            p.kill()
        except psutil.Error:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        proc.kill()
    except OSError:
        pass


class _Warm:
    """A warm worker (``python -m grader.runner --serve``): torch and the course are imported
    once; each job runs in a fresh fork of it, confined before any submission code runs."""

    def __init__(self) -> None:
        self.work = tempfile.mkdtemp(prefix="course-warm-")
        os.chmod(self.work, 0o700)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grader.runner", "--serve"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self.work,
            env=_environment(self.work), start_new_session=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.put(raw[:MAX_RESULT_BYTES])
        self.lines.put(None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def family(self) -> list:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    def close(self) -> None:
        for p in self.family():
            _kill(p)
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)


_WARM: _Warm | None = None
_WARM_LOCK = threading.Lock()


def _warm() -> _Warm:
    global _WARM
    if _WARM is None or not _WARM.alive():
        _WARM = _Warm()
        atexit.register(_WARM.close)
    return _WARM


def prewarm() -> None:
    """Start this process's warm worker now; it imports torch in the background, so the
    first job does not wait for it (a Dask worker calls this while the self-test runs)."""
    with _WARM_LOCK:
        _warm()


def _environment(work: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "JPY_", "COURSE_"))}
    env.update(COURSE_FAST="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONNOUSERSITE="1",
               HOME=work, TMPDIR=work, PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    return env


def _kill(p) -> None:
    try:
        p.kill()
    except (psutil.Error, OSError):
        pass


def run(job: dict, *, wall_s: float = 300.0, max_procs: int = 32, mode: str | None = None,
        warm: bool = True) -> dict:
    """Execute ``job`` (see ``grader.runner``) in a sandbox; returns the collected events.

    ``warm`` forks the job from a worker that imported torch and the course already
    (seconds saved per submission); ``warm=False`` starts a fresh interpreter.
    The result: ``{"cells": {cell id: event}, "reason": None or why it stopped early,
    "isolation": mode, "time_s": seconds, "forged": [cell ids]}``.
    """
    mode = mode or isolation()
    token = secrets.token_hex(16)
    start = time.perf_counter()
    cgroup = f"course-grader-{token[:16]}" if _pids_cgroups() else None
    job = dict(job, cgroup=cgroup, max_procs=max_procs)
    try:
        events, reason = _dispatch(job, token, mode, wall_s, max_procs, warm)
    finally:
        if cgroup:
            _remove_cgroup(cgroup)
    cells, forged, finished = {}, [], False
    for event in events:
        if event.get("event") == "cell":
            if event["id"] in cells:
                forged.append(event["id"])
                cells[event["id"]]["forged"] = True
            else:
                cells[event["id"]] = event
        elif event.get("event") == "done":
            finished = True
    if reason is None and not finished:
        reason = _exit_reason(events[-1].get("status") if events and "status" in events[-1]
                              else None)
    return {"cells": cells, "reason": reason, "isolation": mode, "forged": forged,
            "time_s": time.perf_counter() - start}


def _dispatch(job, token, mode, wall_s, max_procs, warm):
    # Past the cgroup's limit fork fails inside the submission; this is the backstop.
    backstop = max_procs + 4
    if warm:
        with _WARM_LOCK:
            return _run_warm(dict(job, token=token, isolation=mode), token, wall_s, backstop)
    return _run_cold(dict(job, token=token), token, mode, wall_s, backstop)


@functools.lru_cache(maxsize=1)
def _pids_cgroups() -> bool:
    """Whether this process may create pids cgroups (cgroup v1, as root)."""
    from grader.runner import PIDS_V1

    probe = os.path.join(PIDS_V1, f"course-grader-probe-{os.getpid()}")
    try:
        os.mkdir(probe)
        os.rmdir(probe)
        return True
    except OSError:
        return False


def _remove_cgroup(name: str) -> None:
    from grader.runner import PIDS_V1

    folder = os.path.join(PIDS_V1, name)
    for _ in range(50):  # its processes are being killed; rmdir succeeds once it is empty
        try:
            os.rmdir(folder)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def _parse(raw: bytes, token: str) -> dict | None:
    prefix, _, payload = raw.decode("utf-8", "replace").strip().partition(" ")
    if prefix != token:
        return None  # not from the runner: submission code never receives the token
    try:
        return json.loads(payload)
    except json.JSONDecodeError:
        return None


def _limits_hit(start, wall_s, family, max_procs, received, extra=0) -> str | None:
    if time.perf_counter() - start > wall_s:
        return f"stopped after the wall-time limit of {wall_s:g} s"
    if received > MAX_RESULT_BYTES:
        return f"sent more than {MAX_RESULT_BYTES // 1_000_000} MB of output"
    if len(family) > max_procs + extra:
        return f"stopped: started more than {max_procs} processes"
    return None


def _run_warm(job: dict, token: str, wall_s: float, max_procs: int):
    worker = _warm()
    start = time.perf_counter()
    worker.proc.stdin.write((json.dumps(job) + "\n").encode())
    worker.proc.stdin.flush()
    events, reason, received = [], None, 0
    while True:
        try:
            raw = worker.lines.get(timeout=0.05)
        except queue.Empty:
            raw = b""
        if raw is None:  # the warm worker itself died: start a new one next time
            reason = reason or "the grading process died"
            break
        if raw:
            received += len(raw)
            event = _parse(raw, token)
            if event is not None:
                if event.get("event") == "exit":
                    events.append(event)
                    break
                events.append(event)
        if reason is None:
            # the forked child (and, when strong, its PID-1 grandchild) are not the student's
            reason = _limits_hit(start, wall_s, worker.family(), max_procs, received, extra=2)
            if reason:
                for p in worker.family():
                    _kill(p)
    return events, reason


def _run_cold(job: dict, token: str, mode: str, wall_s: float, max_procs: int):
    read_fd, write_fd = os.pipe()
    work = tempfile.mkdtemp(prefix="course-sandbox-")
    os.chmod(work, 0o700)
    start = time.perf_counter()
    proc = subprocess.Popen(
        _command(write_fd, mode), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, pass_fds=(write_fd,), cwd=work, env=_environment(work),
        start_new_session=True,
    )
    os.close(write_fd)
    lines: queue.Queue = queue.Queue()

    def reader() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in iter(pipe.readline, b""):
                lines.put(raw[:MAX_RESULT_BYTES])

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    raws: list[bytes] = []
    reason = None
    while proc.poll() is None and reason is None:
        time.sleep(0.05)
        try:
            family = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            family = []
        while not lines.empty():
            raws.append(lines.get())
        reason = _limits_hit(start, wall_s, family, max_procs, sum(map(len, raws)), extra=2)
    _kill_tree(proc)
    proc.wait()
    thread.join(timeout=5)
    shutil.rmtree(work, ignore_errors=True)
    while not lines.empty():
        raws.append(lines.get())
    events = [e for e in (_parse(r, token) for r in raws) if e is not None]
    events.append({"event": "exit", "status": proc.returncode})
    return events, reason


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the notebook process was killed by signal {-code}"
    return f"the notebook process exited early (exit code {code}): os._exit or a crash"
