"""Case work for integrations (what the CLI's ``case`` and ``notice`` commands do): open cases,
add URLs (captured as evidence), draft and approve notices, deadlines, publishable figures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as FPath

from haechi.api import schemas
from haechi.api.deps import CasesRead, CaseWork, H, State, client_of
from haechi.errors import InputError

router = APIRouter()


@router.get("/api/cases", tags=["cases"], response_model=list[schemas.CaseSummary])
def cases_list(_: CasesRead, h: H) -> list[dict[str, Any]]:
    return h.list_cases()


@router.post("/api/cases", status_code=201, tags=["cases"], response_model=schemas.Case)
def cases_create(body: schemas.CaseIn, who: CaseWork, h: H, st: State, request: Request) -> dict[str, Any]:
    """Open a case; the contact details are stored encrypted and never returned. Limited per
    account and per client address (``haechi.api.throttle``): 429 beyond either."""
    if not (st.throttles.allow("cases.account", who.username) and st.throttles.allow("cases.address",
                                                                                       client_of(request))):
        raise HTTPException(429, "too many new cases; try again later")
    return h.create_case(victim_ref=body.victim_ref, contact=body.contact, actor=who.username)


@router.get("/api/cases/{case_ref}", tags=["cases"], response_model=schemas.Case)
def cases_show(case_ref: str, _: CasesRead, h: H) -> dict[str, Any]:
    return h.show_case(case_ref)


@router.post("/api/cases/{case_ref}/items", tags=["cases"], response_model=list[schemas.ItemAdded])
def cases_add_items(case_ref: str, body: schemas.ItemsIn, who: CaseWork, st: State) -> list[dict[str, Any]]:
    """Add URLs to a case: each is captured as evidence (WARC, media hashed and scanned)."""
    urls = [u for u in body.urls if u.startswith(("http://", "https://"))]
    if len(urls) != len(body.urls):
        raise InputError("urls", "only http(s) URLs can be added through the API")
    return list(st.haechi.add_case_items(case_ref, urls, actor=who.username, capture=True, screenshot=False,
                                         local_files=False,
                                         allow_private=st.allow_private_urls))


@router.post("/api/notices", status_code=201, tags=["notices"], response_model=schemas.Notice)
def notices_draft(body: schemas.NoticeIn, who: CaseWork, h: H) -> dict[str, Any]:
    return h.draft_notice(body.item_ids, body.regime, body.lang, actor=who.username, recipient=body.recipient)


@router.post("/api/notices/{notice_id}/approve", tags=["notices"], response_model=schemas.Notice)
def notices_approve(notice_id: Annotated[int, FPath(ge=1, le=2**62)], who: CaseWork, h: H) -> dict[str, Any]:
    return h.approve_notice(notice_id, by=who.username)


@router.get("/api/due", tags=["notices"], response_model=list[schemas.Due])
def notices_due(_: CasesRead, h: H, within_hours: Annotated[float, Query(ge=0, le=24 * 365)] = 12.0
                ) -> list[dict[str, Any]]:
    return h.due(within_hours)


@router.get("/api/stats", tags=["stats"], response_model=schemas.Stats)
def stats(_: CasesRead, h: H) -> dict[str, Any]:
    """Figures a centre can publish (no personal data)."""
    return h.stats()
