"""Reference solutions: same file and function names as `exercises/`. Never shipped to students."""
