"""Banks on SQLite and PostgreSQL: create, add, import/export round-trips, removal, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from haechi import Haechi
from haechi.errors import AlreadyExists, InputError, NotFound
from haechi.store.models import BankEntry, LocalFeatureSet


def test_create_list_delete(haechi: Haechi) -> None:
    haechi.create_bank("victim-a", "reported by a support centre")
    with pytest.raises(AlreadyExists):
        haechi.create_bank("victim-a")
    assert [b["name"] for b in haechi.list_banks()] == ["victim-a"]
    haechi.delete_bank("victim-a")
    assert haechi.list_banks() == []
    with pytest.raises(NotFound):
        haechi.delete_bank("victim-a")


def test_add_stores_hashes_never_media(haechi: Haechi, images: Path) -> None:
    haechi.create_bank("b")
    results = list(haechi.add_to_bank("b", [images], label="case-1"))
    assert len(results) == 6 and all(r.error is None and len(r.entry_ids) == 3 for r in results)
    again = list(haechi.add_to_bank("b", [images / "img_0.png"]))
    assert again[0].duplicate and again[0].entry_ids == []
    with haechi.db.session() as s:
        entries = s.scalars(select(BankEntry)).all()
        assert {e.signal_type for e in entries} == {"sha256", "md5", "pdq"}
        assert all(e.label == "case-1" for e in entries)
        feats = s.scalars(select(LocalFeatureSet)).all()
        assert len(feats) == 6
        raw = (images / "img_0.png").read_bytes()
        for f in feats:  # encrypted at rest: no plaintext descriptor header, no media bytes
            assert raw[:64] not in f.ciphertext and f.ciphertext.startswith(b"gAAAA")
    assert haechi.list_banks()[0]["entries"] == 18


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_import_round_trip(haechi: Haechi, images: Path, tmp_path: Path, fmt: str) -> None:
    haechi.create_bank("src")
    list(haechi.add_to_bank("src", [images], label="lab,el \"quoted\""))
    exported = haechi.export_bank("src", fmt)
    file = tmp_path / f"export.{fmt}"
    file.write_text("\n".join(exported) + "\n")
    haechi.create_bank("dst")
    result = haechi.import_bank("dst", file)
    assert result.errors == [] and result.imported == 18
    def rows(name: str) -> list[tuple[str, str, str]]:
        lines = haechi.export_bank(name, "csv")[1:]
        return sorted(lines)
    assert rows("src") == rows("dst")
    again = haechi.import_bank("dst", file)
    assert again.imported == 0 and again.duplicates == 18


def test_import_reports_bad_lines_and_keeps_good(haechi: Haechi, tmp_path: Path) -> None:
    haechi.create_bank("b")
    good = {"signal_type": "pdq", "signal": "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"signal_type": "pdq", "signal": "xyz"}),
        json.dumps({"signal_type": "phash", "signal": "00"}),
        json.dumps({"signal_type": "md5", "signal": "d41d8cd98f00b204e9800998ecf8427e", "label": "empty"}),
        "[1, 2]",
    ]
    file = tmp_path / "in.jsonl"
    file.write_text("\n".join(lines))
    result = haechi.import_bank("b", file)
    assert result.imported == 2
    assert len(result.errors) == 4
    assert all(str(file) in e for e in result.errors)
    assert any(":2:" in e and "malformed JSON" in e for e in result.errors)
    assert any(":3:" in e and "PDQ" in e for e in result.errors)
    assert any(":4:" in e and "unknown signal_type" in e for e in result.errors)


def test_import_csv_without_header_and_bad_columns(haechi: Haechi, tmp_path: Path) -> None:
    haechi.create_bank("b")
    file = tmp_path / "in.csv"
    file.write_text("sha256," + "a" * 64 + ",x\nmd5\npdq," + "0" * 64 + "\n")
    result = haechi.import_bank("b", file)
    assert result.imported == 2 and len(result.errors) == 1 and ":2:" in result.errors[0]


def test_remove_entry(haechi: Haechi, images: Path) -> None:
    haechi.create_bank("b")
    haechi.create_bank("other")
    res = list(haechi.add_to_bank("b", [images / "img_1.png"]))
    entry = res[0].entry_ids[0]
    with pytest.raises(NotFound):
        haechi.remove_entry("other", entry)
    haechi.remove_entry("b", entry)
    assert haechi.list_banks()[0]["entries"] == 2
    with pytest.raises(NotFound):
        haechi.remove_entry("b", entry)


def test_unreadable_file_in_add_leaves_bank_intact(haechi: Haechi, images: Path, tmp_path: Path) -> None:
    haechi.create_bank("b")
    list(haechi.add_to_bank("b", [images / "img_0.png"]))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0garbage")
    results = list(haechi.add_to_bank("b", [bad, images / "img_1.png"]))
    assert results[0].error and "broken.jpg" in results[0].error
    assert results[1].error is None
    assert haechi.list_banks()[0]["entries"] == 6


@pytest.mark.slow
def test_large_import_into_a_live_index_honours_the_quality_floor(tmp_path: Path, database_url: str) -> None:
    """70,000 lines into an instance whose index is loaded (a server): more ids than PostgreSQL
    binds in one statement (65,535); the new entries are matchable at once, except the ones below the quality
    floor, exactly as a rebuilt index would treat them."""
    import numpy as np

    rng = np.random.default_rng(9)
    codes = [c.tobytes().hex() for c in rng.integers(0, 256, (70_000, 32), dtype=np.uint8)]
    path = tmp_path / "big.jsonl"
    path.write_text("".join(f'{{"signal_type": "pdq", "signal": "{c}", "quality": {10 if i == 1 else 100}}}\n'
                            for i, c in enumerate(codes)))
    with Haechi(home=tmp_path / "home", database_url=database_url, workers=1) as h:
        h.create_bank("big")
        h.pdq_index()  # loaded, as in `haechi serve`
        assert h.import_bank("big", path).imported == 70_000
        assert h.lookup("pdq", codes[0]) and h.lookup("pdq", codes[-1])
        assert not h.lookup("pdq", codes[1])  # quality 10 < floor 50: not indexed, live or rebuilt
    with Haechi(home=tmp_path / "home", database_url=database_url, workers=1) as fresh:
        assert fresh.lookup("pdq", codes[0]) and not fresh.lookup("pdq", codes[1])


def test_migrations_build_exactly_the_models_schema(tmp_path: Path, database_url: str) -> None:
    """The Alembic migrations (which build every real database) and the SQLAlchemy models agree:
    a migration that forgets a column, index or constraint fails here, on SQLite and PostgreSQL."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from haechi.store.models import Base

    with Haechi(home=tmp_path / "home", database_url=database_url) as h, h.db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
