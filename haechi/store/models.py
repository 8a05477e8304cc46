"""SQLAlchemy 2 models. Banks hold signals (hashes) and never media."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from haechi.store.encrypted import EncryptedText, blind_index, cipher_of


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


#: tables whose ids leave the database (index labels, HMA content ids, sync cursors): on SQLite
#: they are AUTOINCREMENT so a deleted row's id is never handed out again (PostgreSQL sequences
#: never reuse). A reused id once made a deleted bank's hash match an unrelated entry at
#: distance 0 (issue #21).
NEVER_REUSE = {"sqlite_autoincrement": True}


class Bank(Base):
    __tablename__ = "banks"
    __table_args__ = (NEVER_REUSE,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    #: free text (it can name a victim): encrypted at rest (``haechi.store.encrypted``)
    description: Mapped[str] = mapped_column(EncryptedText, default="", nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: HMA's ``matching_enabled_ratio``: 0 = the bank matches nothing; 1 = every lookup; between =
    #: that share of HMA lookups (a roll-out); Haechi's own scans treat any share above 0 as on
    matching_enabled_ratio: Mapped[float] = mapped_column(Float, default=1.0, server_default="1.0",
                                                          nullable=False)

    entries: Mapped[list[BankEntry]] = relationship(
        back_populates="bank", cascade="all, delete-orphan", passive_deletes=True
    )


class BankEntry(Base):
    """One signal in one bank. A media file added to a bank gives one entry per signal type."""

    __tablename__ = "bank_entries"
    __table_args__ = (
        UniqueConstraint("bank_id", "signal_type", "signal", name="uq_entry_signal"),
        Index("ix_entries_type_signal", "signal_type", "signal"),
        NEVER_REUSE,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), nullable=False, index=True)
    signal_type: Mapped[str] = mapped_column(String(32), nullable=False)
    signal: Mapped[str] = mapped_column(String(128), nullable=False)
    #: free text ("case C-2026-00001 / her name"): encrypted at rest; ``label_index`` is its
    #: blind index (HMAC), for the lookups by label (a pulled entry's ``pulled:<remote id>``)
    label: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    label_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: groups the entries that came from one media file (its sha256), so matches can be merged
    content_ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    source: Mapped[str | None] = mapped_column(String(32), nullable=True)  # "media" | "import"
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: HMA's ``disable_until_ts``: 1 = matches, 0 = disabled, else disabled until that Unix time
    disable_until_ts: Mapped[int] = mapped_column(BigInteger, default=1, server_default="1", nullable=False)
    #: HMA's item ``metadata`` (content_id, content_uri, json), JSON encrypted with the home's key:
    #: it may name a source or a case. Kept on the item's first entry (the item id's)
    metadata_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    bank: Mapped[Bank] = relationship(back_populates="entries")


class LocalFeatureSet(Base):
    """Encrypted ORB features of media a bank owner provided, attached to its PDQ entry."""

    __tablename__ = "local_features"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("bank_entries.id", ondelete="CASCADE"), primary_key=True
    )
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), nullable=False, index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class VideoHash(Base):
    """vPDQ frames of a banked video (packed, see :mod:`haechi.signals.vpdq`), attached to its
    ``vpdq`` entry."""

    __tablename__ = "video_hashes"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("bank_entries.id", ondelete="CASCADE"), primary_key=True
    )
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), nullable=False, index=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    frames: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    #: middle-band PDQs per frame, for media the bank owner provided (not in exchanged hashes)
    bands: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class Subject(Base):
    """A person (victim) who consented to face search. ``subject_ref`` is a pseudonymous
    reference chosen by the caseworker — never a name."""

    __tablename__ = "subjects"
    __table_args__ = (NEVER_REUSE,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: typed by a caseworker (meant to be pseudonymous, may still name her): encrypted at rest,
    #: unique and looked up through its blind index ``subject_ref_index``
    subject_ref: Mapped[str] = mapped_column(EncryptedText, nullable=False)
    subject_ref_index: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    consent_ref: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    enrolled_by: Mapped[str] = mapped_column(String(200), nullable=False)
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: her name as given at enrolment, if the centre records it: Fernet-encrypted, never in the clear
    name_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class FaceEmbedding(Base):
    """One enrolled face: the 128-d embedding, Fernet-encrypted. The photo is never stored."""

    __tablename__ = "face_embeddings"
    __table_args__ = (NEVER_REUSE,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class CaseKey(Base):
    """A case's data key for the free text of its custody entries (crypto-shredding, issue #17
    low 13), wrapped with the home's key; ``haechi case erase`` deletes it, leaving the sealed
    text unreadable while the hash chain (over the ciphertext) still verifies. ``case_ref`` ""
    is the key of entries without a case."""

    __tablename__ = "case_keys"

    case_ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # None: erased
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CustodyEntry(Base):
    """One link of the append-only, hash-chained custody log (see :mod:`haechi.evidence.custody`)."""

    __tablename__ = "custody_log"
    __table_args__ = (UniqueConstraint("prev_hash", name="uq_custody_prev"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[str] = mapped_column(String(40), nullable=False)  # ISO 8601 UTC, as hashed
    details: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON
    artefacts: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON {name: sha256}
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    entry_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


class Capture(Base):
    """A captured web page: its WARC, screenshot and the media found on it."""

    __tablename__ = "captures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    final_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    captured_at: Mapped[str] = mapped_column(String(40), nullable=False)
    folder: Mapped[str] = mapped_column(String(500), nullable=False)  # relative to <home>/evidence
    artefacts: Mapped[str] = mapped_column(Text, nullable=False)  # JSON {name: sha256}
    media: Mapped[str] = mapped_column(EncryptedText, nullable=False)  # JSON media results (labels): encrypted
    custody_entry_id: Mapped[int | None] = mapped_column(ForeignKey("custody_log.id"), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class User(Base):
    """A person who uses Haechi: admin, caseworker, reviewer, partner (platform) or victim."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)  # argon2id
    disabled: Mapped[bool] = mapped_column(default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    #: web sessions carry the epoch they began in; logout, a password change and disabling the
    #: user move it on, which ends every session of hers at once (a saved cookie is dead)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored. Revocable; carries its owner's role."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Job(Base):
    """A unit of distributed work (a scan of many files), tracked so ``haechi jobs`` shows progress."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    params: Mapped[str] = mapped_column(EncryptedText, nullable=False)  # JSON (a case, banks): encrypted
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class JobItem(Base):
    """One item of a job; (job_id, key) is unique, so a redelivered task never duplicates it."""

    __tablename__ = "job_items"
    __table_args__ = (UniqueConstraint("job_id", "key", name="uq_job_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True)
    key: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # queued | running | done | failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    result: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)  # JSON (matches, labels): encrypted
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow,
                                                 nullable=False)


class Case(Base):
    """A victim's case. ``victim_ref`` (often her name) and contact details are encrypted at rest."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    victim_ref: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)  # often her name
    contact_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: the depicted person is a minor: notices take the minors' route (issue #18 section 7)
    minor: Mapped[bool] = mapped_column(default=False, nullable=False)


class CaseItem(Base):
    """One place a victim's media was found: found -> notified -> removed | still_up | reuploaded."""

    __tablename__ = "case_items"
    __table_args__ = (UniqueConstraint("case_id", "url", name="uq_case_item_url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    host: Mapped[str | None] = mapped_column(String(300), nullable=True)
    platform: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: JSON: hashes and matches (a match carries its bank entry's label): encrypted at rest
    media: Mapped[str] = mapped_column(EncryptedText, nullable=False, default="[]")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="found")
    synthetic: Mapped[bool] = mapped_column(default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Notice(Base):
    """A takedown notice: drafted, approved by a named person, sent once (idempotent)."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    item_ids: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list
    regime: Mapped[str] = mapped_column(String(8), nullable=False)
    lang: Mapped[str] = mapped_column(String(8), nullable=False)
    recipient: Mapped[str | None] = mapped_column(String(300), nullable=True)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    deadline_hours: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(300), nullable=True, unique=True)
    #: who drafted it (four-eyes: the drafter cannot approve), the platform and the channel kind
    #: (email | form | given | last_resort | proxy) and whether the registry documents it as the
    #: platform's statutory process for the regime
    drafted_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    platform: Mapped[str | None] = mapped_column(String(200), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    channel_process: Mapped[bool] = mapped_column(default=False, nullable=False)
    #: when the platform received it (SMTP accepted, or a form submission confirmed by a person):
    #: every clock starts here, never at export
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    submission_ref: Mapped[str | None] = mapped_column(String(300), nullable=True)
    #: DSA Art. 16(4) confirmation of receipt and Art. 16(5) decision, as the provider reported them
    receipt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Watch(Base):
    """A source checked again and again for re-uploads (a URL, or a Telegram export folder)."""

    __tablename__ = "watches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # url | telegram
    source: Mapped[str] = mapped_column(EncryptedText, nullable=False)  # a URL or a folder path: encrypted
    every_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    last_run: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class CrawlState(Base):
    """A crawl's resumable state (frontier, seen URLs and page hashes) in the shared database, so
    that a crawl task redelivered to another worker — with its own home — continues it."""

    __tablename__ = "crawls"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow,
                                                 nullable=False)


class BankRemoval(Base):
    """A removed bank entry, kept as its id only — never its hash — so that a platform keeping a
    copy of a bank (``GET /api/banks/{name}/signals``) learns to delete its copy too: a victim's
    withdrawal reaches the platforms that synchronised her hashes."""

    __tablename__ = "bank_removals"
    __table_args__ = (NEVER_REUSE,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the removal sequence
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), nullable=False, index=True)
    entry_id: Mapped[int] = mapped_column(Integer, nullable=False)
    removed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class BankSubscription(Base):
    """A local bank kept in step with a bank on another Haechi (a centre's, pulled by a
    platform): where from, and the cursor of the last page applied."""

    __tablename__ = "bank_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), nullable=False, unique=True)
    source_url: Mapped[str] = mapped_column(Text, nullable=False)
    remote_bank: Mapped[str] = mapped_column(String(200), nullable=False)
    cursor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_pull_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class IndexRemoval(Base):
    """Every deleted bank entry, in deletion order, written by a database trigger on
    ``bank_entries`` (so no code path — bank delete, entry remove, withdrawal, sync removal,
    restore — can skip it). Each process holding an in-memory index drops the entries removed
    since its last look (``Runtime.refresh_index``), as it already folds in entries added."""

    __tablename__ = "index_removals"
    __table_args__ = (NEVER_REUSE,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the removal sequence
    entry_id: Mapped[int] = mapped_column(Integer, nullable=False)
    signal_type: Mapped[str] = mapped_column(String(32), nullable=False)


class SubmissionSignal(Base):
    """Which bank entries one victim's self-service submission holds. A hash two victims submit
    is one bank entry held by two submissions: it stays while any of them holds it, a withdrawal
    removes only what no one else holds, and each status counts her own hashes — so neither a
    status page nor a withdrawal reveals or undoes another person's submission (issue #17)."""

    __tablename__ = "submission_signals"
    __table_args__ = (UniqueConstraint("case_id", "entry_id", name="uq_submission_entry"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entries.id", ondelete="CASCADE"), nullable=False,
                                          index=True)


@event.listens_for(BankEntry, "before_insert")
@event.listens_for(BankEntry, "before_update")
def _index_label(_mapper: object, connection: object, target: BankEntry) -> None:
    """Every ORM write of an entry keeps its label's blind index (Core updates set it themselves)."""
    target.label_index = (None if target.label is None
                          else blind_index(cipher_of(connection.dialect), target.label))  # type: ignore[attr-defined]


@event.listens_for(Subject, "before_insert")
@event.listens_for(Subject, "before_update")
def _index_subject_ref(_mapper: object, connection: object, target: Subject) -> None:
    """Every ORM write of a subject keeps her reference's blind index (the unique lookup key)."""
    target.subject_ref_index = blind_index(cipher_of(connection.dialect), target.subject_ref)  # type: ignore[attr-defined,assignment]
