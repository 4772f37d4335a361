"""Work split between this process and one forked child: a full rebuild's
languages are planned independently, its documents are rendered independently
once planned, and a Python process runs on one core.
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from ..errors import PublishError

log = logging.getLogger(__name__)
T = TypeVar("T")
_here = threading.local()


def can_fork() -> bool:
    """Whether a second process can work beside this one: ``fork`` exists, this
    process may run on more than one CPU (its affinity, as containers set it), and
    the calling thread has not asked for one process (``one_process``)."""
    if getattr(_here, "one_process", False):
        return False
    cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1)
    return cpus > 1 and "fork" in multiprocessing.get_all_start_methods()


@contextlib.contextmanager
def one_process():
    """Publish without forking, in this thread: for the web server, whose other
    threads (requests, the event loop) may hold locks a forked child would inherit
    held (jinja2's template cache, the database pool) and wait on for ever."""
    before = getattr(_here, "one_process", False)
    _here.one_process = True
    try:
        yield
    finally:
        _here.one_process = before


def halves(work: Callable[[Sequence[T]], list], parts: Sequence[T],
           in_child: Callable[[], None]) -> list:
    """``work(parts[0::2]) + work(parts[1::2])``, the second half in a forked child.

    ``in_child`` runs first in the child (to drop database connections it must
    not share). The child's result or exception comes back through a pipe. Both
    halves always run to their end (each write is atomic); then the first error
    is raised: this process's own, else the child's, else a ``PublishError`` if
    the child died without reporting.
    """
    mine, theirs = parts[0::2], parts[1::2]
    return _beside(lambda: work(mine), lambda: work(theirs), lambda: _names(theirs), in_child)


def shared(work: Callable[[Iterator[T]], list], units: Sequence[T],
           in_child: Callable[[], None]) -> list:
    """``work(claimed)`` here and in a forked child, where ``claimed`` hands out
    ``units`` one at a time as it is iterated, until none are left.

    This process takes them from the front and the child from the back: the
    first unit is always this process's and the last the child's, and the rest
    go to whichever asks first. A process on a slower (busier) core simply takes
    fewer, and both end within about one unit of each other; a fixed split left
    one core idle for 0.3-1.7 s of a full rebuild. Each process stops taking
    units at its first error, and the other takes the rest. Errors are then
    raised as in ``halves``; a child that dies is reported with the units it
    had taken.
    """
    if len(units) < 2:
        return work(iter(units))
    context = multiprocessing.get_context("fork")
    # [next from the front, next from the back], and per unit 1 if the child took it.
    bounds = context.Array("l", [1, len(units) - 2])
    owners = context.Array("b", [0] * (len(units) - 1) + [1], lock=False)

    def claimed(child: bool) -> Iterator[T]:
        yield units[-1 if child else 0]
        while True:
            with bounds.get_lock():
                front, back = bounds[0], bounds[1]
                if front > back:
                    return
                index = back if child else front
                bounds[1 if child else 0] = back - 1 if child else front + 1
                owners[index] = child
            yield units[index]

    def theirs() -> str:
        return _names([unit for unit, owner in zip(units, owners) if owner])
    return _beside(lambda: work(claimed(False)), lambda: work(claimed(True)), theirs,
                   in_child)


def _beside(mine: Callable[[], list], theirs: Callable[[], list], names: Callable[[], str],
            in_child: Callable[[], None]) -> list:
    """``mine() + theirs()``, ``theirs`` in a forked child; ``names()``: what the
    child worked on, for errors."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(theirs, names, in_child, send),
                            name="syndicator-publish", daemon=True)
    child.start()
    send.close()
    try:
        result = mine()
    except BaseException:
        status, outcome = _outcome(child, receive, names)
        if status == "error":
            log.error("publishing %s failed too: %s", names(), outcome)
        raise
    status, outcome = _outcome(child, receive, names)
    if status == "error":
        raise outcome
    return result + outcome


def _outcome(child, receive, names: Callable[[], str]) -> tuple[str, object]:
    """What the child reported, once it has ended."""
    try:
        outcome = receive.recv()
    except EOFError:  # killed, or os._exit, before it could send anything
        outcome = None
    child.join()
    receive.close()
    return outcome or ("error", PublishError(
        f"publishing {names()}: the process working on them ended with exit code "
        f"{child.exitcode} before reporting"))


def _names(parts) -> str:
    return ", ".join(dict.fromkeys(map(str, parts)))


def _child(work, names, in_child, send) -> None:
    try:
        in_child()
        outcome = ("ok", work())
    except BaseException as exc:  # the parent raises it, as if it had done this work
        outcome = ("error", exc)
    try:
        send.send(outcome)
    except Exception:  # an exception that does not pickle
        send.send(("error", PublishError(f"publishing {names()}: {outcome[1]!r}")))
    send.close()
