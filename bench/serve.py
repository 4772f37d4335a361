"""`syndicator serve` against nginx serving the same feeds/ folder: 200s and 304s.

Builds a published folder with a real cycle (`syndicator once` on a temp
project whose one source is an RSS file of news articles; the English
/en/atom.xml then holds output.max_items = 50 full entries), then starts

  (s) `syndicator serve` as shipped: the CLI, uvicorn, default worker settings
      (one process), run by this interpreter: uvicorn takes httptools and uvloop
      when they are installed, else h11 and asyncio (the "servers" line says which);
  (n) nginx with docs/nginx.conf as shipped, only root, listen, pid and log paths
      changed, inside a minimal nginx.conf like Debian's (worker_processes auto,
      sendfile on), as a foreground process in a temp prefix;

and measures requests/s with wrk on /en/atom.xml, both servers on 127.0.0.1:

  200: a plain GET (no Accept-Encoding: the identity bytes every time);
  304: a GET with If-None-Match set to the ETag that server sent.

Each round runs wrk once per server and kind, alternating which server goes
first. Before the runs, and through the bytes wrk read per request during
them, the script checks that every 200 run got the whole body and every 304
run got headers only; it stops with an error otherwise.

    python bench/serve.py [--rounds 5] [--duration 5] [--connections 32] [--threads 2]
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import common
from common import median

ROOT = Path(__file__).resolve().parents[1]
NGINX_CONF = ROOT / "docs" / "nginx.conf"
PATH = "/en/atom.xml"
TARGET_304 = 0.25  # (s)/(n) for 304s, with the default worker settings
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def write_source(folder: Path, items: int) -> Path:
    """An RSS file of news articles: a headline and four paragraphs of four sentences."""
    sentences = common.sentence_stream(seed=7)
    entries = []
    for i, title in enumerate(common.headlines(items, seed=7)):
        body = "".join("<p>" + escape(" ".join(next(sentences) for _ in range(4))) + "</p>"
                       for _ in range(4))
        entries.append(common.rss_item(i, title, body, NOW - timedelta(hours=3 * i + 1),
                                       image=True))
    return common.write_rss(folder, entries)


def build_project(work: Path, items: int) -> Path:
    """A temp project, published by a real `syndicator once`; returns its config.toml."""
    source = write_source(work / "site", items)
    project = work / "project"
    project.mkdir()
    config = project / "config.toml"
    config.write_text(f"""\
[site]
title = "CSTO News"
base_url = "https://feeds.example.org/"
source_language = "en"
timezone = "Europe/Moscow"

[languages]
targets = []

[[sources]]
name = "csto-rss"
type = "feed"
url = "file://{source}"

[translations]
dir = "{ROOT / 'translations'}"

[output]
dir = "feeds"

[store]
path = "var/syndicator.db"
""", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "syndicator", "--config", str(config), "once"],
                          cwd=project, capture_output=True, text=True)
    if done.returncode != 0 or not (project / "feeds" / PATH.lstrip("/")).is_file():
        sys.exit(f"syndicator once failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    print(f"cycle: {done.stdout.strip()}")
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_conf(work: Path, root: Path, port: int) -> Path:
    """docs/nginx.conf with only root, listen, pid and log paths changed, in a main conf."""
    site = NGINX_CONF.read_text(encoding="utf-8")
    replaced = {
        r"^(\s*)listen 80;": rf"\1listen 127.0.0.1:{port};",
        r"^(\s*)root /srv/syndicator/feeds;": rf"\1root {root};",
    }
    for pattern, repl in replaced.items():
        site, n = re.subn(pattern, repl, site, count=1, flags=re.MULTILINE)
        if n != 1:
            sys.exit(f"docs/nginx.conf: no line matches {pattern!r}")
    prefix = work / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "syndicator.conf").write_text(site, encoding="utf-8")
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = prefix / "nginx.conf"
    # The rest is Debian 12's /etc/nginx/nginx.conf minus what it includes from
    # elsewhere (mime.types: the site conf sets its own types; ssl; modules).
    main.write_text(f"""\
daemon off;
worker_processes auto;
pid {prefix / 'nginx.pid'};
error_log {prefix / 'logs' / 'error.log'};
events {{
    worker_connections 768;
}}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    access_log {prefix / 'logs' / 'access.log'};
{temp}
    include {prefix / 'syndicator.conf'};
}}
""", encoding="utf-8")
    return main


def wait_ready(port: int, proc: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited with {proc.returncode} before it answered")
        try:
            status, _, _ = fetch(port)
            if status == 200:
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{name} did not answer on port {port} within 30 s")


def fetch(port: int, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", PATH, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def check(port: int, name: str, published: bytes) -> str:
    """The server's ETag, after checking it sends the file and answers 304 to it."""
    status, headers, body = fetch(port)
    if status != 200 or body != published:
        sys.exit(f"{name}: GET {PATH} gave {status} and {len(body)} bytes, "
                 f"not 200 and the {len(published)} published bytes")
    etag = headers.get("etag")
    if not etag:
        sys.exit(f"{name}: no ETag on {PATH}")
    status, headers, body = fetch(port, {"If-None-Match": etag})
    if status != 304 or body:
        sys.exit(f"{name}: GET {PATH} with If-None-Match: {etag} gave {status} "
                 f"({len(body)} bytes), not 304")
    return etag


