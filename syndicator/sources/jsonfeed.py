"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), read with the json module.

feedparser 6.0 reads XML only. Each JSON Feed item becomes the ``RawEntry`` an
RSS or Atom entry becomes, so ``entries.to_item`` gives it the same checks and
cleaning. JSON Feed declares its texts: ``content_html`` is HTML; titles,
``content_text``, summaries, author names and tags are plain text.

A field of the wrong JSON type is reported naming the item and the field: the
item is skipped when the field is its identity (``id``) or its ``title``, and
otherwise published without that field.
"""
from __future__ import annotations

import codecs
import email.utils
import json
from collections.abc import Callable
from datetime import datetime

from ..config import SourceConfig
from ..errors import SourceError
from .clean import to_utc
from .entries import RawEntry
from .http import Page

MEDIA_TYPES = {"application/feed+json", "application/json"}
VERSIONS = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
_EXPECTED_DATE = "RFC 3339 between the years 1 and 9999, e.g. 2024-09-05T10:00:00+03:00"


def is_json(page: Page) -> bool:
    """Is the body JSON? Its first character says; without one, its media type does."""
    head = page.body.lstrip().removeprefix(codecs.BOM_UTF8).lstrip()[:1]
    if head in (b"{", b"<"):
        return head == b"{"
    return page.content_type.split(";")[0].strip().lower() in MEDIA_TYPES


def parse(source: SourceConfig,
          page: Page) -> tuple[list, Callable[[object, int], RawEntry], list[str]]:
    """The feed's items, the function that reads one (it raises SourceError to skip
    it), and the feed's own problems."""
    try:
        document = json.loads(page.body)  # UTF-8, -16 or -32, with or without a BOM
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise SourceError(source.name, f"not a JSON Feed: {exc}", url=page.url) from None
    if not isinstance(document, dict):
        raise SourceError(source.name, "not a JSON Feed: the document is a "
                          f"{_type(document)}, not an object", url=page.url)
    version = document.get("version")
    if not isinstance(version, str) or not version.startswith(VERSIONS):
        raise SourceError(source.name, f"not a JSON Feed: its version is {version!r}, not "
                          "'https://jsonfeed.org/version/1.1' (or /1)", url=page.url,
                          field="version")
    items = document.get("items")
    if not isinstance(items, list):
        raise SourceError(source.name, f"the JSON Feed's items are a {_type(items)}, not a "
                          "list", url=page.url, field="items")
    problems: list[str] = []
    # JSON Feed: "If not specified in an item, then the top-level authors ... are the
    # authors of the item."
    feed_authors = _authors(document, lambda note: problems.append(str(SourceError(
        source.name, note, url=page.url, field="authors"))))

    def raw(item, n: int) -> RawEntry:
        return _raw(source, page.url, item, n, feed_authors)

    return items, raw, problems


def _raw(source: SourceConfig, base: str, item, n: int, feed_authors: str) -> RawEntry:
    name = f"entry #{n + 1}"
    if not isinstance(item, dict):
        raise SourceError(source.name, f"the item is a {_type(item)}, not an object; "
                          "skipped", url=base, item=name)
    ident = item.get("id")
    if isinstance(ident, (int, float)) and not isinstance(ident, bool):
        ident = str(ident)  # JSON Feed: a reader must coerce a numeric id to a string
    if ident is not None and not isinstance(ident, str):
        raise SourceError(source.name, f"the id is a {_type(ident)}, not a string; "
                          "skipped", url=base, item=name, field="id")
    entry = RawEntry(id=ident or "")
    notes = entry.notes

    def text(key: str, *, required: bool = False) -> str:
        value = item.get(key)
        if value is None or isinstance(value, str):
            return value or ""
        what = f"the {key} is a {_type(value)}, not a string"
        if required:
            raise SourceError(source.name, f"{what}; skipped", url=base,
                              item=entry.id or name, field=key)
        notes.append(str(SourceError(source.name, f"{what}; ignored", url=base,
                                     item=entry.id or name, field=key)))
        return ""

    entry.link, entry.link_field = text("url"), "url"
    if not entry.link:
        entry.link, entry.link_field = text("external_url"), "external_url"
    entry.title = text("title", required=True)
    entry.summary = text("summary")
    html, plain = text("content_html"), text("content_text")
    entry.body = html or plain or entry.summary
    entry.kinds = {"title": "text", "summary": "text", "body": "html" if html else "text",
                   "names": "text"}
    published, modified = text("date_published"), text("date_modified")
    entry.published = _date(published) or _date(modified)  # as feedparser falls back
    entry.updated = _date(modified)
    entry.date_text, entry.date_expected = published or modified, _EXPECTED_DATE
    label = entry.id or entry.link or name

    def note(message: str, key: str) -> None:
        notes.append(str(SourceError(source.name, message, url=base, item=label, field=key)))

    entry.author = _authors(item, lambda message: note(message, "authors")) or feed_authors
    entry.tags = _tags(item.get("tags"), lambda message: note(message, "tags"))
    entry.images = _images(item, text("image"), lambda message: note(message, "attachments"))
    return entry


