"""``syndicator serve``: the published folder over HTTP.

This is the only module that turns errors into responses: ``NotServed`` from
``static.py`` becomes a 404, anything unexpected a logged 500. Extra routes (the
translators' review app) are matched before the static files.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import ipaddress
import json
import logging
import os
import socket
from pathlib import Path
from typing import NamedTuple

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route

from ..errors import ConfigError, ServeError
from . import headers as h
from .config import ServeConfig
from .static import _LRU, FileStore, NotServed, StaticFile

log = logging.getLogger(__name__)

_ENV_CONFIG = "SYNDICATOR_SERVE_CONFIG"  # hands the config to worker processes


_SECURITY_RAW = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                 for name, value in h.SECURITY_HEADERS.items()]


class SecurityHeaders:
    """ASGI middleware: nosniff and Referrer-Policy on every response, extra routes too.

    Pure ASGI rather than BaseHTTPMiddleware, so streaming responses of the
    mounted apps pass through untouched. Headers already set are kept.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                present = {name.lower() for name, _ in raw}
                missing = [pair for pair in _SECURITY_RAW if pair[0] not in present]
                if missing:
                    message["headers"] = raw + missing
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _plain(status: int, text: str, headers: dict | None = None) -> Response:
    # Error bodies are data: give them the locked-down CSP too.
    return PlainTextResponse(text, status_code=status,
                             headers={"Content-Security-Policy": h.DATA_CSP, **(headers or {})})


class StaticFiles:
    """The ASGI endpoint for everything under the root (matched after extra routes)."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.store = FileStore(config.root)
        self._headers = _LRU(4096)  # see _file_headers

    async def __call__(self, scope, receive, send):
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    async def unchanged(self, scope) -> _FileResponse | None:
        """The response to a GET or HEAD of a file unchanged since it was last served
        for this path, or None. The common case (a feed reader revalidating)
        costs one stat on the event loop: less than a hop to the thread pool."""
        if scope["method"] not in ("GET", "HEAD"):
            return None
        file = self.store.cached(scope.get("raw_path") or scope["path"].encode())
        return None if file is None else await self._file(scope["method"], _asked(scope), file)

    async def respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            return _plain(405, "Method Not Allowed", {"Allow": h.ALLOWED_METHODS})
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        try:
            # Resolving and reading go to the thread pool.
            file = self.store.cached(raw_path)
            if file is None:
                found = await run_in_threadpool(self.store.find, raw_path)
                if found.add_slash:
                    return self._add_slash(request, raw_path)
                file = await run_in_threadpool(self.store.read, found.path)
                self.store.keep(raw_path, found, file)
        except NotServed as exc:
            log.debug("404 for %r: %s", raw_path, exc)
            return _plain(404, "Not Found")
        if request.method == "OPTIONS":
            return self._options(request, file)
        return await self._file(request.method, _asked(request.scope), file)

    def _add_slash(self, request: Request, raw_path: bytes) -> Response:
        # raw_path passed split_request_path, so it has no "//" and cannot
        # turn into a protocol-relative redirect to another host.
        location = raw_path.decode("latin-1") + "/"
        if request.url.query:
            location += "?" + request.url.query
        return RedirectResponse(location, status_code=301, headers={
            "Content-Security-Policy": h.DATA_CSP,
            "Cache-Control": f"public, max-age={self.config.max_age}"})

    def _options(self, request: Request, file: StaticFile) -> Response:
        headers = {"Allow": h.ALLOWED_METHODS, "Content-Security-Policy": h.DATA_CSP}
        if h.is_cors_resource(file.name):
            headers.update(h.preflight_headers(request.headers.get("origin"),
                                               self.config.cors_origins))
        return Response(status_code=204, headers=headers)

    async def _file(self, method: str, asked: _Asked, file: StaticFile) -> _FileResponse:
        accept = asked.accept_encoding
        coding = _choose_coding(accept) if file.media.compressible and accept else None
        body = file.body
        if coding:
            known, encoded = self.store.encoded_cached(file, coding)
            if not known:
                encoded = await run_in_threadpool(self.store.encoded, file, coding)
            body, coding = (encoded, coding) if encoded is not None else (body, None)
        etag, headers = self._file_headers(file, coding, asked.origin)
        if _not_modified(asked, etag, file.mtime):
            return _FileResponse(304, headers, b"")
        headers = headers + [(b"content-length", str(len(body)).encode("latin-1")),
                             (b"content-type", file.media.value.encode("latin-1"))]
        if coding:
            headers.append((b"content-encoding", coding.encode("latin-1")))
        return _FileResponse(200, headers, b"" if method == "HEAD" else body)

    def _file_headers(self, file: StaticFile, coding: str | None,
                      origin: str | None) -> tuple[str, list[tuple[bytes, bytes]]]:
        """The ETag and the headers of a 200 or 304 for this file, as raw ASGI pairs.

        They depend only on the file (its identity and name), the coding and, for
        an origin on the allow-list, the origin, so they are built once per
        combination and kept: formatting a date and a CSP per request would cost
        more than the rest of a 304.
        """
        if origin not in self.config.cors_origins:
            origin = None  # every other origin gets the same answer
        key = (file.identity, file.tag, file.name, coding, origin)
        cached = self._headers.get(key)
        if cached is not None:
            return cached
        etag = h.etag(file.tag, coding)
        headers = {
            "ETag": etag,
            "Last-Modified": h.http_date(file.mtime),
            "Cache-Control": f"public, max-age={self.config.max_age}",
            "Content-Security-Policy": h.csp_for(file, self.config.frame_ancestors),
        }
        if file.media.value.startswith("text/html") and file.name != "widget.html":
            headers["X-Frame-Options"] = "SAMEORIGIN"  # for browsers without CSP 3
        vary = ["Accept-Encoding"] if file.media.compressible else []
        if h.is_cors_resource(file.name):
            cors, varies = h.cors_headers(origin, self.config.cors_origins)
            headers.update(cors)
            vary += ["Origin"] if varies else []
        if vary:
            headers["Vary"] = ", ".join(vary)
        headers.update(h.SECURITY_HEADERS)  # SecurityHeaders would add them anyway
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1"))
               for name, value in headers.items()]
        self._headers.put(key, (etag, raw))
        return etag, raw


class _Asked(NamedTuple):
    """The request headers a file's response depends on."""
    accept_encoding: str | None
    origin: str | None
    if_modified_since: str | None
    if_none_match: str  # every If-None-Match header, joined with ", "


