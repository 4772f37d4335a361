"""The review page in a real browser: Debian's headless Chromium, driven by Playwright.

A translator logs in, corrects a block, approves it and publishes with the
keyboard alone, and the correction reaches ``feeds/ru/atom.xml``. The page must
also fit a 375 px phone screen without sideways scrolling, and Chromium must
apply the stylesheet under the page's CSP (a wrong hash would drop it).

Missing tools fail the test with the command that installs them: a skipped
browser test would let the page break unnoticed.
"""
from __future__ import annotations

import shutil

import httpx
import pytest

from test_review import PASSWORD, Project

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CORRECTED = "Генсек ОДКБ на финале учений «Рубеж-2024»"


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing; install it with: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing; install it with: pip install playwright "
                    "(the test drives Debian's chromium: never run `playwright install`)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory, lexicon_package):
    result = Project(tmp_path_factory.mktemp("review-browser"), lexicon_package, items=1)
    yield result
    result.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.csp_reports = []
    tab.on("console", lambda message: "Content Security Policy" in message.text
           and tab.csp_reports.append(message.text))
    yield tab
    context.close()


def tab_to(page, selector: str, limit: int = 120) -> None:
    """Press Tab until the focused element matches ``selector``, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)",
                         selector):
            return
    raise AssertionError(f"{selector} cannot be reached with Tab")


def keyboard_login(page, url: str) -> None:
    page.goto(url + "/review/")
    tab_to(page, "#name")
    page.keyboard.type("anna")
    tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_correct_approve_and_publish_with_the_keyboard_only(project, page):
    keyboard_login(page, project.url)
    tab_to(page, 'a[href="/review/ru/"]')
    with page.expect_navigation():
        page.keyboard.press("Enter")
    title = 'textarea[name$="#title[0]"]'
    tab_to(page, title)
    # A visible focus indicator, from the stylesheet the CSP let through.
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Control+A")
    page.keyboard.type(CORRECTED)
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.textContent, document.activeElement.value]")
    assert focused[0] == "Approve this block" and focused[1].endswith("#title[0]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Approved 1 block(s)" in page.inner_text('[role="status"]')
    assert page.input_value(title) == CORRECTED
    tab_to(page, "form.publish button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Published" in page.inner_text('[role="status"]')
    atom = httpx.get(project.url + "/ru/atom.xml", timeout=30).text
    assert f"<title>{CORRECTED}</title>" in atom
    assert CORRECTED in (project.config.output_dir / "ru" / "atom.xml").read_text()
    assert page.csp_reports == []


def no_sideways_scroll(page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways at 375 px: {widths}"


def test_the_pages_fit_a_phone_screen(project, page):
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(project.url + "/review/")
    no_sideways_scroll(page)  # the login form
    keyboard_login(page, project.url)
    no_sideways_scroll(page)  # the overview
    page.goto(project.url + "/review/ru/")
    no_sideways_scroll(page)
    # Source and translation stack: the textarea sits below its source, not beside it.
    segment = page.locator(".segment").first
    source = segment.locator("p").first.bounding_box()
    box = segment.locator("textarea").bounding_box()
    assert box["y"] > source["y"] + source["height"] - 1 and box["x"] < source["x"] + 5
    assert box["x"] + box["width"] <= 375
    assert page.csp_reports == []
