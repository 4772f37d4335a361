"""The news box for partner sites, in a real headless Chromium (Playwright).

One real cycle publishes the sample site plus the hostile corpus
(``tests/hostile/``, read through a ``files`` source) in en, ru and ar.
``syndicator.web.make_app`` serves ``feeds/`` on one 127.0.0.1 port; a partner
page on another port, hence another origin, embeds ``ru/widget.html`` in an
iframe and ``embed.js`` with its divs, the way the README tells partners to.

Chromium is Debian's (/usr/bin/chromium); ``playwright install`` is never needed.
"""
from __future__ import annotations

import html
import json
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import uvicorn

from conftest import FROZEN_NOW, SAMPLE_SITE, Site, html_source, make_config
from syndicator.cycle import run_once
from syndicator.publish.i18n import date_line
from syndicator.web import ServeConfig, make_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
HOSTILE = Path(__file__).resolve().parent / "hostile"
TITLES = [line for line in (HOSTILE / "titles.txt").read_text("utf-8").splitlines()
          if line.strip()]
URLS = [line for line in (HOSTILE / "urls.txt").read_text("utf-8").splitlines()
        if line.strip()]
ZONE = "Europe/Moscow"  # make_config's site time zone
WIDGET_LIMIT = 10       # syndicator.publish.WIDGET_ITEMS

# Every row of a rendered list, the same way for the iframe and the embed:
# the title element is the one with dir="auto" (a link, or text without a safe link).
ROWS_JS = """root => Array.from(root.querySelectorAll("li"), li => {
  const title = li.querySelector("[dir=auto]"), time = li.querySelector("time");
  return {title: title.textContent, href: title.getAttribute("href"), date: time.textContent,
          moment: new Date(time.dateTime).toISOString(), lang: li.lang,
          elements: li.querySelectorAll("*").length};
})"""
INTL_JS = """([iso, lang, zone]) =>
  new Intl.DateTimeFormat(lang, {dateStyle: "long", timeZone: zone}).format(new Date(iso))"""


def _require_playwright():
    """Missing browser tooling is a failure with the fix, never a skip."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("Playwright for Python is missing: pip install playwright "
                    "(do not run `playwright install`: the tests use Debian's chromium)")
    return sync_api


class _Uvicorn:
    """The real serve app under uvicorn in a thread, on an ephemeral loopback port."""

    def __init__(self, config: ServeConfig):
        self.server = uvicorn.Server(uvicorn.Config(
            make_app(config), host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return "http://127.0.0.1:%d" % self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


def _write_hostile_source(folder: Path) -> None:
    """One Markdown file per hostile title, newest last, some with hostile links.

    Titles are HTML-escaped, as a feed that escapes its titles delivers them, so
    the cleaned title is the corpus line itself: markup that must stay text.
    """
    folder.mkdir()
    for i, title in enumerate(TITLES):
        link = URLS[i] if i < len(URLS) else f"https://partner.example/news/{i}"
        (folder / f"{i:02}.md").write_text(
            f"---\ntitle: {json.dumps(html.escape(title), ensure_ascii=False)}\n"
            f"date: 2024-09-{10 + i}\nguid: hostile-{i}\nurl: {json.dumps(link)}\n---\n"
            f"Body {i}.\n", encoding="utf-8")


def _partner_page(feeds: str) -> str:
    # The README's two snippets, plus a second div of another (RTL) language.
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Partner</title>
<link rel="icon" href="data:,"></head><body>
<iframe id="ru-widget" src="{feeds}/ru/widget.html" title="News" width="320" height="400"></iframe>
<iframe id="ar-widget" src="{feeds}/ar/widget.html" title="News" width="320" height="400"></iframe>
<div id="ru-embed" data-syndicator-lang="ru" data-limit="{WIDGET_LIMIT}"
     data-time-zone="{ZONE}"></div>
<div id="ar-embed" data-syndicator-lang="ar" data-limit="3"></div>
<script src="{feeds}/embed.js" defer></script>
</body></html>
"""


