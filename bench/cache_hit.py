"""A translation stage that the translation memory answers entirely, against the first one.

The performance issue's figure: a cache-hit cycle (everything already in
translation memory) costs at most 1% of the first translation.

Each round, on a fresh store: a feed of N items (bench/pipeline.py's feed,
served on 127.0.0.1) is fetched and stored, untimed. Then, with the engine
and its Marian-size model already loaded (bench/marian.py, fixed decoding
length, so the work is equal in every round):

(f) ``translate_pending``: the first translation of every item into Russian;
(h) ``store.mark_stale()`` (what ``translate --refresh`` does) and
    ``translate_pending`` again: every segment is in the memory, so nothing may
    reach CTranslate2; the script checks that no sentence did.

Printed: both times and (h)/(f) (target <= 1%).

    python bench/cache_hit.py [--runs 5] [--items 100]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import common
import marian
from common import median, serve, timed
from pipeline import NOW, make_config, write_feed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--items", type=int, default=100)
    args = parser.parse_args()

    from syndicator.cycle import Progress, fetch_sources, store_results
    from syndicator.store import open_store
    from syndicator.translate import Engines, translate_pending

    other = common.OtherLoad()
    package = marian.cached_package()
    work = Path(tempfile.mkdtemp(prefix="syndicator-bench-"))
    write_feed(work / "site", args.items)
    server = serve(work / "site")
    url = f"http://127.0.0.1:{server.server_address[1]}/news.rss"
    print(f"machine: {common.machine_note()}")
    times = {"f": [], "h": []}
    with marian.fixed_decoding_length(32) as Translator:
        engines = None
        for r in range(args.runs):
            config = make_config(work / f"run{r}", url, package.parent, args.items)
            engines = engines or Engines(config)  # loaded once, as in `syndicator run`
            store = open_store(config.store_path)
            results = fetch_sources(config, store, None, NOW, Progress())
            assert store_results(store, results, NOW)[0] == args.items
            Translator.recorded = sent = []
            times["f"].append(timed(lambda: translate_pending(store, engines, config, NOW)))
            first = len(sent)
            Translator.recorded = sent = []
            assert store.mark_stale() > 0

            def again():
                assert translate_pending(store, engines, config, NOW) == {"ru": args.items}
            times["h"].append(timed(again))
            assert not sent, f"{len(sent)} sentences reached CTranslate2 on a cache hit"
            Translator.recorded = None
            store.engine.dispose()
            print(f"round {r + 1}: first {times['f'][-1]:6.2f} s ({first} sentences), "
                  f"all from memory {times['h'][-1]:6.3f} s, "
                  f"ratio {times['h'][-1] / times['f'][-1]:.2%}", flush=True)
    server.shutdown()
    ratio = median(h / f for f, h in zip(times["f"], times["h"]))
    print(f"\nmedians of {args.runs} rounds, {args.items} items into ru:")
    print(f"  (f) first translation       {median(times['f']):7.2f} s")
    print(f"  (h) everything from memory  {median(times['h']):7.3f} s")
    print(f"ratio (h)/(f) = {ratio:.2%}   target <= 1%   {'MET' if ratio <= 0.01 else 'MISSED'}")
    print(other.note())


if __name__ == "__main__":
    main()
