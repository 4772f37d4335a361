"""Atomic, change-only writes: a published file is never half-written or touched needlessly.

Also journaled appends (``append_in_place``) for files that only grow, such as
news.po: an append killed halfway is taken back by ``repair_append``."""
from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterable


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically; do nothing if the bytes are the same.

    Returns True when the file was written. Unchanged files keep their mtime, so
    conditional GETs and rsync see nothing new.
    """
    tmp = _staged(path, data)
    if tmp is not None:
        commit(tmp, path)
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
        self._names: dict[Path, set[str]] = {}  # per folder: the files it held at first use

    def __enter__(self) -> "Writes":
        return self

    def write_if_changed(self, path: Path, data: bytes) -> bool:
        # One listing per folder instead of an open() per file to learn that it is
        # new: on a rebuild into an empty folder those failed opens (and a mkdir
        # each) were ~3% of the time.
        names = self._names.get(path.parent)
        if names is None:
            names = self._names[path.parent] = _listing(path.parent)
        tmp = _staged(path, data, path.name in names)
        if tmp is not None:
            self._pending.append(self._pool.submit(commit, tmp, path))
        return tmp is not None

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(wait=True)
        errors = [f.exception() for f in self._pending if f.exception() is not None]
        if errors and exc_info[0] is None:
            raise errors[0]


def _listing(folder: Path) -> set[str]:
    """The names in ``folder``, which is created if missing."""
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        return set()


def _staged(path: Path, data: bytes, exists: bool = True) -> str | None:
    """A temp file beside ``path`` holding ``data`` (not yet synced); None when
    ``path`` already holds exactly these bytes. ``exists=False``: the caller knows
    that ``path`` is new (a file made since is still replaced atomically)."""
    if exists:
        try:
            if path.read_bytes() == data:
                return None
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
    return _temp_beside(path, (data,))


def stage(path: Path, pieces: Iterable[bytes]) -> str | None:
    """``pieces`` written and synced to a temp file beside ``path``, for ``commit``
    or ``discard``; None (and no temp file) when ``path`` holds exactly these bytes.

    For a file too large to hold in memory twice: the pieces are written as they
    come, and compared with the file's bytes by reading both a block at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Synced here, so that ``commit`` after the caller's last check (has an editor
    # saved meanwhile?) is a rename, not seconds of writeback.
    tmp = _temp_beside(path, pieces, sync=True)
    try:
        same = _same_bytes(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    if same:
        os.unlink(tmp)
        return None
    return tmp


def _temp_beside(path: Path, pieces: Iterable[bytes], sync: bool = False) -> str:
    """A new hidden temp file in ``path``'s folder holding ``pieces``; none is left
    behind if writing fails."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in pieces:
                handle.write(piece)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _same_bytes(a: str | Path, b: str | Path, block: int = 1 << 20) -> bool:
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as one, open(b, "rb") as other:
            while True:
                left, right = one.read(block), other.read(block)
                if left != right:
                    return False
                if not left:
                    return True
    except FileNotFoundError:
        return False


def discard(tmp: str | None) -> None:
    """Remove a temp file from ``stage`` that will not be committed."""
    if tmp is not None:
        Path(tmp).unlink(missing_ok=True)


def commit(tmp: str, path: Path) -> None:
    """Sync ``tmp`` and rename it over ``path``."""
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the bytes are on disk before the name points at them
        finally:
            os.close(fd)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # atomic on POSIX: readers see the old or the new file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- appends ----------------------------------------------------------------------
# A catalog that holds every item ever published grows without end. Replacing it
# to add one item's entries would copy, sync and free the whole file every time
# (~40 ms per 10 MB here). Appending in place costs what the new entries cost.
# It is not atomic, so it is journaled: the entries are written to a journal
# beside the file and synced first, and a process that dies mid-append leaves
# the journal, from which ``repair_append`` takes the partial tail back off.


def _journal(path: Path) -> Path:
    return path.with_name(f".{path.name}.append")


def append_in_place(path: Path, extra: bytes, expected: tuple[int, int, int]) -> bool:
    """Append ``extra`` to ``path`` if it is still the file ``expected`` describes.

    ``expected`` is (mtime_ns, size, inode). The check is made on the open file,
    so the bytes go to exactly that file; False (nothing written) when an
    editor has saved or removed it since. Returns True once ``extra`` is on
    disk. The caller holds the file's lock, as ``repair_append`` must too.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        return False
    try:
        st = os.fstat(fd)
        if (st.st_mtime_ns, st.st_size, st.st_ino) != tuple(expected):
            return False
        journal = _journal(path)
        with open(journal, "wb") as handle:
            handle.write(b"%d %d %d\n" % (st.st_ino, st.st_size, len(extra)) + extra)
            handle.flush()
            os.fsync(handle.fileno())  # the journal is whole before the file is touched
        try:
            view = memoryview(extra)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, st.st_size)  # a full disk: the file as it was
            journal.unlink()
            raise
        journal.unlink()
        return True
    finally:
        os.close(fd)


def repair_append(path: Path) -> bool:
    """Undo an append that a killed process left half-done; True when it did.

    The file is cut back to its size before the append, byte for byte what it
    was. The journal is then removed whatever it finds: a file that was
    replaced, or whose tail is not a prefix of the journaled bytes, belongs to
    someone else now and is left alone.
    """
    journal = _journal(path)
    try:
        header, _, extra = journal.read_bytes().partition(b"\n")
    except FileNotFoundError:
        return False
    repaired = False
    try:
        inode, size, length = (int(n) for n in header.split())
        with open(path, "r+b") as handle:
            st = os.fstat(handle.fileno())
            if len(extra) == length and st.st_ino == inode and size < st.st_size:
                handle.seek(size)
                tail = handle.read()
                if tail != extra and extra.startswith(tail.rstrip(b"\0")):
                    handle.truncate(size)
                    handle.flush()
                    os.fsync(handle.fileno())
                    repaired = True
    except (ValueError, FileNotFoundError):
        pass  # a journal cut short: the file was never touched
    journal.unlink(missing_ok=True)
    return repaired


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
