"""The process that runs ONE submission inside its sandbox (started by ``grader.sandbox``).

It reads a job (JSON on stdin), confines itself (``--strong``: a read-only file system,
private ``/tmp``, hidden course directories, its own ``/proc``; always: a private working
directory, memory/file-size limits), imports the course once, then executes the cells in
order and reports one line per cell on the result pipe.

Student code runs in this process, so the runner defends what the tests rely on:
before and after each tests cell it compares ``torch``/``numpy``/``math`` comparison
helpers, ``builtins``, ``sys.modules`` entries and every function of the ``course``
package (code objects included) with a snapshot taken before any student code ran,
restores what changed and reports a flag; a tests cell during which something was
tampered with scores zero. Result lines carry a per-job token that student code never
receives as an argument (reading it back needs frame or gc introspection, which the
coordinator flags in the source).
"""

from __future__ import annotations

import builtins
import io
import json
import os
import signal
import subprocess
import sys
import traceback
import types

MAX_TEXT = 4000  # characters of stdout/stderr/message kept per cell


class CellTimeout(BaseException):
    """Raised inside a cell that ran past the per-cell limit (a BaseException on purpose)."""


SCRATCH = "/dev/shm"  # always a mount point of its own on Linux, and never holds code


def _confine_strong(hide: list[str]) -> None:
    """Mount namespace set-up (we are PID 1 of fresh mount, PID and network namespaces)."""

    def mount(*args: str, required: bool = True) -> bool:
        done = subprocess.run(["mount", *args], capture_output=True)
        if required and done.returncode != 0:  # fail closed: no submission code runs
            raise RuntimeError(f"sandbox set-up failed: mount {' '.join(args)}: {done.stderr!r}")
        return done.returncode == 0

    mount("-t", "proc", "proc", "/proc")
    for path in hide:  # course directories, gradebook, solutions: replaced by empty ones
        if os.path.isdir(path):
            mount("-t", "tmpfs", "-o", "ro,size=4k,mode=000", "tmpfs", path)
        elif os.path.exists(path):
            mount("--bind", "/dev/null", path)
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    for point in points:  # everything read-only: packages, the repository, $HOME, /sys ...
        if point == "/proc" or point.startswith(("/proc/", "/dev")):
            continue
        mount("-o", "remount,bind,ro", point, required=point == "/")
    # The one writable place: a private tmpfs, gone when the sandbox ends. Not over /tmp,
    # which may hold the code itself (a clone or a virtual environment under /tmp).
    mount("-t", "tmpfs", "-o", "size=512m,mode=1777", "tmpfs", SCRATCH)


PIDS_V1 = "/sys/fs/cgroup/pids"


