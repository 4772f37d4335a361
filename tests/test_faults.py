"""Broken sources: each fault is served by a real HTTP server on 127.0.0.1 and goes
through the real pipeline (``run_once``, frozen clock).

A source-level fault must give one clear log line naming the source and URL,
show in ``status``, leave every published file byte-identical, back off
(honouring Retry-After) and recover by itself. An item-level fault must give
one warning naming the source, URL, item and field, and lose nothing.
"""
from __future__ import annotations

import logging
import socket
import struct
import time
import zlib
from datetime import datetime, timedelta, timezone

import ftfy.bad_codecs  # noqa: F401  (registers "sloppy-windows-1252", to make mojibake)
import pytest

from syndicator.cycle import run_once
from syndicator.sources.charset import decode_html
from syndicator.status import collect_status
from syndicator.rows import from_iso
from syndicator.store import open_store

from conftest import SAMPLE_SITE, feed_source, html_source, make_config

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # the good cycle
T1 = T0 + timedelta(hours=1)  # the faulty one
HTTP = {"timeout": 3, "retries": 0, "backoff": 0.01, "max_bytes": 1_000_000}
SHORT = {"timeout": 0.5}  # for the timeout faults only: a loaded machine may be slow
MB = 1 << 20
STATEMENT = "Заявление Генерального секретаря ОДКБ"
STATEMENT_BODY = ("Генеральный секретарь Организации Договора о коллективной безопасности "
                  "выступил с заявлением в связи с ситуацией в регионе. Государства-члены "
                  "подтвердили приверженность целям и принципам Устава Организации.")


class Pipeline:
    """One source (feed or html listing) on the served sample site, plus its store."""

    def __init__(self, tmp_path, site, kind: str, config=None, **http):
        make = feed_source if kind == "feed" else html_source
        self.site, self.name = site, f"{kind}-source"
        self.path = "/news.rss" if kind == "feed" else "/news/index.html"
        self.url = site.url + self.path[1:]
        self.config = config or make_config(
            tmp_path, sources=[make(site, name=self.name)], languages={"targets": []},
            http={**HTTP, **http})

    def cycle(self, now: datetime):
        return run_once(self.config, now=now)

    def feeds(self) -> dict[str, bytes]:
        out = self.config.output_dir
        return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def hits(self, path: str | None = None) -> int:
        return sum(1 for p, _ in self.site.handler.requests if p == (path or self.path))

    def state(self) -> dict:
        return next(s for s in open_store(self.config.store_path).source_states()
                    if s["name"] == self.name)

    def status(self) -> dict:
        data = collect_status(self.config)
        return {**next(s for s in data["sources"] if s["name"] == self.name),
                "run_errors": data["last_run"]["errors"]}

    def items(self) -> dict:
        return {i.title: i for i in open_store(self.config.store_path).recent_items(None)}


@pytest.fixture
def pipeline(tmp_path, site):
    def build(kind: str = "feed", **http) -> Pipeline:
        made = Pipeline(tmp_path, site, kind, **http)
        assert made.cycle(T0).errors == ()
        assert len(made.items()) == 6
        return made
    return build


def loud(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def one_line(caplog, *parts: str) -> str:
    """Exactly one warning or error was logged, and it names every part."""
    [record] = loud(caplog)
    line = record.getMessage()
    for part in parts:
        assert part in line, f"{part!r} not in {line!r}"
    return line


# --- serving faults ------------------------------------------------------------------

def serve(site, path: str, respond) -> None:
    """Route ``path`` to ``respond(handler)`` instead of the site's files."""
    handler = site.handler
    if "special" not in vars(handler):
        handler.special, plain = {}, handler.do_GET

        def do_get(self):
            if self.path not in self.special:
                return plain(self)
            self.requests.append((self.path, ""))
            return self.special[self.path](self)
        handler.do_GET = do_get
    handler.special[path] = respond


def heal(site) -> None:
    site.handler.faults.clear()
    vars(site.handler).get("special", {}).clear()


def slow(handler) -> None:
    time.sleep(1.5)  # well past http.timeout (0.5 s)
    try:
        handler.send_error(504)
    except OSError:
        pass  # the client gave up long ago, as it should


def reset(handler) -> None:
    # SO_LINGER 0 makes close() send a TCP RST instead of a FIN: a connection reset.
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


def fifty_megabytes(sent: list[int]):
    def respond(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(50 * MB))
        handler.end_headers()
        chunk = b" " * 65536  # streamed: the test process never holds 50 MB
        try:
            for _ in range(50 * MB // len(chunk)):
                handler.wfile.write(chunk)
                sent.append(len(chunk))
        except OSError:
            pass  # the client hung up at its cap
    return respond


def gzip_bomb(size: int = 50 * MB) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    zeros = bytes(MB)
    return b"".join([packer.compress(zeros) for _ in range(size // MB)] + [packer.flush()])


BILLION_LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n'
                  + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 or "")) * 10}">\n'
                            for i in range(1, 10))
                  + ']>\n<rss version="2.0"><channel><title>t</title><item><title>&lol9;'
                  '</title><guid>x</guid></item></channel></rss>').encode()
