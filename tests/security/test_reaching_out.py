"""Attacks that reach outside the worker: network, the gradebook and other files, the grader's
processes, links and names in the submission folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest
from hostile import FILE, REFERENCE, assert_score, messages, source, write_submission

from grader.runner import sandbox

needs_os_layer = pytest.mark.skipif(
    sandbox.plan().mode == "basic",
    reason="no OS isolation on this machine (install bubblewrap, see SECURITY.md)",
)

ZEROS = """
def affine_coupling_inverse(x, conditioner, clamp=None):
    return torch.zeros_like(x), torch.zeros(x.shape[0], dtype=x.dtype)
"""


def _digest(root: Path) -> str:
    """Names, modes and contents of a file or of everything under a folder."""
    digest = hashlib.sha256()
    for path in [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]:
        digest.update(oct(path.stat().st_mode).encode())
        digest.update(str(path).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@needs_os_layer
def test_network_sockets(grade) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    contacted: list[bool] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                server.accept()[0].close()
                contacted.append(True)
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        result = grade(
            source(
                f"""
                import socket

                def affine_coupling_forward(z, conditioner, clamp=None):
                    reached = []
                    for host in ("127.0.0.1", "1.1.1.1", "pypi.org"):
                        try:
                            socket.create_connection((host, {port}), timeout=0.3).close()
                            reached.append(host)
                        except OSError:
                            pass
                    if reached:
                        raise SystemExit("network reached: " + ", ".join(reached))
                    return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)
                """,
                ZEROS,
            )
        )
    finally:
        stop.set()
        thread.join()
        server.close()
    assert_score(result, 1)
    assert not contacted
    assert "network reached" not in messages(result)


def test_writing_the_gradebook_results_and_other_submissions(grade, tmp_path: Path) -> None:
    gradebook = tmp_path / "gradebook.sqlite"
    gradebook.write_bytes(b"SQLite format 3\x00" + b"\x01" * 4096)
    results = tmp_path / "results" / "results.json"
    results.parent.mkdir()
    results.write_text('{"score": 0}')
    other = write_submission(tmp_path / "other-student", REFERENCE)
    os.chmod(gradebook, 0o666)  # even a careless world-writable file must survive
    watched = (gradebook, results.parent, other)
    before = [_digest(p) for p in watched]
    targets = [str(gradebook), str(results), str(other / FILE), str(other)]
    result = grade(
        source(
            f"""
            import shutil
            TARGETS = {targets!r}

            def affine_coupling_forward(z, conditioner, clamp=None):
                for target in TARGETS:
                    for attack in (
                        lambda t: open(t, "w").write('{{"score": 10}}'),
                        lambda t: open(t + ".new", "w").write("x") and os.replace(t + ".new", t),
                        lambda t: os.unlink(t),
                        lambda t: shutil.rmtree(t),
                        lambda t: os.chmod(t, 0o777),
                    ):
                        try:
                            attack(target)
                        except OSError:
                            pass
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)
            """,
            ZEROS,
        )
    )
    assert_score(result, 1)
    if sandbox.plan().mode != "basic":
        assert [_digest(p) for p in watched] == before


@needs_os_layer
def test_signalling_the_grader_and_the_fork_server(grade, zygote) -> None:
    result = grade(
        source(
            f"""
            import signal

            def affine_coupling_forward(z, conditioner, clamp=None):
                for pid in (os.getppid(), {zygote.pid}, {os.getpid()}, 1, -1):
                    for sig in (signal.SIGSTOP, signal.SIGKILL):
                        try:
                            os.kill(pid, sig)
                        except OSError:
                            pass
                return torch.zeros_like(z), torch.zeros(z.shape[0], dtype=z.dtype)
            """,
            ZEROS,
        )
    )
    assert_score(result, 1)
    assert zygote.alive()


def test_submission_file_that_is_a_symlink_to_the_reference(grade, tmp_path: Path) -> None:
    folder = tmp_path / "linked"
    folder.mkdir()
    reference = Path(__file__).resolve().parents[2] / "solutions" / FILE
    (folder / FILE).symlink_to(reference)
    result = grade(folder)
    assert_score(result, 0)
    assert "is a symbolic link" in messages(result)


def test_submission_file_that_links_elsewhere(grade, tmp_path: Path) -> None:
    """A link to a device, a hard link to a copy of the reference, a folder in its place."""
    for name, make in (
        ("device", lambda f: (f / FILE).symlink_to("/dev/zero")),
        ("hardlink", lambda f: os.link(_copy_reference(f), f / FILE)),
        ("folder", lambda f: (f / FILE).mkdir()),
    ):
        folder = tmp_path / name
        folder.mkdir()
        make(folder)
        result = grade(folder)
        assert_score(result, 0)
        assert any(
            word in messages(result)
            for word in ("symbolic link", "hard link", "not a regular file")
        )


def _copy_reference(folder: Path) -> Path:
    copy = folder / "reference_copy.txt"
    shutil.copy(Path(__file__).resolve().parents[2] / "solutions" / FILE, copy)
    return copy


def test_hostile_file_and_folder_names(grade, tmp_path: Path) -> None:
    """Honest content in a folder with a hostile name, next to files with hostile names:
    full marks, and nothing outside the folder is touched."""
    folder = tmp_path / "evil\n$(touch pwned) `id` ; rm -rf ~ \u202e\u00e9\x1b[31m"
    write_submission(folder, REFERENCE)
    for name in (
        "-rf",
        "--help",
        "..\u2024..",
        "x" * 200,
        "a\nb",
        " ",
        "*",
        "\udcff".encode("utf-8", "surrogateescape").decode("latin-1"),
    ):
        (folder / name).write_text("print('hello')")
    (folder / "conftest.py").write_text("raise SystemExit(3)")
    result = grade(folder)
    assert_score(result, 10)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
