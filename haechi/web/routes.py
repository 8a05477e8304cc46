"""Server-rendered web app for support workers, reviewers and victims (Jinja2; no SPA build).

This module renders pages and nothing else: the review queue, its decisions and its custody
entries are :mod:`haechi.cases.review`; previews are :mod:`haechi.media.blur`; who may do what
is :data:`haechi.services.accounts.ROLES` (one permission vocabulary with the API).

Protecting reviewers: media in the review queue is blurred and greyscale *on the server* — the
browser never receives the original bytes until the reviewer presses "reveal", which records a
custody entry (who, when) and grants a 2-minute view of that one item. Every later view inside
the grant is logged again (``revisit``); pressing "hide", deciding, or leaving the item for any
other page ends the grant and logs how long it was shown. File names are never shown (a file
name can be the victim's name). Sessions are signed cookies (HttpOnly, SameSite=Strict, Secure
by default) with a per-session CSRF token checked on every POST; logins are limited per client
address and five wrong passwords or PINs for one account lock it for 15 minutes, counted in Redis
when configured so every server process shares them (:mod:`haechi.api.throttle`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi import Path as FPath
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

from haechi.api.throttle import Throttles, client_key
from haechi.app import Haechi
from haechi.cases import review as rq
from haechi.errors import HaechiError, MediaError, NotFound
from haechi.media import blur
from haechi.services import accounts
from haechi.services.victims import BANK as VICTIM_BANK
from haechi.web.i18n import t

COOKIE = "haechi_session"
SESSION_MAX_AGE = 8 * 3600
REVEAL_SECONDS = 120
#: files served from web/static (nothing else is)
STATIC = {"hasher.js", "victim.js", "review.js", "quickexit.js", "bank.js"}
#: POST paths whose page has a GET at the same path (the language links may point there)
GET_TWINS = {"/web/login", "/web/victim/login", "/web/victim/withdraw", "/web/cases", "/web/banks", "/web/watches"}
#: how far ahead the deadlines page looks (hours): every running clock, in practice
DEADLINE_HORIZON_HOURS = 24 * 365
#: where the quick-exit button goes (a neutral page; replaces this one in the history)
QUICK_EXIT = "https://www.google.com/"
#: support contacts shown to victims (Korea by default; a centre passes its own to make_router)
SUPPORT_CONTACTS: tuple[dict[str, str], ...] = (
    {"name_ko": "디지털성범죄피해자지원센터", "name_en": "Digital sex crime victim support centre",
     "phone": "02-735-8994"},
    {"name_ko": "여성긴급전화 (24시간)", "name_en": "Women's emergency line (24 h)", "phone": "1366"},
    {"name_ko": "경찰 (긴급)", "name_en": "Police (emergency)", "phone": "112"},
)
#: where a person under 18 is sent: services for minors (Korea), and NCMEC's Take It Down,
#: which hashes images of minors on their own device as this page does for adults
MINOR_CONTACTS: tuple[dict[str, str], ...] = (
    {"name_ko": "청소년상담 1388", "name_en": "Youth counselling line", "phone": "1388"},
    {"name_ko": "디지털성범죄피해자지원센터", "name_en": "Digital sex crime victim support centre",
     "phone": "02-735-8994"},
    {"name_ko": "Take It Down (NCMEC, 미성년자 이미지 해시 신고)", "name_en": "Take It Down (NCMEC, for images "
     "taken before 18)", "url": "https://takeitdown.ncmec.org/"},
)


def make_router(h: Haechi, *, secure_cookies: bool = True, throttles: Throttles | None = None,
                allow_private_urls: bool = False, support: tuple[dict[str, str], ...] = SUPPORT_CONTACTS,
                exposure_limit: int | None = None, four_eyes: bool = True, screenshots: bool = True) -> APIRouter:
    """The web app's routes under ``/web`` (and ``/``, which leads to it). ``support``: the
    contacts victims see; ``throttles``: login, self-service and case-creation budgets (default:
    this process's memory; ``create_app`` passes the settings' store); ``exposure_limit``:
    originals one reviewer may reveal per UTC day (None: no limit; the count is always shown);
    ``four_eyes``: a notice is approved by someone other than the person who drafted it;
    ``screenshots``: a URL added to a case is captured with a full-page screenshot too (evidence
    only: the app never shows it; without Chromium the capture is kept and the screenshot's failure recorded)."""
    router = APIRouter(include_in_schema=False)
    templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    secret = hashlib.sha256(b"haechi-web-session:" + h.cipher.key_material()).hexdigest()
    signer = URLSafeTimedSerializer(secret, salt="session")
    budgets = throttles or Throttles()

    def load(request: Request) -> dict[str, Any]:
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data = signer.loads(raw, max_age=SESSION_MAX_AGE)
                if isinstance(data, dict):
                    return data
            except BadSignature:
                pass
        return {"csrf": secrets.token_urlsafe(24)}

    def save(response: Response, session: dict[str, Any]) -> Response:
        response.set_cookie(COOKIE, signer.dumps(session), max_age=SESSION_MAX_AGE, httponly=True,
                            samesite="strict", secure=secure_cookies, path="/web")
        return response

    def lang_of(request: Request, session: dict[str, Any]) -> str:
        lang = request.query_params.get("lang") or session.get("lang")
        if lang not in ("ko", "en"):
            lang = "ko" if request.headers.get("accept-language", "").lower().startswith("ko") else "en"
        session["lang"] = lang
        return str(lang)

    def user(session: dict[str, Any]) -> accounts.Principal | None:
        u = session.get("user")
        if not u:
            return None
        # re-checked on every request: a disabled user, or a session ended by logout, is out at once
        return h.principal(int(u["id"]), int(u.get("ep", -1)))

    def end_grant(session: dict[str, Any], who: accounts.Principal | None, reason: str | None) -> None:
        """End the reviewer's reveal grant, logging how long the original was shown."""
        grant = session.pop("reveal", None)
        if not grant or who is None:
            return
        item, index = (int(x) for x in str(grant.get("key", "0/0")).split("/"))
        e = h.review_entry(item, index)
        if e is not None:
            extra = {"reason": reason} if reason else {}
            h.review_log(who.username, e, "hide",
                         seconds_shown=round(time.time() - float(grant.get("at", time.time())), 1), **extra)

    def page(request: Request, session: dict[str, Any], name: str, status: int = 200, keep_grant: bool = False,
             **ctx: Any) -> Response:
        lang = lang_of(request, session)
        who = user(session)
        if not keep_grant and session.get("reveal"):
            end_grant(session, who, "left")  # any other page: the original is no longer on screen

        def tr(key: str) -> str:
            return t(key, lang)

        def status_label(value: Any) -> str:
            """A status, role or decision value in the UI language (the raw value if uncatalogued)."""
            if value is None:
                return "—"
            label = t(f"st_{value}", lang)
            return str(value) if label == f"st_{value}" else label

        # language links stay on this page; a page that answers a POST links to its GET twin
        path = request.url.path
        here = path if request.method == "GET" or path in GET_TWINS else "/web/"

        resp = templates.TemplateResponse(request, name, {"t": tr, "st": status_label, "lang": lang,
                                                          "csrf": session["csrf"], "user": who,
                                                          "quick_exit": QUICK_EXIT, "here": here,
                                                          "mask": rq.mask_url, "victim_bank": VICTIM_BANK, **ctx},
                                          status_code=status)
        return save(resp, session)

    def error(request: Request, session: dict[str, Any], status: int, key: str, detail: str = "",
              back: str | None = None) -> Response:
        """An error inside the app's layout, in the UI language, with a way back."""
        return page(request, session, "error.html", status=status, message=key, detail=detail,
                    back=back or "/web/", keep_grant=True)

    def check_csrf(session: dict[str, Any], token: str) -> bool:
        return bool(token) and secrets.compare_digest(str(session.get("csrf", "")), token)

    def gate(request: Request, permission: str, login: str = "/web/login", csrf: str | None = None
             ) -> tuple[dict[str, Any], accounts.Principal | Response]:
        """The session and its user if the user's role grants ``permission`` (and, for a form
        POST, the ``csrf`` token matches); else the response to send: log in, 403, or a bad CSRF
        token."""
        accounts.roles_with(permission)  # a permission outside the vocabulary is a bug: fail loudly
        session = load(request)
        who = user(session)
        if who is None:
            return session, save(RedirectResponse(login, status_code=303), session)
        if not who.can(permission):
            return session, page(request, session, "login.html", status=403, error=False, keep_grant=True)
        if csrf is not None and not check_csrf(session, csrf):
            return session, error(request, session, 403, "err_csrf")
        return session, who

    def password_login(request: Request, template: str, username: str, password: str, csrf: str,
                       role_ok: Callable[[accounts.Principal], bool]) -> Response:
        """Check CSRF, the per-client rate limit, the per-account lock and the password; start a
        fresh session (new CSRF token) and send the user home — victims to their case, staff to
        the dashboard."""
        session = load(request)
        if not check_csrf(session, csrf):
            return page(request, session, template, status=403, error=True)
        # one lockout per account, whichever login page: staff and victims share /web/login
        account = username.strip()
        if budgets.exhausted("login.failures", account) or \
                not budgets.allow("login.address", client_key(request.client.host if request.client else None)):
            return page(request, session, template, status=429, error="locked")
        who = h.authenticate_password(username, password)
        if who is None or not role_ok(who):
            budgets.allow("login.failures", account)
            closed = who is None and h.login_closed(username, password)
            return page(request, session, template, status=401, error="closed" if closed else True)
        budgets.forget("login.failures", account)
        session = {"user": {"id": who.user_id, "ep": who.epoch}, "csrf": secrets.token_urlsafe(24),
                   "lang": session.get("lang")}
        home = "/web/victim/case" if who.can("self") else "/web/"
        return save(RedirectResponse(home, status_code=303), session)

    @router.get("/web/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        session = load(request)
        return page(request, session, "login.html", error=False)

    @router.post("/web/login")
    def login(request: Request, username: str = Form(max_length=200), password: str = Form(max_length=1000),
              csrf: str = Form("")) -> Response:
        return password_login(request, "login.html", username, password, csrf,
                              lambda who: who.can("cases.read") or who.can("self"))

    @router.post("/web/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        session = load(request)
        if not check_csrf(session, csrf):
            return error(request, session, 403, "err_csrf")
        who = user(session)
        end_grant(session, who, "logout")
        if who is not None:  # every session of hers ends: a saved copy of this cookie is dead too
            h.end_sessions(who.user_id, actor=who.username)
        resp = RedirectResponse("/web/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/web")
        return resp

    def scope_of(request: Request, who: accounts.Principal) -> tuple[str, set[str] | None]:
        """``mine`` (the cases she opened; the default when she opened any) or ``all``."""
        mine = h.cases_of(who.username)
        scope = request.query_params.get("scope") or ("mine" if mine else "all")
        return ("mine", mine) if scope == "mine" else ("all", None)

    @router.get("/web/", response_class=HTMLResponse)
    def dashboard(request: Request) -> Response:
        """What needs her today: due notices, notices waiting for a person, the review queue,
        re-check results of the last week and re-uploads — for her cases or all."""
        session, who = gate(request, "cases.read")
        if isinstance(who, Response):
            return who
        scope, refs = scope_of(request, who)
        due = [d for d in h.due(within_hours=24) if refs is None or d["case"] in refs]
        waiting = [n for n in h.waiting_notices(refs)
                   if n["status"] == "approved" or not (four_eyes and n["drafted_by"] == who.username)]
        return page(request, session, "dashboard.html", scope=scope, due=due, waiting=waiting,
                    to_review=h.review_pending(), rechecks=h.recent_rechecks(refs), reuploads=h.reuploads(refs),
                    watches=[w for w in h.watch_overview(refs) if w["last"] and w["last"]["error"]],
                    can_edit=who.can("cases"))

    @router.get("/web/cases", response_class=HTMLResponse)
    def case_list(request: Request) -> Response:
        session, who = gate(request, "cases.read")
        if isinstance(who, Response):
            return who
        return page(request, session, "cases.html", cases=h.list_cases(), can_edit=who.can("cases"))

    @router.get("/web/deadlines", response_class=HTMLResponse)
    def deadlines(request: Request) -> Response:
        """Every notice whose clock runs or has not started, overdue first, with its case,
        recipient and what to do; and the notices waiting for approval or sending."""
        session, who = gate(request, "cases.read")
        if isinstance(who, Response):
            return who
        scope, refs = scope_of(request, who)
        rows = [d for d in h.due(within_hours=DEADLINE_HORIZON_HOURS) if refs is None or d["case"] in refs]
        return page(request, session, "deadlines.html", scope=scope, rows=rows, waiting=h.waiting_notices(refs))

    @router.post("/web/cases/{case_ref}/rechecks/{entry_id}/dispute")
    def recheck_dispute(request: Request, case_ref: str, entry_id: Annotated[int, FPath(ge=1, le=2**62)],
                        note: str = Form("", max_length=1000), csrf: str = Form("")) -> Response:
        session, who = gate(request, "cases", csrf=csrf)
        if isinstance(who, Response):
            return who
        back = f"/web/cases/{case_ref}"
        try:
            h.dispute_recheck(case_ref, entry_id, note, actor=who.username)
        except NotFound:
            return error(request, session, 404, "err_not_found", back=back)
        except HaechiError as exc:
            return error(request, session, 400, "err_dispute", str(exc), back=back)
        return save(RedirectResponse(back, status_code=303), session)

    # -- watches (re-uploads) --------------------------------------------------------------------
    @router.get("/web/watches", response_class=HTMLResponse)
    def watches_page(request: Request) -> Response:
        session, who = gate(request, "cases.read")
        if isinstance(who, Response):
            return who
        return page(request, session, "watches.html", watches=h.watch_overview(), runs=h.watch_runs(limit=50),
                    can_edit=who.can("cases"), open_cases=[c["case"] for c in h.list_cases() if c["status"] == "open"])

    @router.post("/web/watches")
    def watch_create(request: Request, case: str = Form(max_length=64), source: str = Form(max_length=4000),
                     every: str = Form("6h", max_length=16), csrf: str = Form("")) -> Response:
        session, who = gate(request, "cases", csrf=csrf)
        if isinstance(who, Response):
            return who
        if not source.strip().startswith(("http://", "https://")):  # a folder path is the CLI's, not the web's
            return error(request, session, 400, "err_watch", source[:200], back="/web/watches")
        try:
            h.add_watch(case.strip(), source.strip(), every, allow_private=allow_private_urls)
        except HaechiError as exc:
            return error(request, session, 400, "err_watch", str(exc), back="/web/watches")
        return save(RedirectResponse("/web/watches", status_code=303), session)

    # -- banks -----------------------------------------------------------------------------------
    @router.get("/web/banks", response_class=HTMLResponse)
    def banks_page(request: Request) -> Response:
        session, who = gate(request, "bank.read")
        if isinstance(who, Response):
            return who
        return page(request, session, "banks.html", banks=h.list_banks(), can_write=who.can("bank.write"))

    @router.post("/web/banks")
    def bank_create(request: Request, name: str = Form(max_length=200), description: str = Form("", max_length=2000),
                    csrf: str = Form("")) -> Response:
        session, who = gate(request, "bank.write", csrf=csrf)
        if isinstance(who, Response):
            return who
        try:
            bank = h.create_bank(name, description.strip())
        except HaechiError as exc:
            return error(request, session, 400, "err_bank", str(exc), back="/web/banks")
        return save(RedirectResponse(f"/web/banks/{quote(bank['name'], safe='')}", status_code=303), session)

    @router.get("/web/banks/{name}", response_class=HTMLResponse)
    def bank_page(request: Request, name: str) -> Response:
        session, who = gate(request, "bank.read")
        if isinstance(who, Response):
            return who
        try:
            bank = h.bank_summary(name)
        except HaechiError:
            return error(request, session, 404, "err_no_bank", name[:60], back="/web/banks")
        return page(request, session, "bank.html", bank=bank, can_write=who.can("bank.write"),
                    quoted=quote(bank["name"], safe=""))

    @router.post("/web/banks/{name}/hashes")
    async def bank_add_hashes(request: Request, name: str) -> Response:
        """Hashes of media hashed in the caseworker's browser (``static/bank.js``): JSON
        ``{files: [...], label}`` with the CSRF token in ``X-CSRF-Token``; the bytes stay on her
        device, as on the victims' page."""
        session, who = gate(request, "bank.write", csrf=request.headers.get("x-csrf-token", ""))
        if isinstance(who, Response):
            return who
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            return JSONResponse({"error": "InputError", "message": "body is not JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "InputError", "message": "expected an object"}, status_code=400)
        label = str(body.get("label") or "").strip()[:500] or None
        try:
            result = h.add_browser_files(name, body.get("files"), label)
        except NotFound as exc:
            return JSONResponse({"error": "NotFound", "message": str(exc)}, status_code=404)
        except HaechiError as exc:
            return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=400)
        return JSONResponse(result)

    @router.get("/web/cases/{case_ref}", response_class=HTMLResponse)
    def case_page(request: Request, case_ref: str) -> Response:
        session, who = gate(request, "cases.read")
        if isinstance(who, Response):
            return who
        try:
            case = h.show_case(case_ref)
        except HaechiError:
            return error(request, session, 404, "err_no_case", case_ref[:60])
        decided = h.case_decisions(case["case"])
        confirmed = {item for (item, _), d in decided.items() if d.decision == "confirmed"}
        return page(request, session, "case.html", can_edit=who.can("cases"), case=case, decided=decided,
                    confirmed=confirmed, reviewable=rq.REVIEWABLE, rechecks=h.recheck_history(case["case"]),
                    watches=h.watch_overview({case["case"]}))

    # -- review queue ----------------------------------------------------------------------
    @router.get("/web/review", response_class=HTMLResponse)
    def review(request: Request, i: int = 0) -> Response:
        session, who = gate(request, "review")
        if isinstance(who, Response):
            return who
        window = h.review_at(i)  # the one entry and the queue's length, not the whole queue
        exposure = h.review_exposure_today(who.username)
        i, entry, total = window.position, window.entry, window.total
        grant = session.get("reveal") or {}
        revealed = bool(entry and grant.get("key") == entry.key and grant.get("until", 0) > time.time())
        if grant and not revealed:
            end_grant(session, who, "left")  # another item, or the grant ran out
        elif revealed and entry is not None:
            if grant.get("shown"):  # the reveal's own page is the view it logged; any later one is new
                h.review_log(who.username, entry, "revisit")
            grant["shown"] = True
            session["reveal"] = grant
        data = media(entry) if entry else None
        is_video = bool(data and blur.is_video(data))
        return page(request, session, "review.html", keep_grant=True, entry=entry, revealed=revealed,
                    is_video=is_video, position=i + 1, total=total, index=i,
                    prev=i - 1 if i > 0 else None, next=i + 1 if i + 1 < total else None,
                    decisions=rq.DECISIONS, exposure=exposure)

    def media(entry: rq.QueueEntry) -> bytes | None:
        return h.media_bytes(entry.case, entry.url)

    def find(item_id: int, index: int) -> rq.QueueEntry | None:
        return h.review_entry(item_id, index)

    @router.get("/web/media/{item_id}/{index}/blurred")
    def media_blurred(request: Request, item_id: int, index: int) -> Response:
        _, who = gate(request, "review")
        if isinstance(who, Response):
            return who
        entry = find(item_id, index)
        data = media(entry) if entry else None
        if data is None:
            return Response("not found", status_code=404)
        try:
            return Response(blur.blurred(data), media_type="image/jpeg", headers={"Cache-Control": "no-store"})
        except MediaError:  # not an image or video we can decode: show nothing rather than the bytes
            return Response("preview unavailable", status_code=415)

    @router.post("/web/media/{item_id}/{index}/reveal")
    def media_reveal(request: Request, item_id: int, index: int, csrf: str = Form("")) -> Response:
        session, who = gate(request, "review", csrf=csrf)
        if isinstance(who, Response):
            return who
        end_grant(session, who, "left")  # one original at a time
        try:
            entry = h.review_reveal(who.username, item_id, index, exposure_limit)
        except rq.ExposureLimit:
            return error(request, session, 429, "err_exposure_limit", back="/web/review")
        if entry is None:
            return error(request, session, 404, "err_not_found", back="/web/review")
        pos = h.review_position(item_id, index)
        session["reveal"] = {"key": entry.key, "until": time.time() + REVEAL_SECONDS, "at": time.time()}
        return save(RedirectResponse(f"/web/review?i={pos}", status_code=303), session)

    @router.post("/web/media/{item_id}/{index}/hide")
    def media_hide(request: Request, item_id: int, index: int, csrf: str = Form("")) -> Response:
        session, who = gate(request, "review", csrf=csrf)
        if isinstance(who, Response):
            return who
        if (session.get("reveal") or {}).get("key") == f"{item_id}/{index}":
            end_grant(session, who, None)
        pos = h.review_position(item_id, index)
        return save(RedirectResponse(f"/web/review?i={pos}", status_code=303), session)  # stays on the item

    @router.post("/web/media/{item_id}/{index}/decide")
    def media_decide(request: Request, item_id: int, index: int, decision: str = Form("", max_length=32),
                     note: str = Form("", max_length=1000), csrf: str = Form("")) -> Response:
        session, who = gate(request, "review", csrf=csrf)
        if isinstance(who, Response):
            return who
        end_grant(session, who, "decided")
        entry = h.review_entry(item_id, index)
        if entry is None:
            return error(request, session, 404, "err_not_found", back="/web/review")
        try:
            h.review_decide(who.username, entry, decision, note.strip())
        except HaechiError as exc:
            return error(request, session, 400, "err_decision", str(exc), back="/web/review")
        pos = h.review_position(item_id, index)
        nxt = pos + 1  # review_at clamps a position past the end to the last entry
        return save(RedirectResponse(f"/web/review?i={nxt}", status_code=303), session)

    @router.get("/web/media/{item_id}/{index}/original")
    def media_original(request: Request, item_id: int, index: int) -> Response:
        session, who = gate(request, "review")
        if isinstance(who, Response):
            return who
        grant = session.get("reveal") or {}
        if grant.get("key") != f"{item_id}/{index}" or grant.get("until", 0) < time.time():
            return Response("reveal it first (logged)", status_code=403)
        entry = find(item_id, index)
        data = media(entry) if entry else None
        if data is None:
            return Response("not found", status_code=404)
        return Response(data, media_type=blur.content_type(data),
                        headers={"Cache-Control": "no-store", "Content-Disposition": "inline"})

    # -- notices ---------------------------------------------------------------------------
    @router.get("/web/notices/{notice_id}", response_class=HTMLResponse)
    def notice_page(request: Request, notice_id: Annotated[int, FPath(ge=1, le=2**62)]) -> Response:
        session, who = gate(request, "cases.read")
        if isinstance(who, Response):
            return who
        try:
            data = h.show_notice(notice_id)
        except HaechiError:
            return error(request, session, 404, "err_no_notice")
        return page(request, session, "notice.html", notice=data, can_approve=who.can("notices.approve")
                    and not (four_eyes and data["drafted_by"] == who.username), can_send=who.can("cases"))

    @router.post("/web/notices/{notice_id}/approve")
    def notice_approve(request: Request, notice_id: Annotated[int, FPath(ge=1, le=2**62)], csrf: str = Form("")
                       ) -> Response:
        session, who = gate(request, "notices.approve", csrf=csrf)
        if isinstance(who, Response):
            return who
        try:
            drafter = h.show_notice(notice_id)["drafted_by"]
            if four_eyes and drafter == who.username:
                return error(request, session, 403, "err_four_eyes", back=f"/web/notices/{notice_id}")
            h.approve_notice(notice_id, by=who.username)
        except NotFound:
            return error(request, session, 404, "err_no_notice")
        except HaechiError as exc:  # a placeholder sender, no recipient, the drafter herself: say why
            return error(request, session, 400, "err_notice", str(exc), back=f"/web/notices/{notice_id}")
        return save(RedirectResponse(f"/web/notices/{notice_id}", status_code=303), session)

    @router.post("/web/notices/{notice_id}/sent")
    def notice_sent(request: Request, notice_id: Annotated[int, FPath(ge=1, le=2**62)],
                    channel: str = Form("", max_length=16), csrf: str = Form("")) -> Response:
        session, who = gate(request, "cases", csrf=csrf)
        if isinstance(who, Response):
            return who
        try:
            h.record_submission(notice_id, who.username, channel)
        except HaechiError as exc:
            return error(request, session, 400, "err_submission", str(exc), back=f"/web/notices/{notice_id}")
        return save(RedirectResponse(f"/web/notices/{notice_id}", status_code=303), session)

    @router.get("/web/notices/{notice_id}/eml")
    def notice_eml(request: Request, notice_id: Annotated[int, FPath(ge=1, le=2**62)]) -> Response:
        session, who = gate(request, "cases")
        if isinstance(who, Response):
            return who
        try:
            data = h.notice_eml(notice_id)
        except HaechiError as exc:
            return error(request, session, 400, "err_submission", str(exc), back=f"/web/notices/{notice_id}")
        return Response(data, media_type="message/rfc822",
                        headers={"Content-Disposition": f'attachment; filename="notice-{notice_id}.eml"'})

    # -- case work: new case, add a URL (captured), draft a notice, export evidence, stats ------
    @router.post("/web/cases")
    def case_create(request: Request, victim_ref: str = Form("", max_length=200), csrf: str = Form("")) -> Response:
        session, who = gate(request, "cases", csrf=csrf)
        if isinstance(who, Response):
            return who
        if not (budgets.allow("cases.account", who.username)
                and budgets.allow("cases.address", client_key(request.client.host if request.client else None))):
            return error(request, session, 429, "too_many_tries", back="/web/")
        case = h.create_case(victim_ref=victim_ref.strip() or None, actor=who.username)
        return save(RedirectResponse(f"/web/cases/{case['case']}", status_code=303), session)

    @router.post("/web/cases/{case_ref}/items")
    def case_add_url(request: Request, case_ref: str, url: str = Form(max_length=4000), csrf: str = Form("")
                     ) -> Response:
        session, who = gate(request, "cases", csrf=csrf)
        if isinstance(who, Response):
            return who
        back = f"/web/cases/{case_ref}"
        try:
            rows = list(h.add_case_items(case_ref, [url.strip()], actor=who.username, capture=True,
                                         screenshot=screenshots, allow_private=allow_private_urls, local_files=False))
        except HaechiError as exc:
            return error(request, session, 400, "err_capture", str(exc), back=back)
        if rows and rows[0].get("error"):
            return error(request, session, 400, "err_capture", str(rows[0]["error"]), back=back)
        return save(RedirectResponse(back, status_code=303), session)

    @router.post("/web/cases/{case_ref}/notices")
    def case_draft_notice(request: Request, case_ref: str, regime: str = Form("kr", max_length=8),
                          lang: str = Form("ko", max_length=8), item: Annotated[list[int], Form()] = [],  # noqa: B006
                          recipient: str = Form("", max_length=320), csrf: str = Form("")) -> Response:
        session, who = gate(request, "cases", csrf=csrf)
        if isinstance(who, Response):
            return who
        try:
            ids = h.notice_items(case_ref, item[:1000])
            notice = h.draft_notice(ids, regime, lang, actor=who.username, recipient=recipient.strip() or None)
        except HaechiError as exc:
            return error(request, session, 400, "err_notice", str(exc), back=f"/web/cases/{case_ref}")
        return save(RedirectResponse(f"/web/notices/{notice['id']}", status_code=303), session)

    @router.get("/web/cases/{case_ref}/export")
    def case_export(request: Request, case_ref: str) -> Response:
        session, who = gate(request, "cases")
        if isinstance(who, Response):
            return who
        try:
            data = h.evidence_package(case_ref, actor=who.username)
        except HaechiError as exc:
            return error(request, session, 400, "err_export", str(exc), back=f"/web/cases/{case_ref}")
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{case_ref}-evidence.zip"'})

    @router.get("/web/stats", response_class=HTMLResponse)
    def stats_page(request: Request) -> Response:
        session, who = gate(request, "cases.read")
        if isinstance(who, Response):
            return who
        return page(request, session, "stats.html", stats=h.stats())

    @router.get("/web/stats.png")
    def stats_chart(request: Request) -> Response:
        session, who = gate(request, "cases.read")
        if isinstance(who, Response):
            return who
        from haechi.cases.charts import stats_png

        return Response(stats_png(h.stats(), lang_of(request, session)), media_type="image/png")

    # -- static files (the in-browser hasher, page scripts, the style sheet) -------------------
    @router.get("/web/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return Response("not found", status_code=404)
        data = (Path(__file__).parent / "static" / name).read_bytes()
        return Response(data, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})

    # -- victim self-service (no staff account; hashes only) ----------------------------------
    def victim_page(request: Request, session: dict[str, Any], name: str, status: int = 200, **ctx: Any
                    ) -> Response:
        return page(request, session, name, status=status, victim_side=True, support=support, **ctx)

    @router.get("/web/victim", response_class=HTMLResponse)
    def victim_home(request: Request) -> Response:
        return victim_page(request, load(request), "victim.html")

    @router.get("/web/victim/minor", response_class=HTMLResponse)
    def victim_minor(request: Request) -> Response:
        return victim_page(request, load(request), "victim_minor.html", minor_contacts=MINOR_CONTACTS)

    @router.post("/web/victim/submit")
    async def victim_submit(request: Request) -> Response:
        session = load(request)
        lang = str(session.get("lang")) if session.get("lang") in ("ko", "en") else "en"
        if not check_csrf(session, request.headers.get("x-csrf-token", "")):
            return JSONResponse({"error": "Forbidden", "message": t("err_csrf", lang)}, status_code=403)
        if not budgets.allow("victim.address", client_key(request.client.host if request.client else None)):
            return JSONResponse({"error": "TooManyRequests", "message": t("too_many_tries", lang)}, status_code=429)
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # malformed, or nested deeper than any real submission
            return JSONResponse({"error": "InputError", "message": "body is not JSON"}, status_code=400)
        try:
            result = h.victim_submit(body.get("files") if isinstance(body, dict) else None)
        except HaechiError as exc:
            return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=400)
        return JSONResponse(result)

    @router.get("/web/victim/login", response_class=HTMLResponse)
    def victim_login_form(request: Request) -> Response:
        return victim_page(request, load(request), "victim_login.html", error=False)

    @router.post("/web/victim/login")
    def victim_login(request: Request, case: str = Form(max_length=64), pin: str = Form(max_length=64),
                     csrf: str = Form("")) -> Response:
        # case numbers are issued upper-case (C-2026-00001); she may type them any way
        return password_login(request, "victim_login.html", case.strip().upper(),
                              "".join(c for c in pin if c.isdigit()), csrf, lambda who: who.can("self"))

    @router.get("/web/victim/case", response_class=HTMLResponse)
    def victim_case(request: Request) -> Response:
        session, who = gate(request, "self", login="/web/victim/login")
        if isinstance(who, Response):
            return who
        return victim_page(request, session, "victim_case.html", info=h.victim_status(who.username), withdrawn=None)

    @router.get("/web/victim/withdraw", response_class=HTMLResponse)
    def victim_withdraw_confirm(request: Request) -> Response:
        session, who = gate(request, "self", login="/web/victim/login")
        if isinstance(who, Response):
            return who
        return victim_page(request, session, "victim_withdraw.html", info=h.victim_status(who.username))

    @router.post("/web/victim/withdraw")
    def victim_withdraw(request: Request, csrf: str = Form(""), confirm: str = Form("", max_length=8)
                        ) -> Response:
        session, who = gate(request, "self", login="/web/victim/login", csrf=csrf)
        if isinstance(who, Response):
            return who
        info = h.victim_status(who.username)
        if confirm != "yes":  # withdrawal cannot be undone: it takes a second, explicit step
            return victim_page(request, session, "victim_withdraw.html", info=info)
        done = h.victim_withdraw(who.username)
        return victim_page(request, {"csrf": secrets.token_urlsafe(24), "lang": session.get("lang")},
                           "victim_case.html", info=info, withdrawn=done)

    @router.get("/")
    def home() -> Response:
        """``/`` leads to the web app (the API lives under /api, /h, /m, /c)."""
        return RedirectResponse("/web/", status_code=307)

    @router.get("/web/{rest:path}", response_class=HTMLResponse)
    def not_found(request: Request, rest: str) -> Response:
        """Any other address under /web — a mistyped link, or a form's address opened directly
        (GET on a POST-only route) — is a 404 inside the app's layout with a way back, never the
        API's JSON; under /web/victim it keeps the victim's layout (quick exit, support contacts)."""
        session = load(request)
        if rest.startswith("victim"):
            return victim_page(request, session, "error.html", status=404, message="err_no_page", detail="",
                               back="/web/victim")
        return error(request, session, 404, "err_no_page")

    return router
