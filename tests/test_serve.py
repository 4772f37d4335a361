"""``syndicator serve`` end to end: the real app under uvicorn on 127.0.0.1, httpx as client."""
from __future__ import annotations

import gzip
import json
import os
import threading
import time
from email.utils import formatdate

import brotli
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from syndicator.errors import ConfigError
from syndicator.web import ServeConfig, make_app
from syndicator.web.app import _ENV_CONFIG, app_from_environment
from syndicator.web.headers import choose_coding, none_match, not_modified_since
from syndicator.web.static import NotServed, split_request_path

SECRET = b"api_key = 'do-not-leak'\n"
ALLOWED = "https://allowed.example"


def _xml(root: str, n: int = 60) -> bytes:
    items = "".join(f"<item><title>Новость {i}</title></item>" for i in range(n))
    return f'<?xml version="1.0" encoding="utf-8"?><{root}>{items}</{root}>'.encode()


FILES = {
    "ru/rss.xml": (_xml("rss"), "application/rss+xml; charset=utf-8"),
    "ru/atom.xml": (_xml("feed"), "application/atom+xml; charset=utf-8"),
    "ru/rss-archive-3.xml": (_xml("rss", 5), "application/rss+xml; charset=utf-8"),
    "ru/atom-archive-3.xml": (_xml("feed", 5), "application/atom+xml; charset=utf-8"),
    "ru/feed.json": (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}' * 20,
                     "application/feed+json"),
    "ru/index.html": (b"<!doctype html><title>ru</title>" * 20, "text/html; charset=utf-8"),
    "ru/widget.html": (b"<!doctype html><ul><li>w</li></ul>" * 20, "text/html; charset=utf-8"),
    "index.html": (b"<!doctype html><title>all</title>" * 20, "text/html; charset=utf-8"),
    "index.opml": (b'<?xml version="1.0"?><opml version="2.0"></opml>' * 20,
                   "text/x-opml; charset=utf-8"),
    "embed.js": (b"document.currentScript.insertAdjacentHTML('afterend', '');\n" * 20,
                 "text/javascript; charset=utf-8"),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """feeds/ plus a secret beside it, symlinks out of the root, a temp file, an empty dir."""
    base = tmp_path_factory.mktemp("site")
    (base / "config.toml").write_bytes(SECRET)
    (base / "secret.xml").write_bytes(SECRET)  # a kind we serve, so only the root check stops it
    (base / "outside").mkdir()
    (base / "outside" / "rss.xml").write_bytes(SECRET)
    root = base / "feeds"
    for rel, (data, _) in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    for lang in ("en", "hy"):  # one folder per test that replaces files
        (root / lang).mkdir()
        (root / lang / "rss.xml").write_bytes(_xml("rss"))
    (root / "ru" / "leak.xml").symlink_to(base / "secret.xml")
    (root / "out").symlink_to(base / "outside")
    (root / "latest.xml").symlink_to(root / "ru" / "rss.xml")  # inside: allowed
    (root / "ru" / ".rss.xml.x1y2.tmp").write_bytes(SECRET)     # publisher's temp file
    (root / "config.toml").write_bytes(SECRET)                   # a kind we never publish
    (root / "empty").mkdir()
    (root / "review").mkdir()
    (root / "review" / "index.html").write_bytes(b"static, must lose to the mount")
    return root


class _Server:
    """uvicorn in a thread on an ephemeral loopback port."""

    def __init__(self, app):
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 5
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(5)


def _review_app():
    return Starlette(routes=[Route("/", lambda request: PlainTextResponse("review app"))])


@pytest.fixture(scope="module")
def star(site):
    """Defaults: CORS "*", frame-ancestors "*"; max_age 123 to see it come through."""
    app = make_app(ServeConfig(site, max_age=123), [Mount("/review", app=_review_app())])
    with _Server(app) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield client


@pytest.fixture(scope="module")
def listed(site):
    config = ServeConfig(site, cors_origins=(ALLOWED,),
                         frame_ancestors=("'self'", "https://news.example"))
    with _Server(make_app(config)) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield client


def _raw(client, path, target=None, **headers):
    """GET without httpx's path normalisation or decoding: the bytes as sent."""
    extensions = {"target": target} if target else {}
    with client.stream("GET", path, headers=headers, extensions=extensions) as response:
        return response, b"".join(response.iter_raw())


