"""`syndicator run` under real-world timing: overlaps, suspend/resume, clock jumps, restarts.

- Overlapping runs never happen: a real ``run_forever`` with two sources due at
  once (and every 2 s after), each cycle translating with the lexicon model; a
  lock probe in a log handler sees every cycle begin and end.
- Misfires after a sleep/suspend are coalesced into one catch-up run: the real
  scheduler of ``make_scheduler`` with a job whose next run time is a day in
  the past.
- A clock that jumps backwards republishes nothing, skips nothing and rewrites
  no file needlessly.
- A second ``run`` on the same store refuses to start and says why: that is
  ``tests/test_schedule.py::test_a_second_run_on_the_same_store_refuses_to_start``.
- After a restart, ``run`` resumes without redoing finished translations.
"""
from __future__ import annotations

import json
import logging
import shutil
import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED

from conftest import ROOT, SAMPLE_SITE, Site, html_source, make_config
from syndicator.cycle import run_once
from syndicator.schedule import make_scheduler, run_forever
from syndicator.store import open_store
from syndicator.translate import Engines
from syndicator.translate.packages import install_file
from test_crash import (Syndicator, make_project, sigterm_while_translating, store_state,
                        translated_rows)


def own_translations(root: Path) -> dict:
    target = root / "translations"
    shutil.copytree(ROOT / "translations", target,
                    ignore=shutil.ignore_patterns("news.po", "*.lock"))
    return {"dir": str(target)}


