"""Red-team review of #17 high 4: the live database held victim free text in the clear — a case's
victim reference (often her name), bank entry labels ("case C-2026-00001 / her name"), a bank's
description, a subject's reference and consent reference, watch sources, and the match labels
copied into case items. Every such column is now encrypted with the home's key
(``haechi.store.encrypted``); what users see reads the same."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from haechi import Haechi
from haechi.api.app import create_app
from haechi.cli.main import app as cli
from haechi.demo.samples import scene
from haechi.errors import NotFound
from haechi.index.faces import DIM
from haechi.services import accounts
from haechi.services import faces as face_service
from haechi.store.crypto import Cipher
from haechi.store.db import Database
from haechi.store.encrypted import blind_index, blind_indexes
from haechi.store.models import BankEntry, Case
from tests.conftest import PG_URL

NAME = "Choi Minji"


def _victim_work(h: Haechi, tmp_path: Path) -> str:
    """A caseworker's ordinary day, typing her name wherever a form lets her."""
    scene(90).save(tmp_path / "img.png")
    case = h.create_case(victim_ref=NAME, contact="010-0000-0000")["case"]
    h.create_bank("b", f"photos of {NAME}")
    list(h.add_to_bank("b", [tmp_path / "img.png"], label=f"case {case} / {NAME}"))
    with h.db.session() as s:
        face_service.enroll(s, h.cipher, f"{NAME} 1998", [np.ones(DIM, np.float32)],
                            consent_ref=f"consent form of {NAME}", enrolled_by="cw")
    folder = tmp_path / f"{NAME} export"
    folder.mkdir()
    (folder / "result.json").write_text("{}")
    h.add_watch(case, str(folder), "1d")
    (item,) = list(h.add_case_items(case, [str(tmp_path / "img.png")]))  # its matches carry the label
    assert item.get("error") is None, item
    return case


def _files_with(home: Path, needle: bytes) -> list[str]:
    return [str(f.relative_to(home)) for f in home.rglob("*") if f.is_file() and needle in f.read_bytes()]


def _pg_dump(database_url: str) -> bytes:
    url = make_url(database_url)
    schema = re.search(r"search_path=(\w+)", str(url.query.get("options", ""))).group(1)  # type: ignore[union-attr]
    pg = make_url(PG_URL)
    return subprocess.run(["pg_dump", "-h", pg.host or "127.0.0.1", "-p", str(pg.port or 5432),
                           "-U", pg.username or "postgres", "-n", schema, pg.database or "test"],
                          check=True, capture_output=True, timeout=120).stdout


