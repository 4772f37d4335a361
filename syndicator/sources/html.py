"""``type = "html"``: a news listing page plus its article pages (sites like the CSTO's).

CSS selectors come from config. The listing is followed through its "next"
links up to ``max_pages``; each article page is fetched with conditional GET,
so an unchanged article costs one 304.
"""
from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from ..config import SourceConfig
from ..errors import FetchError, SourceError
from ..models import SourceItem, SourceResult
from .clean import clean_html, plain_text, summary_from, to_utc, web_image
from .http import Fetcher, Page

_CHARSET = re.compile(r"charset=([\w-]+)", re.I)


def read(source: SourceConfig, fetcher: Fetcher, validators) -> SourceResult:
    links = _article_links(source, fetcher)
    if not links:
        raise SourceError(source.name, "the listing selectors matched no article links; "
                          "has the site's layout changed?", url=source.url,
                          field=f"selectors.item/selectors.link ({source.selectors.item!r})")
    items, problems, seen = [], [], []
    for url in links[: source.max_items]:
        try:
            page = fetcher.get(url, *validators(url))
            if page.not_modified:
                continue
            items.append(_article(source, page))
            seen.append((url, page.etag, page.last_modified))
        except FetchError as exc:
            problems.append(str(SourceError(source.name, str(exc), url=url)))
        except SourceError as exc:
            problems.append(str(exc))
    return SourceResult(name=source.name, items=tuple(items), problems=tuple(problems),
                        validators=tuple(seen))


def parse(page: Page) -> lxml.html.HtmlElement:
    """Parse a page, trusting a charset in the Content-Type header over the page's meta."""
    match = _CHARSET.search(page.content_type)
    try:
        if match:
            text = page.body.decode(match[1], errors="replace")
            return lxml.html.document_fromstring(text, base_url=page.url)
        return lxml.html.document_fromstring(page.body, base_url=page.url)
    except (etree.ParserError, LookupError, ValueError) as exc:
        raise SourceError("", f"unparseable HTML: {exc}", url=page.url) from None


def _article_links(source: SourceConfig, fetcher: Fetcher) -> list[str]:
    links: list[str] = []
    url, visited = source.url, set()
    host = urlsplit(source.url).netloc
    for _ in range(source.max_pages):
        visited.add(url)
        doc = parse(fetcher.get(url))
        for entry in doc.cssselect(source.selectors.item):
            anchor = entry if entry.tag == "a" else next(iter(entry.cssselect(
                source.selectors.link)), None)
            href = anchor.get("href") if anchor is not None else None
            if href:
                target = urljoin(url, href).split("#")[0]
                # Only follow links to the listing's own host: the fetcher must not be
                # turned against other (internal) addresses by a hostile listing.
                if urlsplit(target).netloc == host and target not in links:
                    links.append(target)
        nxt = doc.cssselect(source.selectors.next) if source.selectors.next else []
        if not nxt or not nxt[0].get("href"):
            break
        url = urljoin(url, nxt[0].get("href"))
        if url in visited:
            break
    return links


def _article(source: SourceConfig, page: Page) -> SourceItem:
    doc = parse(page)
    sel = source.selectors
    # Relative links resolve against <base href> when the page has one, as in a browser.
    base = urljoin(page.url, (doc.xpath("//base/@href") or [""])[0])

    def first(selector: str, field: str):
        found = doc.cssselect(selector) if selector else []
        if not found:
            raise SourceError(source.name, f"selector {selector!r} matched nothing",
                              url=page.url, field=f"selectors.{field}")
        return found[0]

    title = plain_text(first(sel.title, "title").text_content())
    body_el = first(sel.body, "body")
    body_html = (body_el.text or "") + "".join(
        lxml.html.tostring(child, encoding="unicode") for child in body_el)
    body = clean_html(body_html, base)
    canonical = doc.xpath("//link[@rel='canonical']/@href")
    date_text = plain_text(first(sel.date, "date").text_content())
    try:
        published = to_utc(datetime.strptime(date_text, source.date_format), source.timezone)
    except ValueError:
        raise SourceError(source.name, f"date {date_text!r} does not match "
                          f"date_format {source.date_format!r}", url=page.url,
                          field="date") from None
    images = doc.cssselect(sel.image) if sel.image else []
    src = images[0].get("src") if images else None
    image = web_image(urljoin(base, src)) if src else None
    guid = urljoin(page.url, canonical[0]) if canonical else page.url
    return SourceItem(source=source.name, guid=guid, url=guid, title=title,
                      summary=summary_from(body), body=body, published=published,
                      image=image)
