"""Cases and takedown: templates per regime and language, capture-backed items, approval before
sending, idempotent SMTP delivery (local aiosmtpd), deadlines, re-checks, statistics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.errors import InputError
from haechi.store.models import Notice
from tests.helpers import route_server
from tests.helpers import scene_jpeg as _jpeg

ROUTES: dict[str, tuple[int, str, bytes]] = {}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with route_server(ROUTES) as base:
        yield base


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


#: a complete centre identity (issue #18: approve and send refuse a placeholder)
CENTRE = {"sender_name": "Kim Ji-won", "sender_org": "Seoul Digital Sex Crime Victim Support Centre",
          "sender_email": "takedown@seoul-centre.kr", "sender_phone": "+82 2 1234 5678",
          "sender_basis": "kr_deletion_support"}


def test_case_to_sent_notice_to_recheck(tmp_path: Path, site: str, smtp: tuple[_Inbox, int]) -> None:
    inbox, port = smtp
    ROUTES["/t/1"] = (200, "text/html", b'<html><img src="/i/1.jpg"></html>')
    ROUTES["/i/1.jpg"] = (200, "image/jpeg", _jpeg(60, "resize"))
    ROUTES["/t/2"] = (200, "text/html", b'<html><img src="/i/2.jpg"></html>')
    ROUTES["/i/2.jpg"] = (200, "image/jpeg", _jpeg(60, "recompress"))
    home = tmp_path / "home"
    with Haechi(home=home, workers=1, **CENTRE) as h:
        h.create_bank("victim")
        (tmp_path / "o.jpg").write_bytes(_jpeg(60))
        list(h.add_to_bank("victim", [tmp_path / "o.jpg"]))
        case = h.create_case(victim_ref="V-017", contact="010-1234-5678 jiyoung@mail.example", actor="kim")
        ref = case["case"]
        items = list(h.add_case_items(ref, [f"{site}/t/1", f"{site}/t/2"], actor="kim", allow_private=True))
        assert all(i["error"] is None and i["status"] == "found" for i in items)
        assert items[0]["media"][0]["matches"][0]["bank"] == "victim"
        again = list(h.add_case_items(ref, [f"{site}/t/1"], allow_private=True))
        assert again[0]["duplicate"] and len(h.show_case(ref)["items"]) == 2
        notice = h.draft_notice([i["id"] for i in items], "kr", "ko", actor="kim", recipient="abuse@host.example")
        assert "전기통신사업법" in notice["text"] and f"{site}/t/1" in notice["text"]
        assert f"{site}/i/1.jpg" in notice["text"]  # the matched media URL, not only the page
        assert notice["eml"].startswith("From:") and notice["status"] == "draft"
        with pytest.raises(InputError):
            h.send_notice(notice["id"], "127.0.0.1", port)  # not approved: nothing sent
        assert inbox.messages == []
        h.approve_notice(notice["id"], by="officer-park")
        sent = h.send_notice(notice["id"], "127.0.0.1", port, actor="kim")
        assert not sent["already_sent"] and len(inbox.messages) == 1
        assert h.send_notice(notice["id"], "127.0.0.1", port)["already_sent"]
        assert len(inbox.messages) == 1  # idempotent: never sent twice
        mail = message_from_bytes(inbox.messages[0])
        assert mail["Message-ID"] == sent["message_id"] and "abuse@host.example" in mail["To"]
        assert all(i["status"] == "notified" for i in h.show_case(ref)["items"])
        # the Korean reply time asked for (24 h, not a statutory deadline); pretend it arrived 30 h ago
        with h.db.session() as s:
            s.get(Notice, notice["id"]).received_at = datetime.now(UTC) - timedelta(hours=30)  # type: ignore[union-attr]
        (due,) = h.due()
        assert due["overdue"] and due["case"] == ref and len(due["items"]) == 2
        assert due["clock"] == "requested" and "지체 없이" in due["why"] and "시정요구" in due["escalation"]
        # re-check: page 1 taken down (404), page 2 still shows the copy
        del ROUTES["/t/1"]
        rows = {r["url"].rsplit("/", 1)[-1]: r for r in h.recheck(ref, allow_private=True)}
        assert rows["1"]["status"] == "removed" and rows["2"]["status"] == "still_up"
        stats = h.stats()
        assert stats["cases"] == 1 and stats["items_removed"] == 1 and stats["items_still_up"] == 1
        assert stats["median_hours_to_removal"] is not None
        assert "V-017" not in str(stats) and "t/1" not in str(stats)
        assert h.verify_custody(ref)["ok"]
        h.close_case(ref, actor="kim")
        with pytest.raises(InputError):
            list(h.add_case_items(ref, [f"{site}/t/2"], allow_private=True))
        with pytest.raises(InputError):
            h.draft_notice([items[1]["id"]], "us", "en")
    blob = b"".join(f.read_bytes() for f in home.rglob("*") if f.is_file())
    assert b"010-1234-5678" not in blob and b"jiyoung@mail.example" not in blob  # contact encrypted


def test_notice_errors(tmp_path: Path, site: str) -> None:
    ROUTES["/x/a"] = (200, "text/html", b"<p>a</p>")
    with Haechi(home=tmp_path / "home", workers=1, **CENTRE) as h:
        ref = h.create_case()["case"]
        items = list(h.add_case_items(ref, [f"{site}/x/a", str(tmp_path)], allow_private=True))
        with pytest.raises(InputError) as exc:
            h.draft_notice([i["id"] for i in items], "us", "en")
        assert "different platforms" in str(exc.value)
        with pytest.raises(InputError) as exc:  # a local file is never located by its path
            h.draft_notice([items[1]["id"]], "us", "en")
        assert "local file" in str(exc.value) and str(tmp_path) not in str(exc.value)
        with pytest.raises(Exception) as exc2:
            h.draft_notice([9999], "us", "en")
        assert "9999" in str(exc2.value)
        n = h.draft_notice([items[0]["id"]], "eu", "es", recipient="https://forms.example/dsa")
        h.approve_notice(n["id"], by="x")
        with pytest.raises(InputError):  # the recipient is a web form: export it
            h.send_notice(n["id"], "127.0.0.1", 1)
        out = h.send_notice(n["id"], export_dir=tmp_path / "out")
        assert (tmp_path / "out" / f"notice-{n['id']}.eml").exists() and not out["already_sent"]
        assert out["status"] == "exported" and out["received_at"] is None and "submitted" in out["next"]
        assert h.show_case(ref)["items"][0]["status"] == "found"  # exported: the platform has nothing yet
        assert list(h.add_case_items(ref, ["ftp://x"], allow_private=True))[0]["error"]


def test_watch_finds_reuploads_once(tmp_path: Path, site: str) -> None:
    from haechi.cases.watch import parse_every

    ROUTES["/w/board"] = (200, "text/html", b'<html><img src="/w/old.jpg"></html>')
    ROUTES["/w/old.jpg"] = (200, "image/jpeg", _jpeg(71, "resize"))
    with Haechi(home=tmp_path / "home", workers=1, **CENTRE) as h:
        h.create_bank("victim")
        (tmp_path / "o.jpg").write_bytes(_jpeg(71))
        list(h.add_to_bank("victim", [tmp_path / "o.jpg"]))
        ref = h.create_case()["case"]
        (item,) = list(h.add_case_items(ref, [f"{site}/w/board"], allow_private=True))
        n = h.draft_notice([item["id"]], "us", "en", recipient="abuse@x.example")
        h.approve_notice(n["id"], by="p")
        h.send_notice(n["id"], export_dir=tmp_path / "out")
        h.notice_submitted(n["id"], datetime.now(UTC), "ticket-1")  # the platform confirmed it
        w = h.add_watch(ref, f"{site}/w/board", "6h", allow_private=True)
        assert h.list_watches()[0]["every_seconds"] == 6 * 3600
        # the page now carries a new re-encoded copy next to the old one
        ROUTES["/w/board"] = (200, "text/html", b'<html><img src="/w/old.jpg"><img src="/w/new.jpg"></html>')
        ROUTES["/w/new.jpg"] = (200, "image/jpeg", _jpeg(71, "crop_centre"))
        (run,) = h.run_watches(allow_private=True)
        assert run["watch"] == w["watch"] and len(run["new_items"]) == 1
        assert run["new_items"][0]["status"] == "reuploaded"
        assert h.run_watches(allow_private=True) == []  # not due again for 6 hours
        (again,) = h.run_watches(run_all=True, allow_private=True)
        assert again["new_items"] == []  # nothing duplicated
        assert len(h.show_case(ref)["items"]) == 2
    for bad in ("6", "0h", "10s", "every day"):
        with pytest.raises(InputError):
            parse_every(bad)


def test_hash_exchange_round_trips(tmp_path: Path, images: Path) -> None:
    from haechi.cases.exchange import EXCHANGES

    with Haechi(home=tmp_path / "home", workers=1) as h:
        h.create_bank("ours")
        list(h.add_to_bank("ours", [images]))
        ref = h.create_case()["case"]
        list(h.add_case_items(ref, [str(images)]))
        for fmt in EXCHANGES:
            text = h.exchange_export(fmt, bank="ours")
            assert "sha256" not in text.lower() or fmt == "hma"  # StopNCII-style lists carry PDQ and MD5
            f = tmp_path / f"x.{fmt}"
            f.write_text(text + ("junk,pdq,zz\n" if fmt == "stopncii" else '{"pdq": "zz"}\nnot json\n'))
            h.create_bank(f"theirs-{fmt}")
            result = h.exchange_import(fmt, f"theirs-{fmt}", f)
            # hma lines carry tx's signal types: a photo's MD5 is not one of them (6 PDQs remain)
            assert result["imported"] == (12 if fmt == "stopncii" else 6)
            assert len(result["errors"]) == (1 if fmt == "stopncii" else 2)
            assert all(str(f) in e for e in result["errors"])
        case_csv = h.exchange_export("stopncii", case_ref=ref)
        assert case_csv.count(ref) == 12 and "V-" not in case_csv
        rows = {Path(r["path"]).name: {m["bank"] for m in r["matches"]} for r in h.scan([images])}
        assert all({"theirs-stopncii", "theirs-hma"} <= banks for banks in rows.values())
        with pytest.raises(InputError):
            h.exchange_export("stopncii")
        with pytest.raises(InputError):
            h.exchange_export("tmk", bank="ours")


def test_rdap_abuse_contact_from_a_local_rdap_server(site: str) -> None:
    import json as _json

    from haechi.cases.recipients import abuse_from_rdap, rdap_abuse_contact

    doc = {"objectClassName": "ip network", "entities": [
        {"roles": ["registrant"], "vcardArray": ["vcard", [["email", {}, "text", "owner@isp.example"]]],
         "entities": [{"roles": ["abuse"], "vcardArray": ["vcard", [["fn", {}, "text", "Abuse"],
                                                                   ["email", {}, "text", "abuse@isp.example"]]]}]}]}
    assert abuse_from_rdap(doc) == "abuse@isp.example"
    assert abuse_from_rdap({"entities": [{"roles": ["abuse"]}]}) is None
    ROUTES["/rdap/ip/127.0.0.1"] = (200, "application/rdap+json", _json.dumps(doc).encode())
    assert rdap_abuse_contact("127.0.0.1", f"{site}/rdap", allow_private=True) == "abuse@isp.example"
    assert rdap_abuse_contact("127.0.0.1", f"{site}/rdap") is None  # private address: no lookup
    assert rdap_abuse_contact("no-such-host.invalid", f"{site}/rdap", allow_private=True) is None
    ROUTES["/rdap/ip/127.0.0.1"] = (200, "application/json", b"{broken")
    assert rdap_abuse_contact("127.0.0.1", f"{site}/rdap", allow_private=True) is None


def test_stats_synthetic_share_country_and_dates(tmp_path: Path) -> None:
    from PIL import PngImagePlugin
    from typer.testing import CliRunner

    from haechi.cases.service import country_of
    from haechi.cli.main import app

    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", "a photo, Steps: 30, Sampler: Euler a, Seed: 1")
    scene(81).save(tmp_path / "gen.png", pnginfo=meta)
    scene(82).save(tmp_path / "cam.jpg", quality=90)
    with Haechi(home=tmp_path / "home", workers=1) as h:
        ref = h.create_case()["case"]
        items = {Path(i["url"]).name: i for i in h.add_case_items(ref, [str(tmp_path / "gen.png"),
                                                                         str(tmp_path / "cam.jpg")])}
        assert items["gen.png"]["synthetic"] and not items["cam.jpg"]["synthetic"]
        assert h.stats()["synthetic_share"] == 0.5
    assert country_of("cdn.host.kr") == "KR" and country_of("x.co.uk") == "GB" and country_of("a.com") == "unknown"
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    now = datetime.now(UTC)
    r = runner.invoke(app, ["stats", "--json", "--from", (now - timedelta(days=1)).date().isoformat(), *home])
    assert '"cases": 1' in r.output
    r = runner.invoke(app, ["stats", "--json", "--to", (now - timedelta(days=1)).date().isoformat(), *home])
    assert '"cases": 0' in r.output
    r = runner.invoke(app, ["stats", "--from", "yesterday", *home])
    assert r.exit_code == 2
    r = runner.invoke(app, ["stats", "--png", str(tmp_path / "chart.png"), *home])
    assert r.exit_code == 0 and (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
