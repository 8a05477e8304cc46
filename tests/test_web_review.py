"""The review queue as a decision tool (#19): match evidence beside the blurred preview,
decisions in the custody log, previous/next that keep position, every view logged (revisits
too, and the hide when the reviewer leaves), no file names in plain text."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from haechi import Haechi
from haechi.api.app import create_app
from haechi.demo.samples import scene
from haechi.demo.site import serve
from haechi.demo.transforms import make_copy
from haechi.services import accounts

PW = "correct horse battery staple"
#: file names a victim's images might really have: they must never be shown to a reviewer
NAMES = ("kim-jiyoung-1.jpg", "kim-jiyoung-2.jpg", "holiday.jpg")


def _jpeg(im: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)  # type: ignore[attr-defined]
    return buf.getvalue()


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[tuple[TestClient, Haechi, str]]:
    """A case whose one page carries an exact copy, a mirrored copy and an unrelated image."""
    original = scene(123)
    routes = {"/p": ("text/html", "".join(f'<img src="/{n}">' for n in NAMES).encode()),
              f"/{NAMES[0]}": ("image/jpeg", _jpeg(original)),
              f"/{NAMES[1]}": ("image/jpeg", _jpeg(make_copy(original, "flip_h", seed=1))),
              f"/{NAMES[2]}": ("image/jpeg", _jpeg(scene(999)))}
    with serve(routes) as base:
        h = Haechi(home=tmp_path / "home", workers=1)
        photo = tmp_path / "o.jpg"
        original.save(photo, quality=95)
        h.create_bank("victim-x")
        list(h.add_to_bank("victim-x", [photo], label="photo-1"))
        with h.db.session() as s:
            accounts.add_user(s, "reviewer", "reviewer", PW)
        ref = h.create_case(victim_ref="V-1")["case"]
        list(h.add_case_items(ref, [f"{base}/p"], allow_private=True))
        client = TestClient(create_app(h, secure_cookies=False))
        r = client.get("/web/login?lang=en")
        csrf = re.search(r'name="csrf" value="([^"]+)"', r.text)
        assert csrf
        r = client.post("/web/login", data={"username": "reviewer", "password": PW, "csrf": csrf.group(1)},
                        follow_redirects=False)
        assert r.status_code == 303
        yield client, h, ref
        h.close()


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def _entry(html: str) -> tuple[str, str]:
    m = re.search(r'src="/web/media/(\d+)/(\d+)/(?:blurred|original)"', html)
    assert m, html
    return m.group(1), m.group(2)


def _custody(h: Haechi, action: str) -> list[tuple[str, dict[str, Any]]]:
    from haechi.evidence.custody import rows_of

    with h.db.session() as s:
        return [(r["actor"], json.loads(r["details"])) for r in rows_of(s) if r["action"] == action]


def test_queue_shows_match_evidence_and_no_file_names(queue: tuple[TestClient, Haechi, str]) -> None:
    client, _, _ = queue
    pages = [client.get(f"/web/review?i={i}").text for i in range(3)]
    assert all("1 / 3" in pages[0] or f"{i + 1} / 3" in p for i, p in enumerate(pages))
    exact, mirrored, unrelated = pages
    for page in pages:
        assert not any(name in page for name in NAMES), "a file name was shown in plain text"
        assert "•••.jpg" in page
    # bank, label, method, distance, transform beside the preview
    assert "victim-x" in exact and "photo-1" in exact and "0 bits" in exact and "PDQ" in exact
    assert "victim-x" in mirrored and "mirrored" in mirrored and re.search(r">\d+ bits", mirrored)
    assert "victim-x" not in unrelated and "No bank match" in unrelated  # an unrelated image looks different
    # the keys are shown as a legend and carried by the controls review.js presses
    for key in ("r", "c", "n", "e", "j"):
        assert f'data-key="{key}"' in exact
    assert 'id="legend"' in exact and 'data-key="k"' in mirrored and 'data-key="k"' not in exact
    assert client.get("/web/static/review.js").status_code == 200


def test_decisions_go_to_the_custody_log_and_move_on(queue: tuple[TestClient, Haechi, str]) -> None:
    client, h, ref = queue
    page = client.get("/web/review?i=1").text
    item, idx = _entry(page)
    r = client.post(f"/web/media/{item}/{idx}/decide", data={"csrf": _csrf(page), "decision": "confirmed"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/review?i=2"  # on to the next one
    page = client.get("/web/review?i=2").text
    item2, idx2 = _entry(page)
    client.post(f"/web/media/{item2}/{idx2}/decide", data={"csrf": _csrf(page), "decision": "not_a_match"})
    # a bad decision and a forged token record nothing
    r = client.post(f"/web/media/{item2}/{idx2}/decide", data={"csrf": _csrf(page), "decision": "maybe"})
    assert r.status_code == 400 and "could not be recorded" in r.text and "<nav" in r.text  # inside the layout
    assert client.post(f"/web/media/{item2}/{idx2}/decide",
                       data={"csrf": "forged", "decision": "confirmed"}).status_code == 403
    decisions = _custody(h, "review_decision")
    assert [(a, d["decision"], d["media"]) for a, d in decisions] == [("reviewer", "confirmed", int(idx)),
                                                                       ("reviewer", "not_a_match", int(idx2))]
    with h.db.session() as s:
        from haechi.evidence.custody import rows_of

        at = [r["at"] for r in rows_of(s) if r["action"] == "review_decision"]
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d", a) for a in at)  # when
    assert h.verify_custody(ref)["ok"]
    # the decision shows on the item's queue page and on the case page
    assert "Confirmed" in client.get("/web/review?i=1").text
    case = client.get(f"/web/cases/{ref}").text
    assert "Confirmed" in case and "Not a match" in case and "Not reviewed yet" in case
    # each media's matches on the case page too: PDQ distances in bits, no local-feature fields
    assert "victim-x" in case and "photo-1" in case and "0 bits" in case and "mirrored" in case
    assert "matching points" not in case and "@" not in case.split('id="items"')[1].split("<h2>")[0]


def test_every_view_is_logged_and_leaving_hides(queue: tuple[TestClient, Haechi, str]) -> None:
    client, h, _ = queue
    page = client.get("/web/review?i=1").text
    item, idx = _entry(page)
    original = f"/web/media/{item}/{idx}/original"
    r = client.post(f"/web/media/{item}/{idx}/reveal", data={"csrf": _csrf(page)}, follow_redirects=False)
    assert r.headers["location"] == "/web/review?i=1"
    page = client.get("/web/review?i=1").text  # the reveal's own view
    assert original in page and 'data-key="h"' in page
    client.get("/web/review?i=1")  # seen again inside the grant: a new entry
    views = [d["event"] for _, d in _custody(h, "view")]
    assert views == ["reveal", "revisit"]
    client.get("/web/review?i=2")  # on to the next item: the original is hidden, and that is logged
    views = [d for _, d in _custody(h, "view")]
    assert [v["event"] for v in views] == ["reveal", "revisit", "hide"] and views[-1]["reason"] == "left"
    assert "seconds_shown" in views[-1]
    assert client.get(original).status_code == 403  # coming back needs a new (logged) reveal
    page = client.get("/web/review?i=1").text
    assert original not in page and "/blurred" in page
    # Hide keeps the reviewer on the item she was looking at
    client.post(f"/web/media/{item}/{idx}/reveal", data={"csrf": _csrf(page)})
    r = client.post(f"/web/media/{item}/{idx}/hide", data={"csrf": _csrf(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/review?i=1"
    # leaving for another page of the app hides too
    client.post(f"/web/media/{item}/{idx}/reveal", data={"csrf": _csrf(page)})
    client.get("/web/")
    events = [d["event"] for _, d in _custody(h, "view")]
    assert events == ["reveal", "revisit", "hide", "reveal", "hide", "reveal", "hide"], events
    assert client.get(original).status_code == 403
    assert "Originals you viewed today: 3" in client.get("/web/review?i=1").text  # per-reviewer exposure


def test_revealed_video_is_muted(tmp_path: Path) -> None:
    from tests.test_web import _tiny_webm

    with serve({"/v.webm": ("video/webm", _tiny_webm())}) as base, Haechi(home=tmp_path / "home", workers=1) as h:
        with h.db.session() as s:
            accounts.add_user(s, "reviewer", "reviewer", PW)
        ref = h.create_case()["case"]
        list(h.add_case_items(ref, [f"{base}/v.webm"], allow_private=True))
        client = TestClient(create_app(h, secure_cookies=False))
        r = client.get("/web/login")
        client.post("/web/login", data={"username": "reviewer", "password": PW, "csrf": _csrf(r.text)})
        page = client.get("/web/review").text
        item, idx = _entry(page)
        client.post(f"/web/media/{item}/{idx}/reveal", data={"csrf": _csrf(page)})
        tag = re.search(r"<video[^>]*>", client.get("/web/review").text)
        assert tag and " muted" in tag.group(0) and "autoplay" not in tag.group(0)


def test_notices_name_confirmed_items_only(queue: tuple[TestClient, Haechi, str]) -> None:
    client, h, ref = queue
    with h.db.session() as s:
        accounts.add_user(s, "cw", "caseworker", PW)
    client.cookies.clear()
    r = client.get("/web/login?lang=en")
    client.post("/web/login", data={"username": "cw", "password": PW, "csrf": _csrf(r.text)})
    item = h.show_case(ref)["items"][0]["id"]
    case = client.get(f"/web/cases/{ref}").text
    assert re.search(rf'name="item" value="{item}" disabled', case)  # not confirmed yet: cannot be picked
    data = {"csrf": _csrf(case), "regime": "kr", "lang": "ko", "item": str(item)}
    r = client.post(f"/web/cases/{ref}/notices", data=data)
    assert r.status_code == 400 and "not confirmed by a reviewer" in r.text and h.show_case(ref)["notices"] == []
    assert client.post(f"/web/cases/{ref}/notices", data={**data, "item": []}).status_code == 400
    page = client.get("/web/review?i=0").text
    it, idx = _entry(page)
    client.post(f"/web/media/{it}/{idx}/decide", data={"csrf": _csrf(page), "decision": "not_a_match"})
    assert client.post(f"/web/cases/{ref}/notices", data=data).status_code == 400  # rejected is not confirmed
    client.post(f"/web/media/{it}/{idx}/decide", data={"csrf": _csrf(page), "decision": "confirmed"})
    case = client.get(f"/web/cases/{ref}").text
    assert re.search(rf'name="item" value="{item}" checked', case)
    r = client.post(f"/web/cases/{ref}/notices", data=data, follow_redirects=False)
    assert r.status_code == 303
    assert h.show_case(ref)["notices"][0]["items"] == [item]
    notice = h.show_case(ref)["notices"][0]["id"]
    case = client.get(f"/web/cases/{ref}").text  # the item says which notice names it, and its state
    assert re.search(rf'<section class="card item" id="item-{item}">.*href="/web/notices/{notice}">Notice #{notice}</a>'
                     r" \(draft\)", case, re.S)


def test_daily_exposure_limit_and_the_dashboard_count(queue: tuple[TestClient, Haechi, str]) -> None:
    from fastapi import FastAPI

    from haechi.web.routes import make_router

    client, h, _ = queue
    assert 'id="to-review"><span class="num">3<' in client.get("/web/").text
    page = client.get("/web/review?i=0").text
    it, idx = _entry(page)
    client.post(f"/web/media/{it}/{idx}/decide", data={"csrf": _csrf(page), "decision": "escalate"})
    assert 'id="to-review"><span class="num">2<' in client.get("/web/").text
    app = FastAPI()
    app.include_router(make_router(h, secure_cookies=False, exposure_limit=2))
    limited = TestClient(app)
    r = limited.get("/web/login?lang=en")
    limited.post("/web/login", data={"username": "reviewer", "password": PW, "csrf": _csrf(r.text)})
    for i, expected in ((0, 303), (1, 303), (2, 429)):
        page = limited.get(f"/web/review?i={i}").text
        it, idx = _entry(page)
        r = limited.post(f"/web/media/{it}/{idx}/reveal", data={"csrf": _csrf(page)}, follow_redirects=False)
        assert r.status_code == expected, i
    assert "limit of originals" in r.text and limited.get(f"/web/media/{it}/{idx}/original").status_code == 403
    assert [d["event"] for _, d in _custody(h, "view")].count("reveal") == 2


def test_the_most_urgent_items_come_first(queue: tuple[TestClient, Haechi, str], tmp_path: Path) -> None:
    """A copy re-uploaded after removal is reviewed before new finds of older cases."""
    from haechi.cases import review

    client, h, ref = queue
    later = h.create_case(victim_ref="V-2")["case"]
    photo = tmp_path / "later.jpg"
    scene(77).save(photo)
    list(h.add_case_items(later, [str(photo)]))
    with h.db.session() as s:
        assert [e.case for e in review.queue(s)] == [ref, ref, ref, later]  # oldest case first
    h.set_item_status(h.show_case(later)["items"][0]["id"], "reuploaded")
    with h.db.session() as s:
        assert [e.case for e in review.queue(s)] == [later, ref, ref, ref]
    assert later in client.get("/web/review?i=0").text


def test_a_notice_names_only_the_media_a_reviewer_confirmed(queue: tuple[TestClient, Haechi, str]) -> None:
    """A page with an exact copy (confirmed) and a mirrored copy the reviewer judged not a match:
    the notice names the page and the confirmed copy, never the rejected one."""
    client, h, ref = queue
    base = h.show_case(ref)["items"][0]["url"].rsplit("/", 1)[0]
    for k in range(2):
        page = client.get(f"/web/review?i={k}").text
        it, idx = _entry(page)
        url = h.show_case(ref)["items"][0]["media"][int(idx)]["url"]
        decision = "confirmed" if url.endswith(NAMES[0]) else "not_a_match"
        client.post(f"/web/media/{it}/{idx}/decide", data={"csrf": _csrf(page), "decision": decision})
    decided = {d["media"]: d["decision"] for _, d in _custody(h, "review_decision")}
    assert sorted(decided.values()) == ["confirmed", "not_a_match"]
    item = h.show_case(ref)["items"][0]["id"]
    body = h.draft_notice(h.notice_items(ref, [item]), "kr", "en", recipient="abuse@x.example")["text"]
    assert f"{base}/{NAMES[0]}" in body and f"{base}/p" in body
    assert NAMES[1] not in body and NAMES[2] not in body


def test_each_match_says_whether_it_is_a_copy_or_a_lead(queue: tuple[TestClient, Haechi, str]) -> None:
    """The verdict (copy: may be used in a notice; lead: a related image for a person to judge)
    is beside each match, in the queue and on the case page, in the UI's language."""
    client, h, ref = queue
    verdicts = [m["verdict"] for m in h.show_case(ref)["items"][0]["media"][0]["matches"]]
    assert verdicts and set(verdicts) <= {"copy", "lead"}
    exact = client.get("/web/review?i=0&lang=en").text
    assert re.search(r'<td data-label="Verdict" class="verdict"><span class="badge ok">copy</span>', exact)
    with h.db.session() as s:
        accounts.add_user(s, "cw", "caseworker", PW)
    client.cookies.clear()
    r = client.get("/web/login?lang=ko")
    client.post("/web/login", data={"username": "cw", "password": PW, "csrf": _csrf(r.text)})
    case = client.get(f"/web/cases/{ref}").text
    # two copies on the page: the exact one and the mirrored one
    assert case.count('<td data-label="판정" class="verdict"><span class="badge ok">복사본</span>') == 2


