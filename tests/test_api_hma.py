"""Today's HMA API (issue #21): the requests HMA 1.1.x's own tests and UI send, answered as HMA
answers them; the legacy shape on request; failures of other systems as 502; the opt-in
trusted networks for HMA clients that send no token."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from haechi import Haechi
from haechi.api.app import create_app
from haechi.demo.samples import scene
from haechi.demo.site import serve
from haechi.errors import ConfigError
from haechi.services import accounts
from haechi.signals.pdq import pdq_of
from tests.helpers import scene_jpeg

Api = tuple[TestClient, dict[str, str], Haechi]


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    h = Haechi(home=tmp_path / "home", database_url=database_url, workers=1)
    with h.db.session() as s:
        accounts.add_user(s, "cw", "caseworker", "correct horse battery staple")
    with h.db.session() as s:
        token = accounts.create_token(s, "cw")
    client = TestClient(create_app(h, lookup_rate=10_000, allow_private_urls=True),
                        headers={"Authorization": f"Bearer {token}"})
    yield client, {"Authorization": f"Bearer {token}"}, h
    h.close()


def _pdq(seed: int) -> str:
    return pdq_of(np.asarray(scene(seed))).hash


# -- banks: HMA's rules (tests/test_api_banks.py) ------------------------------------------------
def test_bank_names_duplicates_and_deleting_a_missing_bank_follow_hma(api: Api) -> None:
    client, _, _ = api
    assert client.get("/c/banks").json() == []
    for bad in ("01_TEST_BANK", "my_test_bank", "A-B"):
        r = client.post("/c/banks", json={"name": bad})
        assert r.status_code == 400 and "UPPER_WITH_UNDERSCORE" in r.json()["message"], bad
    r = client.post("/c/banks", json={"name": "MY_TEST_BANK_01"})
    assert r.status_code == 201 and r.json() == {"matching_enabled_ratio": 1.0, "name": "MY_TEST_BANK_01"}
    assert client.get("/c/banks").json() == [r.json()]
    assert client.get("/c/bank/MY_TEST_BANK_01").json() == r.json()
    dup = client.post("/c/banks", json={"name": "MY_TEST_BANK_01"})
    assert dup.status_code == 403 and dup.json()["error"] == "HTTPError"
    assert client.delete("/c/bank/MY_TEST_BANK_01").status_code == 200
    assert client.delete("/c/bank/MY_TEST_BANK_01").json() == {"message": "Done"}  # missing: 200 too
    # the legacy shape keeps Haechi's rules: any name, 409, 404
    legacy = {"format": "legacy"}
    assert client.post("/c/banks", params=legacy, json={"name": "victim-submitted-2"}).status_code == 201
    assert client.post("/c/banks", params=legacy, json={"name": "victim-submitted-2"}).status_code == 409
    assert client.get("/c/bank/victim-submitted-2", params=legacy).json()["entries"] == 0
    assert client.delete("/c/bank/victim-submitted-2", params=legacy).json() == {"deleted": "victim-submitted-2"}
    assert client.delete("/c/bank/victim-submitted-2", params=legacy).status_code == 404
    # the switch as a header too
    client.post("/c/banks", json={"name": "KEPT"})
    assert client.get("/c/banks", headers={"X-Haechi-Format": "legacy"}).json()[0]["description"] == ""
    assert client.get("/c/banks").json() == [{"name": "KEPT", "matching_enabled_ratio": 1.0}]
    assert client.get("/c/banks", headers={"X-Haechi-Format": "v2"}).status_code == 400


def test_bank_rename_and_matching_ratio_are_applied_or_refused_never_ignored(api: Api) -> None:
    client, _, h = api
    assert client.post("/c/banks", json={"name": "MY_TEST_BANK"}).status_code == 201
    code = _pdq(31)
    assert client.post("/c/bank/MY_TEST_BANK/signal", json={"pdq": code}).status_code == 200
    assert client.put("/c/bank/MY_TEST_BANK", json={"name": "1_invalid_name"}).status_code == 400
    r = client.put("/c/bank/MY_TEST_BANK", json={"name": "MY_TEST_BANK_RENAMED"})
    assert r.status_code == 200 and r.json()["name"] == "MY_TEST_BANK_RENAMED"
    assert client.get("/c/bank/MY_TEST_BANK").status_code == 404
    # the bank's items went with it: lookups name the new bank at once
    assert list(client.get("/m/lookup", params={"signal_type": "pdq", "signal": code}).json()) == [
        "MY_TEST_BANK_RENAMED"]
    assert [b["name"] for b in h.list_banks()] == ["MY_TEST_BANK_RENAMED"]
    # the matching ratio is kept and applied (it was a 501 before): disabled, the bank matches
    # no lookup and no scan; bypass_coinflip lets an HMA client see it anyway, as in HMA
    q = {"signal_type": "pdq", "signal": code}
    r = client.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled": False})
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 0, r.text
    assert client.get("/m/lookup", params=q).json() == {}
    assert list(client.get("/m/lookup", params={**q, "bypass_coinflip": "true"}).json()) == ["MY_TEST_BANK_RENAMED"]
    assert client.get("/m/raw_lookup", params=q).json()["matches"]  # raw: disabled banks included, as HMA
    assert h.lookup("pdq", code) == []
    # a share: the draw is HMA's (seeded, repeatable); about that share of lookups match
    assert client.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled_ratio": 0.5}).json()[
        "matching_enabled_ratio"] == 0.5
    hits = sum(bool(client.get("/m/lookup", params={**q, "seed": str(i)}).json()) for i in range(40))
    assert 8 <= hits <= 32, hits
    assert client.get("/m/lookup", params={**q, "seed": "7"}).json() == client.get(
        "/m/lookup", params={**q, "seed": "7"}).json()
    assert h.lookup("pdq", code)  # Haechi's own lookups: a share above 0 is on
    assert client.post("/c/banks", json={"name": "OTHER", "enabled": False}).json() == {
        "name": "OTHER", "matching_enabled_ratio": 0.0}
    assert client.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled_ratio": 1.5}).status_code in (400, 422)
    assert client.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled_ratio": 1.0, "enabled": True}).json() == {
        "name": "MY_TEST_BANK_RENAMED", "matching_enabled_ratio": 1.0}
    assert client.get("/c/banks").json() == [{"name": "MY_TEST_BANK_RENAMED", "matching_enabled_ratio": 1.0},
                                             {"name": "OTHER", "matching_enabled_ratio": 0.0}]
    client.post("/c/banks", json={"name": "TAKEN"})
    assert client.put("/c/bank/MY_TEST_BANK_RENAMED", json={"name": "TAKEN"}).status_code == 403


# -- matching: HMA's shapes and the banks= filter (tests/test_match_api.py) ---------------------
def test_lookup_and_raw_lookup_answer_hmas_shape_with_the_banks_filter(api: Api) -> None:
    client, _, _ = api
    code = _pdq(41)
    ids = {}
    for bank in ("BANK_A", "BANK_B", "BANK_C"):
        client.post("/c/banks", json={"name": bank})
        ids[bank] = client.post(f"/c/bank/{bank}/signal", json={"pdq": code}).json()["id"]
    q = {"signal_type": "pdq", "signal": code}
    r = client.get("/m/lookup", params=q).json()
    assert r == {b: [{"bank_content_id": ids[b], "distance": "0"}] for b in ids}
    assert set(client.get("/m/lookup", params={**q, "banks": "BANK_A"}).json()) == {"BANK_A"}
    assert set(client.get("/m/lookup", params={**q, "banks": "BANK_A,BANK_C"}).json()) == {"BANK_A", "BANK_C"}
    assert client.get("/m/lookup", params={**q, "banks": "NON_EXISTENT_BANK"}).json() == {}
    raw = client.get("/m/raw_lookup", params=q).json()
    assert raw == {"matches": sorted(ids.values())}
    assert len(client.get("/m/raw_lookup", params={**q, "banks": "BANK_A"}).json()["matches"]) == 1
    assert len(client.get("/m/raw_lookup", params={**q, "banks": "BANK_A,BANK_B"}).json()["matches"]) == 2
    assert client.get("/m/raw_lookup", params={**q, "banks": "NON_EXISTENT_BANK"}).json() == {"matches": []}
    dist = client.get("/m/raw_lookup", params={**q, "include_distance": "true", "banks": "BANK_A,BANK_B"}).json()
    assert sorted(m["bank_content_id"] for m in dist["matches"]) == sorted([ids["BANK_A"], ids["BANK_B"]])
    assert all(m["distance"] == "0" for m in dist["matches"])
    legacy = client.get("/m/raw_lookup", params={**q, "include_distance": "true", "format": "legacy"}).json()
    assert {m["content_id"] for m in legacy["matches"]} == set(ids.values())
    assert client.get("/m/lookup", params={**q, "format": "legacy"}).json() == sorted(ids)
    # a near copy: its distance, as HMA writes it (a string)
    near = client.get("/m/lookup", params={"signal_type": "pdq", "signal": _pdq(41)[:-1] + "0"}).json()
    assert all(int(m["distance"]) <= 4 for ms in near.values() for m in ms)


def test_lookup_of_media_by_upload_and_url_is_keyed_by_signal_type(api: Api) -> None:
    client, _, _ = api
    jpeg = scene_jpeg(51)
    client.post("/c/banks", json={"name": "PHOTOS"})
    with serve({"/a.jpg": ("image/jpeg", jpeg), "/copy.jpg": ("image/jpeg", scene_jpeg(51, "resize"))}) as site:
        added = client.post("/c/bank/PHOTOS/content", params={"url": f"{site}/a.jpg", "content_type": "photo"})
        assert added.status_code == 200, added.text
        item = added.json()
        assert set(item) == {"id", "signals"} and set(item["signals"]) == {"pdq"}
        by_url = client.get("/m/lookup", params={"url": f"{site}/copy.jpg"}).json()
        assert list(by_url) == ["pdq"] and by_url["pdq"]["PHOTOS"][0]["bank_content_id"] == item["id"]
        only = client.get("/m/lookup", params={"url": f"{site}/copy.jpg", "signal_type": "pdq"}).json()
        assert only == by_url["pdq"]
    posted = client.post("/m/lookup", files={"photo": ("c.jpg", jpeg, "image/jpeg")}).json()
    assert posted["pdq"]["PHOTOS"] == [{"bank_content_id": item["id"], "distance": "0"}]
    assert client.post("/m/lookup", params={"banks": "OTHER"}, files={"photo": ("c.jpg", jpeg)}).json() == {
        "pdq": {}}
    # the same media again: HMA answers with the item (Haechi keeps one copy of a file per bank)
    again = client.post("/c/bank/PHOTOS/content", files={"photo": ("a.jpg", jpeg, "image/jpeg")}).json()
    assert again == item


# -- bank items: note, video_md5, get / update / delete by id ---------------------------------
def test_bank_items_by_id_with_note_and_video_md5(api: Api) -> None:
    client, _, h = api
    client.post("/c/banks", json={"name": "TEST_BANK_HASH_NOTE"})
    r = client.post("/c/bank/TEST_BANK_HASH_NOTE/signal", json={"pdq": _pdq(61), "note": "Hash from campaign ABC"})
    assert r.status_code == 200 and set(r.json()) == {"id", "signals"}
    cid = r.json()["id"]
    got = client.get(f"/c/bank/TEST_BANK_HASH_NOTE/content/{cid}").json()
    assert got["id"] == cid and got["note"] == "Hash from campaign ABC" and "signals" not in got
    assert got["bank"] == {"name": "TEST_BANK_HASH_NOTE", "matching_enabled_ratio": 1.0}
    with_sig = client.get(f"/c/bank/TEST_BANK_HASH_NOTE/content/{cid}", params={"include_signals": "true"}).json()
    assert with_sig["signals"] == {"pdq": _pdq(61)}
    assert client.post("/c/bank/TEST_BANK_HASH_NOTE/signal", json={"pdq": _pdq(62), "note": "x" * 256}
                       ).status_code == 400
    # the note is the entry's label in Haechi's own answers
    assert h.lookup("pdq", _pdq(61))[0]["label"] == "Hash from campaign ABC"
    # update and clear it; disable the item (0, or until a time) and enable it again (1)
    assert client.put(f"/c/bank/TEST_BANK_HASH_NOTE/content/{cid}", json={"note": "Updated note"}).json()[
        "note"] == "Updated note"
    assert "note" not in client.put(f"/c/bank/TEST_BANK_HASH_NOTE/content/{cid}", json={"note": ""}).json()
    q = {"signal_type": "pdq", "signal": _pdq(61)}
    for off in (0, int(time.time()) + 3600):
        r = client.put(f"/c/bank/TEST_BANK_HASH_NOTE/content/{cid}", json={"disable_until_ts": off})
        assert r.status_code == 200 and r.json()["disable_until_ts"] == off, r.text
        assert client.get("/m/lookup", params=q).json() == {}
        assert h.lookup("pdq", _pdq(61)) == []
        assert client.get("/m/raw_lookup", params=q).json() == {"matches": [cid]}  # raw: as HMA
    past = int(time.time()) - 10  # disabled until a time gone by: matches again
    assert client.put(f"/c/bank/TEST_BANK_HASH_NOTE/content/{cid}", json={"disable_until_ts": past}).status_code == 200
    assert client.get("/m/lookup", params=q).json() != {}
    assert client.put(f"/c/bank/TEST_BANK_HASH_NOTE/content/{cid}", json={"disable_until_ts": 9999999999}
                      ).status_code == 400  # HMA: at most 5 years ahead
    assert client.put(f"/c/bank/TEST_BANK_HASH_NOTE/content/{cid}", json={"disable_until_ts": 1}).json()[
        "disable_until_ts"] == 1
    assert client.get("/m/lookup", params=q).json() != {}
    # a video's MD5 under HMA's name: added and looked up
    vmd5 = hashlib.md5(b"a video").hexdigest()  # noqa: S324 - a content hash
    v = client.post("/c/bank/TEST_BANK_HASH_NOTE/signal", json={"video_md5": vmd5})
    assert v.status_code == 200, v.text
    assert client.get("/m/lookup", params={"signal_type": "video_md5", "signal": vmd5}).json() == {
        "TEST_BANK_HASH_NOTE": [{"bank_content_id": v.json()["id"], "distance": "0"}]}
    # delete by id: gone from lookups at once; deleting again deletes nothing
    assert client.delete(f"/c/bank/TEST_BANK_HASH_NOTE/content/{cid}").json() == {"deleted": 1}
    assert client.get("/m/lookup", params={"signal_type": "pdq", "signal": _pdq(61)}).json() == {}
    assert client.delete(f"/c/bank/TEST_BANK_HASH_NOTE/content/{cid}").json() == {"deleted": 0}
    assert client.get(f"/c/bank/TEST_BANK_HASH_NOTE/content/{cid}").status_code == 404
    assert client.get(f"/c/bank/NO_SUCH_BANK/content/{cid}").status_code == 404


def test_an_uploaded_items_entries_are_one_item(api: Api) -> None:
    """A banked photo is several entries in Haechi (sha256, md5, pdq): to HMA clients one item,
    whose id lookups answer and whose deletion removes every entry."""
    client, _, h = api
    client.post("/c/banks", json={"name": "UPLOADS"})
    jpeg = scene_jpeg(71)
    r = client.post("/c/bank/UPLOADS/content", files={"photo": ("a.jpg", jpeg, "image/jpeg")},
                    data={"note": "Reported by user X"})
    assert r.status_code == 200, r.text
    cid = r.json()["id"]
    got = client.get(f"/c/bank/UPLOADS/content/{cid}", params={"include_signals": "true"}).json()
    assert got["note"] == "Reported by user X"
    assert got["signals"]["sha256"] == hashlib.sha256(jpeg).hexdigest() and "pdq" in got["signals"]
    raw = client.get("/m/raw_lookup", params={"signal_type": "md5", "signal": hashlib.md5(jpeg).hexdigest()})  # noqa: S324
    assert raw.json() == {"matches": [cid]}
    # HMA metadata: kept (encrypted), given back to caseworkers, never to partners
    meta = {"content_id": "ext-7", "content_uri": "https://example.com/item/7", "json": {"k": {"n": 1}}}
    other = scene_jpeg(72)
    r = client.post("/c/bank/UPLOADS/content", files={"photo": ("b.jpg", other, "image/jpeg")},
                    data={"metadata": json.dumps(meta)})
    assert r.status_code == 200, r.text
    mid = r.json()["id"]
    assert client.get(f"/c/bank/UPLOADS/content/{mid}").json()["metadata"] == meta
    assert "metadata" not in client.get(f"/c/bank/UPLOADS/content/{mid}", params={"include_metadata": "false"}).json()
    assert "metadata" not in client.get(f"/c/bank/UPLOADS/content/{cid}").json()  # none given: none shown
    with h.db.session() as s:
        from sqlalchemy import text
        stored = s.execute(text("SELECT metadata_ciphertext FROM bank_entries WHERE id = :i"), {"i": mid}).scalar()
    assert stored and b"ext-7" not in bytes(stored)  # encrypted at rest
    assert client.post("/c/bank/UPLOADS/content", json={"metadata": {"invalid_metadata": 5}},
                       params={"url": "http://127.0.0.1:1/x.jpg"}).status_code == 400
    assert client.delete(f"/c/bank/UPLOADS/content/{cid}").json() == {"deleted": 1}
    assert client.delete(f"/c/bank/UPLOADS/content/{mid}").json() == {"deleted": 1}
    assert h.list_banks()[0]["entries"] == 0


# -- status, compare, index, configuration --------------------------------------------------------
def test_status_compare_index_and_configuration_routes(api: Api) -> None:
    client, _, _ = api
    anonymous = TestClient(client.app)
    assert anonymous.get("/status/live").text == "I-AM-ALIVE"
    specimen1 = "facd8bcb2a49bcebdec1985298d5fe84bcd006c187c598c720c3c087b3fdb318"
    specimen2 = "facd8bcb2a49bcebdec1985228d5ae84bcd006c187c598c720c2b087b3fdb318"
    assert client.post("/m/compare", json={"pdq": [specimen1, specimen2]}).json() == {"pdq": [True, {"distance": 9}]}
    bads: list[Any] = [["banana"], {"pdq": "banana"}, {"pdq": []}, {"pdq": ["banana", "banana"]},
                       {"pdq": [specimen1, specimen2, specimen1]}, {"tmk": ["a", "b"]}]
    for bad in bads:
        r = client.post("/m/compare", json=bad)
        assert r.status_code == 400 and r.json()["message"], bad
    client.post("/c/banks", json={"name": "IDX"})
    client.post("/c/bank/IDX/signal", json={"pdq": _pdq(81)})
    status = client.get("/m/index/status").json()
    assert status["pdq"]["present"] is True and status["pdq"]["size"] >= 1
    assert client.get("/m/index/status", params={"signal_type": "nope"}).status_code == 400
    assert {"pdq", "video_md5"} <= {t["name"] for t in client.get("/c/signal_type").json()}
    assert client.get("/c/content_type").json() == [{"name": "photo", "enabled": True},
                                                    {"name": "video", "enabled": True}]
    assert client.get("/c/exchanges").json() == []


# -- failures of other systems: 502, the same JSON error shape --------------------------------
@pytest.fixture
def failing_site() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            self.send_response(503 if self.path.startswith("/down") else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_url_that_cannot_be_fetched_is_502_and_a_bad_url_400(api: Api, failing_site: str) -> None:
    client, _, _ = api
    import socket

    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    client.post("/c/banks", json={"name": "B"})
    for path in ("/h/hash", "/m/lookup"):
        for url in (f"http://127.0.0.1:{closed}/x.jpg", f"{failing_site}/down.jpg"):
            r = client.get(path, params={"url": url})
            assert r.status_code == 502, (path, url, r.text)
            assert r.json()["error"] == "RemoteError" and url in r.json()["message"]
    r = client.post("/c/bank/B/content", params={"url": f"{failing_site}/down.jpg"})
    assert r.status_code == 502 and r.json()["error"] == "RemoteError"
    for url in (f"{failing_site}/missing.jpg", "file:///etc/passwd", "http://169.254.169.254/x"):
        r = client.get("/h/hash", params={"url": url})
        assert r.status_code == 400 and r.json()["error"] == "InputError", url


# -- HMA clients without a token: only from configured networks -------------------------------
def test_trusted_networks_grant_the_partner_role_only_when_configured(tmp_path: Path) -> None:
    code = _pdq(91)
    with Haechi(home=tmp_path / "off", workers=1) as h:
        h.create_bank("B")
        h.add_signals("B", [("pdq", code)])
        off = TestClient(create_app(h), client=("10.1.2.3", 5000))
        assert off.get("/m/lookup", params={"signal_type": "pdq", "signal": code}).status_code == 401
    with Haechi(home=tmp_path / "on", workers=1, hma_trusted_networks="10.0.0.0/8, 192.168.7.7") as h:
        h.create_bank("B")
        h.add_signals("B", [("pdq", code)])
        app = create_app(h)
        inside = TestClient(app, client=("10.1.2.3", 5000))
        r = inside.get("/m/lookup", params={"signal_type": "pdq", "signal": code})
        assert r.status_code == 200 and list(r.json()) == ["B"]
        assert inside.get("/api/me").json()["role"] == "partner"
        assert inside.post("/c/banks", json={"name": "NEW"}).status_code == 403  # a partner may not curate
        assert inside.get("/api/cases").status_code == 403
        assert inside.get("/m/lookup", headers={"Authorization": "Bearer hc_forged"},
                          params={"signal_type": "pdq", "signal": code}).status_code == 401  # a token still counts
        outside = TestClient(app, client=("192.168.7.8", 5000))
        assert outside.get("/m/lookup", params={"signal_type": "pdq", "signal": code}).status_code == 401
        assert TestClient(app, client=("192.168.7.7", 1)).get("/c/banks").status_code == 200
    with Haechi(home=tmp_path / "bad", workers=1, hma_trusted_networks="10.0.0.0/8,everyone") as h, \
            pytest.raises(ConfigError, match="everyone"):
        create_app(h)


def test_hma_api_format_setting_sets_the_default_shape(tmp_path: Path) -> None:
    code = _pdq(92)
    with Haechi(home=tmp_path / "h", workers=1, hma_api_format="legacy",
                hma_trusted_networks="127.0.0.0/8") as h:
        h.create_bank("B")
        h.add_signals("B", [("pdq", code)])
        client = TestClient(create_app(h), client=("127.0.0.1", 1))
        assert client.get("/m/lookup", params={"signal_type": "pdq", "signal": code}).json() == ["B"]
        assert list(client.get("/m/lookup", params={"signal_type": "pdq", "signal": code, "format": "hma"}
                               ).json()) == ["B"]
    with Haechi(home=tmp_path / "x", workers=1, hma_api_format="v3") as h, pytest.raises(ConfigError):
        create_app(h)


def test_index_status_counts_each_hash_once(sqlite_haechi: Haechi) -> None:
    """HMA's end-to-end test reads ``/m/index/status`` size after adding 16 hashes: 16. The
    serving process indexes a hash as it is added, and the next refresh must not add it again."""
    h = sqlite_haechi
    client = TestClient(create_app(h), client=("127.0.0.1", 1))
    h.create_bank("B")
    h.pdq_index()
    h.add_signals("B", [("pdq", _pdq(i)) for i in range(5)])
    with h.db.session() as s:
        accounts.add_user(s, "a", "admin", None)
    with h.db.session() as s:
        token = accounts.create_token(s, "a")
    status = client.get("/m/index/status", headers={"Authorization": f"Bearer {token}"}).json()
    assert status["pdq"]["size"] == 5


def test_a_disabled_item_or_bank_matches_through_no_door(api: Api, tmp_path: Path) -> None:
    """Disabling is one rule for every matcher: HMA's media lookup (the scan matcher), Haechi's
    scan and hash lookups skip a disabled item, and a bank at ratio 0, until enabled again."""
    client, _, h = api
    client.post("/c/banks", json={"name": "DOORS"})
    jpeg = scene_jpeg(81)
    cid = client.post("/c/bank/DOORS/content", files={"photo": ("a.jpg", jpeg, "image/jpeg")}).json()["id"]
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(jpeg)

    def found() -> tuple[bool, bool]:
        media = client.post("/m/lookup", files={"photo": ("q.jpg", jpeg, "image/jpeg")}).json()
        return bool(media.get("pdq")), bool(next(iter(h.scan([copy])))["matches"])

    assert found() == (True, True)
    client.put(f"/c/bank/DOORS/content/{cid}", json={"disable_until_ts": 0})
    assert found() == (False, False)
    client.put(f"/c/bank/DOORS/content/{cid}", json={"disable_until_ts": 1})
    assert found() == (True, True)
    client.put("/c/bank/DOORS", json={"enabled": False})
    assert found() == (False, False)
    client.put("/c/bank/DOORS", json={"enabled": True})
    assert found() == (True, True)


def test_concurrent_writes_and_lookups_index_each_hash_once(tmp_path: Path, database_url: str) -> None:
    """A server adds hashes in some request threads while others look up: every hash is in the
    index once. A write used to index its entries itself after committing, while a lookup's
    refresh could fetch the same committed entries first: both added them (32 for 16)."""
    from concurrent.futures import ThreadPoolExecutor

    with Haechi(home=tmp_path / "h", database_url=database_url, workers=1) as h:
        h.create_bank("B")
        h.pdq_index()
        codes = [_pdq(1000 + i) for i in range(48)]
        stop = threading.Event()

        def look() -> None:
            while not stop.is_set():
                h.lookup("pdq", codes[0])

        with ThreadPoolExecutor(6) as ex:
            lookers = [ex.submit(look) for _ in range(3)]
            writers = [ex.submit(h.add_signals, "B", [("pdq", c)]) for c in codes]
            for w in writers:
                w.result()
            stop.set()
            for f in lookers:
                f.result()
        assert len(h.refresh_index()) == len(set(codes))


# -- found by a fresh tester against `haechi serve` ---------------------------------------------------
@pytest.mark.parametrize("route", ["/h/hash", "/m/lookup", "/c/bank/TWO_FILES/content"])
def test_a_request_with_two_files_is_refused_never_half_done(api: Api, route: str) -> None:
    """HMA: "Only one file allowed per request". Haechi hashed the first file of /h/hash and banked
    the second of /c/bank/NAME/content, answering 200 about one without a word on the other."""
    client, _, h = api
    client.post("/c/banks", json={"name": "TWO_FILES"})
    pairs = [[("photo", ("a.jpg", scene_jpeg(31), "image/jpeg")), ("photo", ("b.jpg", scene_jpeg(32), "image/jpeg"))],
             [("photo", ("a.jpg", scene_jpeg(31), "image/jpeg")), ("video", ("b.jpg", scene_jpeg(32), "image/jpeg"))],
             [("file", ("a.jpg", scene_jpeg(31), "image/jpeg")), ("other", ("b.jpg", scene_jpeg(32), "image/jpeg"))]]
    for files in pairs:
        r = client.post(route, files=files)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "InputError" and "a.jpg" in r.json()["message"] and "b.jpg" in r.json()["message"]
    assert [b["entries"] for b in h.list_banks()] == [0]
    one = client.post(route, files={"photo": ("a.jpg", scene_jpeg(31), "image/jpeg")})
    assert one.status_code == 200, one.text


def test_adding_a_signal_takes_a_null_note_and_refuses_a_non_string_as_hma(api: Api) -> None:
    client, _, h = api
    client.post("/c/banks", json={"name": "NOTES"})
    r = client.post("/c/bank/NOTES/signal", json={"pdq": _pdq(41), "note": None})
    assert r.status_code == 200, r.text
    assert client.get(f"/c/bank/NOTES/content/{r.json()['id']}").json().get("note") is None
    for body in ({"pdq": _pdq(42), "note": 5}, {"pdq": 7}, {"pdq": None}):
        bad = client.post("/c/bank/NOTES/signal", json=body)
        assert bad.status_code == 400 and bad.json()["error"] == "InputError", (body, bad.text)
    assert h.list_banks()[0]["entries"] == 1
