"""Wire format between the trusted grader and a worker that runs student code.

Trusted -> worker: a pickle (the worker is allowed to trust us).
Worker -> trusted: one JSON header plus raw byte buffers. Decoding never executes code:
tensors are rebuilt with `numpy.frombuffer` from a whitelisted dtype and a checked shape,
and nothing a worker sends is ever unpickled. Every size is checked before it is read:
a header is at most `MAX_HEADER_BYTES`, all buffers of one reply at most the reply limit
(`Limits.reply_bytes`), nesting at most `MAX_DEPTH`, sequences at most `MAX_ITEMS`.

A frame is an 8-byte big-endian length followed by that many bytes.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from typing import Any

import numpy as np

MAX_HEADER_BYTES = 1 << 20
MAX_PAYLOAD_BYTES = 256 << 20
MAX_DEPTH = 8
MAX_ITEMS = 4096
MAX_TEXT = 100_000

_LENGTH = struct.Struct("!Q")

# dtype name on the wire -> numpy dtype used to carry the bytes
WIRE_DTYPES: dict[str, str] = {
    "float16": "<f2",
    "float32": "<f4",
    "float64": "<f8",
    "complex64": "<c8",
    "complex128": "<c16",
    "int8": "i1",
    "int16": "<i2",
    "int32": "<i4",
    "int64": "<i8",
    "uint8": "u1",
    "bool": "?",
}


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed message."""


class PeerClosed(ProtocolError):
    """The peer closed the connection (for a worker: it exited or crashed)."""


def frame(payload: bytes) -> bytes:
    """`payload` as one frame: its length (8 bytes, big-endian), then the bytes."""
    return _LENGTH.pack(len(payload)) + payload


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(frame(payload))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(min(n - len(chunks), 1 << 20))
        if not chunk:
            raise PeerClosed("connection closed")
        chunks += chunk
    return bytes(chunks)


def recv_frame(sock: socket.socket, limit: int) -> bytes:
    (length,) = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size))
    if length > limit:
        raise ProtocolError(f"message of {length} bytes exceeds the limit of {limit}")
    return _recv_exact(sock, length)


def send_reply(sock: socket.socket, header: dict[str, Any], buffers: list[bytes]) -> None:
    """Send a JSON header that announces `len(buffers)` raw buffers, then the buffers."""
    header = {**header, "buffers": [len(b) for b in buffers]}
    send_frame(sock, json.dumps(header).encode())
    for buffer in buffers:
        send_frame(sock, buffer)


def parse_header(data: bytes) -> dict[str, Any]:
    """Decode a JSON header. Only `json` ever reads worker bytes: no pickle, no eval."""
    try:
        header = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ProtocolError(f"malformed header: {type(err).__name__}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not an object")
    return header


def recv_reply(
    sock: socket.socket, max_payload: int = MAX_PAYLOAD_BYTES
) -> tuple[dict[str, Any], list[bytes]]:
    """Receive a header and its buffers, enforcing size limits before reading."""
    header = parse_header(recv_frame(sock, MAX_HEADER_BYTES))
    sizes = header.get("buffers", [])
    if (
        not isinstance(sizes, list)
        or len(sizes) > MAX_ITEMS
        or not all(type(s) is int and s >= 0 for s in sizes)
        or sum(sizes) > max_payload
    ):
        raise ProtocolError("bad buffer table")
    buffers = [recv_frame(sock, size) for size in sizes]
    if [len(b) for b in buffers] != sizes:
        raise ProtocolError("buffer sizes do not match the header")
    return header, buffers


def recv_hello(sock: socket.socket) -> tuple[dict[str, Any], int | None]:
    """Receive a worker's first frame and, on Linux, the sender's pid as *this* process's pid
    namespace sees it (SCM_CREDENTIALS; the kernel fills it in, the sender cannot forge it
    without privileges). The caller must have set SO_PASSCRED before the worker wrote."""
    pid: int | None = None
    if hasattr(socket, "SCM_CREDENTIALS"):
        prefix, ancillary, _flags, _addr = sock.recvmsg(_LENGTH.size, socket.CMSG_SPACE(12))
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= 4:
                pid = struct.unpack("i", data[:4])[0]
        if not prefix:
            raise PeerClosed("connection closed")
        prefix += _recv_exact(sock, _LENGTH.size - len(prefix))
    else:
        prefix = _recv_exact(sock, _LENGTH.size)
    (length,) = _LENGTH.unpack(prefix)
    if length > 4096:
        raise ProtocolError("oversized greeting")
    return parse_header(_recv_exact(sock, length)), pid


# ---------------------------------------------------------------- encoding (worker side)


