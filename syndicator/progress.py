"""Rich progress bars for the CLI, shown only when stdout is a terminal."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from .cycle import Progress


class RichProgress(Progress):
    def __init__(self, bars):
        self.bars = bars
        self.tasks: dict[str, int] = {}

    def _update(self, key: str, label: str, done: int, total: int) -> None:
        if key not in self.tasks:
            self.tasks[key] = self.bars.add_task(label, total=max(total, 1))
        self.bars.update(self.tasks[key], completed=done if total else 1, total=max(total, 1))

    def fetched(self, name: str, done: int, total: int) -> None:
        self._update("fetch", "fetching sources", done, total)

    def translating(self, lang: str, done: int, total: int) -> None:
        self._update(f"tr-{lang}", f"translating → {lang}", done, total)


@contextmanager
def progress_display() -> Iterator[Progress]:
    if not sys.stdout.isatty():
        yield Progress()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn

    with Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
              transient=True) as bars:
        yield RichProgress(bars)
