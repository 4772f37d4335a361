"""Translator accounts of the review page: passwords, sessions, login rate limits.

There are no default accounts: ``syndicator translators add`` creates every one.
Passwords are hashed with scrypt (stdlib ``hashlib.scrypt``), a random salt per
hash and the cost parameters inside the stored string, so they can be raised
later without invalidating old hashes. The store keeps only a SHA-256 of each
session id: a leaked database does not hand out live sessions. Failed logins
are counted per account and per client address in ``login_failures``; from
the fifth failure on, each one locks the key for 15 minutes, doubling. An
attempt is counted before its password is checked, and given back when it is
right, so concurrent attempts cannot all pass the check.
Nothing here logs a password, a session id or a CSRF token.

The last part is the HTTP side of the same: cookie flags, strict form reading
and constant-time token comparison, shared by every review route.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import parse_qsl

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from ..errors import SyndicatorError
from ..schema import login_failures, sessions, translators
from ..rows import from_iso, iso
from ..store import Store

log = logging.getLogger(__name__)

SESSION_TTL = timedelta(hours=12)
MAX_FAILURES = 5                     # failures before a key is locked
LOCK_BASE = timedelta(minutes=15)    # first lock; each further failure doubles it
LOCK_MAX = timedelta(hours=24)
FORGET_AFTER = timedelta(hours=24)   # a quiet key starts again from zero
MIN_PASSWORD, MAX_PASSWORD = 10, 1024
# scrypt N = 2**15, r = 8: 32 MiB and ~0.1 s per hash. Enough to make offline
# guessing costly, cheap enough for a login form on a small server.
_LOG_N, _R, _P, _DKLEN = 15, 8, 1, 32
_NAME = re.compile(r"^[\w.@-]{1,64}$")
SESSION_COOKIE, LOGIN_COOKIE, COOKIE_PATH = "review_session", "review_login", "/review"
MAX_BODY = 1 << 20  # a whole item's blocks fit many times over


class AccountError(SyndicatorError):
    """A translator account cannot be created as asked (name, password, languages)."""


@dataclass(frozen=True)
class Translator:
    name: str
    languages: tuple[str, ...]
    created: datetime


@dataclass(frozen=True)
class Session:
    translator: Translator
    csrf: str
    expires: datetime


class Locked(Exception):
    """Too many failed logins for this account or address; ``until`` says when it ends."""

    def __init__(self, until: datetime):
        super().__init__(f"locked until {iso(until)}")
        self.until = until


# --- passwords -----------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# Hashes at once, per process: each takes 32 MiB, and the server runs requests on
# up to 40 threads, so a burst of logins could otherwise take over 1 GB.
_HASHING = threading.BoundedSemaphore(2)


def _scrypt(password: str, salt: bytes, log_n: int, r: int, p: int, dklen: int) -> bytes:
    n = 1 << log_n
    with _HASHING:
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                              dklen=dklen, maxmem=256 * n * r * p + (1 << 20))


def hash_password(password: str) -> str:
    """``scrypt$ln=15,r=8,p=1$<salt>$<hash>`` (base64), for ``verify_password``."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _LOG_N, _R, _P, _DKLEN)
    return f"scrypt$ln={_LOG_N},r={_R},p={_P}${_b64(salt)}${_b64(digest)}"


def verify_password(stored: str, password: str) -> bool:
    try:
        scheme, params, salt, digest = stored.split("$")
        values = dict(part.split("=", 1) for part in params.split(","))
        log_n, r, p = int(values["ln"]), int(values["r"]), int(values["p"])
        salt_bytes, expected = base64.b64decode(salt), base64.b64decode(digest)
    except (ValueError, KeyError):
        log.error("a stored password hash is malformed; reset it with `translators add`")
        return False
    # Bounds keep a tampered row from making one login take minutes or gigabytes.
    if scheme != "scrypt" or not (10 <= log_n <= 20 and 1 <= r <= 16 and 1 <= p <= 4):
        return False
    actual = _scrypt(password, salt_bytes, log_n, r, p, len(expected))
    return hmac.compare_digest(actual, expected)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


# --- translators ---------------------------------------------------------------

