"""The TA's tooling: release student notebooks, autograde, feedback, export.

Run ``python -m grader --help``.
"""
