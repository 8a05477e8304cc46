"""A caseworker's desk: what needs doing today, read from the cases, notices and custody log.

The web app's dashboard, deadlines, watches and re-check history pages are built from these
functions (each takes a SQLAlchemy session; the facade opens it). Nothing here is stored in a
table of its own: a re-check's result, a dispute of it and a watch run are custody entries
(append-only, hash-chained), so the history a page shows is the history an auditor replays.

Custody actions read or written here:

- ``item_status`` with ``recheck_capture`` in its details — one re-check (written by
  :func:`haechi.cases.items.recheck`): the item's new status and the HTTP status of the fetch;
- ``recheck_dispute`` — a person says a re-check's result is wrong (a geo-block read as a
  removal, a login wall read as still up), with a note; the result stays, the dispute is shown
  beside it;
- ``watch_run`` — one run of a re-upload watch (written by :func:`haechi.cases.watch.run_due`):
  new items, items that came back, the error if the source failed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haechi.errors import InputError, NotFound
from haechi.evidence import custody
from haechi.store.models import Case, CaseItem, CustodyEntry, Notice, Watch

RECHECK, DISPUTE, WATCH_RUN = "item_status", "recheck_dispute", "watch_run"
#: notices a person must move on before they can leave: a draft needs a second person's
#: approval, an approved one needs sending
WAITING = ("draft", "approved")


def _details(text: str) -> dict[str, Any]:
    try:
        d = json.loads(text)
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


def _recheck_rows(session: Session, where: Any, limit: int | None = None) -> list[dict[str, Any]]:
    """Re-checks (newest first) among custody entries matching ``where``, each with its dispute."""
    q = (select(CustodyEntry.id, CustodyEntry.case_ref, CustodyEntry.actor, CustodyEntry.at, CustodyEntry.details)
         .where(CustodyEntry.action == RECHECK, CustodyEntry.details.like('%"recheck_capture"%'), where)
         .order_by(CustodyEntry.id.desc()))
    if limit is not None:
        q = q.limit(limit)
    rows: list[dict[str, Any]] = []
    for entry_id, case_ref, actor, at, details in session.execute(q).all():
        d = _details(details)
        rows.append({"entry": entry_id, "case": case_ref, "item": int(d.get("item", 0)), "at": at, "actor": actor,
                     "status": d.get("status"), "http_status": d.get("http_status"),
                     "capture": d.get("recheck_capture"), "disputed": None})
    if rows:
        disputes = _disputes(session, {r["case"] for r in rows})
        for r in rows:
            r["disputed"] = disputes.get(r["entry"])
    return rows


def _disputes(session: Session, case_refs: set[Any]) -> dict[int, dict[str, Any]]:
    """The latest dispute of each re-check (by its custody entry id) in these cases."""
    out: dict[int, dict[str, Any]] = {}
    for actor, at, details in session.execute(
            select(CustodyEntry.actor, CustodyEntry.at, CustodyEntry.details)
            .where(CustodyEntry.action == DISPUTE, CustodyEntry.case_ref.in_(case_refs))
            .order_by(CustodyEntry.id)).all():
        d = _details(details)
        out[int(d.get("recheck", 0))] = {"by": actor, "at": at, "note": str(d.get("note", ""))}
    return out


def recheck_history(session: Session, case_ref: str) -> dict[int, list[dict[str, Any]]]:
    """Every re-check of the case's items, newest first, per item id: ``{item: [{entry, at,
    actor, status, http_status, capture, disputed: None | {by, at, note}}]}`` (``entry``: the
    re-check's custody entry id, which a dispute names)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for r in _recheck_rows(session, CustodyEntry.case_ref == case_ref):
        out.setdefault(r["item"], []).append(r)
    return out


def dispute_recheck(session: Session, case_ref: str, entry_id: int, actor: str, note: str) -> dict[str, Any]:
    """Record that re-check ``entry_id`` of case ``case_ref`` got it wrong, and why (``note``,
    required: a dispute someone cannot explain is not evidence). Raises NotFound (no such
    re-check in this case), InputError (no note)."""
    note = note.strip()
    if not note:
        raise InputError("note", "say why the re-check's result is wrong")
    rows = _recheck_rows(session, (CustodyEntry.case_ref == case_ref) & (CustodyEntry.id == entry_id))
    if not rows:
        raise NotFound("re-check", f"{case_ref}/{entry_id}")
    r = rows[0]
    custody.append(session, DISPUTE, actor, case_ref=case_ref,
                   details={"recheck": entry_id, "item": r["item"], "status": r["status"], "note": note[:1000]})
    return {**r, "disputed": {"by": actor, "note": note[:1000]}}


def cases_of(session: Session, actor: str) -> set[str]:
    """The case numbers ``actor`` opened (the actor of each case's ``case_create`` entry)."""
    return set(session.scalars(select(CustodyEntry.case_ref).where(CustodyEntry.action == "case_create",
                                                                    CustodyEntry.actor == actor)))


def waiting_notices(session: Session, case_refs: set[str] | None = None) -> list[dict[str, Any]]:
    """Notices waiting for a person, oldest first: drafts (a second person approves) and approved
    ones (someone sends them): ``[{notice, case, status, recipient, platform, drafted_by,
    created_at}]``."""
    q = (select(Notice, Case.case_ref).join(Case, Case.id == Notice.case_id)
         .where(Notice.status.in_(WAITING), Case.status == "open").order_by(Notice.id))
    if case_refs is not None:
        q = q.where(Case.case_ref.in_(case_refs))
    return [{"notice": n.id, "case": ref, "status": n.status, "recipient": n.recipient, "platform": n.platform,
             "drafted_by": n.drafted_by, "created_at": n.created_at.isoformat()} for n, ref in session.execute(q).all()]


def reuploads(session: Session, case_refs: set[str] | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Items of open cases that came back after removal (``reuploaded``), newest first."""
    q = (select(CaseItem.id, CaseItem.url, CaseItem.platform, CaseItem.host, Case.case_ref, CaseItem.created_at)
         .join(Case, Case.id == CaseItem.case_id)
         .where(Case.status == "open", CaseItem.status == "reuploaded").order_by(CaseItem.id.desc()).limit(limit))
    if case_refs is not None:
        q = q.where(Case.case_ref.in_(case_refs))
    return [{"item": i, "url": u, "platform": p or h, "case": ref, "created_at": at.isoformat()}
            for i, u, p, h, ref, at in session.execute(q).all()]


def recent_rechecks(session: Session, case_refs: set[str] | None = None, days: int = 7, limit: int = 20
                    ) -> list[dict[str, Any]]:
    """Re-checks of the last ``days`` days, newest first (at most ``limit``)."""
    since = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    where = CustodyEntry.at >= since
    if case_refs is not None:
        where = where & CustodyEntry.case_ref.in_(case_refs)
    return _recheck_rows(session, where, limit)


def watch_runs(session: Session, watch_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Runs of re-upload watches, newest first: ``[{watch, case, at, new_items, returned_items,
    error}]`` (item ids)."""
    q = (select(CustodyEntry.case_ref, CustodyEntry.at, CustodyEntry.details)
         .where(CustodyEntry.action == WATCH_RUN).order_by(CustodyEntry.id.desc()).limit(limit))
    if watch_id is not None:
        key = f'"watch":{int(watch_id)}'  # canonical JSON: no spaces, keys sorted
        q = q.where(CustodyEntry.details.like(f"%{key},%") | CustodyEntry.details.like(f"%{key}}}%"))
    out = []
    for case_ref, at, details in session.execute(q).all():
        d = _details(details)
        if watch_id is not None and d.get("watch") != watch_id:
            continue
        out.append({"watch": d.get("watch"), "case": case_ref, "at": at, "new_items": d.get("new_items", []),
                    "returned_items": d.get("returned_items", []), "error": d.get("error")})
    return out


def watches(session: Session, case_refs: set[str] | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Watches with their case, schedule, next run and latest result: ``[{watch, case, case_open,
    kind, source, every_seconds, last_run, next_run, due, last: None | run}]``."""
    now = now or datetime.now(UTC)
    q = select(Watch, Case.case_ref, Case.status).join(Case, Case.id == Watch.case_id).order_by(Watch.id)
    if case_refs is not None:
        q = q.where(Case.case_ref.in_(case_refs))
    latest: dict[int, dict[str, Any]] = {}
    for run in reversed(watch_runs(session, limit=10_000)):
        latest[int(run["watch"] or 0)] = run
    out = []
    for w, ref, status in session.execute(q).all():
        last = w.last_run if w.last_run is None or w.last_run.tzinfo else w.last_run.replace(tzinfo=UTC)
        nxt = None if last is None else last + timedelta(seconds=w.every_seconds)
        out.append({"watch": w.id, "case": ref, "case_open": status == "open", "kind": w.kind, "source": w.source,
                    "every_seconds": w.every_seconds, "last_run": last.isoformat() if last else None,
                    "next_run": nxt.isoformat() if nxt else None,
                    "due": status == "open" and (nxt is None or nxt <= now), "last": latest.get(w.id)})
    return out


def open_case_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Case).where(Case.status == "open")) or 0)