@dataclass
class World:
    feeds: Path
    partner: str         # origin of the partner pages
    feeds_url: str       # serve with the default CORS ("*")
    closed_url: str      # serve that allows only https://other.example


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A real cycle (sample site + hostile files; en, ru, ar), two serve apps, a partner."""
    root = tmp_path_factory.mktemp("widget")
    shutil.copytree(SAMPLE_SITE, root / "site")
    _write_hostile_source(root / "hostile")
    site = Site(root / "site")
    config = make_config(root, languages={"targets": ["ru", "ar"]}, sources=[
        html_source(site), {"name": "desk", "type": "files", "path": "hostile"}])
    report = run_once(config, now=FROZEN_NOW)
    site.close()
    assert report.errors == () and report.new == 6 + len(TITLES), report
    servers = [_Uvicorn(ServeConfig(root=config.output_dir)),
               _Uvicorn(ServeConfig(root=config.output_dir,
                                    cors_origins=("https://other.example",)))]
    feeds_url, closed_url = (server.start() for server in servers)
    (root / "partner").mkdir()
    (root / "partner" / "open.html").write_text(_partner_page(feeds_url), encoding="utf-8")
    (root / "partner" / "closed.html").write_text(_partner_page(closed_url), encoding="utf-8")
    partner = Site(root / "partner")
    yield World(config.output_dir, partner.url.rstrip("/"), feeds_url, closed_url)
    partner.close()
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    sync_api = _require_playwright()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              headless=True)
        yield chromium
        chromium.close()


@dataclass
class Visit:
    """A page and what it reported: thrown errors, console errors, network."""
    page: object
    errors: list = field(default_factory=list)
    console: list = field(default_factory=list)
    responses: dict = field(default_factory=dict)
    failed: list = field(default_factory=list)


def _visit(browser, url: str, **context) -> Visit:
    # A UTC, en-US reader: the dates must follow the feed, not the reader's locale.
    page = browser.new_context(timezone_id="UTC", locale="en-US", **context).new_page()
    visit = Visit(page)
    page.on("pageerror", lambda error: visit.errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and visit.console.append(m.text))
    page.on("response", lambda r: visit.responses.setdefault(r.url, r))
    page.on("requestfailed", lambda r: visit.failed.append(r.url))
    page.goto(url)
    # Every embed div has finished (ok or error), then late onerror/onload had their chance.
    page.wait_for_function("""() => Array.from(document.querySelectorAll(
        "[data-syndicator-lang]")).every(d => /^(ok|error)$/.test(d.dataset.syndicatorState))""")
    page.wait_for_load_state("networkidle")
    return visit


@pytest.fixture(scope="module")
def partner(browser, world):
    visit = _visit(browser, world.partner + "/open.html")
    yield visit
    visit.page.context.close()


def _rows(locator) -> list[dict]:
    return locator.evaluate(ROWS_JS)


def _frame(visit: Visit, lang: str):
    return visit.page.frame_locator(f"#{lang}-widget").locator("html")


def _published(world: World, lang: str, limit: int) -> list[dict]:
    """What the pipeline put in feed.json, with the link a renderer may show."""
    items = json.loads((world.feeds / lang / "feed.json").read_text("utf-8"))["items"]
    return [{"title": it["title"], "moment": datetime.fromisoformat(it["date_published"]),
             "lang": it["language"],
             "href": it["url"] if it["url"].lower().startswith(("http://", "https://"))
             else None} for it in items[:limit]]


def _check_items(rows: list[dict], expected: list[dict]) -> None:
    assert [(r["title"], r["href"], r["lang"]) for r in rows] == \
        [(e["title"], e["href"], e["lang"]) for e in expected]
    assert [datetime.fromisoformat(r["moment"]) for r in rows] == \
        [e["moment"] for e in expected]
    # A time and a title, nothing else: no markup from a title became elements.
    assert {r["elements"] for r in rows} == {2}


def _check_hostile_shown_as_text(rows: list[dict]) -> None:
    shown = {r["title"] for r in rows}
    assert {" ".join(t.split()) for t in TITLES} <= shown
    assert all(r["href"] is None or r["href"].startswith(("http://", "https://"))
               for r in rows)


def test_widget_iframe_shows_items_with_babel_dates(partner, world):
    rows = _rows(_frame(partner, "ru"))
    expected = _published(world, "ru", WIDGET_LIMIT)
    _check_items(rows, expected)
    assert [r["date"] for r in rows] == [date_line(e["moment"], "ru", ZONE) for e in expected]
    assert "сентября" in rows[0]["date"]
    _check_hostile_shown_as_text(rows)


def test_embed_shows_items_with_intl_dates(partner, world):
    rows = _rows(partner.page.locator("#ru-embed"))
    _check_items(rows, _published(world, "ru", WIDGET_LIMIT))
    intl = [partner.page.evaluate(INTL_JS, [r["moment"], "ru", ZONE]) for r in rows]
    assert [r["date"] for r in rows] == intl
    assert "сентября" in rows[0]["date"]
    _check_hostile_shown_as_text(rows)
    assert partner.page.locator("#ru-embed li").first.is_visible()  # <style> stayed text


def test_iframe_and_embed_agree(partner):
    """Babel (server) and Chromium's Intl (browser) give Russian readers the same dates."""
    widget, embed = _rows(_frame(partner, "ru")), _rows(partner.page.locator("#ru-embed"))
    # Babel's CLDR puts U+202F (narrow no-break space) before "г.", Chromium's
    # ICU a plain space: the same date to a reader, so compare words.
    assert [(r["title"], r["date"].split()) for r in widget] == \
        [(r["title"], r["date"].split()) for r in embed]


