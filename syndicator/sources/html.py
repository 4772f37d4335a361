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
from .checks import (EmptyListing, bad_url, date_problem, mojibake_problem, optional_image,
                     repair_mojibake)
from .clean import clean_html, one_line, summary_from, to_utc
from .http import Fetcher, Page, host_allowed, source_hosts

# lxml refuses a str that still carries its XML declaration (XHTML pages).
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def read(source: SourceConfig, fetcher: Fetcher, validators) -> SourceResult:
    _check_selectors(source)
    hosts = source_hosts(source)
    links, foreign, problems = _article_links(source, fetcher, hosts)
    if not links:
        note = (f"; {foreign} link(s) to other hosts were not followed (allowed_hosts)"
                if foreign else "")
        note += (f"; {len(problems)} link(s) on the listing were not valid URLs"
                 if problems else "")
        raise EmptyListing(source.name, "the listing selectors matched no article links; "
                           f"has the site's layout changed?{note}", url=source.url,
                           field=f"selectors.item/selectors.link ({source.selectors.item!r})")
    links = links[: source.max_items]
    items, seen = [], []
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


def parse(page: Page, source: str) -> lxml.html.HtmlElement:
    """Parse a page in its declared charset (header, then meta), or a detected one.
    ``source`` is the source's name, for the error (status lists a source's problems
    by it)."""
    text, _charset = decode_html(page.body, page.content_type)
    try:
        return lxml.html.document_fromstring(_XML_DECLARATION.sub("", text, count=1),
                                             base_url=page.url)
    except (etree.ParserError, ValueError) as exc:
        raise SourceError(source, f"unparseable HTML: {exc}", url=page.url) from None


def _article_links(source: SourceConfig, fetcher: Fetcher,
                   hosts: frozenset[str]) -> tuple[list[str], int, list[str]]:
    """The article links on the listing pages, how many went to foreign hosts, and
    the problems (links that are not URLs, which are left out)."""
    links: list[str] = []
    foreign = 0
    problems: list[str] = []
    url, visited, first_matched = source.url, set(), True
    for _ in range(source.max_pages):
        visited.add(url)
        doc = parse(fetcher.get(url, hosts=hosts), source.name)
        entries = doc.cssselect(source.selectors.item)
        first_matched = first_matched and (bool(entries) or len(visited) > 1)
        for entry in entries:
            anchor = entry if entry.tag == "a" else next(iter(entry.cssselect(
                source.selectors.link)), None)
            href = anchor.get("href") if anchor is not None else None
            if not href:
                continue
            try:
                target = urljoin(url, href).split("#")[0]
            except ValueError:
                problems.append(str(bad_url(source.name, url, "", "selectors.link", href,
                                            "that article is not followed")))
                continue
            # Only the listing's own host (and allowed_hosts): the fetcher must not be
            # turned against other (internal) addresses by a hostile listing.
            if not host_allowed(target, hosts):
                foreign += 1
            elif target not in links:
                links.append(target)
        nxt = doc.cssselect(source.selectors.next) if source.selectors.next else []
        if not nxt or not nxt[0].get("href"):
            break
        try:
            following = urljoin(url, nxt[0].get("href"))
        except ValueError:
            problems.append(str(bad_url(source.name, url, "", "selectors.next",
                                        nxt[0].get("href"), "the later listing pages are "
                                        "not read")))
            break
        url = following
        if url in visited or not host_allowed(url, hosts):
            break
    if links and not first_matched:
        # The newest articles are on the first page: the later pages matching still
        # would make the source look healthy while it misses every new one.
        problems.append(str(SourceError(
            source.name, "the first listing page matched no items, the later ones did: has "
            "its layout changed? New articles on it are missed", url=source.url,
            field=f"selectors.item ({source.selectors.item!r})")))
    return links, foreign, problems


def _article(source: SourceConfig, page: Page) -> tuple[SourceItem, list[str]]:
    doc = parse(page, source.name)
    sel = source.selectors
    notes: list[str] = []
    canonical = doc.xpath("//link[@rel='canonical']/@href")
    try:
        guid = urljoin(page.url, canonical[0]) if canonical else page.url
    except ValueError:
        # The canonical URL is the item's identity: with the page's URL instead, the
        # item would be published again under a new identity once the site fixes it.
        raise bad_url(source.name, page.url, "", "canonical", canonical[0],
                      "the article is skipped") from None
    # Relative links resolve against <base href> when the page has one, as in a browser.
    base_href = (doc.xpath("//base/@href") or [""])[0]
    try:
        base = urljoin(page.url, base_href)
    except ValueError:
        base = page.url
        notes.append(str(bad_url(source.name, page.url, guid, "base", base_href,
                                 "relative links resolve against the page's URL")))

    def first(selector: str, field: str, required: bool = True):
        found = doc.cssselect(selector) if selector else []
        if not found and required:
            raise SourceError(source.name, f"selector {selector!r} matched nothing",
                              url=page.url, field=f"selectors.{field}")
        return found[0] if found else None

    body_el = first(sel.body, "body")
    body_html = (body_el.text or "") + "".join(
        lxml.html.tostring(child, encoding="unicode") for child in body_el)
    text, repaired = repair_mojibake({"title": first(sel.title, "title").text_content(),
                                      "body": body_html})
    if repaired:
        notes.append(mojibake_problem(source.name, page.url, guid, repaired))
    title = one_line(text["title"])  # text_content() has decoded it once already
    body = clean_html(text["body"], base)
    published, date_note = _published(source, page, guid, first(sel.date, "date", False))
    notes += date_note
    images = doc.cssselect(sel.image) if sel.image else []
    src = images[0].get("src") if images else None
    image = optional_image(source.name, page.url, guid, "selectors.image", src, base,
                           notes) if src else None
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