_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(\w+), ([\d.]+)([KMGT]?B) read", re.MULTILINE)
_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def wrk(port: int, args, headers: dict) -> tuple[float, float]:
    """Requests/s and bytes read per request; fails on errors and non-2xx/3xx answers."""
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
               "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command + [f"http://127.0.0.1:{port}{PATH}"],
                         capture_output=True, text=True, check=True).stdout
    rate, total = _RATE.search(out), _TOTAL.search(out)
    if not rate or not total:
        sys.exit(f"cannot read wrk's output:\n{out}")
    if "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        sys.exit(f"wrk saw errors against port {port}:\n{out}")
    per_request = float(total[4]) * _UNITS[total[5]] / int(total[1])
    return float(rate[1]), per_request


def versions() -> str:
    import importlib.util

    import starlette
    import uvicorn

    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[:2]
    # What uvicorn's "auto" picks in this interpreter (serve runs in the same one).
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return (f"{nginx.split(': ')[-1]}, {' '.join(wrk_v)}, uvicorn {uvicorn.__version__} "
            f"(http {http}, loop {loop}), starlette {starlette.__version__}")


def cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot (Linux)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - fields[3] - fields[4]) / tick, sum(fields[:8]) / tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--items", type=int, default=60, help="items in the source feed")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    if not shutil.which("wrk") or not shutil.which("nginx"):
        sys.exit("needs wrk and nginx on PATH (Debian: apt-get install -y wrk nginx)")

    start = cpu_seconds()
    own_start = sum(os.times()[:4])
    print(f"machine: {common.machine_note()}")
    print(f"servers: {versions()}")
    work = Path(tempfile.mkdtemp(prefix="syndicator-serve-bench-"))
    work.chmod(0o755)  # nginx's workers run as another user and must reach feeds/
    servers: dict[str, subprocess.Popen] = {}
    try:
        config = build_project(work, args.items)
        feeds = config.parent / "feeds"
        published = (feeds / PATH.lstrip("/")).read_bytes()
        print(f"{PATH}: {len(published)} bytes")

        ports = {"serve": free_port(), "nginx": free_port()}
        servers["serve"] = subprocess.Popen(
            [sys.executable, "-m", "syndicator", "--config", str(config), "serve",
             "--host", "127.0.0.1", "--port", str(ports["serve"])],
            cwd=config.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conf = nginx_conf(work, feeds, ports["nginx"])
        subprocess.run(["nginx", "-t", "-q", "-p", str(conf.parent), "-c", str(conf)], check=True)
        servers["nginx"] = subprocess.Popen(["nginx", "-p", str(conf.parent), "-c", str(conf)],
                                            stderr=subprocess.DEVNULL)
        for name, proc in servers.items():
            wait_ready(ports[name], proc, name)
        etags = {name: check(ports[name], name, published) for name in servers}
        for name, tag in etags.items():
            print(f"{name}: 200 with the published bytes, ETag {tag}, 304 for If-None-Match")
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, "
              f"{args.rounds} rounds, servers alternate\n")

        kinds = {"200": lambda name: {},
                 "304": lambda name: {"If-None-Match": etags[name]}}
        rates = {(k, s): [] for k in kinds for s in servers}
        for name in servers:  # warm-up: imports, caches, page cache
            for kind, headers in kinds.items():
                wrk(ports[name], argparse.Namespace(**{**vars(args), "duration": 1}),
                    headers(name))
        for r in range(args.rounds):
            order = ("serve", "nginx") if r % 2 == 0 else ("nginx", "serve")
            line = []
            for kind, headers in kinds.items():
                for name in order:
                    rate, per_request = wrk(ports[name], args, headers(name))
                    # wrk rounds the bytes it read to 3 digits ("1.17GB").
                    if kind == "200" and per_request < 0.98 * len(published):
                        sys.exit(f"{name}: {per_request:.0f} bytes per 200 response, "
                                 f"fewer than the {len(published)}-byte file")
                    if kind == "304" and per_request >= 2048:
                        sys.exit(f"{name}: {per_request:.0f} bytes per conditional "
                                 f"response: not 304s")
                    rates[kind, name].append(rate)
                line.append(f"{kind}: serve {rates[kind, 'serve'][-1]:8.0f}/s, "
                            f"nginx {rates[kind, 'nginx'][-1]:8.0f}/s, "
                            f"ratio {rates[kind, 'serve'][-1] / rates[kind, 'nginx'][-1]:.3f}")
            print(f"round {r + 1}: " + "   ".join(line), flush=True)
        for name in servers:  # still answering correctly after the load
            check(ports[name], name, published)
    finally:
        for proc in servers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if proc.args[0] != "nginx" else signal.SIGQUIT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nmedians of {args.rounds} rounds (requests/s):")
    ratios = {}
    for kind in kinds:
        ratios[kind] = median(s / n for s, n in zip(rates[kind, "serve"], rates[kind, "nginx"]))
        print(f"  {kind}: syndicator serve {median(rates[kind, 'serve']):9.0f}   "
              f"nginx {median(rates[kind, 'nginx']):9.0f}   "
              f"ratio serve/nginx {ratios[kind]:.3f}")
    met = "MET" if ratios["304"] >= TARGET_304 else "MISSED"
    print(f"304 ratio serve/nginx = {ratios['304']:.3f}   target >= {TARGET_304:.2f}   {met}")
    print(f"200 ratio serve/nginx = {ratios['200']:.3f}")
    busy, total = (b - a for a, b in zip(start, cpu_seconds()))
    own = sum(os.times()[:4]) - own_start  # this script, wrk and both servers (reaped)
    share = max(0.0, (busy - own) / total) if total else 0.0
    warn = " (over 5%: the figures are disturbed)" if share > 0.05 else ""
    print(f"other processes kept {share:.0%} of the CPU time busy during the run{warn}")


if __name__ == "__main__":
    main()
