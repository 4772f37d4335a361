"""Golden feeds: the exact bytes published for the sample site with a frozen clock.

Regenerate after an intended change, then review the diff:
    SYNDICATOR_REGENERATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""
from __future__ import annotations

import os

import pytest

from conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"
FILES = [f"{lang}/{name}" for lang in ("en", "ru", "hy", "be")
         for name in ("rss.xml", "atom.xml", "feed.json", "index.html")] + ["index.html",
                                                                         "index.opml"]


@pytest.mark.parametrize("name", FILES)
def test_published_file_matches_golden(published, name):
    produced = (published.feeds / name).read_bytes()
    golden = GOLDEN / name
    if os.environ.get("SYNDICATOR_REGENERATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(produced)
    assert golden.is_file(), f"{golden} is missing; regenerate (see this module's docstring)"
    assert produced.decode() == golden.read_text(encoding="utf-8")
