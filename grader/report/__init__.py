"""`grade report`: the class gradebook as CSV, JSON, Markdown, HTML, Gradescope or Canvas.

model          ClassReport: scores after late penalties, tests, statistics (read once)
statistics     mean, median, spread, histogram, per-test failure rates
item_analysis  quiz facility, discrimination and distractor counts
reasons        one-line reason why a submission lost points
csv_format, json_format, canvas, gradescope, templates (+ templates/*.j2), svg, render
"""
