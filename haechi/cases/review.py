"""The review queue: captured media awaiting a person's decision, the evidence to decide on,
and the custody entries that record every view and every decision.

Why the queue is per *media*, not per item: one captured page often carries several images,
of which one is the victim's and the rest are unrelated; a reviewer decides on each. An entry
is keyed ``(item id, media index)`` — the index into the item's stored media list, which is
written once at capture and never reordered.

Why decisions live in the custody log (action ``review_decision``) and not in a table of their
own: a decision is evidence about who judged what and when, which is exactly what the
append-only, hash-chained log is for; the latest decision per media is read back from it. Views
are logged the same way (action ``view``: ``reveal``, ``revisit``, ``hide`` with the seconds
shown), so a centre can show a reviewer's exposure and an auditor can replay who saw what.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haechi.errors import InputError, NotFound
from haechi.evidence import custody
from haechi.store import casekeys
from haechi.store.models import Case, CaseItem, CustodyEntry, Notice

#: item statuses that still need a person to look (the rest are notified, removed, ...), most
#: urgent first — the queue's order: a copy back after removal, then one still up past its
#: notice's deadline, then new finds
REVIEWABLE = ("reuploaded", "still_up", "found")
#: what a reviewer can decide about one media entry
DECISIONS = ("confirmed", "not_a_match", "escalate")
#: custody actions
VIEW, DECISION = "view", "review_decision"


@dataclass(frozen=True)
class Match:
    """One bank match of a media entry, as the scanner recorded it at capture."""

    bank: str
    label: str | None
    method: str  # pdq | md5 | sha256 | local | vpdq ...
    signal_type: str
    distance: int | None  # Hamming bits for PDQ-family matches
    transform: str | None  # e.g. original, flip_h, rot90
    inliers: int | None = None  # local-feature (ORB) matches
    t_s: float | None = None  # the video frame's time, for a frame match
    verdict: str | None = None  # copy (may be named in a notice) | lead (for a person to judge)

    @classmethod
    def of(cls, m: dict[str, Any]) -> Match:
        return cls(bank=str(m.get("bank", "")), label=m.get("label"), method=str(m.get("method", "")),
                   signal_type=str(m.get("signal_type", "")), distance=m.get("distance"),
                   transform=m.get("transform"), inliers=m.get("inliers"), t_s=m.get("t_s"),
                   verdict=m.get("verdict"))


@dataclass(frozen=True)
class Decision:
    decision: str  # one of DECISIONS
    actor: str
    at: str  # ISO 8601 UTC, as in the custody log
    note: str = ""


@dataclass(frozen=True)
class QueueEntry:
    """One captured media file of an item awaiting review."""

    case: str
    item: int
    index: int
    url: str
    item_status: str
    synthetic: bool
    matches: tuple[Match, ...]
    decision: Decision | None = None

    @property
    def key(self) -> str:
        return f"{self.item}/{self.index}"

    @property
    def masked_name(self) -> str:
        """Where the media was, without its file name or path (a file name can be the victim's
        name): ``host/…/•••.jpg``."""
        return mask_url(self.url)


def mask_url(url: str) -> str:
    """``https://x.example/u/kim-jiyoung.jpg`` → ``x.example/…/•••.jpg``: host and extension only."""
    parts = urlsplit(url)
    name = parts.path.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    ext = ext if ext.isalnum() and len(ext) <= 5 else ""
    return f"{parts.hostname or '?'}/…/•••{'.' + ext if ext else ''}"


def _decisions(session: Session, case_refs: set[str]) -> dict[tuple[int, int], Decision]:
    """The latest decision per (item, media index) among the given cases' custody entries."""
    if not case_refs:
        return {}
    out: dict[tuple[int, int], Decision] = {}
    rows = session.execute(select(CustodyEntry.actor, CustodyEntry.at, CustodyEntry.details, CustodyEntry.case_ref)
                           .where(CustodyEntry.action == DECISION, CustodyEntry.case_ref.in_(case_refs))
                           .order_by(CustodyEntry.id)).all()
    for actor, at, details, case_ref in rows:
        d = casekeys.opened(session, case_ref, json.loads(details))
        out[(int(d["item"]), int(d["media"]))] = Decision(str(d["decision"]), actor, at, str(d.get("note", "")))
    return out


