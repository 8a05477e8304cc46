"""REST API: HMA-compatible flow, Haechi routes, every route x every role, bad input is 4xx JSON."""

from __future__ import annotations

import hashlib
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from haechi import Haechi
from haechi.api.app import create_app
from haechi.demo.samples import scene
from haechi.demo.site import serve
from haechi.services import accounts
from haechi.signals.pdq import pdq_of
from tests.helpers import scene_jpeg as _jpeg
from tests.helpers import served

ROLES = ["admin", "caseworker", "reviewer", "partner", "victim"]
#: a complete centre identity: approve and send refuse a placeholder sender (issue #18)
CENTRE = {"sender_name": "Kim Ji-won", "sender_org": "Seoul Digital Sex Crime Victim Support Centre",
          "sender_email": "takedown@seoul-centre.kr", "sender_phone": "+82 2 1234 5678",
          "sender_basis": "kr_deletion_support"}


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, dict[str, str], Haechi]]:
    h = Haechi(home=tmp_path / "home", database_url=database_url, workers=1, **CENTRE)
    tokens = {}
    with h.db.session() as s:
        for role in ROLES:
            accounts.add_user(s, f"{role}-1", role, "correct horse battery staple")
    with h.db.session() as s:
        for role in ROLES:
            tokens[role] = accounts.create_token(s, f"{role}-1", "test")
    client = TestClient(create_app(h, lookup_rate=10_000))
    yield client, tokens, h
    h.close()


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def test_hma_flow_hash_bank_signal_lookup(api: tuple[TestClient, dict[str, str], Haechi]) -> None:
    client, tokens, _ = api
    cw = _auth(tokens["caseworker"])
    assert client.get("/status").text == "I-AM-ALIVE"
    r = client.post("/c/banks", json={"name": "VICTIM_017", "description": "reported"}, headers=cw)
    assert r.status_code == 201 and r.json()["name"] == "VICTIM_017"
    original = _jpeg(40)
    r = client.post("/c/bank/VICTIM_017/content", files={"photo": ("o.jpg", original, "image/jpeg")},
                    headers=cw)
    assert r.status_code == 200, r.text
    content_id = r.json()["id"]
    # a platform (partner token) hashes a re-upload and looks it up, HMA-style
    partner = _auth(tokens["partner"])
    copy = _jpeg(40, "resize")
    hashed = client.post("/h/hash", files={"photo": ("c.jpg", copy, "image/jpeg")}, headers=partner).json()
    assert len(hashed["pdq"]) == 64 and len(hashed["md5"]) == 32
    r = client.get("/m/lookup", params={"signal_type": "pdq", "signal": hashed["pdq"], "format": "legacy"},
                   headers=partner)
    assert r.json() == ["VICTIM_017"]
    r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": hashed["pdq"],
                                            "include_distance": "true"}, headers=partner)
    matches = r.json()["matches"]
    assert matches and int(matches[0]["distance"]) <= 31
    assert content_id in client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": hashed["pdq"]},
                                    headers=partner).json()["matches"]
    r = client.post("/m/lookup", params={"format": "legacy"}, files={"photo": ("c.jpg", copy, "image/jpeg")},
                    headers=partner)
    assert r.json()["pdq"] == ["VICTIM_017"]
    # a hash-only bank (victim-made hashes): POST /c/bank/{name}/signal, immediately matchable
    client.post("/c/banks", json={"name": "HASHES_ONLY"}, headers=cw)
    other = pdq_of(__import__("numpy").asarray(scene(77))).hash
    r = client.post("/c/bank/HASHES_ONLY/signal", json={"pdq": other}, headers=cw)
    assert r.status_code == 200 and r.json()["id"]
    assert client.get("/m/lookup", params={"signal_type": "pdq", "signal": other, "format": "legacy"},
                      headers=partner).json() == ["HASHES_ONLY"]
    unrelated = pdq_of(__import__("numpy").asarray(scene(78))).hash
    assert client.get("/m/lookup", params={"signal_type": "pdq", "signal": unrelated, "format": "legacy"},
                      headers=partner).json() == []
    r = client.get("/api/lookup", params={"signal_type": "md5", "signal": __import__("hashlib").md5(original)
                                          .hexdigest()}, headers=partner)
    assert r.json()["matches"][0]["bank"] == "VICTIM_017"
    r = client.put("/c/bank/HASHES_ONLY", params={"format": "legacy"}, json={"description": "from her phone"},
                   headers=cw)
    assert r.json()["description"] == "from her phone"
    assert client.delete("/c/bank/HASHES_ONLY", headers=cw).status_code == 200
    assert client.get("/c/bank/HASHES_ONLY", headers=partner).status_code == 404


