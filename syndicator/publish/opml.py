"""``feeds/index.opml``: OPML 2.0 listing every language feed, titled in its own language."""
from __future__ import annotations

from lxml import etree


def opml(title: str, feeds: list[dict]) -> bytes:
    """``feeds``: dicts with lang, title, description, rss_url, home."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    body = etree.SubElement(root, "body")
    for feed in feeds:
        etree.SubElement(body, "outline", type="rss", text=feed["title"], title=feed["title"],
                         description=feed["description"], xmlUrl=feed["rss_url"],
                         htmlUrl=feed["home"], language=feed["lang"], version="RSS2")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
