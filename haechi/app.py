"""The library facade: ``Haechi(home=...)`` gives every operation as one documented method.

Every door (CLI, REST API, web app, Celery workers) and every Python user goes through this class.
It builds a :class:`~haechi.runtime.Runtime` and delegates each operation to its use-case in
``services/``, ``cases/`` or ``jobs`` (which take the runtime, never the facade); no SQL here.
Shapes: the JSON the CLI prints with ``--json`` (README); errors: :mod:`haechi.errors`.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from haechi import jobs
from haechi._lazy import preload
from haechi.cases import desk, notices, review
from haechi.cases import items as case_items
from haechi.cases import service as cases
from haechi.cases import watch as watches
from haechi.config import Settings, resolve_settings
from haechi.errors import InputError
from haechi.runtime import Runtime
from haechi.services import accounts, keys, scan, subscriptions, uploads, victims
from haechi.services import backup as backup_service
from haechi.services import banks as bank_service
from haechi.services import evidence as evidence_service
from haechi.services import exchange as exchange_service
from haechi.services import faces as face_service
from haechi.services.analyse import MediaRecord, analyse
from haechi.services.parallel import ordered_map
from haechi.sources import MediaRef, iter_media

if TYPE_CHECKING:
    from haechi.index.hamming import HammingIndex
    from haechi.store.blobs import BlobStore
    from haechi.store.crypto import Cipher
    from haechi.store.db import Database

PathLike = str | os.PathLike[str]
Paths = Iterable[PathLike]
Obj = dict[str, Any]  # the JSON object of an operation (README "JSON output")
Rows = Iterator[Obj]

#: printed with every face match: the output is a lead, not an identification
FACE_NOTE = scan.FACE_NOTE


def _who(actor: str | None) -> str:
    """The acting person: given by the door, else the operating-system user (CLI, library)."""
    return actor or getpass.getuser()


class Haechi:
    """One Haechi instance over one data home and database (``home``: a folder; ``database_url``:
    SQLAlchemy URL, SQLite under the home by default; ``overrides``: any :class:`Settings` field)."""

    def __init__(self, home: PathLike | None = None, database_url: str | None = None, settings: Settings | None = None,
                 **overrides: Any) -> None:
        self.runtime = Runtime(settings or resolve_settings(home, database_url, **overrides))
        self.settings: Settings = self.runtime.settings
        self.db: Database = self.runtime.db

    # -- plumbing (from the runtime) ----------------------------------------------------------
    @property
    def cipher(self) -> Cipher:
        return self.runtime.cipher

    @property
    def blobs(self) -> BlobStore:
        """The evidence store (``storage_url``: local directory by default, or S3)."""
        return self.runtime.blobs

    @property
    def evidence_dir(self) -> Path:
        return self.runtime.evidence_dir

    def pdq_index(self) -> HammingIndex:
        """The PDQ index, loaded once (a server loads it before its first request)."""
        return self.runtime.pdq_index()

    def refresh_index(self) -> HammingIndex:
        """The PDQ index with every process's additions and deletions folded in."""
        return self.runtime.refresh_index()

    def close(self) -> None:
        """Release the database connections and the in-memory indexes."""
        self.runtime.close()

    def _tx(self, work: Callable[[Any], Any]) -> Any:
        """``work(session)`` in one transaction (store-level functions that need only a session)."""
        with self.db.session() as s:
            return work(s)

    def __enter__(self) -> Haechi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hashing --------------------------------------------------------------------------------
    def hash_paths(self, paths: Paths) -> Iterator[MediaRecord]:
        """Hash every media file under ``paths`` (folders walked, archives opened within limits)."""
        return self.runtime.analyse(iter_media(paths, self.runtime.limits()), self.runtime.analyse_options())

    def hash_file(self, path: PathLike) -> Obj:
        """The ``haechi hash --json`` object of one file. Raises InputError (a folder or archive)."""
        records = list(self.hash_paths([path]))
        if len(records) != 1:
            raise InputError(str(path), "is a folder or archive; use hash_paths")
        return records[0].public()

    def hash_bytes(self, name: str, data: bytes) -> Obj:
        """The ``hash`` object of media given as bytes (``name`` labels it in errors)."""
        return analyse(MediaRef(path=name, data=data), self.runtime.analyse_options()).public()

    # -- media a server was sent: decoded in the hashing pool ------------------------------------
    def hash_upload(self, name: str, data: bytes) -> Obj:
        """:meth:`hash_bytes` in the hashing pool (a server's uploads: worker processes, queue
        bound, time limit). Raises InputError (an archive), MediaAborted, Busy."""
        return uploads.hash_upload(self.runtime, name, data)

    def scan_upload(self, name: str, data: bytes, banks: list[str] | None = None) -> Obj:
        """:meth:`scan_bytes` with the decoding in the hashing pool. Raises InputError (an
        archive), MediaAborted, Busy, NotFound (bank)."""
        return uploads.scan_upload(self.runtime, name, data, banks)

    def bank_upload(self, bank: str, name: str, data: bytes, label: str | None = None) -> bank_service.AddResult:
        """Add one file given as bytes to ``bank``, decoded in the hashing pool (its ``error``
        says why it was not added). Raises InputError (an archive), MediaAborted, Busy, NotFound."""
        return uploads.bank_upload(self.runtime, bank, name, data, label)

    def stop_hash_pool(self) -> None:
        """Stop the hashing pool's worker processes (a server's shutdown; restarted on next use)."""
        self.runtime.close_hash_pool()

    # -- banks ----------------------------------------------------------------------------------
    def create_bank(self, name: str, description: str = "") -> Obj:
        """``{name, description}``. Raises AlreadyExists, InputError (bad name)."""
        with self.db.session() as s:
            bank = bank_service.create_bank(s, name, description)
            return {"name": bank.name, "description": bank.description}

    def list_banks(self) -> list[Obj]:
        """``[{name, description, entries, ...}]``."""
        return self._tx(lambda s: bank_service.list_banks(s))

    def add_to_bank(self, name: str, paths: Paths, label: str | None = None) -> Iterator[bank_service.AddResult]:
        """Hash media and store its signals (never the media). One transaction per file."""
        return bank_service.add_media(self.runtime, name, paths, label)

    def bank_summary(self, name: str) -> Obj:
        """One bank: entry counts by type and source, media count, newest entries (no hashes)."""
        return self._tx(lambda s: bank_service.bank_summary(s, name))

    def add_browser_files(self, name: str, files: Any, label: str | None = None) -> Obj:
        """Add media hashed in the browser (hashes only) to bank ``name``: ``{files, hashes, entries}``."""
        return bank_service.add_browser_files(self.runtime, name, files, label)

    def import_bank(self, name: str, file: PathLike) -> bank_service.ImportResult:
        """Import hashes from a JSONL or CSV exchange file."""
        return bank_service.import_file(self.runtime, name, file)

    def add_signals(self, name: str, signals: list[tuple[str, str]], label: str | None = None) -> list[int]:
        """Add hashes (``[(signal_type, signal)]``); invalid ones raise InputError, nothing added."""
        return bank_service.add_signals(self.runtime, name, signals, label)

    def update_bank(self, name: str, description: str) -> None:
        """Change a bank's description."""
        self._tx(lambda s: bank_service.update_bank(s, name, description))

    def bank_item(self, name: str, content_id: int) -> list[Obj]:
        """The entries of one bank item (HMA content): ``[{id, signal_type, signal, label}]``."""
        return self._tx(lambda s: bank_service.bank_item(s, name, content_id))

    def bank_item_of(self, name: str, sha256: str) -> int | None:
        """The id of the item in bank ``name`` made from the media file with this SHA-256."""
        return self._tx(lambda s: bank_service.content_id_of(s, name, sha256))

    def set_item_note(self, name: str, content_id: int, note: str | None) -> None:
        self._tx(lambda s: bank_service.set_item_note(s, name, content_id, note))

    def set_matching_ratio(self, name: str, ratio: float) -> None:
        """HMA's bank ``matching_enabled_ratio`` (0 = off ... 1 = every lookup)."""
        self._tx(lambda s: bank_service.set_matching_ratio(s, name, ratio))

    def set_item_state(self, name: str, content_id: int, disable_until_ts: int) -> None:
        """HMA's ``disable_until_ts`` for one item: 1 on, 0 off, else off until that Unix time."""
        self._tx(lambda s: bank_service.set_item_state(s, name, content_id, disable_until_ts))

    def set_item_metadata(self, name: str, content_id: int, metadata: Obj | None) -> None:
        """HMA item ``metadata``, kept encrypted."""
        self._tx(lambda s: bank_service.set_item_metadata(s, self.runtime.cipher, name, content_id, metadata))

    def item_state(self, name: str, content_id: int) -> Obj:
        """``{disable_until_ts, metadata, matching_enabled_ratio}`` of one item."""
        return self._tx(lambda s: bank_service.item_state(s, self.runtime.cipher, name, content_id))

    def rename_bank(self, old: str, new: str) -> None:
        self._tx(lambda s: bank_service.rename_bank(s, old, new))

    def list_subscriptions(self) -> list[str]:
        """Banks kept in step with another Haechi (``haechi bank pull``)."""
        return self._tx(bank_service.subscription_names)

    def export_bank(self, name: str, fmt: str = "jsonl") -> list[str]:
        """The bank's hashes as exchange lines (``jsonl`` or ``csv``)."""
        return self._tx(lambda s: list(bank_service.export_signals(s, bank_service.get_bank(s, name), fmt)))

    def remove_entry(self, name: str, entry_id: int) -> None:
        """Remove one entry; every process's index drops it; syncing platforms learn of it."""
        bank_service.remove(self.runtime, name, entry_id)

    def delete_bank(self, name: str) -> None:
        """Delete a bank and all its entries."""
        bank_service.delete(self.runtime, name)

    def bank_changes(self, name: str, cursor: str | None = None, limit: int = 10_000) -> Obj:
        """Signals added to and entry ids removed from bank ``name`` since ``cursor`` — how a
        platform keeps its copy of a bank in step, withdrawals included."""
        return self._tx(lambda s: bank_service.changes(s, bank_service.get_bank(s, name), cursor, limit))

    def pull_bank(self, name: str, source_url: str, remote_bank: str, token: str, allow_private: bool = False,
                  client: Any = None) -> Obj:
        """Bring local bank ``name`` in step with ``remote_bank`` on another Haechi (its sync feed,
        read with a partner token). Raises RemoteError when the source fails."""
        return subscriptions.pull(self.runtime, name, source_url, remote_bank, token, allow_private=allow_private,
                                  client=client)

    # -- scanning and lookup --------------------------------------------------------------------
    def lookup(self, signal_type: str, signal: str, banks: list[str] | None = None, draw: float | None = None,
               include_disabled: bool = False) -> list[Obj]:
        """Bank entries matching one hash: ``[{bank, entry_id, content_id, label, signal_type,
        distance}]``, best first. ``draw``: an HMA lookup's coin flip against banks' matching
        ratios; ``include_disabled``: HMA's raw lookup, disabled items and banks included."""
        return scan.lookup(self.runtime, signal_type, signal, banks, draw, include_disabled)

    def matching_banks(self, draw: float | None = None) -> list[str]:
        """Banks that take part in a match under an HMA coin flip ``draw`` (None: Haechi's scans)."""
        return scan.matching_banks(self.runtime, draw)

    def scan(self, paths: Paths, banks: list[str] | None = None, threshold: int | None = None, faces: bool = False,
             assess: bool = False) -> Rows:
        """Scan media under ``paths`` against ``banks`` (all when None): per file the ``hash``
        fields plus ``matches`` (best first); with ``faces`` also ``faces``."""
        return scan.scan_paths(self.runtime, paths, banks, threshold, faces, assess)

    def scan_refs(self, refs: Iterable[MediaRef], banks: list[str] | None = None, threshold: int | None = None,
                  faces: bool = False, assess: bool = False) -> Rows:
        """:meth:`scan` over media references from any source (files, web captures, exports)."""
        return scan.scan_refs(self.runtime, refs, banks, threshold, faces, assess)

    def scan_bytes(self, name: str, data: bytes, banks: list[str] | None = None) -> Obj:
        """:meth:`scan` of one media file given as bytes (an upload): the same matcher as every door."""
        (row,) = list(scan.scan_refs(self.runtime, [MediaRef(path=name, data=data)], banks))
        return row

    def content_ids(self, entry_ids: list[int]) -> dict[int, int]:
        """HMA content id (the media file's first entry) of each entry id."""
        return scan.content_ids(self.runtime, entry_ids)

    def assess(self, paths: Paths, explain_dir: PathLike | None = None) -> Rows:
        """Per file: verdict (synthetic | likely_synthetic | inconclusive | no_evidence_found),
        score, reasons and each detector's result. ``explain_dir`` receives heat maps."""
        from haechi.assess.run import AssessOptions, assess_ref

        opts = AssessOptions(self.settings.max_pixels, self.settings.max_file_bytes,
                             str(explain_dir) if explain_dir else None)
        if self.settings.workers > 1:
            preload()  # detectors use OpenCV: loaded before the workers fork
        return ordered_map(partial(assess_ref, opts=opts), iter_media(paths, self.runtime.limits()),
                           self.settings.workers)

    # -- cases and notices ----------------------------------------------------------------------
    def sender(self) -> cases.Sender:
        """Who notices come from (settings ``sender_name``/``_org``/``_email``)."""
        return notices.sender(self.settings)

    def create_case(self, victim_ref: str | None = None, contact: str | None = None, actor: str | None = None) -> Obj:
        """A new case ``{case, ...}``; the contact is stored encrypted."""
        return self._tx(lambda s: cases.create_case(s, self.cipher, _who(actor), victim_ref, contact))

    def case_contact(self, case_ref: str) -> str | None:
        """The victim's contact details, decrypted (for the caseworker who must reach her)."""
        token = self._tx(lambda s: cases._case(s, case_ref).contact_ciphertext)
        return self.cipher.decrypt(token).decode() if token else None

    def list_cases(self) -> list[Obj]:
        return self._tx(lambda s: cases.list_cases(s))

    def show_case(self, case_ref: str) -> Obj:
        """A case with its items (each with its media and matches) and notices."""
        return self._tx(lambda s: cases.show_case(s, case_ref))

    def erase_case(self, case_ref: str, actor: str | None = None) -> Obj:
        """Crypto-shred the case's custody free text (its key is deleted) and drop its victim
        reference and contact; the chain still verifies."""
        result = self._tx(lambda s: cases.erase_case(s, case_ref, _who(actor)))
        self.db.flush_deleted()  # no copy of the key left in SQLite's write-ahead log
        return result

    def close_case(self, case_ref: str, actor: str | None = None) -> None:
        self._tx(lambda s: cases.close_case(s, case_ref, _who(actor)))

    def add_case_items(self, case_ref: str, targets: list[str], actor: str | None = None, capture: bool = True,
                       screenshot: bool = False, allow_private: bool = False, local_files: bool = True) -> Rows:
        """Add URLs (captured, media hashed and scanned) or, with ``local_files``, files to a case."""
        return case_items.add_case_items(self.runtime, case_ref, targets, _who(actor), capture, screenshot,
                                         allow_private, local_files)

    def draft_notice(self, item_ids: list[int], regime: str, lang: str, actor: str | None = None,
                     deadline_hours: int | None = None, recipient: str | None = None, personal_details: bool = False
                     ) -> Obj:
        """A draft takedown notice for items of one platform, in ``regime`` and ``lang``, with ``warnings``."""
        return notices.draft(self.runtime, item_ids, regime, lang, _who(actor), deadline_hours, recipient,
                             personal_details)

    def approve_notice(self, notice_id: int, by: str) -> Obj:
        """Approve a draft (refused: placeholder sender, no recipient, approver = drafter)."""
        return notices.approve(self.runtime, notice_id, by)

    def notice_submitted(self, notice_id: int, at: datetime, ref: str, actor: str | None = None) -> Obj:
        """Record that the platform received the notice through its form (its clock starts at ``at``)."""
        return notices.submitted(self.runtime, notice_id, at, ref, _who(actor))

    def notice_reply(self, notice_id: int, kind: str, at: datetime, outcome: str | None = None,
                     actor: str | None = None) -> Obj:
        """Record the provider's confirmation of receipt or decision (``kind``: receipt | decision)."""
        return notices.reply(self.runtime, notice_id, kind, at, outcome, _who(actor))

    def set_case_minor(self, case_ref: str, minor: bool = True, actor: str | None = None) -> Obj:
        """Mark a case as concerning a minor (the minors' route for its notices)."""
        return self._tx(lambda s: cases.set_minor(s, case_ref, minor, _who(actor)))

    def send_notice(self, notice_id: int, smtp_host: str | None = None, smtp_port: int = 25,
                    export_dir: PathLike | None = None, actor: str | None = None) -> Obj:
        """Send an approved notice by SMTP, or export it for a web form; idempotent."""
        return notices.send_notice(self.runtime, notice_id, _who(actor), smtp_host, smtp_port, export_dir)

    def due(self, within_hours: float = 12.0) -> list[Obj]:
        """Sent notices whose deadline falls within ``within_hours`` hours (or has passed)."""
        return self._tx(lambda s: cases.due(s, within_hours))

    def set_item_status(self, item_id: int, status: str, actor: str | None = None) -> None:
        self._tx(lambda s: cases.set_item_status(s, item_id, status, _who(actor)))

    def recheck_targets(self, case_ref: str | None = None, item_ids: list[int] | None = None) -> list[tuple[int, str,
                        str, str]]:
        """(item id, url, case, media JSON) of web items to re-check (removed ones on their schedule)."""
        return case_items.recheck_targets(self.runtime, case_ref, item_ids)

    def recheck(self, case_ref: str | None = None, allow_private: bool = False, actor: str | None = None,
                item_ids: list[int] | None = None, on_record: Callable[[Any, Obj], None] | None = None) -> Rows:
        """Re-fetch every notified item: removed, still_up or changed, with a new capture."""
        return case_items.recheck(self.runtime, _who(actor), case_ref, allow_private, item_ids, on_record)

    def stats(self, start: datetime | None = None, end: datetime | None = None) -> Obj:
        return self._tx(lambda s: cases.stats(s, start, end))

    # -- review queue (cases.review): what reviewers see, decide and are logged for -----------------
    def review_queue(self) -> list[review.QueueEntry]:
        """Media awaiting review in open cases, most urgent first, with matches and decisions."""
        return self._tx(review.queue)

    def review_at(self, position: int) -> review.QueueWindow:
        """The queue entry at ``position`` and the queue's length (not the whole queue)."""
        return self._tx(lambda s: review.queue_at(s, position))

    def review_position(self, item_id: int, index: int) -> int:
        return self._tx(lambda s: review.queue_position(s, item_id, index))

    def review_pending(self) -> int:
        """Queue entries without a decision."""
        return self._tx(review.pending_count)

    def review_entry(self, item_id: int, index: int) -> review.QueueEntry | None:
        return self._tx(lambda s: review.entry(s, item_id, index))

    def review_log(self, actor: str, entry: review.QueueEntry, event: str, **details: Any) -> None:
        """A custody ``view`` entry: reveal, revisit or hide (with ``seconds_shown``)."""
        self._tx(lambda s: review.log_view(s, actor, entry, event, **details))

    def review_reveal(self, actor: str, item_id: int, index: int, limit: int | None = None
                      ) -> review.QueueEntry | None:
        """Log a reveal of an original (ExposureLimit past ``limit`` today; None: no such entry)."""
        return self._tx(lambda s: review.reveal(s, actor, item_id, index, limit))

    def review_decide(self, actor: str, entry: review.QueueEntry, decision: str, note: str = "") -> review.Decision:
        """Record confirmed / not_a_match / escalated in the custody log."""
        return self._tx(lambda s: review.decide(s, actor, entry, decision, note))

    def case_decisions(self, case_ref: str) -> dict[tuple[int, int], review.Decision]:
        return self._tx(lambda s: review.case_decisions(s, case_ref))

    def review_exposure_today(self, actor: str) -> int:
        """How many originals ``actor`` revealed today (UTC)."""
        return self._tx(lambda s: review.exposure_today(s, actor))

    def show_notice(self, notice_id: int) -> Obj:
        """A notice as its approver sees it, with who drafted it and its channel."""
        return self._tx(lambda s: review.notice_for_approval(s, notice_id))

    def notice_items(self, case_ref: str, picked: list[int]) -> list[int]:
        """The picked items a notice may name: reviewer-confirmed items of the case only."""
        return self._tx(lambda s: review.notice_items(s, case_ref, picked))

    def record_submission(self, notice_id: int, actor: str, channel: str) -> bool:
        """A person records that an approved notice was submitted by hand (its clock starts)."""
        return self._tx(lambda s: review.record_submission(s, notice_id, actor, channel))

    def notice_eml(self, notice_id: int) -> bytes:
        return self._tx(lambda s: review.notice_eml(s, notice_id, self.sender()))

    def principal(self, user_id: int, epoch: int | None = None) -> accounts.Principal | None:
        """The signed-in user now: None once disabled, or once the session's ``epoch`` was ended."""
        return self._tx(lambda s: accounts.principal_of(s, user_id, epoch))

    def end_sessions(self, user_id: int, actor: str | None = None) -> None:
        """End every web session of a user (logout, password change, disabling)."""
        self._tx(lambda s: accounts.end_sessions(s, user_id, _who(actor)))

    def login_closed(self, username: str, password: str) -> bool:
        """Whether a failed login was the right password for a disabled (withdrawn) account."""
        return self._tx(lambda s: accounts.is_disabled_login(s, username, password))

    # -- the caseworker's desk (cases.desk): dashboard, deadlines, re-check history ---------------
    def cases_of(self, actor: str) -> set[str]:
        """Case numbers ``actor`` opened."""
        return self._tx(lambda s: desk.cases_of(s, actor))

    def waiting_notices(self, case_refs: set[str] | None = None) -> list[Obj]:
        """Drafts awaiting approval and approved notices awaiting sending (open cases)."""
        return self._tx(lambda s: desk.waiting_notices(s, case_refs))

    def reuploads(self, case_refs: set[str] | None = None) -> list[Obj]:
        return self._tx(lambda s: desk.reuploads(s, case_refs))

    def recent_rechecks(self, case_refs: set[str] | None = None, days: int = 7) -> list[Obj]:
        return self._tx(lambda s: desk.recent_rechecks(s, case_refs, days))

    def recheck_history(self, case_ref: str) -> dict[int, list[Obj]]:
        """Every re-check of a case's items (when, result, HTTP status, dispute), per item."""
        return self._tx(lambda s: desk.recheck_history(s, case_ref))

    def dispute_recheck(self, case_ref: str, entry_id: int, note: str, actor: str | None = None) -> Obj:
        """Record that a re-check's result is wrong, and why (custody)."""
        return self._tx(lambda s: desk.dispute_recheck(s, case_ref, entry_id, _who(actor), note))

    def watch_overview(self, case_refs: set[str] | None = None) -> list[Obj]:
        """Watches with schedule, next run and latest result."""
        return self._tx(lambda s: desk.watches(s, case_refs))

    def watch_runs(self, watch_id: int | None = None, limit: int = 100) -> list[Obj]:
        return self._tx(lambda s: desk.watch_runs(s, watch_id, limit))

    # -- watches (re-uploads) -------------------------------------------------------------------
    def add_watch(self, case_ref: str, source: str, every: str, allow_private: bool = False) -> Obj:
        """Look at ``source`` (a URL or Telegram export) every ``every`` (e.g. ``6h``) for re-uploads."""
        return watches.add_watch(self.runtime, case_ref, source, every, allow_private)

    def list_watches(self) -> list[Obj]:
        return watches.list_watches(self.runtime)

    def due_watch_ids(self) -> list[int]:
        return watches.due_watch_ids(self.runtime)

    def run_watches(self, run_all: bool = False, actor: str | None = None, allow_private: bool = False,
                    watch_ids: list[int] | None = None) -> list[Obj]:
        """Run due watches (all with ``run_all``): new matching media become items (``reuploaded``)."""
        return watches.run_due(self.runtime, run_all, actor or "watch", allow_private, watch_ids)

    # -- hash exchange --------------------------------------------------------------------------
    def exchange_export(self, fmt: str, bank: str | None = None, case_ref: str | None = None) -> str:
        """A bank's or a case's hashes in an exchange format (no media, no victim data)."""
        return exchange_service.export(self.runtime, fmt, bank, case_ref)

    def exchange_import(self, fmt: str, bank: str, file: PathLike) -> Obj:
        return exchange_service.import_file(self.runtime, fmt, bank, file)

    # -- accounts and victim self-service -------------------------------------------------------
    def add_user(self, username: str, role: str, password: str | None, actor: str | None = None) -> Obj:
        return self._tx(lambda s: accounts.add_user(s, username, role, password, actor=_who(actor)))

    def list_users(self) -> list[Obj]:
        return self._tx(lambda s: accounts.list_users(s))

    def disable_user(self, username: str, actor: str | None = None) -> None:
        self._tx(lambda s: accounts.disable_user(s, username, actor=_who(actor)))

    def create_token(self, username: str, name: str = "", actor: str | None = None) -> str:
        """A new API token for ``username`` (shown once; only its hash is stored)."""
        return self._tx(lambda s: accounts.create_token(s, username, name, actor=_who(actor)))

    def revoke_token(self, token: str, actor: str | None = None) -> None:
        self._tx(lambda s: accounts.revoke_token(s, token, actor=_who(actor)))

    def revoke_token_id(self, token_id: int, actor: str | None = None) -> None:
        """Revoke a token by its id (``list_tokens``): the token itself is never typed again."""
        self._tx(lambda s: accounts.revoke_token_id(s, token_id, actor=_who(actor)))

    def list_tokens(self, username: str | None = None) -> list[Obj]:
        """Tokens without their values: ``[{id, user, name, created_at, revoked_at}]``."""
        return self._tx(lambda s: accounts.list_tokens(s, username))

    def authenticate_token(self, token: str) -> accounts.Principal | None:
        return self._tx(lambda s: accounts.authenticate_token(s, token))

    def authenticate_password(self, username: str, password: str) -> accounts.Principal | None:
        return self._tx(lambda s: accounts.authenticate_password(s, username, password))

    def victim_submit(self, files: Any) -> Obj:
        """A victim's own hashes (made in her browser): ``{case, pin, hashes}``; the PIN is shown once."""
        return victims.submit(self.runtime, files)

    def victim_status(self, case_ref: str) -> Obj:
        return victims.status(self.runtime, case_ref)

    def victim_withdraw(self, case_ref: str) -> Obj:
        """Delete her hashes everywhere Haechi holds them, close her case, disable her login."""
        return victims.withdraw(self.runtime, case_ref)

    # -- distributed work -----------------------------------------------------------------------
    def scan_distributed(self, paths: Paths, banks: list[str] | None = None, threshold: int | None = None,
                         broker_url: str | None = None) -> str:
        """Enqueue one Celery task per file (``haechi worker`` runs them); returns the job id."""
        return jobs.scan_distributed(self.runtime, paths, banks, threshold, broker_url)

    def enqueue(self, kind: str, keys: Iterable[str], params: Obj | None = None, broker_url: str | None = None) -> str:
        """A job of ``kind`` with one item (task) per key; returns the job id."""
        return jobs.enqueue(self.runtime, kind, keys, params, broker_url)

    def claim_job_item(self, job_id: str, key: str) -> tuple[str, Obj] | None:
        """A worker takes an item: its job's (kind, params), or None when it is already finished."""
        return self._tx(lambda s: jobs.claim_item(s, job_id, key))

    def finish_job_item(self, job_id: str, key: str, status: str, row: Obj) -> None:
        """Record an item's outcome (``done``/``failed`` and its result row)."""
        self._tx(lambda s: jobs.finish_item(s, job_id, key, status, row))

    def job_status(self, job_id: str) -> Obj:
        return jobs.job_status(self.runtime, job_id)

    def list_jobs(self, limit: int = 50) -> list[Obj]:
        return jobs.list_jobs(self.runtime, limit)

    def job_results(self, job_id: str, timeout: float | None = None, poll: float = 0.3) -> Rows:
        """Each item's result as it finishes; RemoteError after ``timeout`` seconds."""
        return jobs.job_results(self.runtime, job_id, timeout, poll)

    # -- backups and keys -----------------------------------------------------------------------
    def backup(self, out: PathLike, include_key: bool = False) -> Obj:
        return backup_service.backup(self.runtime, Path(out), include_key)

    def restore(self, archive: PathLike) -> Obj:
        result = backup_service.restore(self.runtime, Path(archive))
        self.runtime.forget_keys_and_indexes()
        return result

    def rotate_keys(self) -> dict[str, int]:
        """Re-encrypt every encrypted value under a new key, in one transaction."""
        return keys.rotate_keys(self.runtime)

    # -- evidence -------------------------------------------------------------------------------
    def capture(self, urls: Iterable[str], case_ref: str | None = None, actor: str | None = None,
                screenshot: bool = True, allow_private: bool = False,
                on_record: Callable[[Any, Obj], None] | None = None) -> Rows:
        """Capture each URL as evidence (WARC, screenshot, media hashed and scanned, custody entry)."""
        return evidence_service.capture_urls(self.runtime, urls, case_ref, _who(actor), screenshot, allow_private,
                                             on_record)

    def crawl(self, root: str, depth: int = 1, same_site: bool = True, max_pages: int = 50, rate: float = 1.0,
              case_ref: str | None = None, actor: str | None = None, screenshot: bool = True,
              allow_private: bool = False, resume: str | None = None, crawl_id: str | None = None
              ) -> Rows:
        """Polite, bounded, resumable crawl from ``root``; every page goes through :meth:`capture`."""
        return evidence_service.crawl(self.runtime, root, depth, same_site, max_pages, rate, case_ref, _who(actor),
                                      screenshot, allow_private, resume, crawl_id)

    def ingest(self, kind: str, source: PathLike, case_ref: str | None = None, actor: str | None = None) -> Rows:
        """Hash and scan every media item of a Telegram export or a WARC/WACZ file."""
        return evidence_service.ingest(self.runtime, kind, source, case_ref, _who(actor))

    def verify_custody(self, case_ref: str | None = None) -> Obj:
        """The custody chain and every artefact checked: ``{ok, entries, problems}``."""
        return evidence_service.verify_custody(self.runtime, case_ref)

    def export_evidence(self, case_ref: str, out: PathLike, actor: str | None = None, recipients: Sequence[str] = (),
                        passphrase: str | None = None, plaintext: bool = False) -> Obj:
        """Write the case's evidence package to ``out``: age-encrypted, or plaintext only if asked."""
        return evidence_service.export_case(self.runtime, case_ref, Path(out), _who(actor), recipients, passphrase,
                                            plaintext)

    def evidence_package(self, case_ref: str, actor: str | None = None) -> bytes:
        """The case's evidence package as bytes (for a download); the export is logged as usual."""
        return evidence_service.evidence_package(self.runtime, case_ref, _who(actor))

    def media_bytes(self, case_ref: str, url: str) -> bytes | None:
        """The captured bytes of media ``url`` in ``case_ref``'s evidence (hash-checked), or None."""
        return evidence_service.media_bytes(self.runtime, case_ref, url)

    def artefact_bytes(self, capture_id: int, name: str) -> bytes:
        """The plaintext of a capture's artefact (WARC, screenshot), checked against custody."""
        return evidence_service.artefact_bytes(self.runtime, capture_id, name)

    # -- faces ----------------------------------------------------------------------------------
    def faces(self, paths: Paths) -> Rows:
        """Detected faces per media file (boxes; video: on sampled frames, with ``t_s``)."""
        return face_service.detect(self.runtime, paths)

    def enroll_subject(self, subject: str, photos: Paths, consent_ref: str | None = None,
                       enrolled_by: str | None = None, name: str | None = None) -> Obj:
        """Enrol a consenting person's face from photos of her: embeddings only, encrypted."""
        return face_service.enroll_photos(self.runtime, subject, photos, consent_ref, _who(enrolled_by), name)

    def list_subjects(self) -> list[Obj]:
        return self._tx(lambda s: face_service.list_subjects(s, self.cipher))

    def withdraw_subject(self, subject: str) -> int:
        """Delete every embedding of ``subject``; returns how many were deleted."""
        return self._tx(lambda s: face_service.withdraw(s, subject))
