"""The translators' review page at ``/review/`` (``syndicator serve`` mounts it).

A translator sees, per language, the source and the translation block by block,
edits and approves them. Every approval goes through ``approvals.approve``, the
same code path as a PO import, so history, the approved memory and re-assembly
behave alike. "Publish now" runs ``cycle.retranslate`` under the store lock.

Server-rendered HTML only: plain forms work without JavaScript and with the
keyboard alone. Security: session cookies (only their hash is stored), a CSRF
token on every form, POST for every change, per-language permissions (403 and
a log line otherwise), rate-limited logins and a CSP that allows nothing but
the one inline stylesheet, by hash.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import math
import threading
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Callable
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_decimal
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ..approvals import (Approval, Approved, approvals_for, approve, publishable,
                         segment_history)
from ..catalog import export_catalog, items_to_merge
from ..config import Config
from ..cycle import retranslate, store_lock
from ..errors import CatalogError, LockedError, SyndicatorError
from ..models import item_key
from ..publish import i18n, waiting
from ..publish.parallel import one_process
from ..rows import from_iso
from ..store import Store, open_store
from . import accounts
from .accounts import (LOGIN_COOKIE, SESSION_COOKIE, Refused, form_value, login_token,
                       read_form, same_token, set_cookie)
from .review_forms import (RANKS, STATES, ItemView, SegmentView, conflict, digest,
                           item_state, read_form_against, segment_label)

log = logging.getLogger(__name__)

# Every route takes every method, so a GET on an action gets our 405, not the
# static files' 404 (the static route would match what ours turned down).
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_env = jinja2.Environment(loader=jinja2.PackageLoader("syndicator", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)
# The stylesheet is inline (one request per page, nothing to cache-bust) and
# allowed by its hash, so the CSP needs neither 'unsafe-inline' nor 'self'.
STYLE = _env.loader.get_source(_env, "review/_style.html")[0]
CSP = ("default-src 'none'; style-src 'sha256-"
       + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
       + "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "Cache-Control": "no-store", "Cross-Origin-Opener-Policy": "same-origin"}
MESSAGES = {  # ?msg= codes after a redirect; only these fixed texts are ever shown
    "approved": "Approved {n} block(s). Feeds show them after the next publish.",
    "unchanged": "Nothing changed: that text was already approved.",
    "empty": "An approved translation cannot be empty.",
    "published": "Published: the feeds now carry the approved text.",
    "locked": "A syndicator cycle is running (or `syndicator run` holds the store): your "
              "approved text is saved and will be published by that cycle or the next one.",
    "failed": "Publishing failed; the approved text is saved. See the server log.",
}
GONE = ("That item changed since you loaded the page: its source was edited, and the next "
        "cycle translates it again; then it is back here for review. Nothing was saved.")
def review_routes(config: Config, *, clock: Callable[[], datetime] | None = None) -> list:
    """The routes ``make_app`` mounts before the static files; ``clock`` is for tests."""
    return ReviewApp(config, clock or (lambda: datetime.now(timezone.utc))).routes()



class ReviewApp:
    """The pages and actions; handlers run in a worker thread (the store is synchronous)."""

    def __init__(self, config: Config, clock: Callable[[], datetime]):
        self.config, self.clock = config, clock
        self.languages = [t for t in config.targets if t != config.source_language]
        self._store: Store | None = None
        self._store_lock = threading.Lock()

    @property
    def store(self) -> Store:
        with self._store_lock:  # opened on first use: `serve` without review never migrates
            if self._store is None:
                self._store = open_store(self.config.store_path)
            return self._store

    def routes(self) -> list:
        page, action = {"GET", "HEAD"}, {"POST"}
        paths = [("/review/", self.overview, page), ("/review/login", self.login, action),
                 ("/review/logout", self.logout, action),
                 ("/review/{lang}/", self.language, page),
                 ("/review/{lang}/approve", self.approve, action),
                 ("/review/{lang}/publish", self.publish, action)]
        return [Route("/review", lambda request: RedirectResponse("/review/", 308))] + [
            Route(path, self._endpoint(handler, allowed), methods=ANY_METHOD)
            for path, handler, allowed in paths]

    def _endpoint(self, handler, methods: set[str]):
        async def endpoint(request: Request) -> Response:
            try:
                if request.method not in methods:
                    raise Refused(405, "Use the form on the review page.")
                form = await read_form(request) if request.method == "POST" else {}
                return await run_in_threadpool(handler, request, form)
            except Refused as exc:
                response = self._render(request, "review/message.html", None,
                                        status=exc.status, message=exc.message)
                if exc.status == 405:
                    response.headers["Allow"] = ", ".join(sorted(methods))
                return response
        return endpoint

    # --- rendering ---------------------------------------------------------------

    def _render(self, request: Request, template: str, session, status: int = 200,
                lang: str | None = None, **context) -> HTMLResponse:
        locale = lang or self.config.source_language
        html = _env.get_template(template).render(
            style=Markup(STYLE), site_title=self.config.title, session=session,
            csrf=session.csrf if session else "", states=STATES, lang=lang,
            source_lang=self.config.source_language, language_name=i18n.language_name,
            num=lambda n, in_locale=locale: format_decimal(n, locale=in_locale),
            status_text=f"{status} {HTTPStatus(status).phrase}",
            when=lambda at: format_datetime(from_iso(at) if isinstance(at, str) else at,
                                            "medium", tzinfo=ZoneInfo(self.config.timezone),
                                            locale=locale),
            day=lambda moment: i18n.date_line(moment, locale, self.config.timezone),
            **context)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def _redirect(self, location: str) -> RedirectResponse:
        return RedirectResponse(location, status_code=303, headers=HEADERS)

    # --- who is asking -------------------------------------------------------------

    def _session(self, request: Request) -> accounts.Session | None:
        return accounts.find_session(self.store, request.cookies.get(SESSION_COOKIE),
                                     self.clock())

    def _refuse(self, request: Request, who: str, why: str, status: int = 403,
                message: str = "You are not allowed to do that."):
        log.warning("refused %s %r for %s: %s", request.method, request.url.path, who, why)
        return Refused(status, message)

    def _require(self, request: Request, form: dict) -> accounts.Session:
        """The session of a state-changing request, with its CSRF token checked."""
        fetch_site = request.headers.get("sec-fetch-site", "same-origin")
        if fetch_site not in ("same-origin", "none"):
            raise self._refuse(request, "a cross-site request", f"Sec-Fetch-Site {fetch_site}")
        session = self._session(request)
        if session is None:
            raise Refused(403, "Your session has ended; log in again.")
        if not same_token(form_value(form, "csrf"), session.csrf):
            raise self._refuse(request, repr(session.translator.name),
                               "missing or wrong CSRF token")
        return session

    def _language(self, request: Request, session: accounts.Session,
                  form: dict | None = None) -> str:
        lang = request.path_params["lang"]
        who = repr(session.translator.name)
        if lang not in self.languages:
            raise Refused(404, "There is no such language to review.")
        if lang not in session.translator.languages:
            raise self._refuse(request, who, f"language {lang!r} is not theirs (URL)")
        if form is not None and form_value(form, "lang") != lang:
            raise self._refuse(request, who, "the form's lang field does not match the URL")
        return lang

    # --- pages ---------------------------------------------------------------------

    def overview(self, request: Request, form: dict) -> Response:
        if not accounts.has_translators(self.store):
            return self._render(request, "review/setup.html", None)
        session = self._session(request)
        if session is None:
            return self._login_page(request)
        now = self.clock()
        summary = []
        for lang in session.translator.languages:
            if lang in self.languages:
                views, pending = self._items(lang, with_history=False)
                summary.append((lang, views, pending, len(waiting(self.store, self.config,
                                                                   lang, now))))
        return self._render(request, "review/overview.html", session, summary=summary)

    def language(self, request: Request, form: dict) -> Response:
        session = self._session(request)
        if session is None:
            return self._redirect("/review/")
        lang = self._language(request, session)
        message = MESSAGES.get(request.query_params.get("msg", ""), "")
        count = request.query_params.get("n", "0")[:6]
        return self._language_page(request, session, lang, message.format(
            n=format_decimal(int(count) if count.isascii() and count.isdigit() else 0, locale=lang)))

    def _language_page(self, request: Request, session: accounts.Session, lang: str,
                       message: str, status: int = 200, kept: dict[str, str] | None = None,
                       lost: list[str] | None = None) -> Response:
        """The review page; ``kept``: texts typed into blocks that were not saved,
        shown in their textareas again, marked (the form's digests stay the current
        ones); ``lost``: texts typed into blocks that are gone, shown to copy."""
        views, pending = self._items(lang, with_history=True)
        return self._render(
            request, "review/language.html", session, status=status, lang=lang,
            direction=Locale.parse(lang).text_direction, items=views, pending=pending,
            message=message, policy=self.config.review.policy(lang), unsaved=kept or {},
            lost=lost or [], queue=waiting(self.store, self.config, lang, self.clock()))

    def _items(self, lang: str, with_history: bool) -> tuple[list[ItemView], int]:
        """Items of the feed in review order, and how many await a (re)translation."""
        items = self.store.recent_items(self.config.max_items)
        translations = self.store.translations_for(lang, [i.id for i in items])
        approved = Approved(approvals_for(self.store, lang))
        views, pending = [], 0
        for item in items:
            tr = translations.get(item.id)
            if tr is None or tr.content_hash != item.content_hash or not tr.segments:
                pending += 1  # the next cycle (re)translates it; nothing to review yet
                continue
            texts = {source for _, source, _ in tr.segments}
            segments = [self._segment(lang, key, source, machine,
                                      approved.get(key, source) or approved.stale(key, texts),
                                      with_history) for key, source, machine in tr.segments]
            views.append(ItemView(item, item_key(item.id), item_state(segments), segments))
        views.sort(key=lambda v: RANKS[v.state])  # stable: newest first within a rank
        return views, pending

    def _segment(self, lang: str, key: str, source: str, machine: str,
                 approval: Approval | None, with_history: bool) -> SegmentView:
        kind, numbers = segment_label(key)
        label = kind if kind != "Paragraph" else "Paragraph " + ", part ".join(
            format_decimal(n, locale=lang) for n in numbers)
        if approval is None:
            state, old = ("machine" if machine else "untranslated"), ""
        elif approval.source_text == source:
            state, old = "approved", ""
        else:
            state, old = "changed", approval.source_text
        # A changed source keeps the human text as the starting point, as news.po does.
        text = approval.text if approval else machine
        # Under the key it was approved with: blocks may have moved since.
        history = (segment_history(self.store, lang, approval.seg_key)
                   if approval and with_history else [])
        return SegmentView(key, label, source, machine, text, state, old, digest(source),
                           digest(text), history)

    # --- login and logout ------------------------------------------------------------

    def _login_page(self, request: Request, status: int = 200, message: str = "") -> Response:
        token = login_token(request)
        response = self._render(request, "review/login.html", None, status=status,
                                login_csrf=token, message=message)
        set_cookie(request, response, LOGIN_COOKIE, token)
        return response

    def login(self, request: Request, form: dict) -> Response:
        # Double-submit token: the login form has no session yet to bind one to.
        if not same_token(form_value(form, "csrf"), request.cookies.get(LOGIN_COOKIE)):
            # Most often an old tab, or a browser that refuses cookies: say what to do.
            raise self._refuse(request, "a login form", "missing or wrong CSRF token",
                               message="This login form has expired, or your browser did "
                               "not send its cookie. Reload the page and log in again; the "
                               "review page needs cookies.")
        name = (form_value(form, "name") or "").strip()[:64]
        address = request.client.host if request.client else "unknown"
        now = self.clock()
        try:
            translator = accounts.authenticate(self.store, name, form_value(form, "password") or "",
                                               address, now)
        except accounts.Locked as exc:
            minutes = math.ceil((exc.until - now).total_seconds() / 60)
            response = self._login_page(request, 429, "Too many failed logins. Try again in "
                                        f"{format_decimal(minutes, locale='en')} minute(s).")
            response.headers["Retry-After"] = str(minutes * 60)
            return response
        if translator is None:
            response = self._login_page(request, 401, "Wrong name or password.")
            # RFC 9110 15.5.2: a 401 carries a challenge. This one names the login form,
            # so clients know to post it (a browser, seeing no Basic, shows the page).
            response.headers["WWW-Authenticate"] = 'Form realm="syndicator review"'
            return response
        session_id, _ = accounts.start_session(self.store, translator.name, now,
                                               previous=request.cookies.get(SESSION_COOKIE))
        response = self._redirect("/review/")
        set_cookie(request, response, SESSION_COOKIE, session_id,
                         max_age=int(accounts.SESSION_TTL.total_seconds()))
        return response

    def logout(self, request: Request, form: dict) -> Response:
        session = self._require(request, form)
        accounts.end_session(self.store, request.cookies.get(SESSION_COOKIE))
        log.info("translator %r logged out", session.translator.name)
        response = self._redirect("/review/")
        set_cookie(request, response, SESSION_COOKIE, "", max_age=0)
        return response

    # --- actions ---------------------------------------------------------------------

    def approve(self, request: Request, form: dict) -> Response:
        session = self._require(request, form)
        lang = self._language(request, session, form)
        key = form_value(form, "item") or ""
        view = next((v for v in self._items(lang, with_history=False)[0] if v.key == key), None)
        only = form_value(form, "only")
        if only is not None and f"text:{only}" not in form:
            raise Refused(400, "That block is not part of the form.")
        sent = read_form_against(form, view, only)
        if view is None:  # its source changed, and the next cycle translates it again
            return self._language_page(request, session, lang, status=409, lost=sent.lost,
                                       message=GONE)
        now, approved, empty = self.clock(), 0, 0
        for segment, text in sent.approvable:
            if not publishable(text):
                empty += 1
            else:
                approved += approve(self.store, lang, segment.key, segment.source, text,
                                    session.translator.name, "web", now)
        if approved:
            self._sync_catalog(lang, now)
        if sent.changed or sent.lost:
            return self._language_page(request, session, lang, status=409, kept=sent.kept,
                                       lost=sent.lost,
                                       message=conflict(approved, sent.changed, lang))
        msg = "approved" if approved else "empty" if empty and only else "unchanged"
        message = MESSAGES[msg].format(n=format_decimal(approved, locale=lang))
        if sent.kept:  # one block approved: what was typed in the others stays
            return self._language_page(request, session, lang, kept=sent.kept, message=(
                f"{message} What you typed in the item's other blocks is kept below, "
                "marked \"not saved\"."))
        return self._redirect(f"/review/{lang}/?msg={msg}&n={approved}#{view.anchor}")

    def _sync_catalog(self, lang: str, now: datetime) -> None:
        """Write the approval into news.po at once.

        The next cycle imports news.po before anything else, and an entry still
        holding an older human text would be approved again over this one.
        """
        items = items_to_merge(self.store, lang, self.store.recent_items(self.config.max_items))
        try:
            export_catalog(self.store, self.config, lang, [i.id for i in items],
                           {i.id: i.url for i in items}, now)
        except CatalogError as exc:  # the approval is stored: the feeds get it regardless
            log.error("could not update the %s catalog after a web approval: %s", lang, exc)

    def publish(self, request: Request, form: dict) -> Response:
        session = self._require(request, form)
        lang = self._language(request, session, form)
        try:
            with store_lock(self.config.store_path), one_process():
                retranslate(self.config, self.clock(), store=self.store)
            msg = "published"
            log.info("translator %r published the feeds", session.translator.name)
        except LockedError:
            msg = "locked"
            log.info("publish now by %r: the store is locked by a cycle",
                     session.translator.name)
        except SyndicatorError:
            msg = "failed"
            log.exception("publish now by %r failed", session.translator.name)
        return self._redirect(f"/review/{lang}/?msg={msg}")
