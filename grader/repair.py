"""Turn a submitted notebook, however mangled, into the list of cells the grader runs.

The graded run is rebuilt from the instructor's source notebook: every cell that is not
an answer (imports, configuration, and above all the tests cells with their hidden
tests) comes from the source, never from the student's copy. Only the answers come
from the submission, matched to the source by nbgrader grade id, else by cell id, else
by the functions and classes the cell defines; a cell whose type was changed is turned
back into code. Cells the student added (helpers) run after the answer they follow.
Every repair is recorded; suspicious code in answers is flagged for the TA.
"""

from __future__ import annotations

import ast
import json
import pathlib
import re
from dataclasses import dataclass, field

MAX_NOTEBOOK_BYTES = 50_000_000
LIBRARY = {"runtime", "data", "viz", "train"}  # course modules students may import freely


def meta(cell: dict) -> dict:
    return (cell.get("metadata") or {}).get("nbgrader") or {}


def text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def is_answer(cell: dict) -> bool:
    return bool(meta(cell).get("solution")) and cell.get("cell_type") == "code"


def is_manual(cell: dict) -> bool:
    m = meta(cell)
    return bool(m.get("solution")) and bool(m.get("grade")) and cell.get("cell_type") != "code"


def is_tests(cell: dict) -> bool:
    m = meta(cell)
    return bool(m.get("grade")) and not m.get("solution") and cell.get("cell_type") == "code"


def is_experiment(cell: dict) -> bool:
    return "experiment" in ((cell.get("metadata") or {}).get("tags") or [])


def _parsable(source: str) -> str:
    """IPython magics and shell escapes blanked so that ``ast`` can read the rest."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def defined_names(source: str) -> set[str]:
    """Top-level functions and classes a cell defines (no execution)."""
    try:
        tree = ast.parse(_parsable(source))
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def _normal(source: str) -> str:
    return re.sub(r"\s+", " ", source).strip()


@dataclass
class Prepared:
    """What the sandbox runs for one submission, and what was done to get there."""

    cells: list[dict] = field(default_factory=list)  # {"id", "kind", "source"}
    tests: list[dict] = field(default_factory=list)  # {"grade_id", "exercise", "points"}
    manual: list[dict] = field(default_factory=list)  # {"grade_id", "points", "answer"}
    answers: dict[str, str] = field(default_factory=dict)
    repairs: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    rejected: str | None = None


def load(path: pathlib.Path) -> tuple[dict | None, str | None]:
    """The submission as a notebook dict, or ``(None, reason)``."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        return None, f"cannot read the notebook: {err.strerror}"
    if len(raw) > MAX_NOTEBOOK_BYTES:
        return None, f"the notebook is {len(raw) / 1e6:.0f} MB, above the {MAX_NOTEBOOK_BYTES // 10**6} MB limit"
    if not raw.strip():
        return None, "the notebook file is empty"
    try:
        nb = json.loads(raw.decode("utf-8", "replace"), strict=False)
    except json.JSONDecodeError as err:
        return None, f"the file is not valid notebook JSON ({err.msg} at line {err.lineno}); " \
                     "it may have been cut off while saving"
    if isinstance(nb, dict) and "worksheets" in nb:  # nbformat 3
        nb = {"cells": [c for ws in nb["worksheets"] for c in ws.get("cells", [])]}
        for c in nb["cells"]:
            c.setdefault("source", c.get("input", ""))
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, "the file is JSON but not a notebook (no list of cells)"
    cells = [c for c in nb["cells"] if isinstance(c, dict)]
    return {"cells": cells}, None