@pytest.mark.parametrize("rel", sorted(FILES))
def test_media_types_and_bodies(star, rel):
    response = star.get("/" + rel, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == FILES[rel][1]
    assert response.content == FILES[rel][0]
    assert response.headers["cache-control"] == "public, max-age=123"


def test_strong_etag_and_conditional_requests(star):
    first = star.get("/ru/rss.xml", headers={"Accept-Encoding": "identity"})
    tag, modified = first.headers["etag"], first.headers["last-modified"]
    assert tag.startswith('"') and not tag.startswith("W/")
    for inm in (tag, f'"other", {tag}', f"W/{tag}", "*"):
        again = star.get("/ru/rss.xml", headers={"If-None-Match": inm,
                                                  "Accept-Encoding": "identity"})
        assert again.status_code == 304, inm
        assert again.content == b"" and again.headers["etag"] == tag
        assert again.headers["cache-control"] == "public, max-age=123"
        assert again.headers["x-content-type-options"] == "nosniff"
    assert star.get("/ru/rss.xml", headers={"If-Modified-Since": modified}).status_code == 304
    year_before = formatdate(time.time() - 86400 * 365, usegmt=True)
    assert star.get("/ru/rss.xml", headers={"If-Modified-Since": year_before}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    both = star.get("/ru/rss.xml", headers={"If-None-Match": '"stale"',
                                             "If-Modified-Since": modified})
    assert both.status_code == 200


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
def test_if_modified_since_dates_are_gmt_in_every_form_http_allows(monkeypatch, zone):
    # A server whose local time is not UTC: the asctime form and "-0000" carry no
    # zone, and must still be read as GMT (RFC 9110 5.6.7).
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        modified = time.time() - 86400 * 2
        for hours, unchanged in ((-3, False), (3, True)):  # 3 hours before or after it
            moment = time.gmtime(modified + hours * 3600)
            for form in ("%a, %d %b %Y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y",
                         "%a, %d %b %Y %H:%M:%S -0000"):
                since = time.strftime(form, moment)
                assert not_modified_since(since, modified) is unchanged, since
    finally:
        monkeypatch.undo()
        time.tzset()


def test_every_if_none_match_header_counts(star):
    # Revalidations of a file already served take the fast path, which reads the
    # raw headers itself: a tag in the second header line must still match.
    tag = star.get("/ru/atom.xml", headers={"Accept-Encoding": "identity"}).headers["etag"]
    both = [("If-None-Match", '"other"'), ("If-None-Match", tag),
            ("Accept-Encoding", "identity")]
    assert star.get("/ru/atom.xml", headers=both).status_code == 304
    assert star.get("/ru/atom.xml", headers=both[:1]).status_code == 200


def test_an_error_while_revalidating_gets_the_logged_500(site, monkeypatch, caplog):
    from syndicator.web import app as app_module

    def broken(scope):
        raise RuntimeError("header parsing broke")
    with _Server(make_app(ServeConfig(site))) as url:
        first = httpx.get(url + "/ru/rss.xml", timeout=5)  # now known to the fast path
        monkeypatch.setattr(app_module, "_asked", broken)
        again = httpx.get(url + "/ru/rss.xml", headers={"If-None-Match": first.headers["etag"]},
                          timeout=5)
    assert first.status_code == 200
    assert again.status_code == 500 and again.text == "Internal Server Error"
    assert again.headers["x-content-type-options"] == "nosniff"
    assert "header parsing broke" in caplog.text


def test_replaced_file_in_the_same_instant_gets_a_new_etag(star, site):
    path = site / "en" / "rss.xml"
    old = star.get("/en/rss.xml", headers={"Accept-Encoding": "identity"})
    before = os.stat(path)
    new = bytearray(path.read_bytes())
    new[-20] = ord("X")  # same size, different bytes
    tmp = path.with_name(".rss.xml.tmp")
    tmp.write_bytes(bytes(new))
    os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))  # even the same mtime_ns
    os.replace(tmp, path)
    fresh = star.get("/en/rss.xml", headers={"If-None-Match": old.headers["etag"],
                                              "Accept-Encoding": "identity"})
    assert fresh.status_code == 200
    assert fresh.content == bytes(new)
    assert fresh.headers["etag"] != old.headers["etag"]


@pytest.mark.parametrize("coding, decode, suffix", [
    ("gzip", gzip.decompress, '-gz"'), ("br", brotli.decompress, '-br"')])
