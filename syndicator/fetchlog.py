"""The store's record of fetches and cycles: HTTP validators, each source's
failures and back-off, and each cycle's report (what ``status`` shows).

A part of ``Store`` (store.py), kept apart because none of it is news: it is
the scheduler's and the fetcher's memory, read and written on its own.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa

from .rows import from_iso, iso
from .schema import http_cache, runs, source_state


class FetchLog:
    """Methods of ``Store`` over the fetch-state and run tables; needs ``self.engine``."""

    engine: sa.Engine

    # --- fetch state ---------------------------------------------------------

    def validators(self, url: str) -> tuple[str, str]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(http_cache.c.etag, http_cache.c.last_modified)
                               .where(http_cache.c.url == url)).first()
        return (row.etag, row.last_modified) if row else ("", "")

    def save_validators(self, url: str, etag: str, last_modified: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(http_cache.delete().where(http_cache.c.url == url))
            if etag or last_modified:
                conn.execute(http_cache.insert().values(url=url, etag=etag,
                                                        last_modified=last_modified))

    def record_fetch(self, name: str, now: datetime, error: str = "",
                     retry_after: float | None = None, count: int | None = None) -> None:
        """Remember a fetch. After a failure the source backs off exponentially (1 min
        doubling to 1 h), or for as long as the server's Retry-After asked."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(source_state).where(source_state.c.name == name)).first()
            values = {"last_attempt": iso(now), "error": error}
            if error:
                failures = (row.failures if row else 0) + 1
                wait = max(retry_after or 0.0, min(60.0 * 2 ** (failures - 1), 3600.0))
                values.update(failures=failures,
                              next_attempt=iso(now + timedelta(seconds=wait)))
            else:
                values.update(last_success=iso(now), failures=0, next_attempt="")
                if count is not None:
                    values["last_count"] = count
            if row is None:
                conn.execute(source_state.insert().values(name=name, **values))
            else:
                conn.execute(source_state.update().where(source_state.c.name == name)
                             .values(**values))

    def backing_off(self, name: str, now: datetime) -> datetime | None:
        """When a failing source may be tried again, if that is still in the future."""
        with self.engine.connect() as conn:
            when = conn.execute(sa.select(source_state.c.next_attempt)
                                .where(source_state.c.name == name)).scalar()
        if not when:
            return None
        moment = from_iso(when)
        # A clock that jumped backwards must not park a source for longer than the cap.
        return moment if now < moment <= now + timedelta(hours=1, seconds=1) else None

    def source_states(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(source_state))]

    # --- runs ----------------------------------------------------------------

    def record_run(self, started: datetime, finished: datetime, report: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs.insert().values(started=iso(started), finished=iso(finished),
                                              report=json.dumps(report, ensure_ascii=False)))

    def last_run(self) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        return {"started": row.started, "finished": row.finished, **json.loads(row.report)}
