"""`python -m grader` is the same as the `grade` command."""

from grader.cli import run

if __name__ == "__main__":  # not when a spawned process (a Dask worker) imports it again
    run()
