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


def form_text(form: dict, key: str) -> str:
    return (form_value(form, f"text:{key}") or "").replace("\r\n", "\n")


def typed(form: dict, view: ItemView, only: str) -> dict[str, str]:
    """Text typed into the item's blocks other than ``only``: not as the page showed it."""
    typed = {}
    for segment in view.segments:
        text = form_text(form, segment.key)
        if segment.key != only and text and not same_token(
                form_value(form, f"base:{segment.key}"), digest(text)):
            typed[segment.key] = text
    return typed


def conflict(counts: dict[str, int], lang: str) -> str:
    """The 409 page's message: nothing of a changed block was saved, and why."""
    saved = (f"Approved {format_decimal(counts['approved'], locale=lang)} block(s). "
             if counts["approved"] else "")
    return (f"{saved}{format_decimal(counts['changed'], locale=lang)} block(s) changed since "
            "you loaded the page (the source was edited, or someone else approved a text), "
            "so they were not saved. What you typed in them is kept below: compare it "
            "with the block's history, then approve again.")


def item_state(segments: list[SegmentView]) -> str:
    states = {s.state for s in segments}
    if "changed" in states:
        return "changed"
    if "approved" not in states:
        return "machine" if "machine" in states else "untranslated"
    return "reviewed" if states == {"approved"} else "partial"
