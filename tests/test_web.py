"""Web app: login with CSRF, reviewer-protecting queue (server-side blur, logged reveal with
duration), notice approval, role gates."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from haechi import Haechi
from haechi.api.app import create_app
from haechi.demo.samples import scene
from haechi.demo.site import serve
from haechi.services import accounts

PW = "correct horse battery staple"
ORIGINAL = io.BytesIO()
scene(123).save(ORIGINAL, "JPEG", quality=90)


#: a complete centre identity: approve and send refuse a placeholder sender (issue #18)
CENTRE = {"sender_name": "Kim Ji-won", "sender_org": "Seoul Digital Sex Crime Victim Support Centre",
          "sender_email": "takedown@seoul-centre.kr", "sender_phone": "+82 2 1234 5678",
          "sender_basis": "kr_deletion_support"}


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[TestClient, Haechi, str]]:
    with serve({"/p": ("text/html", b'<img src="/m.jpg">'), "/m.jpg": ("image/jpeg", ORIGINAL.getvalue())}) as base:
        h = Haechi(home=tmp_path / "home", workers=1, **CENTRE)
        with h.db.session() as s:
            for role in ("reviewer", "caseworker", "victim"):
                accounts.add_user(s, role, role, PW)
        ref = h.create_case(victim_ref="V-1")["case"]
        list(h.add_case_items(ref, [f"{base}/p"], allow_private=True))
        client = TestClient(create_app(h, secure_cookies=False))
        yield client, h, ref
        h.close()


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def _login(client: TestClient, user: str) -> None:
    r = client.get("/web/login")
    r = client.post("/web/login", data={"username": user, "password": PW, "csrf": _csrf(r.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def test_login_needs_csrf_and_password(web: tuple[TestClient, Haechi, str]) -> None:
    client, _, _ = web
    assert client.get("/web/", follow_redirects=False).status_code == 303  # to the login page
    r = client.post("/web/login", data={"username": "reviewer", "password": PW, "csrf": "forged"})
    assert r.status_code == 403
    r = client.get("/web/login")
    r = client.post("/web/login", data={"username": "reviewer", "password": "wrong password!", "csrf": _csrf(r.text)})
    assert r.status_code == 401
    _login(client, "reviewer")
    page = client.get("/web/?lang=ko")
    assert page.status_code == 200 and "사건" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    cookie = page.headers.get("set-cookie", "")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()


def test_review_queue_blurs_on_the_server_and_logs_reveals(web: tuple[TestClient, Haechi, str]) -> None:
    client, h, ref = web
    _login(client, "reviewer")
    page = client.get("/web/review")
    assert "/blurred" in page.text and "/original" not in page.text
    m = re.search(r'src="(/web/media/(\d+)/(\d+)/blurred)"', page.text)
    assert m
    blurred_url, item, idx = m.group(1), m.group(2), m.group(3)
    original = f"/web/media/{item}/{idx}/original"
    assert client.get(original).status_code == 403  # no bytes before the click
    blurred = client.get(blurred_url)
    assert blurred.status_code == 200 and blurred.content != ORIGINAL.getvalue()
    im = Image.open(io.BytesIO(blurred.content))
    assert im.mode == "L" and max(im.size) <= 480
    before = h.verify_custody(ref)["entries"]
    assert client.post(f"/web/media/{item}/{idx}/reveal", data={"csrf": "forged"}).status_code == 403
    r = client.post(f"/web/media/{item}/{idx}/reveal", data={"csrf": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    shown = client.get(original)
    assert shown.status_code == 200 and shown.content == ORIGINAL.getvalue()
    page = client.get("/web/review")
    client.post(f"/web/media/{item}/{idx}/hide", data={"csrf": _csrf(page.text)})
    assert client.get(original).status_code == 403
    with h.db.session() as s:
        from haechi.evidence.custody import rows_of

        views = [r for r in rows_of(s) if r["action"] == "view"]
    assert len(views) == 2 and all(v["actor"] == "reviewer" for v in views)
    assert '"seconds_shown"' in views[1]["details"]
    assert h.verify_custody(ref)["entries"] == before + 2 and h.verify_custody()["ok"]


def test_roles_on_pages_and_notice_approval(web: tuple[TestClient, Haechi, str]) -> None:
    client, h, ref = web
    item = h.show_case(ref)["items"][0]["id"]
    notice = h.draft_notice([item], "us", "en", recipient="abuse@x.example")
    _login(client, "victim")
    assert client.get("/web/").status_code == 403
    assert client.get("/web/review").status_code == 403
    client.cookies.clear()
    _login(client, "reviewer")
    page = client.get(f"/web/notices/{notice['id']}")
    assert page.status_code == 200 and "Approve" not in page.text  # reviewers cannot approve
    r = client.post(f"/web/notices/{notice['id']}/approve", data={"csrf": _csrf(page.text)})
    assert r.status_code == 403
    client.cookies.clear()
    _login(client, "caseworker")
    page = client.get(f"/web/notices/{notice['id']}")
    assert "Approve" in page.text
    client.post(f"/web/notices/{notice['id']}/approve", data={"csrf": _csrf(page.text)})
    assert h.show_case(ref)["notices"][0]["status"] == "approved"
    with h.db.session() as s:
        accounts.disable_user(s, "caseworker")
    assert client.get("/web/", follow_redirects=False).status_code == 303  # disabled: logged out at once


def _tiny_webm() -> bytes:
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=5)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(10):
            frame = np.asarray(scene(40 + i // 5).resize((160, 120)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def test_video_in_the_queue_is_a_blurred_still_and_never_autoplays(tmp_path: Path) -> None:
    video = _tiny_webm()
    with serve({"/v.webm": ("video/webm", video)}) as base, Haechi(home=tmp_path / "home", workers=1) as h:
        with h.db.session() as s:
            accounts.add_user(s, "reviewer", "reviewer", PW)
        ref = h.create_case()["case"]
        list(h.add_case_items(ref, [f"{base}/v.webm"], allow_private=True))
        client = TestClient(create_app(h, secure_cookies=False))
        _login(client, "reviewer")
        page = client.get("/web/review")
        m = re.search(r'src="(/web/media/(\d+)/(\d+)/blurred)"', page.text)
        assert m and "<video" not in page.text
        still = client.get(m.group(1))
        assert still.status_code == 200 and Image.open(io.BytesIO(still.content)).mode == "L"
        item, idx = m.group(2), m.group(3)
        assert client.get(f"/web/media/{item}/{idx}/original").status_code == 403
        client.post(f"/web/media/{item}/{idx}/reveal", data={"csrf": _csrf(page.text)})
        page = client.get("/web/review")
        tag = re.search(r"<video[^>]*>", page.text)
        assert tag and "autoplay" not in tag.group(0) and 'preload="none"' in tag.group(0)
        shown = client.get(f"/web/media/{item}/{idx}/original")
        assert shown.status_code == 200 and shown.headers["content-type"] == "video/webm" and shown.content == video


#: every web page and form: (method, path template) -> roles allowed (others: redirected to log in
#: when anonymous, 403 when logged in with another role)
STAFF = {"admin", "caseworker", "reviewer"}
EDIT = {"admin", "caseworker"}
WEB_ROUTES: list[tuple[str, str, set[str]]] = [
    ("GET", "/web/", STAFF), ("GET", "/web/cases/{case}", STAFF), ("GET", "/web/review", STAFF),
    ("GET", "/web/stats", STAFF), ("GET", "/web/stats.png", STAFF), ("GET", "/web/media/{item}/0/blurred", STAFF),
    ("GET", "/web/notices/{notice}", STAFF), ("POST", "/web/cases", EDIT), ("POST", "/web/cases/{case}/items", EDIT),
    ("POST", "/web/cases/{case}/notices", EDIT), ("GET", "/web/cases/{case}/export", EDIT),
    ("POST", "/web/notices/{notice}/approve", EDIT), ("POST", "/web/notices/{notice}/sent", EDIT),
    ("GET", "/web/notices/{notice}/eml", EDIT), ("POST", "/web/media/{item}/0/reveal", STAFF),
    ("POST", "/web/media/{item}/0/hide", STAFF), ("POST", "/web/media/{item}/0/decide", STAFF),
    ("GET", "/web/victim/case", {"victim"}), ("POST", "/web/victim/withdraw", {"victim"}),
    ("GET", "/web/victim/withdraw", {"victim"}),
    ("GET", "/web/cases", STAFF), ("GET", "/web/deadlines", STAFF), ("GET", "/web/watches", STAFF),
    ("POST", "/web/watches", EDIT), ("GET", "/web/banks", STAFF), ("POST", "/web/banks", EDIT),
    ("GET", "/web/banks/{bank}", STAFF), ("POST", "/web/banks/{bank}/hashes", EDIT),
    ("POST", "/web/cases/{case}/rechecks/{entry}/dispute", EDIT),
]
PUBLIC = ["/web/login", "/web/victim", "/web/victim/login", "/web/victim/minor", "/web/static/hasher.js",
          "/web/static/bank.js"]
#: the rest, and the test that covers each
EXEMPT = {
    ("POST", "/web/login"): "public form: test_roles_on_pages_and_notice_approval logs in",
    ("POST", "/web/logout"): "public form: ends whatever session there is",
    ("POST", "/web/victim/login"): "public form: test_victim_self_service_* log in with case number and PIN",
    ("POST", "/web/victim/submit"): "public form: the victim page submits hashes without an account",
    ("GET", "/"): "redirect to /web/: test_web_pages.py::test_root_leads_to_the_web_app",
    ("GET", "/web/{rest}"): "any other /web address: a 404 page in the layout, for everyone "
                            "(test_web_pages.py::test_korean_pages_show_no_english_none_or_raw_keys)",
    ("GET", "/web/media/{item}/0/original"): "staff AND a reveal grant: test_video_in_the_queue_* and the "
                                            "review test check 403 before the reveal, 200 after",
}


def test_every_web_route_is_in_the_role_table(tmp_path: Path) -> None:
    from fastapi.routing import APIRoute

    from haechi.web.routes import make_router

    with Haechi(home=tmp_path / "home", workers=1) as h:
        routes = [r for r in make_router(h).routes if isinstance(r, APIRoute)]
    norm = re.compile(r"\{[^}]+\}")
    served = {(m, norm.sub("X", r.path)) for r in routes for m in r.methods}
    assert len(served) > 20
    listed = {(m, norm.sub("X", p).replace("/0/", "/X/")) for m, p, _ in WEB_ROUTES}
    listed |= {("GET", p.replace("hasher.js", "X").replace("bank.js", "X")) for p in PUBLIC}
    listed |= {(m, norm.sub("X", p).replace("/0/", "/X/")) for m, p in EXEMPT}
    assert served - listed == set(), "web routes missing from the role table"


@pytest.mark.parametrize("role", ["anonymous", "victim", "partner", "reviewer", "caseworker", "admin"])
def test_every_web_page_by_role(web: tuple[TestClient, Haechi, str], role: str) -> None:
    client, h, ref = web
    item = h.show_case(ref)["items"][0]["id"]
    notice = h.draft_notice([item], "us", "en", recipient="abuse@x.example")["id"]
    with h.db.session() as s:
        for r in ("admin", "partner"):
            accounts.add_user(s, r, r, PW)
    if role != "anonymous":
        r = client.get("/web/login")
        r = client.post("/web/login", data={"username": role, "password": PW, "csrf": _csrf(r.text)},
                        follow_redirects=False)
        assert r.status_code == (401 if role == "partner" else 303)  # partner tokens have no web login
    csrf = _csrf(client.get("/web/login").text)
    for path in PUBLIC:
        assert client.get(path).status_code == 200, path
    for method, template, allowed in WEB_ROUTES:
        path = template.format(case=ref, item=item, notice=notice, bank="b", entry=1)
        data = {"csrf": csrf, "victim_ref": "x", "url": "http://192.0.2.1/x", "regime": "us", "lang": "en",
                "name": f"bank-{role}", "case": ref, "source": "http://192.0.2.1/x", "note": "geo-blocked"}
        resp = client.request(method, path, data=data if method == "POST" else None, follow_redirects=False,
                              headers={"x-csrf-token": csrf})
        if role in allowed:
            assert resp.status_code not in (401, 403) and not (resp.status_code == 303 and
                                                             "login" in resp.headers.get("location", "")), \
                (role, method, path, resp.status_code)
        elif role in ("anonymous", "partner"):
            assert resp.status_code == 303 and "login" in resp.headers["location"], (role, method, path)
        else:
            assert resp.status_code == 403, (role, method, path, resp.status_code)


def test_every_ui_string_is_in_both_catalogues() -> None:
    from haechi.web.i18n import LANGUAGES, catalog, t

    templates = Path(__file__).resolve().parents[1] / "haechi" / "web" / "templates"
    used = {k for f in templates.glob("*.html") for k in re.findall(r"t\('([a-z_]+)'\)", f.read_text())}
    assert len(used) > 20
    for lang in LANGUAGES:
        missing = [k for k in used if catalog(lang).get(k) is None or not catalog(lang).get(k).string]
        assert not missing, (lang, missing)
    assert t("login", "ko") == "로그인" and t("login", "en") == "Log in" and t("login", "fr") == "Log in"
    # keys a template builds from data: every clock a notice can have, what to do about it, the
    # nav and the dashboard's scopes
    from haechi.cases.service import clocks

    kinds = {str(r["kind"]) for r in clocks()["regimes"].values()} - {"receipt_decision"}
    kinds |= {"receipt", "decision", "appeal_window", "not_started", "none", "reminder"}
    built = {f"clock_{k}" for k in kinds} | {f"todo_{k}" for k in kinds | {"overdue", "draft", "approved"}}
    built |= {"scope_mine", "scope_all", "dashboard", "cases", "review", "deadlines", "watches", "banks", "stats"}
    for lang in LANGUAGES:
        missing = [k for k in built if catalog(lang).get(k) is None or not catalog(lang).get(k).string]
        assert not missing, (lang, missing)


def test_victim_video_hashes_find_a_reencoded_copy(tmp_path: Path) -> None:
    """A victim's video, hashed frame by frame (as her browser does), is stored as one vPDQ
    signal: a re-encoded copy is found by video matching; withdrawal removes it."""
    import pdqhash

    from haechi.demo.video_samples import clip_frames, resize, write_video
    from haechi.media.video import VideoInfo, VideoLimits, iter_frames
    from haechi.signals.pdq import bits_to_hex

    original, copy = tmp_path / "mine.mp4", tmp_path / "copy.mp4"
    write_video(original, clip_frames(3, 8.0), fps=15)
    write_video(copy, clip_frames(3, 8.0), fps=15, op=resize((480, 360)))
    frames = []
    for f in iter_frames(str(original), "mine.mp4", VideoLimits(max_pixels=10**8), VideoInfo()):
        bits, quality = pdqhash.compute(f.rgb)
        frames.append({"t_s": f.t_s, "pdq": bits_to_hex(bits), "quality": int(quality)})
    with Haechi(home=tmp_path / "home", workers=1) as h:
        sub = h.victim_submit([{"kind": "video", "sha256": "e" * 64, "md5": "f" * 32, "frames": frames}])
        assert sub["hashes"] == 3  # SHA-256, MD5, one vPDQ
        (row,) = list(h.scan([copy]))
        assert any(m["bank"] == "victim-submitted" and m["signal_type"] in ("vpdq", "video_frame")
                   for m in row["matches"]), row["matches"]
        h.victim_withdraw(sub["case"])
        (row,) = list(h.scan([copy]))
        assert not any(m["bank"] == "victim-submitted" for m in row["matches"])


def test_the_add_url_form_never_reads_the_servers_own_files(web: tuple[TestClient, Haechi, str]) -> None:
    """Issue #17 medium 5: paths (the home's secret.key, /etc/shadow, a FIFO) are the CLI
    operator's business; a network door accepts http(s) URLs only."""
    client, h, case = web
    _login(client, "caseworker")
    page = client.get(f"/web/cases/{case}")
    before = len(h.show_case(case)["items"])
    for target in ("/etc/passwd", str(h.settings.key_file), "file:///etc/passwd"):
        r = client.post(f"/web/cases/{case}/items", data={"url": target, "csrf": _csrf(page.text)})
        assert r.status_code == 400 and "http(s) URLs" in r.text, target
    assert len(h.show_case(case)["items"]) == before


