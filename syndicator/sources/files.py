"""``type = "files"``: a folder of Markdown, HTML or JSON files, for editors.

Markdown and HTML files carry YAML front matter (``title``, ``date``, and
optionally ``guid``, ``url``, ``summary``, ``author``, ``image``, ``tags``).
JSON files hold the same keys plus ``body``. ``tags`` is a list, or one tag
written as a string or a number. Edits are found by the content hash, so there
is nothing to cache. Hidden files (editors' lock files) are not read; beyond
``max_items``, the newest items by date are taken, with a problem saying what
was left out.
"""
from __future__ import annotations

import json
from datetime import date, datetime, time, timezone
from pathlib import Path
from urllib.parse import urlsplit

import frontmatter
import markdown
import yaml
from frontmatter.default_handlers import YAMLHandler

from ..config import SourceConfig
from ..errors import SourceError
from ..models import Image, SourceItem, SourceResult
from .checks import bad_url, date_problem, optional_image
from .clean import clean_html, guessed_text, shorten, summary_from, to_utc

SUFFIXES = {".md", ".markdown", ".html", ".htm", ".json"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # the date of a file whose mtime is unknown


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, except that a date that does not exist ("2024-13-45")
    stays the text it is: ``_date`` then reports it and the item is still published."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


class _YAML(YAMLHandler):
    def load(self, fm: str, **kwargs):
        return yaml.load(fm, Loader=_Loader)


_HANDLERS = [_YAML() if isinstance(h, YAMLHandler) else h for h in frontmatter.handlers]


def read(source: SourceConfig, fetcher, validators) -> SourceResult:
    folder = source.path
    if folder is None or not folder.is_dir():
        raise SourceError(source.name, "folder does not exist", field="path", url=str(folder))
    read_items, problems = [], []
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES
                   and not _hidden(p.relative_to(folder)))
    for path in paths:
        try:
            item, notes = _item(source, folder, path)
        except SourceError as exc:
            problems.append(str(exc))
            continue
        read_items.append((item, path.relative_to(folder).as_posix(), _modified(path)))
        problems += notes
    kept, cut = _newest(read_items, source.max_items)
    if cut:
        problems.append(str(SourceError(
            source.name, f"the folder holds {len(read_items)} items, more than max_items "
            f"({source.max_items}): the newest {len(kept)} by date were taken, and "
            f"{len(cut)} older one(s) left out, the newest of them {cut[0]!r}; raise "
            "max_items to take them, or move old files out of the folder",
            url=str(folder), field="max_items")))
    return SourceResult(name=source.name, items=tuple(kept), problems=tuple(problems),
                        found=len(paths))


def _hidden(relative: Path) -> bool:
    """Editors' lock and backup files (Emacs's ".#news.md" is a dangling symlink),
    macOS's "._news.md" and folders such as ".git" are not news."""
    return any(part.startswith(".") for part in relative.parts)


def _modified(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    except (OSError, OverflowError, ValueError):
        return _EPOCH


def _newest(read: list[tuple[SourceItem, str, datetime]],
            limit: int) -> tuple[list[SourceItem], list[str]]:
    """The ``limit`` newest items by date, in file order, and the files of the
    others, newest first.

    By date, not by name: names need not sort by date, and an editor's new file
    must never be the one left out. An undated item goes by when its file was last
    saved: counted as newest, a folder of old undated files would crowd out every
    new dated one."""
    if len(read) <= limit:
        return [item for item, _name, _saved in read], []
    order = sorted(range(len(read)), reverse=True,
                   key=lambda n: (read[n][0].published or read[n][2], n))
    kept = set(order[:limit])
    return ([item for n, (item, _name, _saved) in enumerate(read) if n in kept],
            [read[n][1] for n in order[limit:]])


def _load(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the JSON file must hold one object")
        return data, str(data.get("body", ""))
    post = frontmatter.loads(text, handler=frontmatter.detect_format(text, _HANDLERS))
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
    except RecursionError:
        raise SourceError(source.name, "cannot read: nested too deeply",
                          item=relative) from None
    except OSError as exc:  # unreadable, a dangling symlink, a folder named "x.md"
        raise SourceError(source.name, f"cannot read: {exc.strerror or exc}; skipped",
                          item=relative) from None
    # Front matter does not say whether a value is text or HTML: see guessed_text.
    title = guessed_text(str(meta.get("title", "")))
    if not title:
        raise SourceError(source.name, "no title in the front matter; skipped",
                          item=relative, field="title")
    guid = str(meta.get("guid") or meta.get("url") or relative)
    notes: list[str] = []
    url = _url(source, meta, relative, notes) or path.resolve().as_uri()
    body = clean_html(body_html, url)
    categories = _tags(meta.get("tags"), source, relative)
    published, date_notes = _date(meta.get("date"), source, relative)
    return SourceItem(
        source=source.name, guid=guid,
        url=url, title=title, summary=shorten(guessed_text(str(meta.get("summary", ""))))
        or summary_from(body), body=body,
        published=published,
        author=guessed_text(str(meta.get("author", ""))),
        image=_image(source, meta.get("image"), url, relative, notes),
        categories=categories,
    ), notes + date_notes


def _url(source: SourceConfig, meta: dict, relative: str, notes: list[str]) -> str:
    """The front matter's ``url``, or "" without a usable one. One that cannot be
    parsed skips the item when it would be its identity (no ``guid``)."""
    url = str(meta.get("url", ""))
    try:
        urlsplit(url)
    except ValueError:
        if not meta.get("guid"):
            raise bad_url(source.name, "", relative, "url", url,
                          "it is the item's identity (there is no guid); skipped") from None
        notes.append(str(bad_url(source.name, "", relative, "url", url,
                                 "the item links to its file instead")))
        return ""
    return url


def _image(source: SourceConfig, image, url: str, relative: str,
           notes: list[str]) -> Image | None:
    if not image:
        return None
    return optional_image(source.name, "", relative, "image", str(image), url, notes)


def _tags(value, source: SourceConfig, relative: str) -> tuple[str, ...]:
    """``tags``: a list of tags, or one tag (``tags: council``, ``tags: 2024``)."""
    values = value if isinstance(value, list) else [value]
    for tag in values:
        # bool is an int in Python, but `tags: yes` is a slip, not the tag "True".
        if tag is not None and (isinstance(tag, bool) or not isinstance(tag, (str, int, float))):
            raise SourceError(source.name, "tags must be a string, a number or a list of "
                              f"them, not {tag!r}; skipped", item=relative, field="tags")
    texts = (guessed_text(str(tag)) for tag in values if tag is not None)
    return tuple(text for text in texts if text)


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
