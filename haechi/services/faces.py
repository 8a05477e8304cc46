"""Consented face enrolment, withdrawal and the gallery a scan searches.

Only embeddings are kept, Fernet-encrypted (key outside the database); enrolment photos are
decoded in memory and dropped. Enrolment is all-or-nothing: if any photo does not show exactly
one face, nothing is stored. Withdrawal deletes every embedding of the subject in the same
transaction that marks the subject withdrawn; the in-memory gallery is rebuilt per scan, so a
withdrawn subject is never searched again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from haechi.errors import AlreadyExists, ConfigError, InputError, NotFound
from haechi.index.faces import DIM, FaceIndex
from haechi.media import decode_image
from haechi.signals.faces import FaceEngine
from haechi.store.crypto import Cipher
from haechi.store.encrypted import blind_indexes, cipher_of
from haechi.store.models import FaceEmbedding, Subject

if TYPE_CHECKING:
    from haechi.runtime import Runtime


@dataclass(frozen=True)
class Gallery:
    index: FaceIndex
    subjects: dict[int, str]  # index label (embedding id) -> subject_ref


def embed_enrolment_photo(engine: FaceEngine, path: Path, max_pixels: int, max_bytes: int) -> np.ndarray:
    """The embedding of the single face in ``path``; :class:`InputError` naming it otherwise."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(str(path), f"file is over the limit of {max_bytes} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), exc.strerror or str(exc)) from None
    image = decode_image(data, str(path), max_pixels=max_pixels, draft_min_side=1024)
    faces = engine.detect(image.rgb)
    if len(faces) != 1:
        what = "no face" if not faces else f"{len(faces)} faces"
        raise InputError(str(path), f"enrolment needs exactly one face per photo, found {what}")
    return engine.embed(image.rgb, faces[0])


def _subject(session: Session, subject_ref: str) -> Subject | None:
    """The subject with this reference, found by its blind index (the reference is encrypted)."""
    indexes = blind_indexes(cipher_of(session.get_bind().dialect), subject_ref)
    return session.scalar(select(Subject).where(Subject.subject_ref_index.in_(indexes)))


def enroll(session: Session, cipher: Cipher, subject_ref: str, embeddings: list[np.ndarray],
           consent_ref: str | None, enrolled_by: str, name: str | None = None) -> dict[str, Any]:
    subject_ref = subject_ref.strip()
    if not subject_ref or len(subject_ref) > 200:
        raise InputError(subject_ref or "''", "subject id must be 1-200 characters")
    if not embeddings:
        raise InputError(subject_ref, "no photos given")
    subject = _subject(session, subject_ref)
    if subject is None:
        subject = Subject(subject_ref=subject_ref, consent_ref=consent_ref, enrolled_by=enrolled_by)
        session.add(subject)
    elif subject.withdrawn_at is not None:
        # re-enrolment after withdrawal: fresh consent, fresh record of who enrolled
        subject.withdrawn_at, subject.consent_ref, subject.enrolled_by = None, consent_ref, enrolled_by
        subject.enrolled_at = datetime.now(UTC)
    elif consent_ref and subject.consent_ref and consent_ref != subject.consent_ref:
        raise AlreadyExists("subject", f"{subject_ref} (enrolled under consent {subject.consent_ref})")
    if name:
        subject.name_ciphertext = cipher.encrypt(name.strip().encode())
    session.flush()
    for vec in embeddings:
        blob = np.asarray(vec, dtype=np.float32).reshape(DIM).tobytes()
        session.add(FaceEmbedding(subject_id=subject.id, ciphertext=cipher.encrypt(blob)))
    session.flush()
    count = session.scalar(select(func.count()).select_from(FaceEmbedding)
                           .where(FaceEmbedding.subject_id == subject.id))
    return {"subject": subject.subject_ref, "embeddings": int(count or 0), "added": len(embeddings),
            "consent_ref": subject.consent_ref, "enrolled_by": subject.enrolled_by,
            "enrolled_at": subject.enrolled_at.isoformat()}


