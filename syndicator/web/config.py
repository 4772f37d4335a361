"""``ServeConfig``: what ``syndicator serve`` needs, checked once at start-up.

The lead's config loader builds it from the ``[serve]`` table. Values that end up
verbatim in response headers are validated here, so a typo in config.toml can
neither inject a header nor silently widen a CORS or framing policy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

# scheme://host[:port] with nothing after it: the form browsers send in Origin.
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")
# A CSP host-source or keyword; no ";" or "," (they would end the directive), no
# whitespace (it would split one source into two), and in the path only printable
# ASCII: a header is Latin-1, and a control character would make every widget fail.
_CSP_SOURCE = re.compile(r"^('self'|'none'|\*|[a-z][a-z0-9+.-]*:|"
                         r"([a-z][a-z0-9+.-]*://)?(\*\.)?[a-z0-9.-]+(:([0-9]{1,5}|\*))?"
                         r"(/[\x21-\x2b\x2d-\x3a\x3c-\x7e]*)?)$")


@dataclass(frozen=True)
class ServeConfig:
    root: Path                                  # the output folder (feeds/)
    max_age: int = 300                          # Cache-Control max-age, seconds
    cors_origins: tuple[str, ...] = ("*",)      # for feed.json, embed.js, widget.html
    frame_ancestors: tuple[str, ...] = ("*",)   # CSP frame-ancestors of widget.html

    def __post_init__(self):
        # Normalise first (lists from TOML, str paths) so equality and hashing work.
        object.__setattr__(self, "root", Path(self.root))
        origins = tuple(o.strip().rstrip("/").lower() for o in self.cors_origins)
        object.__setattr__(self, "cors_origins", origins)
        ancestors = tuple(a.strip() for a in self.frame_ancestors)
        object.__setattr__(self, "frame_ancestors", ancestors)
        problems = config_problems(self)
        if problems:
            raise ConfigError("[serve]", problems)


def config_problems(config: ServeConfig) -> list[str]:
    """Every problem at once, worded with the config keys the operator edits."""
    problems = []
    if isinstance(config.max_age, bool) or not isinstance(config.max_age, int) \
            or config.max_age < 0:
        problems.append(f"serve.max_age: {config.max_age!r} is not a non-negative integer")
    if not config.cors_origins:
        problems.append('serve.cors_origins: empty; use ["*"] or list the origins')
    for origin in config.cors_origins:
        if origin != "*" and not _ORIGIN.match(origin):
            problems.append(f"serve.cors_origins: {origin!r} is not \"*\" or an origin "
                            "like \"https://example.org\" (no path)")
    if not config.frame_ancestors:
        problems.append("serve.frame_ancestors: empty; use [\"'none'\"] to forbid framing")
    for source in config.frame_ancestors:
        if not _CSP_SOURCE.match(source.lower()):
            problems.append(f"serve.frame_ancestors: {source!r} is not a CSP source "
                            "like \"https://example.org\", \"'self'\" or \"*\"")
    return problems
