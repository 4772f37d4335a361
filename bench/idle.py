"""An idle cycle on a store of 10,000 items in 7 languages, against a cold full rebuild.

The store (bench/store10k.py): 10,000 items with translations into ru hy be kk
ky tg, news.po catalogs holding every item's segments, the published feeds,
and one RSS source on 127.0.0.1 that answers 304 Not Modified. Each round:

(i) ``run_once``: nothing is new, so nothing may be translated or written;
(c) a cold full rebuild of the same store: publishing everything into an empty
    folder (7 languages × RSS, Atom, JSON Feed, HTML, widget, every archive
    page) plus every item's news.po entries into empty catalogs.

Checked every round: no file under feeds/ or translations/ changes (mtime,
inode, size), the engine is never called. Once, untimed: every SQL statement
the idle cycle runs is captured (SQLAlchemy ``before_cursor_execute``) and
explained with EXPLAIN QUERY PLAN; any SCAN of items or translations, and
any index range that holds every translation of a language (``(lang=?)``
alone: as long as the archive), is listed. Printed: both times and (i)/(c)
(target <= 1%).

``--store PATH``: a copy of a store of your own instead (bench/own_store.py).

    python bench/idle.py [--runs 5] [--items 10000 | --store PATH [--config FILE]]
"""
from __future__ import annotations

import argparse
import re
import shutil

import sqlalchemy as sa

import common
import own_store
import store10k
from common import median


def capture_sql(engine: sa.Engine):
    """Record (statement, parameters) of everything run on ``engine``."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("PRAGMA", "EXPLAIN")):
            seen.append((statement, parameters))
    sa.event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: sa.event.remove(engine, "before_cursor_execute", record)


def query_plans(engine: sa.Engine, statements) -> list[tuple[str, list[str]]]:
    plans = []
    with engine.connect() as conn:
        for statement, parameters in dict.fromkeys(
                (s, p if not isinstance(p, list) else tuple(p)) for s, p in statements):
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            plans.append((statement, [row[-1] for row in rows]))
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    own_store.add_arguments(parser)
    args = parser.parse_args()

    from syndicator.cycle import run_once

    bench, other = store10k.start("idle", parser, args)
    root = bench.root
    config, store, engines = bench.config, bench.store, bench.engines

    def idle():
        report = run_once(config, store=store, engines=engines, now=bench.now)
        assert report.new == report.updated == 0 and not report.written \
            and not report.errors, report

    watched = (config.output_dir, config.translations_dir)
    before = store10k.snapshot(*watched)
    seen, stop = capture_sql(store.engine)
    idle()  # untimed: the statements an idle cycle runs
    stop()
    plans = query_plans(store.engine, seen)
    scans = [(s, line) for s, lines in plans for line in lines
             if re.match(r"SCAN (items|translations)\b"
                         r"|SEARCH translations USING (COVERING )?INDEX \w+ \(lang=\?\)$", line)]

    times = {"i": [], "c": []}
    cold_parts = []
    for r in range(args.runs):
        def cold():
            dest = root / f"cold{r}"
            cold_parts.append(store10k.cold_rebuild(bench, dest))
            shutil.rmtree(dest)

        for key in ("ic" if r % 2 == 0 else "ci"):
            if key == "i":
                times["i"].append(common.timed(idle))
            else:
                cold()
                times["c"].append(cold_parts[-1]["total"])
        print(f"round {r + 1}: idle cycle {times['i'][-1] * 1000:7.1f} ms, cold rebuild "
              f"{times['c'][-1]:6.1f} s (publish {cold_parts[-1]['publish']:.1f} s + catalogs "
              f"{cold_parts[-1]['catalogs']:.1f} s), ratio {times['i'][-1] / times['c'][-1]:.3%}",
              flush=True)
    after = store10k.snapshot(*watched)
    changed = sorted(str(p) for p in set(before) | set(after) if before.get(p) != after.get(p))
    bench.close()
    shutil.rmtree(root, ignore_errors=True)

    ratio = median(i / c for i, c in zip(times["i"], times["c"]))
    print(f"\nmedians of {args.runs} rounds:")
    print(f"  (i) idle run_once                     {median(times['i']) * 1000:8.1f} ms")
    print(f"  (c) cold full rebuild                 {median(times['c']):8.2f} s")
    print(f"        publish_all into an empty folder{median(c['publish'] for c in cold_parts):8.2f} s")
    print(f"        news.po of every item, targets  {median(c['catalogs'] for c in cold_parts):8.2f} s")
    print(f"ratio (i)/(c) = {ratio:.3%}   target <= 1%   {'MET' if ratio <= 0.01 else 'MISSED'}")
    print(f"files changed under feeds/ and translations/ by {args.runs + 1} idle cycles: "
          f"{len(changed)}" + "".join(f"\n  {p}" for p in changed))
    print(f"translation engine calls: {engines.bench.calls}")
    print(f"SQL statements of one idle cycle: {len(seen)} ({len(plans)} distinct); "
          f"full scans of items/translations, or of a language's translations: {len(scans)}")
    for statement, line in scans:
        print(f"  {line}: {' '.join(statement.split())[:160]}")
    print(other.note())


if __name__ == "__main__":
    main()
