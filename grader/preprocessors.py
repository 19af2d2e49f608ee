"""nbgrader preprocessors of our own.

``SkipExperiments`` executes a notebook like nbgrader's ``Execute`` but leaves
cells tagged ``experiment`` alone: grading runs only setup, answer and test
cells, so it costs seconds, never a training run (COURSE_DESIGN.md).
"""

from __future__ import annotations

from nbgrader.preprocessors import Execute

EXPERIMENT_TAG = "experiment"


def is_experiment(cell) -> bool:
    """True for a cell the grader must not execute."""
    return EXPERIMENT_TAG in cell.get("metadata", {}).get("tags", [])


class SkipExperiments(Execute):
    """nbgrader's Execute, except that cells tagged ``experiment`` are not run."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_experiment(cell):
            cell.outputs = []
            cell.execution_count = None
            return cell, resources
        return super().preprocess_cell(cell, resources, index)
