"""The machinery every week's checks share.

A check runs the student's function on seeded inputs (several shapes, float32
and float64, the CPU and the current accelerator), compares the result with the
reference at a stated tolerance, and on failure raises an ``AssertionError``
whose message names the likely mistake. Three ideas carry it:

* **Locked references.** While the student's code runs, every reference it might
  lean on is unusable: its ``__code__`` is swapped for one that records the call
  and raises. Swapping the code object reaches every name bound to the function,
  including ``from course.vae import reparameterize as r`` done long before.
* **Known mistakes.** A check lists realistic wrong implementations. When the
  student's output matches one of them, the message names that mistake instead
  of printing a bare tolerance failure.
* **Behaviour, not route.** Outputs, shapes, dtypes, devices and gradients are
  judged; any correct formula passes.
"""

from __future__ import annotations

import ast
import contextlib
import dis
import inspect
import textwrap
import threading
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from course.runtime import device as _best_device

DTYPES = (torch.float32, torch.float64)
# Tolerances by dtype: float32 round-off on sums of a few thousand terms, float64 much tighter.
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-11)}


class ReferenceCalledError(AssertionError):
    """Raised when a locked reference implementation is called by the student's code."""


@dataclass(frozen=True)
class Mistake:
    """A realistic wrong implementation and the lesson to print when it is recognised."""

    message: str
    fn: Callable


# ----------------------------------------------------------------------------------------
# Locking references
# ----------------------------------------------------------------------------------------

_lock_state = threading.local()


def _calls() -> list[str]:
    if not hasattr(_lock_state, "calls"):
        _lock_state.calls = []
    return _lock_state.calls


def _on_reference_call(qualname: str) -> None:
    """Body of every locked reference: remember the call, then refuse."""
    _calls().append(qualname)
    raise ReferenceCalledError(_reference_message(qualname))


def _reference_message(qualname: str) -> str:
    return (
        f"your implementation called the course's reference `{qualname}`. The check compares "
        "your own code with the reference, so the reference is switched off while your "
        "function runs: write the computation yourself."
    )


def _blocked(*args, **kwargs):  # pragma: no cover - its code object is what we use
    # Runs with the *reference's* globals: reach every module through __import__
    # (a local `import sys` reads as a duplicate to linters, which delete it).
    _core = __import__("course.checks._core", fromlist=["_core"])
    _core._on_reference_call(__import__("sys")._getframe().f_code.co_name)


_BLOCKED_CODES: dict[tuple[str, ...], types.CodeType | None] = {(): _blocked.__code__}


def _blocked_code(freevars: tuple[str, ...]) -> types.CodeType | None:
    """A blocked body with the same free variables as the function it replaces.

    A code object may only be swapped for one with the same closure layout; methods
    that call ``super()`` carry a ``__class__`` cell, for instance.
    """
    if freevars not in _BLOCKED_CODES:
        names = ", ".join(freevars)
        source = (
            "def _outer():\n"
            + "".join(f"    {v} = None\n" for v in freevars)
            + "    def _blocked(*args, **kwargs):\n"
            + f"        ({names},)\n"
            + "        import sys\n"
            + "        from course.checks import _core\n"
            + "        _core._on_reference_call(sys._getframe().f_code.co_name)\n"
            + "    return _blocked\n"
        )
        namespace: dict = {}
        exec(compile(source, __file__, "exec"), namespace)
        code = namespace["_outer"]().__code__
        _BLOCKED_CODES[freevars] = code if code.co_freevars == freevars else None
    return _BLOCKED_CODES[freevars]


def _functions_of(obj) -> list:
    """The plain Python functions behind a reference: a function, a class's own methods,
    or everything a ``course`` module defines."""
    if inspect.ismodule(obj):
        found = []
        for value in vars(obj).values():
            if getattr(value, "__module__", None) == obj.__name__ and (
                inspect.isfunction(value) or inspect.isclass(value)
            ):
                found.extend(_functions_of(value))
        return found
    if inspect.isfunction(obj):
        return [obj]
    if inspect.isclass(obj):
        found = []
        for klass in obj.__mro__:
            if klass.__module__.startswith("course."):
                for value in vars(klass).values():
                    value = getattr(value, "__func__", value)  # static/class methods
                    if inspect.isfunction(value):
                        found.append(value)
        return found
    if inspect.ismethod(obj):
        return [obj.__func__]
    raise TypeError(f"cannot lock {obj!r}: expected a function or a class")


