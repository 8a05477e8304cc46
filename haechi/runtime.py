"""The runtime: state and plumbing that every use-case takes — never behaviour.

Why a separate object: the library facade (:class:`haechi.app.Haechi`) used to be composition
root, use-case layer and service locator at once, and modules below it imported it back (an
import circle of six files). Now the facade builds a :class:`Runtime` and delegates; use-cases in
``services/``, ``cases/`` and ``jobs.py`` take a ``Runtime`` (or a session) and never the facade,
so imports point one way (``tests/test_layers.py`` holds that).

A ``Runtime`` owns: the frozen :class:`~haechi.config.Settings`, the :class:`Database`, the
:class:`Cipher` (key file or ``settings.secret_key``), the evidence :class:`BlobStore`, and the
caches whose upkeep is subtle enough to live in one place: the PDQ :class:`HammingIndex` (entries
added by any process are folded in and entries deleted by any process are dropped at each
:meth:`refresh_index` — issue #21) and the built local-feature index.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from haechi.config import Settings
from haechi.index.hamming import HammingIndex
from haechi.services.analyse import AnalyseOptions, MediaRecord, analyse
from haechi.services.matching import (
    fetch_codes,
    latest_removal,
    load_local_index,
    load_pdq_index,
    removed_labels,
)
from haechi.services.parallel import ordered_map
from haechi.sources import MediaRef
from haechi.sources.files import Limits
from haechi.store.crypto import Cipher, load_or_create_key
from haechi.store.db import Database
from haechi.store.models import BankEntry, IndexRemoval, LocalFeatureSet, Subject

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from haechi.index.local import LocalIndex
    from haechi.services.hashpool import HashPool
    from haechi.store.blobs import BlobStore


class Runtime:
    """Settings, database, cipher, blob store and index caches of one Haechi home."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.home, 0o700)
        self._cipher: Cipher | None = None
        # sessions seal custody free text with it, encrypted columns (and migration 0025) use it
        self.db = Database(settings.database_url, cipher=lambda: self.cipher)
        self._blobs: BlobStore | None = None
        self._pdq_index: HammingIndex | None = None
        self._index_last_id = 0
        self._index_last_removal = 0
        self._local_cache: tuple[tuple[Any, ...], LocalIndex] | None = None
        self._hash_pool: HashPool | None = None
        self._pool_lock = threading.Lock()
        #: one refresh at a time: two threads folding in the same new entries would index them twice
        self._index_lock = threading.RLock()

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def cipher(self) -> Cipher:
        """Fernet cipher over the key file (created on first use) or ``settings.secret_key``."""
        if self._cipher is None:
            self._cipher = Cipher(load_or_create_key(self.settings.key_file, self.settings.secret_key))
        return self._cipher

    @property
    def evidence_dir(self) -> Path:
        """Where captures are written: the evidence store itself by default, a staging area
        when artefacts go to object storage (:attr:`blobs`)."""
        return self.settings.home / "evidence"

    @property
    def blobs(self) -> BlobStore:
        """The evidence store (``storage_url``: local directory by default, or S3), sealing every
        artefact with the home's key unless ``encrypt_evidence`` is off (:mod:`haechi.store.sealed`)."""
        if self._blobs is None:
            from haechi.store.blobs import open_store
            from haechi.store.sealed import SealedBlobStore

            store = open_store(self.settings.storage_url, self.evidence_dir, self.settings.s3_endpoint_url)
            self._blobs = SealedBlobStore(store, self.cipher) if self.settings.encrypt_evidence else store
        return self._blobs

    def limits(self) -> Limits:
        """File, archive and video size limits for sources (bytes; ratio unitless)."""
        s = self.settings
        return Limits(s.max_file_bytes, s.max_archive_bytes, s.max_compression_ratio, s.max_video_bytes)

    def analyse_options(self, **kw: Any) -> AnalyseOptions:
        """Per-file analysis options from the settings; ``kw`` adds what a use-case needs."""
        s = self.settings
        return AnalyseOptions(s.max_pixels, s.max_file_bytes, max_video_bytes=s.max_video_bytes,
                              video_seconds_per_hash=s.video_seconds_per_hash, video_max_frames=s.video_max_frames,
                              **kw)

    def analyse(self, refs: Iterable[MediaRef], opts: AnalyseOptions) -> Iterator[MediaRecord]:
        """Analyse media in the bounded process pool (``settings.workers``), in input order.
        Native libraries the workers will need are loaded before they fork (``_lazy.preload``);
        plain hashing needs none, so ``haechi hash`` stays light."""
        if self.settings.workers > 1 and (opts.local_features or opts.faces):
            from haechi._lazy import preload

            preload()
        return ordered_map(partial(analyse, opts=opts), refs, self.settings.workers)

    def hash_pool(self) -> HashPool:
        """The serving process's pool for decoding and hashing media it was sent (started on
        first use; ``hash_pool_workers``, ``hash_pool_queue``, ``hash_time_limit``)."""
        with self._pool_lock:
            if self._hash_pool is None:
                from haechi.services.hashpool import HashPool

                s = self.settings
                self._hash_pool = HashPool(s.hash_pool_workers, s.hash_pool_queue, s.hash_time_limit)
            return self._hash_pool

    def close_hash_pool(self) -> None:
        """Stop the hashing pool's workers (a server's shutdown); a later upload starts it again."""
        with self._pool_lock:
            pool, self._hash_pool = self._hash_pool, None
        if pool is not None:
            pool.close()

    def has_subjects(self) -> bool:
        """Whether anyone is enrolled for face search (scans then look for faces)."""
        with self.db.session() as s:
            return s.scalar(select(Subject.id).where(Subject.withdrawn_at.is_(None)).limit(1)) is not None

    def forget_keys_and_indexes(self) -> None:
        """Drop the cipher, the store that uses it and the indexes (after a restore or a key rotation)."""
        self._cipher, self._blobs, self._pdq_index, self._local_cache = None, None, None, None

    def close(self) -> None:
        """Release the database connections and the in-memory index (hundreds of MiB at 1M+
        hashes: a supervisor that only built it for its workers must not keep a copy)."""
        self.close_hash_pool()
        self.db.dispose()
        self._pdq_index = None
        self._local_cache = None

    # -- the PDQ index ----------------------------------------------------------------------
    def pdq_index(self) -> HammingIndex:
        """The PDQ index of every bank (image PDQs and banked videos' frames), loaded once."""
        with self._index_lock:
            if self._pdq_index is None:
                with self.db.session() as s:
                    self._index_last_id = int(s.scalar(select(func.max(BankEntry.id))) or 0)
                    self._index_last_removal = latest_removal(s)
                    self._pdq_index = load_pdq_index(s, self.settings.index_dir, self.settings.quality_floor,
                                                     self.settings.video_max_frames, upto_id=self._index_last_id)
            return self._pdq_index

    def refresh_index(self) -> HammingIndex:
        """Fold in entries any process added, and drop entries any process deleted, since this
        runtime last looked (a long-running server or worker calls this before each lookup or
        scan: one indexed query when nothing changed).

        The database is the only source of additions: this runtime's own writes are folded in
        here too (:meth:`index_changes`), never added beside it — a request's write and another
        request's refresh once both added the same entry, so ``/m/index/status`` counted each
        hash twice. One refresh at a time, and each reads entries up to the id it records."""
        with self._index_lock:
            index = self.pdq_index()
            with self.db.session() as s:
                newest, removal = s.execute(select(select(func.max(BankEntry.id)).scalar_subquery(),
                                                   select(func.max(IndexRemoval.id)).scalar_subquery())).one()
                newest, removal = int(newest or 0), int(removal or 0)
                if newest > self._index_last_id:
                    codes, labels, _ = fetch_codes(s, self.settings.quality_floor, after_id=self._index_last_id,
                                                   upto_id=newest)
                    index.add(codes, labels)
                    self._index_last_id = newest
                if removal > self._index_last_removal:
                    gone, self._index_last_removal = removed_labels(s, self._index_last_removal,
                                                                    self.settings.video_max_frames)
                    index.remove(gone)
            return index

    def index_changes(self) -> None:
        """After this runtime committed additions or deletions: make them matchable (or not) at
        once in the index it loaded (none loaded: nothing to do, the first load reads them)."""
        if self._pdq_index is not None:
            self.refresh_index()

    def local_index(self, s: Session, bank_ids: list[int]) -> LocalIndex | None:
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
