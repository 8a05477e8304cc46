"""Case items as use-cases: adding URLs and files to a case (captured, hashed, scanned,
assessed) and re-checking notified items. Store-level functions are in :mod:`haechi.cases.service`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from haechi.cases import service as cases
from haechi.cases.service import ItemStatus
from haechi.errors import InputError
from haechi.evidence.capture import second_look
from haechi.services import evidence as evidence_service
from haechi.services.scan import scan_paths
from haechi.sources import MediaRef
from haechi.store.models import Capture, Case, CaseItem

if TYPE_CHECKING:
    from haechi.config import Settings
    from haechi.runtime import Runtime

#: items a re-check looks at: notified, found still up at the last re-check, or not reachable yet
RECHECKED = (ItemStatus.NOTIFIED, ItemStatus.STILL_UP, ItemStatus.UNREACHABLE)


def add_case_items(rt: Runtime, case_ref: str, targets: list[str], actor: str, capture: bool = True,
                   screenshot: bool = False, allow_private: bool = False, local_files: bool = True
                   ) -> Iterator[dict[str, Any]]:
    """Add URLs (captured as evidence, media hashed and scanned) or, with ``local_files`` (the CLI
    operator's own files; network doors pass False), files on this machine to a case. Yields the
    item (``duplicate`` when it was already there) or ``{"url", "error"}`` per target.
    Raises NotFound (case), InputError (a closed case)."""
    with rt.db.session() as s:
        if cases._case(s, case_ref).status != "open":
            raise InputError(case_ref, "case is closed: no new items")
    for target in targets:
        if target.startswith(("http://", "https://")):
            if capture:
                (cap,) = list(evidence_service.capture_urls(rt, [target], case_ref, actor, screenshot, allow_private))
                if cap.get("capture_id") is None:  # refused or not recordable: no item
                    yield {"url": target, "error": cap["error"]}
                    continue
                media = [{k: m.get(k) for k in ("url", "sha256", "md5", "pdq", "matches")} for m in cap["media"]]
                if cap.get("item_status") == ItemStatus.UNREACHABLE:  # recorded where it was; captured again later
                    with rt.db.session() as s:
                        item, created = cases.add_item(s, case_ref, target, media, actor, False)
                        if created:
                            cases.set_item_status(s, item["id"], ItemStatus.UNREACHABLE, actor,
                                                  {"reason": cap.get("reason"), "http_status": cap.get("status")})
                            item["status"] = str(ItemStatus.UNREACHABLE)
                    yield dict(item, duplicate=not created, error=None, reason=cap.get("reason"))
                    continue
            else:
                from haechi.sources.web import check_url

                check_url(target, allow_private)
                media = []
        elif "://" in target or not local_files:
            # a network door never reads the server's own files (a path can be the key, a FIFO...)
            what = "http(s) URLs and local files" if local_files else "http(s) URLs"
            yield {"url": target, "error": f"{target[:200]}: only {what} can be items here"}
            continue
        elif not Path(target).exists():
            yield {"url": target, "error": f"{target}: no such file or folder"}
            continue
        else:
            media = [{"url": r["path"], "sha256": r["sha256"], "md5": r["md5"], "pdq": r["pdq"],
                      "matches": r["matches"]} for r in scan_paths(rt, [target])]
        synthetic = media_synthetic(rt, case_ref, media)
        with rt.db.session() as s:
            item, created = cases.add_item(s, case_ref, target, media, actor, synthetic)
        yield dict(item, duplicate=not created, error=None)


def media_synthetic(rt: Runtime, case_ref: str, media: list[dict[str, Any]]) -> bool:
    """Whether any captured media of an item is assessed synthetic or likely synthetic."""
    from haechi.assess.run import AssessOptions, assess_ref

    opts = AssessOptions(rt.settings.max_pixels, rt.settings.max_file_bytes)
    for m in media:
        url = m.get("url") or ""
        data = evidence_service.media_bytes(rt, case_ref, url) if url.startswith(("http://", "https://")) else None
        if data is None and url and Path(url).is_file():
            data = Path(url).read_bytes()
        if data and assess_ref(MediaRef(path=url, data=data), opts)["verdict"] in ("synthetic", "likely_synthetic"):
            return True
    return False


def removed_schedule(settings: Settings) -> tuple[list[float], float]:
    """(days after removal at which a removed item is re-checked, then every ... days): content
    comes back after a 44-2 temporary measure (up to 30 days), an appeal or a counter-notice."""
    try:
        days = sorted(float(d) for d in settings.recheck_removed_days.split(",") if d.strip())
    except ValueError:
        raise InputError("recheck_removed_days", f"{settings.recheck_removed_days!r}: days like 1,7,30") from None
    if not days or days[0] <= 0 or settings.recheck_removed_then_every <= 0:
        raise InputError("recheck_removed_days", "give positive days and a positive recheck_removed_then_every")
    return days, float(settings.recheck_removed_then_every)


def last_point(removed_at: datetime, days: list[float], every: float, now: datetime) -> datetime | None:
    """The latest scheduled re-check time at or before ``now`` (None: the first is still ahead)."""
    points = [removed_at + timedelta(days=d) for d in days]
    if now < points[0]:
        return None
    if now < points[-1]:
        return max(p for p in points if p <= now)
    steps = int((now - points[-1]) / timedelta(days=every))
    return points[-1] + timedelta(days=every * steps)


def recheck_targets(rt: Runtime, case_ref: str | None = None, item_ids: list[int] | None = None,
                    now: datetime | None = None) -> list[tuple[int, str, str, str]]:
    """(item id, url, case, media JSON) of web items to re-check: notified or still up, and
    removed ones whose scheduled re-check (``recheck_removed_days``) has come since the last
    capture of their URL."""
    now = now or datetime.now(UTC)
    days, every = removed_schedule(rt.settings)
    statuses = [str(x) for x in (*RECHECKED, ItemStatus.REMOVED)]
    with rt.db.session() as s:
        q = select(CaseItem.id, CaseItem.url, Case.case_ref, CaseItem.media, CaseItem.status, CaseItem.removed_at
                   ).join(Case, Case.id == CaseItem.case_id).where(CaseItem.status.in_(statuses))
        if case_ref:
            q = q.where(Case.case_ref == case_ref)
        if item_ids is not None:
            q = q.where(CaseItem.id.in_(item_ids))
        out = []
        for i, u, c, m, status, removed_at in s.execute(q).all():
            if not u.startswith(("http://", "https://")):
                continue
            if status == ItemStatus.REMOVED:
                point = last_point(cases._utc(removed_at or now), days, every, now)
                last = s.scalar(select(func.max(Capture.captured_at)).where(Capture.case_ref == c, Capture.url == u))
                if point is None or (last is not None and _iso(last) >= point):
                    continue
            out.append((i, u, c, m))
        return out


def _iso(text: str) -> datetime:
    return cases._utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def recheck(rt: Runtime, actor: str, case_ref: str | None = None, allow_private: bool = False,
            item_ids: list[int] | None = None, on_record: Callable[[Any, dict[str, Any]], None] | None = None,
            confirm_gone: evidence_service.SecondLook | None = second_look) -> Iterator[dict[str, Any]]:
    """Re-fetch every notified item (and removed ones on their schedule): removed (404/410/451/
    gone), still_up (its media still matches the banks), reuploaded (a removed item whose media is
    back) or changed; a new capture is the proof. The capture and the item's new
    status are recorded in one transaction (with ``on_record``'s work, if given).

    A 404/410/451 counts as a removal only when a second path agrees (``confirm_gone``, by default
    :func:`haechi.evidence.capture.second_look`: Chromium through the egress proxy, else the
    fetcher with another profile): otherwise the item keeps its status and the result and its
    custody entry say ``removal_disputed`` with both answers (issue #17 medium 8)."""
    statuses = _statuses(rt, [t[0] for t in recheck_targets(rt, case_ref, item_ids)])
    for item_id, url, cref, media in recheck_targets(rt, case_ref, item_ids):
        before = {m.get("sha256") for m in json.loads(media)}
        was = statuses.get(item_id, ItemStatus.NOTIFIED)
        result: dict[str, Any] = {}

        def record(s: Any, cap: dict[str, Any], item_id: int = item_id, url: str = url, cref: str = cref,
                   before: set[Any] = before, result: dict[str, Any] = result, was: str = was) -> None:
            extra: dict[str, Any] = {}
            second = cap.get("second_look")
            if (cap["status"] or 0) in evidence_service.GONE and second is not None \
                    and second["status"] not in evidence_service.GONE:
                # the second path does not agree (it saw the page, or could not ask): not a removal
                # — a host can answer 404 to one client alone; the item keeps its status
                status = ItemStatus(was)
                extra = {"removal_disputed": True, "second_look": second,
                         "reason": f"{cap['status']} to the fetcher, but the {second['path']} got "
                                   + (f"HTTP {second['status']}" if second["status"] else str(second["error"]))}
            elif (cap["status"] or 0) in evidence_service.GONE:
                status = ItemStatus.REMOVED
                if second is not None:
                    extra = {"second_look": second}
            elif cap["error"] or cap.get("item_status") == ItemStatus.UNREACHABLE:
                # a fetch error is not a removal (a host can fail or refuse one fetcher): unchanged
                status = ItemStatus(was) if was != ItemStatus.UNREACHABLE else ItemStatus.UNREACHABLE
            elif was == ItemStatus.UNREACHABLE:
                status = ItemStatus.FOUND  # reachable at last: an item like any other
            elif any(m["matches"] for m in cap["media"]) or before & {m["sha256"] for m in cap["media"]}:
                # a removed item found again at its URL has come back (a lapsed temporary measure,
                # an appeal, a re-upload): it needs a new notice
                status = ItemStatus.REUPLOADED if was == ItemStatus.REMOVED else ItemStatus.STILL_UP
            else:
                status = ItemStatus.REMOVED  # the page is there but the media is gone or different
            cases.set_item_status(s, item_id, status, actor, {"recheck_capture": cap.get("capture_id"),
                                                              "http_status": cap["status"], **extra})
            result.update(item=item_id, url=url, case=cref, status=str(status), http_status=cap["status"],
                          capture_id=cap.get("capture_id"), **extra)
            if on_record is not None:
                on_record(s, result)

        list(evidence_service.capture_urls(rt, [url], cref, actor, False, allow_private, on_record=record,
                                           confirm_gone=confirm_gone))
        yield result


def _statuses(rt: Runtime, item_ids: list[int]) -> dict[int, str]:
    with rt.db.session() as s:
        return dict(s.execute(select(CaseItem.id, CaseItem.status).where(CaseItem.id.in_(item_ids))).all())
