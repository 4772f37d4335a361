"""Split an item into the segments an engine translates, and put the results back.

A body is HTML: each block (paragraph, heading, list item, caption, cell) is
one segment of plain text. Images, attributes and URLs are never sent to an
engine; they stay in the template the translated text is put back into.
"""
from __future__ import annotations

import lxml.html
from lxml import etree

from ..models import Item, Segment

BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "figcaption",
          "td", "th", "dt", "dd", "caption", "pre"}


def _fragment(html: str) -> lxml.html.HtmlElement:
    return lxml.html.fragment_fromstring(html or "", create_parent="div")


def _blocks(root: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """Innermost text blocks, in document order (an <li> holding a <p> yields the <p>)."""
    found = []
    for el in root.iter(*BLOCKS):
        if not any(child.tag in BLOCKS for child in el.iterdescendants()) \
                and el.text_content().strip():
            found.append(el)
    return found


def _block_text(el) -> str:
    return " ".join(el.text_content().split())


def segments(item: Item) -> list[Segment]:
    out = [Segment(item.id, "title", 0, item.title)]
    if item.summary:
        out.append(Segment(item.id, "summary", 0, item.summary))
    for n, el in enumerate(_blocks(_fragment(item.body))):
        out.append(Segment(item.id, "body", n, _block_text(el)))
    return out


def render_body(body: str, texts: dict[int, str]) -> str:
    """``body`` with block n's text replaced by ``texts[n]``; images and links to media stay."""
    if not body:
        return ""
    root = _fragment(body)
    for n, el in enumerate(_blocks(root)):
        if n not in texts:
            continue
        keep = list(el.iterdescendants("img"))
        for child in list(el):
            el.remove(child)
        el.text = texts[n]
        for image in keep:
            image.tail = None
            el.append(image)
    try:
        html = lxml.html.tostring(root, encoding="unicode")
    except etree.SerialisationError:
        return body
    return html[len("<div>"):-len("</div>")]
