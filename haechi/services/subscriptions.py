"""Pull a bank from another Haechi's sync feed (``GET /api/banks/{name}/signals``) into a local
bank, and keep it in step: new signals are imported, removed ones deleted — a victim's
withdrawal at the centre reaches the platform's copy on its next pull.

Why a cursor and one transaction per page: a pull interrupted anywhere resumes from the last
page applied, and a page is applied whole or not at all. Pulled entries are labelled
``pulled:<remote entry id>`` so removals can find them; the remote never sends its labels.

Why the pinned transport: the request carries a partner token, so it must go where the SSRF
check looked. Checking the URL once and letting httpx resolve the name again let a rebinding
name (public, then 127.0.0.1) receive the token on loopback (issue #17, high 1). Every request
goes through :class:`haechi.sources.web.PinnedTransport`: resolved once, checked, sent to that
address, redirects not followed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from sqlalchemy import select

from haechi.errors import InputError, RemoteError
from haechi.services import banks as bank_service
from haechi.store.encrypted import blind_indexes
from haechi.store.models import Bank, BankEntry, BankSubscription

if TYPE_CHECKING:
    from haechi.runtime import Runtime

LABEL = "pulled:{}"


def _page(body: Any, url: str) -> tuple[list[dict[str, Any]], list[int], str, bool]:
    """The parts of one feed answer, checked: a hostile or broken server gets a clear error."""
    try:
        signals, removed, cursor, more = body["signals"], body["removed"], body["next_cursor"], body["more"]
        if not (isinstance(signals, list) and isinstance(removed, list) and isinstance(cursor, str)
                and len(cursor) <= 64 and isinstance(more, bool)):
            raise TypeError
        adds = [{"entry_id": int(x["entry_id"]), "signal_type": str(x["signal_type"]), "signal": str(x["signal"]),
                 **({"quality": int(x["quality"])} if x.get("quality") is not None else {})} for x in signals]
        gone = [int(x) for x in removed]
    except (KeyError, TypeError, ValueError, OverflowError):
        raise InputError(url, "not a Haechi bank sync answer") from None
    return adds, gone, cursor, more


def pull(rt: Runtime, bank_name: str, source_url: str, remote_bank: str, token: str, *,
         allow_private: bool = False, client: httpx.Client | None = None, page_size: int = 10_000
         ) -> dict[str, Any]:
    """Apply every page of ``remote_bank``'s changes at ``source_url`` since the last pull into
    local bank ``bank_name`` (created if missing). Returns counts, the new cursor and the local
    entry ids added and removed; this runtime's index follows at once (other processes' at their
    next refresh).

    Raises InputError (bad URL, no token, a bank pulled from elsewhere, an answer that is not a
    sync feed), RemoteError (the source unreachable or answering an error: retry later)."""
    from haechi.sources.web import PinnedTransport, check_url

    base = source_url.rstrip("/")
    check_url(base + "/", allow_private)
    if not token:
        raise InputError("token", "a partner token of the source is needed ($HAECHI_REMOTE_TOKEN)")
    with rt.db.session() as s:
        bank = s.scalar(select(Bank).where(Bank.name == bank_name))
        if bank is None:
            bank = bank_service.create_bank(s, bank_name, f"pulled from {remote_bank} at {base}")
        sub = s.scalar(select(BankSubscription).where(BankSubscription.bank_id == bank.id))
        if sub is not None and (sub.source_url != base or sub.remote_bank != remote_bank):
            raise InputError(bank_name, f"this bank is pulled from {sub.remote_bank} at {sub.source_url}")
        cursor = sub.cursor if sub is not None else None
    own = client or httpx.Client(timeout=60, follow_redirects=False, trust_env=False,
                                 transport=PinnedTransport(allow_private))
    totals: dict[str, Any] = {"bank": bank_name, "source": base, "remote_bank": remote_bank, "pages": 0,
                              "added": 0, "duplicates": 0, "removed": 0, "errors": [],
                              "new_entry_ids": [], "removed_entry_ids": []}
    try:
        while True:
            url = f"{base}/api/banks/{quote(remote_bank, safe='')}/signals"
            try:
                r = own.get(url, params={"limit": page_size, **({"cursor": cursor} if cursor else {})},
                            headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError as exc:
                raise RemoteError(url, f"could not reach the source: {type(exc).__name__}") from None
            if r.status_code in (401, 403, 404):  # a wrong token or bank name: fix the request
                raise InputError(url, f"the source answered {r.status_code}: {r.text[:200]}")
            if r.status_code != 200:
                raise RemoteError(url, f"the source answered {r.status_code}: {r.text[:200]}")
            try:
                body = r.json()
            except ValueError:
                raise InputError(url, "the source did not answer JSON") from None
            adds, gone, cursor, more = _page(body, url)
            lines = "\n".join(json.dumps({"signal_type": a["signal_type"], "signal": a["signal"],
                                          "label": LABEL.format(a["entry_id"]),
                                          **({"quality": a["quality"]} if "quality" in a else {})}) for a in adds)
            with rt.db.session() as s:  # the page, its removals and the cursor: all or nothing
                bank = bank_service.get_bank(s, bank_name)
                result = bank_service.import_text(s, bank, lines + "\n", url) if adds else None
                removed = 0
                for remote_id in gone:
                    for entry_id in s.scalars(select(BankEntry.id).where(
                            BankEntry.bank_id == bank.id,
                            BankEntry.label_index.in_(blind_indexes(rt.cipher, LABEL.format(remote_id))))):
                        bank_service.remove_entry(s, bank, entry_id)
                        totals["removed_entry_ids"].append(entry_id)
                        removed += 1
                sub = s.scalar(select(BankSubscription).where(BankSubscription.bank_id == bank.id))
                if sub is None:
                    sub = BankSubscription(bank_id=bank.id, source_url=base, remote_bank=remote_bank)
                    s.add(sub)
                sub.cursor, sub.last_pull_at = cursor, datetime.now(UTC)
            totals["pages"] += 1
            totals["removed"] += removed
            if result is not None:
                totals["added"] += result.imported
                totals["new_entry_ids"] += result.entry_ids
                totals["duplicates"] += result.duplicates
                totals["errors"] += result.errors
            if not more:
                break
    finally:
        if client is None:
            own.close()
    totals["cursor"] = cursor
    rt.index_changes()
    return totals
