"""Checks every source type shares: identifiers, URLs and title length; mojibake;
missing or odd dates; empty listings.

Item-level findings are *problems*: the item is still published (nothing is
lost) and the problem is logged as one warning naming source, URL, item and
field. Source-level findings (an empty listing that used to yield items) are
errors, so the source backs off and its published items stay as they are.
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urljoin

import ftfy

from ..errors import SourceError
from ..models import Image, SourceItem, SourceResult
from .clean import xml_safe, web_image

# Longer titles are cut at a word: a feed reader shows a line or two, and an
# unbounded title would make every later stage (splitting, translation) slow.
MAX_TITLE = 1000
# Control characters, which no URL or GUID carries literally (browsers drop them).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")

# A date this far ahead of the cycle's clock is a typo or a wrong zone on the
# source's side; a day covers every real time zone.
FUTURE_SLACK = timedelta(days=1)


class EmptyListing(SourceError):
    """The listing yielded no items at all (selectors matched nothing, or an empty feed)."""

    def __init__(self, source: str, message: str, *, url: str = "", field: str = ""):
        self.message = message
        super().__init__(source, message, url=url, field=field)

    def noting(self, last_count: int) -> str:
        """The message, saying how many items the listing yielded last time."""
        return str(SourceError(self.source, self.message + before(last_count), url=self.url,
                               field=self.field))


def repair_mojibake(fields: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Undo UTF-8 that was decoded as latin-1/windows-1252 ("Ð—Ð°Ñ..." for "За...").

    Returns the repaired fields and the names of those that needed it.
    ``ftfy.fix_encoding`` changes nothing else, so ordinary text passes through.
    """
    fixed, repaired = {}, []
    for name, text in fields.items():
        fixed[name] = ftfy.fix_encoding(text) if text else text
        if fixed[name] != text:
            repaired.append(name)
    return fixed, repaired


def mojibake_problem(source: str, url: str, item: str, repaired: list[str]) -> str:
    return str(SourceError(source, "text was mis-decoded (UTF-8 read as latin-1/windows-1252, "
                           "'Ð…'-style mojibake); repaired", url=url, item=item,
                           field=", ".join(repaired)))


def bad_url(source: str, url: str, item: str, field: str, value: str,
            outcome: str) -> SourceError:
    """A URL urllib cannot parse (an unclosed IPv6 bracket, "http://[x/", or a
    bracketed host that is no address): the error or problem line for it, saying
    what was done instead (``outcome``)."""
    return SourceError(source, f"{value!r} is not a valid URL; {outcome}", url=url,
                       item=item, field=field)


def optional_image(source: str, url: str, item: str, field: str, href: str, base: str,
                   notes: list[str], media_type: str = "", length: int = 0) -> Image | None:
    """The image at ``href`` as written, resolved against ``base``; None, with a
    problem in ``notes``, when its URL cannot be parsed: an image is decoration,
    never a reason to lose the item."""
    try:
        return web_image(urljoin(base, href), media_type, length)
    except ValueError:
        notes.append(str(bad_url(source, url, item, field, href, "published without the image")))
        return None


def date_problem(source: str, url: str, item: str, raw: str, expected: str = "") -> str:
    """The item has no usable date: it is published, dated when first seen."""
    what = f"date {raw!r} could not be parsed" if raw else "no date"
    if raw and expected:
        what += f" (expected {expected})"
    return str(SourceError(source, f"{what}; dated when first seen", url=url, item=item,
                           field="date"))


def clamp_future(result: SourceResult, now: datetime, url: str) -> SourceResult:
    """Items dated more than a day ahead are dated when first seen instead, with a warning."""
    items, problems = [], list(result.problems)
    for item in result.items:
        if item.published and item.published > now + FUTURE_SLACK:
            problems.append(str(SourceError(
                result.name, f"date {item.published.isoformat()} is in the future; "
                "dated when first seen", url=url, item=item.guid, field="date")))
            item = _undated(item)
        items.append(item)
    return replace(result, items=tuple(items), problems=tuple(problems))


def _undated(item: SourceItem) -> SourceItem:
    return replace(item, published=None, updated=None)


def empty_error(result: SourceResult, url: str, last_count: int) -> SourceResult:
    """A listing that yielded items before and none now is an error, never an empty feed.

    No validators are kept, so the next attempt fetches the listing in full."""
    if result.error or result.not_modified or result.found != 0 or not last_count:
        return result
    error = EmptyListing(result.name, "the source lists no items now", url=url)
    return SourceResult(name=result.name, error=error.noting(last_count))


def before(last_count: int) -> str:
    if not last_count:
        return ""
    return (f"; it listed {last_count} item(s) last time. The published items are kept; "
            "check the source")


def tidy_fields(result: SourceResult) -> SourceResult:
    """Identifiers, URLs and title length checked once, for every source type.

    Readers parse them as XML: a control character or a lone surrogate in a GUID
    or a link would make the whole document unwritable, so every source's items
    stop here. A GUID with nothing left is skipped with a problem; a bad image is
    dropped (with a problem when its URL cannot be parsed); a long title is cut.
    """
    items, problems = [], list(result.problems)
    for item in result.items:
        guid = _CONTROLS.sub("", xml_safe(item.guid)).strip()
        if not guid:
            problems.append(str(SourceError(result.name, "the GUID is empty once control "
                                            "characters are removed; skipped",
                                            item=repr(item.guid), field="guid")))
            continue
        image = None
        if item.image:
            try:
                image = web_image(clean_url(item.image.url), item.image.type,
                                  item.image.length)
            except ValueError:  # an image is decoration: the item goes on without it
                problems.append(str(bad_url(result.name, "", guid, "image", item.image.url,
                                            "published without the image")))
        title = item.title
        if len(title) > MAX_TITLE:
            title = title[:MAX_TITLE].rsplit(" ", 1)[0] + "…"
            problems.append(str(SourceError(
                result.name, f"the title has {len(item.title)} characters; cut to "
                f"{len(title)}", item=guid, field="title")))
        items.append(replace(item, guid=guid, url=clean_url(item.url), image=image,
                             title=title))
    return replace(result, items=tuple(items), problems=tuple(problems))


def clean_url(value: str) -> str:
    """A URL without XML-illegal or control characters; inner spaces percent-encoded."""
    return _CONTROLS.sub("", xml_safe(value)).strip().replace(" ", "%20")
