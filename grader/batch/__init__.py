"""`grade batch`: grading a whole class in parallel worker processes, resumably.

discovery  what the class handed in (student folders, quiz attempt files, timestamps)
plan       what needs grading (new or changed files, changed test suites)
pool       the parent's side of the long-lived worker processes
worker     a worker's loop: grade, store in one transaction, report
progress   the progress bar / plain lines with ETA
runner     `run_batch`, tying it together
"""
