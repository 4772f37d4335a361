"""Bytes to text: the charset a page declares, or a careful guess when it declares none.

The order is the one browsers use: a byte-order mark, then the HTTP header,
then the page's own ``<meta charset>``. A declaration is trusted only while it decodes
the bytes cleanly; a page with no (working) declaration is tried as UTF-8, and
only then handed to charset-normalizer.
"""
from __future__ import annotations

import codecs
import logging
import re

import charset_normalizer
from charset_normalizer.constant import IANA_SUPPORTED
from charset_normalizer.utils import is_multi_byte_encoding

log = logging.getLogger(__name__)

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
# <meta charset="..."> and <meta http-equiv="Content-Type" content="...; charset=...">
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([\w.:-]+)", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
         (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
# charset-normalizer stops at the first multi-byte codec that decodes "well enough",
# so short KOI8-R text comes back as Shift-JIS. Guessing once more among the
# single-byte codecs and keeping the less chaotic guess fixes that.
_MULTI_BYTE = [name for name in IANA_SUPPORTED if is_multi_byte_encoding(name)]
_SNIFF = 4096  # a meta charset must be in the first bytes of the page, as in browsers


def header_charset(content_type: str) -> str:
    match = _HEADER_CHARSET.search(content_type or "")
    return match[1] if match else ""


def decode_html(body: bytes, content_type: str) -> tuple[str, str]:
    """(text, charset used) for an HTML page."""
    declared = [c for c in (_bom(body), header_charset(content_type), _meta_charset(body)) if c]
    for charset in declared:
        text = _strict(body, charset)
        if text is not None:
            return text, charset
    # No declaration fits every byte. A stray byte in a UTF-8 page must not make the
    # whole page a guess, so a declared charset that fits nearly all of it still wins.
    for charset in declared:
        text = _lenient(body, charset)
        if text is not None:
            return text, charset
    return _undeclared(body)


def xml_needs_transcoding(body: bytes, content_type: str) -> tuple[str, str]:
    """(detected charset, the declaration it overrides) of an XML feed whose bytes
    no declaration fits (none, or a wrong one), and are not UTF-8; else ("", "").

    feedparser reads declared charsets itself; an undeclared or wrong one it would
    read as UTF-8 and then as windows-1252, which turns Cyrillic into Latin garbage.
    """
    xml = _XML_ENCODING.match(body[:_SNIFF])
    declared = [c for c in (_bom(body), header_charset(content_type),
                            xml[1].decode("ascii") if xml else "") if c]
    fitting = next((c for c in declared if _strict(body, c) is not None), "")
    if fitting and fitting == declared[0]:
        return "", ""  # the declaration feedparser goes by (BOM, header, XML) is right
    if not declared and _strict(body, "utf-8") is not None:
        return "", ""
    return fitting or _undeclared(body)[1], ", ".join(declared)


def as_utf8(body: bytes, charset: str, content_type: str) -> tuple[bytes, str]:
    """An XML document's bytes and media type in UTF-8, its declarations saying so."""
    text = body.decode(charset, errors="replace").encode("utf-8")
    text = _XML_ENCODING.sub(lambda m: m[0][: m.start(1) - m.start(0)] + b"utf-8", text, count=1)
    media = (content_type or "application/xml").split(";", 1)[0].strip()
    return text, f"{media}; charset=utf-8"


def _bom(body: bytes) -> str:
    return next((name for bom, name in _BOMS if body.startswith(bom)), "")


def _meta_charset(body: bytes) -> str:
    match = _META_CHARSET.search(body[:_SNIFF])
    return match[1].decode("ascii", "replace") if match else ""


def _strict(body: bytes, charset: str) -> str | None:
    if not charset:
        return None
    try:
        return body.decode(charset)
    except (LookupError, UnicodeDecodeError):
        log.debug("declared charset %r does not decode the page", charset)
        return None


def _lenient(body: bytes, charset: str) -> str | None:
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        return None
    return text if text.count("\ufffd") <= len(text) // 1000 else None


def _undeclared(body: bytes) -> tuple[str, str]:
    text = _strict(body, "utf-8")
    if text is not None:
        return text, "utf-8"
    guesses = [charset_normalizer.from_bytes(body).best(),
               charset_normalizer.from_bytes(body, cp_exclusion=_MULTI_BYTE).best()]
    guesses = [g for g in guesses if g is not None]
    if not guesses:
        return body.decode("utf-8", errors="replace"), "utf-8"
    best = min(guesses, key=lambda g: (g.chaos, -g.coherence))
    return str(best), best.encoding
