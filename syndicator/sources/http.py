"""The one HTTP client every source fetches through.

httpx with timeouts, a real User-Agent, a response-size cap, conditional GET
(ETag / Last-Modified) and retries with exponential backoff that honour
``Retry-After``. ``file://`` URLs go through the same client by a small
transport, so the bundled sample site works offline with the same code path.

Redirects are followed here, not by httpx, so that each hop is checked: only
http(s) targets (httpx would happily follow ``Location: file:///etc/passwd``
into the file transport), and only the hosts a source is allowed.
"""
from __future__ import annotations

import email.utils
import functools
import logging
import mimetypes
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import certifi
import httpx

from .. import __version__
from ..config import HttpConfig
from ..errors import FetchError
from ..rows import http_seconds

log = logging.getLogger(__name__)
RETRY_STATUS = {429, 500, 502, 503, 504}
MAX_REDIRECTS = 5
# A longer Retry-After is not slept through inside a cycle: the fetch fails at
# once and the store's backoff waits (at least) that long before the next attempt.
MAX_INLINE_WAIT = 30.0
# http.timeout bounds each read; a server that trickles bytes can dodge it, so a
# whole response may take at most this many timeouts.
DEADLINE_FACTOR = 4


@dataclass(frozen=True)
class Page:
    url: str  # final URL, after redirects
    status: int  # 200, or 304 when the validators matched
    body: bytes
    content_type: str
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FileTransport(httpx.BaseTransport):
    """Serve ``file://`` URLs, with Last-Modified, so conditional GET works on disk too."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = Path(unquote(urlsplit(str(request.url)).path))
        try:
            if not path.is_file():
                return httpx.Response(404, request=request)
            mtime = path.stat().st_mtime
            stamp = email.utils.formatdate(mtime, usegmt=True)
            since = request.headers.get("if-modified-since")
            if since and _parse_http_date(since) >= int(mtime):
                return httpx.Response(304, headers={"last-modified": stamp}, request=request)
            body = path.read_bytes()
        except OSError as exc:  # unreadable (permissions), or gone since is_file()
            # A FetchError passes through httpx unchanged, as the source's error.
            raise FetchError(str(request.url), f"cannot read {str(path)!r}: "
                                               f"{exc.strerror or exc}") from None
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return httpx.Response(200, content=body, request=request,
                              headers={"content-type": ctype, "last-modified": stamp})


def _parse_http_date(text: str) -> float:
    return http_seconds(text) or 0.0


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes tens of milliseconds: more than an idle cycle's
    # whole fetch. A `run` process polls for years, so it is loaded once.
    return ssl.create_default_context(cafile=certifi.where())


class Fetcher:
    """Fetch pages politely. One instance per cycle; close it when done."""

    def __init__(self, config: HttpConfig, base_url: str = "", sleep=time.sleep):
        agent = config.user_agent or f"syndicator/{__version__} (+{base_url})"
        self.config = config
        self.sleep = sleep
        self.client = httpx.Client(
            timeout=config.timeout, follow_redirects=False,
            headers={"User-Agent": agent}, mounts={"file://": FileTransport()},
            verify=_tls_context(),
        )

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, etag: str = "", last_modified: str = "", *,
            hosts: frozenset[str] | None = None) -> Page:
        """GET ``url``; returns a 304 Page when the validators still match.

        ``hosts``, when given, are the only hosts a redirect may lead to."""
        url = _normal_file_url(url)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        delay = self.config.backoff
        for attempt in range(self.config.retries + 1):
            try:
                return self._get_once(url, headers, hosts)
            except FetchError as exc:
                if (attempt == self.config.retries or exc.retry_after is None
                        or exc.retry_after > MAX_INLINE_WAIT):
                    raise
                wait = max(exc.retry_after, delay)
                log.info("retrying %s in %.1fs: %s", url, wait, exc)
                self.sleep(wait)
                delay *= 2
        raise AssertionError("unreachable")

    def _get_once(self, url: str, headers: dict, hosts: frozenset[str] | None) -> Page:
        deadline = time.monotonic() + self.config.timeout * DEADLINE_FACTOR
        target = url
        try:
            for _ in range(MAX_REDIRECTS + 1):
                with self.client.stream("GET", target, headers=headers) as response:
                    if not response.has_redirect_location:
                        return self._page(url, response, deadline)
                    target = _redirect_target(url, response, hosts)
        except httpx.TimeoutException:
            raise FetchError(url, f"timed out after {self.config.timeout:g}s",
                             retry_after=0) from None
        except httpx.TransportError as exc:
            raise FetchError(url, f"connection failed: {exc or type(exc).__name__}",
                             retry_after=0) from None
        except httpx.DecodingError as exc:
            raise FetchError(url, f"could not decode the response: {exc}") from None
        except httpx.InvalidURL as exc:  # a URL (or redirect) urllib took and httpx did not
            raise FetchError(url, f"invalid URL {target!r}: {exc}") from None
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects (a redirect loop?); "
                              f"the last went to {target}")

    def _page(self, url: str, response: httpx.Response, deadline: float) -> Page:
        if response.status_code == 304:
            return Page(str(response.url), 304, b"", "", *_validators(response))
        if response.status_code != 200:
            raise _status_error(url, response)
        body = self._read_capped(url, response, deadline)
        return Page(str(response.url), 200, body,
                    response.headers.get("content-type", ""), *_validators(response))

    def _read_capped(self, url: str, response: httpx.Response, deadline: float) -> bytes:
        # Count decoded bytes, so a small gzip bomb is stopped as early as a big body.
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.config.max_bytes:
                raise FetchError(url, f"response larger than http.max_bytes "
                                      f"({self.config.max_bytes} bytes); not read further")
            if time.monotonic() > deadline:
                raise FetchError(url, f"response still arriving after "
                                      f"{self.config.timeout * DEADLINE_FACTOR:g}s; "
                                      "not read further", retry_after=0)
            chunks.append(chunk)
        return b"".join(chunks)


def host_allowed(url: str, hosts: frozenset[str]) -> bool:
    """Is ``url`` on one of ``hosts`` (``host`` or ``host:port``, lower case)?"""
    parts = urlsplit(url)
    return parts.netloc.lower() in hosts or (parts.hostname or "") in hosts


def source_hosts(source) -> frozenset[str]:
    """The hosts a source may fetch from: its own URL's, plus its ``allowed_hosts``."""
    extra = getattr(source, "allowed_hosts", ()) or ()
    return frozenset({urlsplit(source.url).netloc.lower(), *(h.lower() for h in extra)})


