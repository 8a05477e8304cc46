"""Evidence: a case's package (zip, verifiable offline) and the custody chain's verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from haechi.api import schemas
from haechi.api.deps import Evidence, H

router = APIRouter(tags=["evidence"])


@router.get("/api/cases/{case_ref}/evidence", response_class=Response, responses={200: {
    "description": "zip: artefacts, custody chain, PDF report",
    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
def evidence_export(case_ref: str, who: Evidence, h: H) -> Response:
    """The case's evidence package (zip: artefacts, custody chain, PDF report), verifiable offline."""
    return Response(h.evidence_package(case_ref, actor=who.username), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{case_ref}-evidence.zip"'})


@router.get("/api/evidence/verify", response_model=schemas.Verification)
def evidence_verify(_: Evidence, h: H, case: Annotated[str | None, Query(max_length=200)] = None
                    ) -> dict[str, Any]:
    return h.verify_custody(case)
