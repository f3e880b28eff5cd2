"""Seeded option shuffling: the same (student, quiz, attempt) always sees the same order.

The attempt seed is a hash of (student, quiz, attempt), so it does not depend on Python's
hash randomisation or on the machine. Each question gets its own local RNG derived from the
attempt seed and the question id; options marked `pinned` ("All of the above",
"None of the above") keep their relative order after all the others. The shown order is
stored in the attempt, and feedback is keyed by option id, never by the displayed letter.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

from grader.quiz.model import Option

_PINNED = re.compile(r"(all|none|both|neither) of (the )?(above|these)\.?", re.IGNORECASE)


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (stable across processes and machines)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def attempt_seed(student: str, quiz: str, attempt: int) -> int:
    """The seed of one attempt: decides option orders and template numbers."""
    return derive_seed("attempt", student, quiz, attempt)


def is_pinned_text(text: str) -> bool:
    """Whether an option's text is an 'All/None of the above' kind that must stay last."""
    return bool(_PINNED.fullmatch(text.strip()))


def shuffled_order(
    options: Sequence[Option], seed: int, question_id: str, shuffle: bool = True
) -> list[str]:
    """Option ids in shown order: movable options shuffled, pinned ones last (bank order)."""
    movable = [o.id for o in options if not o.pinned]
    pinned = [o.id for o in options if o.pinned]
    if shuffle:
        random.Random(derive_seed("options", seed, question_id)).shuffle(movable)
    return movable + pinned


def letter(index: int) -> str:
    """The displayed letter of the option at `index` (0 -> A)."""
    return chr(ord("A") + index)
