"""Issue #16 (HTTP status is evidence) and #17 medium 8 (a fetch error is not a removal), as a
caseworker meets them: where the material was is recorded even when the page cannot be reached
now, and a host that fails a re-check does not make a notified item "removed"."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from sqlalchemy import select

from haechi import Haechi
from haechi.demo.site import serve
from haechi.store.models import CustodyEntry
from tests.helpers import CENTRE, scene_jpeg


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_url_is_still_an_item_and_a_failed_recheck_is_not_a_removal(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}/thread/1"
    routes = {"/t.html": ("text/html", b'<html><img src="/a.jpg"></html>'), "/a.jpg": ("image/jpeg", scene_jpeg(71))}
    with Haechi(home=tmp_path / "h", workers=1, **CENTRE) as h, serve(routes) as site:
        ref = h.create_case()["case"]
        (item,) = list(h.add_case_items(ref, [dead], allow_private=True))
        assert item["error"] is None and item["status"] == "unreachable" and item["reason"]
        (live,) = list(h.add_case_items(ref, [f"{site}/t.html"], allow_private=True))
        assert live["status"] == "found"
        n = h.draft_notice([live["id"]], "us", "en", recipient="abuse@host.example")
        h.approve_notice(n["id"], by="second-person")
        h.send_notice(n["id"], export_dir=tmp_path / "out")
        h.set_item_status(live["id"], "notified")
    # the host is now down: the re-check records the attempt and leaves the item notified
    with Haechi(home=tmp_path / "h", workers=1, **CENTRE) as h:
        rows = {r["item"]: r for r in h.recheck(ref, allow_private=True)}
        assert rows[live["id"]]["status"] == "notified"
        assert rows[item["id"]]["status"] == "unreachable"  # re-checked too, still not reachable
        assert h.verify_custody(ref)["ok"]


def test_a_watched_page_showing_a_removed_image_again_marks_it_reuploaded(tmp_path: Path) -> None:
    """Issue #18 part 6: content that returns after a temporary block is not invisible."""
    img = scene_jpeg(72)
    routes = {"/board": ("text/html", b'<html><img src="/a.jpg"></html>'), "/a.jpg": ("image/jpeg", img)}
    with Haechi(home=tmp_path / "h", workers=1) as h, serve(routes) as site:
        h.create_bank("victim")
        (tmp_path / "o.jpg").write_bytes(img)
        list(h.add_to_bank("victim", [tmp_path / "o.jpg"]))
        ref = h.create_case()["case"]
        (item,) = list(h.add_case_items(ref, [f"{site}/board"], allow_private=True))
        h.add_watch(ref, f"{site}/board", "6h", allow_private=True)
        h.set_item_status(item["id"], "removed")
        (run,) = h.run_watches(run_all=True, allow_private=True)
        assert run["returned_items"] == [item["id"]] and run["new_items"] == []
        assert h.show_case(ref)["items"][0]["status"] == "reuploaded"


def test_captures_and_rechecks_look_like_an_ordinary_browser(tmp_path: Path) -> None:
    """Issue #17 medium 8: a host could answer 404 to a fetcher that names itself Haechi."""
    from haechi.sources.web import FetchLimits, fetch

    seen: list[str] = []

    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("User-Agent", ""))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fetch(f"http://127.0.0.1:{server.server_port}/p", FetchLimits(allow_private=True))
    finally:
        server.shutdown()
    assert seen and "haechi" not in seen[0].lower() and seen[0].startswith("Mozilla/5.0")


def test_evidence_verify_lists_orphan_capture_folders_without_failing_the_chain(tmp_path: Path) -> None:
    """Issue #16: `evidence verify` reports artefacts without a custody entry (a killed capture)."""
    routes = {"/t.html": ("text/html", b"<html><p>x</p></html>")}
    with Haechi(home=tmp_path / "h", workers=1) as h, serve(routes) as site:
        list(h.capture([f"{site}/t.html"], case_ref="O", screenshot=False, allow_private=True))
        stray = h.evidence_dir / "2026-01-01" / "deadbeef"
        stray.mkdir(parents=True)
        (stray / "capture.warc.gz").write_bytes(b"half")
        result = h.verify_custody()
    assert result["ok"] and any("2026-01-01/deadbeef" in o for o in result["orphans"])


class _Cloak:
    """A host that answers 404 to one kind of client: ``mode`` "fetcher" (no Sec-Fetch-Mode
    header, as Haechi's fetcher sends none), "all", or "" (serves everyone)."""

    def __init__(self, jpeg: bytes) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.mode, self.seen = "", []
        cloak = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                browserish = bool(self.headers.get("Sec-Fetch-Mode"))
                cloak.seen.append((self.path, browserish))
                gone = cloak.mode == "all" or (cloak.mode == "fetcher" and not browserish)
                body, ctype = (b"<html><img src='/a.jpg'></html>", "text/html") if self.path == "/t.html" \
                    else (jpeg, "image/jpeg")
                if gone:
                    body, ctype = b"not found", "text/plain"
                self.send_response(404 if gone else 200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_removal_counts_only_when_a_second_fetch_path_agrees(tmp_path: Path) -> None:
    """Issue #17 medium 8: a host that answers 404 to the fetcher alone keeps a notified item
    notified, with the dispute in its re-check result and custody log; 404 to both is a removal."""
    from haechi.evidence.capture import CHROMIUM, second_look
    from haechi.sources.web import FetchLimits, fetch

    site = _Cloak(scene_jpeg(73))
    try:
        with Haechi(home=tmp_path / "h", workers=1, **CENTRE) as h:
            ref = h.create_case()["case"]
            (item,) = list(h.add_case_items(ref, [f"{site.url}/t.html"], allow_private=True))
            assert item["status"] == "found"
            h.set_item_status(item["id"], "notified")
            site.mode = "fetcher"
            limits = FetchLimits(allow_private=True)
            assert fetch(f"{site.url}/t.html", limits).status == 404
            # the fetcher's second profile alone (a machine without Chromium) sees the page too
            alt = second_look(f"{site.url}/t.html", limits, browser=False)
            assert alt == {"path": "fetcher-profile-2", "status": 200, "error": None}
            (row,) = h.recheck(ref, allow_private=True)
            assert row["status"] == "notified" and row["removal_disputed"] is True, row
            assert row["http_status"] == 404 and row["second_look"]["status"] == 200
            assert row["second_look"]["path"] == ("browser" if Path(CHROMIUM).exists() else "fetcher-profile-2")
            assert h.show_case(ref)["items"][0]["status"] == "notified"
            with h.db.session() as s:
                last = json.loads(s.scalars(select(CustodyEntry.details).where(
                    CustodyEntry.case_ref == ref, CustodyEntry.action == "item_status")
                    .order_by(CustodyEntry.id.desc())).first() or "{}")
            assert last["removal_disputed"] is True and "404" in last["reason"] and last["second_look"]["status"] == 200
            assert h.verify_custody(ref)["ok"]

            site.mode = "all"  # gone for everyone: both paths agree
            (row,) = h.recheck(ref, allow_private=True)
            assert row["status"] == "removed" and "removal_disputed" not in row, row
            assert row["second_look"]["status"] == 404
    finally:
        site.server.shutdown()
