"""Split an item into the segments an engine translates, and put the results back.

A body is HTML. Each block (paragraph, heading, list item, caption, cell) is
one segment of plain text; so is the text of every inline element inside it
(a link, an emphasis). After translation each inline element is put back
around its own translation where that appears in the block's translation, so
links, emphasis and their attributes survive, in order. Attributes, URLs,
images and code are never sent to an engine: code becomes a placeholder, and
``<pre>`` blocks are not translated at all. ``<br>`` splits a block into parts.
"""
from __future__ import annotations

import copy
import re

import lxml.html
from lxml import etree

from ..models import Item, Segment

BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "figcaption",
          "td", "th", "dt", "dd", "caption"}
UNTRANSLATED = {"pre", "code", "kbd", "samp", "var", "script", "style"}
VOID = {"img", "br", "hr", "wbr"}
_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _fragment(html: str) -> lxml.html.HtmlElement:
    return lxml.html.fragment_fromstring(html or "", create_parent="div")


def _blocks(root) -> list:
    """Innermost text blocks, in document order (an <li> holding a <p> yields the <p>)."""
    return [el for el in root.iter(*BLOCKS)
            if not any(d.tag in BLOCKS for d in el.iterdescendants())
            and not any(a.tag in UNTRANSLATED for a in el.iterancestors())
            and _norm(el.text_content())]


def _parts(block) -> list[list]:
    """The block's content split at <br>: lists of nodes ("text" strings and elements)."""
    parts, current = [], []
    if block.text:
        current.append(block.text)
    for child in block:
        if child.tag == "br":
            parts.append(current)
            current = []
        else:
            current.append(child)
        if child.tail:
            current.append(child.tail)
    parts.append(current)
    return parts


def _text(nodes: list, codes: list[str]) -> str:
    """Plain text of nodes; code-like elements become ⟦n⟧ placeholders (never translated)."""
    out = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif node.tag in UNTRANSLATED:
            codes.append(node.text_content())
            out.append(f"⟦{len(codes) - 1}⟧")
        elif node.tag not in VOID:
            out.append(_text(_children(node), codes))
    return "".join(out)


def _children(el) -> list:
    nodes = [el.text] if el.text else []
    for child in el:
        nodes.append(child)
        if child.tail:
            nodes.append(child.tail)
    return nodes


def _inline_texts(nodes: list) -> list[str]:
    """Texts of the translatable inline elements, outermost first (each is a segment)."""
    found = []
    for node in nodes:
        if isinstance(node, str) or node.tag in UNTRANSLATED or node.tag in VOID:
            continue
        text = _norm(_text(_children(node), []))
        if text:
            found.append(text)
            found.extend(_inline_texts(_children(node)))
    return found


def block_texts(block) -> list[str]:
    """Every text a block needs translated: each part, then its inline elements."""
    texts = []
    for part in _parts(block):
        whole = _norm(_text(part, []))
        if whole:
            texts.append(whole)
            texts.extend(_inline_texts(part))
    return texts


def segments(item: Item) -> list[Segment]:
    out = [Segment(item.id, "title", 0, item.title)]
    if item.summary:
        out.append(Segment(item.id, "summary", 0, item.summary))
    for n, block in enumerate(_blocks(_fragment(item.body))):
        out.extend(Segment(item.id, "body", n, text, part)
                   for part, text in enumerate(block_texts(block)))
    return out


def render_body(body: str, translations: dict[str, str]) -> str:
    """``body`` with every block's text replaced from ``translations`` (source → target)."""
    if not body:
        return ""
    root = _fragment(body)
    for block in _blocks(root):
        _render_block(block, translations)
    try:
        html = lxml.html.tostring(root, encoding="unicode")
    except etree.SerialisationError:
        return body
    return html[len("<div>"):-len("</div>")]


def _render_block(block, translations: dict[str, str]) -> None:
    parts = _parts(block)
    tail = block.tail
    attrib = dict(block.attrib)
    block.clear()
    block.attrib.update(attrib)
    block.tail = tail
    for n, part in enumerate(parts):
        if n:
            block.append(etree.Element("br"))
        codes: list[str] = []
        source = _norm(_text(part, codes))
        target = translations.get(source, source) if source else ""
        _fill(block, part, target, translations, codes)


def _fill(parent, nodes: list, target: str, translations: dict[str, str],
          codes: list[str]) -> None:
    """Append ``target`` to ``parent``, re-wrapping each inline element around its translation."""
    cursor = 0
    leftovers = []
    for node in nodes:
        if isinstance(node, str):
            continue
        if node.tag in VOID:
            leftovers.append(copy.deepcopy(node))
            continue
        if node.tag in UNTRANSLATED:
            continue  # restored from its placeholder below
        inner = _norm(_text(_children(node), []))
        translated = translations.get(inner, inner)
        at = target.find(translated, cursor) if translated else -1
        shell = etree.Element(node.tag, dict(node.attrib))
        _fill(shell, _children(node), translated, translations, [])
        if at < 0:
            leftovers.append(shell)  # the engine reworded it: keep the element, after the text
            continue
        _append_text(parent, target[cursor:at], codes)
        parent.append(shell)
        cursor = at + len(translated)
    _append_text(parent, target[cursor:], codes)
    for element in leftovers:
        _append_text(parent, " ", [])
        parent.append(element)


def _append_text(parent, text: str, codes: list[str]) -> None:
    """Append text after the last child, turning ⟦n⟧ placeholders back into <code>."""
    for piece in re.split(r"(⟦\d+⟧)", text):
        match = re.fullmatch(r"⟦(\d+)⟧", piece)
        if match and int(match[1]) < len(codes):
            code = etree.Element("code")
            code.text = codes[int(match[1])]
            parent.append(code)
        elif piece:
            if len(parent):
                parent[-1].tail = (parent[-1].tail or "") + piece
            else:
                parent.text = (parent.text or "") + piece
