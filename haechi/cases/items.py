"""Case items as use-cases: adding URLs and files to a case (captured, hashed, scanned,
assessed) and re-checking notified items. Store-level functions are in :mod:`haechi.cases.service`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from haechi.cases import service as cases
from haechi.cases.service import ItemStatus
from haechi.errors import InputError
from haechi.services import evidence as evidence_service
from haechi.services.scan import scan_paths
from haechi.sources import MediaRef
from haechi.store.models import Case, CaseItem

if TYPE_CHECKING:
    from haechi.runtime import Runtime

#: items a re-check looks at: notified, found still up at the last re-check, or not reachable yet
RECHECKED = (ItemStatus.NOTIFIED, ItemStatus.STILL_UP, ItemStatus.UNREACHABLE)


def add_case_items(rt: Runtime, case_ref: str, targets: list[str], actor: str, capture: bool = True,
                   screenshot: bool = False, allow_private: bool = False) -> Iterator[dict[str, Any]]:
    """Add URLs (captured as evidence, media hashed and scanned) or local files to a case. Yields
    the item (``duplicate`` when it was already there) or ``{"url", "error"}`` per target.
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
        elif "://" in target:
            yield {"url": target, "error": f"{target}: only http(s) URLs and local files can be items"}
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


def recheck_targets(rt: Runtime, case_ref: str | None = None, item_ids: list[int] | None = None
                    ) -> list[tuple[int, str, str, str]]:
    """(item id, url, case, media JSON) of notified or still-up web items to re-check."""
    with rt.db.session() as s:
        q = select(CaseItem.id, CaseItem.url, Case.case_ref, CaseItem.media).join(
            Case, Case.id == CaseItem.case_id).where(CaseItem.status.in_([str(x) for x in RECHECKED]))
        if case_ref:
            q = q.where(Case.case_ref == case_ref)
        if item_ids is not None:
            q = q.where(CaseItem.id.in_(item_ids))
        return [(i, u, c, m) for i, u, c, m in s.execute(q).all() if u.startswith(("http://", "https://"))]


def recheck(rt: Runtime, actor: str, case_ref: str | None = None, allow_private: bool = False,
            item_ids: list[int] | None = None, on_record: Callable[[Any, dict[str, Any]], None] | None = None
            ) -> Iterator[dict[str, Any]]:
    """Re-fetch every notified item: removed (404/410/451/gone), still_up (its media still
    matches the banks) or changed; a new capture is the proof. The capture and the item's new
    status are recorded in one transaction (with ``on_record``'s work, if given)."""
    statuses = _statuses(rt, [t[0] for t in recheck_targets(rt, case_ref, item_ids)])
    for item_id, url, cref, media in recheck_targets(rt, case_ref, item_ids):
        before = {m.get("sha256") for m in json.loads(media)}
        was = statuses.get(item_id, ItemStatus.NOTIFIED)
        result: dict[str, Any] = {}

        def record(s: Any, cap: dict[str, Any], item_id: int = item_id, url: str = url, cref: str = cref,
                   before: set[Any] = before, result: dict[str, Any] = result, was: str = was) -> None:
            if (cap["status"] or 0) in (404, 410, 451):
                status = ItemStatus.REMOVED
            elif cap["error"] or cap.get("item_status") == ItemStatus.UNREACHABLE:
                # a fetch error is not a removal (a host can fail or refuse one fetcher): unchanged
                status = ItemStatus(was) if was != ItemStatus.UNREACHABLE else ItemStatus.UNREACHABLE
            elif was == ItemStatus.UNREACHABLE:
                status = ItemStatus.FOUND  # reachable at last: an item like any other
            elif any(m["matches"] for m in cap["media"]) or before & {m["sha256"] for m in cap["media"]}:
                status = ItemStatus.STILL_UP
            else:
                status = ItemStatus.REMOVED  # the page is there but the media is gone or different
            cases.set_item_status(s, item_id, status, actor, {"recheck_capture": cap.get("capture_id"),
                                                              "http_status": cap["status"]})
            result.update(item=item_id, url=url, case=cref, status=str(status), http_status=cap["status"],
                          capture_id=cap.get("capture_id"))
            if on_record is not None:
                on_record(s, result)

        list(evidence_service.capture_urls(rt, [url], cref, actor, False, allow_private, on_record=record))
        yield result


def _statuses(rt: Runtime, item_ids: list[int]) -> dict[int, str]:
    with rt.db.session() as s:
        return dict(s.execute(select(CaseItem.id, CaseItem.status).where(CaseItem.id.in_(item_ids))).all())
