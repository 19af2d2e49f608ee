# nbgrader reads nbgrader_config.py from the working directory: run TA commands from the
# repository root. The configuration itself lives in grader/nbgrader_config.py.
import pathlib

load_subconfig(str(pathlib.Path(__file__).resolve().parent / "grader" / "nbgrader_config.py"))  # noqa: F821
