"""The published files, read safely and described for HTTP.

Nothing here builds responses: it maps a raw request path to a regular file
inside the root (or raises ``NotServed``), and hands back its bytes with a
strong validator and compressed variants. ``app.py`` turns refusals into 404s.

The publisher replaces files with ``os.replace`` at any moment, so every file is
opened once and everything (identity, bytes, hash) comes from that one open
descriptor: a response never mixes the old file's ETag with the new file's bytes.
What was read is kept in memory with that identity. A later request for the same
path whose ``stat`` shows the same identity (device, inode, size, mtime_ns,
ctime_ns) gets the kept bytes and tag, together, without opening the file: the
common case, a feed reader revalidating an unchanged feed, costs one ``stat``.
"""
from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

import brotli

from ..errors import SyndicatorError

log = logging.getLogger(__name__)

CODINGS = ("br", "gzip")  # preference order when the client rates them equally


class NotServed(SyndicatorError):
    """The path names nothing we serve: missing, hidden, outside the root, or unsafe."""


@dataclass(frozen=True)
class MediaType:
    value: str
    compressible: bool


_TEXT = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}
_BINARY = {".png": "image/png", ".ico": "image/x-icon", ".webp": "image/webp"}
# rss.xml, atom.xml and their archives (rss-archive-3.xml); the prefix decides.
_FEED_XML = re.compile(r"^(rss|atom)(-[\w.-]+)?\.xml$")
_JSON_FEED = re.compile(r"^feed(-[\w.-]+)?\.json$")


