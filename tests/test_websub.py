"""WebSub: feeds declare their hubs, and a real hub on 127.0.0.1 receives the pings."""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from lxml import etree

from syndicator.cycle import run_once
from syndicator.publish.websub import ping_hubs

from conftest import FROZEN_NOW, html_source, make_config

ATOM = "{http://www.w3.org/2005/Atom}"


class Hub:
    """A hub that records every publish ping; ``fail_first`` answers 503 that many times."""

    def __init__(self, fail_first: int = 0):
        self.pings: list[dict] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                hub.pings.append(parse_qs(body))
                failing = len(hub.pings) <= fail_first
                self.send_response(503 if failing else 204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub():
    running = Hub()
    yield running
    running.close()


def test_feeds_declare_hubs_and_changed_feeds_are_pinged_once(tmp_path, site, hub):
    config = make_config(tmp_path, sources=[html_source(site)],
                         languages={"targets": ["ru"]}, websub={"hubs": [hub.url]})
    run_once(config, now=FROZEN_NOW)
    root = etree.parse(str(config.output_dir / "ru" / "atom.xml")).getroot()
    assert [l.get("href") for l in root.findall(f"{ATOM}link") if l.get("rel") == "hub"] == [
        hub.url]
    rss = etree.parse(str(config.output_dir / "ru" / "rss.xml")).getroot()
    assert hub.url in [l.get("href") for l in rss.iter(f"{ATOM}link") if l.get("rel") == "hub"]
    [ping] = hub.pings
    assert ping["hub.mode"] == ["publish"]
    assert set(ping["hub.url"]) == {f"https://feeds.example.org/{lang}/{name}"
                                    for lang in ("en", "ru")
                                    for name in ("rss.xml", "atom.xml", "feed.json")}
    run_once(config, now=FROZEN_NOW + timedelta(hours=1))
    assert len(hub.pings) == 1  # nothing changed, nobody is pinged


def test_a_hub_that_is_down_never_blocks_publishing(tmp_path, site, hub):
    config = make_config(tmp_path, sources=[html_source(site)], languages={"targets": []},
                         websub={"hubs": ["http://127.0.0.1:9/", hub.url]})
    started = time.monotonic()
    report = run_once(config, now=FROZEN_NOW)
    assert (config.output_dir / "en" / "atom.xml").is_file() and report.new == 6
    assert len(hub.pings) == 1  # the next hub is still told
    assert time.monotonic() - started < 30


def test_pings_are_retried_with_backoff():
    failing = Hub(fail_first=2)
    waits = []
    try:
        result = ping_hubs((failing.url,), ["https://feeds.example.org/ru/atom.xml"],
                           sleep=waits.append)
    finally:
        failing.close()
    assert result == {failing.url: True}
    assert len(failing.pings) == 3 and waits == [0.5, 1.0]
