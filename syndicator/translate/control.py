"""Stop requests for long translations (SIGTERM during `run`)."""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from ..errors import SyndicatorError

STOP = threading.Event()  # set by the signal handler of `syndicator run`
# CTranslate2 batches per call (argos: per parallel replica): a stop request waits at
# most this many batch times.
SUB_BATCHES = 4


class Interrupted(SyndicatorError):
    """A stop was requested; the work done so far is already stored."""


def check() -> None:
    if STOP.is_set():
        raise Interrupted("stop requested")


T, R = TypeVar("T"), TypeVar("R")


def in_slices(items: Sequence[T], step: int, run: Callable[[list[T]], list[R]],
              size: Callable[[T], int] = len) -> list[R]:
    """``run`` over ``items`` sorted by ``size`` and cut into slices of ``step``;
    results in the original order, and a stop request checked before each slice.

    Sorting the whole batch by length first is what CTranslate2 does inside one
    ``translate_batch`` call, so the padding (and the speed) stays the same; the
    cuts let SIGTERM end a long translation within seconds.
    """
    order = sorted(range(len(items)), key=lambda i: size(items[i]))
    out: list = [None] * len(items)
    for start in range(0, len(order), step):
        check()
        chunk = order[start:start + step]
        for i, result in zip(chunk, run([items[i] for i in chunk])):
            out[i] = result
    return out