def _redirect_target(url: str, response: httpx.Response, hosts: frozenset[str] | None) -> str:
    location = response.headers["location"]
    try:
        target = urljoin(str(response.url), location).split("#")[0]
        scheme = urlsplit(target).scheme
    except ValueError:
        raise FetchError(url, f"redirect to {location!r} refused: not a valid URL") from None
    if scheme not in ("http", "https"):
        raise FetchError(url, f"redirect to {target!r} refused: only http(s) is followed")
    if hosts is not None and not host_allowed(target, hosts):
        raise FetchError(url, f"redirect to {target!r} refused: host "
                              f"{urlsplit(target).netloc!r} is not the source's own; "
                              "list it in the source's allowed_hosts to follow it")
    return target


def _normal_file_url(url: str) -> str:
    # httpx drops the scheme of "file:///path" (empty host); "file://localhost/path"
    # keeps it, so the file transport is chosen.
    parts = urlsplit(url)
    if parts.scheme == "file" and not parts.netloc:
        return "file://localhost" + ("" if parts.path.startswith("/") else "/") + parts.path
    return url


def _validators(response: httpx.Response) -> tuple[str, str]:
    return response.headers.get("etag", ""), response.headers.get("last-modified", "")


def _status_error(url: str, response: httpx.Response) -> FetchError:
    status = response.status_code
    text = f"HTTP {status} {response.reason_phrase}".rstrip()
    if status == 410:
        text += " (the server says it is gone for good; check the source's URL)"
    if status not in RETRY_STATUS:
        return FetchError(url, text)
    wait = _retry_after(response)
    if response.headers.get("retry-after"):
        text += f"; Retry-After {wait:g}s"
    return FetchError(url, text, retry_after=wait)


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        when = _parse_http_date(value)
        return max(0.0, when - datetime.now(timezone.utc).timestamp())
    return 0.0
