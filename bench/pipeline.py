"""A full cold cycle over a 200-item feed vs translating the same text with translate_batch.

The figure from the foundation issue: pulling, translating and publishing a
source of 200 items takes no longer than 3x translating the same text directly
with ctranslate2's translate_batch.

(p) ``run_once`` with a fresh store and output folder each round: one RSS feed
    of 200 items served over HTTP on 127.0.0.1, targets ["ru"], the
    Marian-base-sized random package (bench/marian.py) for en→ru. The engine
    and its model are created inside run_once, as in `syndicator once`;
    process start-up and imports are not timed.
(t) ctranslate2.Translator.translate_batch (model already loaded) over exactly
    the sentences (p) sends to CTranslate2 — recorded during an untimed first
    cycle, so they are the unique title, summary and body segments split the
    way syndicator splits them — max_batch_size=32, beam 4, length penalty 0.2.

Both decode the same number of tokens per sentence (by default the mean
source length). Each item has a headline and a one-sentence body (its
summary is the same text, so it is translated once); that keeps a run within
~5 minutes, and longer bodies would only add translation work to both sides.

    python bench/pipeline.py [--runs 5] [--items 200] [--length N] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import common
import marian
from common import median, serve, timed

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def write_feed(folder: Path, n: int) -> None:
    bodies = common.sentence_stream(seed=11)
    common.write_rss(folder, [
        common.rss_item(i, title, f"<p>{escape(next(bodies))}</p>",
                        NOW - timedelta(hours=3 * i + 1), image=True)
        for i, title in enumerate(common.headlines(n))])


def make_config(root: Path, url: str, packages_dir: Path, items: int):
    from syndicator.config import SCHEMA, config_from_dict

    translation = {"argos": {"packages_dir": str(packages_dir)}}
    if "chain" in SCHEMA["translation"]:  # newer syndicator: measure argos alone
        translation["chain"] = ["argos"]
    return config_from_dict({
        "site": {"title": "CSTO News", "base_url": "https://feeds.example.org/",
                 "source_language": "en", "timezone": "Europe/Moscow"},
        "languages": {"targets": ["ru"]},
        "sources": [{"name": "csto-rss", "type": "feed", "url": url, "max_items": items}],
        "translation": translation,
        "translations": {"dir": str(Path(__file__).resolve().parents[1] / "translations")},
        "output": {"dir": "feeds", "max_items": items},
        "store": {"path": "var/syndicator.db"},
    }, root / "config.toml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--length", type=int, default=0,
                        help="tokens decoded per sentence (default: the mean source length)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile one more cold cycle with cProfile")
    args = parser.parse_args()

    from syndicator.cycle import run_once
    from syndicator.translate.argos import threads

    other = common.OtherLoad()
    package = marian.cached_package()
    work = Path(tempfile.mkdtemp(prefix="syndicator-bench-"))
    write_feed(work / "site", args.items)
    server = serve(work / "site")
    url = f"http://127.0.0.1:{server.server_address[1]}/news.rss"
    rounds = iter(range(10_000))

    def cycle():
        config = make_config(work / f"run{next(rounds)}", url, package.parent, args.items)
        report = run_once(config, now=NOW)
        assert report.new == args.items and report.translated == {"ru": args.items} \
            and not report.errors, report

    with marian.fixed_decoding_length(2) as Translator:
        # Untimed first cycle (it also warms imports and caches): record what
        # syndicator hands to CTranslate2; (t) translates exactly that.
        Translator.recorded = tokens = []
        cycle()
        Translator.recorded = None
        mean_pieces = sum(map(len, tokens)) / len(tokens)
        Translator.length = args.length or round(mean_pieces)

        print(f"machine: {common.machine_note()}")
        print(f"feed: {args.items} items -> {len(tokens)} sentences sent to CTranslate2, "
              f"{mean_pieces:.1f} pieces each on average; every sentence decodes "
              f"{Translator.length} tokens, beam 4")

        load = timed(lambda: Translator(str(package / "model"), device="cpu"))
        # The same CTranslate2 threads as the cycle's engine (config.toml's defaults).
        inter, intra = threads(make_config(work, url, package.parent, args.items).argos)
        bare = Translator(str(package / "model"), device="cpu", inter_threads=inter,
                          intra_threads=intra)
        options = dict(beam_size=4, length_penalty=0.2, replace_unknowns=True,
                       max_batch_size=32, batch_type="examples")
        bare.translate_batch(tokens[:8], **options)  # warm-up
        times = {"p": [], "t": []}
        for r in range(args.runs):
            jobs = {"p": cycle, "t": lambda: bare.translate_batch(tokens, **options)}
            for key in ("pt" if r % 2 == 0 else "tp"):
                times[key].append(timed(jobs[key]))
            print(f"round {r + 1}: cycle {times['p'][-1]:6.2f} s, translate_batch "
                  f"{times['t'][-1]:6.2f} s, ratio {times['p'][-1] / times['t'][-1]:.2f}",
                  flush=True)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(cycle)
    server.shutdown()

    ratio = median(p / t for p, t in zip(times["p"], times["t"]))
    print(f"\nmedians of {args.runs} rounds:")
    print(f"  (p) cold run_once, {args.items} items       {median(times['p']):7.2f} s")
    print(f"  (t) translate_batch, same sentences   {median(times['t']):7.2f} s "
          f"({len(tokens) / median(times['t']):.1f} sentences/s)")
    print(f"  model load (part of p)                {load:7.2f} s")
    print(f"ratio (p)/(t) = {ratio:.2f}   target <= 3.0   {'MET' if ratio <= 3.0 else 'MISSED'}")
    print(other.note())
    if args.profile:
        print("\nprofile of one more cold cycle (top 30 by cumulative time):")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
