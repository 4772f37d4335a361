"""Python's cyclic garbage collector during a publish: a publish makes no
reference cycles worth collecting, but allocates enough to set collections off."""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused(pause: bool) -> Iterator[None]:
    """If ``pause``, Python's cyclic garbage collector off while rendering, then on.

    A full rebuild allocates millions of objects (rows, entries, byte pieces)
    that are freed by reference counting, not by the collector; but every 700
    allocations trigger a collection, and the older generations are scanned
    again and again as the heap grows: 15-18% of a rebuild of the 10,000-item
    benchmark store (bench/publish.py). Publishing makes no reference cycles
    worth waiting for, and the collection at the end frees any it made. The
    full collection first frees what earlier stages left in cycles, which would
    otherwise stay through the publish: with polib's parse of a 10,000-item
    news.po (150,000 objects) among them, the cold cycle's peak RSS rose from
    367 to 402 MB over the imports (bench/memory.py). The catalog stage now
    frees each parsed file itself (``heap.collect_and_release``).
    """
    if not pause:
        yield
        return
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.collect()
    try:
        with off():
            yield
    finally:
        if was_enabled:
            gc.collect(0)


@contextlib.contextmanager
def off() -> Iterator[None]:
    """Python's cyclic garbage collector off, then as it was, with no collection.

    For planning, which makes no reference cycles: a full plan allocates some
    100,000 rows and strings, and the collections they set off rescan the
    whole heap of the process. Planning a cold rebuild of the 10,000-item
    benchmark store took 0.83 s with them, 0.39-0.47 s without: time that
    runs before the fork (parallel.py), on one core.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
