"""Resource limits for student code: defaults, per-course overrides, and how they are applied.

Wall-clock limits are enforced by the trusted side (it kills the worker's whole process
group, or its pid namespace); the others are rlimits set in the worker before any student
code runs. A course overrides any field from its config, e.g. in YAML:

    limits:
      call_seconds: 20
      address_space_gib: 6

Sizes are given in the config as `address_space_gib`, `*_mib` and `output_bytes`, and
stored in bytes here.
"""

from __future__ import annotations

import resource
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

MIB = 1 << 20
GIB = 1 << 30


class LimitsError(ValueError):
    """A course config names an unknown limit or gives an unusable value."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use. All times in seconds, all sizes in bytes."""

    call_seconds: float = 10.0  # wall time of one call into student code
    submission_seconds: float = 60.0  # wall time of all calls of one submission together
    import_seconds: float = 20.0  # wall time to import the student's file
    cpu_seconds: int = 60  # CPU time of one worker process (RLIMIT_CPU)
    address_space_bytes: int = 4 * GIB  # RLIMIT_AS; torch alone needs ~0.6-0.9 GiB
    processes: int = 64  # RLIMIT_NPROC (threads count); needs a dedicated uid
    file_bytes: int = 32 * MIB  # RLIMIT_FSIZE: largest file, printed output included
    output_bytes: int = 8000  # printed output kept and shown to the student
    open_files: int = 256  # RLIMIT_NOFILE
    tmp_bytes: int = 64 * MIB  # size of the worker's private /tmp where one is mounted
    source_bytes: int = 1 * MIB  # largest exercise file accepted
    reply_bytes: int = 512 * MIB  # largest reply accepted from a worker
    threads: int = 1  # torch / OpenMP threads in the worker

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any] | None) -> Limits:
        """Defaults overridden by a course config's `limits:` section (sizes in MiB/GiB)."""
        if not config:
            return cls()
        if not isinstance(config, Mapping):
            raise LimitsError("limits: expected a mapping of limit names to numbers")
        names = {_config_name(f.name): f for f in fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in config.items():
            if key not in names:
                valid = ", ".join(sorted(names))
                raise LimitsError(f"limits: unknown limit {key!r}; valid limits: {valid}")
            field = names[key]
            changes[field.name] = _convert(key, value, field.name)
        return replace(cls(), **changes)

    def describe(self) -> str:
        """One line for reports: `call 10 s, submission 60 s, cpu 60 s, memory 4 GiB, ...`."""
        return (
            f"call {self.call_seconds:g} s, submission {self.submission_seconds:g} s, "
            f"cpu {self.cpu_seconds} s, memory {_size(self.address_space_bytes)}, "
            f"processes {self.processes}, files {_size(self.file_bytes)}, "
            f"output {_size(self.output_bytes)}"
        )


def _config_name(name: str) -> str:
    """The key a course config uses: memory in GiB, other sizes in MiB, output in bytes."""
    if name == "address_space_bytes":
        return "address_space_gib"
    if name.endswith("_bytes") and name != "output_bytes":
        return name.removesuffix("_bytes") + "_mib"
    return name


def _convert(key: str, value: Any, name: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise LimitsError(f"limits: {key} must be a positive number, got {value!r}")
    if key.endswith("_gib"):
        return int(value * GIB)
    if key.endswith("_mib"):
        return int(value * MIB)
    if name in ("call_seconds", "submission_seconds", "import_seconds"):
        return float(value)
    if value != int(value):
        raise LimitsError(f"limits: {key} must be a whole number, got {value!r}")
    return int(value)


def _size(n: int) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


def size_text(n: int) -> str:
    """`4 GiB`, `32 MiB`, `8000 bytes` — for messages to students."""
    return _size(n)


def apply_rlimits(
    limits: Limits, *, memory: bool, processes: bool, cpu_grace_seconds: int = 2
) -> list[str]:
    """Set the worker's rlimits (call in the worker, before student code). Returns the names
    of the limits that could not be set (macOS refuses some).

    At `cpu_seconds` of CPU Linux sends SIGXCPU, and SIGKILL `cpu_grace_seconds` later
    (the hard limit) in case the student ignores it. A namespace's pid 1 never gets
    SIGXCPU, so it passes 0: SIGKILL at the limit."""
    cpu_hard = limits.cpu_seconds + cpu_grace_seconds
    wanted: list[tuple[str, int, int, int]] = [
        ("cpu", resource.RLIMIT_CPU, limits.cpu_seconds, cpu_hard),
        ("file size", resource.RLIMIT_FSIZE, limits.file_bytes, limits.file_bytes),
        ("open files", resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
        ("core", resource.RLIMIT_CORE, 0, 0),
    ]
    if memory:
        wanted.append(("memory", resource.RLIMIT_AS, *(limits.address_space_bytes,) * 2))
    if processes and hasattr(resource, "RLIMIT_NPROC"):
        wanted.append(("processes", resource.RLIMIT_NPROC, *(limits.processes,) * 2))
    failed = []
    for name, which, soft, hard in wanted:
        try:
            _, old_hard = resource.getrlimit(which)
            if old_hard != resource.RLIM_INFINITY:
                soft, hard = min(soft, old_hard), min(hard, old_hard)
            resource.setrlimit(which, (soft, hard))
        except (OSError, ValueError):
            failed.append(name)
    return failed
