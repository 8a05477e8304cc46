"""The caseworker's desk pages (#19): dashboard per caseworker, deadlines with what to do,
watches and their runs, banks with media hashed in the browser, re-check history with disputes;
and the review page numbering items without building the whole queue."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from haechi import Haechi
from haechi.api.app import create_app
from haechi.cases import review as rq
from haechi.demo.samples import scene
from haechi.demo.site import serve
from haechi.errors import InputError, NotFound
from haechi.services import accounts
from tests.helpers import CENTRE
from tests.test_web import ORIGINAL, PW, _csrf, _login

FILES = [{"sha256": "a" * 64, "md5": "b" * 32, "pdq": "c" * 64}]


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[TestClient, Haechi, str, str]]:
    """Two caseworkers' cases with a matched item each, served from a local site."""
    import io

    other = io.BytesIO()
    scene(77).save(other, "JPEG", quality=90)
    routes = {"/p": ("text/html", b'<img src="/m.jpg"><img src="/o.jpg">'),
              "/m.jpg": ("image/jpeg", ORIGINAL.getvalue()), "/o.jpg": ("image/jpeg", other.getvalue())}
    with serve(routes) as base, Haechi(home=tmp_path / "home", workers=1, **CENTRE) as h:
        with h.db.session() as s:
            for name in ("jieun", "minho"):
                accounts.add_user(s, name, "caseworker", PW)
            accounts.add_user(s, "reviewer", "reviewer", PW)
        mine = h.create_case(actor="jieun")["case"]
        theirs = h.create_case(actor="minho")["case"]
        for ref in (mine, theirs):
            list(h.add_case_items(ref, [f"{base}/p"], allow_private=True))
        yield TestClient(create_app(h, secure_cookies=False, allow_private_urls=True)), h, mine, theirs


def test_the_review_window_is_the_queue_at_every_position(desk: tuple[TestClient, Haechi, str, str]) -> None:
    _, h, mine, _ = desk
    entries = h.review_queue()
    assert len(entries) == 4
    h.review_decide("jieun", entries[1], "confirmed")
    entries = h.review_queue()
    for i, e in enumerate(entries):
        w = h.review_at(i)
        assert (w.entry, w.position, w.total) == (e, i, len(entries))
        assert h.review_position(e.item, e.index) == i == rq.position(entries, e.item, e.index)
    assert h.review_at(99).entry == entries[-1] and h.review_at(-5).entry == entries[0]  # clamped
    assert h.review_pending() == 3
    h.close_case(mine, actor="jieun")
    assert h.review_at(0).total == 2 and h.review_at(0).entry == h.review_queue()[0]


def test_rechecks_are_listed_per_item_and_can_be_disputed(desk: tuple[TestClient, Haechi, str, str]) -> None:
    client, h, mine, theirs = desk
    item = h.show_case(mine)["items"][0]["id"]
    h.set_item_status(item, "notified", actor="jieun")
    (row,) = list(h.recheck(mine, allow_private=True, actor="jieun"))
    (r,) = h.recheck_history(mine)[item]
    assert (r["status"], r["http_status"], r["disputed"]) == ("still_up", 200, None) == (row["status"], 200, None)
    with pytest.raises(InputError):
        h.dispute_recheck(mine, r["entry"], "  ", actor="jieun")
    with pytest.raises(NotFound):  # a re-check of another case is not this case's to dispute
        h.dispute_recheck(theirs, r["entry"], "wrong case", actor="jieun")
    _login(client, "jieun")
    page = client.get(f"/web/cases/{mine}?lang=en")
    assert 'class="recheck"' in page.text and ">200<" in page.text and "Dispute this result" in page.text
    resp = client.post(f"/web/cases/{mine}/rechecks/{r['entry']}/dispute",
                       data={"note": "behind a login wall", "csrf": _csrf(page.text)}, follow_redirects=False)
    assert resp.status_code == 303
    (r,) = h.recheck_history(mine)[item]
    assert r["disputed"]["by"] == "jieun" and r["disputed"]["note"] == "behind a login wall"
    assert h.verify_custody(mine)["ok"]
    page = client.get("/web/").text  # the dashboard's recent re-checks show it, disputed
    assert re.search(r'id="rechecks".*still up.*Disputed', page, re.S)


