"""Atomic, change-only writes: a published file is never half-written or touched needlessly."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically; do nothing if the bytes are the same.

    Returns True when the file was written. Unchanged files keep their mtime, so
    conditional GETs and rsync see nothing new.
    """
    tmp = _staged(path, data)
    if tmp is not None:
        _commit(tmp, path)
    return tmp is not None


class Writes:
    """``write_if_changed`` for many files, whose fsync and rename run on a few threads.

    Syncing a file waits for the disk; meanwhile the caller renders the next
    document (fsync releases the GIL). Each file is still replaced atomically,
    and only once its bytes are on disk. Leaving the ``with`` block waits for
    every write and raises the first error.
    """

    def __init__(self, threads: int = 4):
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="write")
        self._pending: list[Future] = []

    def __enter__(self) -> "Writes":
        return self

    def write_if_changed(self, path: Path, data: bytes) -> bool:
        tmp = _staged(path, data)
        if tmp is not None:
            self._pending.append(self._pool.submit(_commit, tmp, path))
        return tmp is not None

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(wait=True)
        errors = [f.exception() for f in self._pending if f.exception() is not None]
        if errors and exc_info[0] is None:
            raise errors[0]


def _staged(path: Path, data: bytes) -> str | None:
    """A temp file beside ``path`` holding ``data`` (not yet synced); None when
    ``path`` already holds exactly these bytes."""
    try:
        if path.read_bytes() == data:
            return None
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _commit(tmp: str, path: Path, unchanged: Callable[[], bool] = lambda: True) -> bool:
    """Sync ``tmp`` and rename it over ``path``; False (and ``tmp`` removed) when
    ``unchanged()``, asked just before the rename, says ``path`` changed meanwhile."""
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the bytes are on disk before the name points at them
        finally:
            os.close(fd)
        os.chmod(tmp, 0o644)
        if not unchanged():
            Path(tmp).unlink()
            return False
        os.replace(tmp, path)  # atomic on POSIX: readers see the old or the new file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def append_atomically(path: Path, extra: bytes, unchanged: Callable[[], bool]) -> bool:
    """Replace ``path`` by its bytes followed by ``extra``, atomically.

    The kernel copies the file (sendfile), so appending to a large catalog costs
    a copy and an fsync, not reading and comparing it in Python. ``unchanged()``
    is asked just before the replace; when it says the file changed meanwhile
    (an editor saved it), nothing is replaced and False is returned.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(path, tmp)
        with open(tmp, "ab") as handle:
            handle.write(extra)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return _commit(tmp, path, unchanged)


STALE_AFTER = 600  # seconds; a live writer finishes its temp file within this


def clear_stale_temps(*folders: Path, older_than: float = STALE_AFTER) -> int:
    """Remove the temp files of writes a killed process left behind (``.<name>.*.tmp``).

    Readers never see them (they are hidden and never replaced into place), but
    they would pile up with every crash, and rsync or a web server could copy or
    list them. Only old ones go: another process (the review page) may be
    writing one right now. Returns how many were removed.
    """
    cutoff, removed = time.time() - older_than, 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob(".*.tmp"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
    return removed
