"""Quizzes: the unit's question bank (`quizzes/*.yaml`), taking, marking, rendering, GIFT.

Importing this package is cheap: no torch and no sympy until a question needs them.
"""