_ASKED = {b"accept-encoding": 0, b"origin": 1, b"if-modified-since": 2}


def _asked(scope) -> _Asked:
    """``_Asked`` from the raw ASGI headers, in one pass over them: Starlette's
    ``Headers`` searches all of them once per name, on every revalidation."""
    found: list = [None, None, None]
    matches = []
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            matches.append(value.decode("latin-1"))
        else:
            index = _ASKED.get(name)
            if index is not None and found[index] is None:  # the first one, as Headers.get
                found[index] = value.decode("latin-1")
    return _Asked(*found, ", ".join(matches))


def _not_modified(asked: _Asked, etag: str, mtime: float) -> bool:
    # RFC 9110 13.2.2: If-Modified-Since counts only without If-None-Match.
    if asked.if_none_match:
        return asked.if_none_match == etag or h.none_match(asked.if_none_match, etag)
    since = asked.if_modified_since
    return bool(since) and h.not_modified_since(since, mtime)


class _FileResponse:
    """A file's 200 or 304 with headers already encoded; the lean twin of Response."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    async def __call__(self, scope, receive, send) -> None:
        # A list of its own: middleware may add headers to the message.
        await send({"type": "http.response.start", "status": self.status,
                    "headers": list(self.headers)})
        await send({"type": "http.response.body", "body": self.body})


@functools.lru_cache(maxsize=256)
def _choose_coding(accept_encoding: str) -> str | None:
    # Clients send a handful of distinct Accept-Encoding values; parse each once.
    return h.choose_coding(accept_encoding)


class _UnchangedFirst:
    """The outermost ASGI app: a GET or HEAD of a file unchanged since it was last
    served goes straight to ``StaticFiles``, past Starlette's middleware and
    router; everything else goes to the Starlette app.

    Revalidations of unchanged feeds are most of what feed readers send, and each
    layer of middleware wraps every message sent. Nothing else changes: the same
    ``_FilesFirst`` check keeps extra routes' prefixes away, the same code builds
    the response, whose headers already hold the security headers (see
    ``_file_headers``), and an error while building it sends the request the
    usual way, where it meets the 500 handler.
    """

    def __init__(self, app: Starlette, files: StaticFiles, first: _FilesFirst):
        self.app, self.files, self.first = app, files, first

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.first.matches(scope)[0] is Match.FULL:
            try:
                response = await self.files.unchanged(scope)
            except Exception:  # the usual way reports it
                response = None
            if response is not None:
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


class _FilesFirst(BaseRoute):
    """The static files for any path outside the extra routes' literal prefixes.

    A route's literal prefix is its path up to the first "{" parameter; a route
    without a path (e.g. Host) reserves everything, which turns this route off.
    A path under a prefix goes the usual way: the extra routes, then the files.
    """

    def __init__(self, files: StaticFiles, extra_routes: list):
        self.files = files
        self.reserved = tuple(str(getattr(route, "path", "") or "").split("{", 1)[0]
                              for route in extra_routes)

    def matches(self, scope) -> tuple[Match, dict]:
        if scope["type"] == "http" and not _route_path(scope).startswith(self.reserved):
            return Match.FULL, {"endpoint": self.files}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params):
        raise NoMatchFound(name, path_params)

    async def handle(self, scope, receive, send) -> None:
        await self.files(scope, receive, send)


def _route_path(scope) -> str:
    """The path as Starlette's routes match it (without the root_path)."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root) and path != root and path[len(root)] == "/":
        return path[len(root):]
    return "" if root and path == root else path


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette sends this from its outermost middleware, past SecurityHeaders.
    log.exception("error serving %s", request.url.path, exc_info=exc)
    return _plain(500, "Internal Server Error", h.SECURITY_HEADERS)