def prepare(source_nb: dict, submission: pathlib.Path) -> Prepared:
    """Match the submission to the source and build the graded run (see module doc)."""
    out = Prepared()
    nb, reason = load(submission)
    if nb is None:
        out.rejected = reason
        return out
    student = nb["cells"]
    used: set[int] = set()
    by_grade: dict[str, list[int]] = {}
    for i, c in enumerate(student):
        gid = meta(c).get("grade_id")
        if gid:
            by_grade.setdefault(gid, []).append(i)
    source_texts = {_normal(text(c)) for c in source_nb["cells"]}
    answer_of: dict[int, str] = {}  # student index -> the answer it was matched to
    previous_answer = None
    order: list[int] = []

    for cell in source_nb["cells"]:
        gid = meta(cell).get("grade_id", cell.get("id"))
        if cell.get("cell_type") != "code" and not is_manual(cell):
            continue
        if is_experiment(cell):
            _claim_copies(student, used, cell)
            continue
        if is_tests(cell):
            out.cells.append({"id": gid, "kind": "tests", "source": text(cell)})
            out.tests.append({"grade_id": gid, "exercise": previous_answer,
                              "points": float(meta(cell).get("points", 0))})
            matches = [i for i in by_grade.get(gid, []) if i not in used]
            used.update(matches)
            if not matches:
                out.repairs.append(f"tests cell {gid!r} was missing: restored from the source")
            continue
        if not (is_answer(cell) or is_manual(cell)):
            out.cells.append({"id": gid, "kind": "source", "source": text(cell)})
            used.update(i for i, c in enumerate(student) if c.get("id") == cell.get("id"))
            continue
        index = _match(student, used, cell, gid, out.repairs)
        answer = text(student[index]) if index is not None else ""
        if index is not None:
            used.add(index)
            answer_of[index] = gid
            order.append(index)
        if is_manual(cell):
            out.manual.append({"grade_id": gid, "points": float(meta(cell).get("points", 0)),
                               "answer": answer})
            continue
        previous_answer = gid
        if index is None:
            out.repairs.append(f"answer {gid!r} not found in the notebook: graded as unanswered")
            answer = "raise NotImplementedError('answer cell missing from the submission')"
        elif student[index].get("cell_type") != "code":
            out.repairs.append(f"answer {gid!r} had become a {student[index].get('cell_type')} "
                               "cell: graded as code")
        out.answers[gid] = answer
        out.cells.append({"id": gid, "kind": "answer", "source": answer})
        out.flags.extend(flags(gid, answer))

    if order != sorted(order):
        out.repairs.append("cells were reordered: graded in the order of the assignment")
    _add_extras(out, student, used, answer_of, source_texts)
    return out


def _claim_copies(student: list[dict], used: set[int], cell: dict) -> None:
    for i, c in enumerate(student):
        if c.get("id") == cell.get("id") or is_experiment(c):
            used.add(i)


def _match(student, used, cell, gid, repairs) -> int | None:
    """Index of the student's cell answering ``cell``; records how it was found."""
    candidates = [i for i, c in enumerate(student) if meta(c).get("grade_id") == gid and i not in used]
    how = None
    if not candidates:
        candidates = [i for i, c in enumerate(student) if c.get("id") == cell.get("id")
                      and cell.get("id") and i not in used]
        how = "its cell id (nbgrader metadata lost)"
    names = defined_names(text(cell))
    if not candidates and names:
        candidates = [i for i, c in enumerate(student)
                      if i not in used and names & defined_names(text(c))]
        how = f"the {', '.join(sorted(names))} it defines (metadata lost)"
    if not candidates:
        return None
    if how:
        repairs.append(f"answer {gid!r} found by {how}")
    if len(candidates) > 1:
        edited = [i for i in candidates if "NotImplementedError" not in text(student[i])]
        chosen = (edited or candidates)[-1]
        repairs.append(f"answer {gid!r} appeared {len(candidates)} times: graded the last "
                       "edited copy")
        used.update(candidates)
        return chosen
    return candidates[0]


def _add_extras(out, student, used, answer_of, source_texts) -> None:
    """Student-added code cells run right after the answer cell they follow."""
    extras: dict[str | None, list[str]] = {}
    anchor = None
    for i, c in enumerate(student):
        if i in answer_of:
            anchor = answer_of[i]
        if i in used or c.get("cell_type") != "code" or is_experiment(c) or not text(c).strip():
            continue
        if _normal(text(c)) in source_texts or meta(c):
            continue  # an unchanged copy of a source cell, or a (stale) nbgrader cell
        extras.setdefault(anchor, []).append(text(c))
    if not extras:
        return
    cells = []
    for cell in out.cells:
        cells.append(cell)
        if cell["kind"] == "answer" and cell["id"] in extras:
            for n, src in enumerate(extras.pop(cell["id"])):
                cells.append({"id": f"{cell['id']}+extra{n}", "kind": "extra", "source": src})
                out.flags.extend(flags(f"{cell['id']} (added cell)", src))
    leading = extras.pop(None, [])
    first_answer = next((k for k, c in enumerate(cells) if c["kind"] == "answer"), len(cells))
    for n, src in enumerate(leading):
        cells.insert(first_answer + n, {"id": f"extra{n}", "kind": "extra", "source": src})
        out.flags.extend(flags("(added cell)", src))
    out.cells = cells
    count = sum(c["kind"] == "extra" for c in cells)
    out.repairs.append(f"{count} cell(s) added by the student were run before the tests "
                       "that follow them")


