"""Shared fixtures: a real HTTP server on 127.0.0.1, configs, and a lexicon model."""
from __future__ import annotations

import gc
import hashlib
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from syndicator.config import config_from_dict

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SITE = ROOT / "examples" / "csto-site"
SHARED = ROOT.parent / "shared"
ATOM_RNC = SHARED / "schemas" / "atom.rnc"

SAMPLE_SELECTORS = {
    "item": "li.news-item", "link": "a.news-link", "title": "h1.news-title",
    "date": "article .news-date", "body": ".news-body", "image": ".news-image img",
    "next": "a.next",
}


class SiteHandler(SimpleHTTPRequestHandler):
    """Static files with strong ETags and Last-Modified, plus scripted faults."""

    faults: dict[str, tuple[int, dict, bytes]] = {}
    requests: list[tuple[str, str]] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self.requests.append((self.path, self.headers.get("If-None-Match", "")))
        if self.path in self.faults:
            status, headers, body = self.faults[self.path]
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        path = Path(self.translate_path(self.path))
        if path.is_file():
            etag = '"' + hashlib.sha256(path.read_bytes()).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self._etag = etag
        super().do_GET()

    def end_headers(self):
        if getattr(self, "_etag", None):
            self.send_header("ETag", self._etag)
            self._etag = None
        super().end_headers()

    def guess_type(self, path):
        if str(path).endswith(".rss"):
            return "application/rss+xml; charset=utf-8"
        return super().guess_type(path)


class Site:
    """A folder served over real HTTP on 127.0.0.1."""

    def __init__(self, root: Path):
        self.root = root
        handler = type("Handler", (SiteHandler,), {"faults": {}, "requests": []})
        self.handler = handler
        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root)))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def fault(self, path: str, status: int, body: bytes = b"", **headers: str) -> None:
        self.handler.faults[path] = (status, headers, body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site(tmp_path):
    """A private copy of the bundled sample site, served on 127.0.0.1 (tests may edit it)."""
    root = tmp_path / "site"
    shutil.copytree(SAMPLE_SITE, root)
    served = Site(root)
    yield served
    served.close()


# The [site] table of the config.toml files tests write (make_config's, as TOML).
SITE_TOML = """[site]
title = "CSTO News"
base_url = "https://feeds.example.org/"
timezone = "Europe/Moscow"
"""


def make_config(tmp_path: Path, **overrides):
    """A valid Config in ``tmp_path``; keyword arguments replace whole top-level tables."""
    data = {
        "site": {"title": "CSTO News", "base_url": "https://feeds.example.org/",
                 "source_language": "en", "timezone": "Europe/Moscow"},
        "languages": {"targets": ["ru", "hy", "be", "kk", "ky", "tg"]},
        "sources": [],
        # The lexicon model's output is exact at any beam size, and beam 1 runs it
        # ~3.5x faster than the default 4 (the suite's largest cost). Tests that
        # replace this table, the CLI tests and the README's cycle keep beam 4.
        "translation": {"argos": {"packages_dir": "argos-packages", "beam_size": 1}},
        "translations": {"dir": str(ROOT / "translations")},
        "output": {"dir": "feeds"},
        "store": {"path": "var/syndicator.db"},
        "http": {"timeout": 5, "retries": 1, "backoff": 0.05},
    }
    data.update(overrides)
    return config_from_dict(data, tmp_path / "config.toml")


def html_source(site: Site, name: str = "csto", **extra) -> dict:
    return {"name": name, "type": "html", "url": site.url + "news/index.html",
            "selectors": dict(SAMPLE_SELECTORS), **extra}


def feed_source(site: Site, name: str = "csto-rss", **extra) -> dict:
    return {"name": name, "type": "feed", "url": site.url + "news.rss", **extra}


LEXICON = {"said": "заявил", "Secretary": "Генеральный", "General": "секретарь",
           "training": "учения", "CSTO": "ОДКБ", "news": "новости"}


@pytest.fixture(scope="session")
def lexicon_package(tmp_path_factory) -> Path:
    """A real en→ru argos package whose model maps LEXICON words and copies the rest."""
    from syndicator.testing.lexicon_model import build_lexicon_package

    return build_lexicon_package(tmp_path_factory.mktemp("lexicon"), LEXICON,
                                 from_code="en", to_code="ru")


def run_cli(*args: str, cwd: Path, check: bool = True, timeout: float = 120):
    """Run the real console entry point in a subprocess, as a user would."""
    result = subprocess.run([sys.executable, "-m", "syndicator", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"syndicator {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def live_objects(cls: type) -> int:
    """How many objects of ``cls`` the garbage collector tracks right now.

    ``type(o)``, not ``isinstance``: isinstance also asks each object's
    ``__class__``, which makes torch's deprecated module attributes warn."""
    return sum(issubclass(type(o), cls) for o in gc.get_objects())


def require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: ../shared/ exists only in the maintainers' "
                    "checkout and CI, not in a user's clone")
    return path


def require_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; .ci/run installs it (apt-get install {name})")
    return found


class Published:
    """One real cycle over the served sample site, with the lexicon model for en→ru."""

    def __init__(self, root: Path, package: Path, now):
        from syndicator.cycle import run_once
        from syndicator.translate.packages import install_file

        shutil.copytree(SAMPLE_SITE, root / "site")
        self.site = Site(root / "site")
        self.config = make_config(root, sources=[html_source(self.site)])
        install_file(package, self.config.argos.packages_dir)
        self.report = run_once(self.config, now=now)
        self.feeds = self.config.output_dir

    def close(self):
        self.site.close()


FROZEN_NOW = __import__("datetime").datetime(2030, 1, 2, 3, 4, 5,
                                             tzinfo=__import__("datetime").timezone.utc)


@pytest.fixture(scope="module")
def published(tmp_path_factory, lexicon_package):
    result = Published(tmp_path_factory.mktemp("published"), lexicon_package, FROZEN_NOW)
    yield result
    result.close()
