"""Which device the hidden tests run on: `auto`, `cpu` or `cuda`, resolved once per grading."""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda")


class DeviceUnavailable(RuntimeError):
    """The requested device cannot be used on this machine."""


def resolve_device(requested: str) -> str:
    """Map `auto|cpu|cuda` to a concrete device, failing clearly when CUDA is missing."""
    if requested not in DEVICES:
        raise DeviceUnavailable(f"unknown device {requested!r}; valid choices: auto, cpu, cuda")
    if requested == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise DeviceUnavailable("--device cuda was requested but no CUDA GPU is available here")
    return "cuda" if available else "cpu"