def test_bad_input_is_4xx_json_never_500(api: tuple[TestClient, dict[str, str], Haechi]) -> None:
    client, tokens, _ = api
    cw = _auth(tokens["caseworker"])
    client.post("/c/banks", json={"name": "B"}, headers=cw)
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("get", "/m/lookup", {"params": {"signal_type": "pdq", "signal": "zz"}}),
        ("get", "/m/lookup", {"params": {"signal_type": "tmk", "signal": "00"}}),
        ("get", "/m/lookup", {}),
        ("get", "/m/raw_lookup", {"params": {"signal_type": "pdq"}}),
        ("post", "/c/banks", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),
        ("post", "/c/banks", {"json": {"name": ""}}),
        ("post", "/c/banks", {"json": {"name": "B"}}),
        ("get", "/c/bank/NOPE", {}),
        ("post", "/c/bank/B/signal", {"json": {"pdq": "1234"}}),
        ("post", "/c/bank/B/signal", {"json": {}}),
        ("post", "/c/bank/NOPE/signal", {"json": {"md5": "0" * 32}}),
        ("post", "/h/hash", {"files": {"photo": ("x.jpg", b"not an image", "image/jpeg")}}),
        ("post", "/h/hash", {}),
        ("post", "/c/bank/B/content", {"files": {"photo": ("x.jpg", b"\xff\xd8\xff" + b"0" * 100, "image/jpeg")}}),
        ("get", "/h/hash", {"params": {"url": "http://127.0.0.1:1/x.jpg"}}),
        ("get", "/h/hash", {"params": {"url": "file:///etc/passwd"}}),
    ]
    for method, path, kwargs in cases:
        kwargs.setdefault("headers", {}).update(cw)
        r = getattr(client, method)(path, **kwargs)
        assert 400 <= r.status_code < 500, (path, kwargs, r.status_code, r.text)
        body = r.json()
        assert "error" in body and body.get("message"), (path, body)


# every route, every role: (method, path, kwargs, permission)
def _routes() -> list[tuple[str, str, dict[str, Any], str | None]]:
    img = _jpeg(5)
    return [
        ("get", "/status", {}, None),
        ("get", "/status/live", {}, None),
        ("get", "/api/me", {}, "any"),
        ("get", "/h/hash", {"params": {"url": "http://127.0.0.1:1/"}}, "hash"),
        ("post", "/h/hash", {"files": {"photo": ("a.jpg", img, "image/jpeg")}}, "hash"),
        ("get", "/m/lookup", {"params": {"signal_type": "md5", "signal": "0" * 32}}, "lookup"),
        ("post", "/m/lookup", {"files": {"photo": ("a.jpg", img, "image/jpeg")}}, "lookup"),
        ("get", "/m/raw_lookup", {"params": {"signal_type": "md5", "signal": "0" * 32}}, "lookup"),
        ("get", "/api/lookup", {"params": {"signal_type": "md5", "signal": "0" * 32}}, "lookup"),
        ("post", "/m/compare", {"json": {"md5": ["0" * 32, "1" * 32]}}, "hash"),
        ("get", "/m/index/status", {}, "lookup"),
        ("get", "/c/signal_type", {}, "bank.read"),
        ("get", "/c/content_type", {}, "bank.read"),
        ("get", "/c/exchanges", {}, "bank.read"),
        ("get", "/c/banks", {}, "bank.read"),
        ("post", "/c/banks", {"json": {"name": "NEW"}}, "bank.write"),
        ("get", "/c/bank/AUTHZ", {}, "bank.read"),
        ("get", "/api/banks/AUTHZ/signals", {}, "bank.read"),
        ("put", "/c/bank/AUTHZ", {"json": {"description": "x"}}, "bank.write"),
        ("post", "/c/bank/AUTHZ/signal", {"json": {"md5": "1" * 32}}, "bank.write"),
        ("post", "/c/bank/AUTHZ/content", {"files": {"photo": ("a.jpg", img, "image/jpeg")}}, "bank.write"),
        ("get", "/c/bank/AUTHZ/content/999999", {}, "bank.read"),
        ("put", "/c/bank/AUTHZ/content/999999", {"json": {"note": "x"}}, "bank.write"),
        ("delete", "/c/bank/AUTHZ/content/999999", {}, "bank.write"),
        ("delete", "/c/bank/AUTHZ", {}, "bank.write"),
        ("get", "/api/cases", {}, "cases.read"),
        ("post", "/api/cases", {"json": {"victim_ref": "V-authz"}}, "cases"),
        ("get", "/api/cases/CASE", {}, "cases.read"),
        ("post", "/api/cases/CASE/items", {"json": {"urls": ["http://192.0.2.1/x"]}}, "cases"),
        ("post", "/api/notices", {"json": {"item_ids": [999999], "regime": "kr", "lang": "ko"}}, "cases"),
        ("post", "/api/notices/999999/approve", {}, "cases"),
        ("get", "/api/due", {}, "cases.read"),
        ("get", "/api/cases/CASE/evidence", {}, "evidence"),
        ("get", "/api/evidence/verify", {}, "evidence"),
        ("get", "/api/stats", {}, "cases.read"),
        ("get", "/api/jobs", {}, "scan"),
        ("post", "/api/victim/submissions", {"json": {"files": [{"sha256": "a" * 64, "md5": "b" * 32}]}}, None),
    ]