def add_translator(store: Store, name: str, password: str, languages: list[str],
                   now: datetime) -> bool:
    """Create a translator, or replace the password and languages of an existing one.

    Returns True when the account is new. Replacing ends the account's sessions,
    so a reset password locks out whoever held the old one.
    """
    if not _NAME.match(name):
        raise AccountError(f"{name!r}: a name is 1 to 64 letters, digits, '.', '_', '@' or '-'")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if not languages:
        raise AccountError("give at least one language (--lang ru,ky)")
    values = {"password_hash": hash_password(password), "created": iso(now),
              "languages": json.dumps(sorted(set(languages)))}
    with store.engine.begin() as conn:
        exists = conn.execute(sa.select(translators.c.name)
                              .where(translators.c.name == name)).first() is not None
        if exists:
            conn.execute(translators.update().where(translators.c.name == name).values(**values))
            conn.execute(sessions.delete().where(sessions.c.translator == name))
        else:
            conn.execute(translators.insert().values(name=name, **values))
    log.info("%s translator %r for %s", "updated" if exists else "added", name,
             ", ".join(sorted(set(languages))))
    return not exists


def _translator(row) -> Translator:
    return Translator(row.name, tuple(json.loads(row.languages)), from_iso(row.created))


def list_translators(store: Store) -> list[Translator]:
    with store.engine.connect() as conn:
        return [_translator(r) for r in conn.execute(
            sa.select(translators).order_by(translators.c.name))]


def has_translators(store: Store) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(translators.c.name).limit(1)).first() is not None


# --- login and its rate limit ----------------------------------------------------

def _keys(name: str, address: str) -> list[str]:
    return [f"user:{name}", f"ip:{address}"]


def _lock_end(failures: int, last: datetime) -> datetime | None:
    if failures < MAX_FAILURES:
        return None
    return last + min(LOCK_BASE * 2 ** (failures - MAX_FAILURES), LOCK_MAX)


def locked_until(store: Store, name: str, address: str, now: datetime) -> datetime | None:
    """The latest lock end of the account and the address, if either is locked now."""
    with store.engine.connect() as conn:
        return _lock_of(conn, _keys(name, address), now)


def _lock_of(conn, keys: list[str], now: datetime) -> datetime | None:
    rows = conn.execute(sa.select(login_failures).where(login_failures.c.key.in_(keys))).all()
    ends = [end for r in rows if (end := _lock_end(r.failures, from_iso(r.last))) and end > now]
    return max(ends) if ends else None


def _claim_attempt(store: Store, name: str, address: str,
                   now: datetime) -> tuple[datetime | None, sa.Row | None]:
    """Count this attempt as a failure of both keys, before its password is checked:
    returns (None, the address's row before it). When either key is locked: (the
    lock's end, None), and the attempt is not counted.

    One write transaction: concurrent logins pass through it one at a time, so a
    burst cannot have more passwords checked than the limit allows, nor lose counts.
    """
    with store.engine.begin() as conn:
        # The sweep goes first: as a write, it takes SQLite's write lock for the whole
        # transaction (a read first would let every concurrent attempt see the old
        # counts). Unknown names create rows too; old ones go here, not kept forever.
        conn.execute(login_failures.delete().where(
            login_failures.c.last < iso(now - FORGET_AFTER - LOCK_MAX)))
        keys = _keys(name, address)
        until = _lock_of(conn, keys, now)
        if until:
            return until, None
        for key in keys:
            row = conn.execute(sa.select(login_failures)
                               .where(login_failures.c.key == key)).first()
            if key.startswith("ip:"):
                before = row
            failures = 1
            if row is not None:
                quiet = now - from_iso(row.last)
                # Below the threshold, a failure older than one lock period is
                # forgotten; above it, only a long quiet spell resets the doubling.
                fresh = quiet < (LOCK_BASE if row.failures < MAX_FAILURES else FORGET_AFTER)
                failures = row.failures + 1 if fresh else 1
                conn.execute(login_failures.delete().where(login_failures.c.key == key))
            conn.execute(login_failures.insert().values(key=key, failures=failures,
                                                        last=iso(now)))
    return None, before


def _attempt_succeeded(store: Store, name: str, address: str, now: datetime,
                       before: sa.Row | None) -> None:
    with store.engine.begin() as conn:
        # The account starts again from zero. The address gets back the state it had
        # before this attempt, its last failure's time too, so that its count still
        # fades (a valid login must not reset it, or one known account would launder
        # guesses at the others). If another attempt counted since, only ours goes.
        conn.execute(login_failures.delete().where(login_failures.c.key == f"user:{name}"))
        ours = sa.and_(login_failures.c.key == f"ip:{address}",
                       login_failures.c.last == iso(now),
                       login_failures.c.failures == (before.failures + 1 if before else 1))
        if before is None:
            done = conn.execute(login_failures.delete().where(ours)).rowcount
        else:
            done = conn.execute(login_failures.update().where(ours).values(
                failures=before.failures, last=before.last)).rowcount
        if not done:
            conn.execute(login_failures.update().where(
                login_failures.c.key == f"ip:{address}", login_failures.c.failures > 0)
                .values(failures=login_failures.c.failures - 1))


