"""Backups: the database (every table, dialect-independent), the evidence store and the custody
log in one archive with a manifest of SHA-256 hashes; restore into an empty home checks the
manifest first and loads everything in one transaction.

The encryption key is NOT included unless asked for: an archive holding both the encrypted
victim data and its key would undo the encryption. Every table's dump is sealed with the home's
key (``haechi.store.sealed``, as evidence is), so a backup without the key holds nothing readable:
not a victim reference, a bank label or note, a case item's URL or a name typed into any free-text
column (red-team review of #17 high 4: those were in the clear in ``db/*.jsonl``). Restoring needs
the key, named by fingerprint when it is missing. Keep the key in the secret store (or pass
``include_key`` and protect the archive like the key itself). The PDQ index is not backed up:
it is rebuilt from the database on first use.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, text

from haechi import __version__
from haechi.errors import InputError
from haechi.store.blobs import read_bytes
from haechi.store.models import Base
from haechi.store.sealed import is_sealed, open_sealed, raw_store, seal_stream

if TYPE_CHECKING:
    from haechi.runtime import Runtime

FORMAT = "haechi-backup/1"


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    if isinstance(value, (datetime, date)):
        return {"$dt": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$b64" in value:
        return base64.b64decode(value["$b64"])
    if isinstance(value, dict) and "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    return value


def _add(tar: tarfile.TarFile, name: str, data: bytes, manifest: dict[str, str]) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))
    manifest[name] = hashlib.sha256(data).hexdigest()


def backup(rt: Runtime, out: Path, include_key: bool = False) -> dict[str, Any]:
    tables = list(Base.metadata.sorted_tables)
    manifest: dict[str, str] = {}
    counts: dict[str, int] = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tmp, "w:gz") as tar:
        # one read transaction: a consistent snapshot on PostgreSQL (repeatable read) and SQLite
        with rt.db.engine.connect() as conn:
            if rt.db.dialect == "postgresql":
                conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            for table in tables:
                rows = conn.execute(select(table)).mappings().all()
                lines = [json.dumps({k: _encode(v) for k, v in row.items()}, ensure_ascii=False) for row in rows]
                sealed = io.BytesIO()
                seal_stream(io.BytesIO(("\n".join(lines) + "\n" if lines else "").encode()), sealed, rt.cipher)
                _add(tar, f"db/{table.name}.jsonl", sealed.getvalue(), manifest)
                counts[table.name] = len(rows)
        store = raw_store(rt.blobs)  # sealed artefacts are copied sealed: unreadable without the key
        files = 0
        for key in store.keys():  # noqa: SIM118 - a BlobStore, not a dict
            _add(tar, f"evidence/{key}", read_bytes(store, key), manifest)
            files += 1
        if include_key and rt.settings.key_file.exists():
            _add(tar, "secret.key", rt.settings.key_file.read_bytes(), manifest)
        meta = {"format": FORMAT, "tool": __version__, "dialect": rt.db.dialect, "tables": counts,
                "evidence_files": files, "key_included": include_key, "key_fingerprint": rt.cipher.fingerprint(),
                "files": manifest}
        data = json.dumps(meta, indent=1).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(data))
    tmp.chmod(0o600)
    tmp.replace(out)
    return {"out": str(out), "tables": counts, "evidence_files": files, "key_included": include_key,
            "manifest_sha256": hashlib.sha256(data).hexdigest()}


def _read(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    try:
        tar = tarfile.open(path, "r:gz")  # noqa: SIM115 - closed by the with below
    except (OSError, tarfile.TarError) as exc:
        raise InputError(str(path), f"not a readable backup: {exc}") from None
    blobs: dict[str, bytes] = {}
    with tar:
        for member in tar.getmembers():
            if not member.isfile() or member.name.startswith("/") or ".." in Path(member.name).parts:
                raise InputError(str(path), f"unsafe member {member.name!r}")
            fh = tar.extractfile(member)
            assert fh is not None
            blobs[member.name] = fh.read()
    if "manifest.json" not in blobs:
        raise InputError(str(path), "no manifest.json: not a Haechi backup")
    meta = json.loads(blobs.pop("manifest.json"))
    if meta.get("format") != FORMAT:
        raise InputError(str(path), f"unknown backup format {meta.get('format')!r}")
    listed = meta.get("files", {})
    for name, digest in listed.items():
        if name not in blobs:
            raise InputError(str(path), f"{name} is missing from the backup")
        if hashlib.sha256(blobs[name]).hexdigest() != digest:
            raise InputError(str(path), f"{name} does not match its hash: the backup was modified or damaged")
    extra = set(blobs) - set(listed)
    if extra:
        raise InputError(str(path), f"files not in the manifest: {', '.join(sorted(extra))}")
    return meta, blobs


def verify(path: Path) -> dict[str, Any]:
    meta, _ = _read(path)
    return {"ok": True, "tables": meta["tables"], "evidence_files": meta["evidence_files"],
            "key_included": meta["key_included"]}


def _table_dump(rt: Runtime, path: Path, meta: dict[str, Any], name: str, data: bytes) -> str:
    """A table's JSONL, unsealed with the home's key (older backups: stored plain)."""
    if not is_sealed(data):
        return data.decode()
    try:
        return open_sealed(io.BytesIO(data), name, rt.cipher).read().decode()
    except InputError:
        raise InputError(str(path), f"this backup needs the key with fingerprint "
                                    f"{meta.get('key_fingerprint') or '(unknown)'}; put it in "
                                    f"{rt.settings.key_file} or $HAECHI_SECRET_KEY, then restore again") from None


def restore(rt: Runtime, path: Path) -> dict[str, Any]:
    meta, blobs = _read(path)
    tables = list(Base.metadata.sorted_tables)
    if "secret.key" in blobs and not rt.settings.key_file.exists():  # first: the dumps are sealed with it
        from haechi.store.crypto import write_key_file

        write_key_file(rt.settings.key_file, blobs["secret.key"])
        rt.forget_keys_and_indexes()
    # every dump is unsealed (or the key named) before a row is written
    dumps = {t.name: _table_dump(rt, path, meta, f"db/{t.name}.jsonl", blobs.get(f"db/{t.name}.jsonl", b""))
             for t in tables}
    with rt.db.session() as s:
        for table in tables:
            if s.execute(select(func.count()).select_from(table)).scalar():
                raise InputError(str(rt.settings.home), f"restore needs an empty database; {table.name} has rows")
        for table in tables:
            raw = dumps[table.name]
            rows = [{k: _decode(v) for k, v in json.loads(line).items()} for line in raw.splitlines() if line]
            for i in range(0, len(rows), 1000):
                s.execute(insert(table), rows[i : i + 1000])
        if rt.db.dialect == "postgresql":  # keep sequences ahead of the restored ids
            for table in tables:
                if "id" in table.c and table.c.id.type.python_type is int:
                    # table names come from our own models, never from input
                    sql = (f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                           f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)")
                    s.execute(text(sql))
    store = rt.blobs
    with tempfile.TemporaryDirectory(dir=rt.settings.home) as staging:
        for name, data in blobs.items():
            if name.startswith("evidence/"):
                key = name[len("evidence/") :]
                local = store.local_path(key)
                target = local if local is not None else Path(staging) / "blob"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                target.chmod(0o400)
                store.put_file(key, target)
                if local is None:
                    target.unlink()
    from haechi.services.keys import probe

    rt.forget_keys_and_indexes()
    problems = probe(rt)
    result = {"restored": meta["tables"], "evidence_files": meta["evidence_files"],
              "key_restored": "secret.key" in blobs, "key_fingerprint": meta.get("key_fingerprint"),
              "key_problems": problems}
    if problems:  # said plainly, with which key is needed: otherwise every scan fails later
        result["key_needed"] = (f"this backup's encrypted data needs the key with fingerprint "
                                f"{meta.get('key_fingerprint') or '(unknown: an older backup)'}; put it in "
                                f"{rt.settings.key_file} or $HAECHI_SECRET_KEY")
    return result