EMPTY_RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>CSTO News</title>'
             b'<link>https://en.odkb-csto.org/</link><description>d</description>'
             b'</channel></rss>')
XML = {"Content-Type": "application/rss+xml"}

SOURCE_FAULTS = {
    "timeout": (lambda s, p: serve(s, p, slow), "timed out after 0.5s"),
    "connection reset": (lambda s, p: serve(s, p, reset), "connection failed"),
    "404": (lambda s, p: s.fault(p, 404, b"gone"), "HTTP 404 Not Found"),
    "410": (lambda s, p: s.fault(p, 410, b"gone"), "HTTP 410 Gone"),
    "500": (lambda s, p: s.fault(p, 500, b"oops"), "HTTP 500"),
    "503": (lambda s, p: s.fault(p, 503, b"busy"), "HTTP 503"),
    "redirect loop": (lambda s, p: s.fault(p, 302, b"", Location=p), "redirect loop"),
    "gzip bomb": (lambda s, p: s.fault(p, 200, gzip_bomb(), **XML, **{"Content-Encoding": "gzip"}),
                  "larger than http.max_bytes"),
    "unreadable XML": (lambda s, p: s.fault(p, 200, b"\x00<<rss>>\x01 no", **XML), "not a feed"),
    "billion laughs": (lambda s, p: s.fault(p, 200, BILLION_LAUGHS, **XML),
                       "declares XML entities"),
    "empty feed": (lambda s, p: s.fault(p, 200, EMPTY_RSS, **XML),
                   "listed 6 item(s) last time"),
    "empty body": (lambda s, p: s.fault(p, 200, b"", **XML), "the response body is empty"),
}


def listing(page: str, *changes: tuple[str, str]) -> bytes:
    text = (SAMPLE_SITE / "news" / page).read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    return text.encode()


RENAMED = ('class="news-item"', 'class="news-entry"')
HTML_FAULTS = {  # listing pages served in place of the good ones
    "layout changed": {"/news/index.html": listing("index.html", RENAMED),
                       "/news/page-2.html": listing("page-2.html", RENAMED)},
    "empty listing": {"/news/index.html": listing(
        "index.html", ('<li class="news-item">', '<li class="gone" hidden>'),
        ('class="next"', 'class="no-more"'))},
}


def assert_fault_handled(p: Pipeline, caplog, expected: str, wait: float = 60) -> datetime:
    """The faulty cycle: one error line, status, unchanged feeds, backoff. Returns the
    time of the next attempt."""
    before = p.feeds()
    caplog.clear()
    report = p.cycle(T1)
    line = one_line(caplog, f"'{p.name}'", p.url, expected)
    assert loud(caplog)[0].levelno == logging.ERROR
    assert report.errors == (line,)
    assert p.feeds() == before  # nothing published was touched, nothing deleted
    status = p.status()
    assert status["error"] == line and status["failures"] == 1 and status["items"] == 6
    next_attempt = from_iso(p.state()["next_attempt"])
    assert next_attempt >= T1 + timedelta(seconds=wait)
    hits = p.hits()
    p.cycle(T1 + timedelta(seconds=1))  # right away: the source is backing off
    assert p.hits() == hits
    return next_attempt


def assert_recovers(p: Pipeline, caplog, when: datetime) -> None:
    before = p.feeds()
    heal(p.site)
    caplog.clear()
    report = p.cycle(when + timedelta(seconds=1))
    assert loud(caplog) == [] and report.errors == ()
    assert p.status()["error"] == "" and p.state()["failures"] == 0
    assert p.feeds() == before


