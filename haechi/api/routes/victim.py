"""Victim self-service without an account: hashes made on her device (never media) open a
case; the answer carries the case number and PIN, once. Rate limited per client address."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from haechi.api import schemas
from haechi.api.deps import State

router = APIRouter(tags=["victim"])


@router.post("/api/victim/submissions", status_code=201, response_model=schemas.VictimReceipt)
def victim_submit(body: schemas.VictimIn, request: Request, st: State) -> dict[str, Any]:
    """Victim self-service without an account: hashes made on her device (never media) open a
    case; the answer carries the case number and PIN, once. Rate limited per client."""
    client = request.client.host if request.client else "?"
    if not st.submit_limiter.allow(f"victim:{client}"):
        raise HTTPException(429, "too many submissions; wait a minute")
    return st.haechi.victim_submit([f.model_dump(exclude_none=True) for f in body.files])
