"""HMA's status, hashing and matching routes (``/status``, ``/h``, ``/m``), answering as HMA
1.1.x does (``OpenMediaMatch/blueprints/{hashing,matching}.py``) so its clients work
unchanged; ``?format=legacy`` (or ``X-Haechi-Format: legacy``, or the server setting
``hma_api_format``) gives the shapes Haechi answered before (HMA's older ones).

Signal types take HMA's names: ``video_md5`` is looked up as Haechi's ``md5`` (a video's MD5).
Lookups answer with JSON built here (no response validation): they are the hot path, and
``tests/test_api_contract.py`` checks the answers against the declared models instead.
"""

from __future__ import annotations

import random
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse

from haechi.api import schemas
from haechi.api.deps import H, Hasher, Lookup, ResponseFormat, State
from haechi.api.media import fetch_media, hash_bytes, hash_url, signals_of
from haechi.api.security import one_upload, only_one_file, read_json, read_upload
from haechi.app import Haechi
from haechi.errors import InputError
from haechi.signals import SIGNAL_TYPES
from haechi.signals.pdq import hamming

router = APIRouter(tags=["hma"])

#: HMA signal type names -> the Haechi signal type a lookup uses
LOOKUP_TYPES = {"pdq": "pdq", "video_md5": "md5", "md5": "md5", "sha256": "sha256"}

SignalTypeQ = Annotated[str, Query(max_length=32, description="pdq, video_md5, md5 or sha256")]
SignalQ = Annotated[str, Query(max_length=200)]
BanksQ = Annotated[str | None, Query(max_length=4096, description="comma-separated bank names to search")]
Upload = Annotated[UploadFile | None, File()]


# -- status -------------------------------------------------------------------------------------
@router.get("/status", response_class=PlainTextResponse, responses={200: {"content": {"text/plain": {
    "schema": {"type": "string", "enum": ["I-AM-ALIVE"]}}}}})
def status(h: H) -> str:
    """Readiness (HMA: ``I-AM-ALIVE``): answers once the PDQ index is loaded."""
    h.pdq_index()
    return "I-AM-ALIVE"


@router.get("/status/live", response_class=PlainTextResponse, responses={200: {"content": {"text/plain": {
    "schema": {"type": "string", "enum": ["I-AM-ALIVE"]}}}}})
def status_live() -> str:
    """Liveness (HMA): the process serves HTTP; the index is not consulted, so a health check
    never restarts a server that is still loading it."""
    return "I-AM-ALIVE"


# -- hashing (/h) -------------------------------------------------------------------------------
@router.get("/h/hash", response_model=schemas.Hashes, response_model_exclude_unset=True)
def hash_get(url: Annotated[str, Query(max_length=4096)], _: Hasher, st: State) -> dict[str, Any]:
    """Hash the media at ``url`` (fetched with the SSRF-safe fetcher; 502 when it fails)."""
    return hash_url(st.haechi, url, st.url_limits, st.url_gate)


@router.post("/h/hash", response_model=schemas.Hashes, response_model_exclude_unset=True)
async def hash_post(request: Request, _: Hasher, h: H, file: Upload = None, photo: Upload = None,
                    video: Upload = None) -> dict[str, Any]:
    """Hash an uploaded file (form field ``file``, or HMA's ``photo``/``video``; one per request)."""
    await only_one_file(request)
    upload = one_upload(file, photo, video)
    data = await read_upload(upload)
    return signals_of(await run_in_threadpool(hash_bytes, h, upload.filename or "upload", data))


# -- matching (/m) ------------------------------------------------------------------------------
def _banks(banks: str | None) -> list[str] | None:
    """HMA's ``banks=A,B`` filter (None: every bank)."""
    return ([b.strip() for b in banks.split(",") if b.strip()] or None) if banks else None


def coin_flip(seed: Annotated[str | None, Query(max_length=200)] = None, bypass_coinflip: bool = False) -> float:
    """HMA's draw against banks' ``matching_enabled_ratio``: a bank takes part in a lookup when
    its ratio >= the draw, a number in [0, 1) (``seed`` makes it repeatable; ``bypass_coinflip``
    gives 0, so every bank takes part, disabled ones included)."""
    return 0.0 if bypass_coinflip else random.Random(seed).random()  # noqa: S311 - a roll-out share, not a secret


Draw = Annotated[float, Depends(coin_flip)]


def _lookup(h: Haechi, signal_type: str, signal: str, banks: list[str] | None, draw: float | None = None,
            include_disabled: bool = False) -> list[dict[str, Any]]:
    if signal_type not in LOOKUP_TYPES:
        raise InputError(signal_type, f"No such SignalType (lookup: {', '.join(LOOKUP_TYPES)})")
    return h.lookup(LOOKUP_TYPES[signal_type], signal, banks=banks, draw=draw, include_disabled=include_disabled)


