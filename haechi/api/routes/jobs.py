"""Distributed jobs (scans run by workers): their progress."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from haechi.api import schemas
from haechi.api.deps import H, Scan

router = APIRouter(tags=["jobs"])


@router.get("/api/jobs", response_model=list[schemas.JobStatus])
def jobs(_: Scan, h: H) -> list[dict[str, Any]]:
    return h.list_jobs()
