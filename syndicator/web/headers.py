"""HTTP header logic for the static server, as pure functions of strings.

Kept apart from the ASGI layer so each rule (RFC 9110 conditionals, content
negotiation, CORS, CSP) reads on its own and is tested without a socket.
"""
from __future__ import annotations

import re
import time
from email.utils import formatdate

from ..rows import http_seconds
from .static import CODINGS, StaticFile

# Published files that other sites fetch or frame: they get CORS headers.
CORS_NAMES = re.compile(r"^(feed(-[\w.-]+)?\.json|embed\.js|widget\.html)$")
PREFLIGHT_MAX_AGE = "86400"
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
# Only what a widget needs for conditional fetches; nothing here takes a body.
ALLOWED_REQUEST_HEADERS = "If-None-Match, If-Modified-Since, Cache-Control"

# Pages we publish use an inline <style> and may show remote https images.
HTML_CSP = ("default-src 'self'; img-src 'self' https: data:; "
            "style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'self'")
# Feeds, scripts and errors are data, not documents: if a browser renders one
# (XML with XHTML inside, SVG), nothing in it may run.
DATA_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}

_TOKEN_Q = re.compile(r"^\s*([!#$%&'*+.^_`|~0-9a-z-]+)\s*(?:;\s*q\s*=\s*([0-9.]+)\s*)?$", re.IGNORECASE)
# One element of an If-None-Match list, matched from where the last one ended.
_ENTITY_TAG = re.compile(r'\s*(?:W/)?"([^"]*)"\s*(?:,|$)')


def is_cors_resource(name: str) -> bool:
    return bool(CORS_NAMES.match(name))


def widget_csp(frame_ancestors: tuple[str, ...]) -> str:
    # form-action and base-uri do not fall back to default-src: named here, so that
    # markup slipped into a widget could neither post a form nor re-base its links.
    return ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
            "base-uri 'none'; form-action 'none'; "
            "frame-ancestors " + " ".join(frame_ancestors))


def csp_for(file: StaticFile, frame_ancestors: tuple[str, ...]) -> str:
    if file.name == "widget.html":
        return widget_csp(frame_ancestors)
    if file.media.value.startswith("text/html"):
        return HTML_CSP
    return DATA_CSP


def choose_coding(accept_encoding: str | None) -> str | None:
    """The best of CODINGS the client accepts (q > 0), or None for identity.

    A coding not named falls back to the "*" entry's q, as RFC 9110 12.5.3 says;
    "x-gzip" is the historical alias of gzip. Malformed entries are skipped.
    """
    if not accept_encoding:
        return None
    q: dict[str, float] = {}
    for entry in accept_encoding.split(","):
        match = _TOKEN_Q.match(entry)
        if not match:
            continue
        coding = match.group(1).lower()
        coding = "gzip" if coding == "x-gzip" else coding
        try:
            q[coding] = float(match.group(2)) if match.group(2) is not None else 1.0
        except ValueError:
            continue
    default = q.get("*", 0.0)
    rated = [(q.get(c, default), -i, c) for i, c in enumerate(CODINGS)]
    best_q, _, best = max(rated)
    return best if best_q > 0 else None


def etag(tag: str, coding: str | None) -> str:
    """Strong ETag per representation: compressed bytes differ, so must their tags."""
    suffix = {"br": "-br", "gzip": "-gz"}.get(coding, "")
    return f'"{tag}{suffix}"'


def none_match(if_none_match: str, current: str) -> bool:
    """True when If-None-Match matches ``current`` (weak comparison, RFC 9110 13.1.2)."""
    if if_none_match.strip() == "*":
        return True  # the resource exists, or we would not be asked
    return current.strip('"') in _entity_tags(if_none_match.strip())


def _entity_tags(header: str) -> list[str]:
    """The opaque tags of an If-None-Match list; none when the header is not one
    (RFC 9110 13.1.2: an invalid header is ignored, so the full answer is sent)."""
    tags, at = [], 0
    while at < len(header):
        element = _ENTITY_TAG.match(header, at)
        if element is None:
            return []
        tags.append(element.group(1))
        at = element.end()
    return tags


def not_modified_since(if_modified_since: str, mtime: float) -> bool:
    """True when the file is not newer than the date; an invalid or future date is ignored."""
    since = http_seconds(if_modified_since)
    if since is None or since > time.time():
        return False
    # Last-Modified has one-second resolution, so compare whole seconds.
    return int(mtime) <= since


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def cors_headers(origin: str | None, allowed: tuple[str, ...]) -> tuple[dict[str, str], bool]:
    """CORS response headers for a request Origin, and whether the answer varies by Origin."""
    if "*" in allowed:
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "ETag"}, False
    if origin and origin in allowed:
        return {"Access-Control-Allow-Origin": origin,
                "Access-Control-Expose-Headers": "ETag"}, True
    # No ACAO, but still Vary: a cache must not hand this to an allowed origin.
    return {}, True


def preflight_headers(origin: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    headers, varies = cors_headers(origin, allowed)
    if "Access-Control-Allow-Origin" in headers:
        headers.update({
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        })
    if varies:
        headers["Vary"] = "Origin"
    return headers