def encode_value(value: Any, buffers: list[bytes], depth: int = 0) -> Any:
    """Turn a student's return value into a JSON-able node, appending raw bytes to `buffers`.

    Runs in the worker; anything it cannot describe as plain data becomes `unsupported`.
    """
    import torch  # the worker always has torch loaded

    if depth > MAX_DEPTH:
        return {"t": "unsupported", "type": "nesting too deep"}
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value, buffers)
    if isinstance(value, np.ndarray):
        return _encode_array(np.ascontiguousarray(value), buffers, "cpu", "numpy")
    if value is None or type(value) in (bool, int, str):
        return value if not isinstance(value, str) else value[:MAX_TEXT]
    if type(value) is float:
        return {"t": "float", "v": repr(value)}
    if isinstance(value, np.generic):
        return encode_value(value.item(), buffers, depth + 1)
    if type(value) in (tuple, list):
        items = [encode_value(v, buffers, depth + 1) for v in list(value)[:MAX_ITEMS]]
        return {"t": type(value).__name__, "items": items}
    if any(c.__module__.startswith("sympy") for c in type(value).__mro__):
        return {"t": "sympy", "text": str(value)[:MAX_TEXT]}
    return {"t": "unsupported", "type": type(value).__name__[:100]}


def _encode_tensor(tensor: Any, buffers: list[bytes]) -> dict[str, Any]:
    import torch

    plain = tensor.as_subclass(torch.Tensor).detach()
    device = str(plain.device)
    dtype = str(plain.dtype).removeprefix("torch.")
    if plain.is_sparse or plain.layout != torch.strided:
        plain = plain.to_dense()
    if dtype == "bfloat16":
        plain = plain.float()
    if dtype not in WIRE_DTYPES and dtype != "bfloat16":
        return {"t": "unsupported", "type": f"tensor of dtype {dtype}"}
    array = plain.cpu().contiguous().numpy()
    node = _encode_array(array, buffers, device, "tensor")
    node["dtype"] = dtype
    node["requires_grad"] = bool(tensor.requires_grad)
    return node


def _encode_array(array: np.ndarray, buffers: list[bytes], device: str, kind: str) -> Any:
    name = array.dtype.name
    if name not in WIRE_DTYPES:
        return {"t": "unsupported", "type": f"array of dtype {name}"}
    buffers.append(array.astype(WIRE_DTYPES[name], copy=False).tobytes())
    return {
        "t": kind,
        "dtype": name,
        "wire": name,
        "shape": list(array.shape),
        "device": device,
        "buf": len(buffers) - 1,
    }


# ---------------------------------------------------------------- decoding (trusted side)


class Unsupported:
    """Stands for a returned object that is not plain data (it is never rebuilt)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<unsupported {self.type_name}>"


class SympyText(str):
    """The `str()` of a sympy expression returned by student code; parse it safely."""


def decode_value(node: Any, buffers: list[bytes], depth: int = 0) -> Any:
    """Rebuild a value from its node. Tensors come back as plain CPU `torch.Tensor`s with a
    `reported_device` attribute and their original dtype (bfloat16 is carried as float32)."""
    if depth > MAX_DEPTH + 1:
        raise ProtocolError("nesting too deep")
    if node is None or type(node) in (bool, int, str):
        return node
    if not isinstance(node, dict) or not isinstance(node.get("t"), str):
        raise ProtocolError("malformed value node")
    kind = node["t"]
    if kind == "float":
        return _decode_float(node.get("v"))
    if kind in ("tuple", "list"):
        items = node.get("items")
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise ProtocolError("malformed sequence")
        decoded = [decode_value(item, buffers, depth + 1) for item in items]
        return tuple(decoded) if kind == "tuple" else decoded
    if kind in ("tensor", "numpy"):
        return _decode_array(node, buffers, kind)
    if kind == "sympy":
        return SympyText(str(node.get("text", ""))[:MAX_TEXT])
    if kind == "unsupported":
        return Unsupported(str(node.get("type", "object"))[:100])
    raise ProtocolError(f"unknown value kind {kind!r}")


def _decode_float(text: Any) -> float:
    if not isinstance(text, str) or len(text) > 40:
        raise ProtocolError("malformed float")
    try:
        return float(text)
    except ValueError:
        raise ProtocolError("malformed float") from None


def _decode_array(node: dict[str, Any], buffers: list[bytes], kind: str) -> Any:
    wire = node.get("wire")
    shape = node.get("shape")
    index = node.get("buf")
    if wire not in WIRE_DTYPES or not isinstance(shape, list) or not isinstance(index, int):
        raise ProtocolError("malformed array node")
    if not all(isinstance(s, int) and s >= 0 for s in shape) or len(shape) > 16:
        raise ProtocolError("malformed array shape")
    if not 0 <= index < len(buffers):
        raise ProtocolError("array refers to a missing buffer")
    dtype = np.dtype(WIRE_DTYPES[wire])
    if math.prod(shape) * dtype.itemsize != len(buffers[index]):
        raise ProtocolError("array size does not match its buffer")
    array = np.frombuffer(buffers[index], dtype=dtype).reshape(shape).copy()
    if kind == "numpy":
        return array
    import torch

    tensor = torch.from_numpy(array)
    if node.get("dtype") == "bfloat16":
        tensor = tensor.to(torch.bfloat16)
    tensor.reported_device = str(node.get("device", "cpu"))[:32]
    return tensor