@contextlib.contextmanager
def references_locked(*references) -> Iterator[list[str]]:
    """Within the block, calling any of ``references`` records the call and raises.

    Yields the list of recorded calls, so a call swallowed by the student's own
    ``try/except`` is still seen afterwards.
    """
    originals = {}
    for ref in references:
        for func in _functions_of(ref):
            blocked = _blocked_code(func.__code__.co_freevars)
            if func in originals or blocked is None:
                continue
            originals[func] = func.__code__
            # co_name carries the full name for the message (co_qualname is 3.11+ only).
            func.__code__ = blocked.replace(co_name=f"{func.__module__}.{func.__qualname__}")
    calls = _calls()
    start = len(calls)
    recorded: list[str] = []
    try:
        yield recorded
    finally:
        for func, code in originals.items():
            func.__code__ = code
        recorded.extend(calls[start:])
        del calls[start:]


def call_student(
    fn: Callable,
    args=(),
    kwargs=None,
    *,
    references=(),
    case: str = "",
    hints: dict[str, str] | None = None,
):
    """Call ``fn(*args, **kwargs)`` with every reference locked; fail if it leaned on one.

    Any exception the student's code raises becomes an ``AssertionError`` saying
    on which inputs it happened, so the student sees the case, not just a traceback;
    ``hints`` maps a phrase of such an error to the likely mistake to add.
    """
    name = getattr(fn, "__name__", "your function")
    with references_locked(*references) as recorded:
        try:
            out = fn(*args, **(kwargs or {}))
        except ReferenceCalledError:
            raise
        except NotImplementedError as err:
            raise AssertionError(
                f"{name} raises NotImplementedError: replace `raise NotImplementedError()` "
                "with your implementation first."
            ) from err
        except Exception as err:
            if recorded:
                break_out = ReferenceCalledError(_reference_message(recorded[0]))
                raise break_out from err
            message = f"{name} raised {type(err).__name__}: {err}{where(case)}"
            for phrase, hint in (hints or {}).items():  # known error text -> the likely mistake
                if phrase in message:
                    message = f"{message} {hint}"
                    break
            raise AssertionError(message) from err
    if recorded:
        raise ReferenceCalledError(_reference_message(recorded[0]))
    return out


def caller(*references, default_hints: dict[str, str] | None = None) -> Callable:
    """``call_student`` with ``references`` locked, for one check module: its ``_call``."""

    def _call(fn, args=(), kwargs=None, *, case: str = "", hints: dict[str, str] | None = None):
        return call_student(fn, args, kwargs, references=list(references), case=case,
                            hints=hints or default_hints)

    return _call


def _normalised_source_tree(obj) -> str | None:
    """The AST of a function or class with names and docstrings stripped, or None."""
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.name = "_"
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


# Instructions the compiler picks by context for the same source.
_JUMPS = set(dis.hasjrel) | set(dis.hasjabs)
_SAME_OP = {"LOAD_METHOD": "LOAD_ATTR", "CALL_METHOD": "CALL", "CALL_FUNCTION": "CALL"}


def _instructions(code: types.CodeType) -> list:
    """A code object's instructions by name and value, blind to how they were compiled
    (line numbers, cache entries and constant-table order differ between a module and an
    ``exec`` of the same source)."""
    out = []
    for ins in dis.get_instructions(code):
        value = ins.argval
        if isinstance(value, types.CodeType):
            value = tuple(_instructions(value))
        elif ins.opcode in _JUMPS or not isinstance(
            value, (str, int, float, bool, type(None), tuple, frozenset)
        ):
            value = None  # jump targets (FOR_ITER too): offsets differ with the layout
        if ins.opname in ("CACHE", "RESUME", "NOP", "EXTENDED_ARG", "PRECALL", "PUSH_NULL"):
            continue
        name = _SAME_OP.get(ins.opname, ins.opname)
        out.append((name, value))
    return out


def _same_code(a, b) -> bool:
    """Whether two code objects run the same instructions on the same names and constants."""
    if not isinstance(a, types.CodeType) or not isinstance(b, types.CodeType):
        return False
    if a.co_code == b.co_code and a.co_consts == b.co_consts:
        return True
    return a.co_varnames == b.co_varnames and _instructions(a) == _instructions(b)