def join_pids_cgroup(name: str, limit: int) -> bool:
    """Put this process (and so all it starts) in a pids cgroup of at most ``limit`` tasks:
    one process too many makes ``fork`` fail inside the submission, and nothing else."""
    folder = os.path.join(PIDS_V1, name)
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "pids.max"), "w") as f:
            f.write(str(limit))
        with open(os.path.join(folder, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        return True
    except OSError:
        return False


def _drop_capabilities() -> None:
    """Root without capabilities: cannot unmount what hides the course, nor remount."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    libc.capset(header, data)


def _limit(memory_mb: int, file_mb: int) -> None:
    import resource

    def cap(which, value):
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, hard if hard != resource.RLIM_INFINITY else value))

    try:  # the address space already mapped (torch maps a lot) plus the allowance
        with open("/proc/self/statm") as f:
            baseline = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # no /proc (macOS): RLIMIT_AS is advisory there anyway
        baseline = 0
    cap(resource.RLIMIT_AS, baseline + memory_mb * 2**20)
    cap(resource.RLIMIT_FSIZE, file_mb * 2**20)
    cap(resource.RLIMIT_CORE, 0)


def _hidden_start_line(source: str) -> int | None:
    for number, line in enumerate(source.splitlines(), start=1):
        if "BEGIN HIDDEN TESTS" in line:
            return number
    return None


def _failing_line(tb, filename: str) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


_MISSING = object()


class _Guard:
    """Snapshot of what tests rely on; ``check()`` restores changes and names them."""

    def __init__(self, namespace: dict):
        import math

        import numpy
        import numpy.testing
        import torch
        import torch.testing

        self.attrs = []  # (owner, name, value or _MISSING)
        for owner, names in (
            (torch, ("allclose", "isclose", "equal", "eq", "all", "any", "abs", "max",
                     "isfinite", "isnan", "tensor", "as_tensor", "manual_seed", "no_grad")),
            (torch.testing, ("assert_close",)),
            (torch.Tensor, ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
                            "__bool__", "__float__", "item", "allclose", "equal", "all",
                            "any", "abs", "max", "tolist")),
            (numpy, ("allclose", "isclose", "array_equal", "all", "any", "abs")),
            (numpy.testing, ("assert_allclose", "assert_array_equal", "assert_equal")),
            (math, ("isclose", "isfinite", "isnan", "fabs")),
        ):
            for name in names:
                self.attrs.append((owner, name, vars(owner).get(name, _MISSING)))
        self.builtins = dict(vars(builtins))
        self.modules = {
            name: mod
            for name, mod in sys.modules.items()
            if name.split(".")[0] in ("course", "torch", "numpy", "math", "builtins")
        }
        self.course = []  # (owner, name, value, code, defaults): every course function/class
        for name, mod in sorted(sys.modules.items()):
            if name.split(".")[0] != "course" or mod is None:
                continue
            for attr, value in list(vars(mod).items()):
                if isinstance(value, (types.FunctionType, type, types.ModuleType)):
                    self._remember(mod, attr, value)
                if isinstance(value, type) and value.__module__ == name:
                    for key, item in list(vars(value).items()):
                        if isinstance(item, types.FunctionType):
                            self._remember(value, key, item)
        self.namespace = namespace
        self.bound: dict[str, object] = {}

    def _remember(self, owner, name, value) -> None:
        code = getattr(value, "__code__", None)
        self.course.append((owner, name, value, code, getattr(value, "__defaults__", None)))

    def bind(self, names: dict) -> None:
        """Remember the notebook names a trusted (source) cell bound."""
        self.bound.update(names)

    def check(self) -> list[str]:
        found = []
        for owner, name, value in self.attrs:
            if vars(owner).get(name, _MISSING) is not value:
                found.append(f"patched {getattr(owner, '__name__', owner)}.{name}")
                if value is _MISSING:
                    delattr(owner, name)
                else:
                    setattr(owner, name, value)
        current = vars(builtins)
        for name, value in self.builtins.items():
            if current.get(name, _MISSING) is not value:
                found.append(f"patched builtins.{name}")
                current[name] = value
        for name, mod in self.modules.items():
            if sys.modules.get(name) is not mod:
                found.append(f"replaced sys.modules[{name!r}]")
                sys.modules[name] = mod
        for owner, name, value, code, defaults in self.course:
            label = f"{getattr(owner, '__module__', '') if isinstance(owner, type) else ''}"
            label = f"{owner.__name__}.{name}" if not label else f"{label}.{owner.__name__}.{name}"
            if vars(owner).get(name, _MISSING) is not value:
                found.append(f"replaced {label}")
                setattr(owner, name, value)
            elif code is not None and value.__code__ is not code:
                found.append(f"rewrote the code of {label}")
                value.__code__ = code
            elif code is not None and value.__defaults__ != defaults:
                found.append(f"changed the defaults of {label}")
                value.__defaults__ = defaults
        for name, value in self.bound.items():
            if self.namespace.get(name, _MISSING) is not value:
                if isinstance(value, (types.ModuleType, types.FunctionType, type)):
                    found.append(f"rebound the notebook name {name!r}")
                self.namespace[name] = value
        return found


def _imports(preload=()) -> None:
    """The heavy imports, done once (before the fork, in a warm worker)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import torch  # noqa: F401
    from IPython.core.inputtransformer2 import TransformerManager  # noqa: F401

    import course.checks  # noqa: F401

    for name in preload:
        __import__(name)


def _enter(strong: bool, job: dict) -> None:
    """Confine this process and move into its private working directory."""
    if job.get("cgroup"):
        join_pids_cgroup(job["cgroup"], job.get("max_procs", 32) + 2)
    if strong:
        _confine_strong(job.get("hide", []))
        _drop_capabilities()
    work = os.path.join(SCRATCH, "submission") if strong else os.getcwd()
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    os.environ.update(HOME=work, TMPDIR=work, MPLCONFIGDIR=os.path.join(work, ".mpl"),
                      COURSE_FAST="1", MPLBACKEND="Agg", CUDA_VISIBLE_DEVICES="")
    sys.path[:] = [p for p in sys.path if p not in ("", ".", work)]  # no shadowing from cwd


def execute(job: dict, report) -> None:
    """Run the job's cells in order, calling ``report(**event)`` after each."""
    import matplotlib.pyplot as plt
    from IPython.core.inputtransformer2 import TransformerManager

    _imports(job.get("preload", []))
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    guard = _Guard(namespace)
    transform = TransformerManager().transform_cell
    compile_, exec_ = compile, exec
    _limit(job.get("memory_mb", 4096), job.get("file_mb", 64))
    cell_timeout = float(job.get("cell_timeout", 60))

    def on_alarm(signum, frame):
        raise CellTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    report(event="ready")

    for number, cell in enumerate(job["cells"]):
        kind, source = cell["kind"], cell["source"]
        filename = f"<cell {number}: {cell['id']}>"
        before = guard.check() if kind == "tests" else []
        out, err = io.StringIO(), io.StringIO()
        status, ename, evalue, line = "ok", None, None, None
        names_before = dict(namespace) if kind == "source" else None
        sys.stdout, sys.stderr = out, err
        try:
            code = compile_(transform(source), filename, "exec", flags=0, dont_inherit=True)
            signal.setitimer(signal.ITIMER_REAL, cell_timeout)
            try:
                exec_(code, namespace)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except CellTimeout:
            status, ename, evalue = "timeout", "CellTimeout", f"ran past {cell_timeout:g} s"
        except BaseException as error:  # SystemExit, KeyboardInterrupt and all the rest
            status, ename = "error", type(error).__name__
            evalue = str(error)[:MAX_TEXT]
            line = _failing_line(error.__traceback__, filename)
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            plt.close("all")
        after = guard.check() if kind in ("tests", "answer", "extra") else []
        if names_before is not None:
            guard.bind({k: v for k, v in namespace.items()
                        if names_before.get(k, _MISSING) is not v})
        hidden_from = _hidden_start_line(source) if kind == "tests" else None
        report(
            event="cell", id=cell["id"], kind=kind, status=status, ename=ename, evalue=evalue,
            hidden=bool(line and hidden_from and line >= hidden_from),
            tampered=before + after if kind == "tests" else after,
            stdout=out.getvalue()[:MAX_TEXT], stderr=err.getvalue()[:MAX_TEXT],
        )
    report(event="done")




def main() -> int:
    """Cold start: one process per submission (``grader.sandbox`` wraps it in ``unshare``)."""
    out_fd = int(sys.argv[sys.argv.index("--fd") + 1])
    job = json.loads(sys.stdin.read())  # the token arrives before any submission code runs
    sys.stdin.close()
    token = job.pop("token")
    results = os.fdopen(out_fd, "w", buffering=1)

    def report(**event) -> None:
        results.write(token + " " + json.dumps(event) + "\n")

    _enter("--strong" in sys.argv, job)
    execute(job, report)
    results.close()
    return 0


CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
PR_SET_CHILD_SUBREAPER = 36


def _child(job: dict, token: str, out_fd: int) -> None:
    """In a fork of the warm worker: confine, run one job, and never return."""
    import ctypes

    code = 0
    try:
        os.setsid()
        libc = ctypes.CDLL(None, use_errno=True)
        strong = job.get("isolation") == "strong"
        if strong:
            if libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare failed")
            pid = os.fork()  # the grandchild is PID 1 of the new PID namespace
            if pid:
                _, status = os.waitpid(pid, 0)
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
            if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
                raise OSError(ctypes.get_errno(), "making mounts private failed")
        else:
            libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans stay ours, to be killed
        results = os.fdopen(os.dup(out_fd), "w", buffering=1)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)

        def report(**event) -> None:
            results.write(token + " " + json.dumps(event) + "\n")

        _enter(strong, job)
        execute(job, report)
        results.flush()
        if not strong:
            import psutil

            for proc in psutil.Process().children(recursive=True):
                proc.kill()
    except BaseException:
        code = 70
    os._exit(code)


def serve() -> int:
    """Warm worker: import once, then fork one confined child per job read from stdin."""
    _imports([f"course.checks.{m}" for m in ("autoencoders", "vae", "gan", "wgan", "metrics",
                                                 "diffusion", "stylegan", "cyclegan", "flows")
              if _exists(f"course.checks.{m}")])
    out_fd = os.dup(1)
    sys.stdout = open(os.devnull, "w")
    for line in sys.stdin:
        job = json.loads(line)
        token = job.pop("token")
        pid = os.fork()
        if pid == 0:
            _child(job, token, out_fd)
        _, status = os.waitpid(pid, 0)
        os.write(out_fd, (token + " " + json.dumps(
            {"event": "exit", "status": os.waitstatus_to_exitcode(status)}) + "\n").encode())
    return 0


def _exists(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(serve() if "--serve" in sys.argv else main())