class CycleProbe(logging.Handler):
    """Sees each real cycle begin ("stage: fetch") and end; a second cycle that begins
    while one runs fails to take the probe lock: an overlap."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.probe = threading.Lock()
        self.spans: list[list[float]] = []
        self.overlaps: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message == "stage: fetch":
            if not self.probe.acquire(blocking=False):
                self.overlaps.append(f"a cycle began in {record.threadName} while another ran")
                return
            self.spans.append([time.monotonic(), 0.0])
        elif message.startswith(("cycle done", "cycle for")):  # done, failed or stopped
            if self.spans and not self.spans[-1][1]:
                self.spans[-1][1] = time.monotonic()
                self.probe.release()


def test_cycles_of_sources_due_at_once_run_one_after_the_other(tmp_path, site,
                                                              lexicon_package):
    shutil.copytree(SAMPLE_SITE, tmp_path / "mirror")
    mirror = Site(tmp_path / "mirror")
    config = make_config(tmp_path, languages={"targets": ["ru"]},
                         translations=own_translations(tmp_path),
                         sources=[html_source(site, interval="2s"),
                                  html_source(mirror, name="mirror", interval="2s")])
    install_file(lexicon_package, config.argos.packages_dir)
    probe = CycleProbe()
    logger = logging.getLogger("syndicator")
    logger.addHandler(probe)
    level = logger.level
    logger.setLevel(logging.INFO)
    stop = threading.Event()
    runner = threading.Thread(target=run_forever, args=(config, stop))
    try:
        runner.start()
        deadline = time.monotonic() + 90
        while len([s for s in probe.spans if s[1]]) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        runner.join(timeout=60)
        logger.removeHandler(probe)
        logger.setLevel(level)
        mirror.close()
    assert not runner.is_alive()
    assert not probe.overlaps, probe.overlaps
    done = [s for s in probe.spans if s[1]]
    assert len(done) >= 4, f"only {len(done)} cycle(s) ran in 90 s"
    for (_, end), (start, _) in zip(done, done[1:]):
        assert start >= end, "two cycles overlapped in time"
    counts = open_store(config.store_path).count_items()
    assert counts == {"csto": 6, "mirror": 6}
    ru = json.loads((config.output_dir / "ru" / "feed.json").read_text("utf-8"))["items"]
    assert len(ru) == 12 and all(i["_syndicator"]["translation"] == "translated" for i in ru)


def test_an_article_two_source_jobs_list_is_published_once(tmp_path, site):
    """`run` runs one job per source. Two listings (news, events) link the same article
    pages; whichever job runs first stores them, and subscribers see each article once:
    the second job gets 304 for the shared pages (validators are kept per URL) and does
    not store them again under its own name."""
    listing = (site.root / "news" / "index.html").read_text("utf-8")
    (site.root / "news" / "events.html").write_text(
        listing.replace('class="next"', 'class="no-next"'), "utf-8")
    config = make_config(tmp_path, languages={"targets": ["ru"]},
                         translations=own_translations(tmp_path), sources=[
        html_source(site), html_source(site, name="events", url=site.url + "news/events.html")])
    now = datetime(2030, 1, 2, tzinfo=timezone.utc)
    run_once(config, now=now, sources=[config.sources[1]])  # the "events" job runs first
    report = run_once(config, now=now, sources=[config.sources[0]])  # then "csto"
    assert not report.errors, report.errors
    counts = open_store(config.store_path).count_items()
    assert counts == {"events": 4, "csto": 2}, counts
    for lang in ("en", "ru"):
        items = json.loads((config.output_dir / lang / "feed.json").read_text("utf-8"))["items"]
        links = [i["url"] for i in items]
        assert len(links) == len(set(links)) == 6, (lang, links)


def _scheduled_once(config, past: timedelta, watch: float = 4.0) -> tuple[int, int, object]:
    """Start the real scheduler with the job's next run ``past`` ago; count what it does."""
    store = open_store(config.store_path)
    scheduler = make_scheduler(config, store, Engines(config))
    events = {"executed": 0, "missed": 0, "error": 0}

    def listen(event):
        kind = {EVENT_JOB_EXECUTED: "executed", EVENT_JOB_MISSED: "missed",
                EVENT_JOB_ERROR: "error"}[event.code]
        events[kind] += 1

    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    scheduler.start(paused=True)
    (job,) = scheduler.get_jobs()
    job.modify(next_run_time=datetime.now(timezone.utc) - past)
    scheduler.resume()
    try:
        deadline = time.monotonic() + 60
        while not any(events.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(watch)  # any further catch-up runs would come now
        next_run = scheduler.get_job(job.id).next_run_time
    finally:
        scheduler.shutdown(wait=True)
    assert not events["error"], events
    return events["executed"], events["missed"], next_run


def test_a_long_suspend_gives_one_catch_up_run_of_a_frequent_source(tmp_path, site):
    """Interval 1 min, asleep for a day: 1440 runs were missed; exactly one runs."""
    config = make_config(tmp_path, languages={"targets": ["ru"]},
                         translations=own_translations(tmp_path),
                         sources=[html_source(site, interval="1m")])
    executed, missed, next_run = _scheduled_once(config, timedelta(days=1))
    assert executed == 1, f"{executed} run(s) after the suspend, {missed} reported missed"
    assert next_run > datetime.now(timezone.utc)
    assert open_store(config.store_path).count_items() == {"csto": 6}


def test_a_long_suspend_gives_one_catch_up_run_of_a_slow_source(tmp_path, site):
    """Interval 30 min (longer than schedule.misfire_grace, 5 min), asleep for a day and
    20 minutes: the last missed run is 20 minutes old. It must still run once, at wake-up,
    not be dropped until the next tick half an hour later."""
    config = make_config(tmp_path, languages={"targets": ["ru"]},
                         translations=own_translations(tmp_path),
                         sources=[html_source(site, interval="30m")])
    executed, missed, next_run = _scheduled_once(config, timedelta(days=1, minutes=20),
                                                 watch=2.0)
    assert executed == 1, (
        f"after a suspend, a source whose interval (30 min) is longer than "
        f"schedule.misfire_grace (5 min) ran {executed} time(s) ({missed} run reported "
        f"missed); it waits for its next tick at {next_run:%H:%M} instead of catching up")


def test_a_clock_that_jumps_back_republishes_nothing_and_skips_nothing(tmp_path):
    items = tmp_path / "items"
    items.mkdir()

    def write(n: int, date: str) -> None:
        (items / f"item-{n}.md").write_text(
            f"---\ntitle: Item {n}\ndate: {date}\nguid: item-{n}\n"
            f"url: https://example.org/{n}\n---\nBody of item {n}.\n", encoding="utf-8")

    for n in range(3):
        write(n, f"2024-09-0{n + 1}T10:00:00+03:00")
    write(3, "")  # no date: dated when first seen
    config = make_config(tmp_path, languages={"targets": ["ru", "hy"]},
                         translations=own_translations(tmp_path),
                         sources=[{"name": "desk", "type": "files", "path": "items"}])
    t = datetime(2030, 1, 2, 12, tzinfo=timezone.utc)
    run_once(config, now=t)
    feeds = config.output_dir

    def snapshot() -> dict[Path, tuple[int, bytes]]:
        return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in feeds.rglob("*")
                if p.is_file()}

    def guids(lang: str) -> list[str]:
        return [i["id"] for i in json.loads((feeds / lang / "feed.json").read_text())["items"]]

    before, first_guids = snapshot(), {lang: guids(lang) for lang in ("en", "ru", "hy")}
    # The clock jumps back a day; nothing changed at the source.
    report = run_once(config, now=t - timedelta(days=1))
    assert report.written == () and snapshot() == before, "files rewritten after a clock jump"
    # A new item arrives while the clock is still a day behind.
    write(4, "2024-09-05T10:00:00+03:00")
    write(5, "")
    report = run_once(config, now=t - timedelta(days=1))
    assert report.new == 2 and not report.errors, report
    after = snapshot()
    changed = {p.relative_to(feeds).as_posix() for p in after
               if p not in before or before[p] != after[p]}
    expected = {f"{lang}/{name}" for lang in ("en", "ru", "hy")
                for name in ("rss.xml", "atom.xml", "feed.json", "index.html", "widget.html")}
    assert changed == expected, f"rewritten needlessly: {sorted(changed - expected)}; " \
                                f"not updated: {sorted(expected - changed)}"
    for lang in ("en", "ru", "hy"):
        now_guids = guids(lang)
        assert len(now_guids) == len(set(now_guids)) == 6, (lang, now_guids)
        assert set(first_guids[lang]) < set(now_guids), f"{lang}: a published GUID changed"
    # The clock comes back: still nothing to do.
    again = snapshot()
    report = run_once(config, now=t + timedelta(hours=1))
    assert report.written == () and snapshot() == again


