"""nbgrader configuration for the course.

nbgrader's steps map onto the repository: ``solutions/<week>/`` is the source,
``notebooks/<week>/`` the release. Grading runs in FAST mode with a generous cell
timeout (importing torch alone takes seconds) and skips ``experiment`` cells.

Used by ``python -m grader ...``; a TA may also run plain ``nbgrader`` commands
from the repository root with ``--config grader/nbgrader_config.py``.
"""

import os
import pathlib
import sys

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so that `grader.preprocessors` imports without installing

# The kernel inherits this environment: every notebook shrinks to its FAST configuration.
os.environ["COURSE_FAST"] = "1"
# One thread per kernel: grading runs kernels side by side, and oversubscribed torch threads
# slow small models down several-fold.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# nbgrader runs `alembic` as a subprocess: make this interpreter's bin/ visible
# even when nobody activated the environment (NBGRADER_NOTES.md).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.course_id = "deep-generative-models"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.db_url = f"sqlite:///{ROOT / 'grader' / 'gradebook.db'}"

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Use Execute.timeout, never ExecutePreprocessor.timeout (silently ignored, NBGRADER_NOTES.md).
c.Execute.timeout = 120
c.Execute.allow_errors = True

from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute  # noqa: E402

from grader.preprocessors import SkipExperiments  # noqa: E402

c.Autograde.autograde_preprocessors = [
    SkipExperiments if p is Execute else p
    for p in Autograde.class_traits()["autograde_preprocessors"].default()
]
c.SkipExperiments.timeout = 120

# A warning on stderr in a tests cell would zero it (NBGRADER_NOTES.md): drop warnings,
# keep everything else that reaches stderr.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w*Warning: "
