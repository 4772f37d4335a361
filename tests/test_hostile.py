"""Hostile content through the whole pipeline, into every output format.

The corpus is ``tests/hostile/``: ``items/`` (a ``files`` source: scripts, event
handlers, javascript:/data: URLs, iframes, SVG and MathML, CSS expression(),
XML-illegal controls, lone surrogates, bidi overrides, zero-width characters,
``]]>``), ``feeds/`` (RSS and Atom payloads, billion laughs, external
entities), ``site/`` (an ``html`` source whose pages name a javascript:
canonical or base) and ``fields/`` (one hostile value per item field, each in
a cycle of its own). A 1 MB title and a 20,000-entry feed are generated here.

One real cycle (the lexicon model translates into Russian; Arabic and Armenian
await an engine) publishes everything; then every output is parsed: RSS, Atom
and their archives (lxml, feedparser ``bozo == 0``, jing), JSON Feed
(``json.loads``), index.html and widget.html, news.po (polib, ``msgfmt -c``).
Content HTML is parsed too (the way a browser tokenises it), so the checks see
elements and attributes, not substrings of escaped XML. The widget in Chromium
is ``tests/test_widget.py``'s job.
"""
from __future__ import annotations

import html
import html.parser
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import feedparser
import lxml.html
import polib
import pytest
from lxml import etree

from conftest import (ATOM_RNC, FROZEN_NOW, ROOT, SAMPLE_SELECTORS, Site, make_config,
                      require_shared, require_tool, run_cli)
from syndicator.cycle import run_once
from syndicator.store import open_store
from syndicator.translate.packages import install_file

HOSTILE = Path(__file__).resolve().parent / "hostile"
TARGETS = ["ru", "ar", "hy"]  # ru: the lexicon model; ar (RTL) and hy await an engine
LANGS = ["en", *TARGETS]
SCHEMES = ("javascript:", "data:", "vbscript:", "livescript:")
# Elements that run code, load active content or change how a page resolves links.
ACTIVE = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math",
          "base", "form", "input", "button", "select", "textarea", "meta", "link", "style",
          "portal", "template", "noscript", "param", "xml", "import"}
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
TAG = re.compile(r"<\s*[a-zA-Z!/?]")
ENTITY = re.compile(r"&(?:[a-zA-Z]+|#[0-9]+|#x[0-9a-fA-F]+);")
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
XHTML = "{http://www.w3.org/1999/xhtml}"


# --- what "executable" means, checked on parsed HTML ---------------------------------

def squash(value: str) -> str:
    """A URL or style value as a browser reads it: no controls or spaces, lower case."""
    return "".join(ch for ch in html.unescape(value) if ch > " " and ch != "\x7f").lower()


def dangerous_url(value: str) -> bool:
    return squash(value).startswith(SCHEMES)


class ActiveContent(html.parser.HTMLParser):
    """Tokenises HTML as a browser does and lists everything that could run.

    ``document=True`` allows the page template's own <meta>, <link> and <style> in
    <head>; content fragments may hold none of them.
    """

    def __init__(self, document: bool = False):
        super().__init__(convert_charrefs=True)
        self.document = document
        self.in_head = False
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "head":
            self.in_head = True
        if tag in ACTIVE and not (self.document and self.in_head
                                  and tag in ("meta", "link", "style")):
            self.problems.append(f"<{tag}> element")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.problems.append(f"{name}= on <{tag}>")
            if dangerous_url(value):
                self.problems.append(f"{name}={value[:60]!r} on <{tag}>")
            if "expression(" in squash(value) or "url(javascript" in squash(value):
                self.problems.append(f"{name}={value[:60]!r} on <{tag}>")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "head":
            self.in_head = False

    def handle_data(self, data):
        if self.lasttag in ("style", "script") and (
                "expression(" in squash(data) or "javascript:" in squash(data)):
            self.problems.append(f"<{self.lasttag}> text {data[:60]!r}")


