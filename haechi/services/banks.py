"""Banks: named sets of signals (known material, victim-submitted hashes).

Banks hold hashes and metadata only, never media. Every write is one transaction: a failure
half-way leaves what was stored before untouched.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from haechi.errors import AlreadyExists, BadSignal, InputError, NotFound
from haechi.services.analyse import AnalyseOptions, MediaRecord
from haechi.signals import SIGNAL_TYPES, template
from haechi.signals import vpdq as vpdq_signal
from haechi.store.crypto import Cipher
from haechi.store.encrypted import blind_index, cipher_of
from haechi.store.models import Bank, BankEntry, BankRemoval, BankSubscription, LocalFeatureSet, VideoHash

if TYPE_CHECKING:
    from haechi.runtime import Runtime

EXCHANGE_COLUMNS = ("signal_type", "signal", "label")


@dataclass
class AddResult:
    path: str
    entry_ids: list[int] = field(default_factory=list)
    duplicate: bool = False
    error: str | None = None

    def public(self) -> dict[str, Any]:
        return {"path": self.path, "entry_ids": self.entry_ids, "duplicate": self.duplicate,
                "error": self.error}


@dataclass
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    entry_ids: list[int] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {"imported": self.imported, "duplicates": self.duplicates, "errors": self.errors}


def get_bank(session: Session, name: str) -> Bank:
    bank = session.scalar(select(Bank).where(Bank.name == name))
    if bank is None:
        raise NotFound("bank", name)
    return bank


def lock_for_writes(session: Session, bank: Bank) -> None:
    """Serialise writers of one bank until this transaction ends (PostgreSQL: the bank's row is
    locked; SQLite has one writer anyway). Why: entry and removal ids come from sequences at
    insert time, so two concurrent writers could commit ids out of order — and a platform whose
    sync cursor had passed the later id would never receive the earlier entry. With writers of a
    bank in line, each commit only adds ids above every id already visible in that bank."""
    session.execute(select(Bank.id).where(Bank.id == bank.id).with_for_update())


def create_bank(session: Session, name: str, description: str = "") -> Bank:
    name = name.strip()
    if not name or len(name) > 200:
        raise InputError(name or "''", "bank name must be 1-200 characters")
    if session.scalar(select(Bank.id).where(Bank.name == name)) is not None:
        raise AlreadyExists("bank", name)
    bank = Bank(name=name, description=description)
    session.add(bank)
    session.flush()
    return bank


def update_bank(session: Session, name: str, description: str) -> None:
    get_bank(session, name).description = description


def bank_item(session: Session, bank: str, content_id: int) -> list[dict[str, Any]]:
    """The entries of bank item ``content_id`` (HMA's content): the entry and, when it came from a
    media file, the file's other entries (same ``content_ref``). Empty when ``content_id`` is not
    an item of ``bank`` (an item's id is its first entry's)."""
    cols = (BankEntry.id, BankEntry.signal_type, BankEntry.signal, BankEntry.label, BankEntry.content_ref)
    row = session.execute(select(*cols, BankEntry.bank_id).join(Bank, Bank.id == BankEntry.bank_id)
                          .where(BankEntry.id == content_id, Bank.name == bank)).first()
    if row is None:
        return []
    rows = [tuple(row[:5])] if row[4] is None else [tuple(r) for r in session.execute(select(*cols).where(
        BankEntry.bank_id == row[5], BankEntry.content_ref == row[4]).order_by(BankEntry.id))]
    if rows[0][0] != content_id:
        return []
    return [{"id": r[0], "signal_type": r[1], "signal": r[2], "label": r[3]} for r in rows]


def content_id_of(session: Session, bank: str, sha256: str) -> int | None:
    """The id of the item in ``bank`` made from the media file with this SHA-256."""
    found = session.scalar(select(func.min(BankEntry.id)).join(Bank, Bank.id == BankEntry.bank_id)
                           .where(Bank.name == bank, BankEntry.content_ref == sha256))
    return int(found) if found is not None else None


def set_item_note(session: Session, bank: str, content_id: int, note: str | None) -> None:
    """Store ``note`` as the label of every entry of the item (None clears it)."""
    ids = [e["id"] for e in bank_item(session, bank, content_id)]
    index = blind_index(cipher_of(session.get_bind().dialect), note)
    session.execute(sql_update(BankEntry).where(BankEntry.id.in_(ids)).values(label=note, label_index=index))


#: HMA's ``disable_until_ts`` magic values (threatexchange ``BankContentConfig``)
ITEM_ENABLED, ITEM_DISABLED = 1, 0


def item_enabled(disable_until_ts: int, now: float) -> bool:
    """HMA's rule: 1 = on, 0 = off, any other value = off until that Unix time (seconds)."""
    return disable_until_ts == ITEM_ENABLED or (disable_until_ts != ITEM_DISABLED and disable_until_ts <= now)


def set_matching_ratio(session: Session, name: str, ratio: float) -> None:
    """Set a bank's ``matching_enabled_ratio`` (0..1). Raises NotFound, InputError."""
    if not 0.0 <= ratio <= 1.0:
        raise InputError(str(ratio), "a matching ratio is between 0 and 1")
    get_bank(session, name).matching_enabled_ratio = ratio


def set_item_state(session: Session, bank: str, content_id: int, disable_until_ts: int) -> None:
    """Enable (1), disable (0) or disable until a Unix time every entry of one item; the matchers
    skip a disabled entry at once, in every process (they read the entry with each hit)."""
    ids = [e["id"] for e in bank_item(session, bank, content_id)]
    session.execute(sql_update(BankEntry).where(BankEntry.id.in_(ids)).values(disable_until_ts=disable_until_ts))


def set_item_metadata(session: Session, cipher: Cipher, bank: str, content_id: int,
                      metadata: dict[str, Any] | None) -> None:
    """Keep HMA item ``metadata`` (a JSON object) encrypted on the item's first entry; None clears."""
    if not bank_item(session, bank, content_id):
        raise NotFound("content", f"{content_id} in bank {bank}")
    blob = None if metadata is None else cipher.encrypt(json.dumps(metadata, sort_keys=True).encode())
    session.execute(sql_update(BankEntry).where(BankEntry.id == content_id).values(metadata_ciphertext=blob))


def item_state(session: Session, cipher: Cipher, bank: str, content_id: int) -> dict[str, Any]:
    """``{disable_until_ts, metadata, matching_enabled_ratio}`` of one item (metadata None when
    there is none). Raises NotFound; ConfigError when the metadata cannot be decrypted."""
    row = session.execute(select(BankEntry.disable_until_ts, BankEntry.metadata_ciphertext,
                                 Bank.matching_enabled_ratio).join(Bank, Bank.id == BankEntry.bank_id)
                          .where(BankEntry.id == content_id, Bank.name == bank)).first()
    if row is None:
        raise NotFound("content", f"{content_id} in bank {bank}")
    metadata = None if row[1] is None else json.loads(cipher.decrypt(row[1]))
    return {"disable_until_ts": int(row[0]), "metadata": metadata, "matching_enabled_ratio": float(row[2])}


def rename_bank(session: Session, old: str, new: str) -> None:
    """Rename a bank (its entries, index slots and subscriptions keep its id; lookups report names
    from the database, so the new name shows at once). Raises NotFound, AlreadyExists, InputError."""
    new = new.strip()
    if not new or len(new) > 200:
        raise InputError(new or "''", "bank name must be 1-200 characters")
    bank = get_bank(session, old)
    if session.scalar(select(Bank.id).where(Bank.name == new)) is not None:
        raise AlreadyExists("bank", new)
    bank.name = new


def subscription_names(session: Session) -> list[str]:
    """Names of the banks pulled from another Haechi (``bank_subscriptions``)."""
    return sorted(session.scalars(select(Bank.name).join(BankSubscription, BankSubscription.bank_id == Bank.id)))


def list_banks(session: Session) -> list[dict[str, Any]]:
    counts = dict(
        session.execute(select(BankEntry.bank_id, func.count()).group_by(BankEntry.bank_id)).all()
    )
    rows = []
    for bank in session.scalars(select(Bank).order_by(Bank.name)):
        rows.append({"name": bank.name, "description": bank.description,
                     "entries": int(counts.get(bank.id, 0)), "created_at": bank.created_at.isoformat(),
                     "matching_enabled_ratio": float(bank.matching_enabled_ratio)})
    return rows


def bank_summary(session: Session, name: str, recent: int = 50) -> dict[str, Any]:
    """One bank for a person: ``{name, description, created_at, entries, media (files added
    whole, counted by their SHA-256), by_type {signal_type: n}, by_source {source: n}, recent
    [{id, signal_type, label, source, added_at}]}`` (the newest ``recent`` entries, no hash
    values). Raises NotFound."""
    bank = get_bank(session, name)
    by_type = dict(session.execute(select(BankEntry.signal_type, func.count()).where(BankEntry.bank_id == bank.id)
                                   .group_by(BankEntry.signal_type)).all())
    by_source = dict(session.execute(select(BankEntry.source, func.count()).where(BankEntry.bank_id == bank.id)
                                     .group_by(BankEntry.source)).all())
    media = session.scalar(select(func.count(func.distinct(BankEntry.content_ref)))
                           .where(BankEntry.bank_id == bank.id, BankEntry.content_ref.is_not(None)))
    rows = session.execute(select(BankEntry.id, BankEntry.signal_type, BankEntry.label, BankEntry.source,
                                  BankEntry.added_at).where(BankEntry.bank_id == bank.id)
                           .order_by(BankEntry.id.desc()).limit(recent)).all()
    return {"name": bank.name, "description": bank.description, "created_at": bank.created_at.isoformat(),
            "entries": sum(int(v) for v in by_type.values()), "media": int(media or 0),
            "by_type": {str(k): int(v) for k, v in sorted(by_type.items())},
            "by_source": {str(k or "media"): int(v) for k, v in sorted(by_source.items(), key=lambda kv: str(kv[0]))},
            "recent": [{"id": i, "signal_type": t, "label": lab, "source": src, "added_at": at.isoformat()}
                       for i, t, lab, src, at in rows]}


def add_browser_files(rt: Runtime, name: str, files: Any, label: str | None = None) -> dict[str, Any]:
    """Add media hashed in a person's browser (``static/hasher.js``; the bytes never reach the
    server) to bank ``name``: ``{files, hashes, entries}``. Raises NotFound (bank), InputError
    (a malformed hash: nothing is added)."""
    from haechi.services.victims import browser_signals

    signals = browser_signals(files)
    ids = add_signals(rt, name, signals, label)
    return {"files": len(files), "hashes": len(signals), "entries": len(ids)}


def _existing(session: Session, bank_id: int, signal_type: str, signals: Iterable[str]) -> dict[str, int]:
    values = list(set(signals))
    found: dict[str, int] = {}
    for i in range(0, len(values), 500):
        rows = session.execute(
            select(BankEntry.signal, BankEntry.id).where(
                BankEntry.bank_id == bank_id, BankEntry.signal_type == signal_type,
                BankEntry.signal.in_(values[i : i + 500]))
        ).all()
        found.update({r[0]: r[1] for r in rows})
    return found


def add_records(
    session: Session, bank: Bank, records: Iterable[MediaRecord], label: str | None, cipher: Cipher | None
) -> Iterator[tuple[AddResult, list[BankEntry]]]:
    """Store the signals of analysed media in ``bank``; yields one result per record."""
    lock_for_writes(session, bank)
    for record in records:
        result = AddResult(path=record.path)
        if record.error is not None or record.sha256 is None:
            result.error = record.error or f"{record.path}: could not be read"
            yield result, []
            continue
        if _existing(session, bank.id, "sha256", [record.sha256]):
            result.duplicate = True
            yield result, []
            continue
        new: list[BankEntry] = []
        signals: list[tuple[str, str | None, int | None]] = [
            ("sha256", record.sha256, None), ("md5", record.md5, None)]
        if record.pdq is not None:
            signals.append(("pdq", record.pdq, record.pdq_quality))
        frames = record.vpdq()
        if frames:
            signals.append(("vpdq", vpdq_signal.fingerprint(frames), None))
        for signal_type, signal, quality in signals:
            if signal is None or _existing(session, bank.id, signal_type, [signal]):
                continue
            entry = BankEntry(bank_id=bank.id, signal_type=signal_type, signal=signal, label=label,
                              quality=quality, content_ref=record.sha256, source="media")
            session.add(entry)
            new.append(entry)
        session.flush()
        for e in new:
            if e.signal_type == "vpdq":
                session.add(VideoHash(entry_id=e.id, bank_id=bank.id, duration_s=record.duration_s,
                                      frames=len(frames), data=vpdq_signal.pack(frames),
                                      bands=vpdq_signal.pack_bands(record.bands())))
        pdq_entry = next((e for e in new if e.signal_type == "pdq"), None)
        if pdq_entry is not None and record.local is not None and len(record.local) and cipher:
            blob = record.local.to_bytes()
            if record.rgb is not None:  # for dense verification of local matches (signals.template)
                blob += template.pack(template.make_template(record.rgb, template.FINE_FACTOR), fine=True)
            session.add(LocalFeatureSet(entry_id=pdq_entry.id, bank_id=bank.id, ciphertext=cipher.encrypt(blob)))
        result.entry_ids = [e.id for e in new]
        yield result, new


def parse_exchange(text: str, source: str) -> Iterator[tuple[int, dict[str, str] | InputError]]:
    """Parse JSONL or CSV exchange lines; yields (line number, row or the error for that line)."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
                yield number, {k: str(v) if v is not None else "" for k, v in obj.items()}
            except (ValueError, TypeError) as exc:
                yield number, InputError(f"{source}:{number}", f"malformed JSON line: {exc}")
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a bare carriage return inside a field (found by fuzz_exchange)
            yield reader.line_num, InputError(f"{source}:{reader.line_num}", f"malformed CSV line: {exc}")
            continue
        number = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        if header is None and row[0].strip().lower() == "signal_type":
            header = [c.strip().lower() for c in row]
            continue
        cols = header or list(EXCHANGE_COLUMNS)
        if len(row) < 2 or len(row) > len(cols):
            yield number, InputError(f"{source}:{number}", f"expected columns {','.join(cols)}, got {len(row)}")
            continue
        yield number, {cols[i]: row[i] for i in range(len(row))}


def import_signals(session: Session, bank: Bank, path: Path) -> ImportResult:
    """Import an exchange file into ``bank``. Bad lines are reported; good lines are stored."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), exc.strerror or str(exc)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(str(path), "not UTF-8 text") from None
    return import_text(session, bank, text, path)


def import_text(session: Session, bank: Bank, text: str, path: Path | str) -> ImportResult:
    """Import exchange lines (JSONL or CSV) named ``path`` in errors."""
    result = ImportResult()
    parsed: list[tuple[str, str, str | None, int | None]] = []
    videos: dict[str, list[vpdq_signal.VpdqFrame]] = {}
    for number, row in parse_exchange(text, str(path)):
        if isinstance(row, InputError):
            result.errors.append(str(row))
            continue
        signal_type = row.get("signal_type", "").strip().lower()
        if signal_type not in SIGNAL_TYPES:
            result.errors.append(f"{path}:{number}: unknown signal_type {signal_type!r} "
                                 f"(expected one of {'|'.join(sorted(SIGNAL_TYPES))})")
            continue
        try:
            signal = SIGNAL_TYPES[signal_type].normalize(row.get("signal", ""))
        except BadSignal as exc:
            result.errors.append(f"{path}:{number}: {exc.reason}: {exc.source!r}")
            continue
        if signal_type == "vpdq":
            frames = vpdq_signal.from_exchange(signal)
            signal = vpdq_signal.fingerprint(frames)
            videos[signal] = frames
        label = (row.get("label") or "").strip() or None
        quality = None
        if row.get("quality"):
            try:
                quality = max(0, min(100, int(row["quality"])))
            except ValueError:
                result.errors.append(f"{path}:{number}: quality is not an integer")
                continue
        parsed.append((signal_type, signal, label, quality))
    lock_for_writes(session, bank)
    by_type: dict[str, set[str]] = {}
    for signal_type, signal, _, _ in parsed:
        by_type.setdefault(signal_type, set()).add(signal)
    existing = {(t, s) for t, values in by_type.items() for s in _existing(session, bank.id, t, values)}
    new: list[BankEntry] = []
    for signal_type, signal, label, quality in parsed:
        if (signal_type, signal) in existing:
            result.duplicates += 1
            continue
        existing.add((signal_type, signal))
        entry = BankEntry(bank_id=bank.id, signal_type=signal_type, signal=signal, label=label,
                          quality=quality, source="import")
        session.add(entry)
        new.append(entry)
    session.flush()
    for entry in new:
        if entry.signal_type == "vpdq":
            frames = videos[entry.signal]
            session.add(VideoHash(entry_id=entry.id, bank_id=bank.id, duration_s=frames[-1].t_s,
                                  frames=len(frames), data=vpdq_signal.pack(frames)))
    result.imported = len(new)
    result.entry_ids = [e.id for e in new]
    return result


def _exchanged(signal: str, video_blob: bytes | None) -> str:
    """An entry's signal as exchanged: a video's frames in the vPDQ exchange form (its stored
    ``signal`` is only their fingerprint), any other signal as stored."""
    return vpdq_signal.to_exchange(vpdq_signal.unpack(video_blob)) if video_blob is not None else signal


def content_types(session: Session, bank: Bank) -> dict[int, str | None]:
    """Entry id → ``"video"`` or ``"photo"`` (threatexchange's content types) for entries that
    came from one media file (their ``content_ref`` group holds a vPDQ or a PDQ), else None."""
    groups: dict[str, set[str]] = {}
    rows = session.execute(select(BankEntry.id, BankEntry.content_ref, BankEntry.signal_type)
                           .where(BankEntry.bank_id == bank.id)).all()
    for _, ref, signal_type in rows:
        if ref is not None:
            groups.setdefault(ref, set()).add(signal_type)
    out: dict[int, str | None] = {}
    for entry_id, ref, signal_type in rows:
        kinds = groups.get(ref, set()) if ref is not None else {signal_type}
        out[entry_id] = "video" if "vpdq" in kinds else "photo" if "pdq" in kinds else None
    return out


def export_signals(session: Session, bank: Bank, fmt: str = "jsonl") -> Iterator[str]:
    """Exchange lines (JSONL or CSV with a header) that :func:`import_signals` reads back."""
    if fmt not in ("jsonl", "csv"):
        raise InputError(fmt, "format must be jsonl or csv")
    rows = (
        (entry_id, signal_type, _exchanged(signal, blob), label, quality)
        for entry_id, signal_type, signal, label, quality, blob in session.execute(
            select(BankEntry.id, BankEntry.signal_type, BankEntry.signal, BankEntry.label, BankEntry.quality,
                   VideoHash.data)
            .outerjoin(VideoHash, VideoHash.entry_id == BankEntry.id)
            .where(BankEntry.bank_id == bank.id).order_by(BankEntry.id))
    )
    if fmt == "csv":
        yield ",".join(EXCHANGE_COLUMNS)
        for _, signal_type, signal, label, _ in rows:
            buf = io.StringIO()
            csv.writer(buf, lineterminator="").writerow([signal_type, signal, label or ""])
            yield buf.getvalue()
        return
    for entry_id, signal_type, signal, label, quality in rows:
        obj: dict[str, Any] = {"signal_type": signal_type, "signal": signal, "label": label}
        if quality is not None:
            obj["quality"] = quality
        obj["entry_id"] = entry_id
        yield json.dumps(obj, ensure_ascii=False)


def remove_entry(session: Session, bank: Bank, entry_id: int) -> None:
    lock_for_writes(session, bank)
    entry = session.get(BankEntry, entry_id)
    if entry is None or entry.bank_id != bank.id:
        raise NotFound("entry", f"{entry_id} in bank {bank.name}")
    session.execute(sql_delete(LocalFeatureSet).where(LocalFeatureSet.entry_id == entry_id))
    session.execute(sql_delete(VideoHash).where(VideoHash.entry_id == entry_id))
    session.delete(entry)
    session.add(BankRemoval(bank_id=bank.id, entry_id=entry_id))


def changes(session: Session, bank: Bank, cursor: str | None, limit: int) -> dict[str, Any]:
    """What a platform keeping a copy of ``bank`` must apply since ``cursor``: entries added
    (id, signal type, signal, PDQ quality — never labels, which may say whose they are) and entry ids
    removed. At most ``limit`` of each; ``next_cursor`` continues, ``more`` says whether to.
    Apply the adds, then the removals: an entry added and removed since the cursor shows only
    as removed (its hash is gone from the bank)."""
    after_add, after_removal = 0, 0
    if cursor:
        try:
            a, r = cursor.split(".", 1)
            after_add, after_removal = int(a), int(r)
        except ValueError:
            raise InputError(cursor, "a cursor is the next_cursor of an earlier answer") from None
        if not (0 <= after_add < 2**62 and 0 <= after_removal < 2**62):
            raise InputError(cursor, "a cursor is the next_cursor of an earlier answer")
    adds = session.execute(
        select(BankEntry.id, BankEntry.signal_type, BankEntry.signal, BankEntry.quality, VideoHash.data)
        .outerjoin(VideoHash, VideoHash.entry_id == BankEntry.id)
        .where(BankEntry.bank_id == bank.id, BankEntry.id > after_add).order_by(BankEntry.id).limit(limit)).all()
    removed = session.execute(
        select(BankRemoval.id, BankRemoval.entry_id)
        .where(BankRemoval.bank_id == bank.id, BankRemoval.id > after_removal)
        .order_by(BankRemoval.id).limit(limit)).all()
    signals = [{"entry_id": entry_id, "signal_type": signal_type,
                "signal": _exchanged(signal, blob),
                **({"quality": quality} if quality is not None else {})}
               for entry_id, signal_type, signal, quality, blob in adds]
    next_add = adds[-1][0] if adds else after_add
    next_removal = removed[-1][0] if removed else after_removal
    return {"bank": bank.name, "signals": signals, "removed": [entry_id for _, entry_id in removed],
            "next_cursor": f"{next_add}.{next_removal}", "more": len(adds) == limit or len(removed) == limit}


def delete_bank(session: Session, bank: Bank) -> None:
    session.execute(sql_delete(LocalFeatureSet).where(LocalFeatureSet.bank_id == bank.id))
    session.execute(sql_delete(VideoHash).where(VideoHash.bank_id == bank.id))
    session.execute(sql_delete(BankEntry).where(BankEntry.bank_id == bank.id))
    session.execute(sql_delete(BankRemoval).where(BankRemoval.bank_id == bank.id))
    session.execute(sql_delete(BankSubscription).where(BankSubscription.bank_id == bank.id))
    session.delete(bank)


# -- use-cases with index upkeep (take a Runtime; the facade and the doors call these) ----------------

def media_options(rt: Runtime) -> AnalyseOptions:
    """How media added to a bank is analysed (ORB features too when ``local_features`` is on)."""
    from haechi.signals.local import BANK_FEATURES

    return rt.analyse_options(local_features=BANK_FEATURES if rt.settings.local_features else 0)


def add_media(rt: Runtime, name: str, paths: Iterable[str | os.PathLike[str]],
              label: str | None = None) -> Iterator[AddResult]:
    """Hash media under ``paths`` and store its signals in bank ``name`` (never the media; local
    features encrypted). One transaction per file; each is matchable at once. Yields one
    :class:`AddResult` per file (its ``error`` says why a file was not added).

    Raises NotFound (bank)."""
    from haechi.sources import iter_media

    with rt.db.session() as s:
        get_bank(s, name)
    for record in rt.analyse(iter_media(paths, rt.limits()), media_options(rt)):
        yield add_record(rt, name, record, label)


def add_record(rt: Runtime, name: str, record: MediaRecord, label: str | None = None) -> AddResult:
    """Store one analysed file (:func:`media_options`) in bank ``name``, in one transaction;
    matchable at once. Used by :func:`add_media` and by the API's uploads, which are analysed in
    the hashing pool. Raises NotFound (bank)."""
    with rt.db.session() as s:
        bank = get_bank(s, name)
        result, _ = next(add_records(s, bank, [record], label, rt.cipher if record.local is not None else None))
    rt.index_changes()
    return result


def import_file(rt: Runtime, name: str, file: str | os.PathLike[str]) -> ImportResult:
    """Import an exchange file (JSONL or CSV: signal_type, signal[, label]) into bank ``name``;
    matchable at once. Raises NotFound (bank), InputError (unreadable file)."""
    with rt.db.session() as s:
        bank = get_bank(s, name)
        result = import_signals(s, bank, Path(file))
    rt.index_changes()
    return result


def add_signals(rt: Runtime, name: str, signals: list[tuple[str, str]], label: str | None = None) -> list[int]:
    """Add hashes (``[(signal_type, signal)]``) to bank ``name``; returns the entry ids (the
    existing ones when every hash was already there). Raises NotFound (bank), InputError
    (an invalid hash: nothing is added)."""
    lines = "\n".join(json.dumps({"signal_type": t, "signal": v, "label": label}) for t, v in signals)
    with rt.db.session() as s:
        bank = get_bank(s, name)
        result = import_text(s, bank, lines + "\n", "request")
        if result.errors:
            raise InputError("signal", "; ".join(e.split(": ", 1)[-1] for e in result.errors))
        if not result.entry_ids:  # all duplicates: return the existing entries
            return find_entries(s, bank, signals)
    rt.index_changes()
    return result.entry_ids


def find_entries(session: Session, bank: Bank, signals: list[tuple[str, str]]) -> list[int]:
    """Ids of the entries of ``bank`` that hold these (valid) signals, in order; absent ones skipped."""
    found: list[int] = []
    for t, v in signals:
        norm = SIGNAL_TYPES[t].normalize(v) if t in SIGNAL_TYPES else v
        if t == "vpdq":
            norm = vpdq_signal.fingerprint(vpdq_signal.from_exchange(norm))
        found += list(session.scalars(select(BankEntry.id).where(
            BankEntry.bank_id == bank.id, BankEntry.signal_type == t, BankEntry.signal == norm)))
    return found


def remove(rt: Runtime, name: str, entry_id: int) -> None:
    """Remove one entry from bank ``name`` (platforms syncing the bank learn of it; every
    process's index drops it). Raises NotFound (bank or entry)."""
    with rt.db.session() as s:
        remove_entry(s, get_bank(s, name), entry_id)
    rt.index_changes()


def delete(rt: Runtime, name: str) -> None:
    """Delete bank ``name`` and all its entries. Raises NotFound (bank)."""
    with rt.db.session() as s:
        delete_bank(s, get_bank(s, name))
    rt.index_changes()
