"""``syndicator status``: what is stored, translated, waiting and failing."""
from __future__ import annotations

from datetime import datetime, timezone

from .config import Config
from .publish import waiting
from .store import open_store
from .translate import Engines


def collect_status(config: Config) -> dict:
    now = datetime.now(timezone.utc)
    store = open_store(config.store_path)
    last_run = store.last_run()
    engines = Engines(config)
    per_source = store.count_items()
    states = {s["name"]: s for s in store.source_states()}
    counts = store.translation_counts()
    languages = {}
    for lang in config.targets:
        engine = engines.for_pair(config.source_language, lang)
        row = counts.get(lang, {})
        languages[lang] = {
            "engine": engine.model_version(config.source_language, lang) if engine else None,
            "chain": list(config.translation.routes(lang)),
            "translated": row.get("translated", 0), "awaiting": row.get("awaiting", 0),
            "failed": row.get("failed", 0),
            "failures": store.failure_reasons(lang),
        }
    sources = [{
        "name": s.name, "type": s.type, "enabled": s.enabled, "items": per_source.get(s.name, 0),
        "last_attempt": states.get(s.name, {}).get("last_attempt", ""),
        "last_success": states.get(s.name, {}).get("last_success", ""),
        "error": states.get(s.name, {}).get("error", ""),
        "failures": states.get(s.name, {}).get("failures", 0),
        "next_attempt": states.get(s.name, {}).get("next_attempt", ""),
        "problems": [e for e in (last_run or {}).get("errors", [])
                     if e.startswith(f"source {s.name!r}")],
    } for s in config.sources]
    return {"store": str(config.store_path), "sources": sources, "languages": languages,
            "waiting": {lang: [i.title for i in waiting(store, config, lang, now)]
                        for lang in config.targets if config.review.policy(lang) != "machine"},
            "last_run": last_run}


def render_status(data: dict) -> str:
    lines = [f"store: {data['store']}", "", "sources:"]
    for s in data["sources"]:
        state = "disabled" if not s["enabled"] else (f"ERROR: {s['error']}" if s["error"]
                                                       else "ok")
        lines.append(f"  {s['name']:<16} {s['type']:<6} {s['items']:>6} item(s)  "
                     f"last success {s['last_success'] or 'never'}  {state}")
        if s["next_attempt"]:
            lines.append(f"      backing off until {s['next_attempt']}")
        lines += [f"      {problem}" for problem in s["problems"]]
    lines += ["", "languages:        engine                         translated  awaiting  failed"]
    for lang, row in data["languages"].items():
        lines.append(f"  {lang:<16} {row['engine'] or '(none: awaiting translation)':<30} "
                     f"{row['translated']:>10} {row['awaiting']:>9} {row['failed']:>7}")
        for reason, n in row["failures"].items():
            lines.append(f"      {n} failed: {reason}")
    for lang, titles in data["waiting"].items():
        lines.append(f"  {lang}: {len(titles)} item(s) wait for review")
        lines += [f"      {title}" for title in titles[:10]]
    run = data["last_run"]
    lines += ["", "last run: " + (f"{run['started']} → {run['finished']}: {run['new']} new, "
                                  f"{run['updated']} updated, {len(run['errors'])} error(s), "
                                  f"peak memory {run.get('max_rss_mb', 0):.0f} MB"
                                  if run else "never")]
    for error in (run or {}).get("errors", []):
        lines.append(f"  {error}")
    return "\n".join(lines)