def queue(session: Session, item_id: int | None = None) -> list[QueueEntry]:
    """Captured media of items awaiting review in open cases — the most urgent first (see
    :data:`REVIEWABLE`), then oldest case first — with their
    matches and latest decision: two queries, not one per case (only item ``item_id``'s when
    given). Positions are stable while the queue's items are unchanged, so previous/next keep
    their place after a decision."""
    urgency = sql_case({s: k for k, s in enumerate(REVIEWABLE)}, value=CaseItem.status, else_=9)
    query = (select(Case.case_ref, CaseItem.id, CaseItem.media, CaseItem.status, CaseItem.synthetic)
             .join(Case, Case.id == CaseItem.case_id)
             .where(Case.status == "open", CaseItem.status.in_(REVIEWABLE))
             .order_by(urgency, Case.id, CaseItem.id))
    if item_id is not None:
        query = query.where(CaseItem.id == item_id)
    rows = session.execute(query).all()
    decided = _decisions(session, {r[0] for r in rows})
    entries = []
    for case_ref, item, media, status, synthetic in rows:
        for k, m in enumerate(json.loads(media)):
            if m.get("sha256"):
                entries.append(QueueEntry(case=case_ref, item=item, index=k, url=str(m["url"]), item_status=status,
                                          synthetic=bool(synthetic),
                                          matches=tuple(Match.of(x) for x in m.get("matches") or []),
                                          decision=decided.get((item, k))))
    return entries


def _layout(session: Session) -> list[tuple[str, int, list[int]]]:
    """The queue's order without its contents: ``[(case, item id, media indices)]`` in queue
    order — one query of the reviewable items' ids and media lists, no decisions, no matches."""
    urgency = sql_case({s: k for k, s in enumerate(REVIEWABLE)}, value=CaseItem.status, else_=9)
    rows = session.execute(select(Case.case_ref, CaseItem.id, CaseItem.media)
                           .join(Case, Case.id == CaseItem.case_id)
                           .where(Case.status == "open", CaseItem.status.in_(REVIEWABLE))
                           .order_by(urgency, Case.id, CaseItem.id)).all()
    out = []
    for case_ref, item, media in rows:
        indices = [k for k, m in enumerate(json.loads(media)) if m.get("sha256")]
        if indices:
            out.append((case_ref, item, indices))
    return out


@dataclass(frozen=True)
class QueueWindow:
    """One place in the queue: the entry at ``position`` (0-based; None when the queue is
    empty) and the queue's length."""

    entry: QueueEntry | None
    position: int
    total: int


def queue_at(session: Session, position: int) -> QueueWindow:
    """The queue entry at ``position`` (clamped into the queue) and the queue's length, without
    building the whole queue: the order comes from :func:`_layout`, the entry (its matches and
    decision) from its own item and case only. Same order and positions as :func:`queue`."""
    layout = _layout(session)
    total = sum(len(ix) for _, _, ix in layout)
    position = min(max(position, 0), max(total - 1, 0))
    seen = 0
    for _, item, indices in layout:
        if position < seen + len(indices):
            return QueueWindow(entry(session, item, indices[position - seen]), position, total)
        seen += len(indices)
    return QueueWindow(None, 0, 0)


def queue_position(session: Session, item_id: int, index: int) -> int:
    """The 0-based position of an item's media in the queue (0 when it has left the queue),
    from the queue's order alone."""
    seen = 0
    for _, item, indices in _layout(session):
        if item == item_id and index in indices:
            return seen + indices.index(index)
        seen += len(indices)
    return 0