def test_compressed_responses_decode_to_the_same_bytes(star, coding, decode, suffix):
    plain = star.get("/ru/atom.xml", headers={"Accept-Encoding": "identity"})
    response, raw = _raw(star, "/ru/atom.xml", **{"Accept-Encoding": coding})
    assert response.headers["content-encoding"] == coding
    assert decode(raw) == plain.content and len(raw) < len(plain.content)
    assert "Accept-Encoding" in response.headers["vary"]
    assert "Accept-Encoding" in plain.headers["vary"]
    assert response.headers["etag"].endswith(suffix)
    assert response.headers["etag"] != plain.headers["etag"]
    again = star.get("/ru/atom.xml", headers={"Accept-Encoding": coding,
                                               "If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == response.headers["etag"]


@pytest.mark.parametrize("accept, expected", [
    ("gzip;q=1.0, br;q=0.5", "gzip"), ("br;q=0, *;q=0.5", "gzip"), ("gzip, br", "br"),
    ("identity", None), ("x-gzip", "gzip"), ("*", "br"), ("br;q=0, gzip;q=0", None),
    ("", None), ("br;q=bogus, gzip", "gzip")])
def test_accept_encoding_q_values(accept, expected):
    assert choose_coding(accept) == expected


def test_live_negotiation_and_head(star):
    response, _ = _raw(star, "/ru/feed.json", **{"Accept-Encoding": "gzip;q=1, br;q=0.1"})
    assert response.headers["content-encoding"] == "gzip"
    get = star.get("/ru/rss.xml", headers={"Accept-Encoding": "identity"})
    head = star.head("/ru/rss.xml", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    for name in ("etag", "content-length", "content-type", "last-modified", "cache-control"):
        assert head.headers[name] == get.headers[name]


def test_an_if_none_match_that_is_not_a_list_of_tags_is_ignored(star):
    tag = star.get("/ru/rss.xml").headers["etag"]
    ask = lambda value: star.get("/ru/rss.xml", headers={"If-None-Match": value}).status_code
    assert ask(f'"zz" ,  {tag}') == 304 and ask(f"W/{tag}") == 304
    # RFC 9110 13.1.2: either "*" or a list of entity tags; anything else is not a
    # match (a substring search answered x"<tag>" with a 304).
    assert ask(f"x{tag}") == 200 and ask(f"{tag} x") == 200 and ask(f'"a", *') == 200


def test_none_match_parsing():
    assert none_match('W/"a", "b"', '"b"') and none_match(' "a" ', '"a"')
    assert not none_match('"ab"', '"a"') and not none_match("", '"a"')


@pytest.mark.parametrize("path", ["/ru/feed.json", "/embed.js", "/ru/widget.html"])
def test_cors_star(star, path):
    response = star.get(path, headers={"Origin": "https://anyone.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "Origin" not in response.headers.get("vary", "")


def test_cors_only_on_widget_assets(star, listed):
    for client in (star, listed):
        response = client.get("/ru/rss.xml", headers={"Origin": ALLOWED})
        assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("path", ["/ru/feed.json", "/embed.js", "/ru/widget.html"])
def test_cors_allow_list(listed, path):
    allowed = listed.get(path, headers={"Origin": ALLOWED})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "Origin" in allowed.headers["vary"]
    other = listed.get(path, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    assert "Origin" in other.headers["vary"]
    assert other.content == allowed.content  # CORS is the browser's gate, not ours


def test_preflight(star, listed):
    ask = {"Origin": ALLOWED, "Access-Control-Request-Method": "GET",
           "Access-Control-Request-Headers": "if-none-match"}
    response = listed.options("/ru/feed.json", headers=ask)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "GET" in response.headers["access-control-allow-methods"]
    assert "If-None-Match" in response.headers["access-control-allow-headers"]
    refused = listed.options("/embed.js", headers={**ask, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in refused.headers
    assert star.options("/ru/widget.html", headers=ask).headers[
        "access-control-allow-origin"] == "*"
    assert star.options("/ru/nothing.json", headers=ask).status_code == 404


@pytest.mark.parametrize("target", [
    b"/../config.toml", b"/%2e%2e/config.toml", b"/%2E%2E/config.toml",
    b"/ru/..%2f..%2fconfig.toml", b"/ru/%2e%2e%2f%2e%2e%2fconfig.toml",
    b"/ru/../../config.toml", b"/../secret.xml", b"/%2e%2e/secret.xml",
    b"/ru/..%2f..%2fsecret.xml", b"/ru/%2e%2e/%2e%2e/secret.xml", b"/ru/leak.xml",
    b"/out/rss.xml", b"/out/",
    b"/config.toml", b"/ru/.rss.xml.x1y2.tmp", b"/ru/%2erss.xml.x1y2.tmp",
    b"/ru%2frss.xml", b"/ru/rss.xml%00.html", b"//ru/rss.xml", b"/ru/rss.xml/",
])
def test_no_escape_from_the_root(star, target):
    response, body = _raw(star, "/", target=target)
    assert response.status_code == 404
    assert b"do-not-leak" not in body
    assert response.headers["x-content-type-options"] == "nosniff"


def test_backslashes_never_reach_a_file(star):
    response, body = _raw(star, "/", target=b"/ru\\..\\..\\config.toml")
    assert response.status_code in (400, 404) and b"do-not-leak" not in body
    response, body = _raw(star, "/", target=b"/ru/%5c..%5cconfig.toml")
    assert response.status_code == 404 and b"do-not-leak" not in body


def test_symlink_inside_the_root_is_served(star):
    assert star.get("/latest.xml").content == FILES["ru/rss.xml"][0]


def test_directories(star):
    redirect = star.get("/ru")
    assert redirect.status_code == 301 and redirect.headers["location"] == "/ru/"
    assert star.get("/ru/").content == FILES["ru/index.html"][0]
    assert star.get("/").content == FILES["index.html"][0]
    assert star.get("/empty").status_code == 301
    listing = star.get("/empty/")
    assert listing.status_code == 404 and b"index" not in listing.content.lower()


def test_security_headers_everywhere(star):
    responses = [star.get("/ru/rss.xml"), star.get("/missing"), star.get("/ru"),
                 star.post("/ru/rss.xml"), star.get("/review/"),
                 star.get("/ru/rss.xml", headers={"If-None-Match": "*"})]
    assert [r.status_code for r in responses] == [200, 404, 301, 405, 200, 304]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert responses[3].headers["allow"] == "GET, HEAD, OPTIONS"


def test_extra_routes_win_over_files(star):
    assert star.get("/review/").text == "review app"


def test_content_security_policy(star, listed):
    widget = listed.get("/ru/widget.html").headers["content-security-policy"]
    assert "frame-ancestors 'self' https://news.example" in widget
    assert "default-src 'none'" in widget and "img-src https: data:" in widget
    assert "base-uri 'none'" in widget and "form-action 'none'" in widget
    assert "frame-ancestors *" in star.get("/ru/widget.html").headers["content-security-policy"]
    page = star.get("/ru/")
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert "sandbox" in star.get("/ru/rss.xml").headers["content-security-policy"]


def test_config_rejects_header_injection(tmp_path):
    with pytest.raises(ConfigError) as caught:
        ServeConfig(tmp_path, max_age=-1, cors_origins=("https://a.example/path",),
                    frame_ancestors=("https://a.example; script-src *",))
    assert len(caught.value.problems) == 3
    # A header is Latin-1: a path that is not printable ASCII would make every
    # widget.html answer a 500 instead of failing here.
    with pytest.raises(ConfigError) as caught:
        ServeConfig(tmp_path, frame_ancestors=("https://a.example/€", "https://b.example/\x01",
                                               "https://c.example/a~b"))
    assert [p.split("'")[1] for p in caught.value.problems] == ["https://a.example/€",
                                                                "https://b.example/\\x01"]
    config = ServeConfig(str(tmp_path), cors_origins=["https://A.example/"])
    assert config.cors_origins == ("https://a.example",)


def test_worker_processes_rebuild_the_same_config(site, monkeypatch):
    monkeypatch.setenv(_ENV_CONFIG, json.dumps({"root": str(site), "max_age": 5,
                                                "cors_origins": ["*"],
                                                "frame_ancestors": ["'self'"]}))
    with _Server(app_from_environment()) as url:
        response = httpx.get(url + "/ru/widget.html", timeout=5)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=5"
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("raw", [b"/..", b"/%2e%2e/x.xml", b"/a%2fb.xml", b"/a%5cb.xml",
                                 b"/a%00.xml", b"//a.xml", b"/.hidden", b"/a/./b.xml",
                                 b"/%ff.xml", b"relative.xml"])
def test_split_request_path_refuses_before_touching_the_disk(raw):
    with pytest.raises(NotServed):
        split_request_path(raw)
