"""Sources: turn a configured source into new or changed ``SourceItem``s.

``fetch_source`` never raises for a source's own failures: a broken source
comes back as a ``SourceResult`` with ``error`` set, so the others go on.
Every fault is logged here, once: an error line for a failed source, a
warning line per item problem, each naming the source, URL, item and field.
An exception no reader foresaw fails only its own source, with its traceback.
"""
from __future__ import annotations

import functools
import logging
from datetime import datetime, timezone

from ..config import SourceConfig
from ..errors import FetchError, SourceError
from ..models import SourceResult
from . import feed, files, html
from .checks import EmptyListing, clamp_future, empty_error, tidy_fields
from .http import Fetcher

log = logging.getLogger(__name__)
_READERS = {"feed": feed.read, "html": html.read, "files": files.read}


def fetch_source(source: SourceConfig, fetcher: Fetcher, validators, *,
                 now: datetime | None = None, last_count: int = 0,
                 guid_base: str = "") -> SourceResult:
    """Fetch one source. ``validators(url)`` gives the stored (etag, last_modified);
    ``last_count`` is how many items it listed last time, so that an empty listing
    that used to yield items is an error and not a quietly empty source;
    ``guid_base`` is the last result's (see ``SourceResult.guid_base``)."""
    try:
        reader = _READERS[source.type]
        if source.type == "feed":
            reader = functools.partial(reader, guid_base=guid_base)
        result = _fetch(source, reader, fetcher, validators, now, last_count)
    except Exception as exc:
        # Known faults come back as errors or problems; this is one nobody foresaw
        # (a bug). The source fails, with the traceback in the log to report it;
        # the other sources, and the cycle, go on.
        message = str(SourceError(source.name, f"unexpected {type(exc).__name__}: {exc}; "
                                  "the source was skipped this cycle (the traceback is "
                                  "in the log; please report it)",
                                  url=source.url or str(source.path)))
        log.exception("%s", message)
        return SourceResult(name=source.name, error=message)
    if result.error:
        log.error("%s", result.error)
    for problem in result.problems:
        log.warning("%s", problem)
    return result


def _fetch(source: SourceConfig, reader, fetcher: Fetcher, validators, now: datetime | None,
           last_count: int) -> SourceResult:
    try:
        result = reader(source, fetcher, validators)
    except (FetchError, SourceError) as exc:
        message = str(exc) if isinstance(exc, SourceError) else f"source {source.name!r}: {exc}"
        if isinstance(exc, EmptyListing):
            message = exc.noting(last_count)
        result = SourceResult(name=source.name, error=message,
                              retry_after=getattr(exc, "retry_after", None))
    result = empty_error(result, source.url or str(source.path), last_count)
    return clamp_future(tidy_fields(result), now or datetime.now(timezone.utc), source.url)
