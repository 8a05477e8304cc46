"""Server-rendered web app for support workers (Jinja2; no SPA build).

Protecting reviewers: media in the review queue is blurred and greyscale *on the server* — the
browser never receives the original bytes until the reviewer presses "reveal", which records a
custody entry (who, when) and grants a 2-minute view of that one item; "hide" records how long
it was shown. Sessions are signed cookies (HttpOnly, SameSite=Strict, Secure by default) with a
per-session CSRF token checked on every POST; logins are rate limited.
"""

import hashlib
import io
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as FPath
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from PIL import Image, ImageFilter
from sqlalchemy import select

from haechi.app import Haechi
from haechi.errors import HaechiError
from haechi.services import accounts
from haechi.store.models import User
from haechi.web.i18n import t

COOKIE = "haechi_session"
SESSION_MAX_AGE = 8 * 3600
REVEAL_SECONDS = 120
REVIEW_ROLES = {"admin", "caseworker", "reviewer"}
APPROVE_ROLES = {"admin", "caseworker"}
#: files served from web/static (nothing else is)
STATIC = {"hasher.js", "victim.js"}


def _is_video(data: bytes) -> bool:
    from haechi.media import sniff_media_type
    from haechi.media.video import is_animated_image

    return sniff_media_type(data[:64]) == "video" or is_animated_image(data)


def _first_frame(data: bytes) -> Image.Image:
    from haechi.media.video import VideoInfo, VideoLimits, iter_frames

    limits = VideoLimits(max_pixels=80_000_000, max_frames=1, max_decoded_frames=500)
    for frame in iter_frames(io.BytesIO(data), "media", limits, VideoInfo(), data=data):
        return Image.fromarray(frame.rgb)
    raise ValueError("no frame")


