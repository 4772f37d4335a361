"""The rule for one news.po entry: how a segment's source, machine text and
approval meet what the file holds, so that a human's text is never lost.

A translator's text is told from syndicator's own by a mark in the ``#.``
comment: the first 12 hex digits of the SHA-256 of the machine text written.
"""
from __future__ import annotations

import hashlib

import polib

from ..approvals import Approval

MACHINE_MARK = "machine:"


def _mark(engine: str, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{MACHINE_MARK} {engine} ({digest})"


def _untouched_machine(entry: polib.POEntry) -> bool:
    """True when msgstr is still exactly the machine text syndicator wrote."""
    if not entry.msgstr:
        return True
    digest = hashlib.sha256(entry.msgstr.encode()).hexdigest()[:12]
    return f"({digest})" in entry.comment


def merge(po, by_key, key: str, source: str, machine: str, approval: Approval | None,
          engine: str, url: str) -> None:
    """Merge segment ``key`` into its entry in ``by_key``, or into a new entry
    appended to ``po``."""
    entry = by_key.get(key)
    if entry is None:
        entry = polib.POEntry(msgctxt=key, msgid=source, occurrences=[(url, None)])
        po.append(entry)
        by_key[key] = entry
    update(entry, source, machine, approval, engine)


def update(entry: polib.POEntry, source: str, machine: str, approval: Approval | None,
           engine: str) -> None:
    """A segment's source, machine text and approval, merged into its ``entry``:
    human text is never replaced by machine text."""
    if entry.msgid != source:
        # The source changed: fuzzy, with the previous source, keeping any human
        # text as the translator's starting point.
        entry.previous_msgid = entry.msgid
        entry.msgid = source
        if entry.msgstr and not _untouched_machine(entry):
            entry.flags = sorted(set(entry.flags) | {"fuzzy"})
            return
        entry.msgstr = ""
    if approval and approval.source_text == source:
        entry.msgstr, entry.comment = approval.text, f"reviewed by {approval.translator}"
        entry.flags = [f for f in entry.flags if f != "fuzzy"]
        entry.previous_msgid = None
    elif machine and _untouched_machine(entry) and not (entry.msgstr and not entry.fuzzy):
        entry.msgstr, entry.comment = machine, _mark(engine, machine)
        entry.flags = sorted(set(entry.flags) | {"fuzzy"})
    elif not machine and not entry.msgstr:
        entry.comment = "no engine serves this language yet: translate by hand"
        entry.flags = [f for f in entry.flags if f != "fuzzy"]

