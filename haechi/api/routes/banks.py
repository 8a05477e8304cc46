"""Haechi's own bank and matching routes: the full lookup answer and the bank sync feed a
platform uses to keep a copy of a centre's bank (withdrawals included)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from haechi.api import schemas
from haechi.api.deps import BankRead, H, Lookup

router = APIRouter()


@router.get("/api/lookup", tags=["matching"], response_model=schemas.Matches)
def api_lookup(signal_type: Annotated[str, Query(max_length=32)], signal: Annotated[str, Query(max_length=200)],
               who: Lookup, h: H) -> dict[str, Any]:
    """Haechi's lookup: every matching entry with bank, distance and verdict; the label (which may
    name a case or a victim) only for roles that work on cases — never for a partner (#17)."""
    matches = h.lookup(signal_type, signal)
    if not who.can("cases"):
        matches = [dict(m, label=None) for m in matches]
    return {"matches": matches}


@router.get("/api/banks/{name}/signals", tags=["banks"], response_model=schemas.BankChanges,
            response_model_exclude_unset=True)
def bank_signals(name: str, _: BankRead, h: H,
                 cursor: Annotated[str | None, Query(max_length=64)] = None,
                 limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> dict[str, Any]:
    """Synchronise a copy of a bank: signals added and entry ids removed since ``cursor``
    (none: from the start). Apply ``signals``, delete ``removed``, keep ``next_cursor``;
    ask again while ``more``. Removals include victims' withdrawals: a platform holding a
    copy must delete them. Labels are never sent."""
    return h.bank_changes(name, cursor, limit)
