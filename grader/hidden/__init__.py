"""Hidden tests: the checks that decide scores. Never shipped in a student kit."""
