"""Student-facing checks, one module per topic: ``course.checks.<topic>.check_<name>(fn)``.

A check passes silently apart from one line of success, or raises an
``AssertionError`` whose message explains the likely mistake.
"""
