"""Notices as use-cases: who they come from, and sending an approved notice (SMTP or export).
Drafting, approval and the texts are store-level in :mod:`haechi.cases.service`; the texts are
YAML data a lawyer edits (``templates/notices.yaml``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from haechi.cases import service as cases
from haechi.cases.service import NoticeStatus, Sender
from haechi.errors import InputError, NotFound, RemoteError
from haechi.store.models import Notice

if TYPE_CHECKING:
    from haechi.config import Settings
    from haechi.runtime import Runtime


def sender(settings: Settings) -> Sender:
    """Who notices come from (``sender_name``/``sender_org``/``sender_email`` settings)."""
    return Sender(settings.sender_name, settings.sender_org, settings.sender_email)


def send_notice(rt: Runtime, notice_id: int, actor: str, smtp_host: str | None = None, smtp_port: int = 25,
                export_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Send an approved notice by SMTP, or export it (.eml) for a platform's web form.
    Idempotent: a sent notice is not sent again (``already_sent``).

    Raises NotFound (notice), InputError (not approved, no e-mail recipient, no SMTP host),
    RemoteError (the SMTP server failed: nothing is marked sent; retry later)."""
    with rt.db.session() as s:
        n = s.get(Notice, notice_id)
        if n is None:
            raise NotFound("notice", str(notice_id))
        if n.status == NoticeStatus.SENT:
            return dict(cases.notice_public(n), already_sent=True)
        if n.status != NoticeStatus.APPROVED:
            raise InputError(str(notice_id), "notice is not approved: haechi notice approve ID --by NAME")
        msg = cases.to_eml(n, sender(rt.settings))
        recipient = n.recipient
    if export_dir is not None:
        out = Path(export_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"notice-{notice_id}.eml").write_bytes(bytes(msg))
        channel = f"export:{out / f'notice-{notice_id}.eml'}"
    else:
        if not recipient or "@" not in recipient:
            raise InputError(str(notice_id), f"no e-mail recipient ({recipient or 'unknown host'}): "
                                             "use --export DIR and the platform's web form")
        if not smtp_host:
            raise InputError(str(notice_id), "give --smtp-host (or --export DIR)")
        try:
            cases.smtp_send(msg, smtp_host, smtp_port)
        except Exception as exc:  # noqa: BLE001 - smtplib raises many types; nothing is marked sent
            raise RemoteError(str(notice_id), f"sending failed, nothing marked sent: {exc}") from None
        channel = f"smtp:{smtp_host}:{smtp_port}"
    with rt.db.session() as s:
        cases.mark_sent(s, notice_id, actor, channel)
        return dict(cases.notice_public(s.get(Notice, notice_id)), already_sent=False)  # type: ignore[arg-type]