def active_content(markup: str, document: bool = False) -> list[str]:
    scan = ActiveContent(document)
    scan.feed(markup)
    scan.close()
    # A second opinion from libxml2's parser, which builds the tree a little differently.
    root = (lxml.html.document_fromstring(markup) if document
            else lxml.html.fragment_fromstring(markup or "<p></p>", create_parent="div"))
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower().rsplit("}", 1)[-1]
        in_head = any(a.tag == "head" for a in el.iterancestors())
        if tag in ACTIVE and not (document and in_head and tag in ("meta", "link", "style")):
            scan.problems.append(f"<{tag}> element (lxml)")
        for name, value in el.attrib.items():
            if name.lower().rsplit("}", 1)[-1].startswith("on") or dangerous_url(value):
                scan.problems.append(f"{name}={value[:60]!r} on <{tag}> (lxml)")
    return sorted(set(scan.problems))


# --- reading every output ----------------------------------------------------------------

def outputs(feeds: Path) -> list[Path]:
    return sorted(p for p in feeds.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(feeds).parts))


def catalogs(config) -> list[Path]:
    return [config.translations_dir / lang / "LC_MESSAGES" / "news.po" for lang in TARGETS]


def well_formed(path: Path) -> list[str]:
    """Parse one output the strict way; returns what is wrong with it."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"not UTF-8: {exc}"]
    problems = [f"XML-illegal character {m.group()!r}" for m in XML_ILLEGAL.finditer(text)][:3]
    if path.suffix in (".xml", ".opml"):
        try:
            etree.fromstring(data)
        except etree.XMLSyntaxError as exc:
            problems.append(f"not well-formed XML: {exc}")
        if path.suffix == ".xml":
            parsed = feedparser.parse(data)
            if parsed.bozo:
                problems.append(f"feedparser bozo: {parsed.bozo_exception}")
    elif path.suffix == ".json":
        try:
            json.loads(text)
        except ValueError as exc:
            problems.append(f"invalid JSON: {exc}")
    elif path.suffix == ".html":
        if not text.rstrip().endswith("</html>"):
            problems.append("incomplete HTML")
    elif path.suffix == ".po":
        polib.pofile(text)
        msgfmt = shutil.which("msgfmt")
        if msgfmt:
            check = subprocess.run([msgfmt, "-c", "-o", "/dev/null", str(path)],
                                   capture_output=True, text=True)
            if check.returncode:
                problems.append(f"msgfmt -c: {check.stderr.strip()[:300]}")
    return problems


@dataclass
class Shown:
    """One entry as one format shows it."""
    where: str
    title: str
    title_type: str | None
    html: list[str]  # HTML fields (content, description, ...)
    urls: list[str]  # every URL-valued field


def rss_entries(path: Path) -> list[Shown]:
    root = etree.fromstring(path.read_bytes())
    found = []
    for item in root.iter("item"):
        guid = item.find("guid")
        urls = [el.text or "" for el in item if el.tag in ("link", "comments")]
        if guid is not None and guid.get("isPermaLink", "true") != "false":
            urls.append(guid.text or "")
        urls += [v for el in item.iter() for k, v in el.attrib.items() if k in ("url", "href")]
        found.append(Shown(f"{path.name}", item.findtext("title") or "", None,
                           [el.text or "" for el in item if el.tag in ("description", CONTENT)],
                           urls))
    return found


def _atom_html(el) -> str:
    if el.get("type") == "xhtml":
        return "".join(etree.tostring(child, encoding="unicode") for child in el)
    return el.text or "" if el.get("type") == "html" else html.escape(el.text or "")


def atom_entries(path: Path) -> list[Shown]:
    root = etree.fromstring(path.read_bytes())
    found = []
    for entry in root.iter(f"{ATOM}entry"):
        title = entry.find(f"{ATOM}title")
        fields = [entry.find(f"{ATOM}{name}") for name in ("content", "summary")]
        found.append(Shown(
            path.name, "".join(title.itertext()), title.get("type"),
            [_atom_html(el) for el in fields if el is not None],
            [v for el in entry.iter() for k, v in el.attrib.items()
             if k in ("href", "src", "uri")] + [entry.findtext(f"{ATOM}id") or ""]))
    return found


def _json_urls(value, key: str = "") -> list[str]:
    if isinstance(value, dict):
        return [u for k, v in value.items() for u in _json_urls(v, k)]
    if isinstance(value, list):
        return [u for v in value for u in _json_urls(v, key)]
    if isinstance(value, str) and (key.endswith("url") or key in ("image", "icon", "favicon",
                                                                 "banner_image", "id")):
        return [value]
    return []


def json_entries(path: Path) -> list[Shown]:
    document = json.loads(path.read_text("utf-8"))
    return [Shown(path.name, item.get("title", ""), None, [item.get("content_html", "")],
                  _json_urls(item)) for item in document["items"]]


def entries(feeds: Path, lang: str) -> list[Shown]:
    folder = feeds / lang
    found = []
    for path in sorted(folder.glob("rss*.xml")):
        found += rss_entries(path)
    for path in sorted(folder.glob("atom*.xml")):
        found += atom_entries(path)
    for path in sorted(folder.glob("feed*.json")):
        found += json_entries(path)
    for shown in found:
        shown.where = f"{lang}/{shown.where}"
    return found


def plain_title_problems(title: str, title_type: str | None = None) -> list[str]:
    problems = []
    if title_type not in (None, "text"):
        problems.append(f"title type={title_type}")
    if TAG.search(title.replace("<![CDATA[", "")):
        problems.append("markup in the title")
    if ENTITY.search(title):
        problems.append("an escaped entity shows in the title")
    if XML_ILLEGAL.search(title) or any(c in title for c in "\n\r\t"):
        problems.append("control characters in the title")
    if not title.strip() or title != title.strip():
        problems.append("empty or padded title")
    return problems


def own_translations(root: Path) -> dict:
    """A private copy of the UI catalogs: news.po of hostile items stays out of the repo."""
    target = root / "translations"
    shutil.copytree(ROOT / "translations", target,
                    ignore=shutil.ignore_patterns("news.po", "*.lock"))
    return {"dir": str(target)}


# --- the corpus cycle ---------------------------------------------------------------------

@dataclass
class World:
    config: object
    report: object
    seconds: float
    site: Site


@pytest.fixture(scope="module")
def world(tmp_path_factory, lexicon_package):
    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(HOSTILE / "site", root / "site")
    shutil.copytree(HOSTILE / "feeds", root / "site" / "feeds")
    site = Site(root / "site")
    config = make_config(root, languages={"targets": TARGETS},
                         translations=own_translations(root), sources=[
        {"name": "desk", "type": "files", "path": str(HOSTILE / "items")},
        {"name": "wire", "type": "feed", "url": site.url + "feeds/hostile.rss"},
        {"name": "atom", "type": "feed", "url": site.url + "feeds/hostile.atom"},
        {"name": "laughs", "type": "feed", "url": site.url + "feeds/billion-laughs.rss"},
        {"name": "xxe", "type": "feed", "url": site.url + "feeds/external-entity.rss"},
        {"name": "web", "type": "html", "url": site.url + "news/index.html",
         "selectors": dict(SAMPLE_SELECTORS)},
    ], output={"dir": "feeds", "max_items": 8, "archive_size": 6})
    install_file(lexicon_package, config.argos.packages_dir)
    started = time.monotonic()
    report = run_once(config, now=FROZEN_NOW)
    seconds = time.monotonic() - started
    yield World(config, report, seconds, site)
    site.close()


def test_the_corpus_cycle_is_fast_and_keeps_every_usable_item(world):
    counts = open_store(world.config.store_path).count_items()
    corpus = len([p for p in (HOSTILE / "items").iterdir() if p.suffix in (".md", ".html",
                                                                         ".json")])
    assert counts.get("desk") == corpus, (counts, world.report.errors)
    assert counts.get("wire") == 6 and counts.get("atom") == 2, (counts, world.report.errors)
    assert counts.get("web", 0) >= 1, (counts, world.report.errors)
    assert world.seconds < 120, f"the hostile corpus took {world.seconds:.0f} s"
    assert world.report.translated.get("ru", 0) > 0


def test_entity_expansion_and_external_entities_are_refused(world):
    errors = "\n".join(world.report.errors)
    for name in ("laughs", "xxe"):
        assert f"source '{name}'" in errors and "entit" in errors, errors
    counts = open_store(world.config.store_path).count_items()
    assert "laughs" not in counts and "xxe" not in counts
    passwd = Path("/etc/passwd").read_text().splitlines()[0]
    for path in outputs(world.config.output_dir) + catalogs(world.config):
        text = path.read_text("utf-8")
        assert "lollollol" not in text and passwd not in text, path


def test_every_output_is_well_formed(world):
    files = outputs(world.config.output_dir)
    assert {p.name for p in files} >= {"rss.xml", "atom.xml", "feed.json", "index.html",
                                        "widget.html", "index.opml", "atom-archive-1.xml"}
    problems = {str(p): well_formed(p) for p in files + catalogs(world.config)}
    assert not {k: v for k, v in problems.items() if v}


def test_atom_outputs_pass_the_rfc_4287_schema(world):
    schema, jing = require_shared(ATOM_RNC), require_tool("jing")
    files = [str(p) for p in outputs(world.config.output_dir) if p.name.startswith("atom")]
    result = subprocess.run([jing, "-c", str(schema), *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_executable_survives_in_any_format(world):
    feeds = world.config.output_dir
    problems: dict[str, list[str]] = {}
    for lang in LANGS:
        for shown in entries(feeds, lang):
            found = [p for fragment in shown.html for p in active_content(fragment)]
            found += [f"URL {u[:60]!r}" for u in shown.urls if dangerous_url(u)]
            if found:
                problems.setdefault(f"{shown.where}: {shown.title[:40]!r}", []).extend(found)
        for name in ("index.html", "widget.html"):
            found = active_content((feeds / lang / name).read_text("utf-8"), document=True)
            if found:
                problems[f"{lang}/{name}"] = found
    for name in ("index.html", "index.opml"):
        text = (feeds / name).read_text("utf-8")
        found = (active_content(text, document=True) if name.endswith("html")
                 else [u for u in re.findall(r'(?:url|href)="([^"]*)"', text)
                       if dangerous_url(u)])
        if found:
            problems[name] = found
    # Segments hold the blocks' inline markup: read them as a browser would, as
    # above. A regular expression here took the text of an escaped title
    # attribute ("&lt;img src=x onerror=alert(1)&gt;", inert) for a handler.
    for path in catalogs(world.config):
        for entry in polib.pofile(str(path)):
            for text in (entry.msgid, entry.msgstr):
                found = active_content(text)
                if found:
                    problems.setdefault(f"{path}: {entry.msgctxt}", []).extend(found)
    assert not problems, "executable content survived:\n" + "\n".join(
        f"  {where}: {found}" for where, found in problems.items())


def test_titles_are_plain_text_everywhere(world):
    feeds = world.config.output_dir
    problems = {}
    for lang in LANGS:
        for shown in entries(feeds, lang):
            found = plain_title_problems(shown.title, shown.title_type)
            if found:
                problems[f"{shown.where}: {shown.title[:50]!r}"] = found
        widget = lxml.html.document_fromstring((feeds / lang / "widget.html").read_bytes())
        page = lxml.html.document_fromstring((feeds / lang / "index.html").read_bytes())
        for el in widget.xpath("//li/*[@dir='auto']") + page.xpath("//article/h3/a"):
            if len(el):
                problems[f"{lang} html: {el.text_content()[:50]!r}"] = ["elements in a title"]
    assert not problems, problems


def test_markup_in_titles_is_stripped_not_escaped(world):
    titles = {s.title for s in entries(world.config.output_dir, "en")}
    assert "Scripts and handlers" in " ".join(titles)
    assert not [t for t in titles if "onmouseover" in t or "onerror" in t], titles


def test_cdata_end_markers_survive_as_text(world):
    for lang in ("en", "ar"):
        shown = entries(world.config.output_dir, lang)
        titles = [s.title for s in shown]
        for expected in ("A title with ]]> inside", "JSON title ]]> with a CDATA end"):
            matching = [t for t in titles if t.startswith(expected)]
            assert len(matching) == 3, (lang, expected, titles)  # rss, atom and json
        bodies = " ".join(h for s in shown for h in s.html)
        assert "]]&gt;" in bodies or "]]>" in bodies


def test_controls_and_lone_surrogates_are_removed_and_the_text_kept(world):
    shown = {s.title for s in entries(world.config.output_dir, "en")}
    # C0 controls, U+FFFE/U+FFFF go; NEL is a space; DEL is XML-legal (only discouraged).
    assert "Controlcharacters and noncharacters end" in {t.replace("\x7f", "") for t in shown}
    assert "Lone high and low surrogates, a pair \U0001F600 stays" in shown, shown


def test_bidi_overrides_cannot_leak_out_of_a_title_on_our_pages(world):
    """A title with U+202E (RIGHT-TO-LEFT OVERRIDE) must not reorder text around it: the
    override is gone (stripped at intake), or the title is isolated (dir / <bdi>) or
    alone in its block."""
    feeds = world.config.output_dir
    blocks = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "div", "article", "td", "dd"}
    problems = []
    for lang in LANGS:
        for name in ("index.html", "widget.html"):
            root = lxml.html.document_fromstring((feeds / lang / name).read_bytes())
            holders = [el for el in root.iter() if isinstance(el.tag, str)
                       and "\u202e" in (el.text or "")]
            # Stripping the override at intake is the other way to be safe.
            assert holders or "fdp.exe" in root.text_content(), \
                f"{lang}/{name}: the bidi title is missing"
            for el in holders:
                chain = [el, *el.iterancestors()]
                if any(a.get("dir") or a.tag == "bdi" for a in chain[:2]):
                    continue
                block = next(a for a in chain if a.tag in blocks)
                if block.text_content().strip() != el.text_content().strip():
                    problems.append(f"{lang}/{name}: <{el.tag}> {el.text_content()[:40]!r}")
    assert not problems, problems


# --- field values, one per cycle --------------------------------------------------------------

FIELDS = sorted(p.stem for p in (HOSTILE / "fields").glob("*.json"))


@pytest.mark.parametrize("case", FIELDS)
def test_a_hostile_field_value_never_breaks_a_cycle(tmp_path, case):
    folder = tmp_path / "items"
    folder.mkdir()
    shutil.copy(HOSTILE / "fields" / f"{case}.json", folder / f"{case}.json")
    (folder / "normal.json").write_text(json.dumps({
        "title": "The normal neighbour", "date": "2024-09-01T10:00:00+03:00",
        "guid": "normal", "url": "https://example.org/normal", "body": "<p>Fine.</p>"}))
    config = make_config(tmp_path, languages={"targets": ["ru"]},
                         translations=own_translations(tmp_path),
                         sources=[{"name": "desk", "type": "files", "path": "items"}])
    try:
        report = run_once(config, now=FROZEN_NOW)
    except Exception as exc:  # noqa: BLE001 - the point: nothing may escape a cycle
        raise AssertionError(f"{case}: the cycle crashed, so no source is published any "
                             f"more: {type(exc).__name__}: {exc}") from None
    feeds = config.output_dir
    problems = {str(p): well_formed(p) for p in outputs(feeds)}
    assert not {k: v for k, v in problems.items() if v}
    for lang in ("en", "ru"):
        shown = entries(feeds, lang)
        assert sum(s.title == "The normal neighbour" for s in shown) == 3, (lang, report)
        found = [f"{s.where}: {p}" for s in shown for h in s.html for p in active_content(h)]
        found += [f"{s.where}: URL {u!r}" for s in shown for u in s.urls if dangerous_url(u)]
        found += [f"{s.where}: {p}" for s in shown for p in plain_title_problems(s.title)
                  if not (case == "title-only-invisible" and "empty" in p)]
        for name in ("index.html", "widget.html"):
            found += [f"{lang}/{name}: {p}" for p in active_content(
                (feeds / lang / name).read_text("utf-8"), document=True)]
        assert not found, f"{case}: {found}"


# --- size: a 20,000-entry feed and a 1 MB title ---------------------------------------------

def test_a_twenty_thousand_entry_feed_is_capped_and_fast(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    entries_xml = "".join(
        f"<item><title>Listing entry {n}</title><link>https://wire.example/{n}</link>"
        f"<guid>https://wire.example/{n}</guid><pubDate>Mon, 02 Sep 2024 10:00:00 GMT"
        f"</pubDate><description>Entry {n}.</description></item>" for n in range(20_000))
    (root / "listing.rss").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>'
        f"<link>https://wire.example/</link><description>d</description>{entries_xml}"
        "</channel></rss>", encoding="utf-8")
    site = Site(root)
    try:
        config = make_config(tmp_path, languages={"targets": ["ru"]},
                             translations=own_translations(tmp_path), sources=[
            {"name": "listing", "type": "feed", "url": site.url + "listing.rss",
             "max_items": 25}])
        started = time.monotonic()
        report = run_once(config, now=FROZEN_NOW)
        first = time.monotonic() - started
        started = time.monotonic()
        again = run_once(config, now=FROZEN_NOW)
        second = time.monotonic() - started
    finally:
        site.close()
    assert open_store(config.store_path).count_items() == {"listing": 25}, report.errors
    assert first < 60, f"a 20,000-entry feed took {first:.0f} s"
    assert again.new == 0 and second < 10, f"the unchanged feed took {second:.0f} s"
    assert len(json.loads((config.output_dir / "en" / "feed.json").read_text())["items"]) \
        <= config.max_items


def test_a_one_megabyte_title_is_published_validly_within_a_minute(tmp_path, lexicon_package):
    """Run as a subprocess with a deadline: the title also goes through translation."""
    (tmp_path / "items").mkdir()
    title = ("The Secretary General said <b>CSTO</b> news. " * 25_000)[:1_000_000]
    (tmp_path / "items" / "huge.json").write_text(json.dumps({
        "title": title, "date": "2024-09-01T10:00:00+03:00", "guid": "huge",
        "url": "https://example.org/huge", "body": "<p>A short body.</p>"}))
    (tmp_path / "items" / "normal.json").write_text(json.dumps({
        "title": "The normal neighbour", "date": "2024-09-02T10:00:00+03:00",
        "guid": "normal", "url": "https://example.org/normal", "body": "<p>Fine.</p>"}))
    (tmp_path / "config.toml").write_text('''
[site]
title = "CSTO News"
base_url = "https://feeds.example.org/"
[languages]
targets = ["ru"]
[[sources]]
name = "desk"
type = "files"
path = "items"
[translation]
chain = ["argos"]
''')
    own_translations(tmp_path)
    install_file(lexicon_package, tmp_path / "var" / "argos-packages")
    started = time.monotonic()
    try:
        result = run_cli("once", cwd=tmp_path, check=False, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("a cycle with one 1 MB title did not finish within 60 s (sentence "
                    "splitting and translation of the title are unbounded); every source "
                    "waits behind it")
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    problems = {str(p): well_formed(p) for p in outputs(tmp_path / "feeds")}
    assert not {k: v for k, v in problems.items() if v}
    for lang in ("en", "ru"):
        titles = [s.title for s in entries(tmp_path / "feeds", lang)]
        assert titles.count("The normal neighbour") == 3, titles
        assert not [p for t in titles for p in plain_title_problems(t)]
    print(f"1 MB title: {seconds:.1f} s")
