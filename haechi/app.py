"""The library facade: ``Haechi(home=...)`` gives every core operation as a typed method.

The CLI, and later the API and workers, are thin doors onto this class.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet
from sqlalchemy import func, select

from haechi.config import Settings, resolve_settings
from haechi.errors import ConfigError, InputError, NotFound
from haechi.index.hamming import HammingIndex, as_codes
from haechi.services import banks as bank_service
from haechi.services import faces as face_service
from haechi.services.analyse import AnalyseOptions, MediaRecord, analyse
from haechi.services.matching import (
    HitVerifier,
    fetch_codes,
    latest_removal,
    load_local_index,
    load_pdq_index,
    removed_labels,
    video_frame_codes,
)
from haechi.services.parallel import ordered_map
from haechi.services.scan import Scanner, SearchContext, analyse_and_search, set_search_context
from haechi.signals import vpdq as vpdq_signal
from haechi.signals.local import BANK_FEATURES, QUERY_FEATURES
from haechi.sources import MediaRef, iter_media
from haechi.sources.files import Limits
from haechi.store.blobs import BlobStore
from haechi.store.crypto import Cipher, load_or_create_key, write_key_file
from haechi.store.db import Database
from haechi.store.models import Bank, BankEntry, FaceEmbedding, IndexRemoval, LocalFeatureSet, VideoHash

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from haechi.index.local import LocalIndex

#: printed with every face match: the output is a lead, not an identification
FACE_NOTE = ("A face match is a lead for a human reviewer, never a verdict: similar-looking people "
             "and deepfakes both produce matches. Check before acting.")


class Haechi:
    """One Haechi instance over one data home and database."""

    def __init__(self, home: str | os.PathLike[str] | None = None, database_url: str | None = None,
                 settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings or resolve_settings(home, database_url, **overrides)
        self.settings.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.settings.home, 0o700)
        self.db = Database(self.settings.database_url)
        self._cipher: Cipher | None = None
        self._pdq_index: HammingIndex | None = None
        self._index_last_id = 0
        self._index_last_removal = 0
        self._blobs: BlobStore | None = None
        self._local_cache: tuple[tuple[Any, ...], LocalIndex] | None = None

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            key = load_or_create_key(self.settings.key_file, os.environ.get("HAECHI_SECRET_KEY"))
            self._cipher = Cipher(key)
        return self._cipher

    def _limits(self) -> Limits:
        s = self.settings
        return Limits(s.max_file_bytes, s.max_archive_bytes, s.max_compression_ratio, s.max_video_bytes)

    def _opts(self, **kw: Any) -> AnalyseOptions:
        s = self.settings
        return AnalyseOptions(s.max_pixels, s.max_file_bytes, max_video_bytes=s.max_video_bytes,
                              video_seconds_per_hash=s.video_seconds_per_hash, video_max_frames=s.video_max_frames,
                              **kw)

    def _analyse(self, refs: Iterable[MediaRef], opts: AnalyseOptions) -> Iterator[MediaRecord]:
        return ordered_map(partial(analyse, opts=opts), refs, self.settings.workers)

    def close(self) -> None:
        """Release the database connections and the in-memory index (hundreds of MiB at 1M+
        hashes: a supervisor that only built it for its workers must not keep a copy)."""
        self.db.dispose()
        self._pdq_index = None
        self._local_cache = None

    def __enter__(self) -> Haechi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hashing ----------------------------------------------------------------------------
    def hash_paths(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[MediaRecord]:
        """Hash every media file under ``paths`` (folders walked, archives opened)."""
        opts = self._opts()
        return self._analyse(iter_media(paths, self._limits()), opts)

    def hash_file(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """The ``haechi hash --json`` object of one file."""
        records = list(self.hash_paths([path]))
        if len(records) != 1:
            raise InputError(str(path), "is a folder or archive; use hash_paths")
        return records[0].public()

    # -- banks ------------------------------------------------------------------------------
    def create_bank(self, name: str, description: str = "") -> dict[str, Any]:
        with self.db.session() as s:
            bank = bank_service.create_bank(s, name, description)
            return {"name": bank.name, "description": bank.description}

    def list_banks(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return bank_service.list_banks(s)

    def add_to_bank(self, name: str, paths: Iterable[str | os.PathLike[str]],
                    label: str | None = None) -> Iterator[bank_service.AddResult]:
        """Hash media and store its signals (never the media). One transaction per file."""
        with self.db.session() as s:
            bank_service.get_bank(s, name)
        nfeat = BANK_FEATURES if self.settings.local_features else 0
        opts = self._opts(local_features=nfeat)
        cipher = self.cipher if nfeat else None
        for record in self._analyse(iter_media(paths, self._limits()), opts):
            with self.db.session() as s:
                bank = bank_service.get_bank(s, name)
                result, entries = next(bank_service.add_records(s, bank, [record], label, cipher))
            pairs = [(e.id, e.signal) for e in entries if e.signal_type == "pdq"
                     and (e.quality is None or e.quality >= self.settings.quality_floor)]
            for e in entries:
                if e.signal_type == "vpdq":
                    codes, labels = video_frame_codes(e.id, vpdq_signal.pack(record.vpdq()),
                                                      self.settings.quality_floor,
                                                      vpdq_signal.pack_bands(record.bands()))
                    pairs += list(zip(labels, codes, strict=True))
            self._index_new(pairs)
            yield result

    def _stored_index_pairs(self, s: Any, entry_ids: list[int]) -> list[tuple[int, str]]:
        """(label, PDQ hex) of just-stored entries — their PDQs above the quality floor, as a
        rebuilt index would hold them, and their videos' frames — for an index this instance
        already loaded (none loaded: nothing to do). Queried in chunks: a 1M-line import must
        not hit the database's limit on bound parameters."""
        from haechi.services.matching import _pdq_filter

        if self._pdq_index is None or not entry_ids:
            return []
        pairs: list[tuple[int, str]] = []
        for i in range(0, len(entry_ids), 10_000):
            chunk = entry_ids[i:i + 10_000]
            rows = s.execute(select(BankEntry.id, BankEntry.signal).where(
                BankEntry.id.in_(chunk), _pdq_filter(self.settings.quality_floor))).all()  # type: ignore[arg-type]
            pairs += [(r[0], r[1]) for r in rows]
            for entry_id, blob in s.execute(select(VideoHash.entry_id, VideoHash.data).where(
                    VideoHash.entry_id.in_(chunk))):
                codes, labels = video_frame_codes(entry_id, blob, self.settings.quality_floor)
                pairs += list(zip(labels, codes, strict=True))
        return pairs

    def _index_new(self, pairs: list[tuple[int, str]]) -> None:
        """Make new entries matchable at once by an index this instance already loaded."""
        if self._pdq_index is not None and pairs:
            self._pdq_index.add(as_codes([p[1] for p in pairs]), [p[0] for p in pairs])

    def import_bank(self, name: str, file: str | os.PathLike[str]) -> bank_service.ImportResult:
        with self.db.session() as s:
            bank = bank_service.get_bank(s, name)
            result = bank_service.import_signals(s, bank, Path(file))
            pairs = self._stored_index_pairs(s, result.entry_ids)
        self._index_new(pairs)
        return result

    def add_signals(self, name: str, signals: list[tuple[str, str]], label: str | None = None) -> list[int]:
        """Add hashes (``[(signal_type, signal)]``) to a bank; invalid ones raise BadSignal."""
        lines = "\n".join(json.dumps({"signal_type": t, "signal": v, "label": label}) for t, v in signals)
        with self.db.session() as s:
            bank = bank_service.get_bank(s, name)
            result = bank_service.import_text(s, bank, lines + "\n", "request")
            if result.errors:
                raise InputError("signal", "; ".join(e.split(": ", 1)[-1] for e in result.errors))
            pairs = self._stored_index_pairs(s, result.entry_ids)
            if not result.entry_ids:  # all duplicates: return the existing entries
                existing = []
                for t, v in signals:
                    from haechi.signals import SIGNAL_TYPES

                    norm = SIGNAL_TYPES[t].normalize(v) if t in SIGNAL_TYPES else v
                    if t == "vpdq":
                        norm = vpdq_signal.fingerprint(vpdq_signal.from_exchange(norm))
                    existing += list(s.scalars(select(BankEntry.id).where(
                        BankEntry.bank_id == bank.id, BankEntry.signal_type == t, BankEntry.signal == norm)))
                return existing
        self._index_new(pairs)
        return result.entry_ids

    def update_bank(self, name: str, description: str) -> None:
        with self.db.session() as s:
            bank_service.get_bank(s, name).description = description

    def export_bank(self, name: str, fmt: str = "jsonl") -> list[str]:
        with self.db.session() as s:
            bank = bank_service.get_bank(s, name)
            return list(bank_service.export_signals(s, bank, fmt))

    def remove_entry(self, name: str, entry_id: int) -> None:
        with self.db.session() as s:
            bank_service.remove_entry(s, bank_service.get_bank(s, name), entry_id)
        self._unindex([entry_id])

    def _unindex(self, entry_ids: list[int]) -> None:
        """Drop removed entries (and their video frames) from an index this instance loaded."""
        if self._pdq_index is not None and entry_ids:
            self._pdq_index.remove([label for entry_id in entry_ids
                                    for label in (entry_id, *(vpdq_signal.frame_label(entry_id, f)
                                                              for f in range(self.settings.video_max_frames)))])

    def bank_changes(self, name: str, cursor: str | None = None, limit: int = 10_000) -> dict[str, Any]:
        """Signals added to and entry ids removed from bank ``name`` since ``cursor`` — how a
        platform keeps its copy of a bank in step, withdrawals included."""
        with self.db.session() as s:
            return bank_service.changes(s, bank_service.get_bank(s, name), cursor, limit)

    def pull_bank(self, name: str, source_url: str, remote_bank: str, token: str, allow_private: bool = False,
                  client: Any = None) -> dict[str, Any]:
        """Bring local bank ``name`` in step with ``remote_bank`` on another Haechi (its sync feed,
        read with a partner token): new signals imported, removed ones — withdrawals — deleted."""
        from haechi.services import subscriptions

        result = subscriptions.pull(self, name, source_url, remote_bank, token, allow_private=allow_private,
                                    client=client)
        with self.db.session() as s:
            pairs = self._stored_index_pairs(s, result["new_entry_ids"])
        self._index_new(pairs)
        self._unindex(result["removed_entry_ids"])
        return result

    def delete_bank(self, name: str) -> None:
        with self.db.session() as s:
            bank_service.delete_bank(s, bank_service.get_bank(s, name))

    # -- cases and notices ------------------------------------------------------------------
    def sender(self) -> Any:
        """Who notices come from: $HAECHI_SENDER_NAME / _ORG / _EMAIL (a centre's identity)."""
        from haechi.cases.service import Sender

        return Sender(os.environ.get("HAECHI_SENDER_NAME", "Deletion support team"),
                      os.environ.get("HAECHI_SENDER_ORG", "Digital sex crime victim support centre"),
                      os.environ.get("HAECHI_SENDER_EMAIL", "takedown@example.org"))

    def create_case(self, victim_ref: str | None = None, contact: str | None = None,
                    actor: str | None = None) -> dict[str, Any]:
        from haechi.cases import service as cases

        with self.db.session() as s:
            return cases.create_case(s, self.cipher, actor or getpass.getuser(), victim_ref, contact)

    def case_contact(self, case_ref: str) -> str | None:
        """The victim's contact details, decrypted (for the caseworker who must reach her)."""
        from haechi.cases import service as cases

        with self.db.session() as s:
            token = cases._case(s, case_ref).contact_ciphertext
        return self.cipher.decrypt(token).decode() if token else None

    def list_cases(self) -> list[dict[str, Any]]:
        from haechi.cases import service as cases

        with self.db.session() as s:
            return cases.list_cases(s)

    def show_case(self, case_ref: str) -> dict[str, Any]:
        from haechi.cases import service as cases

        with self.db.session() as s:
            return cases.show_case(s, case_ref)

    def close_case(self, case_ref: str, actor: str | None = None) -> None:
        from haechi.cases import service as cases

        with self.db.session() as s:
            cases.close_case(s, case_ref, actor or getpass.getuser())

    def add_case_items(self, case_ref: str, targets: list[str], actor: str | None = None, capture: bool = True,
                       screenshot: bool = False, allow_private: bool = False) -> Iterator[dict[str, Any]]:
        """Add URLs (captured as evidence, media hashed and scanned) or local files to a case."""
        from haechi.cases import service as cases

        who = actor or getpass.getuser()
        with self.db.session() as s:
            if cases._case(s, case_ref).status != "open":
                raise InputError(case_ref, "case is closed: no new items")
        for target in targets:
            if target.startswith(("http://", "https://")):
                if capture:
                    (cap,) = list(self.capture([target], case_ref=case_ref, actor=who, screenshot=screenshot,
                                               allow_private=allow_private))
                    if cap["error"]:
                        yield {"url": target, "error": cap["error"]}
                        continue
                    media = [{k: m.get(k) for k in ("url", "sha256", "md5", "pdq", "matches")} for m in cap["media"]]
                else:
                    from haechi.sources.web import check_url

                    check_url(target, allow_private)
                    media = []
            elif "://" in target:
                yield {"url": target, "error": f"{target}: only http(s) URLs and local files can be items"}
                continue
            elif not Path(target).exists():
                yield {"url": target, "error": f"{target}: no such file or folder"}
                continue
            else:
                media = [{"url": r["path"], "sha256": r["sha256"], "md5": r["md5"], "pdq": r["pdq"],
                          "matches": r["matches"]} for r in self.scan([target])]
            synthetic = self._media_synthetic(case_ref, media)
            with self.db.session() as s:
                item, created = cases.add_item(s, case_ref, target, media, who, synthetic)
            yield dict(item, duplicate=not created, error=None)

    def _media_synthetic(self, case_ref: str, media: list[dict[str, Any]]) -> bool:
        """Whether any captured media of an item is assessed synthetic or likely synthetic."""
        from haechi.assess.run import AssessOptions, assess_ref
        from haechi.services.evidence import media_bytes

        opts = AssessOptions(self.settings.max_pixels, self.settings.max_file_bytes)
        for m in media:
            url = m.get("url") or ""
            data = media_bytes(self, case_ref, url) if url.startswith(("http://", "https://")) else None
            if data is None and url and Path(url).is_file():
                data = Path(url).read_bytes()
            if data and assess_ref(MediaRef(path=url, data=data), opts)["verdict"] in ("synthetic",
                                                                                       "likely_synthetic"):
                return True
        return False

    def draft_notice(self, item_ids: list[int], regime: str, lang: str, actor: str | None = None,
                     deadline_hours: int | None = None, recipient: str | None = None) -> dict[str, Any]:
        from haechi.cases import service as cases

        with self.db.session() as s:
            return cases.draft_notice(s, item_ids, regime, lang, self.sender(), actor or getpass.getuser(),
                                      deadline_hours, recipient)

    def approve_notice(self, notice_id: int, by: str) -> dict[str, Any]:
        from haechi.cases import service as cases

        if not by.strip():
            raise InputError("--by", "approval needs the approver's name")
        with self.db.session() as s:
            return cases.approve_notice(s, notice_id, by)

    def send_notice(self, notice_id: int, smtp_host: str | None = None, smtp_port: int = 25,
                    export_dir: str | os.PathLike[str] | None = None, actor: str | None = None) -> dict[str, Any]:
        """Send an approved notice by SMTP, or export it (.eml/.txt) for a web form. Idempotent:
        a sent notice is not sent again."""
        from haechi.cases import service as cases
        from haechi.store.models import Notice

        who = actor or getpass.getuser()
        with self.db.session() as s:
            n = s.get(Notice, notice_id)
            if n is None:
                raise NotFound("notice", str(notice_id))
            if n.status == "sent":
                return dict(cases.notice_public(n), already_sent=True)
            if n.status != "approved":
                raise InputError(str(notice_id), "notice is not approved: haechi notice approve ID --by NAME")
            msg = cases.to_eml(n, self.sender())
            recipient = n.recipient
        if export_dir is not None:
            out = Path(export_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"notice-{notice_id}.eml").write_bytes(bytes(msg))
            channel = f"export:{out / f'notice-{notice_id}.eml'}"
        else:
            if not recipient or "@" not in recipient:
                raise InputError(str(notice_id), f"no e-mail recipient ({recipient or 'unknown host'}): "
                                                 "use --export DIR and the platform's web form")
            if not smtp_host:
                raise InputError(str(notice_id), "give --smtp-host (or --export DIR)")
            try:
                cases.smtp_send(msg, smtp_host, smtp_port)
            except (OSError, Exception) as exc:  # noqa: BLE001 - smtplib raises many types; nothing is marked sent
                raise InputError(str(notice_id), f"sending failed, nothing marked sent: {exc}") from None
            channel = f"smtp:{smtp_host}:{smtp_port}"
        with self.db.session() as s:
            cases.mark_sent(s, notice_id, who, channel)
            return dict(cases.notice_public(s.get(Notice, notice_id)), already_sent=False)  # type: ignore[arg-type]

    def due(self, within_hours: float = 12.0) -> list[dict[str, Any]]:
        from haechi.cases import service as cases

        with self.db.session() as s:
            return cases.due(s, within_hours)

    def set_item_status(self, item_id: int, status: str, actor: str | None = None) -> None:
        from haechi.cases import service as cases

        with self.db.session() as s:
            cases.set_item_status(s, item_id, status, actor or getpass.getuser())

    def recheck_targets(self, case_ref: str | None = None, item_ids: list[int] | None = None
                        ) -> list[tuple[int, str, str, str]]:
        """(item id, url, case, media JSON) of notified or still-up web items to re-check."""
        from haechi.store.models import Case, CaseItem

        with self.db.session() as s:
            q = select(CaseItem.id, CaseItem.url, Case.case_ref, CaseItem.media).join(
                Case, Case.id == CaseItem.case_id).where(CaseItem.status.in_(["notified", "still_up"]))
            if case_ref:
                q = q.where(Case.case_ref == case_ref)
            if item_ids is not None:
                q = q.where(CaseItem.id.in_(item_ids))
            return [(i, u, c, m) for i, u, c, m in s.execute(q).all() if u.startswith(("http://", "https://"))]

    def recheck(self, case_ref: str | None = None, allow_private: bool = False,
                actor: str | None = None, item_ids: list[int] | None = None,
                on_record: Callable[[Any, dict[str, Any]], None] | None = None) -> Iterator[dict[str, Any]]:
        """Re-fetch every notified item: removed (404/410/gone), still_up (its media still
        matches the banks) or changed; a new capture is the proof. The capture and the item's new
        status are recorded in one transaction (with ``on_record``'s work, if given)."""
        from haechi.cases import service as cases

        who = actor or getpass.getuser()
        for item_id, url, cref, media in self.recheck_targets(case_ref, item_ids):
            before = {m.get("sha256") for m in json.loads(media)}
            result: dict[str, Any] = {}

            def record(s: Any, cap: dict[str, Any], item_id: int = item_id, url: str = url, cref: str = cref,
                       before: set[Any] = before, result: dict[str, Any] = result) -> None:
                if cap["error"] or (cap["status"] or 0) in (404, 410, 451):
                    status = "removed"
                elif any(m["matches"] for m in cap["media"]) or before & {m["sha256"] for m in cap["media"]}:
                    status = "still_up"
                else:
                    status = "removed"  # the page is there but the media is gone or different
                cases.set_item_status(s, item_id, status, who, {"recheck_capture": cap.get("capture_id"),
                                                                "http_status": cap["status"]})
                result.update(item=item_id, url=url, case=cref, status=status, http_status=cap["status"],
                              capture_id=cap.get("capture_id"))
                if on_record is not None:
                    on_record(s, result)

            list(self.capture([url], case_ref=cref, actor=who, screenshot=False, allow_private=allow_private,
                              on_record=record))
            yield result

    def stats(self, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
        from haechi.cases import service as cases

        with self.db.session() as s:
            return cases.stats(s, start, end)

    def exchange_export(self, fmt: str, bank: str | None = None, case_ref: str | None = None) -> str:
        """A bank's or a case's hashes in an exchange format (no media, no victim data)."""
        from haechi.cases.exchange import ExchangedSignal, exchange

        ex = exchange(fmt)
        signals: list[ExchangedSignal] = []
        if (bank is None) == (case_ref is None):
            raise InputError("export", "give exactly one of --bank or --case")
        if bank is not None:
            for line in self.export_bank(bank, "jsonl"):
                row = json.loads(line)
                signals.append(ExchangedSignal(row["signal_type"], row["signal"], None))
        else:
            for item in self.show_case(str(case_ref))["items"]:
                for m in item["media"]:
                    for t in ("pdq", "md5"):
                        if m.get(t):
                            signals.append(ExchangedSignal(t, m[t], case_ref))
        return ex.dump(signals)

    def exchange_import(self, fmt: str, bank: str, file: str | os.PathLike[str]) -> dict[str, Any]:
        from haechi.cases.exchange import exchange

        path = Path(file)
        try:
            text_in = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(str(path), f"cannot read: {exc}") from None
        signals, errors = exchange(fmt).load(text_in, str(path))
        ids = self.add_signals(bank, [(s.signal_type, s.signal) for s in signals]) if signals else []
        return {"imported": len(ids), "errors": errors}

    # -- distributed work -------------------------------------------------------------------
    def scan_distributed(self, paths: Iterable[str | os.PathLike[str]], banks: list[str] | None = None,
                         threshold: int | None = None, broker_url: str | None = None) -> str:
        """Enqueue one Celery task per file (``haechi worker`` runs them); returns the job id.

        Files must be on storage every worker sees (the same path). Archive members and
        unreadable paths are recorded as failed items at once."""
        import uuid

        from haechi.store.models import Job, JobItem
        from haechi.workers.tasks import make_app

        celery = make_app(broker_url or self.settings.broker_url)
        job_id = uuid.uuid4().hex
        items: list[tuple[str, str | None]] = []
        for ref in iter_media(paths, self._limits()):
            if ref.file is not None:
                items.append((str(Path(ref.file).resolve()), None))
            else:
                items.append((ref.path, ref.error or "archive members are scanned in-process only (not distributed)"))
        with self.db.session() as s:
            s.add(Job(id=job_id, kind="scan", params=json.dumps({"banks": banks, "threshold": threshold}),
                      total=len(items)))
            s.flush()
            for key, error in items:
                s.add(JobItem(job_id=job_id, key=key, status="failed" if error else "queued",
                              result=json.dumps({"path": key, "error": error, "matches": []}) if error else None))
        for key, error in items:
            if error is None:
                celery.send_task("haechi.run_item", args=[job_id, key])
        return job_id

    def enqueue(self, kind: str, keys: Iterable[str], params: dict[str, Any] | None = None,
                broker_url: str | None = None) -> str:
        """A job of ``kind`` (capture | recheck | crawl | watch) with one item per key, one task
        each (``haechi.run_item``); returns the job id. Items are keyed (URL, item id, watch
        id), so a redelivered task finds its item done and does nothing."""
        import uuid

        from haechi.store.models import Job, JobItem
        from haechi.workers.tasks import JOB_KINDS, make_app

        if kind not in JOB_KINDS:
            raise InputError(kind, f"job kind must be one of {', '.join(sorted(JOB_KINDS))}")
        celery = make_app(broker_url or self.settings.broker_url)
        job_id = uuid.uuid4().hex
        unique = list(dict.fromkeys(keys))
        with self.db.session() as s:
            s.add(Job(id=job_id, kind=kind, params=json.dumps(params or {}), total=len(unique)))
            s.flush()
            for key in unique:
                s.add(JobItem(job_id=job_id, key=key, status="queued"))
        for key in unique:
            celery.send_task("haechi.run_item", args=[job_id, key])
        return job_id

    def job_status(self, job_id: str) -> dict[str, Any]:
        from haechi.store.models import Job, JobItem

        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise NotFound("job", job_id)
            counts = dict(s.execute(select(JobItem.status, func.count()).where(JobItem.job_id == job_id)
                                    .group_by(JobItem.status)).all())
            return {"job": job.id, "kind": job.kind, "total": job.total, "created_at": job.created_at.isoformat(),
                    **{k: int(counts.get(k, 0)) for k in ("queued", "running", "done", "failed")},
                    "finished": int(counts.get("done", 0)) + int(counts.get("failed", 0)) >= job.total}

    def list_jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        from haechi.store.models import Job

        with self.db.session() as s:
            ids = list(s.scalars(select(Job.id).order_by(Job.created_at.desc()).limit(limit)))
        return [self.job_status(i) for i in ids]

    def job_results(self, job_id: str, timeout: float | None = None, poll: float = 0.3) -> Iterator[dict[str, Any]]:
        """Yield each item's scan row as it finishes (until all are done, or ``timeout``)."""
        import time as _time

        from haechi.store.models import JobItem

        seen: set[int] = set()
        deadline = None if timeout is None else _time.monotonic() + timeout
        while True:
            # status first, then rows: an item finishing between the two reads is still yielded
            status = self.job_status(job_id)
            with self.db.session() as s:
                rows = s.execute(select(JobItem.id, JobItem.result).where(
                    JobItem.job_id == job_id, JobItem.status.in_(["done", "failed"]))).all()
            for item_id, result in rows:
                if item_id not in seen:
                    seen.add(item_id)
                    yield json.loads(result) if result else {"error": "no result recorded"}
            if status["finished"]:
                return
            if deadline is not None and _time.monotonic() > deadline:
                raise InputError(job_id, f"job not finished after {timeout}s: {status}")
            _time.sleep(poll)

    # -- synthetic-media assessment ---------------------------------------------------------
    def assess(self, paths: Iterable[str | os.PathLike[str]], explain_dir: str | os.PathLike[str] | None = None
               ) -> Iterator[dict[str, Any]]:
        """Per file: verdict (synthetic | likely_synthetic | inconclusive | no_evidence_found),
        score, reasons and each detector's result. ``explain_dir`` receives heat maps."""
        from haechi.assess.run import AssessOptions, assess_ref

        opts = AssessOptions(self.settings.max_pixels, self.settings.max_file_bytes,
                             str(explain_dir) if explain_dir else None)
        return ordered_map(partial(assess_ref, opts=opts), iter_media(paths, self._limits()), self.settings.workers)

    # -- backups ----------------------------------------------------------------------------
    def backup(self, out: str | os.PathLike[str], include_key: bool = False) -> dict[str, Any]:
        from haechi.services import backup as backup_service

        return backup_service.backup(self, Path(out), include_key)

    def restore(self, archive: str | os.PathLike[str]) -> dict[str, Any]:
        from haechi.services import backup as backup_service

        result = backup_service.restore(self, Path(archive))
        self._pdq_index, self._cipher = None, None
        return result

    # -- keys -------------------------------------------------------------------------------
    def rotate_keys(self) -> dict[str, int]:
        """Re-encrypt every encrypted value with a new key (key file) or the first key of
        ``$HAECHI_SECRET_KEY``; one transaction, so a failure leaves everything readable."""
        env_key = os.environ.get("HAECHI_SECRET_KEY")
        key_file = self.settings.key_file
        old = load_or_create_key(key_file, env_key)
        if env_key:
            cipher = Cipher(old)
            if cipher.key_count < 2:
                raise ConfigError("to rotate, put the new key first in HAECHI_SECRET_KEY (new,old)")
            new_primary = None
        else:
            new_primary = Fernet.generate_key()
            cipher = Cipher(new_primary + b"," + old)
            write_key_file(key_file, new_primary + b"," + old)  # both readable until the commit
        from haechi.store.models import Case, Subject

        counts = {"local_features": 0, "face_embeddings": 0, "case_contacts": 0, "subject_names": 0}
        with self.db.session() as s:
            for feat in s.scalars(select(LocalFeatureSet)):
                feat.ciphertext = cipher.rotate(feat.ciphertext)
                counts["local_features"] += 1
            for emb in s.scalars(select(FaceEmbedding)):
                emb.ciphertext = cipher.rotate(emb.ciphertext)
                counts["face_embeddings"] += 1
            for case in s.scalars(select(Case).where(Case.contact_ciphertext.is_not(None))):
                case.contact_ciphertext = cipher.rotate(case.contact_ciphertext)  # type: ignore[arg-type]
                counts["case_contacts"] += 1
            for subj in s.scalars(select(Subject).where(Subject.name_ciphertext.is_not(None))):
                subj.name_ciphertext = cipher.rotate(subj.name_ciphertext)  # type: ignore[arg-type]
                counts["subject_names"] += 1
        if new_primary is not None:
            write_key_file(key_file, new_primary)
        self._cipher = None
        return counts

    # -- evidence ---------------------------------------------------------------------------
    @property
    def evidence_dir(self) -> Path:
        """Where captures are written: the evidence store itself by default, a staging area
        when artefacts go to object storage (:attr:`blobs`)."""
        return self.settings.home / "evidence"

    @property
    def blobs(self) -> BlobStore:
        """The evidence store (``storage_url``: local directory by default, or S3)."""
        if self._blobs is None:
            from haechi.store.blobs import open_store

            self._blobs = open_store(self.settings.storage_url, self.evidence_dir, self.settings.s3_endpoint_url)
        return self._blobs

    def _has_subjects(self) -> bool:
        from haechi.store.models import Subject

        with self.db.session() as s:
            return s.scalar(select(Subject.id).where(Subject.withdrawn_at.is_(None)).limit(1)) is not None

    def capture(self, urls: Iterable[str], case_ref: str | None = None, actor: str | None = None,
                screenshot: bool = True, allow_private: bool = False,
                on_record: Callable[[Any, dict[str, Any]], None] | None = None) -> Iterator[dict[str, Any]]:
        """Capture each URL as evidence (WARC, screenshot, media hashed and scanned, custody entry).
        ``on_record(session, row)`` runs inside the transaction that records each capture."""
        from haechi.services import evidence as evidence_service

        yield from evidence_service.capture_urls(self, urls, case_ref, actor or getpass.getuser(), screenshot,
                                                 allow_private, on_record)

    def crawl(self, root: str, depth: int = 1, same_site: bool = True, max_pages: int = 50, rate: float = 1.0,
              case_ref: str | None = None, actor: str | None = None, screenshot: bool = True,
              allow_private: bool = False, resume: str | None = None, crawl_id: str | None = None
              ) -> Iterator[dict[str, Any]]:
        """Polite, bounded, resumable crawl from ``root``; every page goes through :meth:`capture`."""
        from haechi.services import evidence as evidence_service

        if depth < 0 or max_pages < 1 or rate < 0:
            raise InputError(f"depth={depth} max_pages={max_pages} rate={rate}",
                             "depth >= 0, max-pages >= 1, rate >= 0")
        yield from evidence_service.crawl(self, root, depth, same_site, max_pages, rate, case_ref,
                                          actor or getpass.getuser(), screenshot, allow_private, resume, crawl_id)

    def ingest(self, kind: str, source: str | os.PathLike[str], case_ref: str | None = None,
               actor: str | None = None) -> Iterator[dict[str, Any]]:
        """Hash and scan every media item of a Telegram export (``kind="telegram"``) or a WARC/WACZ
        file (``kind="warc"``). Yields ``{"kind": "item", ...context, hashes, matches}`` per item,
        then ``{"kind": "link", "url"}`` per link found (capture candidates); logs custody."""
        from haechi.evidence import custody
        from haechi.sources import exports

        path = Path(source)
        if kind == "telegram":
            found = exports.telegram(path, self.settings.max_file_bytes)
        elif kind == "warc":
            found = exports.warc(path, self.settings.max_file_bytes)
        else:
            raise InputError(kind, "ingest source must be telegram or warc")
        faces = self._has_subjects()
        matched = 0
        rows = self.scan_refs((item.ref for item in found.items), faces=faces)
        for item, row in zip(found.items, rows, strict=True):
            matched += bool(row["matches"])
            yield {"kind": "item", **item.context, **row}
        for url in found.links:
            yield {"kind": "link", "url": url}
        for error in found.errors:
            yield {"kind": "error", "error": error}
        with self.db.session() as s:
            custody.append(s, f"ingest_{kind}", actor or getpass.getuser(), case_ref=case_ref,
                           details={"source": str(path), "items": len(found.items), "matched": matched,
                                    "links": len(found.links)})

    def verify_custody(self, case_ref: str | None = None) -> dict[str, Any]:
        from haechi.evidence import custody

        with self.db.session() as s:
            result = custody.verify(s, case_ref).public()
        from haechi.services.evidence import verify_artefacts

        problems = verify_artefacts(self, case_ref)
        result["problems"] += problems
        result["ok"] = result["ok"] and not problems
        return result

    def export_evidence(self, case_ref: str, out: str | os.PathLike[str], actor: str | None = None) -> dict[str, Any]:
        from haechi.services import evidence as evidence_service

        return evidence_service.export_case(self, case_ref, Path(out), actor or getpass.getuser())

    def evidence_package(self, case_ref: str, actor: str | None = None) -> bytes:
        """The case's evidence package as bytes (for a download); the export is logged as usual."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "package.zip"
            self.export_evidence(case_ref, out, actor)
            return out.read_bytes()

    # -- faces ------------------------------------------------------------------------------
    def faces(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[dict[str, Any]]:
        """Detected faces per media file (boxes; video: on sampled frames, with ``t_s``)."""
        from haechi.signals.faces import engine

        engine()
        opts = self._opts(faces=True, face_embed=False)
        for record in self._analyse(iter_media(paths, self._limits()), opts):
            yield {"path": record.path, "media_type": record.media_type, "error": record.error,
                   "faces": [dict({"box": b.box(), "kind": b.kind}, **({"t_s": t} if t is not None else {}))
                             for b, _, t in record.face_data or []]}

    def enroll_subject(self, subject: str, photos: Iterable[str | os.PathLike[str]], consent_ref: str | None = None,
                       enrolled_by: str | None = None, name: str | None = None) -> dict[str, Any]:
        """Enrol a consenting person's face from photos of her: embeddings only, encrypted.

        All photos are checked first (exactly one face each); if any fails, nothing is stored.
        """
        from haechi.signals.faces import engine

        eng = engine()
        files = [Path(p) for p in photos]
        vecs = [face_service.embed_enrolment_photo(eng, f, self.settings.max_pixels, self.settings.max_file_bytes)
                for f in files]
        by = enrolled_by or getpass.getuser()
        with self.db.session() as s:
            return face_service.enroll(s, self.cipher, subject, vecs, consent_ref, by, name)

    def list_subjects(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return face_service.list_subjects(s, self.cipher)

    def withdraw_subject(self, subject: str) -> int:
        """Delete every embedding of ``subject``; returns how many were deleted."""
        with self.db.session() as s:
            return face_service.withdraw(s, subject)

    # -- scanning ---------------------------------------------------------------------------
    def pdq_index(self) -> HammingIndex:
        if self._pdq_index is None:
            with self.db.session() as s:
                self._index_last_id = int(s.scalar(select(func.max(BankEntry.id))) or 0)
                self._index_last_removal = latest_removal(s)
                self._pdq_index = load_pdq_index(s, self.settings.index_dir, self.settings.quality_floor,
                                                 self.settings.video_max_frames)
        return self._pdq_index

    def refresh_index(self) -> HammingIndex:
        """Fold in entries other processes added, and drop entries any process deleted, since
        this instance loaded its index (a long-running server or worker calls this before each
        lookup or scan: one indexed query when nothing changed)."""
        index = self.pdq_index()
        with self.db.session() as s:
            newest, removal = s.execute(select(select(func.max(BankEntry.id)).scalar_subquery(),
                                               select(func.max(IndexRemoval.id)).scalar_subquery())).one()
            newest, removal = int(newest or 0), int(removal or 0)
            if newest > self._index_last_id:
                codes, labels, _ = fetch_codes(s, self.settings.quality_floor, after_id=self._index_last_id)
                index.add(codes, labels)
                self._index_last_id = newest
            if removal > self._index_last_removal:
                gone, self._index_last_removal = removed_labels(s, self._index_last_removal,
                                                                self.settings.video_max_frames)
                index.remove(gone)
        return index

    def _local_index(self, s: Session, bank_ids: list[int]) -> LocalIndex | None:
        """The built local-feature index of ``bank_ids`` (None when they hold no features), kept
        between scans while its features are unchanged: decrypting and indexing them is most of
        a small scan's set-up, and a worker runs one scan per task. Changes show in the features'
        count or highest entry id (ids only grow), checked with one indexed query per scan."""
        count, newest = s.execute(select(func.count(), func.max(LocalFeatureSet.entry_id))
                                  .where(LocalFeatureSet.bank_id.in_(bank_ids))).one()
        if not count:
            return None
        key = (tuple(sorted(bank_ids)), int(count), int(newest))
        if self._local_cache is None or self._local_cache[0] != key:
            index = load_local_index(s, bank_ids, self.cipher)
            index.build()
            self._local_cache = (key, index)
        return self._local_cache[1]

    def lookup(self, signal_type: str, signal: str, banks: list[str] | None = None) -> list[dict[str, Any]]:
        """Bank entries matching one hash: exact for md5/sha256, within the threshold for PDQ
        (including frames of banked videos). Each: bank, entry_id, label, signal_type, distance."""
        from haechi.signals import SIGNAL_TYPES

        if signal_type not in ("pdq", "md5", "sha256"):
            raise InputError(signal_type, "lookup signal_type must be pdq, md5 or sha256")
        value = SIGNAL_TYPES[signal_type].normalize(signal)
        found: list[tuple[int, int]] = []  # entry id, distance
        hits = self.refresh_index().search(as_codes([value]), self.settings.pdq_threshold) \
            if signal_type == "pdq" else None
        with self.db.session() as s:
            if hits is not None:
                verifier = HitVerifier(s)
                verifier.prefetch(hits.label.tolist())
                for i, (label, dist) in enumerate(zip(hits.label.tolist(), hits.distance.tolist(), strict=True)):
                    if verifier.ok(label, hits.code_hex(i)):  # the entry holds this hash now
                        found.append((label if label >= 0 else vpdq_signal.split_label(label)[0], dist))
            else:
                found = [(i, 0) for i in s.scalars(select(BankEntry.id).where(
                    BankEntry.signal_type == signal_type, BankEntry.signal == value))]
            best: dict[int, int] = {}
            for entry_id, dist in found:
                best[entry_id] = min(dist, best.get(entry_id, 999))
            rows = s.execute(select(BankEntry.id, Bank.name, BankEntry.label, BankEntry.signal_type,
                                    BankEntry.content_ref, BankEntry.bank_id)
                             .join(Bank, Bank.id == BankEntry.bank_id)
                             .where(BankEntry.id.in_(list(best)))).all() if best else []
            # content id (HMA): one id per media file = its first entry (the sha256 entry)
            content: dict[int, int] = {}
            for r in rows:
                content[r[0]] = r[0] if r[4] is None else int(s.scalar(select(func.min(BankEntry.id)).where(
                    BankEntry.bank_id == r[5], BankEntry.content_ref == r[4])) or r[0])
        out = [{"bank": r[1], "entry_id": r[0], "content_id": content[r[0]], "label": r[2], "signal_type": r[3],
                "distance": best[r[0]]} for r in rows if not banks or r[1] in banks]
        return sorted(out, key=lambda m: (m["distance"], m["entry_id"]))

    def scan(self, paths: Iterable[str | os.PathLike[str]], banks: list[str] | None = None,
             threshold: int | None = None, faces: bool = False, assess: bool = False) -> Iterator[dict[str, Any]]:
        """Scan media under ``paths`` against ``banks`` (all banks when None).

        Yields, per media file, the ``hash`` fields plus ``matches`` (best first); with
        ``faces``, also ``faces``: every detected face and the enrolled subject it resembles.
        """
        return self.scan_refs(iter_media(paths, self._limits()), banks, threshold, faces, assess)

    def scan_refs(self, refs: Iterable[MediaRef], banks: list[str] | None = None, threshold: int | None = None,
                  faces: bool = False, assess: bool = False) -> Iterator[dict[str, Any]]:
        """:meth:`scan` over media references from any source (files, web captures, exports)."""
        threshold = self.settings.pdq_threshold if threshold is None else threshold
        if not 0 <= threshold <= 128:
            raise InputError(str(threshold), "threshold must be between 0 and 128")
        with self.db.session() as s:
            query = select(Bank.id, Bank.name)
            if banks:
                query = query.where(Bank.name.in_(banks))
            bank_names = {int(r[0]): r[1] for r in s.execute(query)}
            for wanted in banks or []:
                if wanted not in bank_names.values():
                    raise NotFound("bank", wanted)
            local_index = self._local_index(s, list(bank_names)) if self.settings.local_features else None
        pdq_index = self.refresh_index()
        gallery = None
        if faces:
            from haechi.signals.faces import engine

            engine()  # load the models once, before the workers fork, so they share them
            with self.db.session() as s:
                gallery = face_service.load_gallery(s, self.cipher)
        opts = self._opts(dihedral=True, trim=True, faces=faces,
                          local_features=QUERY_FEATURES if local_index is not None else 0)
        set_search_context(SearchContext(opts, pdq_index, local_index, threshold, self.settings.quality_floor,
                                         gallery, self.settings.face_threshold, assess))
        try:
            with self.db.session() as s:
                scanner = Scanner(s, bank_names, self.settings.quality_floor,
                                  self.settings.vpdq_query_match_percent,
                                  self.settings.vpdq_compared_match_percent,
                                  self.settings.video_seconds_per_hash)
                for record, raw in ordered_map(analyse_and_search, refs, self.settings.workers):
                    out = record.public()
                    out["matches"] = scanner.match(record, raw)
                    if faces:
                        out["faces"] = raw.faces or []
                        if any(f["match"] for f in out["faces"]):
                            out["faces_note"] = FACE_NOTE
                    if assess:
                        out["assessment"] = raw.assessment
                    yield out
        finally:
            set_search_context(None)