def by_bank(matches: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """HMA's lookup answer: bank -> [{bank_content_id, distance}], one per item, nearest first."""
    best: dict[tuple[str, int], int] = {}
    for m in matches:
        key = (m["bank"], m["content_id"])
        best[key] = min(m["distance"], best.get(key, 1 << 30))
    out: dict[str, list[dict[str, Any]]] = {}
    for (bank, content_id), dist in sorted(best.items(), key=lambda kv: (kv[1], kv[0][1])):
        out.setdefault(bank, []).append({"bank_content_id": content_id, "distance": str(dist)})
    return out


def _answer(h: Haechi, fmt: str, signal_type: str, signal: str, banks: list[str] | None, draw: float) -> Any:
    matches = _lookup(h, signal_type, signal, banks, draw)
    return by_bank(matches) if fmt == "hma" else sorted({m["bank"] for m in matches})


def _media_answer(h: Haechi, fmt: str, name: str, data: bytes, banks: list[str] | None, draw: float,
                  only: str | None = None) -> Any:
    """The lookup answer for media sent or fetched, in either format, from the same matcher as
    `scan` (rotations, mirrors, borders, local features, regions, video frames), copies only: a
    platform acts on this answer, and a lead (same scene, same person) is for a reviewer (#20).
    The legacy format differs in shape only — ``{"md5": ["BANK"], "pdq": ["BANK"]}`` — never in
    what is found (it used to look up the file's two hashes alone and missed 79 of 100 copies
    that the default format found). Decoded in the hashing pool, searched here."""
    row = h.scan_upload(name, data)
    if row.get("error"):
        raise InputError(name, str(row["error"]).split(": ", 1)[-1])
    drawn = set(h.matching_banks(draw))  # the scan left out disabled items and banks
    wanted = [b for b in (banks or drawn) if b in drawn]  # and HMA's draw leaves out more
    if fmt == "legacy":
        copies = _copies(row, wanted)
        out = {"md5": sorted({m["bank"] for m in copies if m["method"] == "exact"})}
        if row.get("media_type") != "video":
            out["pdq"] = sorted({m["bank"] for m in copies})
        return out
    answer = scan_answer(h, row, wanted)
    return answer.get(only, {}) if only else answer


@router.get("/m/lookup", response_model=schemas.LookupResponse | schemas.MediaLookupResponse)
def lookup_get(_: Lookup, st: State, fmt: ResponseFormat, draw: Draw,
               signal_type: Annotated[str | None, Query(max_length=32)] = None,
               signal: Annotated[str | None, Query(max_length=200)] = None,
               url: Annotated[str | None, Query(max_length=4096)] = None,
               banks: BanksQ = None) -> JSONResponse:
    """Banks holding items that match a hash (``signal_type`` + ``signal``): ``{"BANK":
    [{"bank_content_id": 7, "distance": "5"}]}``; or each hash of the media at ``url``:
    ``{"pdq": {"BANK": [...]}}`` (only ``signal_type``'s part when that is given too).
    ``banks=A,B`` limits the search. Legacy: ``["BANK"]`` / ``{"pdq": ["BANK"]}``."""
    h = st.haechi
    if url:
        data = fetch_media(url, st.url_limits, st.url_gate)
        only = signal_type if fmt == "hma" else None
        return JSONResponse(_media_answer(h, fmt, url, data, _banks(banks), draw, only))
    if not signal_type or not signal:
        raise InputError("request", "give signal_type and signal, or url")
    return JSONResponse(_answer(h, fmt, signal_type, signal, _banks(banks), draw))


@router.post("/m/lookup", response_model=schemas.MediaLookupResponse)
async def lookup_post(request: Request, _: Lookup, h: H, fmt: ResponseFormat, draw: Draw, file: Upload = None,
                      photo: Upload = None, video: Upload = None, banks: BanksQ = None) -> JSONResponse:
    """Lookup of an uploaded file (one per request): ``{"pdq": {"BANK": [...]}}`` (legacy
    ``{"pdq": ["BANK"]}``)."""
    await only_one_file(request)
    upload = one_upload(file, photo, video)
    data = await read_upload(upload)
    return JSONResponse(await run_in_threadpool(_media_answer, h, fmt, upload.filename or "upload", data,
                                                _banks(banks), draw))


def _copies(row: dict[str, Any], banks: list[str] | None) -> list[dict[str, Any]]:
    """A scan row's matches that are copies (never leads), in ``banks`` when given."""
    return [m for m in row.get("matches") or [] if m.get("verdict", "copy") == "copy"
            and (banks is None or m["bank"] in banks)]


def scan_answer(h: Haechi, row: dict[str, Any], banks: list[str] | None = None
                ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """A scan row as HMA's media lookup answer, keyed by the signal types HMA knows of the file
    (``pdq`` for a photo; ``video_md5`` and ``vpdq`` for a video): ``{"pdq": {"BANK":
    [{bank_content_id, distance}]}}``. Copies only; an exact or a verified local-feature copy of a
    photo is reported under ``pdq`` at distance "0". ``banks`` filters (unknown names: nothing)."""
    video = row.get("media_type") == "video"
    copies = _copies(row, banks)
    ids = h.content_ids([m["entry_id"] for m in copies])
    out: dict[str, dict[tuple[str, int], int]] = {k: {} for k in (("video_md5", "vpdq") if video else ("pdq",))}
    for m in copies:
        if m["method"] == "exact":
            kind = "video_md5" if video else "pdq"
        else:
            kind = "vpdq" if video and m["method"] == "vpdq" else "pdq"
        dist = 0 if m["method"] in ("exact", "local") else int(m.get("distance") or 0)
        key = (m["bank"], ids.get(m["entry_id"], m["entry_id"]))
        best = out.setdefault(kind, {})
        best[key] = min(dist, best.get(key, 1 << 30))
    return {kind: {bank: [{"bank_content_id": cid, "distance": str(d)}
                          for (b, cid), d in sorted(best.items(), key=lambda kv: kv[1]) if b == bank]
                   for bank in sorted({b for b, _ in best})} for kind, best in out.items()}


@router.get("/m/raw_lookup", response_model=schemas.RawLookupResponse)
def raw_lookup(signal_type: SignalTypeQ, signal: SignalQ, _: Lookup, h: H, fmt: ResponseFormat,
               include_distance: bool = False, banks: BanksQ = None) -> JSONResponse:
    """Matching bank item ids; with ``include_distance``, ``[{"bank_content_id", "distance"}]``
    (legacy: ``content_id``). Bank items disabled or in banks not matching are included, as in HMA."""
    matches = _lookup(h, signal_type, signal, _banks(banks), include_disabled=True)
    if not include_distance:
        return JSONResponse({"matches": sorted({m["content_id"] for m in matches})})
    key = "bank_content_id" if fmt == "hma" else "content_id"
    if fmt == "legacy":
        return JSONResponse({"matches": [{key: m["content_id"], "distance": str(m["distance"])} for m in matches]})
    return JSONResponse({"matches": [{key: m["bank_content_id"], "distance": m["distance"]}
                                     for ms in by_bank(matches).values() for m in ms]})


_COMPARE_BODY = {"type": "object", "maxProperties": 10, "additionalProperties": {
    "type": "array", "items": {"type": "string", "maxLength": 200}, "minItems": 2, "maxItems": 2}}


@router.post("/m/compare", response_model=schemas.CompareResponse, openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": _COMPARE_BODY}}}})
async def compare(request: Request, h: H, _: Hasher) -> dict[str, list[Any]]:
    """Compare pairs of hashes: ``{"pdq": [a, b]}`` -> ``{"pdq": [true, {"distance": 9}]}``
    (a match: within the PDQ threshold; MD5/SHA-256: equal, distance 0, else 1). A body of
    another shape is a 400, as in HMA (not FastAPI's 422)."""
    body = await read_json(request)
    if not isinstance(body, dict) or not body or len(body) > 10:
        raise InputError("body", "give {signal_type: [hash, hash]} (one to ten signal types)")
    out: dict[str, list[Any]] = {}
    for name, pair in body.items():
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(v, str) for v in pair):
            raise InputError(name, "Comparison hash list length must be exactly 2")
        kind = LOOKUP_TYPES.get(name)
        if kind is None:
            raise InputError(name, f"No such SignalType (compare: {', '.join(LOOKUP_TYPES)})")
        a, b = (SIGNAL_TYPES[kind].normalize(v) for v in pair)
        if kind == "pdq":
            dist = hamming(a, b)
            out[name] = [dist <= h.settings.pdq_threshold, {"distance": dist}]
        else:
            out[name] = [a == b, {"distance": 0 if a == b else 1}]
    return out


@router.get("/m/index/status", response_model=dict[str, schemas.IndexStatus])
def index_status(_: Lookup, h: H, signal_type: Annotated[str | None, Query(max_length=32)] = None
                 ) -> dict[str, dict[str, Any]]:
    """The PDQ index: ``{"pdq": {"present", "built_to", "size"}}``. It is brought up to date
    before answering (as before every lookup), so ``built_to`` is now. MD5 and SHA-256 are
    looked up in the database directly: they have no index to report."""
    if signal_type is not None and signal_type != "pdq":
        if signal_type in LOOKUP_TYPES:
            return {}
        raise InputError(signal_type, "No such signal type")
    return {"pdq": {"present": True, "built_to": int(time.time()), "size": len(h.refresh_index())}}
