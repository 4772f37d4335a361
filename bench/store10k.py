"""A store of 10,000 translated items in 7 languages, built fast, for the publishing benchmarks.

``build(root)`` returns a ``Bench10k``: a config in ``root`` whose one source is
an RSS feed served on 127.0.0.1 (it answers 304 while nothing changes), a store
holding ``n`` items with translations into ru hy be kk ky tg, news.po catalogs
holding every item's segments (as they accumulate over a deployment's life),
and the published feeds. Items and translations are written through the
Store API directly: no translation engine runs. The engine used by the cycles
(``CountingEngines``) is a stand-in that serves every language instantly and
counts its calls. With ``--store`` every 10,000-item script runs on a copy of
a store of your own instead (bench/own_store.py).

    python bench/store10k.py [--items 10000 | --store PATH [--config FILE]]
    # builds (or imports) once and prints the stage times
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import common
import own_store
from common import serve

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
TARGETS = ["ru", "hy", "be", "kk", "ky", "tg"]
SOURCE = "csto-rss"
FEED_ITEMS = 20  # the newest items, also listed by the served feed
GENERATOR = 3  # bump after changing _generate() or own_store.import_store(): caches are rebuilt
ROOT = Path(__file__).resolve().parents[1]


class _BenchEngine:
    """Serves every language at once: "[ru] text". Counts the texts it is given."""
    name = "bench"

    def __init__(self):
        self.calls = 0
        self.texts = 0

    def model_version(self, src: str, tgt: str) -> str:
        return "bench:1"

    def translate(self, texts, src, tgt):
        self.calls += 1
        self.texts += len(texts)
        return [f"[{tgt}] {t}" for t in texts]

    def refresh(self) -> None:
        pass


def counting_engines(config):
    """``Engines`` whose every engine is the instant, counting stand-in."""
    from syndicator.translate import Engines

    class CountingEngines(Engines):
        def __init__(self, config):
            super().__init__(config)
            self.bench = _BenchEngine()

        def engine(self, name):
            return self.bench

    return CountingEngines(config)


def make_config(root: Path, url: str, items: int = FEED_ITEMS, **output):
    from syndicator.config import config_from_dict

    return config_from_dict({
        "site": {"title": "CSTO News", "base_url": "https://feeds.example.org/",
                 "source_language": "en", "timezone": "Europe/Moscow"},
        "languages": {"targets": TARGETS},
        "sources": [{"name": SOURCE, "type": "feed", "url": url, "max_items": items}],
        "translation": {"chain": ["argos"], "argos": {"packages_dir": "argos-packages"}},
        "translations": {"dir": "translations"},
        "output": {"dir": "feeds", **output},
        "store": {"path": "var/syndicator.db"},
    }, root / "config.toml")


class Bench10k:
    def __init__(self, root: Path, n: int):
        self.root, self.n = root, n
        self.site = root / "site"
        self.server = serve(self.site)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/news.rss"
        self.config = make_config(root, self.url)
        self.timings: dict[str, float] = {}
        self._texts = common.sentence_stream(seed=7)
        self._titles = iter(common.headlines(n + 1000, seed=7))
        self.feed_entries: list[str] = []
        self.now = NOW  # the clock of the cycles (own_store.bench_now for your store)

    def describe(self) -> str:
        return f"{self.n} items, {len(self.config.languages)} languages"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _text(self, i: int) -> tuple[str, str]:
        title = next(self._titles)
        body = "".join(f"<p>{escape(next(self._texts))}</p>" for _ in range(3))
        return title, body

    def add_feed_item(self, i: int, when: datetime) -> None:
        """Put one more (new) item at the top of the served feed."""
        title, body = self._text(i)
        self.feed_entries.insert(0, common.rss_item(i, title, body, when))
        common.write_rss(self.site, self.feed_entries)


def _cache(n: int, own: own_store.Own | None) -> Path:
    """Where the store and catalogs are kept between runs."""
    if own:
        return common.CACHE / own_store.cache_key(own, GENERATOR)
    return common.CACHE / f"store{n}-{_cache_key(n)}"


def cache_ready(n: int = 10_000, own: own_store.Own | None = None) -> bool:
    return (_cache(n, own) / "done").is_file()


def _cache_key(n: int) -> str:
    import hashlib

    from syndicator.schema import MIGRATIONS

    # What shapes the generated data; bump GENERATOR for changes elsewhere.
    files = [Path(common.__file__)]
    digest = hashlib.sha256(repr((n, len(MIGRATIONS), GENERATOR)).encode())
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _generate(bench: "Bench10k", n: int, now: datetime) -> None:
    """Store, translations and catalogs, written straight through the Store API."""
    import json

    from syndicator.catalog import export_catalog
    from syndicator.schema import items as items_t, translations as translations_t
    from syndicator.sources import fetch_source
    from syndicator.sources.http import Fetcher
    from syndicator.rows import iso, item_values
    from syndicator.statements import bump
    from syndicator.store import open_store
    from syndicator.translate.blocks import segments

    config = bench.config
    store = open_store(config.store_path)
    start = time.perf_counter()
    # Every item through syndicator's own feed reader (a file: URL), so the items
    # the served feed lists later are byte for byte the stored ones (same hash).
    entries = [common.rss_item(i, *bench._text(i), now - timedelta(hours=3 * (n - i)))
               for i in range(n)]
    bench.entries = entries
    common.write_rss(bench.root / "all", entries[::-1])
    source = config.sources[0]
    import dataclasses
    local = dataclasses.replace(source, url=(bench.root / "all" / "news.rss").as_uri(),
                                max_items=n)
    fetcher = Fetcher(config.http, config.base_url)
    result = fetch_source(local, fetcher, lambda url: ("", ""), now=now)
    fetcher.close()
    assert len(result.items) == n and not result.error, result.error
    # Arrival as a cycle gives it (Store.upsert_items): the oldest first.
    rows = sorted((item_values(item, now, None) for item in result.items),
                  key=lambda row: row["published"])
    with store.engine.begin() as conn:
        seq = bump(conn)
        conn.execute(items_t.insert(), [{**row, "seq": seq, "arrival": n}
                                        for n, row in enumerate(rows, 1)])
    bench.timings["items"] = time.perf_counter() - start

    start = time.perf_counter()
    items = store.recent_items(None)
    plans = [(item, segments(item)) for item in items]
    for lang in TARGETS:
        rows = []
        with store.engine.begin() as conn:
            version = bump(conn)
        for item, segs in plans:
            tr = {s.text: f"[{lang}] {s.text}" for s in segs}
            body = "".join(f"<p>{escape(tr[s.text])}</p>" for s in segs if s.field == "body")
            rows.append(dict(
                item_id=item.id, lang=lang, content_hash=item.content_hash,
                status="translated", title=tr[item.title], summary=tr.get(item.summary, ""),
                body=body, engine="bench:1", reason="", changed=iso(now), seq=version,
                segments=json.dumps([(s.key, s.text, tr[s.text]) for s in segs],
                                    ensure_ascii=False)))
        with store.engine.begin() as conn:
            conn.execute(translations_t.insert(), rows)
        store.translated_up_to(lang, store.data_version())
    bench.timings["translations"] = time.perf_counter() - start

    # news.po as it stands after a long life: every item's segments, oldest first.
    start = time.perf_counter()
    urls = {item.id: item.url for item in items}
    ids = [item.id for item in items][::-1]
    for lang in TARGETS:
        export_catalog(store, config, lang, ids, urls, now)
    bench.timings["catalogs"] = time.perf_counter() - start
    store.engine.dispose()


def build(root: Path, n: int = 10_000, now: datetime = NOW, engines=None,
          own: own_store.Own | None = None, **config_changes) -> "Bench10k":
    """The store, catalogs and published feeds of ``n`` items in ``root``.

    The store and catalogs are generated once (a minute or two for 10,000 items)
    and kept under bench/.cache/; each call copies them and runs the first,
    cold, cycle: the served feed's items are already stored, so it publishes
    everything (and records the feed's validators, so the next fetch is a 304).
    With ``own`` the store is a copy of that one (bench/own_store.py), prepared
    and kept the same way; ``bench.n`` and ``bench.now`` then follow it.
    """
    from syndicator.catalog import catalog_path
    from syndicator.catalog.files import stamp as _stamp
    from syndicator.cycle import run_once
    from syndicator.store import open_store

    bench = Bench10k(root, n)
    if own:
        bench.config = own_store.configure(bench.config, own)
    if config_changes:
        import dataclasses
        bench.config = dataclasses.replace(bench.config, **config_changes)
    config = bench.config
    cache = _cache(n, own)
    if own:
        bench.now = now = own_store.bench_now(own.store, now)
    _ui_catalogs(ROOT / "translations", config)
    if not (cache / "done").is_file():
        shutil.rmtree(cache, ignore_errors=True)
        tmp = Bench10k(Path(tempfile.mkdtemp(prefix="store10k-build-")), n)
        try:
            tmp.config = own_store.configure(tmp.config, own) if own else tmp.config
            _ui_catalogs(config.translations_dir, tmp.config)
            if own:
                own_store.import_store(tmp, own, now)
            else:
                _generate(tmp, n, now)
            cache.mkdir(parents=True)
            shutil.copytree(tmp.root / "var", cache / "var")
            shutil.copytree(tmp.root / "translations", cache / "translations")
            (cache / "entries.txt").write_text("\n".join(tmp.entries), encoding="utf-8")
            (cache / "done").write_text(repr(tmp.timings))
            bench.timings.update(tmp.timings)
        finally:
            tmp.close()
            shutil.rmtree(tmp.root, ignore_errors=True)
    start = time.perf_counter()
    shutil.copytree(cache / "var", root / "var", dirs_exist_ok=True)
    shutil.copytree(cache / "translations", root / "translations", dirs_exist_ok=True)
    entries = (cache / "entries.txt").read_text(encoding="utf-8")
    entries = entries.split("\n") if entries else []
    bench.feed_entries = entries[-FEED_ITEMS:][::-1]
    common.write_rss(bench.site, bench.feed_entries)
    bench.n = own_store.count_and_newest(config.store_path)[0] if own else n
    bench._titles = iter(common.headlines(bench.n + 1000, seed=8))
    store = open_store(config.store_path)
    for lang in config.targets:  # copies have new inodes: news.po is as syndicator wrote it
        store.meta_set(f"po:{lang}", repr(_stamp(catalog_path(config, lang))))
    bench.timings["copy"] = time.perf_counter() - start
    counting = engines is None
    engines = engines or counting_engines(config)
    start = time.perf_counter()
    report = run_once(config, store=store, engines=engines, now=now)
    bench.first_report = report
    assert report.new == 0 and not report.errors, report
    # Your own store may hold items still waiting for a language: the first cycle
    # translates them (with the stand-in); the generated one is complete.
    assert not counting or own or engines.bench.calls == 0
    bench.timings["first cycle"] = time.perf_counter() - start
    if counting:
        engines.bench.calls = engines.bench.texts = 0
    bench.store, bench.engines = store, engines
    return bench


def _ui_catalogs(source: Path, config) -> None:
    """The UI catalogs (messages.po) under ``source`` copied into config's folder."""
    for lang in config.languages:
        ui = source / lang / "LC_MESSAGES" / "messages.po"
        dest = config.translations_dir / lang / "LC_MESSAGES"
        if ui.is_file() and not (dest / "messages.po").is_file():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ui, dest / "messages.po")


