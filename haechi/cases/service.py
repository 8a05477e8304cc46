"""Cases, items and takedown notices.

A case holds items (where a victim's media was found). Notices are drafted from editable
templates (``templates/notices.yaml``) for a legal regime and a language, addressed from the
editable host registry (``templates/hosts.yaml``), approved by a named person, and sent once:
the Message-ID is fixed at approval, so a retry after a crash never sends a second, different
mail. Every step is a custody-log entry that names the case, never the victim.
"""

from __future__ import annotations

import json
import smtplib
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from haechi.errors import InputError, NotFound
from haechi.evidence import custody
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
    """A notice's life: drafted, approved by a second person, sent (or exported)."""

    DRAFT = "draft"
    APPROVED = "approved"
    SENT = "sent"


STATUSES = tuple(str(x) for x in ItemStatus)
#: statuses that still need action (the material is, or may be, up)
AWAITING_ACTION = (ItemStatus.FOUND, ItemStatus.STILL_UP, ItemStatus.REUPLOADED)


@lru_cache(maxsize=1)
def templates() -> dict[str, Any]:
    return yaml.safe_load((TEMPLATES / "notices.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def host_registry() -> list[dict[str, Any]]:
    return list(yaml.safe_load((TEMPLATES / "hosts.yaml").read_text(encoding="utf-8"))["hosts"])


def lookup_host(host: str | None) -> dict[str, Any] | None:
    if not host:
        return None
    host = host.lower().rstrip(".")
    for entry in host_registry():
        if any(host == m or host.endswith("." + m) for m in entry["match"]):
            return entry
    return None


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
    custody.append(session, "case_create", actor, case_ref=case.case_ref, details={"victim_ref": victim_ref})
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
            "notices": [{"id": n.id, "regime": n.regime, "lang": n.lang, "status": n.status, "recipient": n.recipient,
                         "items": json.loads(n.item_ids)} for n in notices]}


def item_public(i: CaseItem) -> dict[str, Any]:
    return {"id": i.id, "url": i.url, "host": i.host, "platform": i.platform, "status": i.status,
            "synthetic": i.synthetic, "media": json.loads(i.media), "created_at": i.created_at.isoformat(),
            "notified_at": i.notified_at.isoformat() if i.notified_at else None,
            "removed_at": i.removed_at.isoformat() if i.removed_at else None}


def list_cases(session: Session) -> list[dict[str, Any]]:
    out = []
    for case in session.scalars(select(Case).order_by(Case.id)):
        items = list(session.scalars(select(CaseItem.status).where(CaseItem.case_id == case.id)))
        out.append({"case": case.case_ref, "victim_ref": case.victim_ref, "status": case.status,
                    "items": len(items), "removed": items.count("removed"), "created_at": case.created_at.isoformat()})
    return out


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
    entry = lookup_host(host)
    item = CaseItem(case_id=case.id, url=url, host=host, platform=entry["platform"] if entry else None,
                    media=json.dumps(media), status="found", synthetic=synthetic)
    session.add(item)
    session.flush()
    custody.append(session, "item_add", actor, case_ref=case_ref, details={"item": item.id, "url": url},
                   artefacts={m["url"]: m["sha256"] for m in media if m.get("sha256") and m.get("url")})
    return item_public(item), True


@dataclass(frozen=True)
class Sender:
    name: str
    org: str
    email: str


def render(regime: str, lang: str, case_ref: str, urls: list[str], sender: Sender, deadline_hours: int
           ) -> tuple[str, str]:
    """(subject, body) of a notice. Raises InputError for an unknown regime/language or a
    template that does not fill."""
    t = templates()
    if regime not in t["regimes"]:
        raise InputError(regime, f"regime must be one of {', '.join(t['regimes'])}")
    if lang not in t["languages"]:
        raise InputError(lang, f"language must be one of {', '.join(t['languages'])}")
    values = {"case": case_ref, "items": "\n".join(f"  - {u}" for u in urls), "count": len(urls),
              "sender": sender.name, "email": sender.email, "org": sender.org,
              "date": datetime.now(UTC).date().isoformat(), "deadline_hours": deadline_hours}
    parts: list[str] = []
    subject = ""
    try:
        for element in t["regimes"][regime]["required"]:
            if element == "subject":
                subject = t["elements"]["subject"][lang].format(**values)
                continue
            text = (t["legal_basis"][regime][lang] if element == "legal_basis"
                    else t["elements"][element][lang])
            parts.append(text.format(**values))
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(f"templates/notices.yaml ({regime}/{lang})", f"template error: {exc!r}") from None
    return subject, "\n\n".join(parts) + "\n"


def draft_notice(session: Session, item_ids: list[int], regime: str, lang: str, sender: Sender, actor: str,
                 deadline_hours: int | None = None, recipient: str | None = None, rdap_url: str | None = None
                 ) -> dict[str, Any]:
    items = list(session.scalars(select(CaseItem).where(CaseItem.id.in_(item_ids))))
    if len(items) != len(set(item_ids)):
        missing = set(item_ids) - {i.id for i in items}
        raise NotFound("item", ", ".join(map(str, sorted(missing))))
    cases = {i.case_id for i in items}
    if len(cases) != 1:
        raise InputError("items", "a notice covers items of one case")
    hosts = {i.host for i in items}
    if len(hosts) != 1:
        raise InputError("items", f"items are on different hosts ({', '.join(sorted(map(str, hosts)))}): "
                                  "draft one notice per host")
    case = session.get(Case, cases.pop())
    assert case is not None
    if case.status != "open":
        raise InputError(case.case_ref, "case is closed: no new notices")
    hours = deadline_hours or int(templates()["regimes"].get(regime, {}).get("deadline_hours", 48))
    subject, body = render(regime, lang, case.case_ref, [i.url for i in items], sender, hours)
    host = hosts.pop()
    entry = lookup_host(host)
    recipient = recipient or (entry or {}).get("email") or (entry or {}).get("form")
    if recipient is None and host:
        from haechi.cases.recipients import rdap_abuse_contact

        recipient = rdap_abuse_contact(host, rdap_url)
    notice = Notice(case_id=case.id, item_ids=json.dumps(sorted(item_ids)), regime=regime, lang=lang,
                    recipient=recipient, subject=subject, body=body, status=NoticeStatus.DRAFT, deadline_hours=hours)
    session.add(notice)
    session.flush()
    custody.append(session, "notice_draft", actor, case_ref=case.case_ref,
                   details={"notice": notice.id, "regime": regime, "lang": lang, "items": sorted(item_ids)})
    return notice_public(notice, sender)


def notice_public(n: Notice, sender: Sender | None = None) -> dict[str, Any]:
    out = {"id": n.id, "regime": n.regime, "lang": n.lang, "status": n.status, "recipient": n.recipient,
           "subject": n.subject, "text": n.body, "items": json.loads(n.item_ids), "deadline_hours": n.deadline_hours,
           "approved_by": n.approved_by, "sent_at": n.sent_at.isoformat() if n.sent_at else None,
           "message_id": n.message_id}
    if sender is not None:
        out["eml"] = to_eml(n, sender).as_string()
    return out


def to_eml(n: Notice, sender: Sender) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{sender.name} <{sender.email}>"
    msg["To"] = n.recipient if n.recipient and "@" in n.recipient else "undisclosed-recipients:;"
    msg["Subject"] = n.subject
    if n.message_id:
        msg["Message-ID"] = n.message_id
    msg.set_content(n.body)
    return msg


def approve_notice(session: Session, notice_id: int, by: str) -> dict[str, Any]:
    n = session.get(Notice, notice_id)
    if n is None:
        raise NotFound("notice", str(notice_id))
    if n.status == NoticeStatus.DRAFT:
        n.status, n.approved_by, n.approved_at = NoticeStatus.APPROVED, by, datetime.now(UTC)
        n.message_id = make_msgid(domain="haechi.local")  # fixed now: a resend reuses it
        case = session.get(Case, n.case_id)
        custody.append(session, "notice_approve", by, case_ref=case.case_ref if case else None,
                       details={"notice": n.id})
    return notice_public(n)


def mark_sent(session: Session, notice_id: int, actor: str, channel: str) -> None:
    n = session.get(Notice, notice_id)
    assert n is not None
    now = datetime.now(UTC)
    n.status, n.sent_at = NoticeStatus.SENT, now
    for item in session.scalars(select(CaseItem).where(CaseItem.id.in_(json.loads(n.item_ids)))):
        if item.status == "found":
            item.status, item.notified_at = "notified", now
    case = session.get(Case, n.case_id)
    custody.append(session, "notice_send", actor, case_ref=case.case_ref if case else None,
                   details={"notice": n.id, "channel": channel, "message_id": n.message_id})


def smtp_send(msg: EmailMessage, host: str, port: int, starttls: bool = False, user: str | None = None,
              password: str | None = None) -> None:
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        if starttls:
            smtp.starttls()
        if user and password:
            smtp.login(user, password)
        smtp.send_message(msg)


def due(session: Session, within_hours: float = 12.0, now: datetime | None = None) -> list[dict[str, Any]]:
    """Sent notices whose items are not yet removed: overdue ones and those due soon."""
    now = now or datetime.now(UTC)
    out = []
    for n in session.scalars(select(Notice).where(Notice.status == NoticeStatus.SENT)):
        assert n.sent_at is not None
        deadline = _utc(n.sent_at) + timedelta(hours=n.deadline_hours)
        pending = [i for i in session.scalars(select(CaseItem).where(CaseItem.id.in_(json.loads(n.item_ids))))
                   if i.status not in ("removed",)]
        if not pending:
            continue
        left = (deadline - now).total_seconds() / 3600
        if left <= within_hours:
            case = session.get(Case, n.case_id)
            out.append({"notice": n.id, "case": case.case_ref if case else None, "deadline": deadline.isoformat(),
                        "hours_left": round(left, 1), "overdue": left < 0, "items": [i.url for i in pending],
                        "recipient": n.recipient})
    return sorted(out, key=lambda d: d["hours_left"])


def set_item_status(session: Session, item_id: int, status: str, actor: str, details: dict[str, Any] | None = None
                    ) -> None:
    if status not in STATUSES:
        raise InputError(status, f"status must be one of {', '.join(STATUSES)}")
    item = session.get(CaseItem, item_id)
    if item is None:
        raise NotFound("item", str(item_id))
    item.status = status
    if status == "removed" and item.removed_at is None:
        item.removed_at = datetime.now(UTC)
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