def media_type(name: str) -> MediaType | None:
    """The Content-Type for a published file name; None for kinds we never publish."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix == ".xml":
        feed = _FEED_XML.match(name)
        kind = f"application/{feed.group(1)}+xml" if feed else "application/xml"
        return MediaType(kind + "; charset=utf-8", True)
    if suffix == ".json":
        # JSON Feed's registered type; the issue asks for it without a charset
        # (JSON is UTF-8 by definition).
        return MediaType("application/feed+json" if _JSON_FEED.match(name)
                         else "application/json", True)
    if suffix in _TEXT:
        return MediaType(_TEXT[suffix], True)
    if suffix in _BINARY:
        return MediaType(_BINARY[suffix], False)
    return None


def split_request_path(raw_path: bytes) -> tuple[list[str], bool]:
    """Decode a raw request path into safe names; the bool tells a trailing slash.

    Decoding one segment at a time, after splitting on literal "/", means an
    encoded slash (%2f) or dot (%2e) can never turn into a separator or a parent
    reference. Anything odd is refused rather than normalised: a client sending
    "..", "\\", NUL or a hidden name (the publisher's temp files start with ".")
    is not a client we owe an answer.
    """
    if not raw_path.startswith(b"/"):
        raise NotServed("path does not start with /")
    parts = raw_path[1:].split(b"/")
    trailing = parts[-1] == b""
    if trailing:
        parts.pop()
    names = []
    for part in parts:
        try:
            name = unquote_to_bytes(part).decode("utf-8")
        except UnicodeDecodeError:
            raise NotServed("path is not UTF-8") from None
        if not name or name.startswith(".") or any(c in name for c in "/\\\x00"):
            raise NotServed(f"unsafe path segment {name!r}")
        names.append(name)
    return names, trailing


@dataclass(frozen=True)
class Lookup:
    """Where a request path leads: a file to serve, or a directory lacking its slash."""
    path: str | None
    add_slash: bool = False
    requested: str | None = None  # the path as asked for, before resolving (see cached())


def _inside(root: str, real: str) -> bool:
    if real == root:
        return True
    if not real.startswith(root + os.sep):
        return False
    # A symlink may point at a hidden temp file inside the root: refuse it too.
    return not any(p.startswith(".") for p in os.path.relpath(real, root).split(os.sep))


def _requested(root: str, names: list[str], trailing: bool) -> str:
    return os.path.join(root, *names, *(("index.html",) if trailing else ()))


def lookup(root: str, names: list[str], trailing: bool) -> Lookup:
    """Resolve names under the (already resolved) root, following symlinks only inside it."""
    requested = _requested(root, names, trailing)
    real = os.path.realpath(os.path.join(root, *names))
    if not _inside(root, real):
        raise NotServed("resolves outside the root")
    if os.path.isdir(real):
        if not trailing:
            return Lookup(None, add_slash=True)
        # No listings, ever: a directory is its index.html or nothing.
        real = os.path.realpath(os.path.join(real, "index.html"))
        if not _inside(root, real):
            raise NotServed("index.html resolves outside the root")
    elif trailing:
        raise NotServed("a file asked for as a directory")
    return Lookup(real, requested=requested)


@dataclass(frozen=True)
class StaticFile:
    name: str             # the served file's base name: decides type, CORS and CSP
    media: MediaType
    body: bytes
    tag: str              # opaque part of the strong ETag, without quotes
    mtime: float
    identity: tuple       # (dev, ino, size, mtime_ns, ctime_ns)


class _LRU:
    """A thread-safe LRU bounded by the total size of its values (or their count)."""

    def __init__(self, budget: int, size=lambda value: 1):
        self._items: OrderedDict = OrderedDict()
        self._budget, self._size, self._used = budget, size, 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        """Store ``value`` under ``key``, replacing (or, if too big, dropping) an older one."""
        cost = self._size(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._used -= self._size(old)
            if cost > self._budget // 4:  # one big file must not flush everything else
                return
            self._items[key] = value
            self._used += cost
            while self._used > self._budget:
                _, old = self._items.popitem(last=False)
                self._used -= self._size(old)


class FileStore:
    """Reads files under ``root`` and caches what is costly to recompute.

    Caches are keyed by the file's identity, not its path: ``os.replace`` gives
    the new file a new inode (and ctime), so a replacement is a cache miss even
    when size and mtime happen to match the old file's. The one cache keyed by
    request path (``cached``) checks that identity on every use.
    """

    def __init__(self, root: Path, *, hashes: int = 4096, file_bytes: int = 32 << 20,
                 compressed_bytes: int = 32 << 20):
        self.root = os.path.realpath(root)
        self._tags = _LRU(hashes)
        # raw request path -> (path as requested, StaticFile); see cached()
        self._served = _LRU(file_bytes, size=lambda kept: len(kept[1].body) + len(kept[0]))
        self._encoded = _LRU(compressed_bytes, size=len)

    def find(self, raw_path: bytes) -> Lookup:
        names, trailing = split_request_path(raw_path)
        return lookup(self.root, names, trailing)

    def cached(self, raw_path: bytes) -> StaticFile | None:
        """The file last served for this request path if one ``stat`` shows it unchanged.

        No decoding, resolving, opening or reading: cheap enough for the event
        loop. It is safe without resolving again because only a path that
        ``find`` and ``read`` accepted is kept, and the identity (device, inode,
        size, mtime_ns, ctime_ns) must still equal that of the file they
        accepted for it: the answer is the bytes already judged fit for this
        path, with their tag, read and hashed together. Anything replaced,
        rewritten, renamed or linked anew has another identity (new inode or
        ctime) and goes the slow way. None means: ask ``find``.
        """
        kept = self._served.get(raw_path)
        if kept is None:
            return None
        requested, file = kept
        try:
            st = os.stat(requested)
        except OSError:
            return None
        return file if _identity(st) == file.identity and stat.S_ISREG(st.st_mode) else None

    def keep(self, raw_path: bytes, found: Lookup, file: StaticFile) -> None:
        """Remember what ``find`` and ``read`` gave for ``raw_path``, for ``cached``."""
        if found.requested is not None:
            self._served.put(raw_path, (found.requested, file))

    def read(self, path: str) -> StaticFile:
        name = os.path.basename(path)
        media = media_type(name)
        if media is None:
            raise NotServed(f"{name!r} is not a kind of file we publish")
        try:
            # O_NOFOLLOW: the path was resolved already, so a symlink here means
            # it was swapped in since. O_NONBLOCK: a FIFO must not hang a worker.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise NotServed(f"cannot open: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise NotServed("not a regular file")
            body = handle.read()
        identity = _identity(st)
        return StaticFile(name, media, body, self._tag(identity, body), st.st_mtime, identity)

    def _tag(self, identity: tuple, body: bytes) -> str:
        # Content hash, not (inode, mtime): equal bytes give equal ETags across
        # workers, restarts and a re-publish that changed nothing.
        tag = self._tags.get(identity)
        if tag is None:
            tag = hashlib.sha256(body).hexdigest()[:32]
            self._tags.put(identity, tag)
        return tag

    def encoded_cached(self, file: StaticFile, coding: str) -> tuple[bool, bytes | None]:
        """(True, what ``encoded`` would return) if that is in memory, else (False, None)."""
        data = self._encoded.get((file.identity, coding))
        if data is None:
            return False, None
        return True, data if len(data) < len(file.body) else None

    def encoded(self, file: StaticFile, coding: str) -> bytes | None:
        """The body compressed with ``coding``; None when that would not make it smaller."""
        key = (file.identity, coding)
        data = self._encoded.get(key)
        if data is None:
            data = _compress(file.body, coding)
            log.debug("compressed %s with %s: %d -> %d bytes",
                      file.name, coding, len(file.body), len(data))
            self._encoded.put(key, data)
        return data if len(data) < len(file.body) else None


def _identity(st: os.stat_result) -> tuple:
    # os.replace gives a new inode and ctime, so a replacement never matches
    # the old file even with the same size and mtime.
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _compress(body: bytes, coding: str) -> bytes:
    if coding == "br":
        # Quality 9: within a few percent of 11 on feeds, about ten times faster,
        # which matters because the first request after a publish pays for it.
        return brotli.compress(body, quality=9, mode=brotli.MODE_TEXT)
    if coding == "gzip":
        return gzip.compress(body, compresslevel=9, mtime=0)  # mtime=0: same bytes everywhere
    raise ValueError(f"unknown content coding {coding!r}")
