"""The project's exception tree.

Library code raises these; only ``cli.py`` and ``web.py`` turn them into exit
codes or HTTP responses.
"""
from __future__ import annotations


class SyndicatorError(Exception):
    """Base class for every error syndicator reports to an operator."""


class ConfigError(SyndicatorError):
    """The configuration is invalid; ``problems`` lists every problem at once."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s) in the configuration:\n{lines}")


class SourceError(SyndicatorError):
    """A source could not be fetched or parsed. Names the source, URL and field."""

    def __init__(self, source: str, message: str, *, url: str = "", item: str = "", field: str = ""):
        self.source, self.url, self.item, self.field = source, url, item, field
        where = ", ".join(
            f"{k} {v!r}" for k, v in (("url", url), ("item", item), ("field", field)) if v
        )
        super().__init__(f"source {source!r}: {message}" + (f" ({where})" if where else ""))


class FetchError(SyndicatorError):
    """An HTTP fetch failed after its retries."""

    def __init__(self, url: str, message: str, *, retry_after: float | None = None):
        self.url = url
        self.retry_after = retry_after
        super().__init__(f"{url}: {message}")


class StoreError(SyndicatorError):
    """The store is unusable (corrupt, newer schema, locked)."""


class LockedError(StoreError):
    """Another syndicator process works on the same store."""


class PublishError(SyndicatorError):
    """Publishing could not finish (e.g. its worker process died)."""


class CatalogError(SyndicatorError):
    """A translators' catalog (news.po) could not be read or written; names the file
    and, for a syntax error, the line. Only that language's catalog waits."""


class TranslationError(SyndicatorError):
    """An engine failed to translate a batch."""


class ModelError(SyndicatorError):
    """A translation model could not be installed or loaded."""


class ServeError(SyndicatorError):
    """``serve`` could not listen on its address (in use, not this machine's, no rights)."""
