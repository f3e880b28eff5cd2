"""The worker -> grader wire format: what is accepted, what is refused, and that no byte from
a worker is ever unpickled."""

from __future__ import annotations

import importlib
import json
import os
import pickle
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.runner import protocol
from grader.runner.protocol import ProtocolError, decode_value, encode_value

FRAME = struct.Struct("!Q")


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(2)
    yield ours, theirs
    ours.close()
    theirs.close()


def frame(payload: bytes) -> bytes:
    return FRAME.pack(len(payload)) + payload


def roundtrip(value: object) -> object:
    buffers: list[bytes] = []
    node = encode_value(value, buffers)
    wire = json.loads(json.dumps(node))  # exactly what crosses the socket
    return decode_value(wire, buffers)


def test_tensors_arrays_and_plain_values_round_trip() -> None:
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    value = (tensor, np.eye(2), [1, 2.5, float("nan"), "text", None, True])
    back = roundtrip(value)
    assert isinstance(back, tuple) and len(back) == 3
    assert torch.equal(back[0], tensor) and back[0].dtype == torch.float32
    assert np.array_equal(back[1], np.eye(2))
    assert back[2][:2] == [1, 2.5] and np.isnan(back[2][2]) and back[2][3:] == ["text", None, True]
    half = roundtrip(torch.ones(3, dtype=torch.bfloat16))
    assert half.dtype == torch.bfloat16


def test_objects_that_are_not_plain_data_are_never_rebuilt() -> None:
    class Sneaky:
        def __eq__(self, other: object) -> bool:
            return True

    back = roundtrip([Sneaky(), torch.zeros(2, dtype=torch.uint16)])
    assert isinstance(back[0], protocol.Unsupported) and back[0].type_name == "Sneaky"
    assert isinstance(back[1], protocol.Unsupported)


def test_well_formed_reply_is_read(pair) -> None:
    ours, theirs = pair
    protocol.send_reply(theirs, {"status": "ok", "value": 3}, [b"abcd"])
    header, buffers = protocol.recv_reply(ours)
    assert header["status"] == "ok" and buffers == [b"abcd"]


@pytest.mark.parametrize(
    "payload",
    [
        b"\x80\x05\x95pickle-bytes",  # a pickle where JSON belongs
        b"\xff\xfe not utf-8",
        b"[" * 100_000 + b"]" * 100_000,  # deep nesting
        b"1" * 10_000,  # an integer too long to parse
        b"[1, 2, 3]",  # not an object
        b'{"status": "ok", "buffers": [-1]}',
        b'{"status": "ok", "buffers": [true]}',
        b'{"status": "ok", "buffers": "12"}',
        b'{"status": "ok", "buffers": [' + b"0," * 5000 + b"0]}",
        b'{"status": "ok", "buffers": [1099511627776]}',
    ],
    ids=[
        "pickle",
        "not-utf8",
        "deep",
        "huge-int",
        "not-object",
        "negative",
        "bool",
        "string",
        "too-many",
        "too-large",
    ],
)
def test_malformed_headers_are_refused(pair, payload: bytes) -> None:
    ours, theirs = pair
    theirs.sendall(frame(payload))
    with pytest.raises(ProtocolError):
        protocol.recv_reply(ours)


def test_oversized_frame_is_refused_before_it_is_read(pair) -> None:
    ours, theirs = pair
    theirs.sendall(FRAME.pack(1 << 40))  # announces a terabyte and sends nothing
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        protocol.recv_reply(ours)


def test_reply_limit_is_configurable(pair) -> None:
    ours, theirs = pair
    protocol.send_reply(theirs, {"status": "ok"}, [b"x" * 1000])
    with pytest.raises(ProtocolError, match="bad buffer table"):
        protocol.recv_reply(ours, max_payload=999)


