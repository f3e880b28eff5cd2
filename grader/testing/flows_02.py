"""A large lower-triangular Jacobian that is built where it is used (exercise-02's cost test).

A (1, d, d) float64 matrix with d = 6000 is 288 MB; pickling it and copying it into the
worker would take seconds. Instead the trusted side sends a `LargeLowerTriangular` token
whose pickle is a call to `build_lower_triangular(d, seed)`: unpickling it in the worker
builds a plain `torch.Tensor` there, before the call starts and before its time limit runs.
The student's function therefore receives an ordinary tensor.

The matrix lives in an anonymous memory map, which the kernel hands out as zero pages on
demand, and its off-diagonal entries sit in a narrow band just below the diagonal: only the
~6k pages that hold the diagonal are ever written (random positions touched ~26k pages,
`torch.zeros` all 70k). Building it takes ~45 ms instead of ~110 ms with random positions.

The tensor the student receives is a `WatchedMatrix`: a determinant or a factorisation of
the whole matrix (`torch.linalg.slogdet(J)`, `J.det()`, `torch.linalg.lu_factor(J)`, ...)
raises `WholeMatrixDecomposition` at once instead of running for seconds, so the cost test
can name the mistake without waiting for its time limit. Every other operation works as on
a plain tensor; what it returns is plain (`J.contiguous()`, `J.double()` and in-place ones
return the watched matrix itself). O(d^3) work the watch does not see (on a copy or a view
such as `J[0]`, or in numpy) still meets the time limit.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor
from torch.overrides import resolve_name

OFF_DIAGONAL_ENTRIES = 20_000
BAND = 5  # off-diagonal entries lie at most this many columns left of the diagonal
# Determinants and factorisations of a d x d matrix: O(d^3) work whatever the matrix holds.
# Names as `torch.linalg.<name>`, `torch.<name>` and `Tensor.<name>` give them.
WHOLE_MATRIX_DECOMPOSITIONS = frozenset(
    {
        "det", "logdet", "slogdet", "linalg_det", "linalg_slogdet",
        "inverse", "linalg_inv", "linalg_inv_ex", "linalg_pinv", "pinverse",
        "lu", "linalg_lu", "linalg_lu_factor", "linalg_lu_factor_ex",
        "linalg_solve", "linalg_solve_ex", "cholesky", "linalg_cholesky", "linalg_cholesky_ex",
        "qr", "linalg_qr", "svd", "linalg_svd", "linalg_svdvals",
        "linalg_eig", "linalg_eigvals", "linalg_eigh", "linalg_eigvalsh", "linalg_matrix_rank",
    }
)  # fmt: skip


class WholeMatrixDecomposition(BaseException):
    """Raised in the worker when student code decomposes the whole cost-test matrix.

    A BaseException, so that an `except Exception` in the student's code does not hide it
    (the worker reports it like any other exception: `WholeMatrixDecomposition: ...`)."""


class WatchedMatrix(Tensor):
    """A tensor that refuses `WHOLE_MATRIX_DECOMPOSITIONS`; other operations return plain
    `torch.Tensor`s (only the matrix itself is watched, not views or copies of it)."""

    def __deepcopy__(self, memo: dict[int, object]) -> Tensor:
        """A plain copy (torch's own deep copy of a subclass fails when `clone` returns a
        plain tensor): copying is no mistake, only its cost is judged, by the time limit."""
        copied = self.as_subclass(Tensor).clone()
        memo[id(self)] = copied
        return copied

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., object],
        types: tuple[type, ...],
        args: tuple[object, ...] = (),
        kwargs: dict[str, object] | None = None,
    ) -> object:
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in WHOLE_MATRIX_DECOMPOSITIONS:
            given = (*args, *kwargs.values())
            shape = next((tuple(a.shape) for a in given if isinstance(a, WatchedMatrix)), ())
            raise WholeMatrixDecomposition(
                f"{resolve_name(func) or func} of the whole {shape} matrix"
            )
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **kwargs)


def triangular_diagonal(d: int, seed: int) -> Tensor:
    """The diagonal (d,) float64 of `build_lower_triangular(d, seed)`: |J_ii| in [0.5, 2],
    random signs, so log|det J| is finite and the determinant itself is far from 0 or inf."""
    generator = torch.Generator().manual_seed(seed)
    magnitude = torch.exp((torch.rand(d, generator=generator, dtype=torch.float64) - 0.5) * 1.3)
    sign = torch.where(torch.rand(d, generator=generator) < 0.5, -1.0, 1.0).to(torch.float64)
    return magnitude * sign


def build_lower_triangular(d: int, seed: int) -> Tensor:
    """A (1, d, d) float64 lower-triangular matrix: the diagonal above plus sparse random
    entries strictly below it, in the band 1 <= i - j <= BAND (so it is not merely
    diagonal, and a row sum or a full-matrix reduction gives a different answer).

    Returns the matrix the fork server built before forking this process, if it did
    (`prebuild_lower_triangular`): a worker then shares its pages instead of writing
    ~6k pages of its own."""
    prebuilt = _PREBUILT.get((d, seed))
    if prebuilt is not None:
        return prebuilt
    matrix = _zeros_on_demand(d)
    matrix[0].diagonal().copy_(triangular_diagonal(d, seed))
    generator = torch.Generator().manual_seed(seed + 1)
    rows = torch.randint(1, d, (OFF_DIAGONAL_ENTRIES,), generator=generator)
    offsets = torch.randint(1, BAND + 1, (OFF_DIAGONAL_ENTRIES,), generator=generator)
    cols = (rows - offsets).clamp(min=0)
    flat = torch.unique(rows * d + cols)  # distinct positions: the result is deterministic
    values = torch.randn(flat.numel(), generator=generator, dtype=torch.float64)
    matrix.view(-1)[flat] = values
    return matrix


def _zeros_on_demand(d: int) -> Tensor:
    """A (1, d, d) float64 tensor of zeros backed by an anonymous map (zero-filled lazily)."""
    size = d * d * 8
    # private, not mmap's default MAP_SHARED: a worker's writes must never reach the fork
    # server's prebuilt copy or another worker
    buffer = mmap.mmap(-1, max(size, 1), flags=mmap.MAP_PRIVATE)
    return torch.frombuffer(buffer, dtype=torch.float64, count=d * d).view(1, d, d)


def watched_lower_triangular(d: int, seed: int) -> WatchedMatrix:
    """`build_lower_triangular(d, seed)` as a `WatchedMatrix` (same storage)."""
    return build_lower_triangular(d, seed).as_subclass(WatchedMatrix)


@dataclass(frozen=True)
class LargeLowerTriangular:
    """Stands for `build_lower_triangular(d, seed)`; becomes that matrix, watched
    (`watched_lower_triangular`), when unpickled.

    `BUILT_IN_WORKER` asks the client to start a call's time limit only once the worker
    has built it (~45 ms for d = 6000), not when the request is sent."""

    BUILT_IN_WORKER: ClassVar[bool] = True
    d: int
    seed: int

    def __reduce__(self) -> tuple[object, tuple[int, int]]:
        return watched_lower_triangular, (self.d, self.seed)

    def prebuild_call(self) -> tuple[Callable[[int, int], None], tuple[int, int]]:
        """What the fork server runs to have this matrix built for the workers it forks next
        (`prebuild_lower_triangular`)."""
        return prebuild_lower_triangular, (self.d, self.seed)


def prebuild_lower_triangular(d: int, seed: int) -> None:
    """Build the matrix in this process (the fork server) for the workers it forks next.
    Only the latest one is kept: a batch uses one seed, so one matrix serves every
    submission (~30 ms less per worker that gets it)."""
    if (d, seed) not in _PREBUILT:
        _PREBUILT.clear()
        _PREBUILT[(d, seed)] = build_lower_triangular(d, seed)


_PREBUILT: dict[tuple[int, int], Tensor] = {}
