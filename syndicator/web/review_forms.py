"""What the review page shows, and what its forms send back.

Views of an item and its blocks (frozen: the page renders them as they were
read), and the reading of an approve form: the text typed into each block,
told from the text the page showed by its digest (``base:``), so that a
block someone else changed meanwhile is never saved over.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from babel.numbers import format_decimal

from ..models import Item
from .accounts import form_value, same_token

STATES = {  # of an item, then of a block
    "item": {"changed": "Source changed since approval", "machine": "Machine translation only",
             "untranslated": "Not translated yet", "partial": "Partly reviewed",
             "reviewed": "Reviewed"},
    "block": {"changed": "Source changed since approval", "machine": "Machine translation",
              "untranslated": "Not translated yet", "approved": "Approved"}}
RANKS = {"changed": 0, "machine": 1, "untranslated": 1, "partial": 2, "reviewed": 3}


@dataclass(frozen=True)
class SegmentView:
    key: str
    label: str
    source: str
    machine: str
    text: str          # what the textarea starts with
    state: str         # approved | changed | machine | untranslated
    old_source: str    # the source an approval translated, when it has changed since
    digest: str        # of ``source``: a change between page load and save is caught
    base: str          # of ``text``: so is someone else's approval meanwhile
    history: list = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "s-" + hashlib.sha256(self.key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ItemView:
    item: Item
    key: str
    state: str         # changed | machine | partial | reviewed
    segments: list[SegmentView]

    @property
    def anchor(self) -> str:
        return "i-" + hashlib.sha256(self.key.encode()).hexdigest()[:12]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def segment_label(key: str) -> tuple[str, list[int]]:
    """("Paragraph", [3, 2]) for ``…#body[2.1]``: the kind and its 1-based numbers."""
    kind, _, rest = key.rpartition("#")[2].partition("[")
    numbers = [int(n) + 1 for n in rest.rstrip("]").split(".") if n.isdigit()]
    return {"title": "Title", "summary": "Summary"}.get(kind, "Paragraph"), numbers


@dataclass(frozen=True)
class Submitted:
    """An approve form, read against the item as it is now."""
    approvable: list[tuple[SegmentView, str]]  # asked for, unchanged since the page loaded
    changed: int  # blocks asked for that changed since: their text is not saved
    kept: dict[str, str]  # text typed and not saved, by the key of the block it belongs to
    lost: list[str]  # text typed into blocks the item no longer has


def read_form_against(form: dict, view: ItemView | None, only: str | None) -> Submitted:
    """Which blocks of the form may be approved, and where unsaved typed text goes.

    Each block of the form carries the digests of the source and of the text the
    page showed (``src:``, ``base:``). A block whose source or text changed since
    (an edit, someone else's approval) is not saved; a block's typed text follows
    its source, which may have moved to another key (a paragraph added above)."""
    now = {s.key: s for s in view.segments} if view else {}
    by_source = {s.digest: s for s in now.values()}
    approvable, kept, lost, changed = [], {}, [], 0
    for key in [name[5:] for name in form if name.startswith("text:")]:
        text = (form_value(form, f"text:{key}") or "").replace("\r\n", "\n")
        src, base = form_value(form, f"src:{key}"), form_value(form, f"base:{key}")
        segment, asked = now.get(key), only is None or key == only
        same = segment is not None and same_token(src, segment.digest) and same_token(
            base, segment.base)
        if asked and same:
            approvable.append((segment, text))
            continue
        changed += asked
        if not text.strip() or same_token(base, digest(text)):
            continue  # nothing typed: the page's own text
        home = segment if same else by_source.get(src or "") or segment
        if home is not None:
            kept[home.key] = text
        else:
            lost.append(text)
    return Submitted(approvable, changed, kept, lost)


def conflict(approved: int, changed: int, lang: str) -> str:
    """The 409 page's message: nothing of a changed block was saved, and why."""
    saved = f"Approved {format_decimal(approved, locale=lang)} block(s). " if approved else ""
    return (f"{saved}{format_decimal(changed, locale=lang)} block(s) changed since you "
            "loaded the page (the source was edited, the machine translation was redone, "
            "or someone else approved a text), so "
            "they were not saved. What you typed is kept below, marked \"not saved\": "
            "compare it with the block and its history, then approve again.")


def item_state(segments: list[SegmentView]) -> str:
    states = {s.state for s in segments}
    if "changed" in states:
        return "changed"
    if "approved" not in states:
        return "machine" if "machine" in states else "untranslated"
    return "reviewed" if states == {"approved"} else "partial"