_json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=20)
_feed_like = st.fixed_dictionaries({}, optional={
    "signals": st.lists(st.fixed_dictionaries({}, optional={"entry_id": _json_values, "signal_type": _json_values,
                                                            "signal": _json_values, "quality": _json_values}),
                        max_size=3) | _json_values,
    "removed": st.lists(_json_values, max_size=3) | _json_values,
    "next_cursor": _json_values, "more": _json_values})


@given(body=_feed_like | _json_values)
@example(body={"signals": [{"entry_id": float("inf"), "signal_type": "md5", "signal": "0" * 32}], "removed": [],
               "next_cursor": "1.0", "more": False})
@example(body={"signals": [], "removed": [1e308 * 10], "next_cursor": "0.1", "more": True})
@settings(max_examples=400, deadline=None)
def test_a_hostile_sync_answer_is_a_clear_error_never_a_crash(body: object) -> None:
    """Whatever JSON a bank's source answers, the pull either understands it or raises an
    InputError naming the source — before anything is written."""
    from haechi.services.subscriptions import _page

    try:
        adds, gone, cursor, more = _page(body, "https://centre.example/api/banks/b/signals")
    except InputError as exc:
        assert "centre.example" in str(exc)
        return
    assert all(isinstance(a["entry_id"], int) for a in adds) and all(isinstance(g, int) for g in gone)
    assert isinstance(cursor, str) and isinstance(more, bool)


def test_concurrent_writers_of_a_bank_commit_their_ids_in_order(tmp_path: Path, database_url: str) -> None:
    """While one transaction adds to a bank, a second writer of that bank waits; so a sync
    reader never sees a later id before an earlier one (and never skips the earlier one)."""
    import threading

    from haechi.services import banks as bank_service

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has a single writer: the ordering holds by construction")
    with Haechi(home=tmp_path / "home", database_url=database_url) as h:
        h.create_bank("b")
        first = h.db.session()
        s1 = first.__enter__()
        r1 = bank_service.import_text(s1, bank_service.get_bank(s1, "b"), f"md5,{'1' * 32}\n", "first")
        second: dict[str, int] = {}

        def writer() -> None:
            second["id"] = h.add_signals("b", [("md5", "2" * 32)])[0]

        t = threading.Thread(target=writer)
        t.start()
        t.join(2.0)
        assert t.is_alive(), "the second writer did not wait for the first transaction"
        feed = h.bank_changes("b")
        assert feed["signals"] == []  # nothing committed yet: nothing visible, cursor not advanced
        first.__exit__(None, None, None)  # commit
        t.join(30)
        assert second["id"] > r1.entry_ids[0]
        ids = [x["entry_id"] for x in h.bank_changes("b")["signals"]]
        assert ids == sorted(ids) and len(ids) == 2
