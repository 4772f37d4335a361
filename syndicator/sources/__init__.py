"""Sources: turn a configured source into new or changed ``SourceItem``s.

``fetch_source`` never raises for a source's own failures: a broken source
comes back as a ``SourceResult`` with ``error`` set, so the others go on.
"""
from __future__ import annotations

import logging

from ..config import SourceConfig
from ..errors import FetchError, SourceError
from ..models import SourceResult
from . import feed, files, html
from .http import Fetcher

log = logging.getLogger(__name__)
_READERS = {"feed": feed.read, "html": html.read, "files": files.read}


def fetch_source(source: SourceConfig, fetcher: Fetcher, validators) -> SourceResult:
    """Fetch one source. ``validators(url)`` gives the stored (etag, last_modified)."""
    try:
        result = _READERS[source.type](source, fetcher, validators)
    except (FetchError, SourceError) as exc:
        message = str(exc) if isinstance(exc, SourceError) else f"source {source.name!r}: {exc}"
        log.error("%s", message)
        return SourceResult(name=source.name, error=message,
                            retry_after=getattr(exc, "retry_after", None))
    for problem in result.problems:
        log.warning("%s", problem)
    return result