def test_authorisation_table_covers_every_api_route(api: tuple[TestClient, dict[str, str], Haechi]) -> None:
    client, _, _ = api
    import re

    spec = client.get("/openapi.json").json()["paths"]
    served = {(method, re.sub(r"\{[^}]+\}", "X", path)) for path, ops in spec.items() for method in ops
              if not path.startswith("/web")}
    tabled = {(method, re.sub(r"/(AUTHZ|CASE|999999)(?=/|$)", "/X", path)) for method, path, _, _ in _routes()}
    assert served - tabled == set(), "routes missing from the authorisation table"


@pytest.mark.parametrize("role", [None, *ROLES])
def test_authorisation_table(api: tuple[TestClient, dict[str, str], Haechi], role: str | None) -> None:
    client, tokens, h = api
    case = h.create_case(victim_ref="V-table")["case"]
    for method, path, kwargs, permission in _routes():
        path = path.replace("CASE", case)
        if "AUTHZ" in path and not any(b["name"] == "AUTHZ" for b in h.list_banks()):
            h.create_bank("AUTHZ")
        if path == "/c/banks" and method == "post" and any(b["name"] == "NEW" for b in h.list_banks()):
            h.delete_bank("NEW")
        kw = dict(kwargs)
        kw["headers"] = _auth(tokens[role]) if role else {}
        r = getattr(client, method)(path, **kw)
        if permission is None:
            allowed = True
        elif role is None:
            allowed = False
        else:
            allowed = permission == "any" or permission in accounts.ROLES[role]
        if allowed:
            assert r.status_code not in (401, 403), (role, method, path, r.status_code, r.text)
        else:
            assert r.status_code == (401 if role is None else 403), (role, method, path, r.status_code)


def test_revoked_and_disabled_tokens_and_rate_limit(tmp_path: Path) -> None:
    with Haechi(home=tmp_path / "home", workers=1) as h:
        with h.db.session() as s:
            accounts.add_user(s, "platform-x", "partner", None)
            accounts.add_user(s, "cw", "caseworker", "correct horse battery staple")
        with h.db.session() as s:
            t1 = accounts.create_token(s, "platform-x")
            t2 = accounts.create_token(s, "cw")
        client = TestClient(create_app(h, lookup_rate=1.0))
        q = {"signal_type": "md5", "signal": "0" * 32}
        codes = [client.get("/m/lookup", params=q, headers=_auth(t1)).status_code for _ in range(15)]
        assert codes[0] == 200 and 429 in codes
        with h.db.session() as s:
            accounts.revoke_token(s, t1)
        assert client.get("/c/banks", headers=_auth(t1)).status_code == 401
        with h.db.session() as s:
            accounts.disable_user(s, "cw")
        assert client.get("/c/banks", headers=_auth(t2)).status_code == 401
        assert client.get("/c/banks", headers=_auth("hc_forged")).status_code == 401
        r = client.get("/openapi.json")
        paths = r.json()["paths"]
        assert {"/h/hash", "/m/lookup", "/m/raw_lookup", "/c/banks", "/c/bank/{name}", "/c/bank/{name}/content",
                "/c/bank/{name}/signal", "/status"} <= set(paths)