def _distinctive(reference) -> bool:
    """Whether a verbatim match with ``reference`` can only be a copy: its body has at
    least four statements or a string constant of its own (an error message, say)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(reference)))
    except (OSError, TypeError, SyntaxError):
        return False
    statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(n) is not None
    }
    strings = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and len(n.value) > 20
        and id(n) not in docstrings
    ]
    return len(statements) - len(docstrings) >= 5 or bool(strings)


def assert_not_reference(fn, reference) -> None:
    """Refuse the reference itself, a subclass of it, or a verbatim copy of its code."""
    message = (
        "this is the course's reference implementation, not your own. Write the function "
        "yourself; the check exists to tell you whether your version is right."
    )
    if fn is reference or getattr(fn, "__wrapped__", None) is reference:
        raise AssertionError(message)
    if inspect.isclass(fn) and inspect.isclass(reference) and issubclass(fn, reference):
        raise AssertionError(message)
    # Compare bodies, not decorators: every @torch.no_grad() function shares the wrapper's code.
    try:
        fn, reference = inspect.unwrap(fn), inspect.unwrap(reference)
    except ValueError:  # a __wrapped__ cycle: nothing to compare
        return
    if not _distinctive(reference):
        return  # so short that an honest student may write it token for token
    if _same_code(getattr(fn, "__code__", None), getattr(reference, "__code__", None)):
        raise AssertionError(message)
    if inspect.isclass(fn) and inspect.isclass(reference):
        # A pasted copy of the class: every method the reference defines, copied verbatim.
        ref_methods = {n: f for n, f in vars(reference).items() if inspect.isfunction(f)}
        mine_methods = {n: f for n, f in vars(fn).items() if inspect.isfunction(f)}
        if ref_methods and all(
            n in mine_methods
            and (
                _same_code(mine_methods[n].__code__, f.__code__)
                or _normalised_source_tree(mine_methods[n]) == _normalised_source_tree(f)
            )
            for n, f in ref_methods.items()
        ):
            raise AssertionError(message)
    mine = _normalised_source_tree(fn)
    if mine is not None and mine == _normalised_source_tree(reference):
        raise AssertionError(message)


# ----------------------------------------------------------------------------------------
# Devices, inputs and comparisons
# ----------------------------------------------------------------------------------------


def devices() -> list[torch.device]:
    """The CPU, plus the current accelerator when there is one."""
    found = [torch.device("cpu")]
    best = _best_device()
    if best.type != "cpu":
        found.append(best)
    return found


def dtypes_for(dev: torch.device) -> Sequence[torch.dtype]:
    """float32 and float64, except on MPS, which has no float64."""
    return (torch.float32,) if dev.type == "mps" else DTYPES


def cases():
    """The (device, dtype) pairs every check runs on: float32 and float64 on every device."""
    for dev in devices():
        for dtype in dtypes_for(dev):
            yield dev, dtype


def seeded(seed: int) -> torch.Generator:
    """A private CPU generator: checks never touch the global RNG."""
    return torch.Generator().manual_seed(seed)


def keep_student_rng():
    """A context in which a check may seed and draw freely: on exit the CPU and every CUDA
    random state are as the student left them (their own seeds stay as they were)."""
    return torch.random.fork_rng(devices=list(range(torch.cuda.device_count())))


def randn(*shape: int, seed: int, dtype=torch.float32, dev=None) -> torch.Tensor:
    """Seeded standard normal numbers, made on the CPU then moved (identical on every device)."""
    return torch.randn(*shape, generator=seeded(seed), dtype=torch.float64).to(dev or "cpu", dtype)


def rand(*shape: int, seed: int, dtype=torch.float32, dev=None) -> torch.Tensor:
    """Seeded uniform numbers in [0, 1)."""
    return torch.rand(*shape, generator=seeded(seed), dtype=torch.float64).to(dev or "cpu", dtype)


def where(case: str) -> str:
    """A short suffix naming the inputs that failed, for messages."""
    return f" (failed on {case})" if case else ""


def assert_tensor(out, like: torch.Tensor, name: str, case: str = "", shape=None) -> None:
    """``out`` is a tensor with ``like``'s dtype and device, and the expected shape."""
    if not isinstance(out, torch.Tensor):
        raise AssertionError(
            f"{name} should return a torch.Tensor, got {type(out).__name__}{where(case)}."
            + (" Did you forget a `return`?" if out is None else "")
        )
    expected_shape = tuple(like.shape if shape is None else shape)
    if tuple(out.shape) != expected_shape:
        raise AssertionError(
            f"{name} returned shape {tuple(out.shape)}, expected {expected_shape}{where(case)}."
        )
    if out.dtype != like.dtype:
        raise AssertionError(
            f"{name} returned dtype {out.dtype} for {like.dtype} input{where(case)}: keep the "
            "input's dtype (build new tensors with *_like or dtype=x.dtype, not a fixed dtype)."
        )
    if out.device.type != like.device.type:
        raise AssertionError(
            f"{name} returned a tensor on {out.device} for input on {like.device}{where(case)}: "
            "create new tensors on the input's device (torch.randn_like, device=x.device)."
        )


