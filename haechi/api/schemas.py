"""Request and response models of every API operation: the OpenAPI document a partner or an
HMA client codes against. HMA's own models (``OpenMediaMatch/schemas/``) are followed where the
route is HMA's; Haechi's routes are written from the facade's answers.

Response models allow extra keys (``Out``): a field the library adds later reaches callers
instead of being silently dropped, while the declared fields are the documented contract.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool, StrictFloat

#: database ids fit a signed 64-bit integer; larger numbers are refused as input, not crashed on
DbId = Annotated[int, Field(ge=1, le=2**62)]


class Out(BaseModel):
    """Base of response models: declared fields documented, extra keys passed through."""

    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer: the error type (``InputError``, ``NotFound``, ``RemoteError``, ...)."""

    error: str
    message: str
    details: list[dict[str, Any]] | None = None


# -- requests ---------------------------------------------------------------------------------
#: HMA's matching ratio of a bank: the share of HMA lookups it takes part in (0 = off)
_RATIO = Field(default=None, ge=0.0, le=1.0, description="HMA matching_enabled_ratio, 0..1 (0 = off)")
_ENABLED = Field(default=None, description="HMA: false sets the ratio to 0, true to 1")


class BankIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    enabled_ratio: StrictFloat | None = _RATIO
    enabled: StrictBool | None = _ENABLED


class BankUpdate(BaseModel):
    description: str | None = Field(default=None, max_length=5000)
    #: HMA: a new name (rename)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled_ratio: StrictFloat | None = _RATIO
    enabled: StrictBool | None = _ENABLED


class ContentUpdate(BaseModel):
    """HMA ``PUT /c/bank/{bank}/content/{id}``."""

    note: str | None = Field(default=None, max_length=255)
    disable_until_ts: int | None = Field(
        default=None, ge=0, le=2**62,
        description="HMA: 1 = enabled, 0 = disabled, else disabled until this Unix time (s), at most 5 years ahead")


class CaseIn(BaseModel):
    victim_ref: str | None = Field(default=None, max_length=200)
    contact: str | None = Field(default=None, max_length=2000)


class ItemsIn(BaseModel):
    urls: list[str] = Field(min_length=1, max_length=100)


class NoticeIn(BaseModel):
    item_ids: list[DbId] = Field(min_length=1, max_length=1000)
    regime: str = Field(max_length=8)
    lang: str = Field(max_length=8)
    recipient: str | None = Field(default=None, max_length=320)


class FrameIn(BaseModel):
    t_s: float | None = None
    pdq: str = Field(max_length=64)
    quality: int | None = None


class HashedFileIn(BaseModel):
    kind: str = Field(default="image", pattern="^(image|video)$")
    sha256: str = Field(max_length=64)
    md5: str = Field(max_length=32)
    pdq: str | None = Field(default=None, max_length=64)
    quality: int | None = None
    frames: list[FrameIn] | None = Field(default=None, max_length=120)


class VictimIn(BaseModel):
    files: list[HashedFileIn] = Field(min_length=1, max_length=200)


# -- accounts ---------------------------------------------------------------------------------
class Me(Out):
    username: str
    role: str
    permissions: list[str]


# -- hashing (HMA /h) -------------------------------------------------------------------------
class Hashes(Out):
    """Signals of one media file, by signal type (HMA: ``{"pdq": ...}``; Haechi adds md5,
    sha256 and the PDQ quality; a video has ``video_md5`` and ``vpdq`` instead of ``pdq``)."""

    md5: str
    sha256: str
    pdq: str | None = None
    pdq_quality: int | None = None
    video_md5: str | None = None
    vpdq: str | None = None


# -- matching (HMA /m) ------------------------------------------------------------------------
class MatchWithDistance(BaseModel):
    """HMA: one matching bank item and its distance (a string, as HMA sends it)."""

    bank_content_id: int
    distance: str


#: HMA ``GET /m/lookup?signal_type=&signal=``: bank name -> matches
BankMatches = dict[str, list[MatchWithDistance]]
#: HMA lookup of media (upload or url): signal type -> bank name -> matches
BankMatchesBySignalType = dict[str, BankMatches]
#: legacy ``GET /m/lookup?signal_type=&signal=``: the matching bank names
LegacyBankNames = list[str]
#: legacy lookup of media: signal type -> bank names
LegacyBankNamesBySignalType = dict[str, list[str]]


class LookupResponse(RootModel[BankMatches | LegacyBankNames]):
    """``{"BANK": [{"bank_content_id": 7, "distance": "5"}]}`` (hma) or ``["BANK"]`` (legacy);
    with ``url=``, keyed by signal type first (as for an upload)."""


