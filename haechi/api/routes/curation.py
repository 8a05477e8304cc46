"""HMA's curation routes (``/c``): banks, bank items ("content"), signal and content types,
exchanges — answering as HMA 1.1.x does (``OpenMediaMatch/blueprints/curation.py``), with
``?format=legacy`` for Haechi's earlier shapes.

What HMA keeps, Haechi keeps: a bank's ``matching_enabled_ratio`` (``enabled``/``enabled_ratio``;
HMA lookups draw against it, ``bypass_coinflip``/``seed`` as HMA; Haechi's own scans leave out a
bank at 0), an item's ``disable_until_ts`` (1 on, 0 off, else off until then: skipped by every
matcher) and its ``metadata`` (kept encrypted; shown to roles that work on cases). An item's
``note`` is stored as the entries' label (at most 255 characters, as in HMA).

HMA's rules hold in the ``hma`` shape: bank names ``[A-Z_][A-Z0-9_]*`` (400 otherwise), a
duplicate bank is a 403, deleting a bank that does not exist is a 200. The legacy shape keeps
Haechi's: any 1-200 character name, 409, 404.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from fastapi import Path as FPath
from fastapi.concurrency import run_in_threadpool

from haechi.api import schemas
from haechi.api.deps import BankRead, BankWrite, H, ResponseFormat, State
from haechi.api.media import add_bytes_to_bank, fetch_media
from haechi.api.security import only_one_file, parse_json, read_json, read_upload
from haechi.app import Haechi
from haechi.errors import AlreadyExists, InputError, NotFound

router = APIRouter(tags=["hma"])

#: HMA's bank names (``storage/postgres/database.py::_bank_name_ok``)
HMA_BANK_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
#: HMA's limit on how far ahead an item may be disabled
FIVE_YEARS_S = 5 * 365 * 24 * 3600
#: HMA's limit on a bank item's note
NOTE_MAX = 255
#: HMA signal type names accepted when adding hashes -> Haechi's
ADD_TYPES = {"video_md5": "md5", "video_sha256": "sha256"}
ContentId = Annotated[int, FPath(ge=1, le=2**62)]
Upload = Annotated[UploadFile | None, File()]
#: HMA item metadata kept per item, as JSON (a bigger one is a 400)
METADATA_MAX = 16384


def _ratio(enabled_ratio: float | None, enabled: bool | None) -> float | None:
    """HMA: ``enabled`` (false = 0.0, true = 1.0) or ``enabled_ratio``; None when neither is given."""
    if enabled_ratio is not None:
        return enabled_ratio
    return None if enabled is None else (1.0 if enabled else 0.0)


def _check_name(name: str, fmt: str) -> str:
    name = name.strip()
    if fmt == "hma" and not HMA_BANK_NAME.fullmatch(name):
        raise InputError(name or "''", "Bank names must be UPPER_WITH_UNDERSCORE ([A-Z_][A-Z0-9_]*)")
    return name


def _bank(h: Haechi, name: str, fmt: str) -> dict[str, Any]:
    for b in h.list_banks():
        if b["name"] == name:
            return {"name": name, "matching_enabled_ratio": b["matching_enabled_ratio"]} if fmt == "hma" else b
    raise NotFound("bank", name)


BankOut = schemas.HmaBank | schemas.LegacyBank


@router.get("/c/banks", response_model=list[schemas.HmaBank] | list[schemas.LegacyBank])
def banks(_: BankRead, h: H, fmt: ResponseFormat) -> list[dict[str, Any]]:
    if fmt == "hma":
        return [{"name": b["name"], "matching_enabled_ratio": b["matching_enabled_ratio"]} for b in h.list_banks()]
    return h.list_banks()


@router.post("/c/banks", status_code=201, response_model=BankOut)
def create_bank(body: schemas.BankIn, _: BankWrite, h: H, fmt: ResponseFormat) -> dict[str, Any]:
    """Create a bank (HMA: 403 if it exists; legacy: 409)."""
    name = _check_name(body.name, fmt)
    try:
        h.create_bank(name, body.description)
    except AlreadyExists:
        if fmt == "hma":
            raise HTTPException(403, "Bank already exists") from None
        raise
    ratio = _ratio(body.enabled_ratio, body.enabled)
    if ratio is not None:
        h.set_matching_ratio(name, ratio)
    return _bank(h, name, fmt)


@router.get("/c/bank/{name}", response_model=BankOut)
def get_bank(name: str, _: BankRead, h: H, fmt: ResponseFormat) -> dict[str, Any]:
    return _bank(h, name, fmt)


@router.put("/c/bank/{name}", response_model=BankOut)
def update_bank(name: str, body: schemas.BankUpdate, _: BankWrite, h: H, fmt: ResponseFormat) -> dict[str, Any]:
    """Rename (``name``), describe (``description``), enable/disable (``enabled``) or set the
    share of HMA lookups it takes part in (``enabled_ratio``, 0..1)."""
    _bank(h, name, fmt)
    if body.name is not None and body.name.strip() != name:
        new = _check_name(body.name, fmt)
        try:
            rename_bank(h, name, new)
        except AlreadyExists:
            if fmt == "hma":
                raise HTTPException(403, "Bank name already exists") from None
            raise
        name = new
    if body.description is not None:
        h.update_bank(name, body.description)
    ratio = _ratio(body.enabled_ratio, body.enabled)
    if ratio is not None:
        h.set_matching_ratio(name, ratio)
    return _bank(h, name, fmt)


@router.delete("/c/bank/{name}", response_model=schemas.BankDeleted, response_model_exclude_unset=True)
def delete_bank(name: str, _: BankWrite, h: H, fmt: ResponseFormat) -> dict[str, Any]:
    """Delete a bank and every item in it (HMA: a missing bank is a 200 too; legacy: 404)."""
    try:
        h.delete_bank(name)
    except NotFound:
        if fmt == "hma":
            return {"message": "Done"}
        raise
    return {"message": "Done"} if fmt == "hma" else {"deleted": name}


# -- bank items ---------------------------------------------------------------------------------
async def _note_and_metadata(request: Request) -> tuple[str | None, dict[str, Any] | None]:
    """HMA reads ``note`` (and ``metadata``) from a JSON body, or from form fields of an upload."""
    note: Any = None
    metadata: Any = None
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        data = await read_json(request)
        if not isinstance(data, dict):
            raise InputError("body", "give a JSON object")
        note, metadata = data.get("note"), data.get("metadata")
    elif kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        note, metadata = form.get("note"), form.get("metadata")
    return _note(note), (None if metadata is None else _check_metadata(metadata))


#: HMA's ``BankedContentMetadata`` fields (extra fields are refused there too)
_METADATA_FIELDS = {"content_id": str, "content_uri": str, "json": dict, "collab": dict}


def _check_metadata(metadata: Any) -> dict[str, Any] | None:
    """HMA's validation of item metadata: the object to keep (None when it holds nothing); a 400
    (InputError) for a bad one. HMA drops a client's ``collab`` (it is the exchange's to set)."""
    if isinstance(metadata, str):
        metadata = parse_json("metadata", metadata)
    if not isinstance(metadata, dict):
        raise InputError("metadata", "metadata should be a json object")
    for key, value in metadata.items():
        kind = _METADATA_FIELDS.get(key)
        if kind is None or not (value is None or isinstance(value, kind)):
            raise InputError("metadata", f"Invalid metadata: field {key!r}")
    kept = {k: v for k, v in metadata.items() if k != "collab" and v is not None}
    if len(json.dumps(kept)) > METADATA_MAX:
        raise InputError("metadata", f"metadata must be at most {METADATA_MAX} bytes of JSON")
    return kept or None


def _note(note: Any) -> str | None:
    if not note:
        return None
    if not isinstance(note, str):
        raise InputError("note", "note should be a string")
    if len(note) > NOTE_MAX:
        raise InputError("note", f"note must be at most {NOTE_MAX} characters")
    return note


@router.post("/c/bank/{name}/content", response_model=schemas.ContentAdded, response_model_exclude_unset=True)
async def add_content(name: str, request: Request, _: BankWrite, st: State, fmt: ResponseFormat,
                      file: Upload = None, photo: Upload = None, video: Upload = None,
                      url: Annotated[str | None, Query(max_length=4096, description="media to fetch and bank")] = None,
                      label: Annotated[str | None, Query(max_length=500)] = None) -> dict[str, Any]:
    """Add media to a bank, uploaded (``file``/``photo``/``video``) or fetched from ``?url=``:
    its hashes (and encrypted features) are stored, never the media. ``note`` (JSON body or
    form field, as HMA) or ``label`` is stored as the item's label. HMA answers ``{"id",
    "signals"}`` (HMA's signal types only); legacy ``{"id", "entry_ids", "duplicate"}``."""
    h = st.haechi
    _bank(h, name, "legacy")  # 404 before fetching or reading anything
    note, metadata = await _note_and_metadata(request)
    await only_one_file(request)
    upload = file or photo or video
    if upload is not None:
        source, data = upload.filename or "upload", await read_upload(upload)
    elif url:
        source, data = url, await run_in_threadpool(fetch_media, url, st.url_limits, st.url_gate)
    else:
        raise InputError("request", "Neither `url` nor multipart file upload was received")
    return await run_in_threadpool(_bank_it, h, name, source, data, note or label, fmt, metadata)


def _bank_it(h: Haechi, name: str, source: str, data: bytes, label: str | None, fmt: str,
             metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Bank one file (decoded in the hashing pool) and answer in ``fmt``; run in a worker thread."""
    result = add_bytes_to_bank(h, name, source, data, label)
    first = result.entry_ids[0] if result.entry_ids else None
    if metadata is not None and first is not None:
        h.set_item_metadata(name, first, metadata)
    if fmt == "legacy":
        return {"id": first, "entry_ids": result.entry_ids, "duplicate": result.duplicate}
    if first is None:  # already in the bank (HMA would add it again): answer with that item
        first = content_id_of(h, name, hashlib.sha256(data).hexdigest())
    entries = bank_content(h, name, first) if first is not None else []
    return {"id": first, "signals": hma_signals_of(entries)}


@router.post("/c/bank/{name}/signal", response_model=schemas.ContentAdded, response_model_exclude_unset=True)
def add_signal(name: str, body: dict[str, str | None | int | float | bool], _: BankWrite, h: H,
               fmt: ResponseFormat) -> dict[str, Any]:
    """Add hashes to a bank: ``{"pdq": "...", "note": "..."}`` (HMA), any of pdq, md5,
    video_md5, sha256, vpdq; the note is stored as the entries' label (``null`` or absent: none;
    not a string: 400, as HMA)."""
    raw = dict(body)
    note = _note(raw.pop("note", None))
    signals: dict[str, str] = {}
    for kind, value in raw.items():
        if not isinstance(value, str):
            raise InputError(kind, f"Invalid {kind} signal: give it as a string")
        signals[kind] = value
    if not signals or len(signals) > 10:
        raise InputError("body", "give one to ten {signal_type: signal} pairs")
    ids = h.add_signals(name, [(ADD_TYPES.get(t, t), v) for t, v in signals.items()], label=note)
    if fmt == "legacy":
        return {"id": ids[0] if ids else None, "entry_ids": ids, "signals": body}
    return {"id": ids[0] if ids else None, "signals": signals}


def hma_signals_of(entries: list[dict[str, Any]], all_types: bool = False) -> dict[str, str]:
    """An item's signals under HMA's names: ``pdq`` of a photo, ``video_md5`` of a video (and,
    with ``all_types``, Haechi's ``md5``/``sha256`` of a photo and ``sha256`` of a video)."""
    video = any(e["signal_type"] == "vpdq" for e in entries)
    out: dict[str, str] = {}
    for e in entries:
        kind = e["signal_type"]
        if kind == "md5" and video:
            out["video_md5"] = e["signal"]
        elif kind == "pdq" or (all_types and kind in ("md5", "sha256")):
            out[kind] = e["signal"]
    return out


def _content(h: Haechi, name: str, content_id: int, include_signals: bool = False,
             include_metadata: bool = False) -> dict[str, Any]:
    _bank(h, name, "legacy")
    entries = bank_content(h, name, content_id)
    if not entries:
        raise NotFound("content", f"{content_id} in bank {name}")
    state = h.item_state(name, content_id)
    out: dict[str, Any] = {"id": content_id, "disable_until_ts": state["disable_until_ts"],
                           "original_media_uri": None,
                           "bank": {"name": name, "matching_enabled_ratio": state["matching_enabled_ratio"]}}
    if include_metadata and state["metadata"] is not None:
        out["metadata"] = state["metadata"]
    if include_signals:
        out["signals"] = hma_signals_of(entries, all_types=True)
    note = next((e["label"] for e in entries if e["label"]), None)
    if note is not None:
        out["note"] = note
    return out


@router.get("/c/bank/{name}/content/{content_id}", response_model=schemas.BankContent,
            response_model_exclude_unset=True)
def get_content(name: str, content_id: ContentId, who: BankRead, h: H, include_signals: bool = False,
                include_metadata: bool = True) -> dict[str, Any]:
    """One bank item (all the signals of one media file, or one added hash) by its id — the
    ``bank_content_id`` lookups answer. ``note`` is the item's label, shown only to roles that
    work on cases: a label may name a case or a victim, and a partner never sees it (#17)."""
    out = _content(h, name, content_id, include_signals, include_metadata and who.can("cases"))
    if not who.can("cases"):
        out.pop("note", None)
    return out


@router.put("/c/bank/{name}/content/{content_id}", response_model=schemas.BankContent,
            response_model_exclude_unset=True)
def update_content(name: str, content_id: ContentId, body: schemas.ContentUpdate, request: Request, _: BankWrite,
                   h: H) -> dict[str, Any]:
    """Set or clear an item's ``note``; enable (``disable_until_ts`` 1), disable (0) or disable it
    until a Unix time (at most five years ahead, as HMA): every lookup and scan skips it at once."""
    _content(h, name, content_id)
    if body.disable_until_ts is not None and body.disable_until_ts > time.time() + FIVE_YEARS_S:
        raise InputError("disable_until_ts", "disable_until_ts must be less than 5 years in the future")
    if body.disable_until_ts is not None:
        h.set_item_state(name, content_id, body.disable_until_ts)
    if "note" in body.model_fields_set:
        set_content_note(h, name, content_id, _note(body.note))
    return _content(h, name, content_id)


@router.delete("/c/bank/{name}/content/{content_id}", response_model=schemas.ContentDeleted)
def delete_content(name: str, content_id: ContentId, _: BankWrite, h: H) -> dict[str, int]:
    """Delete an item (every entry of its media file): ``{"deleted": 1}``, 0 if there was none.
    Removed everywhere at once: lookups, every process's index, partners' sync feeds."""
    _bank(h, name, "legacy")
    entries = bank_content(h, name, content_id)
    for e in entries:
        h.remove_entry(name, e["id"])
    return {"deleted": 1 if entries else 0}


# -- configuration --------------------------------------------------------------------------------
@router.get("/c/signal_type", response_model=list[schemas.SignalTypeConfig])
def signal_types(_: BankRead) -> list[dict[str, Any]]:
    """Signal types a lookup accepts (all enabled; Haechi has no per-type ratio)."""
    return [{"name": n, "enabled_ratio": 1.0} for n in ("pdq", "video_md5", "md5", "sha256")]


@router.get("/c/content_type", response_model=list[schemas.ContentTypeConfig])
def content_types(_: BankRead) -> list[dict[str, Any]]:
    return [{"name": "photo", "enabled": True}, {"name": "video", "enabled": True}]


@router.get("/c/exchanges", response_model=list[str])
def exchanges(_: BankRead, h: H) -> list[str]:
    """Banks kept in step with another Haechi (``haechi bank pull``): Haechi's exchanges."""
    return exchange_names(h)


# -- the facade's bank-item operations, named as the routes above use them ----------------------------
def bank_content(h: Haechi, bank: str, content_id: int) -> list[dict[str, Any]]:
    return h.bank_item(bank, content_id)


def content_id_of(h: Haechi, bank: str, sha256: str) -> int | None:
    return h.bank_item_of(bank, sha256)


def set_content_note(h: Haechi, bank: str, content_id: int, note: str | None) -> None:
    h.set_item_note(bank, content_id, note)


def rename_bank(h: Haechi, old: str, new: str) -> None:
    h.rename_bank(old, new)


def exchange_names(h: Haechi) -> list[str]:
    return h.list_subscriptions()
