"""A large news.po is read and merged part by part, with the entries polib reads
from the whole file and the bytes of a merge of the whole file.

The files here are written the ways PO editors write them, not only the way
syndicator does: translator comments, entries with no blank line between them,
lines the parser skips, plural and obsolete entries, a wrapped msgctxt, CRLF
line endings, a BOM, another charset. Parts are made tiny so that every file is
cut in many places.
"""
from __future__ import annotations

import gc
import tracemalloc
from datetime import datetime, timezone

import polib
import pytest

from syndicator import catalog, pofile
from syndicator.approvals import Approval, Approved, approvals_for
from syndicator.catalog import files
from syndicator.catalog.entries import Retired
from syndicator.store import open_store

from conftest import live_objects

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
HEADER = '''# Russian translation of the news.
# Anna <anna@example.org>, 2026.
#
#, fuzzy
msgid ""
msgstr ""
"Project-Id-Version: syndicator news\\n"
"Last-Translator: Anna <anna@example.org>\\n"
"Language: ru\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && "
"n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);\\n"

'''


def editor_entry(i: int) -> str:
    """Entry ``i`` of a file as editors and msgmerge leave them, of one of 9 kinds,
    in an irregular order, so that parts start with entries of every kind."""
    kind = (i * i + i // 3) % 9
    if kind == 0:  # a translator's comment first, a reviewed text
        return (f'# checked by Anna\n#. reviewed by Anna\n#: https://example.org/n/{i}\n'
                f'msgctxt "item-{i}:title"\nmsgid "Title {i}"\nmsgstr "Заголовок {i}"\n\n')
    if kind == 1:  # machine output, fuzzy, a previous msgid, a long wrapped source
        return (f'#. machine: argos (0123456789ab)\n#: https://example.org/n/{i}\n#, fuzzy\n'
                f'#| msgid "Old summary {i}"\nmsgctxt "item-{i}:summary"\nmsgid ""\n'
                f'"Summary {i}, long enough that an editor wraps it over more than "\n'
                f'"one line."\nmsgstr ""\n"Резюме {i}, достаточно длинное, чтобы "\n'
                f'"редактор перенёс его."\n')  # no blank line after it
    if kind == 2:  # lines the parser skips, between entries
        return (f'#,\n#.\n#: https://example.org/n/{i}\nmsgctxt "item-{i}:p1"\n'
                f'msgid "Paragraph {i}."\nmsgstr ""\n\n')
    if kind == 3:  # a plural entry
        return (f'msgctxt "item-{i}:count"\nmsgid "{i} file"\nmsgid_plural "{i} files"\n'
                f'msgstr[0] "{i} файл"\nmsgstr[1] "{i} файла"\nmsgstr[2] "{i} файлов"\n\n')
    if kind == 4:  # an obsolete entry in the middle of the file, with #~| lines
        return (f'#~| msgid "Older {i}"\n#~ msgctxt "item-{i}:gone"\n#~ msgid "Gone {i}"\n'
                f'#~ msgstr "Ушло {i}"\n\n')
    if kind == 5:  # a msgctxt wrapped the way some editors write every string
        return (f'msgctxt ""\n"item-{i}:title"\nmsgid ""\n"Title {i}"\nmsgstr ""\n'
                f'"Заголовок {i}"\n\n')
    if kind == 6:  # comments of every kind, in an unusual order
        return (f'#: https://example.org/n/{i}\n## a note\n#. machine: apertium (ba9876543210)\n'
                f'#, fuzzy, python-format\nmsgctxt "item-{i}:p2"\nmsgid "Value %s {i}"\n'
                f'msgstr "Значение %s {i}"\n\n\n')
    if kind == 7:  # escapes
        return (f'msgctxt "item-{i}:p3"\nmsgid "Quote \\"{i}\\"\\tand a tab\\n"\n'
                f'msgstr "Цитата \\"{i}\\"\\tи табуляция\\n"\n\n')
    return f'msgctxt "item-{i}:body"\nmsgid "Body {i}."\nmsgstr "Текст {i}."\n\n'


def editor_file(count: int = 120, newline: str = "\n", bom: bool = False,
                tail: str = "") -> str:
    text = HEADER + "".join(editor_entry(i) for i in range(count)) + tail
    return ("\ufeff" if bom else "") + text.replace("\n", newline)


def syndicator_file(count: int = 120) -> str:
    po = polib.POFile()
    po.metadata = {"Project-Id-Version": "syndicator news", "Language": "ru",
                   "Content-Type": "text/plain; charset=UTF-8"}
    for i in range(count):
        po.append(polib.POEntry(msgctxt=f"item-{i}:title", msgid=f"Title {i}",
                                msgstr=f"Заголовок {i}", comment="machine: argos (0123456789ab)",
                                occurrences=[(f"https://example.org/n/{i}", None)],
                                flags=["fuzzy"]))
    return pofile.render(po).decode("utf-8")


FILES = {
    "syndicator's own": lambda: (syndicator_file(), "utf-8"),
    "an editor's": lambda: (editor_file(), "utf-8"),
    "CRLF": lambda: (editor_file(newline="\r\n"), "utf-8"),
    "BOM": lambda: (editor_file(bom=True), "utf-8"),
    "KOI8-R": lambda: (editor_file().replace("charset=UTF-8", "charset=KOI8-R"), "koi8-r"),
    "obsolete last, a trailing comment": lambda: (
        editor_file(tail='#~ msgctxt "item-x:gone"\n#~ msgid "Gone x"\n#~ msgstr "Нет"\n\n'
                         '# a comment polib ignores\n'), "utf-8"),
    "no newline at the end": lambda: (editor_file().rstrip("\n"), "utf-8"),
}


@pytest.fixture
def small_parts(monkeypatch):
    monkeypatch.setattr(pofile, "PART_CHARS", 200)


def write(tmp_path, name: str):
    text, encoding = FILES[name]()
    path = tmp_path / "news.po"
    path.write_bytes(text.encode(encoding))
    return path


def fields(entry: polib.POEntry) -> tuple:
    return (entry.msgctxt, entry.msgid, entry.msgid_plural, entry.msgstr,
            sorted(entry.msgstr_plural.items()), entry.comment, entry.tcomment,
            entry.occurrences, entry.flags, entry.previous_msgctxt, entry.previous_msgid,
            entry.previous_msgid_plural, entry.obsolete)


@pytest.mark.parametrize("name", FILES)
def test_parts_hold_exactly_the_entries_polib_reads_from_the_whole_file(tmp_path, small_parts,
                                                                       name):
    path = write(tmp_path, name)
    whole = polib.pofile(str(path))
    parts = list(pofile.read_in_parts(path))
    assert len(parts) > 20  # cut in many places
    assert (parts[0].header, parts[0].metadata, parts[0].metadata_is_fuzzy) == \
        (whole.header, whole.metadata, whole.metadata_is_fuzzy)
    assert [fields(e) for part in parts for e in part] == [fields(e) for e in whole]
    assert pofile.header_bytes(parts[0]) == pofile.header_bytes(whole)


def first_of_kind(kind: int) -> int:
    return next(i for i in range(120) if (i * i + i // 3) % 9 == kind)


def second_of_kind(kind: int) -> int:  # never in merges_for's merges
    return [i for i in range(120) if (i * i + i // 3) % 9 == kind][1]


def merges_for(path) -> dict[str, list[tuple]]:
    """Merges of every kind: machine text for a reviewed entry, a changed source
    under machine and under human text, an approval, escapes, an entry with no
    engine, keys the file lacks (one merged twice), and a key only an obsolete
    entry holds."""
    i = [first_of_kind(kind) for kind in range(9)]
    url = "https://example.org/n/new"
    approval = Approval("ru", f"item-{i[8]}:body", f"Body {i[8]}.", "Одобрено.", "Boris", NOW)
    # The file's own text of that entry was typed by hand and not imported yet: it stays.
    fresh = Approval("ru", "item-new:p1", "Its text.", "Одобрено.", "Boris", NOW)
    return {
        f"item-{i[0]}:title": [(f"Title {i[0]}", "Машинный", None, "argos", url)],
        f"item-{i[1]}:summary": [("A new summary.", "Новое резюме", None, "argos", url)],
        f"item-{i[2]}:p1": [(f"Paragraph {i[2]}.", "", None, "", url)],
        f"item-{i[4]}:gone": [(f"Gone {i[4]}", "Снова", None, "argos", url)],
        f"item-{i[5]}:title": [(f"Title {i[5]}, edited", "Машина", None, "argos", url)],
        f"item-{i[6]}:p2": [(f"Value %s {i[6]}", "Машина", None, "apertium", url)],
        f"item-{i[7]}:p3": [(f'Quote "{i[7]}"\tand a tab\n', "Цитата", None, "argos", url)],
        f"item-{i[8]}:body": [(f"Body {i[8]}.", "", approval, "argos", url)],
        "item-new:title": [("A new item", "Новая новость", None, "argos", url)],
        "item-new:p1": [("Its text.", "", fresh, "", url)],
        "item-new:p2": [("Nowhere", "Нигде", None, "argos", url),
                        ("Nowhere, twice", "Дважды", None, "argos", url)],
    }


def retired_for(merges: dict) -> Retired:
    """Entries of kinds 0-2 belong to items whose segments are gone (keys without
    "#" are their own item): the untouched ones (kinds 0 and 2) leave, a fuzzy
    machine text that no longer matches its mark (kind 1, by hand) stays."""
    gone = {f"item-{i}:{field}" for i in range(120)
            for field in ("title", "summary", "p1")}
    return Retired(gone, set(merges), Approved([]))


def merged(blocks_of) -> tuple[bytes, bool]:
    blocks = files._Blocks(blocks_of)
    return b"".join(blocks), blocks.appendable


@pytest.mark.parametrize("name", FILES)
def test_a_merge_in_parts_writes_the_bytes_of_a_merge_of_the_whole_file(tmp_path, small_parts,
                                                                        name):
    path = write(tmp_path, name)
    merges = merges_for(path)
    in_parts = merged(files._merged_in_parts(path, "ru", merges, retired_for(merges), NOW))
    whole = merged(files._merged_parsed_whole(path, "ru", merges, retired_for(merges), NOW))
    assert in_parts == whole
    typed = f'msgid "Body {first_of_kind(8)}."\nmsgstr "Текст {first_of_kind(8)}."'
    if name != "syndicator's own":  # the editor's text, not imported yet, is kept
        assert typed.encode("utf-8") in whole[0].replace(b"\r\n", b"\n")
    for text in ('msgstr "Одобрено."', 'msgid "A new item"', '#| msgid "Title ',
                 'msgctxt "item-new:p2"\nmsgid "Nowhere, twice"'):
        assert text.encode("utf-8") in whole[0], text
    if name != "syndicator's own":  # retired: untouched entries leave, a draft stays
        kept = whole[0].replace(b"\r\n", b"\n")
        assert f'msgctxt "item-{second_of_kind(2)}:p1"'.encode() not in kept
        assert f'msgctxt "item-{second_of_kind(0)}:title"'.encode() not in kept
        assert f'msgctxt "item-{second_of_kind(1)}:summary"'.encode() in kept  # by hand


UNSTREAMABLE = {
    "a merged key twice": (HEADER + 'msgctxt "k"\nmsgid "a"\nmsgstr "1"\n\n' * 40
                           + 'msgctxt "item-new:title"\nmsgid "x"\nmsgstr "2"\n\n' * 2),
    "an empty msgid after the header": (HEADER + editor_file()[len(HEADER):]
                                        + 'msgctxt "odd"\nmsgid ""\nmsgstr "x"\n'),
    "a line separator in a msgstr": HEADER + 'msgid "a"\nmsgstr "b\u2028c"\n' + editor_file(),
    "a charset that is not a text encoding": editor_file().replace("charset=UTF-8", "charset=hex"),
}


@pytest.mark.parametrize("name", UNSTREAMABLE)
def test_a_file_parts_could_read_differently_is_merged_whole(tmp_path, small_parts, name):
    path = tmp_path / "news.po"
    path.write_text(UNSTREAMABLE[name], encoding="utf-8")
    merges = merges_for(path)
    with pytest.raises(pofile.Unstreamable):
        merged(files._merged_in_parts(path, "ru", merges, retired_for(merges), NOW))
    gc.collect()
    gc.disable()  # only the merge's own collection may free the parsed file
    try:
        tmp, blocks = files._stage_merge(path, "ru", merges, retired_for(merges), NOW)
        assert live_objects(polib.POEntry) == 0
    finally:
        gc.enable()
    with open(tmp, "rb") as staged:
        assert (staged.read(), blocks.appendable) == \
            merged(files._merged_parsed_whole(path, "ru", merges, retired_for(merges), NOW))
    files.discard(tmp)


def test_a_syntax_error_is_reported_with_its_line_in_the_whole_file(tmp_path, small_parts):
    path = tmp_path / "news.po"
    text = editor_file()
    path.write_text(text + 'this is not PO\n' + editor_file()[len(HEADER):], encoding="utf-8")
    with pytest.raises(OSError, match=rf"line {text.count(chr(10)) + 1}\)"):
        files._stage_merge(path, "ru", merges_for(path), retired_for({}), NOW)
    assert [p.name for p in tmp_path.iterdir()] == ["news.po"]  # no temp file left


def test_merging_a_large_news_po_holds_one_part_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(pofile, "PART_CHARS", 1 << 16)
    path = tmp_path / "news.po"
    path.write_text(editor_file(count=12_000), encoding="utf-8")  # 1.7 MB, 26 parts
    merges = merges_for(path)

    def peak(blocks_of) -> int:
        tracemalloc.start()
        try:
            for _ in blocks_of(path, "ru", merges, retired_for(merges), NOW):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    size = path.stat().st_size
    whole, in_parts = peak(files._merged_parsed_whole), peak(files._merged_in_parts)
    assert whole > 3 * size, (size, whole)  # what reading the whole file costs
    assert in_parts < size, (size, whole, in_parts)


@pytest.mark.parametrize("name", FILES)
def test_an_import_read_in_parts_finds_the_edits_a_whole_parse_finds(tmp_path, small_parts, name):
    path = write(tmp_path, name)
    known = Approved([Approval("ru", f"item-{i}:title", f"Title {i}", f"Заголовок {i}", "Anna", NOW)
                      for i in range(0, 120, 2)])
    in_parts = catalog._saved_edits(pofile.read_in_parts(path), known)
    whole = catalog._saved_edits([polib.pofile(str(path))], known)
    assert in_parts == whole
    if name != "syndicator's own":  # machine output only: nothing to import
        assert len(whole[1]) > 30 and whole[0] == "Anna <anna@example.org>"


def test_an_import_of_a_file_parts_could_read_differently_reads_it_whole(tmp_path, small_parts):
    path = tmp_path / "news.po"
    path.write_text(UNSTREAMABLE["a charset that is not a text encoding"], encoding="utf-8")
    store = open_store(tmp_path / "store.db")
    gc.collect()
    gc.disable()  # only the import's own collection may free the parsed file
    try:
        assert catalog._approve_saved(store, path, "ru", NOW) > 30
        assert live_objects(polib.POEntry) == 0
    finally:
        gc.enable()
    approved = {a.seg_key: a for a in approvals_for(store, "ru")}
    assert approved["item-0:title"].text == "Заголовок 0"
    assert approved["item-0:title"].translator == "Anna <anna@example.org>"
