"""Notices as use-cases: who they come from, drafting, approval, sending, and what the platform
said back. Store-level work is in :mod:`haechi.cases.service`; the texts are YAML data a lawyer
edits (``templates/notices.yaml``), the channels ``templates/hosts.yaml``, the clocks
``templates/clocks.yaml``.

Nothing leaves without a real sender: approve and send are refused while the centre's identity
(settings ``sender_*``, written by ``haechi setup``) is missing or a placeholder. A clock starts
only when the platform received the notice — the SMTP server accepted it, or a person recorded
the form's confirmation (:func:`submitted`); an export starts nothing.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from haechi.cases import service as cases
from haechi.cases.service import NoticeStatus
from haechi.cases.texts import Sender, sender_problems
from haechi.errors import InputError, NotFound, RemoteError
from haechi.store.models import Notice

if TYPE_CHECKING:
    from haechi.config import Settings
    from haechi.runtime import Runtime


def sender(settings: Settings) -> Sender:
    """Who notices come from: the ``sender_*`` settings (name, org, e-mail, phone, role, basis,
    registration, names per language)."""
    return Sender(settings.sender_name, settings.sender_org, settings.sender_email, settings.sender_phone,
                  settings.sender_role, settings.sender_basis, settings.sender_registration, settings.sender_local)


def sender_status(settings: Settings) -> dict[str, Any]:
    """``{ready, problems}``: whether notices can be approved and sent with this configuration."""
    problems = sender_problems(sender(settings))
    return {"ready": not problems, "problems": problems}


def draft(rt: Runtime, item_ids: list[int], regime: str, lang: str, actor: str, deadline_hours: int | None = None,
          recipient: str | None = None, personal_details: bool = False) -> dict[str, Any]:
    """A draft notice (see :func:`haechi.cases.service.draft_notice`), with ``warnings`` saying
    what stands between it and sending."""
    s = rt.settings
    with rt.db.session() as session:
        return cases.draft_notice(session, item_ids, regime, lang, sender(s), actor, deadline_hours, recipient,
                                  s.rdap_url, s.eu_member_state, s.trusted_flagger, personal_details)


def approve(rt: Runtime, notice_id: int, by: str) -> dict[str, Any]:
    """Approve a draft: refused while the sender is a placeholder, without a recipient, or by its
    drafter (unless ``single_person_centre``)."""
    if not by.strip():
        raise InputError("--by", "approval needs the approver's name")
    with rt.db.session() as session:
        return cases.approve_notice(session, notice_id, by, sender(rt.settings), rt.settings.single_person_centre)


def send_notice(rt: Runtime, notice_id: int, actor: str, smtp_host: str | None = None, smtp_port: int = 25,
                export_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Send an approved notice by SMTP (the platform received it: its clock starts), or export it
    (.eml) for a platform's web form (nothing starts until :func:`submitted`). Idempotent: a
    notice the platform received is not sent again (``already_sent``).

    Raises NotFound (notice), InputError (not approved, a placeholder sender, no recipient, a
    form recipient without --export, no SMTP host), RemoteError (the SMTP server failed: nothing
    is marked sent; retry later)."""
    who = sender(rt.settings)
    with rt.db.session() as s:
        n = s.get(Notice, notice_id)
        if n is None:
            raise NotFound("notice", str(notice_id))
        if n.status == NoticeStatus.SENT:
            return dict(cases.notice_public(n), already_sent=True)
        if n.status not in (NoticeStatus.APPROVED, NoticeStatus.EXPORTED):
            raise InputError(str(notice_id), "notice is not approved: haechi notice approve ID --by NAME")
        problems = sender_problems(who)
        if problems:
            raise InputError("sender", "; ".join(problems))
        if not n.recipient:
            raise InputError(str(notice_id), "the notice has no recipient")
        msg = cases.to_eml(n, who)
        recipient = n.recipient
    if export_dir is not None:
        out = Path(export_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"notice-{notice_id}.eml").write_bytes(bytes(msg))
        (out / f"notice-{notice_id}.txt").write_text(f"{msg['Subject']}\n\n{msg.get_content()}", encoding="utf-8")
        channel, received = f"export:{out / f'notice-{notice_id}.eml'}", False
    else:
        if "@" not in recipient:
            raise InputError(str(notice_id), f"the recipient is a web form ({recipient}): use --export DIR, submit "
                                             f"it there, then: haechi notice submitted {notice_id} --at TIME --ref REF")
        if not smtp_host:
            raise InputError(str(notice_id), "give --smtp-host (or --export DIR)")
        try:
            cases.smtp_send(msg, smtp_host, smtp_port)
        except Exception as exc:  # noqa: BLE001 - smtplib raises many types; nothing is marked sent
            raise RemoteError(str(notice_id), f"sending failed, nothing marked sent: {exc}") from None
        channel, received = f"smtp:{smtp_host}:{smtp_port}", True
    with rt.db.session() as s:
        cases.mark_sent(s, notice_id, actor, channel, received)
        out_row = dict(cases.notice_public(s.get(Notice, notice_id)), already_sent=False)  # type: ignore[arg-type]
    if not received:
        out_row["next"] = (f"submit it at {recipient}, then record it: haechi notice submitted {notice_id} "
                           "--at TIME --ref REFERENCE (no clock runs until then)")
    return out_row


def submitted(rt: Runtime, notice_id: int, at: datetime, ref: str, actor: str) -> dict[str, Any]:
    """A person confirms the platform received the notice through its form at ``at`` (reference
    ``ref``): its clock starts then and its items become ``notified``."""
    with rt.db.session() as s:
        return cases.mark_submitted(s, notice_id, at, ref, actor)


def reply(rt: Runtime, notice_id: int, kind: str, at: datetime, outcome: str | None, actor: str) -> dict[str, Any]:
    """Record the provider's confirmation of receipt or decision (DSA Art. 16(4)/(5))."""
    with rt.db.session() as s:
        return cases.record_reply(s, notice_id, kind, at, outcome, actor)
