"""Key rotation: every encrypted value re-encrypted under a new primary key in one transaction.

Why one transaction and a two-key file in between: a failure anywhere leaves every value
readable with the key file as it was (MultiFernet reads old and new), and the old key leaves the
file only after the commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet
from sqlalchemy import Connection, Text, bindparam, select, type_coerce, update

from haechi.errors import ConfigError
from haechi.store.crypto import Cipher, load_or_create_key, write_key_file
from haechi.store.encrypted import ENCRYPTED_COLUMNS, blind_index
from haechi.store.models import Base, Case, CaseKey, FaceEmbedding, LocalFeatureSet, Subject
from haechi.store.sealed import rewrap_keys

if TYPE_CHECKING:
    from haechi.runtime import Runtime


def rotate_keys(rt: Runtime) -> dict[str, int]:
    """Re-encrypt local features, face embeddings, case contacts and subject names with a new key
    (written to the key file) or with the first key of ``settings.secret_key`` ("new,old").
    Returns how many values of each kind were re-encrypted. Raises ConfigError (an environment
    key without a second, older key)."""
    env_key = rt.settings.secret_key
    key_file = rt.settings.key_file
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
        rt.forget_keys_and_indexes()  # the encrypted columns now write with the new key
    counts = {"local_features": 0, "face_embeddings": 0, "case_contacts": 0, "subject_names": 0, "evidence_keys": 0,
              "case_keys": 0, "encrypted_text": 0}
    with rt.db.session() as s:
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
        for ck in s.scalars(select(CaseKey).where(CaseKey.wrapped.is_not(None))):
            ck.wrapped = cipher.rotate(ck.wrapped)  # type: ignore[arg-type]
            counts["case_keys"] += 1
        counts["encrypted_text"] = reencrypt_columns(s.connection(), cipher)
    counts["evidence_keys"] = rewrap_keys(rt.blobs, cipher)  # still readable with both keys
    if new_primary is not None:
        write_key_file(key_file, new_primary)
    rt.forget_keys_and_indexes()
    return counts


def reencrypt_columns(conn: Connection, cipher: Cipher, chunk: int = 2000) -> int:
    """Re-encrypt every value of every encrypted text column (``ENCRYPTED_COLUMNS``) with the
    connection's primary key and recompute its blind index under ``cipher``'s primary key, in
    chunks of ``chunk`` rows by id. Returns how many values were rewritten."""
    done = 0
    for table_name, column, index in ENCRYPTED_COLUMNS:
        table = Base.metadata.tables[table_name]
        col, ident = table.c[column], table.c.id
        values: dict[str, Any] = {column: bindparam("_v"), **({index: bindparam("_i")} if index else {})}
        stmt = update(table).where(ident == bindparam("_id")).values(values)
        last = None
        while True:
            q = select(ident, col).where(col.is_not(None)).order_by(ident).limit(chunk)
            rows = conn.execute(q if last is None else q.where(ident > last)).all()
            if not rows:
                break
            conn.execute(stmt, [{"_id": i, "_v": v, "_i": blind_index(cipher, v) if v else None} for i, v in rows])
            done += len(rows)
            last = rows[-1][0]
    return done


def probe(rt: Runtime) -> list[str]:
    """What this home's key cannot decrypt: one stored value of each encrypted kind (local
    features, face embeddings, case contacts, subject names) and one sealed artefact are tried.
    Empty when everything readable; each problem names the kind and the key's fingerprint."""
    from haechi.errors import HaechiError
    from haechi.store.sealed import raw_store

    problems: list[str] = []
    try:
        cipher = rt.cipher
    except HaechiError as exc:
        return [f"the key cannot be used: {exc}"]
    fp = cipher.fingerprint()
    with rt.db.session() as s:
        samples = {
            "local features": s.scalar(select(LocalFeatureSet.ciphertext).limit(1)),
            "face embeddings": s.scalar(select(FaceEmbedding.ciphertext).limit(1)),
            "case contacts": s.scalar(select(Case.contact_ciphertext).where(Case.contact_ciphertext.is_not(None))
                                      .limit(1)),
            "subject names": s.scalar(select(Subject.name_ciphertext).where(Subject.name_ciphertext.is_not(None))
                                      .limit(1)),
        }
        for table_name, column, _ in ENCRYPTED_COLUMNS:  # raw tokens: the column type would decrypt
            table = Base.metadata.tables[table_name]
            raw_col = type_coerce(table.c[column], Text)
            raw = s.scalar(select(raw_col).where(raw_col.is_not(None), raw_col != "").limit(1))
            if raw is not None:
                samples[f"{table_name}.{column}"] = raw.encode("ascii", "replace")
    for kind, token in samples.items():
        if token is None:
            continue
        try:
            cipher.decrypt(token)
        except HaechiError:
            problems.append(f"{kind} cannot be decrypted with key {fp}")
    store = rt.blobs
    key = next(iter(raw_store(store).keys()), None)
    if key is not None:
        try:
            with store.open(key) as fh:
                fh.read(1)
        except HaechiError:
            problems.append(f"sealed evidence ({key}) cannot be decrypted with key {fp}")
    return problems
