"""RSS 2.0 and Atom 1.0 documents for one language, written directly as UTF-8 bytes.

Up to commit 5787182 feedgen 1.0 built them, and lxml patched its output
(feedgen drops the ``rel``/``type``/``hreflang`` of entry links, python-feedgen
#135, and has no per-entry ``xml:lang``): serialise, parse, patch, serialise.
For the 1,414 RSS/Atom documents of a full rebuild of the 10,000-item
benchmark store that took 23 s; a prototype building the same trees with lxml
directly took 8.7 s (a Python call per element and attribute); writing the
bytes, as here, takes 2.7 s, and lxml's serialisation alone of the finished
trees 1.0 s (medians of 3 paired rounds; bench/publish.py --baseline compares
with feedgen). So feedgen is gone.

The bytes are those lxml writes for those trees (tests/test_golden.py holds
feedgen-era documents):
- ``<?xml version='1.0' encoding='UTF-8'?>``, two-space indents, ``<tag/>``
  for an element without text;
- in text ``&``, ``<``, ``>`` and CR are escaped; in attribute values also
  ``"``, TAB and LF (``_text``, ``_attr``); an RSS ``<description>`` is HTML
  (RSS 2.0), so one made from a summary, which is plain text, is escaped as HTML
  first (``_html_of_text``: "3 < 4" is written ``3 &amp;lt; 4``);
- namespaces are declared once, on the root, and only those used;
- elements feedgen left out when their value was empty are left out, and a
  missing required value or a date without a time zone raises ``ValueError``,
  as feedgen did. So does a character XML forbids, naming the field, as lxml
  refuses it (intake already removes them).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from html import escape

from .. import __version__
from ..models import Entry
from .authors import person
# Re-exported: publish/__init__.py, archive.py and tests use feeds.FeedInfo and the rest.
from .feedinfo import EPOCH, FeedInfo, History, feed_updated  # noqa: F401
from .i18n import bcp47
from .machine_dates import rfc822, rfc3339

ATOM = "http://www.w3.org/2005/Atom"
FH = "http://purl.org/syndication/history/1.0"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
# Stable category terms that tell readers how an entry's text was made.
PROVENANCE_SCHEME = "https://syndicator.example/provenance"
PROVENANCE = {"translated": "machine-translation", "reviewed": "human-reviewed",
              "awaiting": "awaiting-translation", "failed": "awaiting-translation"}
_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"
_RSS_PROVENANCE = {status: f'      <category domain="{PROVENANCE_SCHEME}">{term}</category>\n'
                   .encode() for status, term in PROVENANCE.items()}
_ATOM_PROVENANCE = {status: f'    <category term="{term}" scheme="{PROVENANCE_SCHEME}"/>\n'
                    .encode() for status, term in PROVENANCE.items()}
# Anything but XML 1.0's Char production: what lxml refuses to store.
_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# 0 for the bytes a forbidden character can leave in UTF-8 (see _checked), 1 elsewhere.
_SUSPECT = bytes(0 if byte < 32 and byte not in b"\t\n\r" or byte == 0xEF else 1
                 for byte in range(256))


def _text(value: str) -> bytes:
    # Escaped as bytes: bytes.replace is several times faster than str.replace on
    # non-ASCII text. ">" too, so "]]>" never appears; CR as a reference, or a
    # parser would read it as LF.
    return (value.encode().replace(b"&", b"&amp;").replace(b"<", b"&lt;")
            .replace(b">", b"&gt;").replace(b"\r", b"&#13;"))


def _html_of_text(value: str) -> bytes:
    """Plain text as HTML, escaped for XML: RSS <description> is entity-encoded HTML."""
    return _text(escape(value, quote=False))


def _attr(value: str) -> bytes:
    # A parser turns a literal TAB, LF or CR in an attribute value into a space.
    return (_text(value).replace(b'"', b"&quot;").replace(b"\n", b"&#10;")
            .replace(b"\t", b"&#9;"))


class _Forbidden(Exception):
    """A value holds a character XML forbids (_checked names it)."""


def _column(values: list[str], escape: Callable[[str], bytes] = _text) -> list[bytes]:
    """Each of ``values`` escaped, in one pass over all of them: a call per value
    was the writers' largest cost (675,000 values in a 10,000-item rebuild)."""
    if not values:  # an empty archive page
        return []
    escaped = escape("\0".join(values)).split(b"\0")
    if len(escaped) != len(values):  # U+0000 in a value, which XML forbids
        raise _Forbidden
    return escaped


