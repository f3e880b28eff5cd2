"""Leave the process quickly once its work is done, without tearing down torch.

A Python process that imported torch spends ~0.7 s at exit freeing every module, object
and C++ static of torch and pytest (measured: `import torch, pytest, grader.grading`
takes 1.9 s to import and then 0.7 s to exit normally, 0.03 s through `os._exit`). For
`grade exercise-03` that was a third of the student's wait. Nothing in that teardown
matters to us: results are committed and closed by the commands themselves (every
gradebook write is one transaction inside `with Gradebook.open(...)`), child processes
end on their own when our sockets close. So after the command, `exit_now` runs the
`atexit` handlers (multiprocessing's, logging's, temporary directories'), flushes the
standard streams and calls `os._exit` with the command's exit status.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import NoReturn


def exit_code(code: object) -> int:
    """What `sys.exit(code)` would make the exit status (printing a message code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    with contextlib.suppress(Exception):
        print(code, file=sys.stderr)
    return 1


def exit_now(code: object) -> NoReturn:
    """Exit with `code` as `sys.exit` would; skip interpreter teardown once torch is loaded."""
    if "torch" not in sys.modules:
        sys.exit(code)
    status = exit_code(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)
