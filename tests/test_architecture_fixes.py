"""Behaviour fixes that came with the architecture work (issue #22, "Fix on the way"): each test
failed before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from haechi import Haechi
from haechi.cli.main import app
from haechi.config import resolve_settings
from haechi.errors import RemoteError


def test_an_unreachable_partner_feed_is_a_remote_error_exit_1_not_a_usage_error(tmp_path: Path) -> None:
    """A systemd timer must tell "retry later" (exit 1) from "misconfigured" (exit 2)."""
    with Haechi(home=tmp_path / "h") as h, pytest.raises(RemoteError):
        h.pull_bank("pulled", "http://127.0.0.1:9", "remote", "token", allow_private=True)
    runner = CliRunner()
    r = runner.invoke(app, ["bank", "pull", "pulled", "--from", "http://127.0.0.1:9", "--allow-private",
                            "--home", str(tmp_path / "h")], env={"HAECHI_REMOTE_TOKEN": "x"})
    assert r.exit_code == 1, r.output
    r = runner.invoke(app, ["bank", "remove", "no-such-bank", "1", "--home", str(tmp_path / "h")])
    assert r.exit_code == 2  # a misspelt bank stays a usage error


def test_a_failing_smtp_server_is_a_remote_error_and_nothing_is_marked_sent(tmp_path: Path) -> None:

    from haechi.cases import service as cases

    centre = {"sender_name": "Kim Ji-won", "sender_org": "Seoul Centre", "sender_email": "takedown@seoul-centre.kr",
              "sender_phone": "+82 2 1234 5678", "sender_basis": "kr_deletion_support"}
    with Haechi(home=tmp_path / "h", workers=1, **centre) as h:
        ref = h.create_case()["case"]
        with h.db.session() as s:  # a notice locates content by its public URL, never a local file
            item, _ = cases.add_item(s, ref, "https://imgur.com/found", [], "test")
        n = h.draft_notice([item["id"]], "us", "en", recipient="abuse@imgur.com")
        h.approve_notice(n["id"], by="second-person")
        with pytest.raises(RemoteError):
            h.send_notice(n["id"], smtp_host="127.0.0.1", smtp_port=9)
        assert h.show_case(ref)["items"][0]["status"] == "found"


@pytest.mark.parametrize("where", ["env", "toml"])
def test_local_features_is_settable_like_every_other_setting(tmp_path: Path, where: str) -> None:
    home = tmp_path / "h"
    home.mkdir()
    env = {"HAECHI_LOCAL_FEATURES": "0"} if where == "env" else {}
    if where == "toml":
        (home / "haechi.toml").write_text("local_features = false\n")
    assert resolve_settings(home, env=env).local_features is False
    assert resolve_settings(tmp_path / "other", env={}).local_features is True


def test_every_haechi_variable_is_a_setting_read_once_and_the_key_never_printed(tmp_path: Path) -> None:
    env = {"HAECHI_SENDER_NAME": "Kim Jiyoung", "HAECHI_SENDER_ORG": "Seoul Women's Association",
           "HAECHI_SENDER_EMAIL": "takedown@centre.example", "HAECHI_TSA_URL": "http://tsa.example",
           "HAECHI_RDAP_URL": "http://rdap.example", "HAECHI_FACE_CNN": "yes", "HAECHI_QUEUE": "q2",
           "HAECHI_VISIBILITY_TIMEOUT": "9", "HAECHI_RECHECK_EVERY": "60", "HAECHI_WATCH_POLL_EVERY": "5",
           "HAECHI_ALLOW_PRIVATE_URLS": "1", "HAECHI_SECRET_KEY": "c2VjcmV0LWtleS1ub3QtcHJpbnRlZA=="}
    s = resolve_settings(tmp_path / "h", env=env)
    assert (s.sender_name, s.sender_org, s.sender_email) == ("Kim Jiyoung", "Seoul Women's Association",
                                                             "takedown@centre.example")
    assert (s.tsa_url, s.rdap_url, s.face_cnn, s.queue, s.visibility_timeout) == (
        "http://tsa.example", "http://rdap.example", True, "q2", 9)
    assert (s.recheck_every, s.watch_poll_every, s.allow_private_urls) == (60.0, 5.0, True)
    assert s.secret_key == env["HAECHI_SECRET_KEY"] and env["HAECHI_SECRET_KEY"] not in repr(s)
    with Haechi(settings=s) as h:
        assert h.sender().name == "Kim Jiyoung"


def test_a_token_is_revoked_by_id_or_from_stdin_never_needing_argv(tmp_path: Path) -> None:
    """Issue #17 low 14: `haechi token revoke TOKEN` put the token in `ps` and the shell history."""
    home = ["--home", str(tmp_path / "h")]
    runner = CliRunner()
    with Haechi(home=tmp_path / "h") as h:
        h.add_user("platform", "partner", None)
        first, second = h.create_token("platform", "a"), h.create_token("platform", "b")
    listed = runner.invoke(app, ["token", "list", "--json", *home])
    assert listed.exit_code == 0 and first not in listed.output and '"name": "a"' in listed.output
    import json

    token_id = str(next(r["id"] for r in map(json.loads, listed.output.splitlines()) if r["name"] == "a"))
    assert runner.invoke(app, ["token", "revoke", token_id, *home]).exit_code == 0
    assert runner.invoke(app, ["token", "revoke", "--stdin", *home], input=second + "\n").exit_code == 0
    with Haechi(home=tmp_path / "h") as h:
        assert h.authenticate_token(first) is None and h.authenticate_token(second) is None