def test_hostile_titles_run_nothing(partner):
    page = partner.page
    for frame in page.frames:
        assert frame.evaluate("typeof window.__pwned") == "undefined", frame.url
    assert partner.errors == []
    # Escaping held, so the widget's CSP never had anything to block.
    assert not [m for m in partner.console if "Content Security Policy" in m]
    assert page.locator("img, svg, script:not([src]), #ru-embed iframe, style").count() == 0


def test_rtl_language_follows_babel_and_intl(partner, world):
    frame = _frame(partner, "ar")
    assert frame.evaluate("h => [h.lang, h.dir, getComputedStyle(h).direction]") == \
        ["ar", "rtl", "rtl"]
    rows = _rows(frame)
    expected = _published(world, "ar", WIDGET_LIMIT)
    _check_items(rows, expected)
    assert [r["date"] for r in rows] == [date_line(e["moment"], "ar", ZONE) for e in expected]
    assert {r["lang"] for r in rows} == {"en"}  # awaiting translation: English text, ar page

    embed = partner.page.locator("#ar-embed ol")
    assert embed.evaluate("o => [o.lang, o.dir, getComputedStyle(o).direction]") == \
        ["ar", "rtl", "rtl"]
    rows = _rows(partner.page.locator("#ar-embed"))
    _check_items(rows, _published(world, "ar", 3))  # data-limit="3"
    # No data-time-zone: the reader's zone (UTC here), in Arabic.
    assert [r["date"] for r in rows] == \
        [partner.page.evaluate(INTL_JS, [r["moment"], "ar", "UTC"]) for r in rows]
    assert partner.page.locator("#ru-embed ol").get_attribute("dir") == "ltr"


def test_cross_origin_fetch_is_allowed_by_serve(partner, world):
    response = partner.responses[world.feeds_url + "/ru/feed.json"]
    assert response.status == 200
    assert response.request.all_headers()["origin"] == world.partner
    assert response.all_headers()["access-control-allow-origin"] == "*"
    assert not partner.failed


@pytest.mark.parametrize("lang", ["ru", "ar"])
def test_widget_fits_320px_without_javascript(browser, world, lang):
    context = browser.new_context(viewport={"width": 320, "height": 640},
                                  java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{world.feeds_url}/{lang}/widget.html")
        sizes = page.evaluate("""() => [document.documentElement.scrollWidth, innerWidth,
            Math.min(...Array.from(document.querySelectorAll("li"),
                                   li => li.getBoundingClientRect().left)),
            Math.max(...Array.from(document.querySelectorAll("li"),
                                   li => li.getBoundingClientRect().right))]""")
        scroll_width, width, left, right = sizes
        assert width == 320 and scroll_width <= width, sizes
        assert 0 <= left and right <= width, sizes
        assert page.locator("li").count() == WIDGET_LIMIT
    finally:
        context.close()


def test_embed_fails_closed_when_cors_refuses(browser, world):
    visit = _visit(browser, world.partner + "/closed.html")
    try:
        boxes = visit.page.locator("[data-syndicator-lang]")
        assert boxes.evaluate_all("bs => bs.map(b => [b.dataset.syndicatorState, b.innerHTML])") \
            == [["error", ""], ["error", ""]]
        assert visit.errors == []  # nothing thrown to the partner page
        assert world.closed_url + "/ru/feed.json" in visit.failed
        assert any("CORS policy" in m for m in visit.console), visit.console
        # The iframe does not depend on CORS: it still shows the list.
        assert _frame(visit, "ru").locator("li").count() == WIDGET_LIMIT
    finally:
        visit.page.context.close()