def blurred(data: bytes, max_side: int = 480) -> bytes:
    """Greyscale, heavily blurred JPEG: enough to see that something is there, not what. For a
    video, of its first frame (the queue never sends a playable video before a reveal)."""
    src = _first_frame(data) if _is_video(data) else Image.open(io.BytesIO(data))
    src.thumbnail((max_side, max_side))
    im = src.convert("L").filter(ImageFilter.GaussianBlur(max(8, max(src.size) // 25)))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def make_router(h: Haechi, *, secure_cookies: bool = True, login_limiter: Any = None,
                allow_private_urls: bool = False) -> APIRouter:
    router = APIRouter(prefix="/web", include_in_schema=False)
    templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    secret = hashlib.sha256(b"haechi-web-session:" + h.cipher.key_material()).hexdigest()
    signer = URLSafeTimedSerializer(secret, salt="session")

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
        with h.db.session() as s:  # re-checked on every request: a disabled user is out at once
            row = s.scalar(select(User).where(User.id == u["id"]))
        if row is None or row.disabled:
            return None
        return accounts.Principal(row.id, row.username, row.role)

    def page(request: Request, session: dict[str, Any], name: str, status: int = 200, **ctx: Any) -> Response:
        lang = lang_of(request, session)
        resp = templates.TemplateResponse(request, name, {"t": lambda k: t(k, lang), "lang": lang,
                                                          "csrf": session["csrf"], "user": user(session), **ctx},
                                          status_code=status)
        return save(resp, session)

    def check_csrf(session: dict[str, Any], token: str) -> bool:
        return bool(token) and secrets.compare_digest(str(session.get("csrf", "")), token)

    def gate(request: Request, roles: set[str], login: str = "/web/login", csrf: str | None = None
             ) -> tuple[dict[str, Any], accounts.Principal | Response]:
        """The session and its user if the user has one of ``roles`` (and, for a form POST, the
        ``csrf`` token matches); else the response to send: log in, 403, or a bad CSRF token."""
        session = load(request)
        who = user(session)
        if who is None:
            return session, save(RedirectResponse(login, status_code=303), session)
        if who.role not in roles:
            return session, page(request, session, "login.html", status=403, error=False)
        if csrf is not None and not check_csrf(session, csrf):
            return session, Response("bad CSRF token", status_code=403)
        return session, who

    def password_login(request: Request, template: str, username: str, password: str, csrf: str,
                       role_ok: Callable[[str], bool]) -> Response:
        """Check CSRF, the per-client rate limit and the password; start a fresh session (new CSRF
        token) and send the user home — victims to their case, staff to the dashboard."""
        session = load(request)
        if not check_csrf(session, csrf):
            return page(request, session, template, status=403, error=True)
        client = request.client.host if request.client else "?"
        if login_limiter is not None and not login_limiter.allow(f"login:{client}"):
            return page(request, session, template, status=429, error=True)
        with h.db.session() as s:
            who = accounts.authenticate_password(s, username, password)
        if who is None or not role_ok(who.role):
            return page(request, session, template, status=401, error=True)
        session = {"user": {"id": who.user_id}, "csrf": secrets.token_urlsafe(24), "lang": session.get("lang")}
        home = "/web/victim/case" if who.role == "victim" else "/web/"
        return save(RedirectResponse(home, status_code=303), session)

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        session = load(request)
        return page(request, session, "login.html", error=False)

    @router.post("/login")
    def login(request: Request, username: str = Form(max_length=200), password: str = Form(max_length=1000),
              csrf: str = Form("")) -> Response:
        return password_login(request, "login.html", username, password, csrf, lambda role: role != "partner")

    @router.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        session = load(request)
        if not check_csrf(session, csrf):
            return Response("bad CSRF token", status_code=403)
        resp = RedirectResponse("/web/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/web")
        return resp

    @router.get("/", response_class=HTMLResponse)
    def dashboard(request: Request) -> Response:
        session, who = gate(request, REVIEW_ROLES)
        if isinstance(who, Response):
            return who
        return page(request, session, "cases.html", cases=h.list_cases(), can_edit=who.role in APPROVE_ROLES)

    @router.get("/cases/{case_ref}", response_class=HTMLResponse)
    def case_page(request: Request, case_ref: str) -> Response:
        session, who = gate(request, REVIEW_ROLES)
        if isinstance(who, Response):
            return who
        try:
            case = h.show_case(case_ref)
        except HaechiError:
            return Response("no such case", status_code=404)
        return page(request, session, "case.html", can_edit=who.role in APPROVE_ROLES, case=case)

    def queue(item_id: int | None = None) -> list[dict[str, Any]]:
        """Media of items awaiting review in open cases, oldest first: one query, not one per case
        (only item ``item_id``'s when given)."""
        import json

        from haechi.store.models import Case, CaseItem

        entries = []
        query = (select(Case.case_ref, CaseItem.id, CaseItem.media).join(Case, Case.id == CaseItem.case_id)
                 .where(Case.status == "open", CaseItem.status.in_(["found", "still_up", "reuploaded"]))
                 .order_by(Case.id, CaseItem.id))
        if item_id is not None:
            query = query.where(CaseItem.id == item_id)
        with h.db.session() as s:
            rows = s.execute(query).all()
        for case_ref, item, media in rows:
            for k, m in enumerate(json.loads(media)):
                if m.get("sha256"):
                    entries.append({"case": case_ref, "item": item, "index": k, "url": m["url"]})
        return entries

    def entry_of(item_id: int, index: int) -> dict[str, Any] | None:
        """The queue entry of one item's media — looked up by its item alone (every blurred
        preview asks), so the open cases' whole queue is not rebuilt per request."""
        if not 0 < item_id < 2**62:  # a path number no database id can be
            return None
        return next((e for e in queue(item_id) if e["index"] == index), None)

    @router.get("/review", response_class=HTMLResponse)
    def review(request: Request, i: int = 0) -> Response:
        session, who = gate(request, REVIEW_ROLES)
        if isinstance(who, Response):
            return who
        entries = queue()
        entry = entries[i] if 0 <= i < len(entries) else None
        grant = session.get("reveal") or {}
        revealed = bool(entry and grant.get("key") == f"{entry['item']}/{entry['index']}"
                        and grant.get("until", 0) > time.time())
        data = media(entry) if entry else None
        is_video = bool(data and _is_video(data))
        return page(request, session, "review.html", entry=entry, revealed=revealed, is_video=is_video, position=i + 1,
                    total=len(entries), next=i + 1 if i + 1 < len(entries) else None)

    def media(entry: dict[str, Any]) -> bytes | None:
        return h.media_bytes(entry["case"], entry["url"])

    @router.get("/media/{item_id}/{index}/blurred")
    def media_blurred(request: Request, item_id: int, index: int) -> Response:
        _, who = gate(request, REVIEW_ROLES)
        if isinstance(who, Response):
            return who
        entry = entry_of(item_id, index)
        data = media(entry) if entry else None
        if data is None:
            return Response("not found", status_code=404)
        try:
            return Response(blurred(data), media_type="image/jpeg", headers={"Cache-Control": "no-store"})
        except Exception:  # noqa: BLE001 - not an image (e.g. a video): show nothing rather than the bytes
            return Response("preview unavailable", status_code=415)

    @router.post("/media/{item_id}/{index}/reveal")
    def media_reveal(request: Request, item_id: int, index: int, csrf: str = Form("")) -> Response:
        session, who = gate(request, REVIEW_ROLES, csrf=csrf)
        if isinstance(who, Response):
            return who
        entry = entry_of(item_id, index)
        if entry is None:
            return Response("not found", status_code=404)
        from haechi.evidence import custody

        with h.db.session() as s:
            custody.append(s, "view", who.username, case_ref=entry["case"],
                           details={"item": item_id, "media": index, "event": "reveal"})
        session["reveal"] = {"key": f"{item_id}/{index}", "until": time.time() + REVEAL_SECONDS, "at": time.time()}
        pos = next((k for k, e in enumerate(queue()) if e["item"] == item_id and e["index"] == index), 0)
        return save(RedirectResponse(f"/web/review?i={pos}", status_code=303), session)

    @router.post("/media/{item_id}/{index}/hide")
    def media_hide(request: Request, item_id: int, index: int, csrf: str = Form("")) -> Response:
        session, who = gate(request, REVIEW_ROLES, csrf=csrf)
        if isinstance(who, Response):
            return who
        grant = session.pop("reveal", None) or {}
        entry = entry_of(item_id, index)
        if entry is not None and grant.get("key") == f"{item_id}/{index}":
            from haechi.evidence import custody

            with h.db.session() as s:
                custody.append(s, "view", who.username, case_ref=entry["case"],
                               details={"item": item_id, "media": index, "event": "hide",
                                        "seconds_shown": round(time.time() - float(grant.get("at", time.time())), 1)})
        return save(RedirectResponse("/web/review", status_code=303), session)

    @router.get("/media/{item_id}/{index}/original")
    def media_original(request: Request, item_id: int, index: int) -> Response:
        session, who = gate(request, REVIEW_ROLES)
        if isinstance(who, Response):
            return who
        grant = session.get("reveal") or {}
        if grant.get("key") != f"{item_id}/{index}" or grant.get("until", 0) < time.time():
            return Response("reveal it first (logged)", status_code=403)
        entry = entry_of(item_id, index)
        data = media(entry) if entry else None
        if data is None:
            return Response("not found", status_code=404)
        if _is_video(data):
            ctype = "video/webm" if data[:4] == b"\x1a\x45\xdf\xa3" else "image/gif" if data[:3] == b"GIF" else (
                "image/webp" if data[8:12] == b"WEBP" else "video/mp4")
        else:
            ctype = f"image/{(Image.open(io.BytesIO(data)).format or 'octet-stream').lower()}"
        return Response(data, media_type=ctype, headers={"Cache-Control": "no-store", "Content-Disposition": "inline"})

    @router.get("/notices/{notice_id}", response_class=HTMLResponse)
    def notice_page(request: Request, notice_id: Annotated[int, FPath(ge=1, le=2**62)]) -> Response:
        session, who = gate(request, REVIEW_ROLES)
        if isinstance(who, Response):
            return who
        from haechi.cases.service import notice_public
        from haechi.store.models import Notice

        with h.db.session() as s:
            n = s.get(Notice, notice_id)
            if n is None:
                return Response("no such notice", status_code=404)
            data = notice_public(n)
        return page(request, session, "notice.html", notice=data, can_approve=who.role in APPROVE_ROLES)

    @router.post("/notices/{notice_id}/approve")
    def notice_approve(request: Request, notice_id: Annotated[int, FPath(ge=1, le=2**62)], csrf: str = Form("")
                       ) -> Response:
        session, who = gate(request, APPROVE_ROLES, csrf=csrf)
        if isinstance(who, Response):
            return who
        h.approve_notice(notice_id, by=who.username)
        return save(RedirectResponse(f"/web/notices/{notice_id}", status_code=303), session)

    # -- case work: new case, add a URL (captured), draft a notice, export evidence, stats ------
    @router.post("/cases")
    def case_create(request: Request, victim_ref: str = Form("", max_length=200), csrf: str = Form("")) -> Response:
        session, who = gate(request, APPROVE_ROLES, csrf=csrf)
        if isinstance(who, Response):
            return who
        case = h.create_case(victim_ref=victim_ref.strip() or None, actor=who.username)
        return save(RedirectResponse(f"/web/cases/{case['case']}", status_code=303), session)

    @router.post("/cases/{case_ref}/items")
    def case_add_url(request: Request, case_ref: str, url: str = Form(max_length=4000), csrf: str = Form("")
                     ) -> Response:
        session, who = gate(request, APPROVE_ROLES, csrf=csrf)
        if isinstance(who, Response):
            return who
        try:
            rows = list(h.add_case_items(case_ref, [url.strip()], actor=who.username, capture=True,
                                         screenshot=False, allow_private=allow_private_urls))
        except HaechiError as exc:
            return Response(str(exc), status_code=400, media_type="text/plain")
        if rows and rows[0].get("error"):
            return Response(str(rows[0]["error"]), status_code=400, media_type="text/plain")
        return save(RedirectResponse(f"/web/cases/{case_ref}", status_code=303), session)

    @router.post("/cases/{case_ref}/notices")
    def case_draft_notice(request: Request, case_ref: str, regime: str = Form("kr", max_length=8),
                          lang: str = Form("ko", max_length=8), csrf: str = Form("")) -> Response:
        session, who = gate(request, APPROVE_ROLES, csrf=csrf)
        if isinstance(who, Response):
            return who
        try:
            ids = [i["id"] for i in h.show_case(case_ref)["items"] if i["status"] in ("found", "still_up",
                                                                                       "reuploaded")]
            notice = h.draft_notice(ids, regime, lang, actor=who.username)
        except HaechiError as exc:
            return Response(str(exc), status_code=400, media_type="text/plain")
        return save(RedirectResponse(f"/web/notices/{notice['id']}", status_code=303), session)

    @router.get("/cases/{case_ref}/export")
    def case_export(request: Request, case_ref: str) -> Response:
        session, who = gate(request, APPROVE_ROLES)
        if isinstance(who, Response):
            return who
        try:
            data = h.evidence_package(case_ref, actor=who.username)
        except HaechiError as exc:
            return Response(str(exc), status_code=400, media_type="text/plain")
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{case_ref}-evidence.zip"'})

    @router.get("/stats", response_class=HTMLResponse)
    def stats_page(request: Request) -> Response:
        session, who = gate(request, REVIEW_ROLES)
        if isinstance(who, Response):
            return who
        return page(request, session, "stats.html", stats=h.stats())

    @router.get("/stats.png")
    def stats_chart(request: Request) -> Response:
        session, who = gate(request, REVIEW_ROLES)
        if isinstance(who, Response):
            return who
        from haechi.cases.charts import stats_png

        return Response(stats_png(h.stats()), media_type="image/png")

    # -- static files (the in-browser hasher) ------------------------------------------------
    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return Response("not found", status_code=404)
        data = (Path(__file__).parent / "static" / name).read_bytes()
        return Response(data, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})

    # -- victim self-service (no staff account; hashes only) ----------------------------------
    @router.get("/victim", response_class=HTMLResponse)
    def victim_page(request: Request) -> Response:
        return page(request, load(request), "victim.html")

    @router.post("/victim/submit")
    async def victim_submit(request: Request) -> Response:
        session = load(request)
        if not check_csrf(session, request.headers.get("x-csrf-token", "")):
            return JSONResponse({"error": "Forbidden", "message": "bad CSRF token"}, status_code=403)
        client = request.client.host if request.client else "?"
        if login_limiter is not None and not login_limiter.allow(f"victim-submit:{client}"):
            return JSONResponse({"error": "TooManyRequests", "message": "too many submissions; wait a minute"},
                                status_code=429)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "InputError", "message": "body is not JSON"}, status_code=400)
        try:
            result = h.victim_submit(body.get("files") if isinstance(body, dict) else None)
        except HaechiError as exc:
            return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=400)
        return JSONResponse(result)

    @router.get("/victim/login", response_class=HTMLResponse)
    def victim_login_form(request: Request) -> Response:
        return page(request, load(request), "victim_login.html", error=False)

    @router.post("/victim/login")
    def victim_login(request: Request, case: str = Form(max_length=64), pin: str = Form(max_length=64),
                     csrf: str = Form("")) -> Response:
        return password_login(request, "victim_login.html", case.strip(), "".join(c for c in pin if c.isdigit()),
                              csrf, lambda role: role == "victim")

    @router.get("/victim/case", response_class=HTMLResponse)
    def victim_case(request: Request) -> Response:
        session, who = gate(request, {"victim"}, login="/web/victim/login")
        if isinstance(who, Response):
            return who
        return page(request, session, "victim_case.html", info=h.victim_status(who.username), withdrawn=None)

    @router.post("/victim/withdraw")
    def victim_withdraw(request: Request, csrf: str = Form("")) -> Response:
        session, who = gate(request, {"victim"}, login="/web/victim/login", csrf=csrf)
        if isinstance(who, Response):
            return who
        info = h.victim_status(who.username)
        done = h.victim_withdraw(who.username)
        resp = page(request, {"csrf": secrets.token_urlsafe(24), "lang": session.get("lang")}, "victim_case.html",
                    info=info, withdrawn=done)
        return resp

    return router