def _element(indent: bytes, tag: bytes, text: str, attrs: bytes = b"") -> bytes:
    if not text:  # lxml writes an element without text as <tag/>
        return b"%s<%s%s/>\n" % (indent, tag, attrs)
    return b"%s<%s%s>%s</%s>\n" % (indent, tag, attrs, _text(text), tag)


class Content(dict):
    """GUID -> entry HTML of one document, shared by its RSS and Atom versions.

    Escaping this text is the writers' largest single cost (60 MB in a rebuild
    of the 10,000-item benchmark store). ``escaped()`` does it once for both
    documents, in one pass over all the entries (see ``_column``). Filled once,
    then only read: the escaped values are not updated after a change.
    """
    _escaped: dict[str, bytes] | None = None

    def escaped(self) -> dict[str, bytes]:
        if self._escaped is None:
            self._escaped = dict(zip(self, _column(list(self.values()))))
        return self._escaped


def _escaped_content(content: dict[str, str]) -> dict[str, bytes]:
    return (content if isinstance(content, Content) else Content(content)).escaped()


def _html(indent: bytes, tag: bytes, html: bytes, attrs: bytes = b"") -> tuple[bytes, ...]:
    """``_element`` for an entry's escaped HTML, left in pieces: copying it costs too."""
    if not html:
        return (b"%s<%s%s/>\n" % (indent, tag, attrs),)
    return b"%s<%s%s>" % (indent, tag, attrs), html, b"</%s>\n" % tag


def _empty(indent: bytes, tag: bytes, **attrs: str | None) -> bytes:
    """An element without content; attributes in keyword order, None ones left out."""
    pairs = b"".join(b' %s="%s"' % (key.encode(), _attr(value))
                     for key, value in attrs.items() if value is not None)
    return b"%s<%s%s/>\n" % (indent, tag, pairs)


def _lang(entry: Entry, feed_lang: str) -> bytes:
    """The entry's own xml:lang, when its text is not in the feed's language."""
    return b"" if entry.text_lang == feed_lang else _xml_lang(entry.text_lang)


@lru_cache(maxsize=64)
def _xml_lang(lang: str) -> bytes:
    return b' xml:lang="%s"' % _attr(bcp47(lang))


def _required(values: dict[str, str]) -> None:
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ValueError(f"required fields not set ({', '.join(missing)})")


def _history_links(info: FeedInfo, fmt: str) -> list[tuple[str, str]]:
    history = info.history
    links = [("prev-archive", history.prev), ("next-archive", history.next)]
    found = [(rel, history.url(fmt, page)) for rel, page in links if page is not None]
    if history.page is not None:
        found.append(("current", history.url(fmt, None)))
    return found


def rss(info: FeedInfo, entries: list[Entry], content: dict[str, str]) -> bytes:
    return _checked(_rss, info, entries, content)


def _rss(info: FeedInfo, entries: list[Entry], content: dict[str, str]) -> list[bytes]:
    _required({"title": info.title, "link": info.home, "description": info.description})
    archive = info.history.page is not None
    # Only the namespaces used, in the order the feedgen-era documents have them.
    names = [("dc", DC)] if any(e.item.author for e in entries) else []
    names.append(("atom", ATOM))
    if any(e.summary for e in entries):
        names.append(("content", CONTENT))  # content:encoded goes with a summary
    if archive:
        names.append(("fh", FH))
    xmlns = "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in names)
    parts = [_DECLARATION, f'<rss{xmlns} version="2.0">\n  <channel>\n'.encode(),
             _element(b"    ", b"title", info.title), _element(b"    ", b"link", info.home),
             _element(b"    ", b"description", info.description),
             _empty(b"    ", b"atom:link", href=info.rss_url, rel="self")]
    if archive:
        parts.append(b"    <fh:archive/>\n")
    parts += [_empty(b"    ", b"atom:link", rel=rel, href=href, type="application/rss+xml")
              for rel, href in _history_links(info, "rss")]
    parts += [_empty(b"    ", b"atom:link", rel="hub", href=hub) for hub in info.hubs]
    parts += [b"    <docs>http://www.rssboard.org/rss-specification</docs>\n",
              b"    <generator>syndicator</generator>\n",
              _element(b"    ", b"language", bcp47(info.lang)) if info.lang else b"",
              b"    <lastBuildDate>%s</lastBuildDate>\n" % rfc822(info.updated)]
    parts += _rss_items(entries, content, info.lang)
    parts.append(b"  </channel>\n</rss>\n")
    return parts


