"""Memory: peak RSS of a cold cycle over 10,000 items, and RSS over 100 cycles in one process.

One process, as ``syndicator run`` is one process:

1. imports, then the Marian-base-sized en→ru model (bench/marian.py) loaded as
   the argos engine serving ru (its RSS growth is "the model");
2. a cold cycle over the store of bench/store10k.py (10,000 items, 7 languages):
   everything is published into an empty folder. Its peak RSS must stay within
   the model + 300 MB (over the interpreter with its imports). A large publish
   renders half its languages in a forked process (syndicator/publish/parallel.py),
   so the peak counted is the larger of this process's own peak RSS and the
   peak, sampled every 10 ms, of its RSS plus the private memory of its child
   processes (the pages a child shares with this process count once);
3. 100 more cycles with ``run_once`` in the same process and engine: every 4th
   brings one new item (translated into ru by the model, decoding a fixed
   length; the other languages have no model and publish it as awaiting), the
   others are idle. RSS after each cycle; it must stay flat after the first
   cycle (last 50 cycles within 5% of cycles 2..10).

``--store PATH``: a copy of a store of your own instead (bench/own_store.py).

    python bench/memory.py [--items 10000 | --store PATH [--config FILE]] [--cycles 100]
"""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

import common
import marian
import own_store
import store10k

BUDGET_MB = 300


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def private_mb(pid: int) -> float:
    """A process's private memory (Private_Clean + Private_Dirty), 0 once it has ended."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return sum(int(line.split()[1]) for line in lines
               if line.startswith(("Private_Clean:", "Private_Dirty:"))) / 1024


def children() -> list[int]:
    """This process's child processes (each thread lists those it started)."""
    pids = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += map(int, (task / "children").read_text().split())
        except FileNotFoundError:  # the thread has ended
            pass
    return pids


class TreePeak(threading.Thread):
    """The peak of this process's RSS plus its children's private memory, every 10 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0.0
        self.parts = (0.0, 0.0)  # at the peak: this process's RSS, the children's private
        self.children_seen = 0
        self._done = threading.Event()

    def run(self) -> None:
        seen = set()
        while not self._done.wait(0.01):
            kids = children()
            seen.update(kids)
            own, theirs = rss_mb(), sum(map(private_mb, kids))
            if own + theirs > self.peak:
                self.peak, self.parts = own + theirs, (own, theirs)
        self.children_seen = len(seen)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    own_store.add_arguments(parser)
    parser.add_argument("--cycles", type=int, default=100)
    args = parser.parse_args()
    own = own_store.from_args(parser, args)

    other = common.OtherLoad()
    print(f"machine: {common.machine_note()}")
    if not store10k.cache_ready(args.items, own):  # another process: no trace in RSS
        subprocess.run([sys.executable, str(Path(__file__).with_name("store10k.py")),
                        *own_store.arguments(own, args.items)], check=True, capture_output=True)

    import syndicator.cycle  # noqa: F401  (every import a cycle needs)
    from syndicator.cycle import run_once
    from syndicator.translate import Engines

    root = Path(tempfile.mkdtemp(prefix="syndicator-memory-"))
    config = store10k.make_config(root, "http://127.0.0.1:1/unused")
    config = own_store.configure(config, own) if own else config
    # The model serves one language, Russian unless the store has none.
    pair = (config.source_language, "ru" if "ru" in config.targets else config.targets[0])
    # Built in another process too: building the model peaks at ~450 MB, which
    # this process's peak RSS would otherwise count.
    subprocess.run([sys.executable, str(Path(__file__).with_name("marian.py")), *pair],
                   check=True, capture_output=True)
    package = marian.cached_package(*pair)
    with marian.fixed_decoding_length(8):
        base = rss_mb()
        import dataclasses
        argos = dataclasses.replace(config.argos, packages_dir=package.parent)
        engines = Engines(dataclasses.replace(config, argos=argos))
        engines.for_pair(*pair).translate(["The model is loaded."], *pair)
        model = rss_mb() - base
        print(f"RSS after imports {base:.0f} MB; the {'→'.join(pair)} model adds {model:.0f} MB "
              f"({sum(f.stat().st_size for f in (package / 'model').iterdir()) / 2**20:.0f} MB "
              "on disk)")
        tree = TreePeak()
        tree.start()
        bench = store10k.build(root, args.items, engines=engines, own=own, argos=argos)
        engines.config = bench.config
        own_peak, tree_peak = peak_mb(), tree.stop()
        cold_peak = max(own_peak, tree_peak)
        print(f"cold cycle over {bench.n} items (publishes {len(bench.first_report.written)} "
              f"files, {bench.timings['first cycle']:.0f} s): peak RSS {own_peak:.0f} MB; "
              f"with the private memory of its {tree.children_seen} child process(es), "
              f"sampled: {tree_peak:.0f} MB ({tree.parts[0]:.0f} + {tree.parts[1]:.0f}); "
              f"{cold_peak - base:.0f} MB over the imports")
        rss = [rss_mb()]
        translated = 0
        for n in range(1, args.cycles + 1):
            now = bench.now + timedelta(minutes=10 * n)
            if n % 4 == 0:
                bench.add_feed_item(bench.n + n, now - timedelta(minutes=1))
            report = run_once(bench.config, store=bench.store, engines=engines, now=now)
            assert not report.errors and report.new == (n % 4 == 0), report
            translated += report.translated.get(pair[1], 0)
            rss.append(rss_mb())
            if n % 10 == 0:
                print(f"cycle {n:3d}: RSS {rss[-1]:6.1f} MB (peak so far {peak_mb():.0f} MB)",
                      flush=True)
        bench.close()
    shutil.rmtree(root, ignore_errors=True)

    budget = model + BUDGET_MB
    print(f"\npeak RSS of the cold cycle over the imports: {cold_peak - base:.0f} MB; "
          f"budget model + {BUDGET_MB} MB = {budget:.0f} MB   "
          f"{'MET' if cold_peak - base <= budget else 'MISSED'}")
    print(f"(whole process, imports included: {cold_peak:.0f} MB)")
    if args.cycles:
        early = max(rss[1:11])
        late = max(rss[-50:])
        growth = (late - early) / early
        print(f"RSS over {args.cycles} cycles ({args.cycles // 4} new items, {translated} "
              f"translated into {pair[1]}): after cycle 1 {rss[1]:.0f} MB, max of cycles 1-10 "
              f"{early:.0f} MB, max of the last 50 {late:.0f} MB: {growth:+.1%}   target flat "
              f"(within 5%)   {'MET' if growth <= 0.05 else 'MISSED'}")
    else:
        print("no cycles after the cold one (--cycles 0): growth not measured")
    print(other.note())


if __name__ == "__main__":
    main()
