"""Victim self-service: she submits hashes made on her own device, gets a case number and a
PIN, sees her case's status, and can withdraw (her hashes are deleted everywhere Haechi holds
them, and her account is disabled).

Why this shape: a victim must never hand over her images, so the server accepts only hashes
(PDQ, MD5, SHA-256; PDQ per sampled frame for a video). Her hashes go into the shared
``victim-submitted`` bank that scans and partner lookups use, labelled with an opaque random
submission id — not her case number — so a platform that fetches the bank learns nothing that
leads back to her. Her login is an ordinary account with the ``victim`` role (username = case
number, argon2-hashed 10-digit PIN), so the API and web authorisation tests cover it.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import select

from haechi.errors import InputError, NotFound
from haechi.evidence import custody
from haechi.services import accounts
from haechi.services import banks as bank_service
from haechi.store.models import Bank, BankEntry, Case, CaseItem, SubmissionSignal, User

if TYPE_CHECKING:
    from haechi.runtime import Runtime

BANK = "victim-submitted"
MAX_FILES = 200
#: the PIN is her password: 12 digits (the account password policy's minimum length), rate-limited
PIN_DIGITS = 12
MAX_FRAMES = 120
_HEX = {"sha256": re.compile(r"^[0-9a-f]{64}$"), "md5": re.compile(r"^[0-9a-f]{32}$"),
        "pdq": re.compile(r"^[0-9a-f]{64}$")}


def browser_signals(files: Any) -> list[tuple[str, str]]:
    """Validated (signal_type, signal) pairs from the in-browser hasher's JSON (``static/hasher.js``:
    ``[{sha256, md5, pdq?} | {kind: "video", sha256, md5, frames}]``); raises InputError naming
    the file and field."""
    if not isinstance(files, list) or not files:
        raise InputError("files", "no hashes submitted")
    if len(files) > MAX_FILES:
        raise InputError("files", f"at most {MAX_FILES} files per submission")
    out: list[tuple[str, str]] = []
    for n, f in enumerate(files):
        if not isinstance(f, dict):
            raise InputError(f"files[{n}]", "expected an object")
        for kind in ("sha256", "md5"):
            value = str(f.get(kind, "")).lower()
            if not _HEX[kind].match(value):
                raise InputError(f"files[{n}].{kind}", f"not a {kind} hex digest")
            out.append((kind, value))
        if f.get("kind", "image") == "video":
            out += _video_signal(f.get("frames"), n)
            continue
        raw = f.get("pdq")
        if raw is None:
            continue
        value = str(raw).lower()
        if not _HEX["pdq"].match(value):
            raise InputError(f"files[{n}].pdq", "not a 256-bit PDQ hash in hex")
        if value not in ("0" * 64, "f" * 64):  # a blank image says nothing
            out.append(("pdq", value))
    return list(dict.fromkeys(out))


def _video_signal(frames: Any, n: int) -> list[tuple[str, str]]:
    """A video's per-second frame PDQs as one vPDQ signal (HMA exchange form), so copies are
    found by the same video matching as banked videos (whole-video vPDQ and single frames)."""
    import json

    if not isinstance(frames, list) or not frames:
        return []
    items = []
    for k, fr in enumerate(frames[:MAX_FRAMES]):
        if not isinstance(fr, dict):
            raise InputError(f"files[{n}].frames[{k}]", "expected an object")
        value = str(fr.get("pdq", "")).lower()
        if not _HEX["pdq"].match(value):
            raise InputError(f"files[{n}].frames[{k}].pdq", "not a 256-bit PDQ hash in hex")
        try:
            q_raw, t_raw = fr.get("quality"), fr.get("t_s")
            quality = max(0, min(100, int(100 if q_raw is None else q_raw)))
            t_s = max(0.0, float(k if t_raw is None else t_raw))
        except (TypeError, ValueError):
            raise InputError(f"files[{n}].frames[{k}]", "quality and t_s must be numbers") from None
        items.append(f"{value},{quality},{t_s:.3f}")
    return [("vpdq", json.dumps(items, separators=(",", ":")))]


def submit(rt: Runtime, files: Any) -> dict[str, Any]:
    """Open a case for the hashes; returns the case number and the PIN (shown once)."""
    signals = browser_signals(files)
    submission = secrets.token_hex(8)
    with rt.db.session() as s:
        if s.scalar(select(Bank.id).where(Bank.name == BANK)) is None:
            bank_service.create_bank(s, BANK, "hashes victims submitted from their own devices")
    from haechi.cases import service as cases

    pin = f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"
    with rt.db.session() as s:  # case and login together, or neither
        case = cases.create_case(s, rt.cipher, "victim-self-service", victim_ref=f"self:{submission}")
        accounts.add_user(s, case["case"], "victim", pin, actor="victim-self-service")
        custody.append(s, "victim_submit", "victim-self-service", case_ref=case["case"],
                       details={"hashes": len(signals), "files": len(files)})
    bank_service.add_signals(rt, BANK, signals, label=f"self:{submission}")
    with rt.db.session() as s:  # what this submission holds, whether or not someone submitted it first
        case_id = _own_case(s, case["case"]).id
        for entry_id in dict.fromkeys(bank_service.find_entries(s, bank_service.get_bank(s, BANK), signals)):
            s.add(SubmissionSignal(case_id=case_id, entry_id=entry_id))
    return {"case": case["case"], "pin": pin, "hashes": len(signals)}


def _own_case(s: Any, case_ref: str) -> Case:
    case = s.scalar(select(Case).where(Case.case_ref == case_ref))
    if case is None or not (case.victim_ref or "").startswith("self:"):
        raise NotFound("case", case_ref)
    return case


def status(rt: Runtime, case_ref: str) -> dict[str, Any]:
    """What she may see of her own case: how many photos and videos she submitted (``photos``;
    ``hashes`` counts their fingerprints), and how many copies of them were found anywhere — in
    her case or in a caseworker's, counted by status without naming any other case, URL or
    person (``copies_found``, ``items_found``, ``items_by_status``). Another case's copies count
    only when found after her submission, so the page is no oracle for "was this image reported
    before?" (red-team review of #17). No media, no reviewer notes."""
    with rt.db.session() as s:
        case = _own_case(s, case_ref)
        held = list(s.execute(select(SubmissionSignal.entry_id, BankEntry.signal_type)
                              .join(BankEntry, BankEntry.id == SubmissionSignal.entry_id)
                              .where(SubmissionSignal.case_id == case.id)).all())
        mine = {entry_id for entry_id, _ in held}
        counts: dict[str, int] = {}
        found = 0
        # another case's items count only when found after she submitted: what was found before
        # would tell anyone holding the image (an abuser included) whether it had been reported
        since = case.created_at
        for item in s.scalars(select(CaseItem).where((CaseItem.case_id == case.id) | (CaseItem.created_at >= since))):
            media = json.loads(item.media or "[]")
            if item.case_id == case.id or any(m.get("entry_id") in mine for medium in media
                                               for m in medium.get("matches") or []):
                found += 1
                counts[item.status] = counts.get(item.status, 0) + 1
        return {"case": case.case_ref, "status": case.status, "hashes": len(held),
                "photos": sum(1 for _, t in held if t == "sha256"), "items_found": found, "copies_found": found,
                "items_by_status": counts, "opened": case.created_at.isoformat()[:10]}


