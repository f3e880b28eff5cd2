"""flowgrade: auto-graded exercises and quizzes for a unit on normalizing flows.

The package is laid out along the way data flows:
submission -> isolated runner (`grader.runner`) -> result model (`grader.results`)
-> renderers (`grader.render`) -> gradebook and reports. `grader.cli` is a thin click shell.
"""

__version__ = "0.1.0"
