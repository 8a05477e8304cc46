"""Notices that reach someone (issue #18): a real sender or nothing is approved; four-eyes; one
notice per platform through the channel the host registry names; clocks that start only when
the platform received the notice, and `due` saying which clock runs, why, and where to escalate;
the minors' route; removed items re-checked on a schedule so content that returns is found;
`haechi setup`; the 0016 migration on notices sent before it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from haechi import Haechi
from haechi.cases import service as cases
from haechi.errors import InputError
from haechi.store.models import Capture, CaseItem, CustodyEntry, Notice
from tests.helpers import CENTRE, route_server, scene_jpeg

MATCH = [{"bank": "victim", "distance": 4}]
ROUTES: dict[str, tuple[int, str, bytes]] = {}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with route_server(ROUTES) as base:
        yield base


def _item(h: Haechi, ref: str, url: str, media: list[str] = (), synthetic: bool = False) -> int:  # type: ignore[assignment]
    with h.db.session() as s:
        item, _ = cases.add_item(s, ref, url, [{"url": m, "sha256": f"{i:064x}", "matches": MATCH}
                                               for i, m in enumerate(media)], "kim", synthetic)
    return int(item["id"])


def _backdate(h: Haechi, notice_id: int, hours: float) -> None:
    with h.db.session() as s:
        n = s.get(Notice, notice_id)
        assert n is not None
        n.approved_at = datetime.now(UTC) - timedelta(hours=hours + 1)


def test_a_placeholder_sender_drafts_but_is_never_approved_or_sent(tmp_path: Path) -> None:
    with Haechi(home=tmp_path / "placeholder") as h:
        ref = h.create_case()["case"]
        item = _item(h, ref, "https://x.com/a/status/1", ["https://pbs.twimg.com/media/a.jpg"])
        n = h.draft_notice([item], "us", "en", actor="kim")
        assert any("sender_name" in w for w in n["warnings"]) and "takedown@example.org" in n["text"]
        with pytest.raises(InputError) as exc:
            h.approve_notice(n["id"], by="park")
        assert "sender_name" in str(exc.value) and "sender_email" in str(exc.value)
        with pytest.raises(InputError):
            h.send_notice(n["id"], export_dir=tmp_path / "out")  # not approved: nothing leaves
        assert not (tmp_path / "out").exists()
    # the centre configures itself: the old draft still carries the placeholder, so it is refused
    with Haechi(home=tmp_path / "placeholder", **CENTRE) as h:
        with pytest.raises(InputError) as exc:
            h.approve_notice(n["id"], by="park")
        assert "another sender identity" in str(exc.value)
        again = h.draft_notice([item], "us", "en", actor="kim")
        assert not any("sender" in w for w in again["warnings"])
        assert h.approve_notice(again["id"], by="park")["status"] == "approved"


def test_four_eyes_unless_a_single_person_centre_and_never_without_a_recipient(tmp_path: Path) -> None:
    with Haechi(home=tmp_path / "h", **CENTRE) as h:
        ref = h.create_case()["case"]
        item = _item(h, ref, "https://imgur.com/a/b", ["https://i.imgur.com/b.jpg"])
        n = h.draft_notice([item], "kr", "ko", actor="Kim")
        with pytest.raises(InputError) as exc:
            h.approve_notice(n["id"], by="kim ")
        assert "four-eyes" in str(exc.value)
        assert h.approve_notice(n["id"], by="park")["approved_by"] == "park"
        nowhere = _item(h, ref, "https://nowhere.invalid/p/1", ["https://nowhere.invalid/1.jpg"])
        lost = h.draft_notice([nowhere], "kr", "ko", actor="kim")  # no registry entry, no RDAP answer
        assert lost["recipient"] is None and any("no recipient" in w for w in lost["warnings"])
        with pytest.raises(InputError) as exc:
            h.approve_notice(lost["id"], by="park")
        assert "no recipient" in str(exc.value)
    with Haechi(home=tmp_path / "h", single_person_centre=True, **CENTRE) as h:
        solo = h.draft_notice([item], "kr", "en", actor="kim")
        assert h.approve_notice(solo["id"], by="kim")["status"] == "approved"
        with h.db.session() as s:
            last = s.scalars(select(CustodyEntry).where(CustodyEntry.action == "notice_approve")
                             .order_by(CustodyEntry.id.desc())).first()
            assert last is not None and json.loads(last.details)["four_eyes"] is False  # said in the log


def test_one_notice_per_platform_through_the_regimes_channel(tmp_path: Path) -> None:
    with Haechi(home=tmp_path / "h", **CENTRE) as h:
        ref = h.create_case()["case"]
        post = _item(h, ref, "https://x.com/someone/status/1", ["https://pbs.twimg.com/media/a.jpg"])
        media = _item(h, ref, "https://pbs.twimg.com/media/b.jpg", ["https://pbs.twimg.com/media/b.jpg"], True)
        us = h.draft_notice([post, media], "us", "en", actor="kim")
        assert us["platform"] == "X" and us["channel"] == "form" and us["channel_process"]
        assert us["recipient"] == "https://help.x.com/forms/safety-and-sensitive-content/take-it-down"
        assert "https://pbs.twimg.com/media/a.jpg" in us["text"] and "digital forgery" in us["text"]
        assert any("not verified" in w for w in us["warnings"]) and any("submitted" in w for w in us["warnings"])
        kr = h.draft_notice([post], "kr", "ko", actor="kim")
        assert kr["recipient"] == "https://help.x.com/en/forms" and not kr["channel_process"]
        other = _item(h, ref, "https://imgur.com/x", [])
        with pytest.raises(InputError) as exc:
            h.draft_notice([post, other], "us", "en")
        assert "different platforms" in str(exc.value)
        tg = _item(h, ref, "telegram:-1009876543/77", ["telegram:-1009876543/77"])
        n = h.draft_notice([tg], "kr", "ko", actor="kim")
        assert n["recipient"] == "abuse@telegram.org" and n["platform"] == "Telegram"
        assert "https://t.me/c/9876543/77" in n["text"] and "telegram:" not in n["text"]
        naver = [_item(h, ref, f"https://blog.naver.com/u/{i}", []) for i in range(21)]
        with pytest.raises(InputError) as exc:
            h.draft_notice(naver, "kr", "ko")
        assert "at most 20" in str(exc.value)
        assert h.draft_notice(naver[:20], "kr", "ko")["recipient"] == "https://right.naver.com/"
        with pytest.raises(InputError):
            h.draft_notice([post], "us", "en", deadline_hours=12)  # the 48 h are the law's, not ours


def test_minors_route(tmp_path: Path) -> None:
    with Haechi(home=tmp_path / "h", **CENTRE) as h:
        ref = h.create_case()["case"]
        assert h.set_case_minor(ref)["minor"]
        post = _item(h, ref, "https://x.com/someone/status/9", ["https://pbs.twimg.com/media/m.jpg"])
        for regime, route in (("us", "report.cybertip.org"), ("uk", "iwf.org.uk"), ("eu", "inhope")):
            with pytest.raises(InputError) as exc:
                h.draft_notice([post], regime, "en")
            assert route in str(exc.value)
        n = h.draft_notice([post], "kr", "ko", actor="kim")  # X has no minors' route: no generic desk
        assert n["recipient"] is None
        tg = _item(h, ref, "telegram:-1001111/5", ["telegram:-1001111/5"])
        n = h.draft_notice([tg], "kr", "ko", actor="kim")
        assert n["recipient"] == "stopCA@telegram.org" and "아동·청소년의 성보호에 관한 법률" in n["text"]
        blog = _item(h, ref, "https://blog.naver.com/u/minor", ["https://blogfiles.pstatic.net/m.jpg"])
        n = h.draft_notice([blog], "kr", "ko", actor="kim")
        assert n["recipient"] == "https://right.naver.com/" and "pstatic.net" not in n["text"]  # no media link


def test_clocks_start_on_receipt_and_due_says_which_clock_why_and_where_to_escalate(tmp_path: Path) -> None:
    with Haechi(home=tmp_path / "h", **CENTRE) as h:
        ref = h.create_case()["case"]
        post = _item(h, ref, "https://x.com/someone/status/1", ["https://pbs.twimg.com/media/a.jpg"])
        n = h.draft_notice([post], "us", "en", actor="kim")
        h.approve_notice(n["id"], by="park")
        out = h.send_notice(n["id"], export_dir=tmp_path / "out")
        assert out["status"] == "exported" and h.show_case(ref)["items"][0]["status"] == "found"
        (row,) = h.due(within_hours=1000)
        assert row["clock"] == "not_started" and row["deadline"] is None and "submitted" in row["why"]
        with pytest.raises(InputError):
            h.notice_submitted(n["id"], datetime.now(UTC) + timedelta(hours=3), "T-1")  # the future
        with pytest.raises(InputError):
            h.notice_submitted(n["id"], datetime.now(UTC), "  ")  # no reference
        _backdate(h, n["id"], 50)
        h.notice_submitted(n["id"], datetime.now(UTC) - timedelta(hours=49), "X-TIDA-42", actor="kim")
        assert h.show_case(ref)["items"][0]["status"] == "notified"
        (row,) = h.due()
        assert row["clock"] == "statutory" and row["overdue"] and "223a" in row["why"]
        assert "Federal Trade Commission" in row["escalation"]
        with pytest.raises(InputError):
            h.notice_submitted(n["id"], datetime.now(UTC), "again")  # received once
        # a UK notice to an address typed by hand: the 48 h may never have started; said so
        other = _item(h, ref, "https://imgur.com/z", ["https://i.imgur.com/z.jpg"])
        uk = h.draft_notice([other], "uk", "en", actor="kim", recipient="abuse@imgur.com")
        h.approve_notice(uk["id"], by="park")
        _backdate(h, uk["id"], 2)
        h.send_notice(uk["id"], export_dir=tmp_path / "out")
        h.notice_submitted(uk["id"], datetime.now(UTC) - timedelta(hours=1), "ticket")
        row = next(r for r in h.due(within_hours=100) if r["notice"] == uk["id"])
        assert row["clock"] == "reminder" and "resubmit" in row["why"] and not row["overdue"]
        # EU: no invented 72 h; receipt, decision, appeal window
        eu_item = _item(h, ref, "https://www.reddit.com/r/x/1", ["https://i.redd.it/1.jpg"])
        eu = h.draft_notice([eu_item], "eu", "en", actor="kim")
        h.approve_notice(eu["id"], by="park")
        _backdate(h, eu["id"], 80)
        h.notice_submitted(eu["id"], datetime.now(UTC) - timedelta(hours=72), "DSA-7")
        row = next(r for r in h.due() if r["notice"] == eu["id"])
        assert row["clock"] == "receipt" and "16(4)" in row["why"] and "not a deadline" in row["why"]
        h.notice_reply(eu["id"], "receipt", datetime.now(UTC) - timedelta(hours=70))
        assert all(r["notice"] != eu["id"] for r in h.due())  # the decision reminder is a week out
        h.notice_reply(eu["id"], "decision", datetime.now(UTC) - timedelta(hours=1), "refused")
        row = next(r for r in h.due(within_hours=24 * 400) if r["notice"] == eu["id"])
        assert row["clock"] == "appeal_window" and "Art. 20" in row["why"]
        assert "Digital Services Coordinator" in row["escalation"]
        with pytest.raises(InputError):
            h.notice_reply(eu["id"], "decision", datetime.now(UTC), None)  # a decision has an outcome


def test_smtp_starts_the_clock_and_last_resort_contacts_start_none(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    class Inbox:
        messages: list[bytes] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            self.messages.append(envelope.content)
            return "250 OK"

    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with Haechi(home=tmp_path / "h", **CENTRE) as h:
            ref = h.create_case()["case"]
            item = _item(h, ref, "https://imgur.com/q", ["https://i.imgur.com/q.jpg"])
            n = h.draft_notice([item], "kr", "ko", actor="kim")
            h.approve_notice(n["id"], by="park")
            sent = h.send_notice(n["id"], "127.0.0.1", port)
            assert sent["received_at"] == sent["sent_at"] and len(inbox.messages) == 1
            assert b"takedown@seoul-centre.kr" in inbox.messages[0]
            with h.db.session() as s:
                s.get(Notice, n["id"]).channel = "last_resort"  # type: ignore[union-attr]
            (row,) = h.due(within_hours=1000)
            assert row["clock"] == "none" and "last-resort" in row["why"] and not row["overdue"]
    finally:
        controller.stop()


def test_rdap_cloudflare_is_a_proxy_with_a_warning(site: str) -> None:
    from haechi.cases.recipients import rdap_channel

    ROUTES["/cf/ip/127.0.0.1"] = (200, "application/rdap+json", json.dumps({"entities": [{
        "roles": ["abuse"], "vcardArray": ["vcard", [["fn", {}, "text", "Cloudflare, Inc."],
                                                     ["email", {}, "text", "abuse@cloudflare.com"]]]}]}).encode())
    ROUTES["/isp/ip/127.0.0.1"] = (200, "application/rdap+json", json.dumps({"entities": [{
        "roles": ["abuse"], "vcardArray": ["vcard", [["email", {}, "text", "abuse@isp.example"]]]}]}).encode())
    cf = rdap_channel("127.0.0.1", f"{site}/cf", allow_private=True)
    assert cf is not None and cf.kind == "proxy" and cf.address == "https://www.cloudflare.com/abuse"
    assert cf.warning and "forwards" in cf.warning.lower() and not cf.process
    isp = rdap_channel("127.0.0.1", f"{site}/isp", allow_private=True)
    assert isp is not None and isp.kind == "last_resort" and isp.address == "abuse@isp.example"
    assert "no legal clock" in (isp.note or "")


def test_removed_content_that_returns_is_found_on_the_next_scheduled_recheck(tmp_path: Path, site: str) -> None:
    from haechi.cases.items import last_point, removed_schedule

    jpeg = scene_jpeg(33)
    ROUTES["/back/page"] = (200, "text/html", b'<html><img src="/back/1.jpg"></html>')
    ROUTES["/back/1.jpg"] = (200, "image/jpeg", jpeg)
    with Haechi(home=tmp_path / "h", workers=1, **CENTRE) as h:
        h.create_bank("victim")
        (tmp_path / "o.jpg").write_bytes(jpeg)
        list(h.add_to_bank("victim", [tmp_path / "o.jpg"]))
        ref = h.create_case()["case"]
        (item,) = list(h.add_case_items(ref, [f"{site}/back/page"], allow_private=True))
        h.set_item_status(item["id"], "notified")
        del ROUTES["/back/page"]  # the platform took it down
        (row,) = list(h.recheck(ref, allow_private=True))
        assert row["status"] == "removed"
        assert h.recheck_targets(ref) == []  # the day-1 re-check is not due yet

        def age(days: float) -> None:  # move the removal and every capture of it back in time
            with h.db.session() as s:
                it = s.get(CaseItem, item["id"])
                assert it is not None and it.removed_at is not None
                it.removed_at = it.removed_at - timedelta(days=days)
                for cap in s.scalars(select(Capture).where(Capture.url == f"{site}/back/page")):
                    t = datetime.fromisoformat(cap.captured_at.replace("Z", "+00:00")) - timedelta(days=days)
                    cap.captured_at = t.isoformat().replace("+00:00", "Z")

        age(1.5)
        assert [t[0] for t in h.recheck_targets(ref)] == [item["id"]]
        (row,) = list(h.recheck(ref, allow_private=True))
        assert row["status"] == "removed" and h.recheck_targets(ref) == []  # still gone; next at day 7
        # the 30-day temporary measure lapses and the same image is back at the same URL
        age(29)
        ROUTES["/back/page"] = (200, "text/html", b'<html><img src="/back/1.jpg"></html>')
        (row,) = list(h.recheck(ref, allow_private=True))
        assert row["status"] == "reuploaded" and h.show_case(ref)["items"][0]["status"] == "reuploaded"
        # a new notice reaches the platform: the item is notified again; its next removal restarts the schedule
        n = h.draft_notice([item["id"]], "kr", "ko", actor="kim", recipient="abuse@board.example")
        h.approve_notice(n["id"], by="park")
        h.send_notice(n["id"], export_dir=tmp_path / "out")
        h.notice_submitted(n["id"], datetime.now(UTC), "T-2")
        assert h.show_case(ref)["items"][0]["status"] == "notified"
        del ROUTES["/back/page"]
        (row,) = list(h.recheck(ref, allow_private=True))
        removed_at = h.show_case(ref)["items"][0]["removed_at"]
        assert row["status"] == "removed"
        assert cases._utc(datetime.fromisoformat(removed_at)) > datetime.now(UTC) - timedelta(hours=1)
        assert h.recheck_targets(ref) == []
    # the schedule itself: 1, 7, 30 days, then every 30
    days, every = removed_schedule(h.settings)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert last_point(t0, days, every, t0 + timedelta(hours=23)) is None
    assert last_point(t0, days, every, t0 + timedelta(days=8)) == t0 + timedelta(days=7)
    assert last_point(t0, days, every, t0 + timedelta(days=95)) == t0 + timedelta(days=90)


def test_setup_writes_the_centre_identity_and_keeps_other_settings(tmp_path: Path) -> None:
    import tomllib

    from typer.testing import CliRunner

    from haechi.cli.main import app

    home = tmp_path / "home"
    home.mkdir()
    (home / "haechi.toml").write_text("[haechi]\npdq_threshold = 20\n", encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(app, ["setup", "--home", str(home), "--no-interactive", "--name", "Kim Ji-won",
                            "--org", "Seoul Centre", "--email", "takedown@seoul-centre.kr"])
    assert r.exit_code == 0, r.output
    assert "still missing" in r.output and "sender_phone" in r.output
    r = runner.invoke(app, ["setup", "--home", str(home), "--no-interactive", "--phone", "+82 2 1234 5678",
                            "--basis", "kr_deletion_support", "--local", "ko:김지원:서울센터",
                            "--eu-member-state", "DE"])
    assert r.exit_code == 0, r.output
    assert "can be approved" in r.output
    data = tomllib.loads((home / "haechi.toml").read_text(encoding="utf-8"))["haechi"]
    assert data["pdq_threshold"] == 20 and data["sender_name"] == "Kim Ji-won"
    assert data["sender_local"]["ko"] == {"name": "김지원", "org": "서울센터"}
    with Haechi(home=home) as h:
        assert h.settings.eu_member_state == "DE" and h.sender().names("ko") == ("김지원", "서울센터")
    assert runner.invoke(app, ["setup", "--home", str(home), "--no-interactive", "--local", "ko-only"]).exit_code == 2


def test_migration_starts_clocks_only_for_notices_that_were_mailed(database_url: str) -> None:
    from haechi.store.db import Database

    db = Database(database_url, migrate=False)
    db.migrate("0014_submission_signals")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO cases (id, case_ref, status, created_at) VALUES (1, 'C-1', 'open', "
                          "'2026-01-01 00:00:00')"))
        for nid, channel in ((1, "smtp:mail:25"), (2, "export:/tmp/notice-2.eml")):
            conn.execute(text("INSERT INTO notices (id, case_id, item_ids, regime, lang, subject, body, status, "
                              "deadline_hours, created_at, sent_at) VALUES (:id, 1, '[]', 'kr', 'ko', 's', 'b', "
                              "'sent', 24, '2026-01-01 00:00:00', '2026-01-02 00:00:00')"), {"id": nid})
            details = json.dumps({"channel": channel, "message_id": None, "notice": nid}, sort_keys=True,
                                 separators=(",", ":"))
            conn.execute(text("INSERT INTO custody_log (id, case_ref, action, actor, at, details, artefacts, "
                              "prev_hash, entry_hash) VALUES (:id, 'C-1', 'notice_send', 'kim', 'x', :d, '{}', "
                              ":p, :e)"), {"id": nid, "d": details, "p": str(nid), "e": f"e{nid}"})
    db.migrate()
    with db.session() as s:
        mailed, exported = s.get(Notice, 1), s.get(Notice, 2)
        assert mailed is not None and exported is not None
        assert mailed.status == "sent" and mailed.received_at is not None
        assert exported.status == "exported" and exported.received_at is None
    db.engine.dispose()


def test_dmca_route_warns_and_refuses_deepfakes_and_minors(tmp_path: Path) -> None:
    with Haechi(home=tmp_path / "h", **CENTRE) as h:
        ref = h.create_case()["case"]
        selfie = _item(h, ref, "https://imgur.com/s", ["https://i.imgur.com/s.jpg"])
        fake = _item(h, ref, "https://imgur.com/f", ["https://i.imgur.com/f.jpg"], synthetic=True)
        n = h.draft_notice([selfie], "dmca", "en", actor="kim")
        assert any("Lumen" in w and "counter-notice" in w for w in n["warnings"])
        with pytest.raises(InputError) as exc:
            h.draft_notice([fake], "dmca", "en")
        assert "synthetic" in str(exc.value)
        h.approve_notice(n["id"], by="park")
        _backdate(h, n["id"], 80)
        h.send_notice(n["id"], export_dir=tmp_path / "out")
        h.notice_submitted(n["id"], datetime.now(UTC) - timedelta(hours=73), "DMCA-1")
        (row,) = h.due()
        assert row["clock"] == "expeditious" and "512(c)(1)(C)" in row["why"] and row["overdue"]
        h.set_case_minor(ref)
        with pytest.raises(InputError) as exc:
            h.draft_notice([selfie], "dmca", "en")
        assert "never a DMCA notice" in str(exc.value)