def test_after_a_restart_run_resumes_without_redoing_finished_translations(
        tmp_path, lexicon_package):
    items = 70  # three chunks of translate.ITEMS_PER_BATCH = 32
    project = make_project(tmp_path / "project", lexicon_package, items, targets=("ru",),
                           max_items=10, archive_size=50)
    first, _, _, _ = sigterm_while_translating(project)
    assert first.process.returncode == 0, first.stderr()[-3000:]
    done, memory = translated_rows(project), store_state(project)["memory"]
    assert 0 < len(done) < items
    restarted = Syndicator(project, "run")
    try:
        assert restarted.wait_for("done", timeout=300), restarted.stderr()[-3000:]
    finally:
        restarted.process.send_signal(signal.SIGTERM)
        restarted.process.wait(timeout=60)
        restarted.reader.join(timeout=10)
    assert restarted.process.returncode == 0, restarted.stderr()[-3000:]
    final, state = translated_rows(project), store_state(project)
    assert len(final) == items
    assert all(final[i] == row for i, row in done.items()), \
        "the restarted run re-translated items finished before the stop"
    assert state["memory"] >= memory
    store = open_store(project / "var" / "syndicator.db")
    last = store.last_run()
    store.engine.dispose()
    assert last["translated"] == {"ru": items - len(done)}, last["translated"]
