"""Memory the process no longer uses, given back to the operating system.

A long-lived ``syndicator run`` must stay at the RSS of what it uses, not of its
biggest cycle so far (bench/memory.py): ``run_once`` ends with
``release_free_memory``, and a stage that has just dropped something large, such
as a whole parsed news.po, calls ``collect_and_release`` at once, so that the
stages after it do not stand on top of that memory.
"""
from __future__ import annotations

import ctypes
import functools
import gc

try:  # glibc only; elsewhere there is nothing to tune
    _libc = ctypes.CDLL("libc.so.6")
    _mallopt, _malloc_trim = _libc.mallopt, _libc.malloc_trim
except (OSError, AttributeError):
    _mallopt = _malloc_trim = None
M_TRIM_THRESHOLD = -1  # mallopt parameter (malloc.h)
TRIM_THRESHOLD = 128 * 1024  # glibc's default


def release_free_memory() -> None:
    """Give the memory freed during the cycle back to the OS, so that a long-lived
    ``run`` stays at the RSS of what it uses, not of its biggest cycle so far.

    glibc keeps freed heap for reuse, and whenever a large block it had mmapped is
    freed it raises its trim threshold to twice that block (up to 64 MB): heap tops
    below it are then never given back, and malloc_trim() does not shrink the top
    of a thread's arena. So CTranslate2's batch buffers stayed resident in its
    worker thread's arena (+14 MB at the first real batch, more with longer ones),
    as did the ~135 MB the cold first cycle freed. Pinning the threshold at glibc's
    default (which also stops glibc raising it again) returns heap tops as they
    are freed; the trim returns the free pages inside the heaps. 1-8 ms a cycle.
    """
    if _malloc_trim is not None:
        _mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        _malloc_trim(0)


def collect_and_release() -> None:
    """Free what was just dropped, now, and give the pages back.

    polib's entries hold reference cycles, so a parsed catalog is freed only by
    the cyclic collector, whose full collections come seldom: the garbage of one
    language's news.po (~200,000 objects for a 28 MB file) was still there while
    the next one was parsed, and while the publish forked. ~0.1 s; called only
    after a whole catalog was parsed, which costs seconds."""
    gc.collect()
    release_free_memory()


def frees_when_done(function):
    """``function``, followed by ``collect_and_release`` once it returns or raises:
    for a function that parses a whole catalog and drops it when it is done."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            collect_and_release()
    return wrapper
