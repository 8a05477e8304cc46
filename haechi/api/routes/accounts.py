"""Who the caller is: ``/api/me`` (role and permissions of the token's owner)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from haechi.api import schemas
from haechi.api.deps import Who
from haechi.services import accounts

router = APIRouter(tags=["accounts"])


@router.get("/api/me", response_model=schemas.Me)
def me(who: Who) -> dict[str, Any]:
    return {"username": who.username, "role": who.role,
            "permissions": sorted(accounts.ROLES.get(who.role, frozenset()))}
