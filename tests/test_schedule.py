"""`syndicator run`: cycles on an APScheduler schedule, a clean stop, one process per store."""
from __future__ import annotations

import ctypes
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from syndicator.schedule import make_scheduler, run_forever
from syndicator.store import open_store
from syndicator.translate import Engines

from conftest import ROOT, SITE_TOML, SiteHandler, html_source, make_config, run_cli
from test_cli import _project_copy


def test_run_publishes_then_stops_cleanly_on_sigterm(tmp_path):
    project = _project_copy(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "syndicator", "-v", "run"], cwd=project,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        target = project / "feeds" / "tg" / "atom.xml"
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert target.exists(), "run did not publish within 60 s"
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "stopping" in stderr


FETCH_SECONDS = 5  # how long the slow feed server takes to answer each request


def _feeds_project(root: Path, site, sources: int) -> Path:
    """A project whose ``sources`` feed sources all read the sample site's RSS feed,
    each under its own URL (validators are kept per URL: no source gets a 304)."""
    root.mkdir()
    shutil.copytree(ROOT / "translations", root / "translations",
                    ignore=shutil.ignore_patterns("news.po", "*.lock"))
    feeds = "".join(f'''
[[sources]]
name = "feed-{n}"
type = "feed"
url = "{site.url}news.rss?source={n}"
interval = "1h"
''' for n in range(1, sources + 1))
    (root / "config.toml").write_text(f'''
{SITE_TOML}[languages]
targets = ["ru"]
{feeds}
[http]
timeout = {FETCH_SECONDS * 4}
retries = 0
''', encoding="utf-8")
    return root


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_lets_the_running_cycle_end_and_starts_none_of_the_queued_cycles(
        tmp_path, site, signum):
    """At startup every source's job is due at once, and the one worker runs them in
    turn: the others wait in its queue. APScheduler's shutdown lets that queue drain,
    so a stop used to run every queued cycle in full first: with N sources, N fetches,
    imports and publishes, and systemd's stop timeout ended it with SIGKILL."""
    sources = 4
    asked: list[str] = []
    fetching = threading.Event()

    def slow_get(handler):
        asked.append(handler.path)
        fetching.set()
        time.sleep(FETCH_SECONDS)
        SiteHandler.do_GET(handler)

    site.handler.do_GET = slow_get
    project = _feeds_project(tmp_path / "project", site, sources)
    process = subprocess.Popen([sys.executable, "-m", "syndicator", "-v", "run"], cwd=project,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert fetching.wait(60), "run fetched no source within 60 s"
        # The first cycle's fetch is under way.
        stderr, took = _stopped(process, lambda: process.send_signal(signum), 120,
                                "run did not stop within 120 s of the signal")
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert len(asked) == 1, f"cycles queued before the stop fetched after it: {asked}"
    assert stderr.count("stage: fetch") == 1, stderr
    assert stderr.count("not started: stopping") == sources - 1, stderr
    # `run` waits for the fetch under way, and never for another one.
    assert took < 2 * FETCH_SECONDS, f"run took {took:.1f} s to stop after the signal"
    store = open_store(project / "var" / "syndicator.db")
    try:
        # The running cycle stored what it fetched; no other source was even tried.
        fetched = [state["name"] for state in store.source_states()]
        counts = store.count_items()
    finally:
        store.engine.dispose()
    assert len(fetched) == 1 and counts == {fetched[0]: 6}, (fetched, counts)


def _tgkill(pid: int, tid: int, signum: int) -> None:
    """Send ``signum`` to one thread of ``pid`` (Linux's tgkill; Python has no wrapper)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(TGKILL[platform.machine()], pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), "tgkill failed")


def _stopped(process: subprocess.Popen, signal_it, timeout: float,
             failure: str) -> tuple[str, float]:
    """Signal ``process`` (``signal_it()``) and wait for it to end: its stderr, and the
    seconds it took to stop."""
    signalled = time.monotonic()
    signal_it()
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(failure)
    return stderr, time.monotonic() - signalled


TGKILL = {"x86_64": 234, "aarch64": 131}  # the syscall's number on each architecture


@pytest.mark.skipif(not Path("/proc/self/task").is_dir() or platform.machine() not in TGKILL,
                    reason="needs Linux's /proc/<pid>/task and tgkill on x86_64 or aarch64")
def test_run_stops_on_a_sigterm_the_kernel_hands_to_another_thread(tmp_path):
    """kill(2) lets the kernel deliver a process's signal to any of its threads that does
    not block it (a translation worker's, APScheduler's). Python runs handlers only in
    the main thread, when it runs bytecode: a main thread asleep in an untimed wait
    never woke, and `run` ignored SIGTERM for good (the likely cause of one hang of
    test_crash.py's SIGTERM test in ~35 runs of the suite)."""
    project = _project_copy(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "syndicator", "-v", "run"], cwd=project,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:
            if "syndicator.cycle: cycle done" in line:
                break
        assert process.poll() is None, "run ended before its first cycle was done"
        others = [int(tid) for tid in os.listdir(f"/proc/{process.pid}/task")
                  if int(tid) != process.pid]
        assert others, "run has no thread besides its main one"
        stderr, took = _stopped(
            process, lambda: _tgkill(process.pid, others[0], signal.SIGTERM), 30,
            "run ignored for 30 s a SIGTERM delivered to one of its other threads")
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert took < 5, f"run took {took:.1f} s to stop after SIGTERM"


def test_a_second_run_on_the_same_store_refuses_to_start(tmp_path):
    project = _project_copy(tmp_path)
    first = subprocess.Popen([sys.executable, "-m", "syndicator", "run"], cwd=project,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = project / "var" / "syndicator.db.lock"
        deadline = time.monotonic() + 30
        while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        second = run_cli("run", cwd=project, check=False, timeout=30)
        assert second.returncode == 3
        assert f"another syndicator process (pid {first.pid})" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=15)


def test_jobs_never_overlap_and_missed_runs_coalesce(tmp_path, site):
    config = make_config(tmp_path, sources=[html_source(site, interval="1m"),
                                            html_source(site, name="other", interval="2m")])
    scheduler = make_scheduler(config, open_store(config.store_path), Engines(config))
    scheduler.start(paused=True)  # job defaults apply when the scheduler starts
    jobs = {job.id: job for job in scheduler.get_jobs()}
    scheduler.shutdown(wait=False)
    assert set(jobs) == {"csto", "other"}
    for job in jobs.values():
        assert job.max_instances == 1 and job.coalesce is True
        assert job.misfire_grace_time is None  # late runs run once, however late
    assert jobs["csto"].trigger.interval.total_seconds() == 60
    # One worker thread: cycles of different sources run one after another.
    assert scheduler._executors["default"]._pool._max_workers == 1


def test_run_forever_runs_a_cycle_per_source_and_returns_when_stopped(tmp_path, site):
    config = make_config(tmp_path, sources=[html_source(site)], languages={"targets": ["ru"]})
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(config, stop))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not (config.output_dir / "ru" / "atom.xml").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert (config.output_dir / "ru" / "atom.xml").exists()
    assert open_store(config.store_path).count_items() == {"csto": 6}