def authenticate(store: Store, name: str, password: str, address: str,
                 now: datetime) -> Translator | None:
    """The translator when name and password match; raises ``Locked`` while limited.

    A locked key is refused before the password is checked, so guessing on
    during a lock learns nothing. Unknown names cost a full hash too, so the
    answer time does not tell which names exist.
    """
    until, before = _claim_attempt(store, name, address, now)
    if until:
        log.warning("login refused for %r from %s: locked until %s", name, address, iso(until))
        raise Locked(until)
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(translators).where(translators.c.name == name)).first()
    ok = verify_password(row.password_hash if row else _dummy_hash(), password)
    if not (ok and row):
        log.warning("login failed for %r from %s", name, address)
        return None
    _attempt_succeeded(store, name, address, now, before)
    log.info("translator %r logged in from %s", name, address)
    return _translator(row)


# --- sessions --------------------------------------------------------------------

def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def start_session(store: Store, name: str, now: datetime,
                  previous: str | None = None) -> tuple[str, str]:
    """A fresh session id (the cookie value) and CSRF token; ``previous`` is ended.

    Always a new id at login: a session id planted before login (fixation) is
    never promoted to a logged-in one.
    """
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with store.engine.begin() as conn:
        conn.execute(sessions.delete().where(sessions.c.expires <= iso(now)))
        if previous:
            conn.execute(sessions.delete().where(sessions.c.id_hash == _id_hash(previous)))
        conn.execute(sessions.insert().values(id_hash=_id_hash(session_id), translator=name,
                                              csrf=csrf, expires=iso(now + SESSION_TTL)))
    return session_id, csrf


def find_session(store: Store, session_id: str | None, now: datetime) -> Session | None:
    """The live session for a cookie value, with the translator's current languages."""
    if not session_id or len(session_id) > 128:
        return None
    query = (sa.select(sessions, translators.c.languages, translators.c.created)
             .join(translators, translators.c.name == sessions.c.translator)
             .where(sessions.c.id_hash == _id_hash(session_id),
                    sessions.c.expires > iso(now)))
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    translator = Translator(row.translator, tuple(json.loads(row.languages)),
                            from_iso(row.created))
    return Session(translator, row.csrf, from_iso(row.expires))


def end_session(store: Store, session_id: str | None) -> None:
    if session_id:
        with store.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.id_hash == _id_hash(session_id)))


# --- the HTTP side: cookies, forms, tokens ----------------------------------------

class Refused(Exception):
    """A request answered with an error page (403, 404, ...) instead of its action."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _loopback(host: str | None) -> bool:
    try:
        return bool(host) and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_https(request: Request) -> bool:
    # uvicorn already applies X-Forwarded-Proto from trusted proxies; this repeats
    # the rule for other servers: believed only from a proxy on this machine.
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and _loopback(request.client.host if request.client else None)


def set_cookie(request: Request, response: Response, name: str, value: str,
               max_age: int | None = None) -> None:
    """HttpOnly, SameSite=Lax, scoped to /review, and Secure whenever the request was HTTPS."""
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH,
                        secure=is_https(request), httponly=True, samesite="lax")


def login_token(request: Request) -> str:
    """The login form's CSRF token: the browser's login cookie if well-formed, else new."""
    token = request.cookies.get(LOGIN_COOKIE, "")
    if 20 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum():
        return token
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; a missing or empty value never matches."""
    return bool(given and expected) and hmac.compare_digest(given.encode(), expected.encode())


async def read_form(request: Request) -> dict[str, list[str]]:
    """An urlencoded body, capped in size, as {name: [values]}.

    Parsed here rather than by Starlette, which needs python-multipart even
    for urlencoded forms; a form is all the review page ever posts.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise Refused(415, "Send the form as application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refused(413, "The form is too large.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=5000,
                          errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "The form could not be read.") from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def form_value(form: dict[str, list[str]], name: str) -> str | None:
    """A single-valued field; a repeated one counts as missing (no last-wins tricks)."""
    values = form.get(name, [])
    return values[0] if len(values) == 1 else None