def start(name: str, parser: argparse.ArgumentParser, args: argparse.Namespace
          ) -> tuple[Bench10k, "common.OtherLoad"]:
    """The opening of every 10,000-item script: the load meter, the machine line,
    a copy of the store (generated, or ``--store``) in a new temp folder, and how
    long it took."""
    own = own_store.from_args(parser, args)
    other = common.OtherLoad()
    print(f"machine: {common.machine_note()}")
    bench = build(Path(tempfile.mkdtemp(prefix=f"syndicator-{name}-")), args.items, own=own)
    print(f"store: {bench.describe()}; built in "
          + ", ".join(f"{k} {v:.1f} s" for k, v in bench.timings.items()))
    return bench, other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    own_store.add_arguments(parser)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="syndicator-store10k-"))
    try:
        bench = build(root, args.items, own=own_store.from_args(parser, args))
        print(f"machine: {common.machine_note()}")
        print(f"store: {bench.describe()}")
        for stage, seconds in bench.timings.items():
            print(f"{stage:>18}: {seconds:6.1f} s")
        bench.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()


def snapshot(*folders: Path) -> dict[Path, tuple[int, int, int]]:
    """(mtime_ns, inode, size) of every file under ``folders``."""
    found = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.endswith(".lock"):
                st = path.stat()
                found[path] = (st.st_mtime_ns, st.st_ino, st.st_size)
    return found


