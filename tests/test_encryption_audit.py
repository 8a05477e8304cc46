"""Encryption audit: after a centre's ordinary work — a case with the victim's contact details,
her consented face enrolment with her name, her self-service hash submission, a capture, a
backup — no file under the home and no row of the database (SQLite file, or every table of the
PostgreSQL schema) holds her contact details, her name or her raw face embedding in the clear.
Key rotation then re-encrypts every encrypted value without loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, text

from haechi import Haechi
from haechi.media import decode_image
from tests.conftest import SHARED_DATA

FR = SHARED_DATA / "faces_face_recognition"
CONTACT = "김지영 010-4821-7733 jiyoung.audit@example.kr"
NAME = "Kim Jiyoung Auditname"


def _needles(embedding: bytes) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for label, value in (("contact", CONTACT), ("name", NAME)):
        forms = [value.encode("utf-8"), value.encode("utf-16-le")]
        for part in value.split():
            if len(part) >= 8:
                forms.append(part.encode())
        out[label] = forms
    if embedding:
        f64 = np.frombuffer(embedding, np.float32).astype(np.float64).tobytes()
        out["embedding"] = [embedding[:64], embedding[256:320], f64[:64], embedding[:64].hex().encode()]
    return out


def _scan_files(home: Path, needles: dict[str, list[bytes]]) -> list[str]:
    found = []
    for f in home.rglob("*"):
        if f.is_file():
            blob = f.read_bytes()
            found += [f"{label} in {f.relative_to(home)}" for label, forms in needles.items()
                      if any(n in blob for n in forms)]
    return found


def _scan_database(url: str, needles: dict[str, list[bytes]]) -> list[str]:
    engine = create_engine(url)
    found = []
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608 - names from the schema
                    for value in row:
                        blob = value if isinstance(value, bytes | memoryview) else str(value).encode()
                        blob = bytes(blob)
                        found += [f"{label} in table {table}" for label, forms in needles.items()
                                  if any(n in blob for n in forms)]
    finally:
        engine.dispose()
    return found


def test_no_victim_data_in_the_clear_anywhere(tmp_path: Path, database_url: str) -> None:
    home = tmp_path / "home"
    embedding = b""
    with Haechi(home=home, database_url=database_url, workers=1) as h:
        case = h.create_case(victim_ref="V-audit", contact=CONTACT)["case"]
        if FR.is_dir():
            h.enroll_subject("subj-0001", [FR / "obama_01.jpg"], consent_ref="consent-1", name=NAME)
            from haechi.signals.faces import engine as face_engine

            img = decode_image((FR / "obama_01.jpg").read_bytes(), "obama_01.jpg", max_pixels=10**8,
                               draft_min_side=1024)
            eng = face_engine()
            embedding = eng.embed(img.rgb, eng.detect(img.rgb)[0]).tobytes()
        h.victim_submit([{"sha256": "a" * 64, "md5": "b" * 32, "pdq": "c" * 63 + "1", "kind": "image"}])
        h.backup(home / "backups" / "b.tar.gz", include_key=False)
        needles = _needles(embedding)
        assert _scan_files(home, needles) == []
        assert _scan_database(database_url, needles) == []
        # the checks looked for the right bytes: the stored values decrypt to exactly them
        assert h.case_contact(case) == CONTACT
        if embedding:
            assert h.list_subjects()[0]["name"] == NAME
        counts = h.rotate_keys()
        assert counts["case_contacts"] == 1 and counts["subject_names"] == (1 if embedding else 0)
    with Haechi(home=home, database_url=database_url, workers=1) as h:  # only the new key from here on
        assert h.case_contact(case) == CONTACT
        if embedding:
            assert h.list_subjects()[0]["name"] == NAME
            (row,) = list(h.scan([FR / "obama_03.jpg"], faces=True))
            assert row["faces"][0]["subject"] == "subj-0001"
        assert _scan_files(home, needles) == [] and _scan_database(database_url, needles) == []


@pytest.mark.slow
@pytest.mark.skipif(not FR.is_dir(), reason="needs ../shared/data/faces_face_recognition")
def test_withdrawal_forgets_the_name(tmp_path: Path) -> None:
    with Haechi(home=tmp_path / "home", workers=1) as h:
        h.enroll_subject("subj-2", [FR / "obama_01.jpg"], name=NAME)
        h.withdraw_subject("subj-2")
        (subject,) = h.list_subjects()
        assert subject["name"] is None and subject["embeddings"] == 0
