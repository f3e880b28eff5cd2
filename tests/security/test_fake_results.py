"""Attacks that try to fake a result instead of computing one. Each earns only its honest part."""

from __future__ import annotations

from pathlib import Path

from hostile import FILE, REFERENCE, assert_score, messages, source


def test_sys_exit_at_import_earns_nothing(grade) -> None:
    result = grade(REFERENCE + "\nimport sys\nsys.exit(0)\n")
    assert_score(result, 0)
    assert "SystemExit" in messages(result)
    assert any("could not be graded" in n for n in result.notes)


def test_os_exit_inside_a_tested_function(grade) -> None:
    result = grade(
        source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                os._exit(0)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                sys.exit(0)
            """
        )
    )
    assert_score(result, 1)
    text = messages(result)
    assert "exit code 0" in text and "SystemExit" in text


def test_printing_fake_passed_lines_and_json(grade) -> None:
    result = grade(
        source(
            """
            import json
            print("===== 8 passed in 0.01s =====")
            print(json.dumps({"score": 10, "max_score": 10, "tests": []}))

            def affine_coupling_forward(z, conditioner, clamp=None):
                print("PASSED test_forward_matches_reference\\n10/10")
                sys.stderr.write('{"score": 10}\\n')
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                print("exercise-03: 10/10")
                return torch.zeros_like(x), torch.zeros(x.shape[0], dtype=x.dtype)
            """
        )
    )
    assert_score(result, 1)
    assert any("printed" in n for n in result.notes)  # shown to the student, never scored


def test_conftest_in_the_submission_is_never_loaded(grade, tmp_path: Path) -> None:
    folder = tmp_path / "with_conftest"
    folder.mkdir()
    (folder / FILE).write_text(source("", honest_clamp=False, stubs=True))
    (folder / "conftest.py").write_text(
        "import pytest\n"
        "@pytest.hookimpl(hookwrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n"
        "    report = outcome.get_result()\n"
        "    report.outcome = 'passed'\n"
        "    call.excinfo = None\n"
    )
    (folder / "pytest.ini").write_text("[pytest]\naddopts = -p no:python\n")
    assert_score(grade(folder), 0)


def test_patching_pytest_reports_in_the_worker(grade) -> None:
    result = grade(
        source(
            """
            import _pytest.reports, _pytest.runner, pytest
            _pytest.reports.TestReport.passed = property(lambda self: True)
            _pytest.reports.TestReport.failed = property(lambda self: False)
            _pytest.runner.call_and_report = lambda *a, **k: None
            pytest.fail = lambda *a, **k: None
            import grader.testing.checks as checks
            checks.fail = lambda *a, **k: None
            checks.expect_close = lambda *a, **k: None
            """,
            honest_clamp=False,
            stubs=True,
        )
    )
    assert_score(result, 0)


def test_patching_allclose_and_assert_close(grade) -> None:
    result = grade(
        source(
            """
            import numpy
            torch.allclose = lambda *a, **k: True
            torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)
            torch.equal = lambda *a, **k: True
            torch.testing.assert_close = lambda *a, **k: None
            numpy.allclose = lambda *a, **k: True
            numpy.testing.assert_allclose = lambda *a, **k: None
            torch.Tensor.__eq__ = lambda self, other: True

            def affine_coupling_forward(z, conditioner, clamp=None):
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                return torch.zeros_like(x), torch.zeros(x.shape[0], dtype=x.dtype)
            """
        )
    )
    assert_score(result, 1)


def test_objects_equal_to_anything(grade) -> None:
    result = grade(
        source(
            """
            class Anything:
                def __eq__(self, other): return True
                def __ne__(self, other): return False
                def __bool__(self): return True
                def __len__(self): return 2
                def __iter__(self): return iter((self, self))
                def __getitem__(self, i): return self
                def __float__(self): return 0.0
                shape = property(lambda self: (1, 2))

            def affine_coupling_forward(z, conditioner, clamp=None):
                return Anything()

            def affine_coupling_inverse(x, conditioner, clamp=None):
                return (Anything(), Anything())
            """
        )
    )
    assert_score(result, 1)
    assert "got Anything" in messages(result) or "got a Anything" in messages(result)


def test_tensor_subclass_with_torch_function(grade) -> None:
    result = grade(
        source(
            """
            class Liar(torch.Tensor):
                @classmethod
                def __torch_function__(cls, func, types, args=(), kwargs=None):
                    name = getattr(func, "__name__", "")
                    if name in ("isclose", "allclose", "equal", "eq", "__eq__"):
                        return True
                    return super().__torch_function__(func, types, args, kwargs or {})

            def affine_coupling_forward(z, conditioner, clamp=None):
                fake = torch.zeros_like(z).as_subclass(Liar)
                return fake, torch.zeros(z.shape[0], dtype=z.dtype).as_subclass(Liar)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                return x.as_subclass(Liar), torch.zeros(x.shape[0]).as_subclass(Liar)
            """
        )
    )
    assert_score(result, 1)


def test_broadcasting_log_dets_do_not_pass(grade) -> None:
    """Correct maps, but log-dets of shape (B, 1), which broadcast against (B,). Honest
    content: soft_clamp, plus the round trip (inverse undoes forward and the (B, 1) log-dets
    do cancel) = 2 points; every check against the reference shape fails."""
    result = grade(
        source(
            """
            def _parts(v, conditioner):
                half = v.shape[-1] // 2
                log_s, t = conditioner(v[..., :half])
                return v[..., :half], v[..., half:], log_s, t

            def affine_coupling_forward(z, conditioner, clamp=None):
                z_a, z_b, log_s, t = _parts(z, conditioner)
                if clamp is not None:
                    log_s = soft_clamp(log_s, clamp)
                x = torch.cat([z_a, z_b * torch.exp(log_s) + t], -1)
                return x, log_s.sum(-1, keepdim=True)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                x_a, x_b, log_s, t = _parts(x, conditioner)
                if clamp is not None:
                    log_s = soft_clamp(log_s, clamp)
                z = torch.cat([x_a, (x_b - t) * torch.exp(-log_s)], -1)
                return z, -log_s.sum(-1, keepdim=True)
            """
        )
    )
    assert_score(result, 2)
    assert "expected shape (1,), got (1, 1)" in messages(result)


def test_nan_results_do_not_pass(grade) -> None:
    result = grade(
        source(
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                return torch.full_like(z, float("nan")), torch.full((z.shape[0],), float("nan"))

            def affine_coupling_inverse(x, conditioner, clamp=None):
                return torch.full_like(x, float("nan")), torch.full((x.shape[0],), float("nan"))
            """
        )
    )
    assert_score(result, 1)