def cold_rebuild(bench: Bench10k, dest: Path, now: datetime | None = None) -> dict[str, float]:
    """Publish everything from (a copy of) the full store into an empty folder, with
    every item's news.po catalog entries. Returns the timed stages' seconds."""
    import dataclasses

    from syndicator.catalog import export_catalog
    from syndicator.publish import publish_all
    from syndicator.store import open_store

    now = now or bench.now
    config = dataclasses.replace(bench.config, output_dir=dest / "feeds",
                                 translations_dir=dest / "translations",
                                 store_path=dest / "var" / "syndicator.db")
    common.copy_store(bench.config.store_path, config.store_path)
    _ui_catalogs(bench.config.translations_dir, config)
    store = open_store(config.store_path)
    common.settle()  # the copy's writeback is not the rebuild's cost
    times = {}
    start = time.perf_counter()
    written = publish_all(store, config, now)
    times["publish"] = time.perf_counter() - start
    start = time.perf_counter()
    items = store.recent_items(None)[::-1]
    urls = {item.id: item.url for item in items}
    for lang in config.targets:
        export_catalog(store, config, lang, [item.id for item in items], urls, now)
    times["catalogs"] = time.perf_counter() - start
    times["total"] = times["publish"] + times["catalogs"]
    times["files"] = len(written)
    store.engine.dispose()
    return times