def test_user_and_token_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from haechi.cli.main import app

    runner = CliRunner()
    home = ["--home", str(tmp_path / "h")]
    r = runner.invoke(app, ["user", "add", "kim", "--role", "caseworker", "--password-stdin", *home],
                      input="a long enough passphrase\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["user", "add", "lee", "--role", "boss", "--password-stdin", *home], input="x" * 20)
    assert r.exit_code == 2 and "role" in r.output
    r = runner.invoke(app, ["user", "add", "short", "--role", "reviewer", "--password-stdin", *home], input="abc\n")
    assert r.exit_code == 2 and "12" in r.output
    r = runner.invoke(app, ["token", "create", "kim", "--name", "laptop", *home])
    token = r.output.strip()
    assert r.exit_code == 0 and token.startswith("hc_")
    with Haechi(home=tmp_path / "h") as h, h.db.session() as s:
        assert accounts.authenticate_token(s, token).role == "caseworker"  # type: ignore[union-attr]
        assert accounts.authenticate_password(s, "kim", "a long enough passphrase") is not None
        assert accounts.authenticate_password(s, "kim", "wrong") is None
    r = runner.invoke(app, ["user", "list", "--json", *home])
    assert '"kim"' in r.output and "passphrase" not in r.output


def test_admin_actions_are_in_the_audit_log(tmp_path: Path) -> None:
    import getpass
    import json as _json

    from typer.testing import CliRunner

    from haechi.cli.main import app
    from haechi.evidence.custody import rows_of

    runner = CliRunner()
    home = ["--home", str(tmp_path / "h")]
    assert runner.invoke(app, ["user", "add", "park", "--role", "partner", *home]).exit_code == 0
    token = runner.invoke(app, ["token", "create", "park", "--name", "T&S", *home]).output.strip()
    assert runner.invoke(app, ["token", "revoke", token, *home]).exit_code == 0
    assert runner.invoke(app, ["user", "disable", "park", *home]).exit_code == 0
    with Haechi(home=tmp_path / "h") as h:
        with h.db.session() as s:
            admin = [r for r in rows_of(s) if r["action"] == "admin"]
        assert [_json.loads(r["details"])["op"] for r in admin] == ["user_add", "token_create", "token_revoke",
                                                                     "user_disable"]
        assert all(r["actor"] == getpass.getuser() for r in admin)
        assert token not in _json.dumps(admin)  # the log names the token by a hash prefix, never the secret
        assert h.verify_custody()["ok"]


def test_case_work_over_the_api(api: tuple[TestClient, dict[str, str], Haechi], tmp_path: Path) -> None:
    import zipfile

    from haechi.evidence.package import verify_package

    client, tokens, h = api
    jpeg = _jpeg(41)
    cw = _auth(tokens["caseworker"])
    local = TestClient(create_app(h, allow_private_urls=True))
    with serve({"/p": ("text/html", b'<img src="/m.jpg">'), "/m.jpg": ("image/jpeg", jpeg)}) as site:
        r = local.post("/api/cases", json={"victim_ref": "V-api", "contact": "010-0000-1111"}, headers=cw)
        assert r.status_code == 201 and "010" not in r.text  # the contact is stored, never returned
        case = r.json()["case"]
        r = local.post(f"/api/cases/{case}/items", json={"urls": [f"{site}/p"]}, headers=cw)
        assert r.status_code == 200, r.text
        item = local.get(f"/api/cases/{case}", headers=cw).json()["items"][0]
        assert item["status"] == "found" and item["media"]
        notice = local.post("/api/notices", json={"item_ids": [item["id"]], "regime": "kr", "lang": "ko",
                                                  "recipient": "abuse@host.example"}, headers=cw)
        assert notice.status_code == 201, notice.text
        nid = notice.json()["id"]
        reviewer = _auth(tokens["reviewer"])
        assert local.post(f"/api/notices/{nid}/approve", headers=reviewer).status_code == 403
        assert local.post(f"/api/notices/{nid}/approve", headers=cw).status_code == 400  # four-eyes: the drafter
        approved = local.post(f"/api/notices/{nid}/approve", headers=_auth(tokens["admin"]))
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        assert local.get("/api/stats", headers=reviewer).json()["items_found"] >= 1
        pkg = local.get(f"/api/cases/{case}/evidence", headers=cw)
        assert pkg.status_code == 200 and pkg.headers["content-type"] == "application/zip"
        (tmp_path / "p.zip").write_bytes(pkg.content)
        assert zipfile.is_zipfile(tmp_path / "p.zip") and verify_package(tmp_path / "p.zip")["ok"]
        assert local.get("/api/evidence/verify", headers=cw).json()["ok"]
        sub = local.post("/api/victim/submissions", json={"files": [
            {"kind": "image", "sha256": "c" * 64, "md5": "d" * 32, "pdq": pdq_of(np.asarray(scene(41))).hash}]})
        assert sub.status_code == 201 and len(sub.json()["pin"]) == 12
        bad = local.post("/api/victim/submissions", json={"files": [{"sha256": "zz", "md5": "d" * 32}]})
        assert bad.status_code == 400 and bad.json()["error"] == "InputError"


def test_security_headers_and_declared_oversize_bodies(api: tuple[TestClient, dict[str, str], Haechi]) -> None:
    from haechi.api.app import MAX_UPLOAD

    client, tokens, _ = api
    for path, csp_part in (("/status", "default-src 'none'"), ("/web/login", "script-src 'self'"),
                           ("/docs", "script-src 'self'")):
        r = client.get(path)
        assert r.status_code == 200, path
        assert csp_part in r.headers["content-security-policy"], path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == "no-store"
    denied = client.get("/c/banks")  # errors carry them too
    assert denied.status_code == 401 and "frame-ancestors 'none'" in denied.headers["content-security-policy"]
    big = client.post("/h/hash", headers={**_auth(tokens["admin"]), "Content-Length": str(MAX_UPLOAD + 1)},
                      content=b"x")
    assert big.status_code == 413 and big.json()["error"] == "TooLarge"


@pytest.mark.slow
def test_serve_with_two_worker_processes(tmp_path: Path) -> None:
    """``haechi serve --workers 2``: both processes answer from the same home, and a bank
    change made after they started is visible to lookups (through the database)."""
    home = tmp_path / "home"
    with Haechi(home=home) as h:
        h.create_bank("b")
        with h.db.session() as s:
            accounts.add_user(s, "platform", "partner", None)
        with h.db.session() as s:
            token = accounts.create_token(s, "platform")
    with served(home, "--workers", "2") as (base, server):
        code = pdq_of(np.asarray(scene(41))).hash
        with Haechi(home=home) as h:
            h.add_signals("b", [("pdq", code)], label="late")
        with httpx.Client(base_url=base, headers=_auth(token), timeout=10) as client:
            for _ in range(40):  # new connections are spread over both processes
                r = client.get("/m/lookup", params={"signal_type": "pdq", "signal": code, "format": "legacy"},
                               headers={"Connection": "close"})
                assert r.status_code == 200 and r.json() == ["b"], r.text
        assert len(worker_pids(server.pid)) == 2  # the supervisor's two worker processes


@pytest.mark.slow
def test_platform_pulls_a_centres_bank_and_a_withdrawal_reaches_it(tmp_path: Path) -> None:
    """A platform running Haechi keeps a copy of a support centre's victim bank with
    ``haechi bank pull``; her copies match there; after she withdraws at the centre, the next
    pull deletes her hashes from the platform's copy too."""
    from typer.testing import CliRunner

    from haechi.cli.main import app

    centre, platform = tmp_path / "centre", tmp_path / "platform"
    photo = scene(91)
    raw = io.BytesIO()
    photo.save(raw, "PNG")
    with Haechi(home=centre) as h:
        sub = h.victim_submit([{"sha256": hashlib.sha256(raw.getvalue()).hexdigest(),
                                  "md5": hashlib.md5(raw.getvalue()).hexdigest(),  # noqa: S324 - a content hash
                                  "pdq": pdq_of(np.asarray(photo)).hash}])
        with h.db.session() as s:
            accounts.add_user(s, "platform-x", "partner", None)
        with h.db.session() as s:
            token = accounts.create_token(s, "platform-x")
    copy = tmp_path / "copy.jpg"
    photo.resize((photo.width // 2, photo.height // 2)).save(copy, quality=80)
    runner = CliRunner()
    pull = ["bank", "pull", "victim-submitted", "--json", "--home", str(platform)]
    with served(centre) as (base, _):
        refused = runner.invoke(app, [*pull, "--from", base], env={"HAECHI_REMOTE_TOKEN": token})
        assert refused.exit_code == 2 and "private" in refused.output  # loopback needs --allow-private
        bad = runner.invoke(app, [*pull, "--from", base, "--allow-private"], env={"HAECHI_REMOTE_TOKEN": "hc_x"})
        assert bad.exit_code == 2 and "401" in bad.output
        first = runner.invoke(app, [*pull, "--from", base, "--allow-private"], env={"HAECHI_REMOTE_TOKEN": token})
        assert first.exit_code == 0, first.output
        assert json.loads(first.output)["added"] == 3
        with Haechi(home=platform) as p:
            (row,) = list(p.scan([copy]))
            assert any(m["bank"] == "victim-submitted" for m in row["matches"]), row["matches"]
            assert all((m["label"] or "").startswith("pulled:") for m in row["matches"])
        again = runner.invoke(app, [*pull, "--from", base, "--allow-private"], env={"HAECHI_REMOTE_TOKEN": token})
        assert json.loads(again.output)["added"] == 0  # resumes from its cursor: nothing twice
        with Haechi(home=centre) as h:
            h.victim_withdraw(sub["case"])
        after = runner.invoke(app, [*pull, "--from", base, "--allow-private"], env={"HAECHI_REMOTE_TOKEN": token})
        assert json.loads(after.output)["removed"] == 3, after.output
    with Haechi(home=platform) as p:
        (row,) = list(p.scan([copy]))
        assert not any(m["bank"] == "victim-submitted" for m in row["matches"])
        assert p.list_banks()[0]["entries"] == 0


def test_multi_process_listener_is_tcp_so_responses_are_not_delayed() -> None:
    """uvicorn's own multi-process socket has proto 0, so asyncio never sets TCP_NODELAY and each
    keep-alive response waits ~40 ms on a delayed ACK (uvicorn #3149); ours says TCP."""

    from uvicorn import Config

    from haechi.api.asgi import tcp_listener

    plain = Config("haechi.api.asgi:create", factory=True, host="127.0.0.1", port=0).bind_socket()
    ours = tcp_listener(Config("haechi.api.asgi:create", factory=True, host="127.0.0.1", port=0))
    try:
        assert ours.proto == socket.IPPROTO_TCP and ours.type == socket.SOCK_STREAM
        assert ours.getsockname()[0] == "127.0.0.1"
        if plain.proto == socket.IPPROTO_TCP:  # uvicorn fixed: the workaround may go
            pytest.skip("uvicorn's bind_socket now sets IPPROTO_TCP itself")
    finally:
        plain.close()
        ours.close()


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes under ``pid`` (started by multiprocessing's spawn)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_bank_sync_feed_pages_adds_and_carries_withdrawals(api: tuple[TestClient, dict[str, str], Haechi]) -> None:
    """A platform keeps a copy of a bank with /api/banks/{name}/signals: adds in pages, then
    the removal when the victim withdraws — never a label."""
    client, tokens, h = api
    hdr = _auth(tokens["partner"])
    sub = client.post("/api/victim/submissions", json={"files": [
        {"sha256": "a" * 64, "md5": "b" * 32, "pdq": pdq_of(np.asarray(scene(90))).hash}]})
    assert sub.status_code == 201, sub.text
    h.create_bank("known")
    h.add_signals("known", [("md5", f"{i:032x}") for i in range(5)], label="sensitive label")
    copy: dict[int, tuple[str, str]] = {}
    cursor = None
    pages = 0
    while True:
        r = client.get("/api/banks/known/signals", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                       headers=hdr)
        assert r.status_code == 200, r.text
        body = r.json()
        assert "sensitive" not in r.text
        copy.update({x["entry_id"]: (x["signal_type"], x["signal"]) for x in body["signals"]})
        for gone in body["removed"]:
            copy.pop(gone, None)
        cursor, pages = body["next_cursor"], pages + 1
        if not body["more"]:
            break
    assert pages == 3 and sorted(v for _, v in copy.values()) == [f"{i:032x}" for i in range(5)]
    victim = client.get("/api/banks/victim-submitted/signals", headers=hdr).json()
    assert {x["signal_type"] for x in victim["signals"]} == {"sha256", "md5", "pdq"} and victim["removed"] == []
    # she withdraws: the next sync tells the platform to delete every one of her entries

    h.victim_withdraw(sub.json()["case"])
    after = client.get("/api/banks/victim-submitted/signals", params={"cursor": victim["next_cursor"]},
                       headers=hdr).json()
    assert sorted(after["removed"]) == sorted(x["entry_id"] for x in victim["signals"]) and after["signals"] == []
    assert client.get("/api/banks/known/signals", params={"cursor": "x.y"}, headers=hdr).status_code == 400
    assert client.get("/api/banks/nope/signals", headers=hdr).status_code == 404
