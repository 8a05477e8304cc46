"""Cases, items and takedown notices.

A case holds items (where a victim's media was found). Notices are drafted from editable
templates (``templates/notices.yaml``, filled by :mod:`haechi.cases.texts`) for a legal regime
and a language, one per platform, addressed to the channel the editable host registry names
for the regime (``templates/hosts.yaml``, :mod:`haechi.cases.recipients`), approved by a
second person while the centre's identity is real, and sent once: the Message-ID is fixed at
approval, so a retry after a crash never sends a second, different mail. A notice's clock
starts when the platform received it (SMTP, or a submission a person recorded), never at
export; :func:`due` says which clock runs and why (``templates/clocks.yaml``). Every step is a
custody-log entry that names the case, never the victim.
"""

from __future__ import annotations

import hashlib
import json
import smtplib
import statistics
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haechi.cases.recipients import Channel, channel_for, lookup_host
from haechi.cases.texts import Sender, locate, render, sender_problems
from haechi.errors import InputError, NotFound
from haechi.evidence import custody
from haechi.store import casekeys
from haechi.store.crypto import Cipher
from haechi.store.models import Case, CaseItem, Notice

TEMPLATES = Path(__file__).parent / "templates"


class ItemStatus(StrEnum):
    """Where a case item stands (stored as these strings; ``str(x) == x.value``)."""

    FOUND = "found"
    NOTIFIED = "notified"
    REMOVED = "removed"
    STILL_UP = "still_up"
    REUPLOADED = "reuploaded"
    #: the URL could not be reached or answered an error when added: where the material was is
    #: itself evidence, so it is kept and captured again later
    UNREACHABLE = "unreachable"


class NoticeStatus(StrEnum):
    """A notice's life: drafted, approved by a second person, exported for a form (nothing
    received yet), sent = received by the platform (SMTP accepted, or a submission confirmed)."""

    DRAFT = "draft"
    APPROVED = "approved"
    EXPORTED = "exported"
    SENT = "sent"


STATUSES = tuple(str(x) for x in ItemStatus)
#: statuses that still need action (the material is, or may be, up)
AWAITING_ACTION = (ItemStatus.FOUND, ItemStatus.STILL_UP, ItemStatus.REUPLOADED)


