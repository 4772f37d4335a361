"""Translation throughput: argostranslate vs syndicator's ArgosEngine vs bare CTranslate2.

(a) argostranslate.translate.translate(), called once per paragraph;
(b) syndicator's ArgosEngine.translate(all paragraphs, "en", "ru");
(c) ctranslate2.Translator.translate_batch over all sentences, pre-tokenized.

All three use the same Marian-base-sized random package (bench/marian.py),
the same sentence splitter (syndicator's pysbd one, patched into
argostranslate in place of MiniSBD, which needs the network) and decode
exactly the same number of tokens per sentence. (b) runs with config.toml's
defaults, CTranslate2 threads included, and (c) with the same threads;
(a) with argostranslate's own settings. Each round times all three;
figures are medians over the rounds. To stay within ~5 minutes, (a) — about
4x slower — translates a different fifth of the paragraphs in each round, so
over 5 rounds it covers every paragraph once.

    python bench/translate.py [--runs 5] [--paragraphs 50] [--length N]
"""
from __future__ import annotations

import argparse
import os

import common
import marian
from common import median, timed
from pipeline import make_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--paragraphs", type=int, default=50)
    parser.add_argument("--length", type=int, default=0,
                        help="tokens decoded per sentence (default: the mean source length)")
    args = parser.parse_args()

    package = marian.cached_package()
    # argostranslate reads its settings once, at import, and creates its folders.
    os.environ["ARGOS_PACKAGES_DIR"] = str(package.parent)
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(common.CACHE / "xdg")
    import argostranslate.sbd
    import argostranslate.translate
    import sentencepiece
    from syndicator.translate.argos import ArgosEngine, threads
    from syndicator.translate.split import split_sentences

    class Pysbd:  # stands in for MiniSBD's detector (which downloads a model)
        def __init__(self, lang):
            self.lang = lang

        def sentences(self, text):
            return split_sentences(text, self.lang)

    argostranslate.sbd.MiniSBDSentencizer.lazy_detector = lambda self: Pysbd(self.pkg.from_code)

    paragraphs = common.news_paragraphs(args.paragraphs)
    counts = [len(split_sentences(p, "en")) for p in paragraphs]
    sentences = [s for p in paragraphs for s in split_sentences(p, "en")]
    sp = sentencepiece.SentencePieceProcessor(model_file=str(package / "sentencepiece.model"))
    tokens = sp.encode(sentences, out_type=str)
    mean_pieces = sum(map(len, tokens)) / len(tokens)
    length = args.length or round(mean_pieces)

    other = common.OtherLoad()
    print(f"machine: {common.machine_note()}")
    print(f"text: {len(paragraphs)} paragraphs, {len(sentences)} sentences, "
          f"{mean_pieces:.1f} pieces per sentence on average; "
          f"every sentence decodes {length} tokens, beam 4")

    with marian.fixed_decoding_length(length) as Translator:
        # The engine as shipped: config.toml's defaults; the bare reference gets the
        # same CTranslate2 threads, so (c)/(b) is the engine's own overhead.
        config = make_config(common.CACHE, "http://127.0.0.1/news.rss", package.parent,
                             1).argos
        engine = ArgosEngine(config)
        inter, intra = threads(config)
        print(f"CTranslate2 threads of (b) and (c): inter_threads={inter}, "
              f"intra_threads={intra}")
        bare = Translator(str(package / "model"), device="cpu", inter_threads=inter,
                          intra_threads=intra)
        options = dict(beam_size=config.beam_size, length_penalty=0.2, replace_unknowns=True,
                       max_batch_size=config.max_batch_size, batch_type="examples")

        def argos(indexes):
            for translation in argostranslate.translate.installed_translates:
                translation.cached_translation.cache.clear()  # no paragraph-cache hits
            for i in indexes:
                argostranslate.translate.translate(paragraphs[i], "en", "ru")

        # Warm-up: load the three models, and check that decoding length is fixed.
        argos([0])
        engine.translate(paragraphs[:1], "en", "ru")
        check = bare.translate_batch(tokens[:2], **options)
        assert all(len(r.hypotheses[0]) == length for r in check), "length not fixed"

        rates = {"a": [], "b": [], "c": []}
        a_sentences = a_seconds = 0.0
        for r in range(args.runs):
            part = range(r % 5, len(paragraphs), 5)  # (a): a fifth of the paragraphs
            jobs = {"a": (lambda: argos(part), sum(counts[i] for i in part)),
                    "b": (lambda: engine.translate(paragraphs, "en", "ru"), len(sentences)),
                    "c": (lambda: bare.translate_batch(tokens, **options), len(sentences))}
            order = "abc"[r % 3:] + "abc"[:r % 3]  # rotate so no contender always goes first
            for key in order:
                fn, n = jobs[key]
                seconds = timed(fn)
                rates[key].append(n / seconds)
                if key == "a":
                    a_sentences, a_seconds = a_sentences + n, a_seconds + seconds
            print(f"round {r + 1}: " + ", ".join(f"({k}) {rates[k][-1]:5.2f}" for k in "abc")
                  + " sentences/s", flush=True)

    b_over_a = median(b / a for a, b in zip(rates["a"], rates["b"]))
    c_over_b = median(c / b for b, c in zip(rates["b"], rates["c"]))
    a_pooled = a_sentences / a_seconds  # over 5 rounds: every paragraph once
    print(f"\nmedians of {args.runs} rounds, sentences/s:")
    print(f"  (a) argostranslate translate() per paragraph   {median(rates['a']):6.2f}"
          f"   (all rounds pooled: {a_pooled:.2f})")
    print(f"  (b) syndicator ArgosEngine, one call           {median(rates['b']):6.2f}")
    print(f"  (c) bare translate_batch, max_batch_size=32    {median(rates['c']):6.2f}")
    print("ratios (median of per-round ratios):")
    print(f"  (b)/(a) = {b_over_a:.2f}x   target >= 3.5x   "
          f"{'MET' if b_over_a >= 3.5 else 'MISSED'}   "
          f"(median (b) / pooled (a): {median(rates['b']) / a_pooled:.2f}x)")
    print(f"  (c)/(b) = {c_over_b:.2f}x   target <= 1.15x  "
          f"{'MET' if c_over_b <= 1.15 else 'MISSED'}")
    print(other.note())


if __name__ == "__main__":
    main()
