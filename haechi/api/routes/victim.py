"""Victim self-service without an account: hashes made on her device (never media) open a
case; the answer carries the case number and PIN, once. Limited per client address
(``haechi.api.throttle``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from haechi.api import schemas
from haechi.api.deps import State, client_of

router = APIRouter(tags=["victim"])


@router.post("/api/victim/submissions", status_code=201, response_model=schemas.VictimReceipt)
def victim_submit(body: schemas.VictimIn, request: Request, st: State) -> dict[str, Any]:
    """Victim self-service without an account: hashes made on her device (never media) open a
    case; the answer carries the case number and PIN, once. Rate limited per client."""
    if not st.throttles.allow("victim.address", client_of(request)):
        raise HTTPException(429, "too many submissions from this address; try again later")
    return st.haechi.victim_submit([f.model_dump(exclude_none=True) for f in body.files])
