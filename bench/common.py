"""Shared bits of the benchmarks: news text, machine note, paired timing."""
from __future__ import annotations

import os
import platform
import random
import re
import statistics
import threading
import time
from datetime import datetime
from email.utils import format_datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache"
SEEDS = Path("/work/shared/seeds")

# Used when /work/shared/seeds is absent (a user's clone).
BUILTIN_TEXT = """\
The Collective Security Treaty Organization held a meeting of the Council of Foreign Ministers in Moscow on Tuesday.
The ministers discussed the situation on the external borders of the member states and adopted a joint statement on regional security.
Secretary General Imangali Tasmagambetov said that the organization would continue to strengthen its peacekeeping potential.
More than 2,500 troops from six countries took part in the command-staff exercise held at the Edelweiss training ground near Bishkek.
According to the press service, the delegations agreed on the plan of joint trainings for 2025 and the budget of the Secretariat.
The parties stressed the importance of countering international terrorism, drug trafficking and illegal migration.
During the visit, the delegation met with the Deputy Minister of Defence and representatives of the General Staff.
The next session of the Collective Security Council will take place in Minsk in November, the statement said.
Experts from the member states exchanged views on cyber security and the protection of critical infrastructure.
The exercise ended with a live-fire demonstration attended by the chiefs of general staff of the armed forces.
Representatives of the mass media of the member states took part in the event via videoconferencing.
The Secretary General thanked the Kazakh side for the high level of organization of the event in Astana.
"""

CITIES = ["Moscow", "Minsk", "Yerevan", "Astana", "Bishkek", "Dushanbe", "Almaty", "Osh",
          "Gomel", "Kazan", "Novosibirsk", "Khujand", "Gyumri", "Brest"]
COUNTRIES = ["Russia", "Belarus", "Armenia", "Kazakhstan", "Kyrgyzstan", "Tajikistan"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
LISTS = [CITIES, COUNTRIES, DAYS, MONTHS]
_SWAP = re.compile(r"\b(" + "|".join(sum(LISTS, [])) + r")\b")
LEAD_INS = ["", "", "On {day}, ", "Earlier this week, ", "In {city}, ", "Last {day}, ",
            "According to the press service, ", "As reported earlier, ", "Meanwhile, "]
ENDINGS = ["", "", "", "the statement said", "officials said", "the Secretariat reported",
           "a spokesperson said", "the ministry said"]
LOWER = {"The", "During", "According", "More", "Representatives", "Experts", "Issues",
         "Participants", "They", "Within", "From", "On"}


def seed_sentences() -> list[str]:
    """News sentences (8–50 words) from the seed files, plus BUILTIN_TEXT."""
    from syndicator.translate.split import split_sentences

    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))] \
        if SEEDS.is_dir() else []
    found = []
    for text in texts:
        for para in re.split(r"\n\s*\n", text):
            for s in split_sentences(" ".join(para.split()), "en"):
                if 8 <= len(s.split()) <= 50 and s.endswith(".") and s[0].isupper():
                    found.append(s)
    return list(dict.fromkeys(found + BUILTIN_TEXT.strip().splitlines()))


def _details(sentence: str, rng: random.Random) -> str:
    """Other digits, places, days and months."""
    sentence = re.sub(r"\d", lambda m: str(rng.randint(1, 9)), sentence)
    return _SWAP.sub(lambda m: rng.choice(next(x for x in LISTS if m[1] in x)), sentence)


def _vary(sentence: str, rng: random.Random) -> str:
    """Same shape, new details, and maybe a lead-in and an attribution."""
    sentence = _details(sentence, rng)
    lead = rng.choice(LEAD_INS).format(day=rng.choice(DAYS), city=rng.choice(CITIES))
    if lead and sentence.split()[0] in LOWER:
        sentence = sentence[0].lower() + sentence[1:]
    ending = rng.choice(ENDINGS)
    if ending:
        sentence = sentence[:-1] + ", " + ending + "."
    return lead + sentence