def test_the_dashboard_is_hers_unless_she_asks_for_all(desk: tuple[TestClient, Haechi, str, str]) -> None:
    client, h, mine, theirs = desk
    items = {ref: h.show_case(ref)["items"][0]["id"] for ref in (mine, theirs)}
    for ref, who in ((mine, "jieun"), (theirs, "minho")):
        h.set_item_status(items[ref], "removed", actor=who)
        h.set_item_status(items[ref], "reuploaded", actor=who)
    drafted = {ref: h.draft_notice([items[ref]], "us", "en", recipient="abuse@x.example", actor=who)["id"]
               for ref, who in ((mine, "jieun"), (theirs, "minho"))}
    _login(client, "jieun")
    page = client.get("/web/?lang=en").text
    assert f"{mine} #{items[mine]}" in page and f"{theirs} #" not in page  # her re-upload only
    # her own draft waits for someone else: not on her list (four eyes); minho's is not hers
    assert f'href="/web/notices/{drafted[mine]}"' not in page and f'href="/web/notices/{drafted[theirs]}"' not in page
    page = client.get("/web/?scope=all").text
    assert f"{theirs} #{items[theirs]}" in page and f'href="/web/notices/{drafted[theirs]}"' in page
    assert 'id="to-review"><span class="num">4<' in page


def test_deadlines_say_what_to_do(desk: tuple[TestClient, Haechi, str, str]) -> None:
    client, h, mine, _ = desk
    item = h.show_case(mine)["items"][0]["id"]
    n = h.draft_notice([item], "kr", "ko", recipient="https://x.example/report", actor="jieun")["id"]
    h.approve_notice(n, by="minho")
    h.send_notice(n, export_dir=h.settings.home / "out", actor="minho")  # a form: no clock until recorded
    _login(client, "jieun")
    page = client.get("/web/deadlines?lang=en").text
    row = re.search(rf'<tr class="">.*?/web/notices/{n}".*?</tr>', page, re.S)
    assert row and "Not started" in row.group(0) and "record the submission" in row.group(0)
    assert "https://x.example/report" in row.group(0) and mine in row.group(0)
    h.record_submission(n, "jieun", "form")
    page = client.get("/web/deadlines?lang=en").text
    assert "Statutory deadline" in page or "Requested time" in page or "Reminder" in page
    assert "hours left" in page


def test_watches_are_listed_with_their_runs(desk: tuple[TestClient, Haechi, str, str]) -> None:
    client, h, mine, _ = desk
    _login(client, "jieun")
    page = client.get("/web/watches?lang=en")
    with serve({"/q": ("text/html", b'<img src="/m.jpg">'), "/m.jpg": ("image/jpeg", ORIGINAL.getvalue())}) as site:
        r = client.post("/web/watches", data={"case": mine, "source": f"{site}/q", "every": "6h",
                                              "csrf": _csrf(page.text)}, follow_redirects=False)
        assert r.status_code == 303
        bad = client.post("/web/watches", data={"case": mine, "source": "/srv/export", "csrf": _csrf(page.text)})
        assert bad.status_code == 400  # a folder is the CLI's, not the web's
        (w,) = h.watch_overview()
        assert w["due"] and w["last"] is None
        h.run_watches(run_all=True, allow_private=True)
    (w,) = h.watch_overview()
    assert w["last"]["error"] is None and not w["due"]
    page = client.get("/web/watches").text
    assert 'id="watch-runs"' in page and re.search(r"watch-\d+", page)
    (run,) = h.watch_runs(w["watch"])
    assert run["case"] == mine and h.watch_runs(w["watch"] + 1) == []
    assert h.verify_custody(mine)["ok"]


def test_banks_take_hashes_made_in_the_browser(desk: tuple[TestClient, Haechi, str, str]) -> None:
    client, h, _, _ = desk
    _login(client, "reviewer")
    page = client.get("/web/banks?lang=en")
    assert page.status_code == 200 and 'id="new-bank"' not in page.text  # reviewers read banks only
    assert client.post("/web/banks", data={"name": "x", "csrf": _csrf(page.text)}).status_code == 403
    client.cookies.clear()
    _login(client, "jieun")
    page = client.get("/web/banks")
    r = client.post("/web/banks", data={"name": "centre photos", "csrf": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/banks/centre%20photos"
    page = client.get(r.headers["location"])
    assert 'id="files"' in page.text and "/web/static/bank.js" in page.text
    url = "/web/banks/centre%20photos/hashes"
    assert client.post(url, json={"files": FILES}).status_code == 403  # no CSRF token
    headers = {"x-csrf-token": _csrf(page.text)}
    bad = client.post(url, json={"files": [{"sha256": "zz", "md5": "b" * 32}]}, headers=headers)
    assert bad.status_code == 400 and "files[0].sha256" in bad.json()["message"]
    ok = client.post(url, json={"files": FILES, "label": "photo-1"}, headers=headers)
    assert ok.status_code == 200 and ok.json() == {"files": 1, "hashes": 3, "entries": 3}
    assert client.post("/web/banks/nope/hashes", json={"files": FILES}, headers=headers).status_code == 404
    summary = h.bank_summary("centre photos")
    assert summary["entries"] == 3 and summary["by_type"] == {"md5": 1, "pdq": 1, "sha256": 1}
    assert [m["bank"] for m in h.lookup("md5", "b" * 32)] == ["centre photos"]
    page = client.get("/web/banks").text
    assert re.search(r"centre photos</code></a></td>.*?<td[^>]*>3</td>", page, re.S)
