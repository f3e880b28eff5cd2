"""Attacks on the reply channel from inside the worker: student code writes its own frames
(a pickle, an oversized or malformed reply, a forged 'ok') straight onto the socket."""

from __future__ import annotations

import uuid
from pathlib import Path

from hostile import FIND_SOCKET, assert_score, messages, source


def test_pickle_on_the_reply_channel_is_never_loaded(grade, tmp_path: Path) -> None:
    marker = Path("/tmp") / f"flowgrade-pickle-{uuid.uuid4().hex}"
    result = grade(
        source(
            FIND_SOCKET,
            f"""
            class Boom:
                def __reduce__(self):
                    return (open, ({str(marker)!r}, "w"))

            def affine_coupling_forward(z, conditioner, clamp=None):
                sock = worker_socket()
                payload = pickle.dumps(Boom())
                sock.sendall(frame(payload))  # in place of the JSON header
                sock.sendall(frame(json.dumps({{"status": "ok", "buffers": [len(payload)],
                    "value": {{"t": "pickle", "buf": 0}}}}).encode()) + frame(payload))
                os._exit(0)

            affine_coupling_inverse = affine_coupling_forward
            """,
        )
    )
    assert_score(result, 1)
    assert not marker.exists()
    assert "unreadable reply" in messages(result)


def test_oversized_replies_are_refused(grade) -> None:
    result = grade(
        source(
            FIND_SOCKET,
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                # a real tensor far over the reply limit (16 MiB in these tests)
                return torch.zeros(8 << 20, dtype=torch.float64), torch.zeros(1)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                sock = worker_socket()
                sock.sendall(struct.pack("!Q", 1 << 62))  # announces an absurd header
                sock.sendall(frame(json.dumps({"status": "ok", "buffers": [1 << 40]}).encode()))
                os._exit(0)
            """,
        )
    )
    assert_score(result, 1)
    assert "exceeds the limit" in messages(result) or "bad buffer table" in messages(result)


def test_malformed_replies_are_refused(grade) -> None:
    result = grade(
        source(
            FIND_SOCKET,
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                sock = worker_socket()
                sock.sendall(frame(b"[" * 100_000 + b"]" * 100_000))  # deep JSON
                sock.sendall(frame(b"\\xff\\xfe not json"))
                os._exit(0)

            def affine_coupling_inverse(x, conditioner, clamp=None):
                sock = worker_socket()
                bad = {"status": "ok", "buffers": [8],
                       "value": {"t": "tensor", "wire": "float64", "shape": [10**6, 10**6],
                                 "buf": 0}}
                sock.sendall(frame(json.dumps(bad).encode()) + frame(b"\\0" * 8))
                return torch.zeros_like(x), torch.zeros(x.shape[0], dtype=x.dtype)
            """,
        )
    )
    assert_score(result, 1)
    assert "unreadable reply" in messages(result)


def test_forged_ok_reply_with_wrong_values_scores_nothing(grade) -> None:
    """A forged reply is just another answer: it is decoded as data and checked like any."""
    result = grade(
        source(
            FIND_SOCKET,
            """
            def affine_coupling_forward(z, conditioner, clamp=None):
                sock = worker_socket()
                sock.sendall(frame(json.dumps({"status": "started", "buffers": []}).encode()))
                value = {"t": "tuple", "items": ["passed", {"t": "float", "v": "10.0"}]}
                sock.sendall(frame(json.dumps({"status": "ok", "buffers": [],
                                               "value": value}).encode()))
                import time
                time.sleep(30)

            affine_coupling_inverse = affine_coupling_forward
            """,
        )
    )
    assert_score(result, 1)
