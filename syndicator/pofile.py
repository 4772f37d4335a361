"""Write PO files exactly as GNU gettext's own tools (msgcat, msgmerge) do.

polib parses well, but its writer wraps lines with Python's textwrap, which
breaks in other places than gettext: every PO editor's save would then show
a diff in lines nobody touched. This writer follows gettext: lines of at most
79 columns, broken after spaces or after a hyphen inside a word, and a long
string starts on the line after an empty ``msgid ""``. A test compares the
output with ``msgcat`` byte for byte.
"""
from __future__ import annotations

import bisect
import re

import polib

WIDTH = 79


_AFTER_SPACES = re.compile(r"(?<= )[^ ]")


def _breaks(text: str) -> list[int]:
    """Where a line may end: after a run of spaces, or after a hyphen between word characters."""
    found = [m.start() for m in _AFTER_SPACES.finditer(text)]
    hyphen = text.find("-", 1)
    if hyphen != -1:  # rare: checked one by one, with str's own notion of letters
        found += [i for i in range(hyphen + 1, len(text))
                  if text[i - 1] == "-" and text[i].isalpha() and text[i - 2].isalnum()]
        found.sort()
    return found


def _wrap(escaped: str, width: int = WIDTH - 2) -> list[str]:
    lines, start, breaks = [], 0, _breaks(escaped)
    while len(escaped) - start > width:
        # The last break within the width, else the first one after it.
        cut = bisect.bisect_right(breaks, start + width)
        fitting = cut > 0 and breaks[cut - 1] > start
        later = bisect.bisect_right(breaks, start)
        if not fitting and later == len(breaks):
            break  # one long word: gettext leaves it whole
        end = breaks[cut - 1] if fitting else breaks[later]
        lines.append(escaped[start:end])
        start = end
    lines.append(escaped[start:])
    return lines


def _field(name: str, value: str, prefix: str = "") -> list[str]:
    parts = value.splitlines(True)
    if len(parts) <= 1:
        escaped = polib.escape(value)
        if len(prefix) + len(name) + 3 + len(escaped) <= WIDTH:
            return [f'{prefix}{name} "{escaped}"']
        return [f'{prefix}{name} ""'] + [f'{prefix}"{line}"' for line in _wrap(escaped)]
    lines = [f'{prefix}{name} ""']
    for part in parts:
        lines += [f'{prefix}"{line}"' for line in _wrap(polib.escape(part))]
    return lines


def entry_lines(entry: polib.POEntry) -> list[str]:
    lines = [f"# {c}".rstrip() for c in entry.tcomment.splitlines()] if entry.tcomment else []
    lines += [f"#. {c}".rstrip() for c in entry.comment.splitlines()] if entry.comment else []
    if entry.occurrences:
        lines.append("#: " + " ".join(f"{f}:{n}" if n else f for f, n in entry.occurrences))
    if entry.flags:
        lines.append("#, " + ", ".join(entry.flags))
    prefix = "#~ " if entry.obsolete else ""
    if entry.previous_msgctxt:
        lines += _field("msgctxt", entry.previous_msgctxt, "#| ")
    if entry.previous_msgid:
        lines += _field("msgid", entry.previous_msgid, "#| ")
    if entry.msgctxt is not None:
        lines += _field("msgctxt", entry.msgctxt, prefix)
    lines += _field("msgid", entry.msgid, prefix)
    if entry.msgid_plural:
        lines += _field("msgid_plural", entry.msgid_plural, prefix)
        for n in sorted(entry.msgstr_plural):
            lines += _field(f"msgstr[{n}]", entry.msgstr_plural[n], prefix)
    else:
        lines += _field("msgstr", entry.msgstr, prefix)
    return lines


def render(po: polib.POFile) -> bytes:
    """The whole file in UTF-8: header first, entries in their order, obsolete entries last.

    Each entry is encoded as it is made: a catalog of 10,000 items (50,000
    entries, 28 MB) held as text, joined, then encoded took about twice the
    memory of the bytes alone, and the merge of a whole catalog sets a cold
    cycle's peak (bench/memory.py).
    """
    blocks = []
    header = [f"# {line}".rstrip() for line in po.header.splitlines()] if po.header else []
    meta = po.metadata_as_entry()
    header += [f"#, {', '.join(meta.flags)}"] if meta.flags else []
    blocks.append("\n".join(header + _field("msgid", "") + _field("msgstr", meta.msgstr))
                  .encode("utf-8"))
    entries = [e for e in po if not e.obsolete] + [e for e in po if e.obsolete]
    blocks += [entry_bytes(e) for e in entries]
    return b"\n\n".join(blocks) + b"\n"


def entry_bytes(entry: polib.POEntry) -> bytes:
    """One entry's block as ``render`` writes it, in UTF-8, without the blank line."""
    return "\n".join(entry_lines(entry)).encode("utf-8")
