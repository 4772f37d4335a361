"""Strict checks where data comes in: text and HTML are cleaned once, here.

Everything after this stage can trust that strings are XML-legal, that HTML is
sanitised by an allow-list (nh3) and that links are absolute.
"""
from __future__ import annotations

import mimetypes
import re
from html import escape
from html.entities import html5 as _ENTITIES
from datetime import datetime, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import lxml.html
import lxml.html.defs
import nh3
from lxml import etree

from ..models import Image

# Characters XML 1.0 forbids (C0 controls except tab/newline/return, lone
# surrogates, U+FFFE/U+FFFF): one of them would make the whole feed fail.
# Also invisible characters used for spoofing: bidi embeddings and overrides
# (U+202A-E, U+2066-9), and zero-width space / word joiner / BOM; ZWJ and ZWNJ
# stay, as scripts and emoji need them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
                          "\u202a-\u202e\u2066-\u2069\u200b\u2060\ufeff]")
_SPACES = re.compile(r"\s+")
_MAX_PASSES = 4
# What makes a value of unknown type HTML: a start or end tag of a real element
# (lxml's list, plus the ones it lacks), a comment, CDATA section or declaration,
# or a character reference.
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)(?=[\s/>])")
_DECLARATION = re.compile(r"<(?:!--|!\[CDATA\[|![a-zA-Z]|\?[a-zA-Z])")
_CHAR_REF = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);")
_HTML_TAGS = frozenset(lxml.html.defs.tags) | {
    "bgsound", "data", "dialog", "frame", "image", "listing", "main", "noembed",
    "noframes", "nobr", "picture", "plaintext", "portal", "search", "slot", "template",
    "xmp"}

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt",
    "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "li", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "hreflang"}, "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"},
    "abbr": {"title"},
}
# No `cite` on <q>/<blockquote>: nh3 does not check its URL scheme, so it would let
# `javascript:` through, and no reader shows it anyway.
URL_SCHEMES = {"http", "https", "mailto"}


def xml_safe(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def plain_text(text: str) -> str:
    """A value that is plain text (an Atom ``type="text"`` title, an author's name):
    every character stays, ``<`` and ``&`` too ("x<y", "Bob <bob@example.org>"); only
    illegal characters go and whitespace folds to one line. The writers escape it."""
    return one_line(text)


def html_text(html: str) -> str:
    """A title or other one-line field given as HTML: its text, decoded once, one line."""
    if "<" in html or "&" in html:
        try:
            html = lxml.html.fromstring(f"<div>{html}</div>").text_content()
        except (etree.ParserError, ValueError):
            pass
    return one_line(html)


def guessed_text(value: str) -> str:
    """A one-line field whose format does not say whether it is text or HTML (RSS
    titles, front matter). It is HTML only if it looks like HTML, as escaped or
    marked-up titles do; "x<y" or "<CSTO>" is text and is kept."""
    return html_text(value) if looks_like_html(value) else plain_text(value)


def looks_like_html(value: str) -> bool:
    """Does ``value`` hold a tag of an HTML element, a comment or declaration, or a
    character reference? A lone "<" or an unknown "<name>" is not enough."""
    return (any(m[1].lower() in _HTML_TAGS for m in _TAG.finditer(value))
            or _DECLARATION.search(value) is not None
            or any(m[1].startswith("#") or f"{m[1]};" in _ENTITIES
                   for m in _CHAR_REF.finditer(value)))


def text_as_html(text: str) -> str:
    """A plain-text body as HTML: escaped, one <p> per blank-line-separated paragraph."""
    paragraphs = (one_line(p) for p in re.split(r"\n\s*\n", text))
    return "".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs if p)


def one_line(text: str) -> str:
    """Text that is already decoded (an element's text): legal characters, one line."""
    return _SPACES.sub(" ", xml_safe(text)).strip()


def absolute_links(html: str, base_url: str) -> str:
    """Resolve every relative href/src against ``base_url``."""
    if not html.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(xml_safe(html), create_parent="div")
    except (etree.ParserError, ValueError):
        return html
    root.make_links_absolute(base_url, resolve_base_href=False, handle_failures="discard")
    out = lxml.html.tostring(root, encoding="unicode")  # includes the wrapper <div>
    return out[len("<div>"):-len("</div>")]


def _clean_once(html: str, base_url: str) -> str:
    if not html or not html.strip():
        return ""
    safe = nh3.clean(absolute_links(html, base_url), tags=ALLOWED_TAGS,
                     attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer")
    return xml_safe(safe).strip()


def clean_html(html: str, base_url: str) -> str:
    """Sanitise with an allow-list, after making links absolute.

    The result is a fixed point: cleaning it again changes nothing. One pass is
    not always one: libxml2 (links) and html5ever (nh3) repair broken nesting
    differently, each pass drops one leading newline of a <pre>, and removing
    an illegal character can join two halves of something. So clean until
    nothing changes; if that does not settle in a few passes, keep the text
    only, escaped, which is stable.
    """
    current = _clean_once(html, base_url)
    for _ in range(_MAX_PASSES):
        again = _clean_once(current, base_url)
        if again == current:
            return current
        current = again
    text = escape(html_text(current))
    return f"<p>{text}</p>" if text else ""


def web_image(url: str, type_: str = "", length: int = 0) -> Image | None:
    """An image readers can fetch: http(s) only, with a media type when it can be told."""
    if urlsplit(url).scheme not in ("http", "https"):
        return None
    return Image(url, type_ or mimetypes.guess_type(urlsplit(url).path)[0] or "", length)


def summary_from(html: str, limit: int = 300) -> str:
    """A plain-text summary of HTML, cut at a word boundary."""
    return shorten(html_text(html), limit)


def shorten(text: str, limit: int = 300) -> str:
    """Plain text cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


def to_utc(value: datetime, tz: str) -> datetime:
    """Naive datetimes are in the source's zone; everything internal is aware UTC."""
    try:
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(tz))
        return value.astimezone(timezone.utc)
    except OverflowError:  # year 1 or 9999 near the edge of the zone offset
        raise ValueError(f"{value!r} is out of range") from None