def test_buffer_shorter_than_announced_is_refused(pair) -> None:
    ours, theirs = pair
    theirs.sendall(frame(b'{"status": "ok", "buffers": [8]}') + frame(b"1234"))
    with pytest.raises(ProtocolError, match="do not match"):
        protocol.recv_reply(ours)


def test_peer_closing_mid_reply_is_reported(pair) -> None:
    ours, theirs = pair
    theirs.sendall(FRAME.pack(100) + b"{")
    theirs.close()
    with pytest.raises(protocol.PeerClosed):
        protocol.recv_reply(ours)


@pytest.mark.parametrize(
    "node",
    [
        {"t": "tensor", "wire": "float64", "shape": [10**6, 10**6], "buf": 0},
        {"t": "tensor", "wire": "float64", "shape": [-1], "buf": 0},
        {"t": "tensor", "wire": "object", "shape": [1], "buf": 0},
        {"t": "numpy", "wire": "O", "shape": [1], "buf": 0},
        {"t": "tensor", "wire": "float64", "shape": [1], "buf": 5},
        {"t": "tensor", "wire": "float64", "shape": [1] * 17, "buf": 0},
        {"t": "pickle", "data": "gASVAAAAAAAAAAA="},
        {"t": "float", "v": "1" * 100},
        {"t": "float", "v": "__import__('os')"},
        {"t": "list", "items": list(range(5000))},
        {"no-kind": 1},
        [1, 2],
    ],
)
def test_malformed_values_are_refused(node: object) -> None:
    with pytest.raises(ProtocolError):
        decode_value(node, [b"\0" * 8])


def test_nesting_depth_is_bounded() -> None:
    node: object = 1
    for _ in range(50):
        node = {"t": "list", "items": [node]}
    with pytest.raises(ProtocolError, match="nesting"):
        decode_value(node, [])


def test_no_pickle_is_ever_loaded_from_a_worker(tmp_path: Path, monkeypatch) -> None:
    """A real worker call with every unpickling entry point booby-trapped in the grader."""
    from grader.runner.client import StudentModule
    from grader.runner.limits import Limits
    from grader.runner.zygote import shared_zygote

    def trap(*args: object, **kwargs: object) -> None:
        raise AssertionError("the grader tried to unpickle worker data")

    submission = tmp_path / "exercise.py"
    submission.write_text("import torch\ndef f(x):\n    return x * 2, [x.sum().item(), 'ok']\n")
    student = StudentModule(submission, "exercise", shared_zygote(), limits=Limits())
    monkeypatch.setattr(pickle, "loads", trap)
    monkeypatch.setattr(pickle, "load", trap)
    monkeypatch.setattr(pickle, "Unpickler", trap)
    monkeypatch.setattr(torch, "load", trap)
    monkeypatch.setattr(np, "load", trap)
    try:
        doubled, (total, text) = student.f(torch.ones(3))
    finally:
        student.close()
    assert torch.equal(doubled, torch.full((3,), 2.0)) and total == 3.0 and text == "ok"


@pytest.mark.skipif(not hasattr(socket, "SO_PASSCRED"), reason="SCM_CREDENTIALS is Linux-only")
def test_greeting_pid_comes_from_the_kernel_not_the_sender() -> None:
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    ours.settimeout(5)
    child = os.fork()
    if child == 0:  # pragma: no cover - child
        protocol.send_reply(theirs, {"status": "hello", "pid": 1}, [])  # lies about its pid
        os._exit(0)
    try:
        hello, pid = protocol.recv_hello(ours)
    finally:
        os.waitpid(child, 0)
        ours.close()
        theirs.close()
    assert hello["pid"] == 1
    assert pid == child


def test_grader_never_imports_pickle_for_decoding() -> None:
    """protocol's decoding half and the client never call a pickle loader."""
    for name in ("grader.runner.protocol", "grader.runner.client"):
        text = Path(importlib.import_module(name).__file__).read_text()
        assert "pickle.load" not in text and "allow_pickle=True" not in text
        assert "weights_only=False" not in text
