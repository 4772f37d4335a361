"""RSS 2.0 and Atom 1.0 documents for one language, built with feedgen.

feedgen 1.0 has quirks that this module works around, and the tests check the
XML that comes out rather than the calls made here:
- the RSS <channel><link> is the *last* link added, so ``rel=self`` goes first;
- Atom entry links lose ``rel``/``type``/``hreflang`` (python-feedgen #135), so
  entry links and the feed's per-language alternates are added with lxml after;
- ``updated``/``lastBuildDate`` default to now, so both are set from the data;
- there is no per-entry ``xml:lang``, so it is set with lxml too.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from feedgen.feed import FeedGenerator
from lxml import etree

from .. import __version__
from ..models import Entry

ATOM = "http://www.w3.org/2005/Atom"
FH = "http://purl.org/syndication/history/1.0"
# Stable category terms that tell readers how an entry's text was made.
PROVENANCE_SCHEME = "https://syndicator.example/provenance"
PROVENANCE = {"translated": "machine-translation", "reviewed": "human-reviewed",
              "awaiting": "awaiting-translation", "failed": "awaiting-translation"}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class History:
    """RFC 5005 links of one document: page numbers of its neighbours (None = none)."""
    folder: str  # the language folder's URL, ending in "/"
    page: int | None = None  # None: the subscription document
    prev: int | None = None  # the next older archive page
    next: int | None = None  # the next newer archive page

    def url(self, fmt: str, page: int | None) -> str:
        names = {"rss": ("rss.xml", "rss-archive-{}.xml"),
                 "atom": ("atom.xml", "atom-archive-{}.xml"),
                 "json": ("feed.json", "feed-archive-{}.json")}[fmt]
        return self.folder + (names[0] if page is None else names[1].format(page))


@dataclass(frozen=True)
class FeedInfo:
    """What a feed says about itself."""
    lang: str
    title: str
    description: str
    home: str  # the language's index.html
    updated: datetime
    alternates: tuple[tuple[str, str], ...]  # (lang, atom url) of the other languages
    history: History
    hubs: tuple[str, ...] = ()  # WebSub hubs (subscription documents only)

    @property
    def rss_url(self) -> str:
        return self.history.url("rss", self.history.page)

    @property
    def atom_url(self) -> str:
        return self.history.url("atom", self.history.page)

    @property
    def json_url(self) -> str:
        return self.history.url("json", self.history.page)


def _generator(info: FeedInfo, entries: list[Entry], content: dict[str, str],
               self_url: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.id(info.atom_url)
    fg.title(info.title)
    fg.subtitle(info.description)  # Atom subtitle and RSS description
    fg.link(href=self_url, rel="self")
    fg.link(href=info.home, rel="alternate")  # last link = the RSS <link>
    fg.language(info.lang)
    fg.updated(info.updated)
    fg.lastBuildDate(info.updated)
    fg.generator("syndicator", version=__version__)
    for entry in entries:
        fe = fg.add_entry(order="append")
        fe.id(entry.guid)
        fe.title(entry.title)
        fe.link(href=entry.item.url)
        fe.published(entry.item.published)
        fe.updated(entry.item.updated)
        if entry.summary:
            fe.description(entry.summary)
        fe.content(content[entry.guid], type="html")
        if entry.item.author:
            fe.dc.dc_creator(entry.item.author)  # RSS <author> must be an e-mail address
        for term in entry.item.categories:
            fe.category(term=term)
        if entry.status in PROVENANCE:
            fe.category(term=PROVENANCE[entry.status], scheme=PROVENANCE_SCHEME)
        image = entry.item.image
        if image and image.type:
            fe.enclosure(image.url, str(image.length or 0), image.type)
    return fg


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def feed_updated(entries: list[Entry], fallback: datetime = EPOCH) -> datetime:
    # Dates come from the items, never from "now", so rebuilding changes no byte;
    # an empty document takes the caller's item-derived fallback.
    return max((e.item.updated for e in entries), default=fallback)


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _history_links(info: FeedInfo, fmt: str) -> list[tuple[str, str]]:
    history = info.history
    links = [("prev-archive", history.prev), ("next-archive", history.next)]
    found = [(rel, history.url(fmt, page)) for rel, page in links if page is not None]
    if history.page is not None:
        found.append(("current", history.url(fmt, None)))
    return found


def rss(info: FeedInfo, entries: list[Entry], content: dict[str, str]) -> bytes:
    root = etree.fromstring(_generator(info, entries, content, info.rss_url).rss_str())
    channel = root.find("channel")
    self_link = channel.find(f"{{{ATOM}}}link")
    for hub in reversed(info.hubs):
        self_link.addnext(etree.Element(f"{{{ATOM}}}link", rel="hub", href=hub))
    for rel, href in reversed(_history_links(info, "rss")):
        link = etree.Element(f"{{{ATOM}}}link", rel=rel, href=href, type="application/rss+xml")
        self_link.addnext(link)
    if info.history.page is not None:
        self_link.addnext(etree.Element(f"{{{FH}}}archive", nsmap={"fh": FH}))
    for element, entry in zip(root.iter("item"), entries):
        if entry.text_lang != info.lang:
            element.set(XML_LANG, entry.text_lang)
    return _serialise(_tidy(root))


def atom(info: FeedInfo, entries: list[Entry], content: dict[str, str],
         entry_links: dict[str, list[tuple[str, str]]]) -> bytes:
    """``entry_links[guid]``: (language, url) of the entry's other language versions."""
    root = etree.fromstring(_generator(info, entries, content, info.atom_url).atom_str())
    # RFC 4287 wants an author on the feed or on every entry; the publisher is the site.
    author = etree.Element(f"{{{ATOM}}}author")
    etree.SubElement(author, f"{{{ATOM}}}name").text = info.title
    root.find(f"{{{ATOM}}}updated").addnext(author)
    feed_links = [el for el in root if el.tag == f"{{{ATOM}}}link"]
    anchor = feed_links[-1]
    for lang, url in reversed(info.alternates):
        anchor.addnext(_link("alternate", url, "application/atom+xml", hreflang=lang))
    for rel, href in reversed(_history_links(info, "atom")):
        anchor.addnext(_link(rel, href, "application/atom+xml"))
    for hub in reversed(info.hubs):
        link = etree.Element(f"{{{ATOM}}}link", rel="hub", href=hub)
        anchor.addnext(link)
    if info.history.page is not None:
        # RFC 5005 fh:archive: an archive document, which will not change much.
        anchor.addnext(etree.Element(f"{{{FH}}}archive", nsmap={"fh": FH}))
    for element, entry in zip(root.iter(f"{{{ATOM}}}entry"), entries):
        for link in element.findall(f"{{{ATOM}}}link"):
            element.remove(link)  # feedgen dropped their rel/type; rebuilt below
        title = element.find(f"{{{ATOM}}}title")
        for lang, href in reversed(entry_links.get(entry.guid, [])):
            if href != entry.item.url:
                title.addnext(_link("alternate", href, "text/html", hreflang=lang))
        title.addnext(_link("alternate", entry.item.url, "text/html",
                            hreflang=_source_lang(entry, entry_links)))
        image = entry.item.image
        if image and image.type:
            title.addnext(_link("enclosure", image.url, image.type,
                                length=str(image.length) if image.length else None))
        if entry.text_lang != info.lang:
            element.set(XML_LANG, entry.text_lang)
    return _serialise(_tidy(root))


def _tidy(root: etree._Element) -> etree._Element:
    """Declare namespaces once, on the root, as feed readers expect."""
    etree.cleanup_namespaces(root, top_nsmap={"fh": FH} if root.find(f".//{{{FH}}}archive")
                             is not None else None)
    return root


def _source_lang(entry: Entry, entry_links: dict[str, list[tuple[str, str]]]) -> str:
    """The language of the original article: the one whose version links to it."""
    for lang, href in entry_links.get(entry.guid, []):
        if href == entry.item.url:
            return lang
    return entry.lang  # this feed is in the source language


def _link(rel: str, href: str, type_: str, **extra: str | None) -> etree._Element:
    link = etree.Element(f"{{{ATOM}}}link", rel=rel, href=href, type=type_)
    for key, value in extra.items():
        if value:
            link.set(key, value)
    return link
