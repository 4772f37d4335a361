"""Dates as feeds' machine fields write them: RFC 822 (RSS) and RFC 3339 (Atom),
as bytes. Both refuse a date without a time zone, as feedgen did."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc3339(when: datetime) -> bytes:
    if when.tzinfo is timezone.utc:
        return _utc_iso(when)
    if when.tzinfo is None:
        raise ValueError(f"date without a time zone: {when}")
    return when.isoformat().encode()


def rfc822(when: datetime) -> bytes:
    if when.tzinfo is timezone.utc:
        return _utc_rfc822(when)
    if when.tzinfo is None:
        raise ValueError(f"date without a time zone: {when}")
    return _rfc822_format(when)


def _rfc822_format(when: datetime) -> bytes:
    # strftime("%a, %d %b %Y %H:%M:%S %z") in the C locale (English names, whatever
    # the locale, as RSS wants), cut from isoformat(), which is several times faster.
    iso = when.isoformat()
    zone = iso[26:] if when.microsecond else iso[19:]
    return (f"{_DAYS[when.weekday()]}, {iso[8:10]} {_MONTHS[when.month - 1]} {when.year} "
            f"{iso[11:19]} {zone.replace(':', '')}").encode()


# Each item's dates are written in every language and format, and formatting them
# costs more than a lookup. Only UTC dates (all the store holds) are kept: equal
# datetimes in other zones are the same instant, written differently.
@lru_cache(maxsize=1 << 16, typed=True)
def _utc_iso(when: datetime) -> bytes:
    return when.isoformat().encode()


_utc_rfc822 = lru_cache(maxsize=1 << 16, typed=True)(_rfc822_format)
