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
import codecs
import gc
import re
from pathlib import Path
from typing import Iterator

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
    """The whole file in UTF-8: header first, entries in their order, obsolete entries last."""
    return b"\n\n".join(blocks(po)) + b"\n"


def blocks(po: polib.POFile) -> Iterator[bytes]:
    """``render``'s blocks, in UTF-8, one at a time: the header, then each entry.

    Each entry is encoded as it is made: a catalog of 10,000 items (50,000
    entries, 28 MB) held as text, joined, then encoded took about twice the
    memory of the bytes alone, and the merge of a whole catalog sets a cold
    cycle's peak (bench/memory.py).
    """
    yield header_bytes(po)
    yield from (entry_bytes(e) for e in po if not e.obsolete)
    yield from (entry_bytes(e) for e in po if e.obsolete)


def header_bytes(po: polib.POFile) -> bytes:
    """The header's block: its comments, then the metadata entry."""
    header = [f"# {line}".rstrip() for line in po.header.splitlines()] if po.header else []
    meta = po.metadata_as_entry()
    header += [f"#, {', '.join(meta.flags)}"] if meta.flags else []
    return "\n".join(header + _field("msgid", "") + _field("msgstr", meta.msgstr)).encode("utf-8")


def entry_bytes(entry: polib.POEntry) -> bytes:
    """One entry's block as ``render`` writes it, in UTF-8, without the blank line."""
    return "\n".join(entry_lines(entry)).encode("utf-8")


# --- reading a large file part by part -------------------------------------------
# polib parses a whole file into objects several times its size: a 43 MB news.po
# took a cold cycle from 221 to 447 MB (bench/memory.py). Read in parts, a merge
# holds one part's entries at a time. Each part is parsed by polib itself; the
# parts are cut only where polib's own parser starts a new entry, and anything a
# part could read differently from the whole file raises ``Unstreamable``, so
# that the caller parses the file whole instead.

PART_CHARS = 1 << 20  # a part ends at the first entry that starts after this many characters
_LINE_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # str.splitlines() breaks
_PLACEHOLDER = 'msgid "-"\nmsgstr "-"\n'  # puts a later part's parser where the file's was


class Unstreamable(Exception):
    """The file holds something a part could read differently from the whole file."""


class _Part(polib.POFile):
    def find(self, *args, **kwargs):
        return None  # polib takes the first entry with msgid "" for the header: not here


def read_in_parts(path: Path) -> Iterator[polib.POFile]:
    """``polib.pofile(path)``, part by part: the first part carries the header and
    the metadata; the parts' entries, in order, are the whole file's entries.

    Raises ``Unstreamable`` (perhaps after some parts) where that might not hold:
    a syntax or encoding error (the whole parse reports it, with its line), a
    charset that is not a text encoding (polib reads the file as UTF-8), a
    later entry with an empty msgid (polib might take it for the header), or a
    character on which ``str.splitlines`` breaks a line and a file does not."""
    try:
        encoding = _encoding(path)
        with open(path, encoding=encoding) as handle:
            lines, size, first = [], 0, True
            watching, after_msgstr, comment = False, False, True
            for line in handle:
                if watching:  # for where polib's parser starts an entry: the part ends there
                    tokens = _tokens(line)
                    kind = _kind(line, tokens)
                    # polib drops a file's last entry if a comment line follows it, so
                    # a part must not end with one, even one the parser skips.
                    if kind == "entry" and after_msgstr and not comment:
                        yield _parse(lines, encoding, first)
                        lines, size, first, watching = [], 0, False, False
                    else:
                        after_msgstr = after_msgstr if kind is None else kind == "msgstr"
                        comment = tokens[0].startswith("#") if tokens else comment
                lines.append(line)
                size += len(line)
                if not watching and size >= PART_CHARS:
                    watching, after_msgstr, comment = True, False, True
            yield _parse(lines, encoding, first)
    except (OSError, UnicodeError, LookupError) as exc:
        # LookupError: a charset such as "hex" that Python knows but cannot read
        # text with; polib falls back to UTF-8 there.
        raise Unstreamable(f"{path}: {exc}") from exc


_CHARSET = re.compile(rb'"?Content-Type:.+? charset=([\w_\-:\.]+)')


def _encoding(path: Path) -> str:
    """``polib.detect_encoding(path)``, which reads every line of the file into a
    list first (for a 43 MB news.po, ~80 MB): the first charset named in a
    Content-Type line that Python knows, else polib's default."""
    with open(path, "rb") as handle:
        for line in handle:
            found = _CHARSET.search(line)
            if found:
                name = found.group(1).strip().decode("utf-8")
                try:
                    codecs.lookup(name)
                except LookupError:
                    continue
                return name
    return polib.default_encoding


def _parse(lines: list[str], encoding: str, first: bool) -> polib.POFile:
    text = "".join(lines if first else [_PLACEHOLDER, *lines])
    del lines[:]  # the text holds them now: not both during the parse
    if _LINE_BREAKS.search(text):
        raise Unstreamable("a line break that only str.splitlines() sees")
    # polib's parser is a reference cycle that holds the part's lines: left to the
    # collector, it lives on in an old generation, with its lines, until the next
    # full collection. Parsed with no collection on the way, it is still young,
    # and the young collection right after frees it (~1 ms).
    collecting = gc.isenabled()
    gc.disable()
    try:
        part = polib.pofile(text, encoding=encoding, klass=polib.POFile if first else _Part)
    finally:
        if collecting:
            gc.enable()
    del text
    gc.collect(0)
    if first:
        return part
    if not part or part[0].msgid != "-" or part.header:
        raise Unstreamable("a part that does not start with an entry")
    del part[0]
    if any(e.msgid == "" and not e.obsolete for e in part):
        raise Unstreamable("an entry with an empty msgid after the header")
    return part


def _kind(line: str, tokens: list[str]) -> str | None:
    """What polib's parser makes of ``line`` (``_tokens``) after a msgstr: "entry"
    where it starts a new entry, "msgstr" for a msgstr line, None where its state
    does not change (blank, continued or skipped lines), "other" for the rest."""
    if not tokens or tokens[0] == "#~|":
        return None
    if line.lstrip().startswith("#~") and tokens[0] != "#~":
        line = line.strip()[3:]  # obsolete: read as polib reads it, without the mark
    word, many = tokens[0], len(tokens) > 1
    if word in ("msgctxt", "msgid") and many:
        return "entry"
    if word == "msgstr" and many or line.lstrip().startswith("msgstr["):
        return "msgstr"
    if line.lstrip()[:1] == '"':
        return None
    if word in ("#:", "#,", "#."):
        return "entry" if many else None
    if word == "#" or word.startswith("##"):
        return "entry"
    if word == "#|" and many:
        return None if tokens[1].startswith('"') else "entry"
    return "other"


def _tokens(line: str) -> list[str]:
    """The line's tokens as polib's parser keeps them: an obsolete entry's without "#~"."""
    tokens = line.split(None, 2)
    return tokens[1:] if len(tokens) > 1 and tokens[0] == "#~" else tokens
