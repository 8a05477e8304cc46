"""Append-only, hash-chained custody log.

Each entry carries the SHA-256 of the previous entry and of the artefacts it covers; its own
hash covers all of its fields. Editing, deleting or reordering any entry breaks the chain at
that point, which :func:`verify` reports. A unique constraint on ``prev_hash`` makes concurrent
appenders that read the same tip fail (and retry) instead of forking the chain. The log is
global (one chain); a case's entries are the ones carrying its reference.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from haechi.store import casekeys
from haechi.store.models import CustodyEntry

GENESIS = "0" * 64


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_digest(case_ref: str | None, action: str, actor: str, at: str, details: str, artefacts: str) -> str:
    """SHA-256 of what an entry says. Kept apart from the chain link so an export can show
    another case's entries as digests only and the chain still verifies."""
    body = canonical({"case": case_ref, "action": action, "actor": actor, "at": at,
                      "details": json.loads(details), "artefacts": json.loads(artefacts)})
    return hashlib.sha256(body.encode()).hexdigest()


def link_digest(seq: int, prev_hash: str, content: str) -> str:
    return hashlib.sha256(canonical({"seq": seq, "prev": prev_hash, "content": content}).encode()).hexdigest()


def entry_digest(seq: int, case_ref: str | None, action: str, actor: str, at: str, details: str,
                 artefacts: str, prev_hash: str) -> str:
    return link_digest(seq, prev_hash, content_digest(case_ref, action, actor, at, details, artefacts))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def append(session: Session, action: str, actor: str, *, case_ref: str | None = None,
           details: dict[str, Any] | None = None, artefacts: dict[str, str] | None = None,
           private: dict[str, Any] | None = None) -> CustodyEntry:
    """Append one entry in the caller's transaction (retrying if another appender won the tip).
    ``private``: free text a person typed (a note, a file name, a path) — sealed with the case's
    key (:mod:`haechi.store.casekeys`), never stored in the clear; the entry's hash covers the
    ciphertext, so erasing the case's key leaves the chain verifiable."""
    if private:
        details = {**(details or {}), "sealed": casekeys.seal(session, case_ref, private),
                   "sealed_fields": sorted(private)}
    for _ in range(20):
        tip = session.execute(select(CustodyEntry.id, CustodyEntry.entry_hash)
                              .order_by(CustodyEntry.id.desc()).limit(1)).first()
        seq = (tip[0] + 1) if tip else 1
        prev = tip[1] if tip else GENESIS
        d, a, at = canonical(details or {}), canonical(artefacts or {}), now_iso()
        entry = CustodyEntry(id=seq, case_ref=case_ref, action=action, actor=actor, at=at, details=d,
                             artefacts=a, prev_hash=prev,
                             entry_hash=entry_digest(seq, case_ref, action, actor, at, d, a, prev))
        try:
            with session.begin_nested():
                session.add(entry)
                session.flush()
            return entry
        except IntegrityError:
            continue
    raise RuntimeError("custody log is too busy: could not append after 20 attempts")


@dataclass
class Verification:
    ok: bool
    entries: int
    problems: list[str] = field(default_factory=list)
    tip: str = GENESIS

    def public(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "problems": self.problems, "tip": self.tip}


def verify_rows(rows: list[dict[str, Any]], case_ref: str | None = None) -> Verification:
    """Check a chain given as dicts (from the database or an exported manifest)."""
    problems: list[str] = []
    prev = GENESIS
    counted = 0
    for expected_seq, row in enumerate(rows, start=1):
        if row["id"] != expected_seq:
            problems.append(f"entry {row['id']}: expected sequence number {expected_seq} (entry missing or moved)")
        if row["prev_hash"] != prev:
            problems.append(f"entry {row['id']}: does not follow the previous entry (deleted, inserted or reordered)")
        if "content_digest" in row and "details" not in row:  # redacted entry of another case
            digest = link_digest(row["id"], row["prev_hash"], row["content_digest"])
        else:
            digest = entry_digest(row["id"], row["case_ref"], row["action"], row["actor"], row["at"],
                                  row["details"], row["artefacts"], row["prev_hash"])
        if digest != row["entry_hash"]:
            problems.append(f"entry {row['id']}: contents do not match its hash (edited)")
        prev = row["entry_hash"]
        if case_ref is None or row.get("case_ref") == case_ref:
            counted += 1
    return Verification(ok=not problems, entries=counted, problems=problems, tip=prev)


def rows_of(session: Session) -> list[dict[str, Any]]:
    return [{"id": e.id, "case_ref": e.case_ref, "action": e.action, "actor": e.actor, "at": e.at,
             "details": e.details, "artefacts": e.artefacts, "prev_hash": e.prev_hash, "entry_hash": e.entry_hash}
            for e in session.scalars(select(CustodyEntry).order_by(CustodyEntry.id))]


def verify(session: Session, case_ref: str | None = None) -> Verification:
    return verify_rows(rows_of(session), case_ref)


def redacted(row: dict[str, Any]) -> dict[str, Any]:
    """An entry as an export shows it when it belongs to another case: link data only."""
    return {"id": row["id"], "prev_hash": row["prev_hash"], "entry_hash": row["entry_hash"],
            "content_digest": content_digest(row["case_ref"], row["action"], row["actor"], row["at"],
                                             row["details"], row["artefacts"])}