def test_logout_ends_the_session_even_for_a_saved_cookie(web: tuple[TestClient, Haechi, str]) -> None:
    """Issue #17 low 9: after logout a saved copy of the cookie still worked."""
    client, h, _ = web
    _login(client, "caseworker")
    saved = dict(client.cookies)
    assert client.get("/web/", follow_redirects=False).status_code == 200
    page = client.get("/web/")
    client.post("/web/logout", data={"csrf": _csrf(page.text)}, follow_redirects=False)
    thief = TestClient(client.app)
    thief.cookies.update(saved)
    assert thief.get("/web/", follow_redirects=False).status_code == 303  # back to the login page
    _login(client, "caseworker")  # she can log in again; disabling her ends that session too
    assert client.get("/web/", follow_redirects=False).status_code == 200
    h.disable_user("caseworker")
    assert client.get("/web/", follow_redirects=False).status_code == 303


def test_the_stats_chart_speaks_the_users_language_and_never_prints_none(web: tuple[TestClient, Haechi, str]) -> None:
    """Issue #19: the chart's text was English on the Korean page and its title printed `None`."""
    from haechi.cases import charts

    client, h, _ = web
    _login(client, "caseworker")
    ko = client.get("/web/stats.png?lang=ko")
    en = client.get("/web/stats.png?lang=en")
    assert ko.status_code == en.status_code == 200 and ko.content[:4] == b"\x89PNG" and ko.content != en.content
    data = dict(h.stats(), median_hours_to_removal=None)
    assert charts.stats_png(data, "ko") != charts.stats_png(dict(data, median_hours_to_removal=5.0), "ko")
    assert "None" not in str(charts.LABELS)
