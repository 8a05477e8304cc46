"""Watches: sources re-checked on a schedule for re-uploads of a case's media.

A run captures the source again (URL: a new evidentiary capture; Telegram export: a new
ingest), and every media item that matches a bank and is not already an item of the case
becomes a new item — ``reuploaded`` when the case already had items notified or removed (the
material came back), else ``found``. ``haechi watch run`` runs the watches that are due; cron,
systemd timers or Celery beat call it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from haechi.errors import InputError
from haechi.evidence import custody
from haechi.store.models import Case, CaseItem, Watch

if TYPE_CHECKING:
    from haechi.runtime import Runtime

_EVERY = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> int:
    m = _EVERY.match(text.strip().lower())
    if not m or int(m.group(1)) <= 0:
        raise InputError(text, "interval must look like 30m, 6h or 1d")
    seconds = int(m.group(1)) * _UNIT[m.group(2)]
    if seconds < 60:
        raise InputError(text, "interval must be at least one minute")
    return seconds


def add_watch(rt: Runtime, case_ref: str, source: str, every: str, allow_private: bool = False) -> dict[str, Any]:
    from haechi.cases.service import _case

    seconds = parse_every(every)
    if source.startswith(("http://", "https://")):
        from haechi.sources.web import check_url

        check_url(source, allow_private)
        kind = "url"
    else:
        from pathlib import Path

        if not (Path(source) / "result.json").is_file():
            raise InputError(source, "a watch source is a URL or a Telegram export folder (with result.json)")
        kind = "telegram"
    with rt.db.session() as s:
        case = _case(s, case_ref)
        if case.status != "open":
            raise InputError(case_ref, "case is closed")
        w = Watch(case_id=case.id, kind=kind, source=source, every_seconds=seconds)
        s.add(w)
        s.flush()
        return {"watch": w.id, "case": case_ref, "kind": kind, "source": source, "every_seconds": seconds}


def list_watches(rt: Runtime) -> list[dict[str, Any]]:
    with rt.db.session() as s:
        rows = s.execute(select(Watch, Case.case_ref).join(Case, Case.id == Watch.case_id).order_by(Watch.id)).all()
        return [{"watch": w.id, "case": ref, "kind": w.kind, "source": w.source, "every_seconds": w.every_seconds,
                 "last_run": w.last_run.isoformat() if w.last_run else None} for w, ref in rows]


def _due(rt: Runtime, run_all: bool, now: datetime, watch_ids: list[int] | None = None
         ) -> list[tuple[int, str, str, str, int]]:
    with rt.db.session() as s:
        q = select(Watch, Case).join(Case, Case.id == Watch.case_id).where(Case.status == "open")
        if watch_ids is not None:
            q = q.where(Watch.id.in_(watch_ids))
        rows = s.execute(q).all()
        return [(w.id, w.kind, w.source, c.case_ref, c.id) for w, c in rows
                if run_all or w.last_run is None
                or (w.last_run if w.last_run.tzinfo else w.last_run.replace(tzinfo=UTC))
                + timedelta(seconds=w.every_seconds) <= now]


def due_watch_ids(rt: Runtime) -> list[int]:
    """Ids of the watches of open cases that are due now (Celery beat enqueues them)."""
    return [d[0] for d in _due(rt, False, datetime.now(UTC))]


def run_due(rt: Runtime, run_all: bool = False, actor: str = "watch", allow_private: bool = False,
            watch_ids: list[int] | None = None) -> list[dict[str, Any]]:
    from haechi.cases import service as cases
    from haechi.cases.service import ItemStatus
    from haechi.services import evidence as evidence_service

    now = datetime.now(UTC)
    due = _due(rt, run_all, now, watch_ids)
    results = []
    for watch_id, kind, source, case_ref, case_id in due:
        found: list[tuple[str, dict[str, Any]]] = []  # (item url, media)
        error = None
        if kind == "url":
            (cap,) = list(evidence_service.capture_urls(rt, [source], case_ref, actor, False, allow_private))
            error = cap["error"]
            for m in cap["media"]:
                if m["matches"]:
                    found.append((source, {k: m.get(k) for k in ("url", "sha256", "md5", "pdq", "matches")}))
        else:
            for row in evidence_service.ingest(rt, "telegram", source, case_ref, actor):
                if row["kind"] == "item" and row.get("matches"):
                    key = f"telegram:{row.get('chat_id')}/{row.get('message_id')}"
                    found.append((key, {"url": key, "sha256": row["sha256"], "md5": row["md5"], "pdq": row["pdq"],
                                        "matches": row["matches"]}))
        new_items, returned = [], []
        with rt.db.session() as s:
            items = list(s.scalars(select(CaseItem).where(CaseItem.case_id == case_id)))
            known = {m.get("sha256"): (i.id, i.status) for i in items for m in json.loads(i.media)}
            came_back = any(i.status in (ItemStatus.NOTIFIED, ItemStatus.REMOVED) for i in items)
        for url, media in found:
            if media["sha256"] in known:
                item_id, status = known[media["sha256"]]
                if status == ItemStatus.REMOVED:  # taken down once, back now: it needs a new notice
                    with rt.db.session() as s:
                        cases.set_item_status(s, item_id, ItemStatus.REUPLOADED, actor,
                                              {"watch": watch_id, "seen_at": url})
                    known[media["sha256"]] = (item_id, ItemStatus.REUPLOADED)
                    returned.append(item_id)
                continue
            known[media["sha256"]] = (0, ItemStatus.FOUND)
            item_url = url if url != source else f"{source}#{media['sha256'][:12]}"
            with rt.db.session() as s:
                item, created = cases.add_item(s, case_ref, item_url, [media], actor)
                if created and came_back:
                    cases.set_item_status(s, item["id"], ItemStatus.REUPLOADED, actor, {"watch": watch_id})
                    item["status"] = str(ItemStatus.REUPLOADED)
            if created:
                new_items.append(item)
        with rt.db.session() as s:
            w = s.get(Watch, watch_id)
            if w is not None:
                w.last_run = now
            # the run's result is evidence too (and the watches page's history): a custody entry
            custody.append(s, "watch_run", actor, case_ref=case_ref,
                           details={"watch": watch_id, "new_items": [i["id"] for i in new_items],
                                    "returned_items": returned, "error": error})
        results.append({"watch": watch_id, "case": case_ref, "source": source, "new_items": new_items,
                        "returned_items": returned, "error": error})
    return results