def pending_count(session: Session) -> int:
    """How many queue entries have no decision yet."""
    layout = _layout(session)
    keys = {(item, k) for _, item, ix in layout for k in ix}
    decided = _decisions(session, {case for case, _, _ in layout})
    return len(keys - set(decided))


def entry(session: Session, item_id: int, index: int) -> QueueEntry | None:
    """The queue entry of one item's media, or None (not in the queue, or no such number):
    looked up by its item alone, so a preview request does not rebuild the whole queue."""
    if not 0 < item_id < 2**62:  # a path number no database id can be
        return None
    return next((e for e in queue(session, item_id) if e.index == index), None)


def position(entries: list[QueueEntry], item_id: int, index: int) -> int:
    """The 0-based position of an entry in the queue (0 when it has left the queue)."""
    return next((k for k, e in enumerate(entries) if e.item == item_id and e.index == index), 0)


def log_view(session: Session, actor: str, e: QueueEntry, event: str, **details: Any) -> None:
    """A custody ``view`` entry: ``reveal`` (the original was asked for), ``revisit`` (shown again
    inside the grant), ``hide`` (with ``seconds_shown``, and ``reason`` when not the button)."""
    custody.append(session, VIEW, actor, case_ref=e.case,
                   details={"item": e.item, "media": e.index, "event": event, **details})


class ExposureLimit(InputError):
    """The reviewer reached her daily limit of originals shown."""


def reveal(session: Session, actor: str, item_id: int, index: int, limit: int | None = None) -> QueueEntry | None:
    """Log that ``actor`` reveals an original (None: no such entry). With ``limit``, refused
    (ExposureLimit) once she revealed that many today — counted and logged in one transaction."""
    e = entry(session, item_id, index)
    if e is None:
        return None
    if limit is not None and exposure_today(session, actor) >= limit:
        raise ExposureLimit(actor, f"{limit} originals shown today: the daily limit")
    log_view(session, actor, e, "reveal")
    return e


def decide(session: Session, actor: str, e: QueueEntry, decision: str, note: str = "") -> Decision:
    """Record a reviewer's decision on one media entry in the custody log; raises InputError for
    a decision not in :data:`DECISIONS` or a note over 1,000 characters."""
    if decision not in DECISIONS:
        raise InputError(decision, f"decision must be one of {', '.join(DECISIONS)}")
    if len(note) > 1000:
        raise InputError("note", "at most 1000 characters")
    # the note is free text (it can name her): sealed with the case's key, erasable (#17 low 13)
    row = custody.append(session, DECISION, actor, case_ref=e.case,
                         details={"item": e.item, "media": e.index, "decision": decision},
                         private={"note": note} if note else None)
    return Decision(decision, actor, row.at, note)


def case_decisions(session: Session, case_ref: str) -> dict[tuple[int, int], Decision]:
    """The latest decision per (item, media index) of one case, for the case page."""
    return _decisions(session, {case_ref})


def exposure_today(session: Session, actor: str, now: datetime | None = None) -> int:
    """How many originals ``actor`` revealed today (UTC): the per-reviewer exposure counter."""
    day = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
    return int(session.scalar(select(func.count()).select_from(CustodyEntry).where(
        CustodyEntry.action == VIEW, CustodyEntry.actor == actor, CustodyEntry.at >= day,
        CustodyEntry.details.like('%"event":"reveal"%'))) or 0)


def notice_for_approval(session: Session, notice_id: int) -> dict[str, Any]:
    """A notice as the approver sees it (text, recipient, items) with what four-eyes approval
    needs: ``drafted_by`` (from the custody log), ``channel`` (``email`` or ``form``, from the
    recipient) and ``same_items`` (other notices of the case naming exactly these items, so a
    second identical notice is seen before it is sent). Raises NotFound."""
    from haechi.cases.service import notice_public

    n = session.get(Notice, notice_id)
    if n is None:
        raise NotFound("notice", str(notice_id))
    out = notice_public(n)
    case = session.get(Case, n.case_id)
    out["case"] = case.case_ref if case else None
    out["drafted_by"] = drafted_by(session, n)
    recipient = n.recipient or ""
    out["channel"] = "email" if "@" in recipient else "form" if recipient.startswith(("http://", "https://")) \
        else None
    items = sorted(json.loads(n.item_ids))
    out["same_items"] = [{"id": o.id, "status": o.status} for o in session.scalars(
        select(Notice).where(Notice.case_id == n.case_id, Notice.id != n.id).order_by(Notice.id))
        if sorted(json.loads(o.item_ids)) == items]
    return out


