"""``type = "files"``: a folder of Markdown, HTML or JSON files, for editors.

Markdown and HTML files carry YAML front matter (``title``, ``date``, and
optionally ``guid``, ``url``, ``summary``, ``author``, ``image``, ``tags``).
JSON files hold the same keys plus ``body``. Edits are found by the content
hash, so there is nothing to cache.
"""
from __future__ import annotations

import json
from datetime import date, datetime, time
from pathlib import Path
from urllib.parse import urljoin

import frontmatter
import markdown
import yaml

from ..config import SourceConfig
from ..errors import SourceError
from ..models import SourceItem, SourceResult
from .checks import date_problem
from .clean import clean_html, plain_text, summary_from, to_utc, web_image

SUFFIXES = {".md", ".markdown", ".html", ".htm", ".json"}


def read(source: SourceConfig, fetcher, validators) -> SourceResult:
    folder = source.path
    if folder is None or not folder.is_dir():
        raise SourceError(source.name, "folder does not exist", field="path", url=str(folder))
    items, problems = [], []
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    for path in paths:
        try:
            item, notes = _item(source, folder, path)
        except SourceError as exc:
            problems.append(str(exc))
            continue
        items.append(item)
        problems += notes
    return SourceResult(name=source.name, items=tuple(items[: source.max_items]),
                        problems=tuple(problems), found=len(paths))


def _load(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the JSON file must hold one object")
        return data, str(data.get("body", ""))
    post = frontmatter.loads(text)
    body = post.content
    if path.suffix.lower() in (".md", ".markdown"):
        body = markdown.markdown(body, extensions=["extra"])
    return dict(post.metadata), body


def _item(source: SourceConfig, folder: Path, path: Path) -> tuple[SourceItem, list[str]]:
    relative = path.relative_to(folder).as_posix()
    try:
        meta, body_html = _load(path)
    except (ValueError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SourceError(source.name, f"cannot read: {exc}", item=relative) from None
    title = plain_text(str(meta.get("title", "")))
    if not title:
        raise SourceError(source.name, "no title in the front matter; skipped",
                          item=relative, field="title")
    url = str(meta.get("url", "")) or path.resolve().as_uri()
    body = clean_html(body_html, url)
    image = meta.get("image")
    published, notes = _date(meta.get("date"), source, relative)
    return SourceItem(
        source=source.name, guid=str(meta.get("guid") or meta.get("url") or relative),
        url=url, title=title, summary=plain_text(str(meta.get("summary", "")))
        or summary_from(body), body=body,
        published=published,
        author=plain_text(str(meta.get("author", ""))),
        image=web_image(urljoin(url, str(image))) if image else None,
        categories=tuple(plain_text(str(t)) for t in meta.get("tags", []) or []),
    ), notes


def _date(value, source: SourceConfig, relative: str) -> tuple[datetime | None, list[str]]:
    """The item's date in UTC. Without one it is dated when first seen: silently when
    the front matter has no date (editors may leave it out), with a warning when the
    date is there but unreadable."""
    if value is None or value == "":
        return None, []
    try:
        if isinstance(value, datetime):
            return to_utc(value, source.timezone), []
        if isinstance(value, date):
            return to_utc(datetime.combine(value, time()), source.timezone), []
        return to_utc(datetime.fromisoformat(str(value)), source.timezone), []
    except ValueError:
        return None, [date_problem(source.name, "", relative, str(value),
                                   "ISO 8601, 2024-09-05 or 2024-09-05T10:00:00+03:00")]
