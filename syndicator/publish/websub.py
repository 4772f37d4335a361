"""WebSub (W3C): tell the configured hubs which feeds changed.

Pings happen after the files are safely written, with a short timeout and a
few retries with backoff; a hub that is down is logged and never blocks or
fails publishing.
"""
from __future__ import annotations

import logging
import time

import httpx

from .. import __version__

log = logging.getLogger(__name__)


def ping_hubs(hubs: tuple[str, ...], topics: list[str], *, timeout: float = 5.0,
              attempts: int = 3, backoff: float = 0.5, sleep=time.sleep) -> dict[str, bool]:
    """POST ``hub.mode=publish`` for every changed feed URL to each hub; returns hub → ok."""
    results = {}
    if not hubs or not topics:
        return results
    # hub.url is the name WebSub hubs use; some older hubs read hub.topic.
    data = {"hub.mode": "publish", "hub.url": topics, "hub.topic": topics}
    with httpx.Client(timeout=timeout, headers={"User-Agent": f"syndicator/{__version__}"}) \
            as client:
        for hub in hubs:
            results[hub] = _ping(client, hub, data, attempts, backoff, sleep)
    return results


def _ping(client: httpx.Client, hub: str, data, attempts: int, backoff: float, sleep) -> bool:
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            response = client.post(hub, data=data)
            if response.status_code < 300:
                log.info("WebSub hub %s accepted %d topic(s)", hub, len(data["hub.url"]))
                return True
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break  # the hub refused the request itself; retrying will not help
        except httpx.HTTPError as exc:
            problem = str(exc) or type(exc).__name__
        if attempt < attempts:
            sleep(delay)
            delay *= 2
    log.warning("WebSub hub %s not notified (%s); feeds are published anyway", hub, problem)
    return False