def drafted_by(session: Session, n: Notice) -> str | None:
    """Who drafted a notice: the actor of its ``notice_draft`` custody entry."""
    case = session.get(Case, n.case_id)
    for actor, details in session.execute(select(CustodyEntry.actor, CustodyEntry.details).where(
            CustodyEntry.action == "notice_draft", CustodyEntry.case_ref == (case.case_ref if case else None),
            CustodyEntry.details.like(f'%"notice":{n.id},%'))).all():
        if json.loads(details).get("notice") == n.id:
            return str(actor)
    return None


def confirmed_items(session: Session, case_ref: str) -> set[int]:
    """Items of a case with at least one media a reviewer confirmed (latest decision): the
    only items a notice may name — a page that merely carried an unrelated image is not one."""
    return {item for (item, _), d in case_decisions(session, case_ref).items() if d.decision == "confirmed"}


def notice_items(session: Session, case_ref: str, picked: list[int]) -> list[int]:
    """The items a notice drafted from ``picked`` will name; raises InputError when none is
    picked or a picked item is not confirmed by a reviewer, is not in the case, or is no longer
    awaiting action (notified or removed)."""
    if not picked:
        raise InputError("items", "choose at least one item a reviewer confirmed")
    open_items = {i for i, s in session.execute(
        select(CaseItem.id, CaseItem.status).join(Case, Case.id == CaseItem.case_id)
        .where(Case.case_ref == case_ref)).all() if s in REVIEWABLE}
    confirmed = confirmed_items(session, case_ref)
    for item in picked:
        if item not in open_items:
            raise InputError(f"item {item}", f"not an open item of case {case_ref}")
        if item not in confirmed:
            raise InputError(f"item {item}", "not confirmed by a reviewer: decide it in the review queue first")
    return sorted(set(picked))


#: how a caseworker says a notice left Haechi: on the platform's web form, or from her own mail
SUBMISSION_CHANNELS = ("form", "email")


def record_submission(session: Session, notice_id: int, actor: str, channel: str) -> bool:
    """Record that an approved notice was submitted by hand (the platform's web form, or her own
    mail client): the notice becomes ``sent`` (its deadline starts now), its items ``notified``,
    and the custody log says who and how. Returns False when it was already sent (nothing
    changes); raises NotFound, or InputError for a draft or an unknown channel."""
    from haechi.cases.service import mark_sent

    if channel not in SUBMISSION_CHANNELS:
        raise InputError(channel, f"channel must be one of {', '.join(SUBMISSION_CHANNELS)}")
    n = session.get(Notice, notice_id)
    if n is None:
        raise NotFound("notice", str(notice_id))
    if n.status == "sent":
        return False
    if n.status not in ("approved", "exported"):
        raise InputError(str(notice_id), "notice is not approved yet")
    # a person confirms the platform has it: its clock starts now (issue #18: export alone starts none)
    mark_sent(session, notice_id, actor, f"{channel}:{n.recipient or 'unknown'}", received=True)
    return True


def notice_eml(session: Session, notice_id: int, sender: Any) -> bytes:
    """An approved or sent notice as an .eml file (its Message-ID fixed at approval); raises
    NotFound, or InputError for a draft (a draft is not ready to leave)."""
    from haechi.cases.service import to_eml

    n = session.get(Notice, notice_id)
    if n is None:
        raise NotFound("notice", str(notice_id))
    if n.status == "draft":
        raise InputError(str(notice_id), "notice is not approved yet")
    return bytes(to_eml(n, sender))