def test_no_500_for_a_header_injecting_recipient_or_absurdly_deep_json(tmp_path: Path) -> None:
    """Issue #17 low 11: CR/LF in a notice recipient, 100k-deep JSON to the victim form: 400s."""
    from fastapi.testclient import TestClient

    from haechi.api.app import create_app
    from haechi.cases import service as cases
    from haechi.errors import InputError

    with Haechi(home=tmp_path / "h", workers=1) as h:
        ref = h.create_case()["case"]
        with h.db.session() as s:
            item, _ = cases.add_item(s, ref, "https://imgur.com/x", [], "test")
        with pytest.raises(InputError):
            h.draft_notice([item["id"]], "us", "en", recipient="abuse@imgur.com\r\nBcc: leak@evil.example")
        client = TestClient(create_app(h, secure_cookies=False), raise_server_exceptions=False)
        import re

        page = client.get("/web/victim")
        csrf = re.search(r'<meta name="csrf" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        deep = "[" * 100_000 + "]" * 100_000
        r = client.post("/web/victim/submit", content=deep,
                        headers={"Content-Type": "application/json", "X-CSRF-Token": csrf})
        assert r.status_code == 400 and "not JSON" in r.text, (r.status_code, r.text[:200])


def test_a_sqlite_database_outside_the_home_is_created_owner_only(tmp_path: Path) -> None:
    """Issue #17 low 14: the home is 0700, but a database named elsewhere was world-readable."""
    elsewhere = tmp_path / "shared-disk" / "haechi.db"
    with Haechi(home=tmp_path / "h", database_url=f"sqlite:///{elsewhere}") as h:
        h.create_bank("b")
    for f in elsewhere.parent.iterdir():
        assert f.stat().st_mode & 0o077 == 0, (f.name, oct(f.stat().st_mode))


def test_deep_json_is_a_400_on_every_route_that_reads_json_by_hand(tmp_path: Path) -> None:
    """Red-team review of #17 low 11: the web submission caught a RecursionError, but
    ``/m/compare`` and an item's ``metadata`` form field did not — 100k-deep JSON was a 500."""
    from fastapi.testclient import TestClient

    from haechi.api.app import create_app

    deep = "[" * 100_000 + "]" * 100_000
    with Haechi(home=tmp_path / "h", workers=1) as h:
        h.add_user("kim", "caseworker", "correct-horse-battery")
        auth = {"Authorization": f"Bearer {h.create_token('kim', 't')}"}
        h.create_bank("B")
        client = TestClient(create_app(h, secure_cookies=False), raise_server_exceptions=False)
        pdq = "a" * 64
        calls = [client.post("/m/compare", content=deep, headers={**auth, "Content-Type": "application/json"}),
                 client.post("/c/bank/B/signal?signal_type=pdq&signal=" + pdq, content=deep,
                             headers={**auth, "Content-Type": "application/json"}),
                 client.post("/c/bank/B/content", data={"metadata": deep}, headers=auth),
                 client.post("/c/bank/B/content", content=deep, headers={**auth, "Content-Type": "application/json"})]
    assert [r.status_code for r in calls] == [400] * 4, [(r.status_code, r.text[:120]) for r in calls]