def close(a: torch.Tensor, b: torch.Tensor, dtype=None) -> bool:
    """Whether ``a`` and ``b`` agree at the tolerance of ``dtype`` (default: ``b``'s)."""
    if not isinstance(a, torch.Tensor) or a.shape != b.shape:
        return False
    tol = TOL.get(dtype or b.dtype, TOL[torch.float32])
    a64 = a.detach().to("cpu", torch.float64)
    b64 = b.detach().to("cpu", torch.float64)
    return bool(torch.allclose(a64, b64, **tol, equal_nan=False))


def diagnose(got, mistakes: Iterable[Mistake], *args, **kwargs) -> str | None:
    """The message of the first known mistake whose output matches ``got``, else None."""
    for mistake in mistakes:
        try:
            wrong = mistake.fn(*args, **kwargs)
        except Exception:  # a mistake that cannot run on these inputs is simply not it
            continue
        if isinstance(wrong, torch.Tensor) and close(got, wrong):
            return mistake.message
    return None


def mismatch_message(name: str, got: torch.Tensor, expected: torch.Tensor, case: str) -> str:
    error = (got.detach().double().cpu() - expected.detach().double().cpu()).abs()
    return (
        f"{name} returned wrong values{where(case)}: largest difference {error.max().item():.3g} "
        f"(tolerance rtol={TOL[expected.dtype]['rtol']:g}). "
        f"First expected values {_preview(expected)}, yours {_preview(got)}."
    )


def _preview(t: torch.Tensor, n: int = 4) -> str:
    flat = t.detach().reshape(-1)[:n].double().cpu().tolist()
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + (", ...]" if t.numel() > n else "]")


def compare(
    name: str,
    got,
    expected: torch.Tensor,
    *,
    mistakes: Iterable[Mistake] = (),
    args: tuple = (),
    kwargs: dict | None = None,
    case: str = "",
) -> None:
    """Assert ``got`` matches ``expected`` (type, shape, dtype, device, values).

    On a value mismatch, the known ``mistakes`` are run on the same ``args`` and
    the first whose output matches the student's names the error.
    """
    assert_tensor(got, expected, name, case)
    if not torch.isfinite(got).all() and torch.isfinite(expected).all():
        raise AssertionError(
            f"{name} returned nan or inf{where(case)}, while the correct result is finite."
        )
    if close(got, expected):
        return
    hint = diagnose(got, mistakes, *args, **(kwargs or {}))
    if hint is not None:
        raise AssertionError(f"{name}: {hint}{where(case)}")
    raise AssertionError(mismatch_message(name, got, expected, case))


def inputs_unchanged(name: str, before: Sequence[torch.Tensor], after: Sequence[torch.Tensor]):
    """Fail when the student's function modified one of its inputs in place."""
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        if not torch.equal(b, a):
            raise AssertionError(
                f"{name} changed its input number {i + 1} in place. Work on a copy (or use "
                "out-of-place operations such as `x + y` rather than `x.add_(y)`) so the "
                "caller's tensor is left as it was."
            )


def success(name: str, detail: str = "") -> None:
    """The one line a passing check prints."""
    print(f"✔ {name} passed" + (f": {detail}" if detail else "."))