@pytest.mark.parametrize("kind, fault", [("feed", f) for f in SOURCE_FAULTS]
                         + [("html", "500"), ("html", "timeout")])
def test_source_fault_is_reported_backs_off_and_recovers(pipeline, caplog, kind, fault):
    p = pipeline(kind, **(SHORT if fault == "timeout" else {}))
    install, expected = SOURCE_FAULTS[fault]
    install(p.site, p.path)
    assert_recovers(p, caplog, assert_fault_handled(p, caplog, expected))


@pytest.mark.parametrize("fault", HTML_FAULTS)
def test_listing_that_matches_nothing_is_loud_and_keeps_published_items(pipeline, caplog,
                                                                        fault):
    p = pipeline("html")
    p.cycle(T0 + timedelta(minutes=30))  # every article a 304: still 6 listed, not 0
    for path, body in HTML_FAULTS[fault].items():
        p.site.fault(path, 200, body, **{"Content-Type": "text/html"})
    when = assert_fault_handled(p, caplog, "matched no article links")
    assert "listed 6 item(s) last time" in p.status()["error"]
    assert_recovers(p, caplog, when)


def test_a_first_listing_page_that_stops_matching_is_reported_while_later_ones_match(
        pipeline, caplog):
    p = pipeline("html")
    p.site.fault("/news/index.html", 200, listing("index.html", RENAMED),
                 **{"Content-Type": "text/html"})
    caplog.clear()
    report = p.cycle(T1)
    line = one_line(caplog, f"'{p.name}'", p.url, "first listing page matched no items",
                    "field \"selectors.item (")
    assert report.errors == (line,) and p.status()["error"] == ""


@pytest.mark.parametrize("asked, waited", [(600, 600), (7200, 3600)])  # at most an hour
def test_retry_after_is_honoured_without_sleeping_through_it(pipeline, caplog, asked, waited):
    p = pipeline("feed", retries=1)
    p.site.fault(p.path, 429, b"slow down", **{"Retry-After": str(asked)})
    started = time.monotonic()
    when = assert_fault_handled(p, caplog, f"HTTP 429 Too Many Requests; Retry-After {asked}s",
                                wait=waited)
    assert time.monotonic() - started < 10  # the cycle did not sleep for 600 s
    hits = p.hits()
    p.cycle(T1 + timedelta(seconds=300))  # past the usual 60 s, before Retry-After
    assert p.hits() == hits
    assert_recovers(p, caplog, when)


def test_fifty_megabyte_body_is_cut_off_at_the_cap(pipeline, caplog):
    p = pipeline("feed")
    sent: list[int] = []
    serve(p.site, p.path, fifty_megabytes(sent))
    when = assert_fault_handled(p, caplog, "larger than http.max_bytes (1000000 bytes)")
    assert sum(sent) < 50 * MB  # the client stopped reading; the server could not finish
    assert_recovers(p, caplog, when)


# --- item faults: the item is kept, one warning names it -------------------------------

def rss_item(slug: str, title: str, date: str | None = None) -> str:
    url = f"https://en.odkb-csto.org/news/{slug}/"
    pub = f"<pubDate>{date}</pubDate>" if date else ""
    return (f"<item><title>{title}</title><link>{url}</link><guid>{url}</guid>{pub}"
            "<description>The council met.</description></item>")


def publish_rss(p: Pipeline, *items: str, encoding: str = "utf-8") -> None:
    text = (SAMPLE_SITE / "news.rss").read_text(encoding="utf-8")
    text = text.replace("</channel>", "".join(items) + "</channel>")
    text = text.replace("utf-8", encoding, 1)  # the XML declaration
    (p.site.root / "news.rss").write_bytes(text.encode(encoding, "xmlcharrefreplace"))


def assert_kept(p: Pipeline, caplog, title: str, *parts: str) -> str:
    """The new item is published next to the old ones, with one warning naming it."""
    caplog.clear()
    report = p.cycle(T1)
    line = one_line(caplog, f"'{p.name}'", p.url, *parts)
    assert loud(caplog)[0].levelno == logging.WARNING and report.errors == (line,)
    assert p.status()["run_errors"] == [line] and p.status()["error"] == ""
    rss = (p.config.output_dir / "en" / "rss.xml").read_text(encoding="utf-8")
    assert title in rss and "Rock-2024" in rss and len(p.items()) == 7
    return line