def list_subjects(session: Session, cipher: Cipher | None = None) -> list[dict[str, Any]]:
    """Enrolled subjects; with ``cipher``, her name decrypted (for caseworkers, never logged)."""
    counts = dict(session.execute(select(FaceEmbedding.subject_id, func.count())
                                  .group_by(FaceEmbedding.subject_id)).all())
    return [{"subject": s.subject_ref, "consent_ref": s.consent_ref, "enrolled_by": s.enrolled_by,
             "name": cipher.decrypt(s.name_ciphertext).decode() if cipher and s.name_ciphertext else None,
             "enrolled_at": s.enrolled_at.isoformat(), "embeddings": int(counts.get(s.id, 0)),
             "withdrawn_at": s.withdrawn_at.isoformat() if s.withdrawn_at else None}
            for s in sorted(session.scalars(select(Subject)), key=lambda s: s.subject_ref)]  # encrypted: sorted here


def withdraw(session: Session, subject_ref: str) -> int:
    """Delete every embedding of the subject; returns how many were deleted."""
    subject = _subject(session, subject_ref)
    if subject is None:
        raise NotFound("subject", subject_ref)
    deleted = session.execute(delete(FaceEmbedding).where(FaceEmbedding.subject_id == subject.id))
    subject.withdrawn_at = datetime.now(UTC)
    subject.name_ciphertext = None  # withdrawal forgets her name too
    return int(getattr(deleted, "rowcount", 0) or 0)


def load_gallery(session: Session, cipher: Cipher) -> Gallery | None:
    rows = session.execute(
        select(FaceEmbedding.id, FaceEmbedding.ciphertext, Subject.subject_ref)
        .join(Subject, Subject.id == FaceEmbedding.subject_id)
        .where(Subject.withdrawn_at.is_(None)).order_by(FaceEmbedding.id)).all()
    if not rows:
        return None
    readable = []
    for row in rows:
        try:
            readable.append((row, np.frombuffer(cipher.decrypt(row[1]), dtype=np.float32)))
        except ConfigError:  # one undecryptable embedding never stops the rest (haechi doctor names it)
            continue
    if not readable:
        return None
    vecs = np.stack([v for _, v in readable])
    labels = np.array([r[0] for r, _ in readable], dtype=np.int64)
    return Gallery(FaceIndex(vecs, labels), {int(r[0]): r[2] for r, _ in readable})


# -- use-cases (take a Runtime) -----------------------------------------------------------------

def detect(rt: Runtime, paths: Iterable[str | os.PathLike[str]]) -> Iterator[dict[str, Any]]:
    """Detected faces per media file: ``{path, media_type, error, faces: [{box, kind[, t_s]}]}``
    (video: on sampled frames, ``t_s`` in seconds)."""
    from haechi.signals.faces import engine
    from haechi.sources import iter_media

    engine(cnn=rt.settings.face_cnn, detector=rt.settings.face_detector)
    opts = rt.analyse_options(faces=True, face_embed=False)
    for record in rt.analyse(iter_media(paths, rt.limits()), opts):
        yield {"path": record.path, "media_type": record.media_type, "error": record.error,
               "faces": [dict({"box": b.box(), "kind": b.kind}, **({"t_s": t} if t is not None else {}))
                         for b, _, t in record.face_data or []]}


def enroll_photos(rt: Runtime, subject: str, photos: Iterable[str | os.PathLike[str]], consent_ref: str | None,
                  enrolled_by: str, name: str | None = None) -> dict[str, Any]:
    """Enrol a consenting person's face from photos of her: embeddings only, encrypted. Every
    photo is checked first (exactly one face each); if any fails, nothing is stored.
    Raises InputError (a photo without exactly one face), AlreadyExists (enrolled)."""
    from haechi.signals.faces import engine

    eng = engine(cnn=rt.settings.face_cnn, detector=rt.settings.face_detector)
    vecs = [embed_enrolment_photo(eng, Path(p), rt.settings.max_pixels, rt.settings.max_file_bytes) for p in photos]
    with rt.db.session() as s:
        return enroll(s, rt.cipher, subject, vecs, consent_ref, enrolled_by, name)
