"""One publishing cycle, start to end. ``run_once`` is the table of contents."""
from __future__ import annotations

import fcntl
import resource
import logging
import os
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from .catalog import catalog_problems, export_catalogs, import_catalogs
from .config import Config, SourceConfig
from .errors import LockedError
from .heap import release_free_memory
from .models import CycleReport, SourceResult
from .publish import publish_all
from .publish.write import clear_stale_temps
from .sources import fetch_source
from .sources.http import Fetcher
from .store import Store, open_store
from .translate import Engines, translate_pending

log = logging.getLogger(__name__)


class Progress:
    """Hooks for progress display; the CLI draws bars, the library stays silent."""

    def fetched(self, name: str, done: int, total: int) -> None: ...

    def translating(self, lang: str, done: int, total: int) -> None: ...


def run_once(config: Config, store: Store | None = None, engines: Engines | None = None,
             now: datetime | None = None, progress: Progress | None = None,
             sources: list[SourceConfig] | None = None) -> CycleReport:
    """Fetch, store, translate and publish. ``sources`` limits the fetch (None = all)."""
    now = now or datetime.now(timezone.utc)
    store = store or open_store(config.store_path)
    engines = engines or Engines(config)
    progress = progress or Progress()
    clear_stale_temps(config.output_dir, config.translations_dir)
    log.info("stage: fetch")
    results = fetch_sources(config, store, sources, now, progress)
    new, updated = store_results(store, results, now)
    log.info("stage: catalogs (import)")
    import_catalogs(store, config, now)  # translators' corrections win, this very cycle
    log.info("stage: translate")
    translated = translate_pending(store, engines, config, now, progress.translating)
    log.info("stage: catalogs (merge)")
    export_catalogs(store, config, now)
    log.info("stage: publish")
    written = publish_all(store, config, now)
    problems = catalog_problems(store, config)
    report = CycleReport(new=new, updated=updated, translated=translated,
                         written=tuple(str(p) for p in written),
                         errors=tuple(e for r in results for e in ((r.error,) if r.error else ())
                                      + r.problems) + problems,
                         max_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                          / 1024, 1),
                         failed=tuple(r.name for r in results if r.error) + problems)
    store.record_run(now, datetime.now(timezone.utc), asdict(report))
    log.info("cycle done: %d new, %d updated, %d file(s) written, %d error(s)",
             new, updated, len(written), len(report.errors))
    release_free_memory()
    return report


def retranslate(config: Config, now: datetime, *, refresh: bool = False,
                lang: str | None = None, since: datetime | None = None,
                store: Store | None = None) -> tuple[dict[str, int], int, dict[str, int]]:
    """Everything after fetching: ``translate [--refresh]``, ``translations import`` and
    the review page's "publish now". Approve translators' corrections, optionally mark
    translations stale, translate (the memory answers known text), merge the
    catalogs, publish. Returns (approved per language, marked stale, translated)."""
    store = store or open_store(config.store_path)
    approved = import_catalogs(store, config, now)
    marked = store.mark_stale(lang, since) if refresh else 0
    counts = translate_pending(store, Engines(config), config, now)
    export_catalogs(store, config, now)
    publish_all(store, config, now)
    return approved, marked, counts


def fetch_sources(config: Config, store: Store, only: list[SourceConfig] | None,
                  now: datetime, progress: Progress) -> list[SourceResult]:
    chosen = [s for s in (only if only is not None else config.sources) if s.enabled]
    fetcher = Fetcher(config.http, config.base_url)
    # How many items each source listed last time: an empty listing is only
    # suspicious (an error, never a quietly empty source) if it used to yield items.
    counts = {s["name"]: s["last_count"] for s in store.source_states()}
    results = []
    try:
        for n, source in enumerate(chosen, 1):
            until = store.backing_off(source.name, now)
            if until:
                log.info("source %r failed recently; next attempt after %s", source.name,
                         until.isoformat())
                continue
            result = fetch_source(source, fetcher, store.validators, now=now,
                                  last_count=counts.get(source.name, 0),
                                  guid_base=store.meta_get(f"guid-base:{source.name}"))
            # An html source returns only its changed articles; `found` counts them all.
            count = result.found if result.found is not None else (
                None if result.not_modified else len(result.items))
            # The store treats a next attempt more than an hour ahead as a clock that
            # jumped, so a longer Retry-After is waited for an hour, not ignored.
            wait = None if result.retry_after is None else min(result.retry_after, 3600.0)
            store.record_fetch(source.name, now, result.error, wait, count)
            results.append(result)
            progress.fetched(source.name, n, len(chosen))
    finally:
        fetcher.close()
    return results


def store_results(store: Store, results: list[SourceResult], now: datetime) -> tuple[int, int]:
    # One batch: the cycle's new items arrive by date, whichever source found them.
    new, updated = store.upsert_items([i for r in results for i in r.items], now)
    # Validators are saved only after the items they cover are safely stored.
    for result in results:
        for url, etag, last_modified in result.validators:
            store.save_validators(url, etag, last_modified)
        if result.guid_base and result.guid_base != store.meta_get(f"guid-base:{result.name}"):
            store.meta_set(f"guid-base:{result.name}", result.guid_base)
    return new, updated


@contextmanager
def store_lock(store_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the store for the life of a `once` or `run`."""
    lock_path = store_path.with_name(store_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise LockedError(f"another syndicator process (pid {holder}) is working on "
                          f"{store_path}; wait for it to finish or stop it") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
