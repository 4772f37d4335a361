"""Stop requests for long translations (SIGTERM during `run`)."""
from __future__ import annotations

import threading

from ..errors import SyndicatorError

STOP = threading.Event()  # set by the signal handler of `syndicator run`


class Interrupted(SyndicatorError):
    """A stop was requested; the work done so far is already stored."""


def check() -> None:
    if STOP.is_set():
        raise Interrupted("stop requested")
