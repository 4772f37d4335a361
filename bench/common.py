"""Shared bits of the benchmarks: news text, machine note, paired timing."""
from __future__ import annotations

import os
import platform
import random
import re
import statistics
import sys
import time
from pathlib import Path

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
_SWAP = re.compile(r"\b(" + "|".join(CITIES + COUNTRIES) + r")\b")


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


def _vary(sentence: str, rng: random.Random) -> str:
    """Same shape, new details: other digits, other cities and countries."""
    sentence = re.sub(r"\d", lambda m: str(rng.randint(1, 9)), sentence)
    return _SWAP.sub(lambda m: rng.choice(CITIES if m[1] in CITIES else COUNTRIES), sentence)


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


def headline(sentence: str, rng: random.Random) -> str:
    words = sentence.rstrip(".").split()
    return " ".join(words[:rng.randint(7, 11)]).rstrip(",;:")


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


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values) -> float:
    return statistics.median(values)


def say(*args) -> None:
    print(*args, flush=True)
    sys.stdout.flush()