def sentence_stream(seed: int = 2026):
    """An endless, deterministic stream of distinct-looking news sentences."""
    rng = random.Random(seed)
    pool = seed_sentences()
    while True:
        rng.shuffle(pool)
        for s in pool:
            yield _vary(s, rng)


def news_paragraphs(n: int = 50, per: int = 4, seed: int = 2026) -> list[str]:
    stream = sentence_stream(seed)
    return [" ".join(next(stream) for _ in range(per)) for _ in range(n)]


def headlines(n: int, seed: int = 2026) -> list[str]:
    """Headlines: the first 6–10 words of a seed sentence, then a place or a day."""
    rng = random.Random(seed)
    pool = seed_sentences()
    out = []
    for _ in range(n):
        words = _details(rng.choice(pool), rng).split()[:rng.randint(6, 10)]
        tail = rng.choice([f"in {rng.choice(CITIES)}", f"on {rng.choice(DAYS)}",
                           f"with {rng.choice(COUNTRIES)}", f"in {rng.choice(MONTHS)}"])
        text = " ".join(words).rstrip(",;:") + " " + tail
        out.append(text[0].upper() + text[1:])
    return out


def machine_note() -> str:
    import ctranslate2

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
            f"ctranslate2 {ctranslate2.__version__}, {platform.system()} {platform.machine()}")


class OtherLoad:
    """How busy *other* processes kept the CPUs since this object was made (Linux)."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        tick = os.sysconf("SC_CLK_TCK")
        own = sum(os.times()[:4])  # this process and the children it waited for
        return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick, own

    def note(self) -> str:
        busy, total, own = (b - a for a, b in zip(self.start, self._sample()))
        share = max(0.0, (busy - own) / total) if total else 0.0
        warn = " (over 5%: the figures are disturbed)" if share > 0.05 else ""
        return f"other processes kept {share:.0%} of the CPU time busy during the run{warn}"


def settle() -> None:
    """Write back the dirty pages earlier steps left (untimed), so that neither
    side of a pair pays for the other's writeback: a cold rebuild leaves
    hundreds of MB, and the next fsync would wait for all of them."""
    os.sync()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values) -> float:
    return statistics.median(values)


class _Quiet(SimpleHTTPRequestHandler):
    extensions_map = {".rss": "application/rss+xml"}

    def log_message(self, *args):
        pass


def serve(folder: Path) -> ThreadingHTTPServer:
    """Static files on 127.0.0.1 (Last-Modified, so an unchanged feed answers 304)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def rss_item(i: int, title: str, body_html: str, when: datetime, image: bool = False) -> str:
    """One RSS <item> of article ``i`` (its link is also its GUID)."""
    link = f"https://csto.example.org/news/{i}.html"
    enclosure = (f'<enclosure url="https://csto.example.org/img/{i}.jpg" length="1000" '
                 'type="image/jpeg"/>') if image else ""
    return (f"<item><title>{escape(title)}</title><link>{link}</link><guid>{link}</guid>"
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<description>{escape(body_html)}</description>{enclosure}</item>")


def write_rss(folder: Path, entries: list[str]) -> Path:
    """``folder/news.rss``: an RSS 2.0 channel of ``entries``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "news.rss"
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        "<title>CSTO news</title><link>https://csto.example.org/</link>"
        "<description>News</description>" + "\n".join(entries) + "</channel></rss>",
        encoding="utf-8")
    # Last-Modified counts whole seconds: a version written in the second of the
    # previous one would look unmodified and answer 304, as any server would.
    after = path.stat().st_mtime_ns
    if after // 10**9 <= before // 10**9:
        bumped = (before // 10**9 + 1) * 10**9
        os.utime(path, ns=(bumped, bumped))
    return path


def copy_store(src: Path, dest: Path) -> None:
    """A consistent copy of a SQLite store in WAL mode (the backup API); ``src`` is
    opened read-only, so not even its WAL is checkpointed."""
    import sqlite3

    dest.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True) as a, \
            sqlite3.connect(dest) as b:
        a.backup(b)
    a.close()
    b.close()
