"""The runner's speed-ups keep behaviour: compact tensor pickles, huge-page fork servers,
and the sympy warm-up that must leave no expression behind."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from grader.runner import hugepages, preload, tensor_pickle
from grader.testing.layers import random_flow

ROOT = Path(__file__).resolve().parents[1]


def roundtrip(value: object) -> object:
    return pickle.loads(tensor_pickle.dumps(value))


@pytest.mark.parametrize(
    "tensor",
    [
        torch.randn(3, 4),
        torch.randn(4, 3, dtype=torch.float64).t(),  # not contiguous
        torch.tensor(2.5),  # 0-d
        torch.zeros(0, 3),  # empty
        torch.tensor([True, False, True]),
        torch.arange(7, dtype=torch.int64)[2:5],  # a view with a storage offset
        torch.randn(2, dtype=torch.complex64),
        torch.randn(2, 3).to(torch.bfloat16),  # no numpy dtype
    ],
    ids=["f32", "transposed", "0d", "empty", "bool", "offset-view", "complex", "bf16"],
)
def test_plain_tensors_round_trip_exactly(tensor: torch.Tensor) -> None:
    back = roundtrip(tensor)
    assert type(back) is torch.Tensor
    assert back.dtype == tensor.dtype and back.shape == tensor.shape
    assert torch.equal(back, tensor)
    back.add_(1) if back.dtype != torch.bool else back.logical_not_()  # writable
    assert not torch.equal(back, tensor) or tensor.numel() == 0


def test_plain_tensors_arrive_detached_and_parameters_keep_their_flag() -> None:
    leaf = torch.randn(2, 3, requires_grad=True)
    back = roundtrip(leaf * 2)  # not a leaf: its graph stays behind
    assert not back.requires_grad and torch.equal(back, (leaf * 2).detach())
    assert not roundtrip(leaf).requires_grad
    frozen = torch.nn.Parameter(torch.randn(3), requires_grad=False)
    trained = torch.nn.Parameter(torch.randn(3))
    back_frozen, back_trained = roundtrip((frozen, trained))
    assert type(back_frozen) is torch.nn.Parameter and not back_frozen.requires_grad
    assert type(back_trained) is torch.nn.Parameter and back_trained.requires_grad
    assert torch.equal(back_frozen.detach(), frozen.detach())


def test_modules_arrive_working_and_tensors_are_bytes_not_torch_save() -> None:
    layers = random_flow(4, seed=5, depth=4)
    payload = tensor_pickle.dumps(layers)
    assert b"_load_from_bytes" not in payload  # torch's own storage pickling was not used
    back = roundtrip(layers)
    z = torch.randn(6, 4, dtype=torch.float64)
    for layer, copy in zip(layers, back, strict=True):
        expected, got = layer(z), copy(z)
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_one_object_passed_twice_stays_one_object() -> None:
    shared = torch.randn(3)
    first, second = roundtrip((shared, shared))
    assert first is second


def test_other_tensors_keep_torchs_pickling() -> None:
    sparse = torch.eye(3).to_sparse()
    back = roundtrip(sparse)
    assert back.is_sparse and torch.equal(back.to_dense(), torch.eye(3))


def test_huge_page_ranges_are_whole_aligned_pages() -> None:
    page = hugepages.HUGE_PAGE
    ranges = [(page - 4096, 3 * page + 10), (5 * page, 5 * page + 4096), (8 * page, 9 * page)]
    assert list(hugepages._huge_page_aligned(iter(ranges))) == [
        (page, 3 * page),
        (8 * page, 9 * page),
    ]


def test_collapsing_leaves_a_working_process_that_forks() -> None:
    """In a child interpreter: collapse, then check the kernel's own count and that a fork
    still runs torch. Where MADV_COLLAPSE is missing the call collapses nothing."""
    script = textwrap.dedent(
        """
        import os, sys, torch
        from grader.runner import hugepages
        collapsed = hugepages.collapse_anonymous_memory()
        assert collapsed >= 0 and collapsed % hugepages.HUGE_PAGE == 0
        rollup_file = "/proc/self/smaps_rollup"
        rollup = open(rollup_file).read() if os.path.exists(rollup_file) else ""
        huge = [int(l.split()[1]) for l in rollup.splitlines() if l.startswith("AnonHugePages:")]
        if collapsed:
            assert huge and huge[0] > 0, rollup
        pid = os.fork()
        if pid == 0:
            os._exit(0 if torch.ones(3).sum().item() == 3 else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        print(collapsed)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 0


def test_sympy_warm_up_leaves_no_cached_expression() -> None:
    script = textwrap.dedent(
        """
        from grader.runner import preload
        preload.load_and_warm(["sympy", "not-a-library"])
        from sympy.core.cache import CACHE
        print(sum(function.cache_info().currsize for function in CACHE))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 0
    assert preload.PRELOADABLE == ("sympy", "calls")


def test_batch_fork_servers_ask_for_huge_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.batch import service

    seen: dict[str, object] = {}

    def fake_start(mode: object, preload: tuple[str, ...] = (), *, huge_pages: bool = False):
        seen.update(mode=mode, preload=preload, huge_pages=huge_pages)
        return "zygote"

    monkeypatch.setattr(service.Zygote, "start", staticmethod(fake_start))
    assert service.start_zygote("basic") == "zygote"
    assert seen == {"mode": "basic", "preload": ("sympy", "calls"), "huge_pages": True}


HOOK_CALLS: list[str] = []


def record_forward(module: torch.nn.Module, *_: object) -> None:
    HOOK_CALLS.append(type(module).__name__)


def test_modules_drop_only_default_bookkeeping() -> None:
    coupling = random_flow(4, seed=2, depth=2)[1].eval()
    coupling.register_forward_hook(record_forward)
    payload = tensor_pickle.dumps(coupling)
    back = roundtrip(coupling)
    assert b"_backward_hooks" not in payload  # an empty default is left out
    assert not back.training  # a changed default is kept
    HOOK_CALLS.clear()
    back(torch.randn(2, 4, dtype=torch.float64))
    assert HOOK_CALLS == ["SinhArcsinhCoupling"]  # so is a registered hook


def test_warming_the_call_path_leaves_a_server_that_forks_working_torch() -> None:
    """The `calls` warm-up runs torch before forking: a child must still compute, also
    with more than one thread (no thread pool was created in the parent)."""
    script = textwrap.dedent(
        """
        import os, torch
        from grader.runner import preload
        preload.load_and_warm(["calls"])
        assert torch.get_num_threads() == 1
        pid = os.fork()
        if pid == 0:
            torch.set_num_threads(2)
            x = torch.randn(256, 256)
            ok = torch.allclose((x @ x.T).diagonal(), (x * x).sum(1), rtol=1e-4, atol=1e-3)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_a_matrix_the_fork_server_prebuilt_reaches_the_worker_unchanged() -> None:
    """After a call with the cost matrix, the next worker for that file gets the same
    matrix built by the fork server (it arrives equal, and the call still works)."""
    from grader.runner.client import StudentModule
    from grader.runner.zygote import Zygote
    from grader.testing.flows_02 import LargeLowerTriangular, build_lower_triangular

    token = LargeLowerTriangular(300, seed=11)
    expected = build_lower_triangular(300, 11)
    server = Zygote.start("basic")
    try:
        for _ in range(2):  # the second worker is forked after the server prebuilt it
            student = StudentModule(
                ROOT / "solutions" / "exercise_02_triangular_logdet.py",
                "exercise_02_triangular_logdet",
                server,
            )
            try:
                got = student.triangular_log_abs_det(token)
            finally:
                student.close()
            torch.testing.assert_close(
                got, torch.log(torch.diagonal(expected[0]).abs()).sum()[None]
            )
        assert server.built_for("exercise_02_triangular_logdet") == (token.prebuild_call(),)
    finally:
        server.close()


def test_a_worker_cannot_write_to_the_prebuilt_matrix_of_its_fork_server() -> None:
    """The matrix is a private mapping: writes in a forked child stay in the child."""
    import os

    from grader.testing.flows_02 import (
        _PREBUILT,
        build_lower_triangular,
        prebuild_lower_triangular,
    )

    prebuild_lower_triangular(40, 3)
    shared = _PREBUILT[(40, 3)]
    before = shared.clone()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        build_lower_triangular(40, 3).fill_(7.0)
        os._exit(0)
    os.waitpid(pid, 0)
    assert torch.equal(shared, before)


def test_rebuilt_tensors_own_resizable_storage() -> None:
    back = roundtrip(torch.arange(6.0))
    back.resize_(10)  # a student may use out= or resize_ on an argument
    assert back.shape == (10,)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="O_TMPFILE and /proc: Linux")
@pytest.mark.parametrize("nameless", [True, False], ids=["O_TMPFILE", "mkstemp"])
def test_the_worker_output_file_leaves_no_name_behind(
    nameless: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output goes to a file with no name (O_TMPFILE), or to one unlinked at once where that
    flag is missing; either way it can be written and read back and the folder stays empty."""
    import os
    import tempfile

    from grader.runner import worker

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    if nameless:
        try:
            os.close(os.open(tmp_path, os.O_TMPFILE | os.O_RDWR, 0o600))
        except OSError:
            pytest.skip("this filesystem has no O_TMPFILE (NFS, old overlayfs)")
    else:
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    output = worker._Output()
    try:
        where = os.readlink(f"/proc/self/fd/{output.fd}")
        assert ("flowgrade-out-" in where) is not nameless and where.endswith("(deleted)")
        os.write(output.fd, b"printed\n")
        assert worker._read_new_output(output, 100) == "printed\n"
        assert worker._read_new_output(output, 100) == ""
        assert list(tmp_path.iterdir()) == []
    finally:
        os.close(output.fd)