def test_victim_free_text_is_in_no_file_and_no_dump_and_reads_the_same(tmp_path: Path, database_url: str) -> None:
    home = tmp_path / "home"
    sqlite = database_url.startswith("sqlite")  # SQLite: the home's own <home>/haechi.db
    with Haechi(home=home, database_url=None if sqlite else database_url, workers=1) as h:
        case = _victim_work(h, tmp_path)
        # what users see reads as typed: library, scan results, CLI and API
        assert h.list_cases()[0]["victim_ref"] == NAME
        assert h.show_case(case)["victim_ref"] == NAME
        assert h.bank_summary("b")["description"] == f"photos of {NAME}"
        assert {r["label"] for r in h.bank_summary("b")["recent"]} == {f"case {case} / {NAME}"}
        (row,) = list(h.scan([tmp_path / "img.png"]))
        assert {m["label"] for m in row["matches"]} == {f"case {case} / {NAME}"}
        with h.db.session() as s:
            (subject,) = face_service.list_subjects(s)
        assert (subject["subject"], subject["consent_ref"]) == (f"{NAME} 1998", f"consent form of {NAME}")
        assert h.list_watches()[0]["source"] == str(tmp_path / f"{NAME} export")
        with h.db.session() as s:
            accounts.add_user(s, "cw", "caseworker", "correct horse battery staple")
        with h.db.session() as s:
            token = accounts.create_token(s, "cw", "t")
        api = TestClient(create_app(h, secure_cookies=False))
        r = api.get(f"/api/cases/{case}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["victim_ref"] == NAME, r.text
        r = api.get("/web/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
        r = api.post("/web/login", data={"username": "cw", "password": "correct horse battery staple",
                                         "csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303, r.text
        page = api.get(f"/web/cases/{case}")
        assert page.status_code == 200 and NAME in page.text
        page = api.get("/web/banks/b")
        assert page.status_code == 200 and f"photos of {NAME}" in page.text, page.text[:300]
        if database_url.startswith("postgresql"):
            assert shutil.which("pg_dump"), "pg_dump is needed to check the PostgreSQL side"
            dump = _pg_dump(database_url)
            assert b"bank_entries" in dump and NAME.encode() not in dump
            assert b"photos of" not in dump and b"consent form" not in dump
    if sqlite:
        assert (home / "haechi.db").is_file()
        out = CliRunner().invoke(cli, ["case", "list", "--json", "--home", str(home)])
        assert out.exit_code == 0 and NAME in out.output, out.output
    # the database (with its -wal and -shm), the index, the evidence store, the key: no trace
    assert _files_with(home, NAME.encode()) == []
    assert _files_with(home, b"consent form") == [] and _files_with(home, b"photos of") == []


def test_comparing_an_encrypted_column_with_a_value_is_refused() -> None:
    """A randomised token never equals anything: a lookup by value must use the blind index."""
    with pytest.raises(TypeError, match="blind index"):
        _ = BankEntry.label == "x"
    with pytest.raises(TypeError, match="blind index"):
        _ = Case.victim_ref.in_(["x"])
    assert str(Case.victim_ref.is_(None)) == "cases.victim_ref IS NULL"


def test_blind_indexes_find_rows_under_every_key_of_a_rotation() -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key(), Fernet.generate_key()
    before = blind_index(Cipher(old), "pulled:7")
    assert blind_index(Cipher(old), "pulled:7") == before != blind_index(Cipher(old), "pulled:8")
    assert blind_indexes(Cipher(new + b"," + old), "pulled:7") == [blind_index(Cipher(new), "pulled:7"), before]
    assert NAME.encode() not in (blind_index(Cipher(old), NAME) or "").encode()


def test_migration_0025_encrypts_rows_written_before_it_and_rotation_reencrypts(tmp_path: Path,
                                                                                  database_url: str) -> None:
    url = database_url
    old = Database(url, migrate=False)
    old.migrate("0024_hma_item_state")
    sqlite = old.dialect == "sqlite"
    now = "2026-01-01 00:00:00+00:00"
    with old.engine.begin() as c:
        c.execute(text("INSERT INTO banks (name, description, created_at, matching_enabled_ratio)"
                       " VALUES ('b', :d, :t, 1.0)"), {"d": f"photos of {NAME}", "t": now})
        for sig in ("a" * 64, "b" * 64):
            c.execute(text("INSERT INTO bank_entries (bank_id, signal_type, signal, label, added_at, disable_until_ts)"
                           " VALUES (1, 'sha256', :s, :l, :t, 1)"), {"s": sig, "l": f"case X / {NAME}", "t": now})
        c.execute(text("DELETE FROM bank_entries WHERE signal = :s"), {"s": "b" * 64})  # id 2 handed out
        c.execute(text("INSERT INTO cases (case_ref, victim_ref, status, created_at, minor)"
                       " VALUES ('C-1', :v, 'open', :t, false)"), {"v": NAME, "t": now})
        c.execute(text("INSERT INTO subjects (subject_ref, consent_ref, enrolled_by, enrolled_at)"
                       " VALUES (:r, :c, 'cw', :t)"), {"r": f"{NAME} ref", "c": f"consent form of {NAME}", "t": now})
        c.execute(text("INSERT INTO watches (case_id, kind, source, every_seconds, created_at)"
                       " VALUES (1, 'url', :s, 3600, :t)"), {"s": f"https://example.org/{NAME}", "t": now})
    old.dispose()

    def raw() -> list[str]:
        db = Database(url, migrate=False)
        try:
            with db.engine.connect() as c:
                return [str(v) for q in ("SELECT description FROM banks", "SELECT label FROM bank_entries",
                                         "SELECT victim_ref FROM cases", "SELECT subject_ref FROM subjects",
                                         "SELECT consent_ref FROM subjects", "SELECT source FROM watches")
                        for v in c.execute(text(q)).scalars()]
        finally:
            db.dispose()

    with Haechi(home=tmp_path / "home", database_url=database_url, workers=1) as h:  # migrates to head
        assert h.list_cases()[0]["victim_ref"] == NAME
        assert h.bank_summary("b")["description"] == f"photos of {NAME}"
        assert h.export_bank("b") and f"case X / {NAME}" in "".join(h.export_bank("b"))
        assert h.list_watches()[0]["source"] == f"https://example.org/{NAME}"
        first = raw()
        assert len(first) == 6 and not any(NAME in v or "photos" in v for v in first), first
        (new_id,) = h.add_signals("b", [("sha256", "c" * 64)], label="later")
        assert new_id == 3  # the AUTOINCREMENT counter survived the table's rebuild (issue #21)
        with h.db.session() as s:
            assert face_service.list_subjects(s)[0]["consent_ref"] == f"consent form of {NAME}"
        counts = h.rotate_keys()
        assert counts["encrypted_text"] >= 6
        second = raw()
        assert all(a != b for a, b in zip(first, second, strict=False))
        assert h.list_cases()[0]["victim_ref"] == NAME
        with h.db.session() as s:  # found by its blind index, recomputed under the new key
            assert face_service.withdraw(s, f"{NAME} ref") == 0
            with pytest.raises(NotFound):
                face_service.withdraw(s, "someone else")
    if sqlite:
        db = Database(url, migrate=False)
        with db.engine.begin() as c:  # the deletion trigger came back
            c.execute(text("DELETE FROM bank_entries WHERE id = 1"))
            assert c.execute(text("SELECT entry_id FROM index_removals")).scalars().all()[-1] == 1
        db.dispose()