class MediaLookupResponse(RootModel[BankMatchesBySignalType | LegacyBankNamesBySignalType]):
    """``{"pdq": {"BANK": [...]}}`` (hma) or ``{"pdq": ["BANK"]}`` (legacy)."""


class LegacyMatchWithDistance(BaseModel):
    content_id: int
    distance: str


class RawLookupResponse(BaseModel):
    """Matching bank item ids, or (``include_distance``) the items with their distances."""

    matches: list[int] | list[MatchWithDistance] | list[LegacyMatchWithDistance]


class Match(Out):
    bank: str
    entry_id: int
    content_id: int
    #: only for roles that work on cases (a label may name a case or a victim)
    label: str | None
    signal_type: str
    distance: int
    #: "copy" (actionable) or "lead" (for a reviewer); lookups by hash give copies
    verdict: str = "copy"


class Matches(Out):
    matches: list[Match]


class IndexStatus(BaseModel):
    present: bool
    built_to: int
    size: int


class CompareDistance(BaseModel):
    distance: int


#: HMA ``POST /m/compare``: signal type -> [matches, {"distance": n}]
CompareResponse = dict[str, list[bool | CompareDistance]]


# -- curation (HMA /c) ------------------------------------------------------------------------
class HmaBank(BaseModel):
    """HMA's bank (``BankConfig``)."""

    name: str
    matching_enabled_ratio: float


class LegacyBank(Out):
    name: str
    description: str
    entries: int
    created_at: str
    matching_enabled_ratio: float


class BankDeleted(Out):
    message: str | None = None
    deleted: str | None = None


class ContentAdded(Out):
    """HMA: the new bank item's id and its signals; legacy adds ``entry_ids`` and ``duplicate``."""

    id: int | None
    signals: dict[str, str] | None = None
    entry_ids: list[int] | None = None
    duplicate: bool | None = None


class BankContent(Out):
    """HMA ``BankContentResponse``."""

    id: int
    disable_until_ts: int
    original_media_uri: str | None = None
    bank: HmaBank
    signals: dict[str, str] | None = None
    note: str | None = None
    #: HMA ``BankedContentMetadata``: content_id, content_uri, json
    metadata: dict[str, Any] | None = None


class ContentDeleted(BaseModel):
    deleted: int


class SignalTypeConfig(BaseModel):
    name: str
    enabled_ratio: float


class ContentTypeConfig(BaseModel):
    name: str
    enabled: bool


class SyncSignal(Out):
    entry_id: int
    signal_type: str
    signal: str
    quality: int | None = None


class BankChanges(Out):
    bank: str
    signals: list[SyncSignal]
    removed: list[int]
    next_cursor: str
    more: bool


# -- cases, notices, evidence, stats, jobs, victims --------------------------------------------
class CaseSummary(Out):
    case: str
    victim_ref: str | None
    status: str
    items: int
    removed: int
    created_at: str


class CaseItem(Out):
    id: int
    url: str
    host: str | None
    platform: str | None
    status: str
    synthetic: bool
    media: list[dict[str, Any]]
    created_at: str
    notified_at: str | None
    removed_at: str | None


class CaseNotice(Out):
    id: int
    regime: str
    lang: str
    status: str
    recipient: str | None
    items: list[int]


class Case(Out):
    case: str
    victim_ref: str | None
    status: str
    created_at: str
    closed_at: str | None
    has_contact: bool
    items: list[CaseItem]
    notices: list[CaseNotice]


class ItemAdded(Out):
    """One URL added to a case: the item (``id``, ``status``, ``media`` ...) and ``duplicate``,
    or only ``url`` and ``error`` when it could not be captured."""

    url: str
    error: str | None = None
    id: int | None = None
    status: str | None = None
    duplicate: bool | None = None


class Notice(Out):
    id: int
    regime: str
    lang: str
    status: str
    recipient: str | None
    subject: str
    text: str
    items: list[int]
    deadline_hours: int
    approved_by: str | None
    sent_at: str | None
    message_id: str | None


class Due(Out):
    notice: int
    case: str | None
    deadline: str
    hours_left: float
    overdue: bool
    items: list[str]
    recipient: str | None


class Verification(Out):
    ok: bool
    entries: int
    problems: list[str]
    tip: str | None = None


class Stats(Out):
    cases: int
    victims: int
    items_found: int
    items_notified: int
    items_removed: int
    items_still_up: int
    synthetic_share: float
    median_hours_to_removal: float | None
    median_hours_to_removal_by_host: dict[str, float]
    median_hours_to_removal_by_country: dict[str, float]


class JobStatus(Out):
    job: str
    kind: str
    total: int
    created_at: str
    queued: int
    running: int
    done: int
    failed: int
    finished: bool


class VictimReceipt(Out):
    """A victim's submission: her case number and PIN (shown once) and how many hashes."""

    case: str
    pin: str
    hashes: int