FIVE_UTC = datetime(2024, 9, 5, 5, tzinfo=timezone.utc)
DATES = {  # pubDate: (the warning, or None for none; the published date)
    "no date": (None, "no date", T1),
    "unparseable date": ("the day before yesterday",
                         "'the day before yesterday' could not be parsed", T1),
    "future date": ("Mon, 01 Jan 2035 00:00:00 +0000", "is in the future", T1),
    "other timezone": ("Thu, 05 Sep 2024 10:00:00 +05:00", None, FIVE_UTC),
    "other timezone, RFC 822": ("Thu, 05 Sep 2024 10:00:00 +0500", None, FIVE_UTC),
}


@pytest.mark.parametrize("case", DATES)
def test_item_dates_are_utc_or_the_first_seen_time_with_a_warning(pipeline, caplog, case):
    p = pipeline("feed")
    date, message, published = DATES[case]
    publish_rss(p, rss_item("council", "Council meets", date))
    if message:
        assert_kept(p, caplog, "Council meets", message,
                    "item 'https://en.odkb-csto.org/news/council/'", "field 'date'")
    else:
        caplog.clear()
        assert p.cycle(T1).errors == () and loud(caplog) == []
    assert p.items()["Council meets"].published == published


def test_duplicate_guid_keeps_the_first(pipeline, caplog):
    p = pipeline("feed")
    date = "Thu, 05 Sep 2024 10:00:00 +0300"
    publish_rss(p, rss_item("council", "First copy", date),
                rss_item("council", "Second copy", date))
    assert_kept(p, caplog, "First copy", "duplicate GUID; kept the first",
                "item 'https://en.odkb-csto.org/news/council/'", "field 'guid'")
    assert "Second copy" not in p.items()


def test_malformed_xml_that_can_be_read_keeps_entries_with_a_warning(pipeline, caplog):
    p = pipeline("feed")
    before = p.items()
    publish_rss(p, rss_item("talks", "Talks & consultations", "Thu, 05 Sep 2024 10:00:00 +0300"))
    assert_kept(p, caplog, "Talks &amp; consultations", "malformed XML")
    after = p.items()
    assert all(after[t].content_hash == item.content_hash for t, item in before.items())


def test_mojibake_is_repaired_with_a_warning(pipeline, caplog):
    p = pipeline("feed")
    garbled = STATEMENT.encode("utf-8").decode("sloppy-windows-1252")
    assert garbled.startswith("Ð—Ð°Ñ")
    publish_rss(p, rss_item("statement", garbled, "Thu, 05 Sep 2024 10:00:00 +0300"))
    assert_kept(p, caplog, STATEMENT, "mis-decoded", "item 'https://en.odkb-csto.org/news/"
                "statement/'", "field 'title'")


# --- charsets --------------------------------------------------------------------------

def russian_page(meta: str) -> str:
    return (f"<!DOCTYPE html><html><head>{meta}<title>{STATEMENT}</title>"
            '<link rel="canonical" href="https://en.odkb-csto.org/news/ru-statement/"></head>'
            f'<body><article><h1 class="news-title">{STATEMENT}</h1>'
            '<div class="news-date">05.09.2024</div>'
            f'<div class="news-body"><p>{STATEMENT_BODY}</p></div></article></body></html>')


@pytest.mark.parametrize("encoding", ["windows-1251", "koi8-r"])
@pytest.mark.parametrize("declared", ["header", "meta", "nowhere"])
def test_cyrillic_html_pages_decode_in_any_declared_or_detected_charset(pipeline, caplog,
                                                                        encoding, declared):
    p = pipeline("html")
    meta = f'<meta charset="{encoding}">' if declared == "meta" else ""
    ctype = f"text/html; charset={encoding}" if declared == "header" else "text/html"
    p.site.fault("/news/ru-statement.html", 200, russian_page(meta).encode(encoding),
                 **{"Content-Type": ctype})
    index = p.site.root / "news" / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace(
        '<li class="news-item">', '<li class="news-item"><a class="news-link" '
        'href="ru-statement.html">new</a></li><li class="news-item">', 1), encoding="utf-8")
    caplog.clear()
    assert p.cycle(T1).errors == () and loud(caplog) == []
    item = p.items()[STATEMENT]
    assert STATEMENT_BODY in item.body
    assert STATEMENT in (p.config.output_dir / "en" / "rss.xml").read_text(encoding="utf-8")


