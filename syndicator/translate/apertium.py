"""The ``apertium`` engine: rule-based pairs from the system's apertium packages.

Every mode runs from a copy in ``workdir/modes`` (``apertium -d workdir MODE``),
so one invocation style serves packaged and repaired modes alike. A mode named
``X-notagger`` is the packaged mode ``X`` with its ``apertium-tagger`` stage
replaced by a filter that keeps the first reading: the packaged ``rus-bel``
tagger segfaults on common words («двух», «человек») and apertium then prints
nothing and exits 0. Such silent failures are caught here: empty output, a
non-zero exit, a timeout or a missing segment raise TranslationError.

A whole batch goes through one process (100 lines: 0.4 s; 100 processes: 21 s).
Segments are separated by a blank line: apertium's txt format keeps it and
ends a sentence there, so transfer rules never join two segments.
"""
from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ..errors import TranslationError

log = logging.getLogger(__name__)

DEFAULT_PAIRS = {("ru", "be"): "rus-bel-notagger", ("be", "ru"): "bel-rus"}
NOTAGGER = "-notagger"
PROBE = "2024."  # unambiguous: passes every stage of a sound mode
SEPARATOR = "\n\n"
# ^surface/reading1/reading2$ -> ^reading1$ (what apertium-tagger emits), honouring the
# stream's escapes (\^ \$ \/). It lives in a file because apertium-wblank-mode splits
# mode lines at every "|", even inside quotes.
FIRST_READING = r"s~\^(\\.|[^\\/$^])*/((\\.|[^\\/$^])*)(/(\\.|[^\\$^])*)?\$~^\2$~g" + "\n"
_TAGGER = re.compile(r"apertium-tagger\s[^|]*")
# Literal * # @ in the source would pass for apertium's unknown-word marks, so they
# travel as private-use characters (apertium copies those unchanged) and come back after.
_PROTECT = str.maketrans({"*": "\ue02a", "#": "\ue023", "@": "\ue040"})
_RESTORE = str.maketrans({"\ue02a": "*", "\ue023": "#", "\ue040": "@"})
_MARKED = re.compile(r"[*#@]+(\w+(?:[-'’]\w+)*)")
_PARAGRAPH = re.compile(r"(\n\s*\n)")  # the separator, so it cannot occur inside a unit


def _datadirs(binary: str) -> list[Path]:
    """Where packaged modes may be: apertium's own default, then the binary's prefix."""
    dirs = [Path(os.environ["APERTIUM_DATADIR"])] if os.environ.get("APERTIUM_DATADIR") else []
    dirs.append(Path(binary).resolve().parent.parent / "share" / "apertium")
    return dirs + [Path("/usr/share/apertium"), Path("/usr/local/share/apertium")]