def _rss_items(entries: list[Entry], content: dict[str, str], feed_lang: str) -> list[bytes]:
    items, escaped = [entry.item for entry in entries], _escaped_content(content)
    parts = []
    for entry, item, title, link, summary, guid, author in zip(
            entries, items, _column([e.title for e in entries]), _column([i.url for i in items]),
            _column([e.summary for e in entries], _html_of_text),  # text: made HTML first
            _column([e.guid for e in entries]),
            _column([i.author for i in items])):
        parts.append(b"    <item%s>\n%s%s" % (
            _lang(entry, feed_lang),
            b"      <title>%s</title>\n" % title if entry.title else b"",
            b"      <link>%s</link>\n" % link if item.url else b""))
        html = escaped[entry.guid]
        if entry.summary:  # RSS readers show the description; the full text goes beside it
            parts.append(b"      <description>%s</description>\n" % summary)
            parts += _html(b"      ", b"content:encoded", html)
        else:
            parts += _html(b"      ", b"description", html)
        if entry.updated.tzinfo is None:  # not written in RSS, but refused as atom() does
            raise ValueError(f"date without a time zone: {entry.updated}")
        image = item.image
        parts.append(b"%s%s%s%s      <pubDate>%s</pubDate>\n%s    </item>\n" % (
            b'      <guid isPermaLink="false">%s</guid>\n' % guid if entry.guid else b"",
            b"".join(_element(b"      ", b"category", term) for term in item.categories)
            if item.categories else b"",
            _RSS_PROVENANCE.get(entry.status, b""),
            b'      <enclosure url="%s" length="%s" type="%s"/>\n' % (
                _attr(image.url), _attr(str(image.length or 0)), _attr(image.type))
            if image and image.type else b"",
            rfc822(item.published),
            # RSS <author> must be an e-mail address
            b"      <dc:creator>%s</dc:creator>\n" % author if item.author else b""))
    return parts


def atom(info: FeedInfo, entries: list[Entry], content: dict[str, str],
         entry_links: dict[str, list[tuple[str, str]]]) -> bytes:
    """``entry_links[guid]``: (language, url) of the entry's other language versions."""
    return _checked(_atom, info, entries, content, entry_links)


def _atom(info: FeedInfo, entries: list[Entry], content: dict[str, str],
          entry_links: dict[str, list[tuple[str, str]]]) -> list[bytes]:
    _required({"id": info.atom_url, "title": info.title})
    archive = info.history.page is not None
    xmlns = f' xmlns:fh="{FH}"' if archive else ""
    lang = _xml_lang(info.lang) if info.lang else b""
    parts = [_DECLARATION, b'<feed xmlns="%s"%s%s>\n' % (ATOM.encode(), xmlns.encode(), lang),
             _element(b"  ", b"id", info.atom_url), _element(b"  ", b"title", info.title),
             b"  <updated>%s</updated>\n" % rfc3339(info.updated),
             # RFC 4287 wants an author on the feed or on every entry: the site publishes.
             b"  <author>\n    <name>%s</name>\n  </author>\n" % _text(info.title),
             _empty(b"  ", b"link", href=info.atom_url, rel="self"),
             _empty(b"  ", b"link", href=info.home, rel="alternate")]
    if archive:  # RFC 5005 fh:archive: an archive document, which will not change much
        parts.append(b"  <fh:archive/>\n")
    parts += [_empty(b"  ", b"link", rel="hub", href=hub) for hub in info.hubs]
    parts += [_empty(b"  ", b"link", rel=rel, href=href, type="application/atom+xml")
              for rel, href in _history_links(info, "atom")]
    parts += [_empty(b"  ", b"link", rel="alternate", href=url, type="application/atom+xml",
                     hreflang=bcp47(other) or None) for other, url in info.alternates]
    parts.append(_element(b"  ", b"generator", "syndicator",
                          b' version="%s"' % _attr(__version__) if __version__ else b""))
    if info.description:
        parts.append(_element(b"  ", b"subtitle", info.description))
    parts += _atom_entries(entries, content, info.lang, entry_links)
    parts.append(b"</feed>\n")
    return parts


