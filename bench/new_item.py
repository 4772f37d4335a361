"""One new item on a store of 10,000 items in 7 languages, against a cold full rebuild.

The store (bench/store10k.py): 10,000 items with translations into ru hy be kk
ky tg, news.po catalogs holding every item's segments, the published feeds,
and one RSS source on 127.0.0.1. Each round:

(n) the served feed gains one item and ``run_once`` runs: fetch (one 200), store,
    translate the new item into 6 languages (an instant stand-in engine, so the
    figure is about everything but the model), merge the catalogs, publish;
(c) a cold full rebuild of the same store: publishing everything into an empty
    folder (7 languages × RSS, Atom, JSON Feed, HTML, widget, every archive
    page) plus every item's news.po entries into empty catalogs.

Checked every round: one new item; per language and format at most 2
documents rewritten or created (the subscription document plus one archive
page; index.html and widget.html are single documents). Printed: both times,
the new-item cycle's stages, and (n)/(c) (target <= 2%).

``--store PATH``: a copy of a store of your own instead (bench/own_store.py).

    python bench/new_item.py [--runs 5] [--items 10000 | --store PATH [--config FILE]]
"""
from __future__ import annotations

import argparse
import re
import shutil
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import common
import own_store
import store10k
from common import median

STAGES = ("fetch_sources", "store_results", "import_catalogs", "translate_pending",
          "export_catalogs", "publish_all")


def kind(path: Path) -> tuple[str, str]:
    """(language, document kind): rss, atom, json, index.html, widget.html."""
    if path.suffix == ".html":
        return path.parent.name, path.name
    fmt = "json" if path.suffix == ".json" else re.match(r"(rss|atom)", path.name)[1]
    return path.parent.name, fmt


def stage_timer():
    """Wrap the cycle's stages to time them (the cycle calls them by these names)."""
    import syndicator.cycle as cycle

    spent = Counter()
    for name in STAGES:
        original = getattr(cycle, name)

        def timed_stage(*args, _original=original, _name=name, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_name] += time.perf_counter() - start
        setattr(cycle, name, timed_stage)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    own_store.add_arguments(parser)
    args = parser.parse_args()

    from syndicator.cycle import run_once

    bench, other = store10k.start("new-item", parser, args)
    root = bench.root
    config, store, engines = bench.config, bench.store, bench.engines
    spent = stage_timer()
    times = {"n": [], "c": []}
    stages = []
    cold_parts = []
    for r in range(args.runs):
        now = bench.now + timedelta(hours=r + 1)
        bench.add_feed_item(bench.n + r, now - timedelta(minutes=1))
        before = store10k.snapshot(config.output_dir)
        calls = engines.bench.calls
        spent.clear()

        def new_item():
            report = run_once(config, store=store, engines=engines, now=now)
            assert report.new == 1 and not report.errors, report

        def cold():
            dest = root / f"cold{r}"
            cold_parts.append(store10k.cold_rebuild(bench, dest))
            shutil.rmtree(dest)

        for key in ("nc" if r % 2 == 0 else "cn"):
            common.settle()
            if key == "n":
                times["n"].append(common.timed(new_item))
                stages.append(dict(spent))
            else:
                cold()
                times["c"].append(cold_parts[-1]["total"])
        after = store10k.snapshot(config.output_dir)
        changed = [p for p in after if before.get(p) != after[p]]
        per_kind = Counter(kind(p) for p in changed if p.parent != config.output_dir)
        worst = max(per_kind.values(), default=0)
        assert worst <= 2, sorted(map(str, changed))
        assert engines.bench.calls - calls == len(config.targets)  # one batch per language
        print(f"round {r + 1}: new item {times['n'][-1]:6.3f} s, cold rebuild "
              f"{times['c'][-1]:6.1f} s (publish {cold_parts[-1]['publish']:.1f} s + catalogs "
              f"{cold_parts[-1]['catalogs']:.1f} s), ratio {times['n'][-1] / times['c'][-1]:.2%}"
              f"; {len(changed)} files changed, at most {worst} per language and format",
              flush=True)
    bench.close()
    shutil.rmtree(root, ignore_errors=True)

    ratio = median(n / c for n, c in zip(times["n"], times["c"]))
    print(f"\nmedians of {args.runs} rounds:")
    print(f"  (n) run_once with one new item        {median(times['n']):8.3f} s")
    for name in STAGES:
        print(f"        {name:<30}{median(s.get(name, 0.0) for s in stages):8.3f} s")
    print(f"  (c) cold full rebuild                 {median(times['c']):8.2f} s")
    print(f"        publish_all into an empty folder{median(c['publish'] for c in cold_parts):8.2f} s")
    print(f"        news.po of every item, targets  {median(c['catalogs'] for c in cold_parts):8.2f} s")
    print(f"ratio (n)/(c) = {ratio:.2%}   target <= 2%   {'MET' if ratio <= 0.02 else 'MISSED'}")
    print("documents rewritten or created per language and format: at most 2 in every round")
    print(other.note())


if __name__ == "__main__":
    main()