def _write(path: Path, text: str) -> None:
    """Write only on change, atomically: other processes may run the same mode."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _units(text: str) -> list[str]:
    """The text split at blank lines: [unit, separator, unit, ...], units stripped."""
    core = text.strip()
    return [p if i % 2 else p.strip() for i, p in enumerate(_PARAGRAPH.split(core))] if core else []


class ApertiumEngine:
    """Translate batches of texts with apertium modes, one process per batch."""

    name = "apertium"

    def __init__(self, pairs: dict[tuple[str, str], str] | None = None,
                 command: str = "apertium", timeout: float = 60.0, workdir: Path | None = None):
        self.pairs = dict(DEFAULT_PAIRS if pairs is None else pairs)
        self.command, self.timeout = command, timeout
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        self.workdir = Path(workdir) if workdir else cache / "syndicator" / "apertium"
        self.last_unknown: list[list[str]] = []
        self._checked: dict[tuple[str, str], str] = {}  # (binary, mode text) -> version or ''
        self.refresh()

    def refresh(self) -> None:
        """Find the binary and (re)build the mode files; probes are redone only on change."""
        self._binary = shutil.which(self.command)
        self._modes: dict[str, str] = {}
        # A failed probe may have been transient (load, a timeout): try it again this cycle.
        self._checked = {key: version for key, version in self._checked.items() if version}
        if self._binary is None:
            log.debug("apertium: %r not found", self.command)
            return
        for mode in set(self.pairs.values()):
            try:
                text = self._build_mode(mode)
            except OSError as exc:
                log.warning("apertium: cannot prepare mode %s in %s: %s", mode, self.workdir, exc)
                continue
            if text is not None:
                self._modes[mode] = text

    def _build_mode(self, mode: str) -> str | None:
        base = mode.removesuffix(NOTAGGER)
        packaged = next((d / "modes" / f"{base}.mode" for d in _datadirs(self._binary)
                         if (d / "modes" / f"{base}.mode").is_file()), None)
        if packaged is None:
            log.debug("apertium: no packaged mode %s", base)
            return None
        text = packaged.read_text(encoding="utf-8")
        modes_dir = self.workdir / "modes"
        modes_dir.mkdir(parents=True, exist_ok=True)
        if mode != base:
            script = modes_dir / "first-reading.sed"
            _write(script, FIRST_READING)
            text = _TAGGER.sub(f"sed -E -f {shlex.quote(str(script))} ", text, count=1)
        _write(modes_dir / f"{mode}.mode", text)
        return text

    def model_version(self, src: str, tgt: str) -> str:
        mode = self.pairs.get((src, tgt))
        if mode is None or mode not in self._modes:
            return ""
        key = (self._binary, self._modes[mode])
        if key not in self._checked:
            self._checked[key] = self._check(mode)
        return self._checked[key]

    def _check(self, mode: str) -> str:
        """'apertium:MODE@VERSION' if the mode translates a probe, else ''."""
        try:
            self._run(mode, [PROBE])
        except TranslationError as exc:
            log.warning("apertium mode %s does not work: %s", mode, exc)
            return ""
        version = self._package_version(mode)
        return f"apertium:{mode}@{version}" if version else f"apertium:{mode}"

    @staticmethod
    def _package_version(mode: str) -> str:
        """Upstream version of the Debian package holding the pair ('' without dpkg)."""
        langs = mode.removesuffix(NOTAGGER).split("-")[:2]
        names = [f"apertium-{'-'.join(langs)}", f"apertium-{'-'.join(reversed(langs))}"]
        try:  # exits 1 as one of the two names is unknown; the other's line is what counts
            out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}\n", *names], check=False,
                                 capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
        version = next((v for v in out.split() if v), "")
        return version.split(":")[-1].rsplit("-", 1)[0]  # drop epoch and Debian revision

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        self.last_unknown = []
        if not self.model_version(src, tgt):
            raise TranslationError(f"apertium cannot translate {src}→{tgt} (command "
                                   f"{self.command!r}; apt-get install apertium apertium-bel-rus)")
        plans = [_units(text) for text in texts]
        units = [u for parts in plans for u in parts[::2]]
        done = iter(self._run(self.pairs[src, tgt], units) if units else [])
        outputs = []
        for text, parts in zip(texts, plans):
            pieces = [p if i % 2 else next(done) for i, p in enumerate(parts)]
            joined = "".join(pieces)
            self.last_unknown.append(_MARKED.findall(joined))
            clean = re.sub(r"[*#@]", "", joined).translate(_RESTORE)
            lead, trail = text[:len(text) - len(text.lstrip())], text[len(text.rstrip()):]
            outputs.append(lead + clean + trail if parts else text)
        return outputs

    def _run(self, mode: str, units: list[str]) -> list[str]:
        """Translate units in one apertium process; every unit must come back non-empty."""
        payload = SEPARATOR.join(u.replace("\0", " ").translate(_PROTECT) for u in units) + "\n"
        cmd = [self._binary or self.command, "-d", str(self.workdir), "-f", "txt", mode]
        started = time.monotonic()
        try:
            # A session of its own, so a timeout kills the whole pipeline, not just bash.
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                    errors="replace", start_new_session=True)
        except OSError as exc:
            raise TranslationError(f"apertium {mode}: cannot run {cmd[0]}: {exc}") from None
        try:
            out, err = proc.communicate(payload, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise TranslationError(f"apertium {mode}: no answer within {self.timeout:g} s "
                                   f"for {len(units)} segment(s)") from None
        detail = f"; stderr: {err.strip()[-300:]}" if err.strip() else ""
        if proc.returncode != 0:
            raise TranslationError(f"apertium {mode} exited with {proc.returncode}{detail}")
        if not out.strip():
            # The packaged rus-bel tagger crashing ends like this, with exit code 0.
            raise TranslationError(f"apertium {mode} returned no output for {len(units)} "
                                   f"segment(s) (a pipeline stage crashed?){detail}")
        pieces = [p.strip() for p in out.rstrip("\n").split(SEPARATOR)]
        if len(pieces) != len(units) or not all(pieces):
            raise TranslationError(f"apertium {mode} returned {len(pieces)} segment(s) "
                                   f"({sum(not p for p in pieces)} empty) for {len(units)}"
                                   f"{detail}")
        log.info("apertium %s: %d segment(s) in %.2f s", mode, len(units),
                 time.monotonic() - started)
        return pieces
