"""Work split between this process and one forked child: a full rebuild's
languages are planned independently, its documents are rendered independently
once planned, and a Python process runs on one core.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from ..errors import PublishError

log = logging.getLogger(__name__)
T = TypeVar("T")


def can_fork() -> bool:
    """Whether a second process can work beside this one: ``fork`` exists, and
    this process may run on more than one CPU (its affinity, as containers set it)."""
    cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1)
    return cpus > 1 and "fork" in multiprocessing.get_all_start_methods()


def halves(work: Callable[[Sequence[T]], list], parts: Sequence[T],
           in_child: Callable[[], None]) -> list:
    """``work(parts[0::2]) + work(parts[1::2])``, the second half in a forked child.

    ``in_child`` runs first in the child (to drop database connections it must
    not share). The child's result or exception comes back through a pipe. Both
    halves always run to their end (each write is atomic); then the first error
    is raised: this process's own, else the child's, else a ``PublishError`` if
    the child died without reporting.
    """
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(work, parts[1::2], in_child, send),
                            name="syndicator-publish", daemon=True)
    child.start()
    send.close()
    try:
        mine = work(parts[0::2])
    except BaseException:
        status, theirs = _outcome(child, receive, parts[1::2])
        if status == "error":
            log.error("publishing %s failed too: %s", _names(parts[1::2]), theirs)
        raise
    status, theirs = _outcome(child, receive, parts[1::2])
    if status == "error":
        raise theirs
    return mine + theirs


def _outcome(child, receive, parts) -> tuple[str, object]:
    """What the child reported, once it has ended."""
    try:
        outcome = receive.recv()
    except EOFError:  # killed, or os._exit, before it could send anything
        outcome = None
    child.join()
    receive.close()
    return outcome or ("error", PublishError(
        f"publishing {_names(parts)}: the process working on them ended with exit code "
        f"{child.exitcode} before reporting"))


def _names(parts) -> str:
    return ", ".join(map(str, parts))


def _child(work, parts, in_child, send) -> None:
    try:
        in_child()
        outcome = ("ok", work(parts))
    except BaseException as exc:  # the parent raises it, as if it had rendered these parts
        outcome = ("error", exc)
    try:
        send.send(outcome)
    except Exception:  # an exception that does not pickle
        send.send(("error", PublishError(f"publishing {_names(parts)}: {outcome[1]!r}")))
    send.close()