_SUSPICIOUS_ATTRS = {
    ("sys", "modules"): "touches sys.modules",
    ("sys", "_getframe"): "inspects the call stack (sys._getframe)",
    ("sys", "settrace"): "installs a trace function", ("sys", "setprofile"): "installs a profiler hook",
    ("sys", "exit"): "exits the kernel (sys.exit)", ("os", "_exit"): "kills the kernel (os._exit)",
    ("os", "kill"): "sends signals (os.kill)", ("os", "system"): "runs shell commands",
    ("os", "fork"): "forks processes", ("os", "popen"): "runs shell commands",
    ("os", "write"): "writes to raw file descriptors", ("os", "fdopen"): "opens raw file descriptors",
    ("inspect", "currentframe"): "inspects the call stack",
    ("gc", "get_objects"): "walks the interpreter's objects (gc)",
    ("gc", "get_referrers"): "walks the interpreter's objects (gc)",
}
_SUSPICIOUS_MODULES = {
    "builtins": "touches builtins", "ctypes": "uses ctypes", "subprocess": "starts processes",
    "multiprocessing": "starts processes", "signal": "handles signals", "importlib": "re-imports modules",
    "threading": "starts threads", "gc": "walks the interpreter's objects (gc)",
}
_FRAME_ATTRS = {"f_locals", "f_globals", "f_back", "f_builtins", "__code__", "ast_transformers",
                "input_transformers_post", "input_transformers_cleanup", "__builtins__"}
_SCORE = re.compile(r"(score|points|grade|passed)\D{0,20}\d+(\.\d+)?\s*/\s*\d+", re.IGNORECASE)


def flags(label: str, source: str) -> list[str]:
    """What in an answer a TA should look at (the code still runs and is graded)."""
    try:
        tree = ast.parse(_parsable(source))
    except SyntaxError:
        return []
    found: list[str] = []

    def add(message: str) -> None:
        entry = f"answer {label!r} {message}"
        if entry not in found:
            found.append(entry)

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "course" and (len(parts) == 1 or parts[1] not in LIBRARY):
                names = ", ".join(a.name for a in node.names)
                add(f"imports {names} from {node.module} (the course's reference or checks)")
            if parts[0] in _SUSPICIOUS_MODULES:
                add(_SUSPICIOUS_MODULES[parts[0]])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "course" and len(parts) > 1 and parts[1] not in LIBRARY:
                    add(f"imports {alias.name} (the course's reference or checks)")
                if parts[0] in _SUSPICIOUS_MODULES:
                    add(_SUSPICIOUS_MODULES[parts[0]])
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and (node.value.id, node.attr) in _SUSPICIOUS_ATTRS:
                add(_SUSPICIOUS_ATTRS[(node.value.id, node.attr)])
            if node.attr in _FRAME_ATTRS:
                add(f"uses {node.attr} (interpreter internals)")
            chain = _chain(node)
            if chain and chain[0] == "course" and len(chain) > 2 and chain[1] not in LIBRARY:
                add(f"uses {'.'.join(chain)} (the course's reference or checks)")
            if isinstance(node.ctx, ast.Store) and chain and chain[0] in (
                "torch", "np", "numpy", "math", "F", "checks", "course", "nn"
            ):
                add(f"assigns to {'.'.join(chain)} (patches a library)")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("exit", "quit"):
                add("exits the kernel")
            if node.func.id in ("setattr", "delattr") and node.args and isinstance(node.args[0], ast.Name) \
                    and node.args[0].id in ("torch", "np", "numpy", "math", "checks", "course", "F", "nn"):
                add(f"patches {node.args[0].id} with {node.func.id}")
            if node.func.id in ("exec", "eval", "compile", "__import__", "get_ipython"):
                add(f"calls {node.func.id}")
            if node.func.id == "open" and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str) and (
                        node.args[0].value.startswith(("/", "~")) or ".." in node.args[0].value):
                add(f"opens a file outside its folder ({node.args[0].value})")
            if node.func.id == "print":
                for arg in ast.walk(node):
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                            and _SCORE.search(arg.value):
                        add("prints something that looks like a score")
        elif isinstance(node, ast.Name) and node.id in ("__builtins__", "builtins"):
            add("touches builtins")
    return found


def _chain(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None
