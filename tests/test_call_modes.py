"""The worker's call modes: the watch (trusted calls counted, in-place writes into tensors
the student did not create), the gradient call mode and the virtual-device check.

Most cases run the worker-side classes in this process (fast, many cases); a few go
through a real worker to show that everything comes back as plain data.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from grader.runner.client import StudentModule
from grader.runner.device_check import VirtualDevice
from grader.runner.gradients import GradientSpec, gradient_call
from grader.runner.preload import ARGUMENT_MODULES
from grader.runner.watch import CallWatch
from grader.runner.zygote import shared_zygote
from grader.testing.flows import MLPConditioner
from grader.testing.layers import random_flow

STUDENT_FILE = "exercise_99_modes.py"


def _watched(function: Callable[..., Any], *args: Any) -> tuple[Any, dict[str, Any]]:
    watch = CallWatch(args, {}, ARGUMENT_MODULES)
    with watch:
        value = function(*args)
    return value, watch.report()


# ---------------------------------------------------------------- the watch


def test_trusted_calls_are_counted_per_argument() -> None:
    conditioner = MLPConditioner(2, 2, seed=0)
    layers = random_flow(4, seed=1, depth=3)

    def twice(z: torch.Tensor, net: Any, flow: list[Any]) -> None:
        net(z[:, :2])
        net.forward(z[:, :2])
        for layer in flow:
            z, _ = layer.forward(z)
        flow[0].inverse(z)

    _, report = _watched(twice, torch.randn(3, 4), conditioner, layers)
    assert report["calls"] == {
        "args[1].forward": 2,
        "args[2][0].forward": 1,
        "args[2][1].forward": 1,
        "args[2][2].forward": 1,
        "args[2][0].inverse": 1,
    }
    assert report["writes"] == {"inputs": [], "returned": []}
    assert "forward" not in vars(conditioner)  # the instance is as it was


def test_writes_into_tensors_trusted_code_returned_are_reported() -> None:
    layers = random_flow(4, seed=2, depth=3)

    def accumulate(flow: list[Any], z: torch.Tensor) -> torch.Tensor:
        total = None
        for layer in flow:
            z, log_det = layer.forward(z)
            if total is None:
                total = log_det
            else:
                total += log_det  # writes into the first layer's log-det
        return total

    _, report = _watched(accumulate, layers, torch.randn(2, 4))
    assert report["writes"]["returned"] == ["args[0][0].forward (call 1)[1]"]


def test_writes_through_a_view_and_into_module_state_count() -> None:
    conditioner = MLPConditioner(1, 1, seed=0)

    def meddle(z: torch.Tensor, net: Any) -> None:
        log_s, _ = net(z[:, :1])
        log_s[:, 0].clamp_(-1, 1)  # a view of the returned tensor
        z[:, 1:].mul_(2)  # a view of the input
        with torch.no_grad():
            net.b1.zero_()  # the module's own parameter

    _, report = _watched(meddle, torch.randn(3, 2), conditioner)
    assert report["writes"]["returned"] == ["args[1].forward (call 1)[0]"]
    assert report["writes"]["inputs"] == ["args[0]", "args[1].b1"]


def test_the_students_own_tensors_may_change() -> None:
    conditioner = MLPConditioner(1, 1, seed=0)

    def own(z: torch.Tensor, net: Any) -> torch.Tensor:
        log_s, shift = net(z[:, :1])
        mine = log_s.clone()
        mine.mul_(2)
        out = torch.zeros_like(z)
        out[:, :1] = shift
        out += 1
        return out

    _, report = _watched(own, torch.randn(3, 2), conditioner)
    assert report["writes"] == {"inputs": [], "returned": []}


# ---------------------------------------------------------------- gradients


def _spec(*outputs: tuple[tuple[int, ...], torch.Tensor], params: bool = False) -> GradientSpec:
    return GradientSpec((("args", 0),), tuple(outputs), params)


def test_gradients_match_autograd_and_name_module_parameters() -> None:
    z = torch.randn(4, 3, dtype=torch.float64)
    net = MLPConditioner(1, 2, seed=0).double()
    cotangent = torch.randn(4, dtype=torch.float64)

    def log_det(v: torch.Tensor, conditioner: Any) -> torch.Tensor:
        return conditioner(v[:, :1])[0].sum(-1)

    _, report = gradient_call(log_det, (z.clone(), net), {}, _spec(((), cotangent), params=True))
    (entry,) = report
    assert entry["state"] == "ok" and set(entry["wrt"]) == {
        "args[0]", "args[1].w1", "args[1].b1", "args[1].w2", "args[1].b2"
    }  # fmt: skip
    leaf = z.clone().requires_grad_()
    (expected,) = torch.autograd.grad(log_det(leaf, net), leaf, cotangent)
    torch.testing.assert_close(entry["wrt"]["args[0]"], expected)


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar")
@pytest.mark.parametrize(
    ("body", "state", "detail"),
    [
        ("return (z * z).sum(-1).detach()", "detached", None),
        ("with torch.no_grad():\n        return (z * z).sum(-1)", "detached", None),
        ("return (z * z).sum(-1).detach().numpy()", "not-tensor", "ndarray"),
        ("return float((z * z).sum())", "not-tensor", "float"),
        ("y = z.exp()\n    y.add_(1)\n    return y.sum(-1)", "error", "inplace"),
    ],
    ids=["detach", "no_grad", "numpy", "item", "in-place"],
)
def test_outputs_that_cannot_be_trained_are_reported(body: str, state: str, detail: Any) -> None:
    namespace: dict[str, Any] = {"torch": torch}
    exec(f"def log_prob(z):\n    {body}\n", namespace)
    z = torch.randn(3, 2, dtype=torch.float64)
    spec = _spec(((), torch.randn(3, dtype=torch.float64)))
    _, report = gradient_call(namespace["log_prob"], (z,), {}, spec)  # never raises for these
    assert report[0]["state"] == state
    if detail is not None:
        text = report[0].get("type") or report[0].get("error", "")
        assert detail in text.replace("-", "").replace(" ", "")


def test_an_output_that_ignores_an_input_has_no_gradient_for_it() -> None:
    def pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return z * 2, torch.zeros(z.shape[0], dtype=z.dtype)

    cotangents = (((0,), torch.ones(2, 2)), ((1,), torch.ones(2)), ((2,), torch.ones(2)))
    _, report = gradient_call(pair, (torch.randn(2, 2),), {}, _spec(*cotangents))
    assert [e["state"] for e in report] == ["ok", "detached", "missing"]
    assert torch.equal(report[0]["wrt"]["args[0]"], torch.full((2, 2), 2.0))


# ---------------------------------------------------------------- virtual device


def _device_problems(source: str, *args: Any) -> list[str]:
    namespace: dict[str, Any] = {"torch": torch, "math": math}
    exec(compile(textwrap.dedent(source), STUDENT_FILE, "exec"), namespace)
    check = VirtualDevice(args, {}, STUDENT_FILE)
    with check:
        value = namespace["f"](*args)
    check.check_outputs(value)
    return check.problems


X = torch.randn(3, 4)


@pytest.mark.parametrize(
    "source",
    [
        "def f(x):\n    return x @ torch.eye(4)",
        "def f(x):\n    total = torch.zeros(x.shape[0])\n    return total + x.sum(-1)",
        "def f(x):\n    return x * torch.ones(4, dtype=x.dtype)",
        "EYE = torch.eye(4)\ndef f(x):\n    return x @ EYE",
        "def f(x):\n    return x.cpu() + x",
        "def f(x):\n    return torch.from_numpy(x.detach().cpu().numpy()) * x",
        "def f(x):\n    return torch.cat([x, torch.zeros(3, 1)], dim=-1)",
    ],
    ids=["eye-matmul", "zeros-add", "ones-mul", "module-constant", "cpu", "numpy", "cat"],
)
def test_tensors_made_on_the_default_device_are_caught(source: str) -> None:
    problems = _device_problems(source, X)
    assert problems and "on a GPU this raises" in problems[0], problems


def test_the_report_names_the_factory_and_its_line() -> None:
    source = "def f(x):\n    eye = torch.eye(4)\n    return x @ eye\n"
    (problem,) = _device_problems(source, X)
    assert "torch.eye(4) at line 2, made without device=" in problem
    assert "line 3" in problem


@pytest.mark.parametrize(
    "source",
    [
        "def f(x):\n    return x.sum(-1)",
        "def f(x):\n    return torch.zeros(4, device=x.device) + x",
        "def f(x):\n    return x.new_zeros(x.shape[0]) + x.sum(-1)",
        "def f(x):\n    return torch.zeros_like(x) + x @ torch.eye(4, device=x.device)",
        "def f(x):\n    return x * torch.tensor(math.pi)",  # a CPU scalar is legal next to CUDA
        "def f(x):\n    return x[..., torch.arange(4).flip(0)]",  # CPU index tensors too
        "def f(x):\n    y = x.clone()\n    y[:, torch.tensor([0, 2])] = 0.0\n    return y",
        "def f(x):\n    n = torch.distributions.Normal(0.0, 1.0)\n    return n.log_prob(x).sum(-1)",
        "def f(x):\n    return x.double().to(x.dtype) + x.to(x.device)",
        "def f(x):\n    return x - torch.tensor(x.shape[-1] * 0.5).log()",
    ],
    ids=[
        "sum", "device=", "new_zeros", "zeros_like", "cpu-scalar", "cpu-index", "setitem-index",
        "distributions", "to", "scalar-ops",
    ],
)  # fmt: skip
def test_code_that_runs_on_a_gpu_passes(source: str) -> None:
    assert _device_problems(source, X) == []


def test_returning_a_default_device_tensor_is_caught() -> None:
    (problem,) = _device_problems("def f(x):\n    return x, torch.zeros(x.shape[0])", X)
    assert problem.startswith("the returned value[1] is on the default device")


def test_numpy_of_a_device_tensor_is_caught() -> None:
    problems = _device_problems("def f(x):\n    return float(x.detach().numpy().sum())", X)
    assert problems and ".numpy() of a tensor on the input's device at line 2" in problems[0]


def test_trusted_layers_and_conditioners_pass_the_check() -> None:
    z = torch.randn(3, 4, dtype=torch.float64)
    layers = random_flow(4, seed=3, depth=6)
    source = (
        "def f(flow, z):\n    total = z.new_zeros(z.shape[0])\n    for layer in flow:\n"
        "        z, ld = layer.forward(z)\n        total = total + ld\n    return z, total\n"
    )
    assert _device_problems(source, layers, z) == []


# ---------------------------------------------------------------- through a real worker


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudentModule]:
    folder = tmp_path_factory.mktemp("modes")
    (folder / STUDENT_FILE).write_text(
        textwrap.dedent(
            """\
            import torch

            def compose(layers, z):
                total = None
                for layer in layers:
                    z, log_det = layer.forward(z)
                    total = log_det if total is None else total.add_(log_det)
                return z, total

            def eye_log_det(z):
                return (z @ torch.eye(z.shape[-1], dtype=z.dtype)).sum(-1)

            def detached(z):
                return (z * z).sum(-1).detach()
            """
        )
    )
    module = StudentModule(folder / STUDENT_FILE, "exercise_99_modes", shared_zygote())
    yield module
    module.close()


def test_the_worker_reports_calls_writes_devices_and_gradients(student: StudentModule) -> None:
    z = torch.randn(2, 4, dtype=torch.float64)
    layers = random_flow(4, seed=5, depth=2)
    result = student.call_full("compose", (layers, z))
    assert result.calls == {"args[0][0].forward": 1, "args[0][1].forward": 1}
    assert result.writes == {"inputs": [], "returned": ["args[0][0].forward (call 1)[1]"]}
    assert result.device_problems == () and result.gradients is None
    checked = student.call_full("eye_log_det", (z,), check_device=True)
    assert "torch.eye(4) at line 11" in checked.device_problems[0]
    spec = GradientSpec((("args", 0),), (((), torch.ones(2, dtype=torch.float64)),))
    detached = student.call_full("detached", (z,), gradients=spec).gradients
    assert [(g.output, g.state) for g in detached] == [("value", "detached")]
    fine = student.call_full("eye_log_det", (z,), gradients=spec).gradients
    grad = fine[0].wrt["args[0]"]
    assert fine[0].state == "ok" and type(grad) is torch.Tensor
    assert torch.equal(grad, torch.ones(2, 4, dtype=torch.float64))


# ---------------------------------------------------------------- on a GPU


def test_a_gpus_own_device_errors_get_the_device_hint() -> None:
    """With --device cuda the device itself refuses a stray CPU tensor; torch's message is
    recognised (the texts torch 2.13 raises, for matmul and for elementwise operations)."""
    from grader.runner.errors import DEVICE_HINT, NUMPY_HINT, StudentRaised

    for text in (
        "RuntimeError: Expected all tensors to be on the same device, but found at least two "
        "devices, cuda:0 and cpu! (when checking argument for argument mat2 in method "
        "wrapper_CUDA_mm)",
        "RuntimeError: Tensor on device cpu is not on the expected device cuda:0!",
    ):
        assert StudentRaised("f", text).feedback().hint == DEVICE_HINT
    numpy_error = "TypeError: can't convert cuda:0 device type tensor to numpy."
    assert StudentRaised("f", numpy_error).feedback().hint == NUMPY_HINT
    assert StudentRaised("f", "ValueError: something else").feedback().hint is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA branch needs a GPU")
def test_on_a_gpu_a_stray_cpu_tensor_fails_with_the_device_hint(tmp_path) -> None:
    from grader.grading import grade_exercise
    from tests.wrong.mutants import materialize

    folder = materialize("exercise-04", "eye_without_device", tmp_path)
    result = grade_exercise("exercise-04", folder, device="cuda", seed=0)
    assert result.score < result.max_score
    hints = [t.feedback.hint or "" for t in result.tests if t.feedback is not None]
    assert any("device=x.device" in hint for hint in hints), hints
    solutions = Path(__file__).resolve().parents[1] / "solutions"
    reference = grade_exercise("exercise-04", solutions, device="cuda", seed=0)
    assert reference.full_marks, [t.output for t in reference.tests if t.status != "passed"]
