"""The rule for one news.po entry: how a segment's source, machine text and
approval meet what the file holds, so that a human's text is never lost.

Syndicator marks what it writes in the ``#.`` comment, so that a translator's
text is told from its own:
- machine text: ``machine: <engine> (<digest>)``, the first 12 hex digits of the
  SHA-256 of the msgstr written;
- approved text: ``reviewed by <name> [<digest>]``, the digest of the msgid, the
  msgstr and the fuzzy flag written. An entry that still matches it is as
  syndicator wrote it: a stale copy of the file saved over a newer one gives
  such entries back, and they are not a translator's edit.
An entry that matches neither mark was changed by hand after syndicator wrote it.
Until the import has taken that text, no merge overwrites it.
"""
from __future__ import annotations

import hashlib
import re

import polib

from ..approvals import Approval, Approved, publishable
from ..models import item_of

MACHINE_MARK = "machine:"
_REVIEWED = re.compile(r"^reviewed by (.*?)(?: \[([0-9a-f]{12})\])?$")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _mark(engine: str, text: str) -> str:
    return f"{MACHINE_MARK} {engine} ({_digest(text)})"


def _reviewed_mark(entry: polib.POEntry, translator: str) -> str:
    return f"reviewed by {translator} [{_state(entry)}]"


def _state(entry: polib.POEntry) -> str:
    return _digest(entry.msgid, entry.msgstr, "fuzzy" if entry.fuzzy else "")


def _untouched_machine(entry: polib.POEntry) -> bool:
    """True when msgstr is still exactly the machine text syndicator wrote."""
    if not entry.msgstr:
        return True
    return entry.comment.startswith(MACHINE_MARK) and entry.comment.endswith(
        f"({_digest(entry.msgstr)})")


def as_written(entry: polib.POEntry) -> bool:
    """True when an approved entry is exactly as syndicator wrote it: its text,
    source and fuzzy flag still match its ``reviewed by`` mark."""
    found = _REVIEWED.match(entry.comment)
    return bool(found and found.group(2) == _state(entry))


def superseded(entry: polib.POEntry, approval: Approval) -> bool:
    """True when the entry gives back a text approved under its key before
    ``approval`` replaced it, in a copy of the file written before that approval
    (an editor saving the buffer it kept open): not a translator's new edit.

    In a copy written after it (its mark is the one syndicator writes for
    ``approval``), going back to an earlier text is a decision, and is taken."""
    found = _REVIEWED.match(entry.comment)
    written_after = bool(found) and found.group(2) in {
        _digest(entry.msgid, approval.text, flag) for flag in ("", "fuzzy")}
    text = publishable(entry.msgstr)
    return not written_after and text != approval.text and text in approval.earlier


def changed_by_hand(entry: polib.POEntry) -> bool:
    """True when a human changed the entry's msgstr or flag after syndicator wrote it."""
    if not entry.msgstr:
        return False
    if entry.comment.startswith(MACHINE_MARK):
        # Clearing fuzzy on machine text is a translator approving it.
        return not (_untouched_machine(entry) and entry.fuzzy)
    found = _REVIEWED.match(entry.comment)
    if found:
        # Written before marks were (no digest): taken as syndicator's, as then.
        return found.group(2) is not None and found.group(2) != _state(entry)
    return True  # text typed where syndicator wrote none


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
    human text is never replaced by machine text, and text changed by hand is
    never replaced before it was imported."""
    by_hand, ours = changed_by_hand(entry), as_written(entry)
    approved = approval is not None and approval.source_text == source
    source_changed = entry.msgid != source
    if source_changed:
        entry.previous_msgid = entry.msgid
        entry.msgid = source
        if entry.msgstr and (by_hand or not (approved or _untouched_machine(entry))):
            # Human text stays as the translator's starting point, fuzzy; written by
            # syndicator, the mark follows, so the state is still known as its own.
            entry.flags = sorted(set(entry.flags) | {"fuzzy"})
            if ours:
                entry.comment = _reviewed_mark(entry, _REVIEWED.match(entry.comment).group(1))
            return
        if not approved:
            entry.msgstr = ""
    if approved:
        if by_hand and publishable(entry.msgstr) != approval.text and not superseded(
                entry, approval):
            return  # a translator's newer text or draft: the import takes it when done
        # A translator's fuzzy flag on the approved text stays: it asks for another look.
        keep_flag = by_hand and entry.fuzzy and not source_changed
        entry.msgstr, entry.previous_msgid = approval.text, None
        entry.flags = [f for f in entry.flags if f != "fuzzy" or keep_flag]
        entry.comment = _reviewed_mark(entry, approval.translator)
    elif machine and _untouched_machine(entry) and not (entry.msgstr and not entry.fuzzy):
        entry.msgstr, entry.comment = machine, _mark(engine, machine)
        entry.flags = sorted(set(entry.flags) | {"fuzzy"})
    elif not machine and not entry.msgstr:
        entry.comment = "no engine serves this language yet: translate by hand"
        entry.flags = [f for f in entry.flags if f != "fuzzy"]



class Retired:
    """Which entries belong to segments their item no longer has (a paragraph
    removed by an edit), as msgmerge would make them obsolete.

    They are removed rather than made obsolete: their approvals stay in the
    store, and a file without ``#~`` entries stays appendable (``files``). Only
    the entries of the items being merged are looked at, and an entry changed
    by hand stays until the import has taken its text: it is never lost."""

    def __init__(self, items: set[str], keys: set[str], approved: Approved):
        """``items``: the item keys (``models.item_key``) being merged; ``keys``: their
        segments' keys now."""
        self._items, self._keys, self._approved = items, keys, approved

    def __call__(self, entry: polib.POEntry) -> bool:
        key = entry.msgctxt
        if not key or entry.obsolete or key in self._keys or item_of(key) not in self._items:
            return False
        if not changed_by_hand(entry):
            return True
        approval = self._approved.get(key, entry.msgid)
        return bool(approval and not entry.fuzzy and approval.text == publishable(entry.msgstr))
