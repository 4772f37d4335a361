"""``syndicator serve``: the published folder over HTTP.

This is the only module that turns errors into responses: ``NotServed`` from
``static.py`` becomes a 404, anything unexpected a logged 500. Extra routes (the
translators' review app) are matched before the static files.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import ConfigError
from . import headers as h
from .config import ServeConfig
from .static import FileStore, NotServed, StaticFile

log = logging.getLogger(__name__)

_ENV_CONFIG = "SYNDICATOR_SERVE_CONFIG"  # hands the config to worker processes


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
                response_headers = MutableHeaders(scope=message)
                for name, value in h.SECURITY_HEADERS.items():
                    response_headers.setdefault(name, value)
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

    async def __call__(self, scope, receive, send):
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            return _plain(405, "Method Not Allowed", {"Allow": h.ALLOWED_METHODS})
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        try:
            # find() and cached() only stat (no open, no read), which costs less
            # than a hop to the thread pool: on the event loop, the common case
            # (a file unchanged since it was last read) never leaves it.
            found = self.store.find(raw_path)
            if found.add_slash:
                return self._add_slash(request, raw_path)
            file = self.store.cached(found.path) \
                or await run_in_threadpool(self.store.read, found.path)
        except NotServed as exc:
            log.debug("404 for %r: %s", raw_path, exc)
            return _plain(404, "Not Found")
        if request.method == "OPTIONS":
            return self._options(request, file)
        return await self._file(request, file)

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

    async def _file(self, request: Request, file: StaticFile) -> Response:
        coding = h.choose_coding(request.headers.get("accept-encoding")) \
            if file.media.compressible else None
        body = file.body
        if coding:
            known, encoded = self.store.encoded_cached(file, coding)
            if not known:
                encoded = await run_in_threadpool(self.store.encoded, file, coding)
            body, coding = (encoded, coding) if encoded is not None else (body, None)
        headers = self._file_headers(request, file, coding)
        if self._not_modified(request, headers["ETag"], file.mtime):
            return Response(status_code=304, headers=headers)
        if coding:
            headers["Content-Encoding"] = coding
        headers["Content-Length"] = str(len(body))
        return Response(b"" if request.method == "HEAD" else body,
                        headers=headers, media_type=file.media.value)

    def _file_headers(self, request: Request, file: StaticFile, coding: str | None) -> dict:
        headers = {
            "ETag": h.etag(file.tag, coding),
            "Last-Modified": h.http_date(file.mtime),
            "Cache-Control": f"public, max-age={self.config.max_age}",
            "Content-Security-Policy": h.csp_for(file, self.config.frame_ancestors),
        }
        if file.media.value.startswith("text/html") and file.name != "widget.html":
            headers["X-Frame-Options"] = "SAMEORIGIN"  # for browsers without CSP 3
        vary = ["Accept-Encoding"] if file.media.compressible else []
        if h.is_cors_resource(file.name):
            cors, varies = h.cors_headers(request.headers.get("origin"),
                                          self.config.cors_origins)
            headers.update(cors)
            vary += ["Origin"] if varies else []
        if vary:
            headers["Vary"] = ", ".join(vary)
        return headers

    @staticmethod
    def _not_modified(request: Request, etag: str, mtime: float) -> bool:
        # RFC 9110 13.2.2: If-Modified-Since counts only without If-None-Match.
        if_none_match = ", ".join(request.headers.getlist("if-none-match"))
        if if_none_match:
            return h.none_match(if_none_match, etag)
        since = request.headers.get("if-modified-since")
        return bool(since) and h.not_modified_since(since, mtime)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette sends this from its outermost middleware, past SecurityHeaders.
    log.exception("error serving %s", request.url.path, exc_info=exc)
    return _plain(500, "Internal Server Error", h.SECURITY_HEADERS)


def make_app(config: ServeConfig, extra_routes: list | None = None) -> Starlette:
    """The serve app; ``extra_routes`` (e.g. ``Mount("/review", app=...)``) win over files."""
    if not config.root.is_dir():
        log.warning("%s is not a folder (yet): every request gets 404 until it is", config.root)
    routes = list(extra_routes or []) + [Route("/{path:path}", StaticFiles(config))]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)],
                     exception_handlers={Exception: _server_error})


def app_from_environment() -> Starlette:
    """uvicorn's factory in each worker process, when ``workers > 1``."""
    raw = json.loads(os.environ[_ENV_CONFIG])
    raw["root"] = Path(raw["root"])
    return make_app(ServeConfig(**raw))


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
          extra_routes: list | None = None) -> None:
    """Run uvicorn until interrupted. Binds loopback unless told otherwise."""
    if not _is_loopback(host):
        log.warning("serving on %s: reachable from other machines", host)
    log.info("serving %s on http://%s:%d/ with %d worker(s)", config.root, host, port, workers)
    common = {"host": host, "port": port, "server_header": False}
    if workers <= 1:
        # log_config=None: uvicorn logs through the CLI's logging setup.
        uvicorn.run(make_app(config, extra_routes), log_config=None, **common)
        return
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
