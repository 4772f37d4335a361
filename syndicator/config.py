"""Load and validate ``config.toml`` into a frozen ``Config``.

The keys, their defaults, help texts and checks are one declarative schema in
``config_schema.py``. ``load_config`` checks a file against it, reports
*every* problem at once with its key path (``ConfigError``), and returns a
frozen ``Config``.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .config_schema import (ENGINES, SCHEMA, ArrayOf, Key, check_table, parse_duration,
                            parse_route, schema_markdown)
from .errors import ConfigError

__all__ = ["ENGINES", "SCHEMA", "ArrayOf", "Key", "parse_duration", "parse_route",
           "schema_markdown", "Config", "load_config", "config_from_dict"]


@dataclass(frozen=True)
class Selectors:
    item: str
    link: str
    title: str
    date: str
    body: str
    image: str
    next: str


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    url: str
    path: Path | None
    enabled: bool
    interval: float
    max_pages: int
    max_items: int
    date_format: str
    timezone: str
    selectors: Selectors
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArgosConfig:
    packages_dir: Path
    beam_size: int
    max_batch_size: int
    inter_threads: int
    intra_threads: int


@dataclass(frozen=True)
class NllbConfig:
    model_dir: Path | None
    beam_size: int
    max_batch_size: int
    inter_threads: int
    intra_threads: int


@dataclass(frozen=True)
class TranslationConfig:
    chain: tuple[str, ...]
    chains: dict  # language -> tuple of routes
    glossary: Path
    nllb: NllbConfig
    apertium_command: str
    apertium_timeout: float

    def routes(self, lang: str) -> tuple[str, ...]:
        return tuple(self.chains.get(lang, self.chain))


@dataclass(frozen=True)
class ReviewConfig:
    policies: dict
    stale: dict

    def policy(self, lang: str) -> str:
        return self.policies.get(lang, self.policies.get("default", "machine"))

    def delay(self, lang: str) -> float | None:
        """Seconds machine output waits under 'delay:…', else None."""
        policy = self.policy(lang)
        return parse_duration(policy[len("delay:"):]) if policy.startswith("delay:") else None

    def keeps_stale_approvals(self, lang: str) -> bool:
        return self.stale.get(lang, self.stale.get("default", "machine")) == "approved"


@dataclass(frozen=True)
class HttpConfig:
    timeout: float
    max_bytes: int
    retries: int
    backoff: float
    user_agent: str


@dataclass(frozen=True)
class Config:
    path: Path
    title: str
    base_url: str
    source_language: str
    timezone: str
    targets: tuple[str, ...]
    sources: tuple[SourceConfig, ...]
    argos: ArgosConfig
    translation: TranslationConfig
    review: ReviewConfig
    translations_dir: Path
    output_dir: Path
    max_items: int
    archive_size: int
    store_path: Path
    http: HttpConfig
    serve: dict
    hubs: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def languages(self) -> tuple[str, ...]:
        """Every published language: the source language first, then the targets."""
        return (self.source_language,) + tuple(t for t in self.targets
                                              if t != self.source_language)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found (pass --config PATH)"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    return config_from_dict(data, path)


def config_from_dict(data: dict, path: Path) -> Config:
    problems: list[str] = []
    raw = check_table(data, SCHEMA, "", problems)
    names = [s.get("name") for s in raw["sources"]]
    for i, source in enumerate(raw["sources"]):
        if source.get("name") in names[:i]:
            problems.append(f"sources[{i}].name: {source['name']!r} is used by another source")
        elif isinstance(source.get("name"), str) and not source["name"].strip():
            problems.append(f"sources[{i}].name: empty; every item's identity starts with it")
        if source.get("type") in ("feed", "html") and not source.get("url"):
            problems.append(f"sources[{i}].url: required for a {source['type']} source")
        if source.get("type") == "files" and not source.get("path"):
            problems.append(f"sources[{i}].path: required for a files source")
    problems += _list_problems(raw)
    if problems:
        raise ConfigError(str(path), problems)
    return _build(raw, path)


def _list_problems(raw: dict) -> list[str]:
    """A language listed twice (every Atom entry would link it twice); a hub that is
    not a web address (found only when the first ping fails)."""
    problems = []
    targets = raw["languages"]["targets"]
    for i, lang in enumerate(targets if isinstance(targets, list) else []):
        if lang in targets[:i]:
            problems.append(f"languages.targets[{i}]: {lang!r} is listed twice")
    hubs = raw["websub"]["hubs"]
    for i, hub in enumerate(hubs if isinstance(hubs, list) else []):
        parts = urlsplit(hub) if isinstance(hub, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"websub.hubs[{i}]: {hub!r} is not an http(s):// URL")
    return problems


def _build(raw: dict, path: Path) -> Config:
    root = path.resolve().parent
    site, argos, http = raw["site"], raw["translation"]["argos"], raw["http"]
    tr, nllb = raw["translation"], raw["translation"]["nllb"]
    base_url = site["base_url"] if site["base_url"].endswith("/") else site["base_url"] + "/"
    sources = tuple(
        SourceConfig(
            name=s["name"], type=s["type"], url=_absolute_file_url(s["url"], root),
            path=(root / s["path"]) if s["path"] else None,
            enabled=s["enabled"], interval=parse_duration(s["interval"]),
            max_pages=s["max_pages"], max_items=s["max_items"], date_format=s["date_format"],
            timezone=s["timezone"] or site["timezone"], selectors=Selectors(**s["selectors"]),
            allowed_hosts=tuple(h.lower() for h in s["allowed_hosts"]),
        )
        for s in raw["sources"]
    )
    return Config(
        path=path, title=site["title"], base_url=base_url,
        source_language=site["source_language"], timezone=site["timezone"],
        targets=tuple(raw["languages"]["targets"]), sources=sources,
        argos=ArgosConfig(packages_dir=root / argos["packages_dir"],
                          **{k: v for k, v in argos.items() if k != "packages_dir"}),
        translation=TranslationConfig(
            chain=tuple(tr["chain"]), chains={k: tuple(v) for k, v in tr["chains"].items()},
            glossary=root / tr["glossary"],
            nllb=NllbConfig(model_dir=(root / nllb["model_dir"]) if nllb["model_dir"] else None,
                            **{k: v for k, v in nllb.items() if k != "model_dir"}),
            apertium_command=tr["apertium"]["command"],
            apertium_timeout=parse_duration(tr["apertium"]["timeout"])),
        review=ReviewConfig(policies=dict(raw["review"]["policy"]),
                            stale=dict(raw["review"]["stale"])),
        translations_dir=root / raw["translations"]["dir"],
        output_dir=root / raw["output"]["dir"], max_items=raw["output"]["max_items"],
        archive_size=raw["output"]["archive_size"],
        store_path=root / raw["store"]["path"],
        http=HttpConfig(timeout=float(http["timeout"]), max_bytes=http["max_bytes"],
                        retries=http["retries"], backoff=float(http["backoff"]),
                        user_agent=http["user_agent"]),
        serve=dict(raw["serve"]), hubs=tuple(raw["websub"]["hubs"]),
    )


def _absolute_file_url(url: str, root: Path) -> str:
    """``file:examples/site/index.html`` is relative to config.toml; make it absolute."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc or parts.path.startswith("/"):
        return url
    return (root / parts.path).resolve().as_uri()