def test_a_stray_byte_does_not_turn_a_utf8_page_into_a_guess():
    page = russian_page('<meta charset="utf-8">' + "<p>filler</p>" * 300).encode()
    text, charset = decode_html(page.replace(b"filler", b"fil\xffler", 1), "text/html")
    assert charset == "utf-8" and STATEMENT_BODY in text and "fil\ufffdler" in text


def russian_feed(declaration: str) -> str:
    url = "https://odkb-csto.org/news/ru-statement/"
    return (f'<?xml version="1.0"{declaration}?><rss version="2.0"><channel>'
            "<title>Новости ОДКБ</title><link>https://odkb-csto.org/</link>"
            f"<description>Новости</description><item><title>{STATEMENT}</title>"
            f"<link>{url}</link><guid>{url}</guid><pubDate>Thu, 05 Sep 2024 10:00:00 +0300"
            f"</pubDate><description>{STATEMENT_BODY}</description></item></channel></rss>")


@pytest.mark.parametrize("encoding", ["windows-1251", "koi8-r"])
@pytest.mark.parametrize("wrong", ["header", "xml"])
def test_a_feed_whose_declared_charset_is_wrong_is_read_in_its_own_with_a_warning(
        pipeline, caplog, encoding, wrong):
    p = pipeline("feed")
    declaration = ' encoding="utf-8"' if wrong == "xml" else ""
    ctype = "application/rss+xml" + ("; charset=utf-8" if wrong == "header" else "")
    p.site.fault(p.path, 200, russian_feed(declaration).encode(encoding), **{"Content-Type": ctype})
    caplog.clear()
    report = p.cycle(T1)
    assert STATEMENT_BODY in p.items()[STATEMENT].summary
    line = one_line(caplog, f"'{p.name}'", p.url, "field 'charset'", "declares the charset utf-8")
    assert loud(caplog)[0].levelno == logging.WARNING and report.errors == (line,)


@pytest.mark.parametrize("encoding", ["windows-1251", "koi8-r"])
@pytest.mark.parametrize("declared", ["header", "xml", "nowhere"])
def test_cyrillic_feeds_decode_in_any_declared_or_detected_charset(pipeline, caplog, encoding,
                                                                   declared):
    p = pipeline("feed")
    declaration = f' encoding="{encoding}"' if declared == "xml" else ""
    ctype = f"application/rss+xml; charset={encoding}" if declared == "header" else XML[
        "Content-Type"]
    p.site.fault(p.path, 200, russian_feed(declaration).encode(encoding), **{"Content-Type": ctype})
    caplog.clear()
    assert p.cycle(T1).errors == () and loud(caplog) == []
    assert STATEMENT_BODY in p.items()[STATEMENT].summary


# --- hosts: the fetcher cannot be turned against other addresses -----------------------

def other_host_listing(p: Pipeline) -> None:
    """The listing's first article link points at the same server under another name."""
    other = p.site.url.replace("127.0.0.1", "localhost")
    index = p.site.root / "news" / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace(
        'href="../news/2024-09-05-rock-2024.html"', f'href="{other}news/elsewhere.html"'),
        encoding="utf-8")


def html_config(tmp_path, site, hosts: list[str]):
    source = html_source(site, name="html-source", allowed_hosts=hosts)
    settings = {"languages": {"targets": []}, "http": HTTP}
    return make_config(tmp_path, sources=[source], **settings)


@pytest.mark.parametrize("hosts, followed", [([], 0), (["localhost"], 1)])
def test_article_links_to_other_hosts_need_allowed_hosts(tmp_path, site, caplog, hosts,
                                                         followed):
    p = Pipeline(tmp_path, site, "html", config=html_config(tmp_path, site, hosts))
    other_host_listing(p)
    p.cycle(T0)
    assert p.hits("/news/elsewhere.html") == followed


def test_redirects_to_files_or_other_hosts_are_refused(pipeline, caplog):
    p = pipeline("feed")
    p.site.fault(p.path, 302, b"", Location="file:///etc/hostname")
    assert_fault_handled(p, caplog, "only http(s) is followed")
    heal(p.site)
    other = p.site.url.replace("127.0.0.1", "localhost") + "news.rss"
    p.site.fault(p.path, 302, b"", Location=other)
    caplog.clear()
    p.cycle(T1 + timedelta(hours=2))
    one_line(caplog, "not the source's own", "allowed_hosts")
