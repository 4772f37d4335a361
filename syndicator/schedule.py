"""``syndicator run``: cycles on an APScheduler 3.x schedule.

One job per source at its own interval; each job fetches its source, then
translates and publishes what is pending. A single worker thread plus
``max_instances=1`` means cycles never overlap; ``coalesce`` folds runs
missed during a suspend into one catch-up run. The store lock keeps a second
``run`` or a ``once`` off the same store. SIGTERM or SIGINT lets the running
cycle end at its next safe point and starts none of the queued ones.
"""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from .config import Config, SourceConfig
from .cycle import run_once, store_lock
from .errors import SyndicatorError
from .store import Store, open_store
from .translate import Engines
from .translate.control import STOP, Interrupted

log = logging.getLogger(__name__)
WAKE_EVERY = 0.5  # seconds: at most this long between a signal and its handler


def make_scheduler(config: Config, store: Store, engines: Engines) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone=timezone.utc,
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        # No grace limit: after a suspend, a source that missed runs runs once at
        # wake-up (coalesce), however long its interval, instead of waiting a tick.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    now = datetime.now(timezone.utc)
    for source in config.sources:
        if source.enabled:
            scheduler.add_job(_cycle, "interval", seconds=source.interval, id=source.name,
                              name=f"cycle for {source.name}", next_run_time=now,
                              args=[config, store, engines, source])
    return scheduler


def _cycle(config: Config, store: Store, engines: Engines, source: SourceConfig) -> None:
    if STOP.is_set():
        # A stop was asked for while this cycle waited in the worker's queue (every
        # job is due at startup, and the one worker takes them in turn). APScheduler's
        # shutdown lets the pool drain its queue, so the cycle is still called: run,
        # it would fetch, import and publish in full, a whole cycle per queued
        # source, and a stop could outlast systemd's timeout and end in SIGKILL.
        log.info("cycle for %s not started: stopping", source.name)
        return
    try:
        run_once(config, store=store, engines=engines, sources=[source])
    except Interrupted:
        log.info("cycle for %s stopped; finished work is stored", source.name)
    except SyndicatorError as exc:
        log.error("cycle for %s failed: %s", source.name, exc)
    except Exception:  # a bug in one cycle must not end a months-long `run`
        log.exception("cycle for %s crashed", source.name)


def run_forever(config: Config, stop: threading.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set); finishes the running cycle first,
    and starts none of the cycles waiting for the worker."""
    stop = stop or threading.Event()
    with store_lock(config.store_path):
        store = open_store(config.store_path)
        engines = Engines(config)
        scheduler = make_scheduler(config, store, engines)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: (stop.set(), STOP.set()))
        scheduler.start()
        log.info("running %d source job(s); stop with Ctrl-C or SIGTERM",
                 len(scheduler.get_jobs()))
        try:
            # Not one untimed wait: the kernel may hand SIGTERM to any thread (a
            # translation worker's), and Python runs the handler only in the main
            # thread, between bytecodes; asleep in the wait, it would never run.
            while not stop.wait(WAKE_EVERY):
                pass
        finally:
            log.info("stopping: the running cycle ends after its current batch; "
                     "queued cycles do not start")
            STOP.set()  # translation checks it between batches, and _cycle before starting
            scheduler.shutdown(wait=True)
            STOP.clear()
