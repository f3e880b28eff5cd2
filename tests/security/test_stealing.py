"""Attacks that try to obtain the expected answers instead of computing them.

Each hostile function returns the reference's answer if it managed to steal it, and zeros
otherwise; only the honest soft_clamp (1 point) may score. The disk and process probes
need an OS layer (bubblewrap, or namespaces as root); the process split alone cannot hide
files from code running under the grader's own uid.
"""

from __future__ import annotations

import pytest
from hostile import STEAL_FROM_CANDIDATES, assert_score, messages, source

from grader.runner import sandbox

needs_os_layer = pytest.mark.skipif(
    sandbox.plan().mode == "basic",
    reason="no OS isolation on this machine (install bubblewrap, see SECURITY.md)",
)

USE_STOLEN = """
def affine_coupling_forward(z, conditioner, clamp=None):
    stolen = steal()
    if stolen is not None:
        return stolen.affine_coupling_forward(z, conditioner, clamp)
    return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)

def affine_coupling_inverse(x, conditioner, clamp=None):
    stolen = steal()
    if stolen is not None:
        return stolen.affine_coupling_inverse(x, conditioner, clamp)
    return torch.zeros_like(x), torch.zeros(x.shape[0], dtype=x.dtype)
"""


def test_importing_the_solutions(grade) -> None:
    result = grade(
        source(
            """
            import importlib
            def steal():
                for name in ("solutions.exercise_03_affine_coupling", "solutions",
                             "exercise_03_affine_coupling"):
                    try:
                        module = importlib.import_module(name)
                    except BaseException:
                        continue
                    if hasattr(module, "affine_coupling_forward") and module.__name__ != __name__:
                        return module
                return None
            """,
            USE_STOLEN,
        )
    )
    assert_score(result, 1)


def test_importing_the_hidden_tests(grade) -> None:
    result = grade(
        source(
            """
            def steal():
                try:
                    import grader.hidden.test_exercise_03 as hidden
                    return hidden.__dict__.get("reference")
                except BaseException:
                    return None
            """,
            USE_STOLEN,
        )
    )
    assert_score(result, 1)


@needs_os_layer
def test_reading_the_solutions_from_disk(grade) -> None:
    result = grade(
        source(
            """
            import types
            from pathlib import Path
            import grader

            def candidates():
                here = Path(grader.__file__).resolve().parents[1]
                yield here / "solutions" / "exercise_03_affine_coupling.py"
                for top in ("/work", "/root", "/home", "/tmp", "/srv", "/opt", str(Path.cwd())):
                    try:
                        yield from Path(top).rglob("exercise_03_affine_coupling.py")
                    except OSError:
                        pass

            """,
            STEAL_FROM_CANDIDATES,
            USE_STOLEN,
        )
    )
    assert_score(result, 1)


@needs_os_layer
def test_reading_the_hidden_tests_from_disk(grade) -> None:
    result = grade(
        source(
            """
            from pathlib import Path
            import grader

            def steal():
                hidden = Path(grader.__file__).parent / "hidden" / "test_exercise_03.py"
                try:
                    hidden.read_text()
                except OSError:
                    return None
                raise SystemExit("read the hidden tests")  # seen as a crash if it worked
            """,
            USE_STOLEN,
        )
    )
    assert_score(result, 1)
    assert "SystemExit" not in messages(result)


def test_walking_stack_frames_for_expected_values(grade) -> None:
    result = grade(
        source(
            """
            import inspect

            def steal():
                frame = inspect.currentframe()
                while frame is not None:
                    for name, value in frame.f_locals.items():
                        if name in ("expected", "x_ref", "ld_ref", "reference", "z_ref"):
                            raise SystemExit(f"found {name}")
                        if hasattr(value, "affine_coupling_forward") and value is not steal:
                            if getattr(value, "__name__", "").startswith("solutions"):
                                return value
                    frame = frame.f_back
                return None
            """,
            USE_STOLEN,
        )
    )
    assert_score(result, 1)
    assert "found" not in messages(result)


def test_scanning_gc_for_the_reference(grade) -> None:
    result = grade(
        source(
            """
            import gc, types

            def steal():
                for obj in gc.get_objects():
                    if isinstance(obj, types.FunctionType) and obj.__name__ in (
                        "affine_coupling_forward", "_log_scale_and_shift"
                    ) and obj.__module__ != __name__:
                        return types.SimpleNamespace(
                            affine_coupling_forward=obj.__globals__["affine_coupling_forward"],
                            affine_coupling_inverse=obj.__globals__["affine_coupling_inverse"],
                        )
                for module in list(sys.modules.values()):
                    if "solutions" in getattr(module, "__name__", ""):
                        return module
                return None
            """,
            USE_STOLEN,
        )
    )
    assert_score(result, 1)


@needs_os_layer
def test_detecting_the_grader_from_processes_and_environment(grade) -> None:
    """Special-casing needs something to detect: the grader's command line, environment
    or files. A sandboxed worker sees none of them (its own pid namespace, minimal env)."""
    result = grade(
        source(
            """
            from pathlib import Path

            def grader_visible():
                if any("PYTEST" in key or "FLOWGRADE" in key for key in os.environ):
                    return True
                for proc in Path("/proc").iterdir():
                    if not proc.name.isdigit() or int(proc.name) == os.getpid():
                        continue
                    try:
                        cmdline = (proc / "cmdline").read_bytes()
                    except OSError:
                        continue
                    if b"pytest" in cmdline or b"exercise-03" in cmdline:
                        return True
                return False

            def affine_coupling_forward(z, conditioner, clamp=None):
                if grader_visible():
                    raise SystemExit("the grader is visible")
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                return torch.zeros_like(x), torch.zeros(x.shape[0], dtype=x.dtype)
            """
        )
    )
    assert_score(result, 1)
    assert "the grader is visible" not in messages(result)