def _authors(holder: dict, note: Callable[[str], None]) -> str:
    """The names of ``authors`` (1.1), else of ``author`` (1.0), joined by commas."""
    authors = holder.get("authors")
    if authors is None and holder.get("author") is not None:
        authors = [holder["author"]]
    if authors is None:
        return ""
    if not isinstance(authors, list):
        note(f"the authors are a {_type(authors)}, not a list; ignored")
        return ""
    names = []
    for author in authors:
        name = author.get("name") if isinstance(author, dict) else None
        if isinstance(name, str):
            names.append(name)
        elif not (isinstance(author, dict) and name is None):  # a nameless author is allowed
            note(f"an author is {author!r}, not an object with a name; ignored")
    return ", ".join(name for name in names if name.strip())


def _tags(value, note: Callable[[str], None]) -> tuple[str, ...]:
    """``tags``: a list of strings. A lone string counts as one tag, as in files."""
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list):
        note(f"the tags are a {_type(value)}, not a list; ignored")
        return ()
    tags = []
    for tag in values:
        if isinstance(tag, (int, float)) and not isinstance(tag, bool):
            tag = str(tag)
        if isinstance(tag, str):
            tags.append(tag)
        else:
            note(f"the tag {tag!r} is not a string; ignored")
    return tuple(tags)


def _images(item: dict, image: str, note: Callable[[str], None]) -> tuple:
    """Image candidates, best first: the item's ``image`` (with its attachment's media
    type and size when an attachment has the same URL), then image attachments."""
    attachments = item.get("attachments")
    if attachments is None:
        attachments = []
    elif not isinstance(attachments, list):
        note(f"the attachments are a {_type(attachments)}, not a list; ignored")
        attachments = []
    found = []
    for attachment in attachments:
        url = attachment.get("url") if isinstance(attachment, dict) else None
        media_type = attachment.get("mime_type") if isinstance(attachment, dict) else None
        if not isinstance(url, str) or not isinstance(media_type, str):
            note(f"an attachment is {attachment!r}, not an object with a url and a "
                 "mime_type; ignored")
        elif media_type.lower().startswith("image/") and url:
            found.append((url, media_type, attachment.get("size_in_bytes")))
    if image:
        # An empty media type is guessed from the URL (clean.web_image).
        same = [candidate for candidate in found if candidate[0] == image]
        found = (same[:1] or [(image, "", 0)]) + [c for c in found if c[0] != image]
    return tuple(found)


def _date(text: str) -> datetime | None:
    """An RFC 3339 date (or, as some feeds write, an RFC 822 one) in UTC; None when
    there is none or it cannot be read. A date without a zone is taken as UTC."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            value = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    try:
        return to_utc(value, "UTC")
    except ValueError:  # outside the years 1-9999 once in UTC
        return None


def _type(value) -> str:
    """A JSON value's type, as JSON names it."""
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)