def withdraw(rt: Runtime, case_ref: str) -> dict[str, Any]:
    """Release her hashes, close her case, disable her login. A hash is deleted from the bank
    (and so from every platform that synchronises it) unless another submission still holds it;
    what she is told never depends on that, so a withdrawal reveals nothing about anyone else."""
    with rt.db.session() as s:
        case = _own_case(s, case_ref)
        held = list(s.scalars(select(SubmissionSignal.entry_id).where(SubmissionSignal.case_id == case.id)))
        s.execute(sql_delete(SubmissionSignal).where(SubmissionSignal.case_id == case.id))
        s.flush()
        shared = set(s.scalars(select(SubmissionSignal.entry_id).where(SubmissionSignal.entry_id.in_(held))))
        orphans = s.execute(select(BankEntry.id, Bank.name).join(Bank, Bank.id == BankEntry.bank_id)
                            .where(BankEntry.id.in_(held))).all()
    deleted = 0
    for entry_id, bank in orphans:
        if entry_id not in shared:
            bank_service.remove(rt, bank, entry_id)
            deleted += 1
    with rt.db.session() as s:
        case = _own_case(s, case_ref)
        case.status = "closed"
        if s.scalar(select(User.id).where(User.username == case_ref)) is not None:
            accounts.disable_user(s, case_ref, actor="victim-self-service")
        custody.append(s, "victim_withdraw", "victim-self-service", case_ref=case_ref,
                       details={"hashes_released": len(held), "hashes_deleted": deleted})
    return {"case": case_ref, "hashes_deleted": len(held), "status": "withdrawn"}
