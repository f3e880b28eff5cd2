"""Ways a call into student code can fail, each with the feedback a student should read."""

from __future__ import annotations

from grader.results import Feedback


class StudentError(Exception):
    """A call into student code did not return a value. Subclasses explain why."""

    def __init__(self, function: str, detail: str = "") -> None:
        super().__init__(f"{function}: {detail}")
        self.function = function
        self.detail = detail

    def feedback(self) -> Feedback:
        return Feedback(checked=f"calling {self.function}", differs=self.detail)


class NotImplementedYet(StudentError):
    """The stub still raises NotImplementedError."""

    def feedback(self) -> Feedback:
        return Feedback(
            checked=f"calling {self.function}",
            differs=f"not implemented yet: {self.function}",
            hint="replace the `raise NotImplementedError` in the stub with your implementation",
        )


class FunctionMissing(StudentError):
    """The submission has no function of that name."""

    def feedback(self) -> Feedback:
        return Feedback(
            checked=f"calling {self.function}",
            differs=f"the submission has no function named {self.function}",
            hint="keep the function names and signatures of the stub file",
        )


class StudentRaised(StudentError):
    """Student code raised an exception; `traceback` holds only the student's own frames."""

    def __init__(self, function: str, detail: str, traceback: str = "") -> None:
        super().__init__(function, detail)
        self.traceback = traceback

    def feedback(self) -> Feedback:
        where = f"\n{self.traceback.rstrip()}" if self.traceback else ""
        return Feedback(
            checked=f"calling {self.function}",
            differs=f"your code raised {self.detail}{where}",
            hint=_known_cause(self.detail),
        )


DEVICE_ERRORS = ("Expected all tensors to be on the same device", "is not on the expected device")
DEVICE_HINT = (
    "a tensor your code created is on another device than the inputs (on a GPU: the CPU, "
    "where torch.eye(c), torch.zeros(n) and torch.tensor(...) put it without device=); "
    "create it on the input's device: torch.eye(c, device=x.device, dtype=x.dtype), "
    "x.new_zeros(n), torch.zeros_like(x)"
)
NUMPY_ERRORS = ("can't convert cuda", "Can't call numpy() on Tensor that requires grad")
NUMPY_HINT = (
    "stay in torch: numpy needs a CPU tensor without autograd, so .numpy() breaks on a GPU "
    "and cuts the gradient a training step needs"
)


def _known_cause(detail: str) -> str | None:
    """A hint for errors whose cause is known from torch's message alone (a GPU run of code
    that was only ever tried on the CPU, or numpy inside a function that must train)."""
    if any(text in detail for text in DEVICE_ERRORS):
        return DEVICE_HINT
    if any(text in detail for text in NUMPY_ERRORS):
        return NUMPY_HINT
    return None


class StudentTimeout(StudentError):
    """The call did not return within its time limit; the worker was killed."""

    def __init__(self, function: str, seconds: float) -> None:
        super().__init__(function, f"your function ran for more than {seconds:g} s")
        self.seconds = seconds

    def feedback(self) -> Feedback:
        return Feedback(
            checked=f"calling {self.function}",
            differs=self.detail + " and was stopped",
            hint="look for an endless loop, a blocking read, or work that grows faster than "
            "the input (for example a dense O(d^3) determinant)",
        )


class StudentCrashed(StudentError):
    """The worker died or sent something unreadable during the call."""

    def feedback(self) -> Feedback:
        return Feedback(
            checked=f"calling {self.function}",
            differs=f"the process running your code ended during the call ({self.detail})",
            hint="your code exited or crashed the interpreter (sys.exit, os._exit, a segfault, "
            "or running out of memory)",
        )


class SubmissionBroken(StudentError):
    """The student's file could not be imported at all (syntax error, import error...)."""

    def feedback(self) -> Feedback:
        return Feedback(
            checked="importing your exercise file",
            differs=self.detail,
            hint="fix this first: no function in the file can be graded until it imports",
        )


class SignatureMismatch(StudentError):
    """The function cannot be called with the arguments the exercise specifies."""

    def feedback(self) -> Feedback:
        return Feedback(
            checked=f"calling {self.function}",
            differs=f"wrong signature: {self.detail}",
            hint="keep the parameter names, order and defaults of the stub file",
        )


class StudentLimit(StudentError):
    """A resource limit stopped the call (CPU time, memory, output or file size, total time)."""

    def __init__(self, function: str, detail: str, hint: str = "") -> None:
        super().__init__(function, detail)
        self.hint = hint

    def feedback(self) -> Feedback:
        return Feedback(
            checked=f"calling {self.function}",
            differs=self.detail + " and was stopped",
            hint=self.hint or None,
        )


class SandboxFailure(RuntimeError):
    """The sandbox could not be set up for a worker; no student code ran. A grader fault:
    it is reported as an internal error, never as a pass."""