def test_the_daily_limit_and_four_eyes_come_from_the_settings(queue: tuple[TestClient, Haechi, str],
                                                              tmp_path: Path) -> None:
    """`haechi serve` builds the app from the settings: ``review_daily_limit`` caps the originals a
    reviewer reveals per day; ``single_person_centre`` lets the web app's drafter approve (four-eyes
    off, as the CLI allows) — before, neither setting reached the web app."""
    _, _, ref = queue
    from tests.helpers import CENTRE

    with Haechi(home=tmp_path / "home", workers=1, review_daily_limit=1, single_person_centre=True, **CENTRE) as hs:
        with hs.db.session() as s:
            accounts.add_user(s, "solo", "caseworker", PW)
        client = TestClient(create_app(hs, secure_cookies=False))
        r = client.get("/web/login?lang=en")
        client.post("/web/login", data={"username": "reviewer", "password": PW, "csrf": _csrf(r.text)})
        for i, expected in ((0, 303), (1, 429)):
            page = client.get(f"/web/review?i={i}").text
            it, idx = _entry(page)
            r = client.post(f"/web/media/{it}/{idx}/reveal", data={"csrf": _csrf(page)}, follow_redirects=False)
            assert r.status_code == expected, i
        item = hs.show_case(ref)["items"][0]["id"]
        notice = hs.draft_notice([item], "kr", "ko", actor="solo", recipient="abuse@x.example")["id"]
        client.cookies.clear()
        r = client.get("/web/login?lang=en")
        client.post("/web/login", data={"username": "solo", "password": PW, "csrf": _csrf(r.text)})
        page = client.get(f"/web/notices/{notice}").text
        assert f'action="/web/notices/{notice}/approve"' in page
        r = client.post(f"/web/notices/{notice}/approve", data={"csrf": _csrf(page)}, follow_redirects=False)
        assert r.status_code == 303, r.text[-1500:]
        assert hs.show_notice(notice)["approved_by"] == "solo"