@lru_cache(maxsize=1)
def templates() -> dict[str, Any]:
    return yaml.safe_load((TEMPLATES / "notices.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def clocks() -> dict[str, Any]:
    return yaml.safe_load((TEMPLATES / "clocks.yaml").read_text(encoding="utf-8"))


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _case(session: Session, case_ref: str) -> Case:
    case = session.scalar(select(Case).where(Case.case_ref == case_ref))
    if case is None:
        raise NotFound("case", case_ref)
    return case


def create_case(session: Session, cipher: Cipher, actor: str, victim_ref: str | None = None,
                contact: str | None = None) -> dict[str, Any]:
    case = Case(victim_ref=victim_ref, status="open", case_ref="pending",
                contact_ciphertext=cipher.encrypt(contact.encode()) if contact else None)
    session.add(case)
    session.flush()
    case.case_ref = f"C-{datetime.now(UTC).year}-{case.id:05d}"
    # the append-only log never holds free text a person typed (a "reference" can be her name and
    # could never be erased from the chain): the case's own pseudonymous number names it (#17)
    custody.append(session, "case_create", actor, case_ref=case.case_ref,
                   details={"victim_ref_given": bool(victim_ref)})
    return show_case(session, case.case_ref)


def show_case(session: Session, case_ref: str) -> dict[str, Any]:
    case = _case(session, case_ref)
    items = list(session.scalars(select(CaseItem).where(CaseItem.case_id == case.id).order_by(CaseItem.id)))
    notices = list(session.scalars(select(Notice).where(Notice.case_id == case.id).order_by(Notice.id)))
    return {"case": case.case_ref, "victim_ref": case.victim_ref, "status": case.status,
            "created_at": case.created_at.isoformat(),
            "closed_at": case.closed_at.isoformat() if case.closed_at else None,
            "has_contact": case.contact_ciphertext is not None,
            "items": [item_public(i) for i in items],
            "minor": case.minor,
            "notices": [{"id": n.id, "regime": n.regime, "lang": n.lang, "status": n.status, "recipient": n.recipient,
                         "platform": n.platform, "channel": n.channel, "items": json.loads(n.item_ids),
                         "received_at": n.received_at.isoformat() if n.received_at else None} for n in notices]}


def item_public(i: CaseItem) -> dict[str, Any]:
    return {"id": i.id, "url": i.url, "host": i.host, "platform": i.platform, "status": i.status,
            "synthetic": i.synthetic, "media": json.loads(i.media), "created_at": i.created_at.isoformat(),
            "notified_at": i.notified_at.isoformat() if i.notified_at else None,
            "removed_at": i.removed_at.isoformat() if i.removed_at else None}


def list_cases(session: Session) -> list[dict[str, Any]]:
    counts = {case_id: (int(n), int(removed or 0)) for case_id, n, removed in session.execute(
        select(CaseItem.case_id, func.count(), func.sum(sql_case((CaseItem.status == "removed", 1), else_=0)))
        .group_by(CaseItem.case_id)).all()}  # two queries, not one per case
    out = []
    for case in session.scalars(select(Case).order_by(Case.id)):
        n, removed = counts.get(case.id, (0, 0))
        out.append({"case": case.case_ref, "victim_ref": case.victim_ref, "status": case.status,
                    "items": n, "removed": removed, "created_at": case.created_at.isoformat()})
    return out


def erase_case(session: Session, case_ref: str, actor: str) -> dict[str, Any]:
    """Crypto-shred a case's free text (issue #17 low 13): delete its custody key (every sealed
    note, file name and path of its entries becomes unreadable for good; the chain, hashed over the
    ciphertext, still verifies), drop the case's victim reference and contact, close it. NotFound
    for an unknown case. Evidence artefacts and URLs are kept (evidence, not typed text)."""
    case = _case(session, case_ref)
    had_key = casekeys.erase(session, case_ref)
    case.victim_ref, case.contact_ciphertext = None, None
    if case.status != "closed":
        case.status, case.closed_at = "closed", datetime.now(UTC)
    custody.append(session, "case_erase", actor, case_ref=case_ref, details={"key_erased": had_key})
    return {"case": case_ref, "key_erased": had_key}


def close_case(session: Session, case_ref: str, actor: str) -> None:
    case = _case(session, case_ref)
    case.status, case.closed_at = "closed", datetime.now(UTC)
    custody.append(session, "case_close", actor, case_ref=case_ref)


def add_item(session: Session, case_ref: str, url: str, media: list[dict[str, Any]], actor: str,
             synthetic: bool = False) -> tuple[dict[str, Any], bool]:
    """Add one item; returns (item, created). A URL already in the case is not added twice."""
    case = _case(session, case_ref)
    if case.status != "open":
        raise InputError(case_ref, "case is closed: reopen it or create a new case")
    existing = session.scalar(select(CaseItem).where(CaseItem.case_id == case.id, CaseItem.url == url))
    if existing is not None:
        return item_public(existing), False
    host = urlsplit(url).hostname if url.startswith(("http://", "https://")) else None
    entry = lookup_host(host or ("t.me" if url.startswith("telegram:") else None))
    item = CaseItem(case_id=case.id, url=url, host=host, platform=entry["platform"] if entry else None,
                    media=json.dumps(media), status="found", synthetic=synthetic)
    session.add(item)
    session.flush()
    public = url.startswith(("http://", "https://"))  # a local path can carry a name: only its digest
    where = {"url": url} if public else {"local_file_sha256": hashlib.sha256(url.encode()).hexdigest()}
    custody.append(session, "item_add", actor, case_ref=case_ref, details={"item": item.id, **where},
                   artefacts={(m["url"] if str(m.get("url", "")).startswith(("http://", "https://"))
                               else "local:" + hashlib.sha256(str(m["url"]).encode()).hexdigest()[:16]): m["sha256"]
                              for m in media if m.get("sha256") and m.get("url")})
    return item_public(item), True


def set_minor(session: Session, case_ref: str, minor: bool, actor: str) -> dict[str, Any]:
    """Mark a case as concerning a minor: its notices take the minors' route (no media links to
    generic desks; US/UK/EU: NCMEC, IWF or a national hotline instead of an NCII notice)."""
    case = _case(session, case_ref)
    case.minor = minor
    custody.append(session, "case_minor", actor, case_ref=case_ref, details={"minor": minor})
    return show_case(session, case_ref)


#: where a minor's case goes instead of an NCII notice, per regime (KR: the notice itself, citing 아청법)
MINOR_ROUTES = {
    "us": "report to NCMEC's CyberTipline (https://report.cybertip.org/), not a TAKE IT DOWN notice",
    "uk": "report to the Internet Watch Foundation (https://report.iwf.org.uk/), not an NCII notice",
    "eu": "report to the national INHOPE hotline (https://www.inhope.org/), not a DSA notice",
    "dmca": "never a DMCA notice (it is forwarded and may be published): report to NCMEC's CyberTipline "
            "(https://report.cybertip.org/) or the IWF (https://report.iwf.org.uk/)",
}


def _reviewed_media(session: Session, case_ref: str) -> dict[int, dict[int, str]]:
    """The latest review decision per media index of each reviewed item of a case:
    ``{item id: {media index: "confirmed" | "not_a_match" | "escalate"}}``."""
    from haechi.cases.review import case_decisions

    out: dict[int, dict[int, str]] = {}
    for (item, index), d in case_decisions(session, case_ref).items():
        out.setdefault(item, {})[index] = d.decision
    return out


def _named_media(item_id: int, media: list[dict[str, Any]], reviewed: dict[int, dict[int, str]]
                 ) -> list[dict[str, Any]]:
    """The media of an item a notice may name: once a reviewer has decided any media of the item,
    only those she confirmed (never one she judged not a match, escalated or has not seen yet);
    an item nobody reviewed keeps every matched media (the CLI's draft without a review)."""
    decided = reviewed.get(item_id)
    if not decided:
        return media
    return [m for k, m in enumerate(media) if decided.get(k) == "confirmed"]


def draft_notice(session: Session, item_ids: list[int], regime: str, lang: str, sender: Sender, actor: str,
                 deadline_hours: int | None = None, recipient: str | None = None, rdap_url: str | None = None,
                 member_state: str = "", trusted_flagger: str = "", personal_details: bool = False) -> dict[str, Any]:
    """A draft notice for items of one case on one PLATFORM (x.com and pbs.twimg.com are one),
    addressed to the channel the host registry names for the regime. ``deadline_hours`` is the
    reply time a Korean notice asks for (Korean law has no hour limit); US/UK hours are the law's.
    Raises NotFound (items), InputError (mixed cases or platforms, a closed case, a local-file
    item, too many URLs for the platform's form, a minor's case outside the minors' route)."""
    if recipient is not None and (any(c in recipient for c in "\r\n\0") or len(recipient) > 320):
        # it becomes an e-mail header: a line break would let it add headers of its own
        raise InputError("recipient", "one address or form URL, without line breaks (at most 320 characters)")
    items = list(session.scalars(select(CaseItem).where(CaseItem.id.in_(item_ids)).order_by(CaseItem.id)))
    if len(items) != len(set(item_ids)):
        missing = set(item_ids) - {i.id for i in items}
        raise NotFound("item", ", ".join(map(str, sorted(missing))))
    if len({i.case_id for i in items}) != 1:
        raise InputError("items", "a notice covers items of one case")
    case = session.get(Case, items[0].case_id)
    assert case is not None
    if case.status != "open":
        raise InputError(case.case_ref, "case is closed: no new notices")
    spec = templates()["regimes"].get(regime)
    if spec is None:
        raise InputError(regime, f"regime must be one of {', '.join(templates()['regimes'])}")
    if case.minor and regime in MINOR_ROUTES:
        raise InputError(case.case_ref, f"the case concerns a minor: {MINOR_ROUTES[regime]}")
    if deadline_hours is not None and regime != "kr":
        raise InputError("--deadline-hours", "only a Korean notice asks for a reply time; the US and UK hours are "
                                             "set by law and the DSA sets none")
    if regime == "dmca" and any(i.synthetic for i in items):
        raise InputError("items", "a DMCA notice claims copyright in the person's own image; for a synthetic item "
                                  "use the kr, us, eu or uk regime")
    platforms = {_platform_key(i) for i in items}
    if len(platforms) != 1:
        raise InputError("items", f"items are on different platforms ({', '.join(sorted(platforms))}): "
                                  "draft one notice per platform")
    entry = lookup_host(_item_host(items[0]))
    channel = _channel(entry, items[0], regime, case.minor, recipient, rdap_url)
    if entry and entry.get("max_urls") and len(items) > int(entry["max_urls"]):
        raise InputError("items", f"{entry['platform']} takes at most {entry['max_urls']} URLs per request: "
                                  "draft several notices")
    # media links of a minor's case go only to a minors' channel, never to a generic desk
    with_media = not case.minor or channel.minors
    reviewed = _reviewed_media(session, case.case_ref)
    targets = [locate(i.id, i.url, _named_media(i.id, json.loads(i.media), reviewed), i.synthetic, case.minor,
                      with_media) for i in items]
    hours = deadline_hours or int(spec.get("reply_hours") or spec.get("deadline_hours") or 0)
    subject, body = render(regime, lang, case.case_ref, targets, sender, hours, member_state, trusted_flagger,
                           personal_details=personal_details)
    notice = Notice(case_id=case.id, item_ids=json.dumps(sorted(item_ids)), regime=regime, lang=lang,
                    recipient=channel.address, subject=subject, body=body, status=NoticeStatus.DRAFT,
                    deadline_hours=hours, drafted_by=actor, platform=channel.platform or _platform_key(items[0]),
                    channel=channel.kind, channel_process=channel.process)
    session.add(notice)
    session.flush()
    custody.append(session, "notice_draft", actor, case_ref=case.case_ref,
                   details={"notice": notice.id, "regime": regime, "lang": lang, "items": sorted(item_ids),
                            "channel": channel.kind, "platform": notice.platform})
    warnings = _warnings(channel, sender) + ([" ".join(spec["warning"].split())] if spec.get("warning") else [])
    return dict(notice_public(notice, sender), channel_info=channel.public(), warnings=warnings)


def _item_host(item: CaseItem) -> str | None:
    return "t.me" if item.url.startswith("telegram:") else item.host


def _platform_key(item: CaseItem) -> str:
    entry = lookup_host(_item_host(item))
    return entry["platform"] if entry else (item.host or "local file")


def _channel(entry: dict[str, Any] | None, item: CaseItem, regime: str, minor: bool, recipient: str | None,
             rdap_url: str | None) -> Channel:
    if recipient:
        return Channel("given", recipient, entry["platform"] if entry else None,
                       note="typed by a person: not checked against the host registry")
    if entry is not None:
        found = channel_for(entry, regime, minor)
        if found is not None:
            return found
        return Channel("none", None, entry["platform"],
                       note="no channel in the registry for this case (a minor's case needs a minors' route)")
    if minor or not item.host:
        return Channel("none", None, None, note="no registry entry; a minor's case never goes to an RDAP contact")
    from haechi.cases.recipients import rdap_channel

    return rdap_channel(item.host, rdap_url) or Channel("none", None, None, note="no registry entry, no RDAP contact")


def _warnings(channel: Channel, sender: Sender) -> list[str]:
    out = [f"cannot be approved yet: {p}" for p in sender_problems(sender)]
    if channel.address is None:
        out.append("no recipient: find the platform's channel and draft again with --to (cannot be approved)")
    if channel.kind in ("email", "form") and channel.verified_on is None:
        out.append(f"the channel {channel.address} is not verified (host registry): check it before submitting")
    if channel.kind == "last_resort":
        out.append("last resort: an RDAP abuse contact (CDN or ISP) is not the platform and starts no legal clock")
    if channel.warning:
        out.append(channel.warning)
    if channel.kind == "form":
        out.append("a web form: export the notice (send --export), submit it there, then record the submission: "
                   "haechi notice submitted ID --at TIME --ref REFERENCE (the clock starts then)")
    return out


def notice_public(n: Notice, sender: Sender | None = None) -> dict[str, Any]:
    out = {"id": n.id, "regime": n.regime, "lang": n.lang, "status": n.status, "recipient": n.recipient,
           "platform": n.platform, "channel": n.channel, "channel_process": n.channel_process,
           "subject": n.subject, "text": n.body, "items": json.loads(n.item_ids), "deadline_hours": n.deadline_hours,
           "drafted_by": n.drafted_by, "approved_by": n.approved_by,
           "sent_at": n.sent_at.isoformat() if n.sent_at else None,
           "received_at": n.received_at.isoformat() if n.received_at else None,
           "submission_ref": n.submission_ref,
           "receipt_at": n.receipt_at.isoformat() if n.receipt_at else None,
           "decision_at": n.decision_at.isoformat() if n.decision_at else None, "decision": n.decision,
           "message_id": n.message_id}
    if sender is not None:
        out["eml"] = to_eml(n, sender).as_string()
    return out


def to_eml(n: Notice, sender: Sender) -> EmailMessage:
    msg = EmailMessage()
    signer, org = sender.names(n.lang)
    msg["From"] = f"{signer.split(',')[0]} ({org}) <{sender.email}>"
    msg["To"] = n.recipient if n.recipient and "@" in n.recipient else "undisclosed-recipients:;"
    msg["Subject"] = n.subject
    if n.message_id:
        msg["Message-ID"] = n.message_id
    msg.set_content(n.body)
    return msg


def approve_notice(session: Session, notice_id: int, by: str, sender: Sender, single_person_centre: bool = False
                   ) -> dict[str, Any]:
    """Approve a draft. Refused (InputError) while the sender is a placeholder or not the sender
    the text was drafted with, without a recipient, or by the person who drafted it (four-eyes;
    ``single_person_centre`` lets a one-person centre approve its own drafts, said in the log)."""
    n = session.get(Notice, notice_id)
    if n is None:
        raise NotFound("notice", str(notice_id))
    if n.status != NoticeStatus.DRAFT:
        return notice_public(n)
    problems = sender_problems(sender)
    if problems:
        raise InputError("sender", "; ".join(problems) + " (haechi setup, or the sender_* settings: "
                                                         "haechi/cases/templates/README.md)")
    if sender.email not in n.body or sender.names(n.lang)[0] not in n.body:
        raise InputError(str(notice_id), "the notice was drafted with another sender identity: draft it again")
    if not n.recipient:
        raise InputError(str(notice_id), "the notice has no recipient: draft it again with --to ADDRESS")
    same = n.drafted_by is not None and by.strip().lower() == n.drafted_by.strip().lower()
    if same and not single_person_centre:
        raise InputError(str(notice_id), f"{by} drafted this notice: another person must approve it (four-eyes; "
                                         "a one-person centre sets single_person_centre = true)")
    n.status, n.approved_by, n.approved_at = NoticeStatus.APPROVED, by, datetime.now(UTC)
    n.message_id = make_msgid(domain="haechi.local")  # fixed now: a resend reuses it
    case = session.get(Case, n.case_id)
    custody.append(session, "notice_approve", by, case_ref=case.case_ref if case else None,
                   details={"notice": n.id, "four_eyes": not same})
    return notice_public(n)


def mark_sent(session: Session, notice_id: int, actor: str, channel: str, received: bool) -> None:
    """Record a send (SMTP: the platform received it now) or an export (nothing received yet)."""
    n = session.get(Notice, notice_id)
    assert n is not None
    now = datetime.now(UTC)
    n.sent_at = now
    if received:
        _received(session, n, now)
    else:
        n.status = NoticeStatus.EXPORTED
    case = session.get(Case, n.case_id)
    custody.append(session, "notice_send", actor, case_ref=case.case_ref if case else None,
                   details={"notice": n.id, "channel": channel, "message_id": n.message_id})


def _received(session: Session, n: Notice, at: datetime) -> None:
    n.status, n.received_at = NoticeStatus.SENT, at
    for item in session.scalars(select(CaseItem).where(CaseItem.id.in_(json.loads(n.item_ids)))):
        if item.status in (ItemStatus.FOUND, ItemStatus.REUPLOADED):  # a re-upload is notified anew
            item.status, item.notified_at = ItemStatus.NOTIFIED, at


def mark_submitted(session: Session, notice_id: int, at: datetime, ref: str, actor: str) -> dict[str, Any]:
    """A person confirms that the platform received the notice (a form's confirmation, at ``at``
    with its reference ``ref``): the clock starts at ``at``. Raises NotFound, InputError (not
    approved, already received, a time in the future or before approval, no reference)."""
    n = session.get(Notice, notice_id)
    if n is None:
        raise NotFound("notice", str(notice_id))
    if n.status not in (NoticeStatus.APPROVED, NoticeStatus.EXPORTED):
        raise InputError(str(notice_id), f"notice is {n.status}: only an approved or exported notice is submitted")
    at = _utc(at)
    if not ref.strip():
        raise InputError("--ref", "give the platform's confirmation or ticket reference")
    if at > datetime.now(UTC) + timedelta(minutes=5):
        raise InputError("--at", f"{at.isoformat()} is in the future (a time without a zone is UTC: add it, "
                                 "e.g. +09:00)")
    if n.approved_at is not None and at < _utc(n.approved_at) - timedelta(minutes=5):
        raise InputError("--at", f"{at.isoformat()} is before the notice was approved (a time without a zone is "
                                 "UTC: add it, e.g. +09:00)")
    n.submission_ref = ref.strip()
    _received(session, n, at)
    case = session.get(Case, n.case_id)
    custody.append(session, "notice_submitted", actor, case_ref=case.case_ref if case else None,
                   details={"notice": n.id, "at": at.isoformat()},
                   private={"ref": n.submission_ref} if n.submission_ref else None)
    return notice_public(n)


#: what a provider may tell us after receiving a notice (DSA Art. 16(4) and 16(5))
REPLIES = ("receipt", "decision")


def record_reply(session: Session, notice_id: int, kind: str, at: datetime, outcome: str | None, actor: str
                 ) -> dict[str, Any]:
    """Record the provider's confirmation of receipt or its decision (``outcome``: removed,
    restricted, refused, ...). Raises NotFound, InputError (unknown kind, not yet received)."""
    n = session.get(Notice, notice_id)
    if n is None:
        raise NotFound("notice", str(notice_id))
    if kind not in REPLIES:
        raise InputError(kind, f"reply must be one of {', '.join(REPLIES)}")
    if n.received_at is None:
        raise InputError(str(notice_id), "the platform has not received this notice yet (send or submitted first)")
    at = _utc(at)
    if kind == "receipt":
        n.receipt_at = at
    else:
        if not outcome:
            raise InputError("--outcome", "a decision needs its outcome (removed, restricted, refused, ...)")
        n.decision_at, n.decision = at, outcome
        n.receipt_at = n.receipt_at or at
    case = session.get(Case, n.case_id)
    custody.append(session, f"notice_{kind}", actor, case_ref=case.case_ref if case else None,
                   details={"notice": n.id, "at": at.isoformat(), "outcome": outcome})
    return notice_public(n)


def smtp_send(msg: EmailMessage, host: str, port: int, starttls: bool = False, user: str | None = None,
              password: str | None = None) -> None:
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        if starttls:
            smtp.starttls()
        if user and password:
            smtp.login(user, password)
        smtp.send_message(msg)


def due(session: Session, within_hours: float = 12.0, now: datetime | None = None) -> list[dict[str, Any]]:
    """Notices that need someone: a clock that has run out or runs out within ``within_hours``
    (with the escalation route once it has), and notices whose clock has not started (exported,
    never confirmed as submitted; or sent to a last-resort contact). Each row says which clock
    runs and why (``templates/clocks.yaml``)."""
    now = now or datetime.now(UTC)
    out = []
    rows = session.execute(select(Notice, Case.case_ref).join(Case, Case.id == Notice.case_id)
                           .where(Notice.status.in_([NoticeStatus.SENT, NoticeStatus.EXPORTED])).order_by(Notice.id)
                           ).all()
    wanted = {i for n, _ in rows for i in json.loads(n.item_ids)}
    items: dict[int, CaseItem] = {}
    ids = sorted(wanted)
    for k in range(0, len(ids), 500):  # the notices' items in a few queries, not one per notice
        items.update({i.id: i for i in session.scalars(select(CaseItem).where(CaseItem.id.in_(ids[k:k + 500])))})
    for n, case_ref in rows:
        pending = [items[i] for i in sorted(set(json.loads(n.item_ids)))
                   if i in items and items[i].status != ItemStatus.REMOVED]
        if not pending:
            continue
        row = _clock(n, now)
        if row is None or (row["hours_left"] is not None and row["hours_left"] > within_hours):
            continue
        out.append({"notice": n.id, "case": case_ref, "regime": n.regime,
                    "platform": n.platform, **row, "items": [_public_url(i.url) for i in pending],
                    "recipient": n.recipient})
    return sorted(out, key=lambda d: (d["hours_left"] is None, d["hours_left"] or 0.0))


def _public_url(url: str) -> str:
    from haechi.cases.recipients import telegram_link

    return (telegram_link(url) or url) if url.startswith("telegram:") else url


def _clock(n: Notice, now: datetime) -> dict[str, Any] | None:
    """Which clock runs for a notice: kind, why, deadline, hours left, overdue, escalation."""
    spec = clocks()["regimes"].get(n.regime, {})

    def row(kind: str, why: str, deadline: datetime | None, escalate: bool = False) -> dict[str, Any]:
        left = None if deadline is None else round((deadline - now).total_seconds() / 3600, 1)
        overdue = left is not None and left < 0
        return {"clock": kind, "why": why.strip(), "deadline": deadline.isoformat() if deadline else None,
                "hours_left": left, "overdue": overdue,
                "escalation": spec.get("escalation", "").strip() if overdue or escalate else None}

    if n.received_at is None:
        return row("not_started", "exported but no submission recorded: the platform has not received it, so no "
                                  "clock has started. Submit it through the platform's form, then record it: "
                                  f"haechi notice submitted {n.id} --at TIME --ref REFERENCE", None)
    received = _utc(n.received_at)
    if n.channel in ("last_resort", "proxy"):
        return row("none", "sent to a last-resort contact (CDN, ISP or proxy found by RDAP), not the platform: "
                           "no legal clock runs. Find the platform's own channel and notify it.", None)
    kind = spec.get("kind")
    if kind == "receipt_decision":
        if n.decision_at is not None:
            if (n.decision or "").lower() in ("removed", "restricted", "disabled"):
                return None  # the provider acted; re-checks watch the content
            until = _add_months(_utc(n.decision_at), int(spec.get("appeal_months", 6)))
            return row("appeal_window", f"decision '{n.decision}' on {_utc(n.decision_at).date()}: the internal "
                                        "complaint (DSA Art. 20) is open for at least 6 months. " + spec["why"],
                       until, escalate=True)
        if n.receipt_at is None:
            return row("receipt", "no confirmation of receipt yet (DSA Art. 16(4)); a reminder, not a deadline. "
                       + spec["why"], received + timedelta(hours=float(spec.get("remind_receipt_hours", 48))))
        return row("decision", "receipt confirmed, no decision yet (DSA Art. 16(5)); a reminder, not a deadline. "
                   + spec["why"], received + timedelta(hours=float(spec.get("remind_decision_hours", 168))))
    hours = float(spec.get("hours") or n.deadline_hours)
    if kind == "statutory" and not n.channel_process:
        return row("reminder", spec.get("not_statutory", spec["why"]), received + timedelta(hours=hours))
    return row(str(kind), spec["why"], received + timedelta(hours=hours))


def _add_months(dt: datetime, months: int) -> datetime:
    month = dt.month - 1 + months
    year, month = dt.year + month // 12, month % 12 + 1
    return dt.replace(year=year, month=month, day=min(dt.day, 28))


def set_item_status(session: Session, item_id: int, status: str, actor: str, details: dict[str, Any] | None = None
                    ) -> None:
    if status not in STATUSES:
        raise InputError(status, f"status must be one of {', '.join(STATUSES)}")
    item = session.get(CaseItem, item_id)
    if item is None:
        raise NotFound("item", str(item_id))
    if status == ItemStatus.REMOVED and (item.removed_at is None or item.status != ItemStatus.REMOVED):
        item.removed_at = datetime.now(UTC)  # each removal (also after a re-upload) restarts its re-checks
    item.status = status
    case = session.get(Case, item.case_id)
    custody.append(session, "item_status", actor, case_ref=case.case_ref if case else None,
                   details={"item": item_id, "status": status, **(details or {})})


def stats(session: Session, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
    """Aggregates a centre can publish: no victim references, no URLs."""
    cases = [c for c in session.scalars(select(Case))
             if (start is None or _utc(c.created_at) >= start) and (end is None or _utc(c.created_at) < end)]
    ids = {c.id for c in cases}
    items = [i for i in session.scalars(select(CaseItem)) if i.case_id in ids]
    by_host: dict[str, list[float]] = {}
    for i in items:
        if i.removed_at and i.notified_at:
            hours = (_utc(i.removed_at) - _utc(i.notified_at)).total_seconds() / 3600
            by_host.setdefault(i.platform or i.host or "unknown", []).append(hours)
    by_country: dict[str, list[float]] = {}
    for i in items:
        if i.removed_at and i.notified_at:
            hours = (_utc(i.removed_at) - _utc(i.notified_at)).total_seconds() / 3600
            by_country.setdefault(country_of(i.host), []).append(hours)
    all_hours = [h for v in by_host.values() for h in v]
    return {"cases": len(cases), "victims": len({c.victim_ref for c in cases if c.victim_ref}),
            "items_found": len(items), "items_notified": sum(i.notified_at is not None for i in items),
            "items_removed": sum(i.status == "removed" for i in items),
            "items_still_up": sum(i.status == "still_up" for i in items),
            "synthetic_share": round(sum(i.synthetic for i in items) / len(items), 3) if items else 0.0,
            "median_hours_to_removal": round(statistics.median(all_hours), 2) if all_hours else None,
            "median_hours_to_removal_by_host": {k: round(statistics.median(v), 2) for k, v in sorted(by_host.items())},
            "median_hours_to_removal_by_country": {k: round(statistics.median(v), 2)
                                                   for k, v in sorted(by_country.items())}}


def country_of(host: str | None) -> str:
    """Country of a host from its country-code top-level domain (``.kr`` → KR); generic TLDs
    are "unknown" — hosting country needs a GeoIP database, which Haechi does not ship."""
    if not host or "." not in host:
        return "unknown"
    tld = host.rsplit(".", 1)[-1].lower()
    if len(tld) == 2 and tld.isalpha():
        return {"uk": "GB"}.get(tld, tld.upper())
    return "unknown"
