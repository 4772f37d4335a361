"""Publishing throughput: a full rebuild of 7 languages × 10,000 items, against lxml alone.

The store (bench/store10k.py): 10,000 items with translations into ru hy be kk
ky tg. Each round:

(p) ``publish_all`` from a copy of the store into an empty folder: per language
    RSS, Atom, JSON Feed, index.html, widget.html and every RFC 5005 archive
    page in the three feed formats (~700 documents of up to 100 entries);
    of it, (f) is the time spent in ``feeds.rss`` and ``feeds.atom``, summed
    over both processes (a large publish shares its rendering with a forked
    process, syndicator/publish/parallel.py);
(x) ``etree.tostring`` (declaration, UTF-8, pretty print, as syndicator writes)
    of the element trees of exactly the RSS and Atom documents (p) wrote,
    parsed beforehand (untimed): the mean of one run just before (p) and one
    just after.

(s) the same rebuild with every language rendered in this process (no fork),
    bracketed by its own (x); first in even rounds, second in odd ones.

And the floor under (p) that no rendering can remove, each round:
(r) reading with sqlite3 alone every row (p) shows: items, translations
    without their segments, GUIDs;
(w) writing the bytes of (p)'s documents, read beforehand (untimed), into an
    empty folder through syndicator's Writes (temp file, fsync, rename, on the
    same writer threads): durable atomic writes with nothing to render.
(r + w)/(x) is what the reads and writes alone cost against the reference.
(p)/(x + r + w) sets the rebuild against a bare pipeline doing the same work
without syndicator: read those rows, serialise the RSS/Atom trees with lxml,
write every document durably (JSON Feed and HTML rendering are not in it).

With ``--baseline FILE`` (another version of syndicator/publish/feeds.py, e.g.
``git show 5787182:syndicator/publish/feeds.py``, the last one built with
feedgen), each round also replays every ``feeds.rss``/``feeds.atom`` call of a
rebuild, recorded once, through (b) that module and (c) the current one.

Printed: the times, (p)/(x) and (f)/(x) (target <= 2), (r + w)/(x), (p)/(x + r + w),
(b)/(x) and (c)/(x),
and then one more rebuild in one process, sampled by py-spy (bench/spy.py): the
share of its wall-clock time in JSON encoding, in Babel, in jinja2, in
SQLAlchemy/sqlite3, in tempfile and in syndicator's own code, and the top
functions by own and by inclusive time.

``--store PATH``: a copy of a store of your own instead (bench/own_store.py).

    python bench/publish.py [--runs 5] [--items 10000 | --store PATH [--config FILE]] [--top 25] [--baseline FILE]
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import multiprocessing
import shutil
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

from lxml import etree

import common
import own_store
import spy
import store10k
from common import median


def cold_publish(bench, dest: Path, spent, reference=None) -> tuple[float, ...]:
    """The time of a publish_all into an empty folder; with ``reference``, also the
    times of ``reference()`` run just before and just after it."""
    from syndicator.publish import publish_all
    from syndicator.store import open_store

    config = dataclasses.replace(bench.config, output_dir=dest / "feeds",
                                 store_path=dest / "var" / "syndicator.db")
    common.copy_store(bench.config.store_path, config.store_path)
    store = open_store(config.store_path)
    common.settle()  # the 600 MB copy is written back before the clock starts
    before = common.timed(reference) if reference else 0.0
    spent.value = 0.0
    start = time.perf_counter()
    publish_all(store, config, bench.now)
    elapsed = time.perf_counter() - start
    if reference:
        common.settle()  # as before it: no writeback under the reference
    after = common.timed(reference) if reference else 0.0
    store.engine.dispose()
    return elapsed, before, after


# (r): the rows a full rebuild shows, in the columns it reads.
ROWS = ("SELECT id, source, guid, url, title, summary, body, published, updated, "
        "content_hash, author, image, categories FROM items",
        "SELECT item_id, lang, content_hash, status, title, summary, body, engine, reason, "
        "changed FROM translations",
        "SELECT item_id, lang, guid FROM guids")


def read_rows(store_path: Path) -> int:
    """(r): every row (p) shows, read with sqlite3 and nothing else; returns how many."""
    db = sqlite3.connect(store_path)
    try:
        return sum(1 for query in ROWS for _ in db.execute(query))
    finally:
        db.close()


def write_documents(documents: dict[Path, bytes], dest: Path) -> None:
    """(w): ``documents`` (paths relative to the output folder) written under ``dest``
    as publish writes them: atomically, each synced before its rename."""
    from syndicator.publish.write import Writes

    with Writes() as writes:
        for path, data in documents.items():
            writes.write_if_changed(dest / path, data)


def wrap_feeds(spent, recorder: dict) -> dict:
    """Time feeds.rss and feeds.atom into ``spent`` (a multiprocessing.Value, which the
    forked process adds to as well); while ``recorder["calls"]`` is a list, also
    record their calls there. Returns the unwrapped functions."""
    from syndicator.publish import feeds

    originals = {name: getattr(feeds, name) for name in ("rss", "atom")}
    for name, original in originals.items():
        def timed(*args, _name=name, _original=original, **kwargs):
            if recorder["calls"] is not None:
                recorder["calls"].append((_name, args, kwargs))
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                with spent.get_lock():
                    spent.value += elapsed
        setattr(feeds, name, timed)
    return originals


def load_feeds(path: str):
    """A feeds.py from elsewhere, as a module of the syndicator.publish package."""
    spec = importlib.util.spec_from_file_location("syndicator.publish._baseline_feeds", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def one_process():
    """A publish that renders every language in this process, as small ones do."""
    from syndicator import publish

    fork_at, publish.FORK_AT = publish.FORK_AT, float("inf")
    try:
        yield
    finally:
        publish.FORK_AT = fork_at


def replay(functions, calls: list) -> None:
    for name, args, kwargs in calls:
        functions[name](*args, **kwargs)


def shares(own: Counter) -> dict[str, float]:
    """Own time (py-spy's innermost frames) per library, as a share of the whole.
    Time in compiled code counts for the Python function that called it."""
    # orjson is compiled: its time is jsonfeed's own, as lxml's is its caller's.
    groups = {"json": ("(json/",), "babel": ("(babel/",), "jinja2": ("(jinja2/",),
              "sqlalchemy/sqlite3": ("(sqlalchemy/", "(sqlite3/"),
              "tempfile": ("(tempfile.py",), "syndicator": ("(syndicator/",)}
    total = sum(own.values())
    found = Counter()
    for frame, n in own.items():
        for label, needles in groups.items():
            if any(needle in frame for needle in needles):
                found[label] += n
                break
    return {label: found[label] / total for label in groups}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    own_store.add_arguments(parser)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--baseline", help="a feeds.py to time against the current one")
    args = parser.parse_args()

    bench, other = store10k.start("publish", parser, args)
    root = bench.root
    spent = multiprocessing.Value("d", 0.0)
    recorder = {"calls": [] if args.baseline else None}
    current = wrap_feeds(spent, recorder)
    # The trees: every RSS and Atom document a cold publish writes, parsed once.
    sample = root / "sample"
    with one_process():  # every call recorded here, none in a forked process
        cold_publish(bench, sample, spent)
    calls, recorder["calls"] = recorder["calls"], None
    if calls is not None:
        baseline = load_feeds(args.baseline)
        for name, call, kwargs in calls[:50]:  # the same documents, or the comparison is void
            assert (getattr(baseline, name)(*call, **kwargs)
                    == current[name](*call, **kwargs)), name
    paths = sorted(sample.glob("feeds/*/*.xml"))
    trees = [etree.fromstring(p.read_bytes()) for p in paths]
    size = sum(p.stat().st_size for p in paths)
    documents = {p.relative_to(sample / "feeds"): p.read_bytes()
                 for p in sorted(sample.glob("feeds/**/*")) if p.is_file()}
    print(f"a full rebuild writes {len(documents)} documents "
          f"({sum(map(len, documents.values())) / 1e6:.0f} MB); {len(paths)} of them "
          f"RSS/Atom, {size / 1e6:.0f} MB")
    shutil.rmtree(sample)

    def bare():
        for tree in trees:
            etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    # This machine's speed swings by up to 2x from one minute to the next (the same
    # tostring took 0.54 s and 1.04 s within one run), so each publish is
    # bracketed: (x) is the mean of a tostring just before it and one just after.
    times = {"p": [], "f": [], "x": [], "r": [], "w": [], "b": [], "c": [], "s": [], "sx": []}
    for r in range(args.runs):
        # (s) first in even rounds, second in odd ones: neither always gets the warmer disk.
        for serial in ((True, False) if r % 2 == 0 else (False, True)):
            dest = root / (f"serial{r}" if serial else f"run{r}")
            with one_process() if serial else contextlib.nullcontext():
                elapsed, before, after = cold_publish(bench, dest, spent, bare)
            if serial:
                times["s"].append(elapsed)
                times["sx"].append((before + after) / 2)
                shutil.rmtree(dest)
            else:  # its store is read below
                times["p"].append(elapsed)
                times["f"].append(spent.value)
                times["x"].append((before + after) / 2)
        serial_note = (f"; in one process {times['s'][-1]:4.1f} s, ratio "
                       f"{times['s'][-1] / times['sx'][-1]:.1f}")
        common.settle()
        times["r"].append(common.timed(
            lambda: read_rows(root / f"run{r}" / "var" / "syndicator.db")))
        times["w"].append(common.timed(
            lambda: write_documents(documents, root / f"floor{r}")))
        common.settle()  # the next round's store copy does not wait for this writeback
        shutil.rmtree(root / f"run{r}")
        shutil.rmtree(root / f"floor{r}")
        replayed = ""
        if calls is not None:
            for key in ("bc" if r % 2 == 0 else "cb"):
                functions = current if key == "c" else vars(baseline)
                times[key].append(common.timed(lambda f=functions: replay(f, calls)))
            replayed = (f"; replayed: baseline {times['b'][-1]:5.1f} s, current "
                        f"{times['c'][-1]:5.2f} s")
        print(f"round {r + 1}: publish_all {times['p'][-1]:6.1f} s (RSS+Atom "
              f"{times['f'][-1]:5.1f} s), tostring {before:5.2f} s before and {after:5.2f} s "
              f"after, ratios {times['p'][-1] / times['x'][-1]:.1f} and "
              f"{times['f'][-1] / times['x'][-1]:.1f}; floor: read {times['r'][-1]:4.2f} s, "
              f"write {times['w'][-1]:4.2f} s{serial_note}{replayed}", flush=True)
    with one_process():  # one process: the profile sees all of the rendering
        profiled = []
        profile = spy.sampled(
            lambda: profiled.append(cold_publish(bench, root / "profiled", spent)[0]),
            within="publish_all")
    bench.close()
    shutil.rmtree(root, ignore_errors=True)

    p_ratio = median(p / x for p, x in zip(times["p"], times["x"]))
    s_ratio = median(s / x for s, x in zip(times["s"], times["sx"]))
    ps_ratio = median(s / p for s, p in zip(times["s"], times["p"]))
    f_ratio = median(f / x for f, x in zip(times["f"], times["x"]))
    floor_ratio = median((r + w) / x for r, w, x in zip(times["r"], times["w"], times["x"]))
    bare_ratio = median(p / (x + r + w) for p, x, r, w
                        in zip(times["p"], times["x"], times["r"], times["w"]))
    print(f"\nmedians of {args.runs} rounds:")
    print(f"  (p) publish_all, full rebuild, every format  {median(times['p']):7.2f} s")
    print(f"  (f)   of which feeds.rss + feeds.atom       {median(times['f']):7.2f} s")
    print(f"  (x) etree.tostring of the same RSS/Atom trees {median(times['x']):7.2f} s")
    print(f"  (r) the rows it shows, read with sqlite3 alone {median(times['r']):7.2f} s")
    print(f"  (w) its {len(documents)} documents' bytes, written durably {median(times['w']):7.2f} s")
    print(f"  (s) the same rebuild in one process (no fork) {median(times['s']):7.2f} s")
    print(f"ratio (p)/(x) = {p_ratio:.1f}   target <= 2   {'MET' if p_ratio <= 2 else 'MISSED'}")
    print(f"ratio (s)/(x) = {s_ratio:.1f}   (in one process; its own (x) bracket); "
          f"(s)/(p) = {ps_ratio:.2f}   (what the forked process gains)")
    print(f"ratio (f)/(x) = {f_ratio:.1f}   (feeds alone)")
    print(f"ratio (r + w)/(x) = {floor_ratio:.1f}   (reading and writing alone, nothing rendered)")
    print(f"ratio (p)/(x + r + w) = {bare_ratio:.1f}   (against a bare pipeline: the same rows "
          "read, the same trees serialised by lxml, the same bytes written durably)")
    if calls is not None:
        b_ratio = median(b / x for b, x in zip(times["b"], times["x"]))
        c_ratio = median(c / x for c, x in zip(times["c"], times["x"]))
        bc_ratio = median(b / c for b, c in zip(times["b"], times["c"]))
        print(f"the {len(calls)} rss/atom calls of a rebuild, replayed:")
        print(f"  (b) baseline {args.baseline}  {median(times['b']):7.2f} s   (b)/(x) = "
              f"{b_ratio:.1f}")
        print(f"  (c) current feeds module  {median(times['c']):7.2f} s   (c)/(x) = "
              f"{c_ratio:.2f}   (b)/(c) = {bc_ratio:.1f}")
    print(f"\none more full rebuild in one process ({profiled[0]:.2f} s), sampled by py-spy:")
    if profile.ok:
        print("  own time by library (time in compiled code, such as lxml's or sqlite3's, "
              "counts for its Python caller):")
        for label, share in shares(profile.own).items():
            print(f"    {label:<20} {share:6.1%}")
        print(profile.report(args.top))
    else:
        print(f"  {profile.why}")
    print(other.note())


if __name__ == "__main__":
    main()
