"""Gradescope's autograder: build the zip Gradescope expects, and run inside its container.

build        `grade gradescope build autograder.zip`: setup.sh, run_autograder and the
             grader (hidden tests and reference included) in the layout Gradescope unpacks
             into /autograder/source
autograder   what run_autograder runs for each submission: place the files, grade every
             exercise present in the sandbox, write /autograder/results/results.json
setup.sh, run_autograder   the two scripts at the zip's root
"""
