"""The schema of ``config.toml``: every key's type, default, help text and check.

``check_table`` walks a parsed file against ``SCHEMA``, fills in defaults and
collects *every* problem with its key path; ``config.py`` builds the frozen ``Config``
from the result. ``docs/CONFIG.md`` is generated from the same schema
(``schema_markdown``, ``syndicator config-docs``), and a test keeps the two in
step.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from lxml.cssselect import CSSSelector, SelectorError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``"15m"`` → 900.0 seconds. Raises ValueError on anything else."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as '30s', '15m', '6h' or '1d'")
    return float(match[1]) * _UNITS[match[2]]


# --- checks --------------------------------------------------------------------
# A check returns None, one message, or, for an array or a table, a list of
# (key path suffix, message): every bad element is reported at its own path.

Problems = list[tuple[str, str]]


def _each(check: Callable[[Any], str | None]) -> Callable[[list], Problems]:
    """The check for an array: ``check`` on every element, each problem at its index."""
    def validate(values: list) -> Problems:
        return [(f"[{i}]", message) for i, value in enumerate(values)
                if (message := check(value))]
    return validate


def _duration(value: str) -> str | None:
    try:
        parse_duration(value)
    except ValueError as exc:
        return str(exc)
    return None


def _http_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https", "file") or not (parts.netloc or parts.scheme == "file"):
        return f"{value!r} is not an absolute http(s):// or file:// URL"
    return None


def _language(code: Any) -> str | None:
    try:
        Locale.parse(code)
    except (UnknownLocaleError, ValueError, TypeError):
        return f"{code!r} is not a language code that CLDR knows"
    return None


def _timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{value!r} is not an IANA time zone such as 'Europe/Moscow'"
    return None


def _positive(value: float) -> str | None:
    return None if value > 0 else f"{value!r} must be greater than 0"


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"{value} is not a TCP port (1-65535)"


def _not_negative(value: float) -> str | None:
    return None if value >= 0 else f"{value!r} must be 0 or more"


ENGINES = ("argos", "nllb", "apertium")


def parse_route(spec: str) -> list[tuple[str, str | None]]:
    """``"argos@ru > apertium"`` → [("argos", "ru"), ("apertium", None)].

    Each hop names an engine and, except the last, the language it translates
    into; the last hop translates into the target language.
    """
    hops = []
    parts = [p.strip() for p in spec.split(">")]
    for n, part in enumerate(parts):
        engine, _, lang = part.partition("@")
        if engine not in ENGINES:
            raise ValueError(f"{spec!r}: unknown engine {engine!r} (known: {', '.join(ENGINES)})")
        last = n == len(parts) - 1
        if last == bool(lang):
            raise ValueError(f"{spec!r}: every hop but the last needs '@language', "
                             "the last takes none")
        hops.append((engine, lang or None))
    return hops


def _route(spec: Any) -> str | None:
    if not isinstance(spec, str):
        return f"expected a route such as 'nllb' or 'argos@ru > apertium', got {spec!r}"
    try:
        parse_route(spec)
    except ValueError as exc:
        return str(exc)
    return None


_routes = _each(_route)


def _chains(value: dict) -> Problems:
    problems = []
    for lang, routes in value.items():
        if problem := _language(lang):
            problems.append((f".{lang}", problem))
        if isinstance(routes, list):
            problems += [(f".{lang}{index}", message) for index, message in _routes(routes)]
        else:
            problems.append((f".{lang}", f"expected an array of routes, got {routes!r}"))
    return problems


def _publish_policy(value: str) -> str | None:
    if value in ("machine", "reviewed"):
        return None
    if value.startswith("delay:"):
        return _duration(value[len("delay:"):])
    return f"{value!r} is not 'machine', 'reviewed' or 'delay:<duration>' such as 'delay:6h'"


def _per_language(check: Callable[[str], str | None]) -> Callable[[dict], Problems]:
    """The check for a table of language = value (and 'default'): each entry at its key."""
    def validate(value: dict) -> Problems:
        problems = []
        for lang, policy in value.items():
            if lang != "default" and (problem := _language(lang)):
                problems.append((f".{lang}", problem))
            problem = check(policy) if isinstance(policy, str) else f"{policy!r} is not a string"
            if problem:
                problems.append((f".{lang}", problem))
        return problems
    return validate


def _choice(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"{value!r} is not one of {', '.join(choices)}"
    return check


@dataclass(frozen=True)
class Key:
    type: type | tuple[type, ...]
    default: Any
    help: str
    check: Callable[[Any], str | Problems | None] | None = None
    required: bool = False


@dataclass(frozen=True)
class ArrayOf:
    """An array of tables (``[[sources]]``), each checked against ``schema``."""
    schema: dict
    help: str


# Selectors an html source can do without ('' for none); the others must select.
_OPTIONAL_SELECTORS = ("date", "image", "next")


def selector_problem(key: str, value: str) -> str | None:
    """What is wrong with ``selectors.<key>``, as lxml's cssselect (which html sources
    select with) sees it; checked when the config loads and again before a fetch."""
    if value == "":
        return None if key in _OPTIONAL_SELECTORS else "'' selects nothing; give a CSS selector"
    try:
        CSSSelector(value, translator="html")
    except SelectorError as exc:
        return f"{value!r} is not a CSS selector lxml can use: {exc}"
    return None


def _selector(key: str) -> Callable[[str], str | None]:
    return lambda value: selector_problem(key, value)


_SELECTORS = {
    "item": Key(str, "li.news-item", "CSS selector of one entry on the listing page.",
                _selector("item")),
    "link": Key(str, "a", "CSS selector, inside an entry, of the link to the article page.",
                _selector("link")),
    "title": Key(str, "h1", "CSS selector of the title on the article page.",
                 _selector("title")),
    "date": Key(str, ".date", "CSS selector of the date on the article page.",
                _selector("date")),
    "body": Key(str, "article", "CSS selector of the body on the article page.",
                _selector("body")),
    "image": Key(str, "", "CSS selector of the lead image on the article page ('' for none).",
                 _selector("image")),
    "next": Key(str, "", "CSS selector of the 'next page' link on the listing ('' for none).",
                _selector("next")),
}

def _host(host: Any) -> str | None:
    if not isinstance(host, str) or not host or any(c in host for c in "/@ "):
        return f"{host!r} is not a host name such as 'cdn.example.org' or 'example.org:8080'"
    return None


_SOURCE = {
    "name": Key(str, None, "Unique name; part of every item's identity, so never rename it.",
                required=True),
    "type": Key(str, None, "'feed' (RSS/Atom/JSON Feed), 'html' (listing + article pages) "
                "or 'files' (a folder of Markdown/HTML/JSON files).",
                _choice("feed", "html", "files"), required=True),
    "url": Key(str, "", "Feed or listing URL (http, https or file). Required for feed and html.",
               _http_url),
    "path": Key(str, "", "Folder of item files, for type 'files' (relative to config.toml)."),
    "enabled": Key(bool, True, "Set to false to keep a source configured but not fetched."),
    "interval": Key(str, "15m", "How often `syndicator run` polls this source.", _duration),
    "max_pages": Key(int, 3, "html: follow the listing's 'next' link up to this many pages.",
                     _positive),
    "max_items": Key(int, 200, "At most this many items are taken from one fetch.", _positive),
    "date_format": Key(str, "%d.%m.%Y", "html: strptime format of the article date."),
    "timezone": Key(str, "", "html/files: zone of naive dates ('' = site.timezone).",
                    lambda v: None if v == "" else _timezone(v)),
    "allowed_hosts": Key(list, [], "Other hosts this source may fetch from (article links, "
                         "redirects), as 'host' or 'host:port'; its own URL's host is always "
                         "allowed.", _each(_host)),
    "selectors": _SELECTORS,
}

SCHEMA: dict[str, Any] = {
    "site": {
        "title": Key(str, "News", "Site title; feed titles add a localised word for 'News'."),
        "base_url": Key(str, None, "Absolute URL where the output folder is served; feed "
                        "self links and ids are built from it.", _http_url, required=True),
        "source_language": Key(str, "en", "Language the organisation publishes in.", _language),
        "timezone": Key(str, "UTC", "Site time zone (naive dates, date lines).", _timezone),
    },
    "languages": {
        "targets": Key(list, [], "Languages to translate into and publish.", _each(_language)),
    },
    "sources": ArrayOf(_SOURCE, "Where news comes from; one [[sources]] table per source."),
    "translation": {
        "chain": Key(list, ["nllb", "argos", "argos@ru > apertium"],
                     "Engines to try, in order, for every target language; the first that "
                     "serves the language is used. A route may pivot: 'argos@ru > apertium' "
                     "is argos into Russian, then apertium into the target.", _routes),
        "chains": Key(dict, {}, "Per-language chains that replace `chain`, e.g. "
                      "{ be = ['nllb', 'argos@ru > apertium'] }.", _chains),
        "glossary": Key(str, "translations/glossary.toml", "Forced translations and "
                        "do-not-translate terms (relative to config.toml)."),
        "nllb": {
            "model_dir": Key(str, "", "A CTranslate2 NLLB-200 model folder ('' = no NLLB); "
                             "see the README for converting one."),
            "beam_size": Key(int, 4, "Beam size of the NLLB decoder.", _positive),
            "max_batch_size": Key(int, 32, "Sentences per CTranslate2 batch.", _positive),
            "inter_threads": Key(int, 1, "CTranslate2 inter_threads.", _positive),
            "intra_threads": Key(int, 0, "CTranslate2 intra_threads (0 = all cores)."),
        },
        "apertium": {
            "command": Key(str, "apertium", "The apertium program."),
            "timeout": Key(str, "120s", "Longest one apertium batch may take.", _duration),
        },
        "argos": {
            "packages_dir": Key(str, "var/argos-packages", "Where argos packages are installed "
                                "and read (relative to config.toml)."),
            "beam_size": Key(int, 4, "Beam size; argostranslate's own default.", _positive),
            "max_batch_size": Key(int, 32, "Sentences per CTranslate2 batch.", _positive),
            "inter_threads": Key(int, 0, "CTranslate2 inter_threads: batches translated in "
                                 "parallel (0 = one per core, at most 4).", _not_negative),
            "intra_threads": Key(int, 0, "CTranslate2 intra_threads: threads inside each "
                                 "batch (0 = the cores divided among the parallel batches).",
                                 _not_negative),
        },
    },
    "translations": {
        "dir": Key(str, "translations", "Folder of gettext catalogs, <lang>/LC_MESSAGES/"
                   "messages.po (UI strings), relative to config.toml."),
    },
    "review": {
        "policy": Key(dict, {"default": "machine"}, "Publish policy per language ('default' "
                      "for the rest): 'machine' publishes machine output at once, labelled; "
                      "'reviewed' publishes only approved translations; 'delay:6h' publishes "
                      "machine output once it waited that long without review.",
                      _per_language(_publish_policy)),
        "stale": Key(dict, {"default": "machine"}, "When the source of an approved segment "
                     "changes: 'machine' shows the new machine text until it is reviewed "
                     "again, 'approved' keeps showing the old approved text. Per language, "
                     "with 'default'.", _per_language(_choice("machine", "approved"))),
    },
    "output": {
        "dir": Key(str, "feeds", "Folder the feeds are written to (relative to config.toml)."),
        "max_items": Key(int, 50, "Newest items in each subscription feed.", _positive),
        "archive_size": Key(int, 100, "Items per RFC 5005 archive page; older items move to "
                            "<lang>/atom-archive-N.xml (and rss-, feed-).", _positive),
    },
    "store": {
        "path": Key(str, "var/syndicator.db", "SQLite file (relative to config.toml)."),
    },
    "websub": {
        "hubs": Key(list, [], "WebSub hubs: feeds declare them (rel=\"hub\") and each is "
                    "pinged (hub.mode=publish) when a feed changes."),
    },
    "serve": {
        "host": Key(str, "127.0.0.1", "Address `syndicator serve` binds (loopback by default)."),
        "port": Key(int, 8080, "Port `syndicator serve` listens on (1-65535).", _port),
        "max_age": Key(int, 300, "Cache-Control max-age of served files, in seconds.",
                       _not_negative),
        "cors_origins": Key(list, ["*"], "Origins allowed to read feed.json, embed.js and "
                            "widget.html across origins (CORS); [\"*\"] for any."),
        "frame_ancestors": Key(list, ["*"], "CSP frame-ancestors of widget.html: the partner "
                               "sites that may embed it, e.g. [\"https://partner.example\"]."),
    },
    "http": {
        "timeout": Key((int, float), 20.0, "Seconds before a request times out.", _positive),
        "max_bytes": Key(int, 10_000_000, "Largest response body accepted, in bytes.", _positive),
        "retries": Key(int, 2, "Retries after a failed request (connection error, 429, 5xx)."),
        "backoff": Key((int, float), 1.0, "First retry delay in seconds; doubles each time."),
        "user_agent": Key(str, "", "User-Agent header ('' = syndicator/<version> (+base_url))."),
    },
}


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", float: "float", bool: "boolean", list: "array",
             dict: "table"}
    return " or ".join(names[x] for x in (t if isinstance(t, tuple) else (t,)))


def check_table(data: Any, schema: dict, path: str, problems: list[str]) -> dict:
    """Return ``data`` with defaults filled in; append problems with their key path."""
    if not isinstance(data, dict):
        problems.append(f"{path or 'top level'}: expected a table")
        return {}
    result: dict[str, Any] = {}
    for key in data.keys() - schema.keys():
        problems.append(f"{path}{key}: unknown key (known: {', '.join(schema)})")
    for key, spec in schema.items():
        where = f"{path}{key}"
        if isinstance(spec, dict):
            result[key] = check_table(data.get(key, {}), spec, where + ".", problems)
        elif isinstance(spec, ArrayOf):
            tables = data.get(key, [])
            if not isinstance(tables, list):
                problems.append(f"{where}: expected an array of tables ([[{key}]])")
                tables = []
            result[key] = [check_table(t, spec.schema, f"{where}[{i}].", problems)
                           for i, t in enumerate(tables)]
        else:
            result[key] = _check_value(data, key, spec, where, problems)
    return result


def _check_value(data: dict, key: str, spec: Key, where: str, problems: list[str]) -> Any:
    if key not in data:
        if spec.required:
            problems.append(f"{where}: required key is missing")
        return spec.default
    value = data[key]
    types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
    # bool is an int in Python; a TOML `true` must not pass as a number.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        problems.append(f"{where}: expected {_type_name(spec.type)}, got {value!r}")
        return spec.default
    found = spec.check(value) if spec.check else None
    for suffix, message in [("", found)] if isinstance(found, str) else found or []:
        problems.append(f"{where}{suffix}: {message}")
    return value


def schema_markdown() -> str:
    """Reference documentation for every key, generated from ``SCHEMA``."""
    lines = ["# Configuration reference", "",
             "Generated from `syndicator/config_schema.py` by `syndicator config-docs`; "
             "a test fails when this file and the schema disagree.", ""]

    def walk(schema: dict, prefix: str) -> None:
        rows = []
        for key, spec in schema.items():
            if isinstance(spec, dict):
                walk(spec, f"{prefix}{key}.")
            elif isinstance(spec, ArrayOf):
                lines.extend([f"## `[[{prefix}{key}]]`", "", spec.help, ""])
                walk(spec.schema, f"{prefix}{key}[].")
            else:
                default = "(required)" if spec.required else f"`{spec.default!r}`"
                rows.append(f"| `{prefix}{key}` | {_type_name(spec.type)} | {default} | {spec.help} |")
        if rows:
            lines.extend(["| key | type | default | meaning |", "|---|---|---|---|", *rows, ""])

    walk(SCHEMA, "")
    return "\n".join(lines)
