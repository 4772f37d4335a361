"""A py-spy profile of one call in this process: where its wall-clock time goes.

py-spy samples the running process from outside, without stopping it. Unlike
cProfile, it adds no cost per Python call (which inflates code made of many
small calls), and time spent inside compiled code (lxml, sqlite3, a write) is
counted in the Python function that called it.

    profile = spy.sampled(lambda: work(), within="publish_all")
    print(profile.report(top=25) if profile.ok else profile.why)

Needs the ``py-spy`` command (``pip install py-spy``) and permission to read
this process's memory (same user; in a container, ptrace must be allowed).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r":\d+\)$")  # "name (file.py:123)" -> one entry per function


@dataclass
class Profile:
    samples: int = 0  # stacks that pass through ``within``
    rate: int = 0
    own: Counter = field(default_factory=Counter)  # innermost function of each stack
    inclusive: Counter = field(default_factory=Counter)  # every function on the stack
    why: str = ""  # why there is no profile

    @property
    def ok(self) -> bool:
        return self.samples > 0

    def report(self, top: int = 25) -> str:
        lines = [f"{self.samples} samples at {self.rate} Hz "
                 f"({self.samples / self.rate:.1f} s of wall-clock time)"]
        for title, counts in (("own time (innermost frame)", self.own),
                              ("inclusive time (anywhere on the stack)", self.inclusive)):
            lines.append(f"  top {top} by {title}:")
            lines += [f"    {n / self.samples:6.1%}  {name}"
                      for name, n in counts.most_common(top)]
        return "\n".join(lines)


def sampled(fn, within: str, rate: int = 200, settle: float = 1.0) -> Profile:
    """Run ``fn()`` while py-spy samples this process; count the stacks that pass
    through a function named ``within`` (py-spy also sees other threads and the
    moments before and after). ``fn`` runs even when py-spy cannot."""
    spy = shutil.which("py-spy")
    if spy is None:
        fn()
        return Profile(why="no profile: the py-spy command is missing (pip install py-spy)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "raw.txt"
        # --idle: the main thread waiting on the writer threads' fsync is the
        # publish's time too. --nonblocking: py-spy reads the stacks without
        # stopping the process; stopping it 200 times a second made a full
        # rebuild 12-27% slower here (and up to 2x in bench/publish.py's large
        # process), reading on the fly costs nothing measurable.
        process = subprocess.Popen(
            [spy, "record", "--pid", str(os.getpid()), "--rate", str(rate), "--idle",
             "--nonblocking", "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(settle)  # attached before the work starts
        try:
            fn()
        finally:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            _, errors = process.communicate(timeout=60)
        if not out.is_file():
            return Profile(why="no profile: py-spy could not sample this process: "
                           + (errors.strip().splitlines() or ["no output"])[-1])
        return _parsed(out, within, rate)


def _parsed(raw: Path, within: str, rate: int) -> Profile:
    """py-spy's raw format: one line per distinct stack, ``outer;...;inner count``."""
    profile = Profile(rate=rate)
    needle = f"{within} ("
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if needle not in stack or not count.isdigit():
            continue
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        n = int(count)
        profile.samples += n
        profile.own[frames[-1]] += n
        for frame in set(frames):
            profile.inclusive[frame] += n
    if not profile.samples:
        profile.why = f"no profile: py-spy saw no stack through {within}()"
    return profile