def _atom_entries(entries: list[Entry], content: dict[str, str], feed_lang: str,
                  entry_links: dict[str, list[tuple[str, str]]]) -> list[bytes]:
    items, escaped = [entry.item for entry in entries], _escaped_content(content)
    parts = []
    for entry, item, guid, title, href in zip(
            entries, items, _column([e.guid for e in entries]),
            _column([e.title for e in entries]), _column([i.url for i in items], _attr)):
        if not (entry.guid and entry.title):
            raise ValueError(f"entry without an id or a title: {entry.guid!r} {entry.title!r}")
        image, others = item.image, entry_links.get(entry.guid, ())
        parts.append(b'  <entry%s>\n    <id>%s</id>\n    <title>%s</title>\n%s'
                     b'    <link rel="alternate" href="%s" type="text/html"%s/>\n%s'
                     b"    <updated>%s</updated>\n" % (
                         _lang(entry, feed_lang), guid, title,
                         _enclosure(image) if image and image.type else b"",
                         href, _hreflang(_source_lang(entry, entry_links)),
                         b"".join(_alternate(other, lang) for lang, other in others
                                  if other != item.url) if others else b"",
                         rfc3339(entry.updated)))
        if item.author:  # else the feed's author is the entry's (RFC 4287 4.2.1)
            parts.append(_atom_author(item.author))
        parts += _html(b"    ", b"content", escaped[entry.guid], b' type="html"')
        parts.append(b"%s%s    <published>%s</published>\n  </entry>\n" % (
            b"".join(b'    <category term="%s"/>\n' % _attr(term) for term in item.categories)
            if item.categories else b"",
            _ATOM_PROVENANCE.get(entry.status, b""), rfc3339(item.published)))
    return parts


@lru_cache(maxsize=4096)  # authors repeat across entries and languages
def _atom_author(author: str) -> bytes:
    name, email = person(author)
    return b"    <author>\n      <name>%s</name>\n%s    </author>\n" % (
        _text(name), b"      <email>%s</email>\n" % _text(email) if email else b"")


def _enclosure(image) -> bytes:
    length = b' length="%s"' % _attr(str(image.length)) if image.length else b""
    return b'    <link rel="enclosure" href="%s" type="%s"%s/>\n' % (
        _attr(image.url), _attr(image.type), length)


@lru_cache(maxsize=64)
def _hreflang(lang: str) -> bytes:
    return b' hreflang="%s"' % _attr(bcp47(lang)) if lang else b""


def _alternate(href: str, lang: str) -> bytes:
    return b'    <link rel="alternate" href="%s" type="text/html"%s/>\n' % (
        _attr(href), _hreflang(lang))


def _source_lang(entry: Entry, entry_links: dict[str, list[tuple[str, str]]]) -> str:
    """The language of the original article: the one whose version links to it."""
    for lang, href in entry_links.get(entry.guid, []):
        if href == entry.item.url:
            return lang
    return entry.lang  # this feed is in the source language


def _checked(write: Callable[..., list[bytes]], *fields) -> bytes:
    """``write(*fields)``'s document, checked for characters XML forbids."""
    try:
        document = b"".join(write(*fields))
    except (UnicodeEncodeError, _Forbidden):  # a lone surrogate, U+0000
        _blame(*fields)
        raise
    # One pass over the finished document instead of a search per value (a regular
    # expression over all the values takes as long as lxml's whole serialisation).
    # Bytes 0-31 other than TAB, LF and CR come only from control characters;
    # U+FFFE and U+FFFF start with 0xEF, as do a few allowed characters, which the
    # exact search then clears.
    if b"\0" in document.translate(_SUSPECT):
        _blame(*fields)
    return document


def _blame(*fields) -> None:
    """Raise ValueError naming the first value with a character XML forbids."""
    for name, value in _values(*fields):
        found = _ILLEGAL.search(value)
        if found:
            raise ValueError(f"{name}: character U+{ord(found.group()):04X} "
                             "is not allowed in XML")


def _values(info: FeedInfo, entries: list[Entry], content: dict[str, str],
            entry_links: dict[str, list[tuple[str, str]]] | None = None
            ) -> Iterator[tuple[str, str]]:
    """(name, value) of every string the document is written from; Atom's (which
    has ``entry_links``) and RSS's differ."""
    yield from [("feed language", info.lang), ("feed title", info.title),
                ("feed description", info.description), ("feed home", info.home),
                ("feed folder", info.history.folder), *(("feed hub", h) for h in info.hubs)]
    if entry_links is not None:
        yield from (("feed alternate", f"{lang} {url}") for lang, url in info.alternates)
    for entry in entries:
        item, of = entry.item, f" of entry {entry.guid!a}"
        image = item.image if item.image and item.image.type else None
        yield from [("guid" + of, entry.guid), ("title" + of, entry.title),
                    ("content" + of, content[entry.guid]), ("url" + of, item.url),
                    ("language" + of, entry.text_lang), ("author" + of, item.author),
                    *(("category" + of, term) for term in item.categories),
                    *((("image" + of, f"{image.url} {image.type}"),) if image else ())]
        if entry_links is None:
            yield ("summary" + of, entry.summary)
        else:
            yield ("source language" + of, _source_lang(entry, entry_links))
            yield from (("link" + of, f"{lang} {href}")
                        for lang, href in entry_links.get(entry.guid, ()) if href != item.url)
