"""``type = "html"``: a news listing page plus its article pages (sites like the CSTO's).

CSS selectors come from config. The listing is followed through its "next"
links up to ``max_pages``; each article page is fetched with conditional GET,
so an unchanged article costs one 304.
"""
from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime
from urllib.parse import urljoin

import lxml.html
from lxml import etree

from ..config import SourceConfig
from ..config_schema import selector_problem
from ..errors import FetchError, SourceError
from ..models import SourceItem, SourceResult
from .charset import decode_html
from .checks import EmptyListing, date_problem, mojibake_problem, repair_mojibake
from .clean import clean_html, one_line, summary_from, to_utc, web_image
from .http import Fetcher, Page, host_allowed, source_hosts

# lxml refuses a str that still carries its XML declaration (XHTML pages).
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def read(source: SourceConfig, fetcher: Fetcher, validators) -> SourceResult:
    _check_selectors(source)
    hosts = source_hosts(source)
    links, foreign = _article_links(source, fetcher, hosts)
    if not links:
        note = (f"; {foreign} link(s) to other hosts were not followed (allowed_hosts)"
                if foreign else "")
        raise EmptyListing(source.name, "the listing selectors matched no article links; "
                           f"has the site's layout changed?{note}", url=source.url,
                           field=f"selectors.item/selectors.link ({source.selectors.item!r})")
    links = links[: source.max_items]
    items, problems, seen = [], [], []
    for url in links:
        try:
            page = fetcher.get(url, *validators(url), hosts=hosts)
        except FetchError as exc:
            if exc.retry_after is not None:
                # The server is struggling (429, 5xx, timeouts): stop and back off, and
                # keep what was read. The rest is fetched when the source is retried.
                return SourceResult(name=source.name, items=tuple(items),
                                    problems=tuple(problems), validators=tuple(seen),
                                    error=f"source {source.name!r}: {exc}",
                                    retry_after=exc.retry_after)
            problems.append(str(SourceError(source.name, str(exc).removeprefix(f"{url}: "),
                                            url=url)))
            continue
        if page.not_modified:
            continue
        try:
            item, notes = _article(source, page)
        except SourceError as exc:
            problems.append(str(exc))
            continue
        items.append(item)
        problems += notes
        seen.append((url, page.etag, page.last_modified))
    return SourceResult(name=source.name, items=tuple(items), problems=tuple(problems),
                        validators=tuple(seen), found=len(links))


def _check_selectors(source: SourceConfig) -> None:
    """A selector lxml cannot use is this source's error, before anything is fetched
    (config loading checks them too, but a SourceConfig can be built without it)."""
    for key, value in asdict(source.selectors).items():
        problem = selector_problem(key, value)
        if problem:
            raise SourceError(source.name, f"invalid selector: {problem}", url=source.url,
                              field=f"selectors.{key}")


def parse(page: Page) -> lxml.html.HtmlElement:
    """Parse a page in its declared charset (header, then meta), or a detected one."""
    text, _charset = decode_html(page.body, page.content_type)
    try:
        return lxml.html.document_fromstring(_XML_DECLARATION.sub("", text, count=1),
                                             base_url=page.url)
    except (etree.ParserError, ValueError) as exc:
        raise SourceError("", f"unparseable HTML: {exc}", url=page.url) from None


def _article_links(source: SourceConfig, fetcher: Fetcher,
                   hosts: frozenset[str]) -> tuple[list[str], int]:
    """The article links on the listing pages, and how many went to foreign hosts."""
    links: list[str] = []
    foreign = 0
    url, visited = source.url, set()
    for _ in range(source.max_pages):
        visited.add(url)
        doc = parse(fetcher.get(url, hosts=hosts))
        for entry in doc.cssselect(source.selectors.item):
            anchor = entry if entry.tag == "a" else next(iter(entry.cssselect(
                source.selectors.link)), None)
            href = anchor.get("href") if anchor is not None else None
            if not href:
                continue
            target = urljoin(url, href).split("#")[0]
            # Only the listing's own host (and allowed_hosts): the fetcher must not be
            # turned against other (internal) addresses by a hostile listing.
            if not host_allowed(target, hosts):
                foreign += 1
            elif target not in links:
                links.append(target)
        nxt = doc.cssselect(source.selectors.next) if source.selectors.next else []
        if not nxt or not nxt[0].get("href"):
            break
        url = urljoin(url, nxt[0].get("href"))
        if url in visited or not host_allowed(url, hosts):
            break
    return links, foreign


def _article(source: SourceConfig, page: Page) -> tuple[SourceItem, list[str]]:
    doc = parse(page)
    sel = source.selectors
    # Relative links resolve against <base href> when the page has one, as in a browser.
    base = urljoin(page.url, (doc.xpath("//base/@href") or [""])[0])

    def first(selector: str, field: str, required: bool = True):
        found = doc.cssselect(selector) if selector else []
        if not found and required:
            raise SourceError(source.name, f"selector {selector!r} matched nothing",
                              url=page.url, field=f"selectors.{field}")
        return found[0] if found else None

    canonical = doc.xpath("//link[@rel='canonical']/@href")
    guid = urljoin(page.url, canonical[0]) if canonical else page.url
    body_el = first(sel.body, "body")
    body_html = (body_el.text or "") + "".join(
        lxml.html.tostring(child, encoding="unicode") for child in body_el)
    text, repaired = repair_mojibake({"title": first(sel.title, "title").text_content(),
                                      "body": body_html})
    notes = [mojibake_problem(source.name, page.url, guid, repaired)] if repaired else []
    title = one_line(text["title"])  # text_content() has decoded it once already
    body = clean_html(text["body"], base)
    published, date_note = _published(source, page, guid, first(sel.date, "date", False))
    notes += date_note
    images = doc.cssselect(sel.image) if sel.image else []
    src = images[0].get("src") if images else None
    image = web_image(urljoin(base, src)) if src else None
    return SourceItem(source=source.name, guid=guid, url=guid, title=title,
                      summary=summary_from(body), body=body, published=published,
                      image=image), notes


def _published(source: SourceConfig, page: Page, guid: str, element):
    """The article's date in UTC; without a usable one the item is dated when first seen."""
    date_text = one_line(element.text_content()) if element is not None else ""
    try:
        return to_utc(datetime.strptime(date_text, source.date_format), source.timezone), []
    except ValueError:
        return None, [date_problem(source.name, page.url, guid, date_text,
                                   f"date_format {source.date_format!r}")]