def make_app(config: ServeConfig, extra_routes: list | None = None) -> _UnchangedFirst:
    """The serve app; ``extra_routes`` (e.g. ``Mount("/review", app=...)``) win over files."""
    if not config.root.is_dir():
        log.warning("%s is not a folder (yet): every request gets 404 until it is", config.root)
    extra = list(extra_routes or [])
    files = StaticFiles(config)
    # Starlette tries routes in order. Files come last so that extra routes win,
    # but a path no extra route can match need not be tried against each of
    # them (the review page has seven): _FilesFirst takes it at once.
    first = _FilesFirst(files, extra)
    routes = [first] + extra + [Route("/{path:path}", files)]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={Exception: _server_error})
    return _UnchangedFirst(app, files, first)


def app_from_environment() -> _UnchangedFirst:
    """uvicorn's factory in each worker process, when ``workers > 1``."""
    raw = json.loads(os.environ[_ENV_CONFIG])
    raw["root"] = Path(raw["root"])
    return make_app(ServeConfig(**raw))


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (0: any free port), or ServeError.

    Bound here, before ``serve`` says where it serves: uvicorn, binding itself,
    logged the error and exited with its own code 3, which the CLI uses for "the
    store is locked"."""
    # uvicorn's rule: IPv6 for a literal IPv6 address, else IPv4 ("localhost" is
    # 127.0.0.1 then, where docs/nginx.conf proxies to, even where ::1 resolves first).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:  # socket.gaierror too: a name that does not resolve
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
          extra_routes: list | None = None, sock: socket.socket | None = None) -> None:
    """Run uvicorn until interrupted, on ``sock`` (see ``listen``) if given. Binds
    loopback unless told otherwise."""
    if not _is_loopback(host):
        log.warning("serving on %s: reachable from other machines", host)
    log.info("serving %s on http://%s:%d/ with %d worker(s)", config.root, host, port, workers)
    if importlib.util.find_spec("httptools") is None:
        # uvicorn's "auto" takes httptools (and uvloop) when installed; h11 is
        # pure Python and limits a 304 to about half the rate (bench/serve.py).
        log.info("HTTP parser: h11; install httptools and uvloop for about twice the "
                 "request rate")
    common = {"host": host, "port": port, "server_header": False}
    if workers <= 1:
        # log_config=None: uvicorn logs through the CLI's logging setup. uvicorn
        # formats each access-log line before the logger drops it (a few percent
        # of a 304), so ask for the lines only when they are shown (-v).
        access_log = logging.getLogger("uvicorn.access").isEnabledFor(logging.INFO)
        server = uvicorn.Server(uvicorn.Config(make_app(config, extra_routes), log_config=None,
                                               access_log=access_log, **common))
        server.run(sockets=[sock or listen(host, port)])
        return
    if sock is not None:
        raise ValueError("workers > 1: uvicorn binds the address itself; pass no sock")
    if extra_routes:
        # Worker processes rebuild the app from an import string; routes
        # holding live objects cannot follow them there.
        raise ConfigError("[serve]", ["workers > 1 cannot be combined with extra routes"])
    fields = dataclasses.asdict(config)
    fields["root"] = str(config.root.resolve())
    os.environ[_ENV_CONFIG] = json.dumps(fields)
    uvicorn.run("syndicator.web.app:app_from_environment", factory=True,
                workers=workers, **common)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
