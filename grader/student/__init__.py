"""The student's loop: what `grade exercise-NN`, `hint`, `watch`, `list` and `reveal` do.

run              grade, render and record one exercise; `grade list`'s data
hint             `grade hint`: the next step (nudge, idea, formula) for a function
function_status  which functions a failed test exercises (hidden test's syntax tree, or
                 the kit's recorded calls), so `hint` picks the one to help with
watch            `grade watch`: re-grade on every save, move on at full marks
progress         the progress bar over the unit and the next unfinished exercise
topics           the quiz that covers an exercise's topic (by learning objectives)
reveal           `grade reveal`: the reference after passing, where the course allows it

Each module is a library the thin `grader.cli` shell calls; tests call them directly.
"""
