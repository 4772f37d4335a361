"""Golden feeds: the exact bytes published for the sample site with a frozen clock.

Regenerate after an intended change, then review the diff:
    SYNDICATOR_REGENERATE_GOLDEN=1 python -m pytest tests/test_golden.py

A change of the published bytes must come with a raised
`publish.OUTPUT_REVISION`, or pages published before it keep their old bytes
until an item on them changes. `tests/golden/REVISION` records the revision
the golden files were made under, with a digest of them; regenerating refuses
to record new bytes under the same revision.
"""
from __future__ import annotations

import hashlib
import os

import pytest

from conftest import ROOT
from syndicator import publish

GOLDEN = ROOT / "tests" / "golden"
REVISION = GOLDEN / "REVISION"
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


def _digest(root) -> str:
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()


def test_published_bytes_change_only_with_a_raised_output_revision(published):
    produced = _digest(published.feeds)
    revision, digest = (REVISION.read_text(encoding="utf-8").split() if REVISION.is_file()
                        else ("0", "none"))
    if produced == digest and int(revision) == publish.OUTPUT_REVISION:
        return
    if os.environ.get("SYNDICATOR_REGENERATE_GOLDEN") and (
            int(revision) < publish.OUTPUT_REVISION or produced == digest):
        REVISION.write_text(f"{publish.OUTPUT_REVISION} {produced}\n", encoding="utf-8")
        return
    if produced != digest:
        pytest.fail(f"the published bytes changed, but OUTPUT_REVISION is still {revision}: "
                    "pages published earlier would keep their old bytes. Raise "
                    "OUTPUT_REVISION in syndicator/publish/__init__.py (and say why "
                    "beside it), then regenerate the golden files")
    pytest.fail(f"OUTPUT_REVISION is {publish.OUTPUT_REVISION}, tests/golden/REVISION "
                f"says {revision}: regenerate the golden files")
