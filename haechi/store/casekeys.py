"""Per-case data keys for the custody log's free text: crypto-shredding (issue #17 low 13).

The custody log is append-only and hash-chained, so text typed into it (a reviewer's note, an
export's file name, an ingested folder's path, a platform's reference) could never be erased.
Such fields are *sealed*: AES-256-GCM under a random key per case (``case_keys``, the key
wrapped with the home's Fernet key, rotated with it), the case reference as associated data.
The entry stores the ciphertext and its hash covers the ciphertext, so :func:`erase` — deleting
the case's key — makes the text unreadable for good while the chain still verifies.

The session carries the home's key (``session.info["cipher"]``, set by ``Runtime``), so
store-level functions seal without being handed the key.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from haechi.errors import ConfigError, InputError
from haechi.store.crypto import Cipher
from haechi.store.models import CaseKey

#: what a sealed field reads as once its case's key has been erased
ERASED = "[erased]"
_PREFIX = "aesgcm1:"


def _cipher(session: Session) -> Cipher:
    provider = session.info.get("cipher")
    if provider is None:
        raise ConfigError("custody free text needs the home's key: this session has none")
    cipher: Cipher = provider()
    return cipher


def _key(session: Session, case_ref: str | None, create: bool) -> bytes | None:
    """The case's data key; created on first use when ``create``; None once erased."""
    ref = case_ref or ""
    row = session.get(CaseKey, ref)
    if row is None:
        if not create:
            return None
        key = AESGCM.generate_key(bit_length=256)
        session.add(CaseKey(case_ref=ref, wrapped=_cipher(session).encrypt(key)))
        session.flush()
        return key
    if row.wrapped is None:
        if create:
            raise InputError(ref, "this case was erased: nothing more can be recorded for it")
        return None
    return _cipher(session).decrypt(row.wrapped)


def seal(session: Session, case_ref: str | None, fields: dict[str, Any]) -> str:
    """``fields`` as one sealed token (``aesgcm1:`` + base64 of nonce ‖ ciphertext)."""
    key = _key(session, case_ref, create=True)
    assert key is not None  # noqa: S101 - create=True returns a key or raises
    nonce = os.urandom(12)
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()
    ct = AESGCM(key).encrypt(nonce, body, (case_ref or "").encode())
    return _PREFIX + base64.b64encode(nonce + ct).decode()


def unseal(session: Session, case_ref: str | None, token: str) -> dict[str, Any] | None:
    """The fields sealed in ``token``; None when the case's key was erased. ConfigError when
    the token does not open with the case's key (tampered, or another case's)."""
    key = _key(session, case_ref, create=False)
    if key is None:
        return None
    raw = base64.b64decode(token.removeprefix(_PREFIX))
    try:
        opened = AESGCM(key).decrypt(raw[:12], raw[12:], (case_ref or "").encode())
    except Exception:  # noqa: BLE001 - cryptography's InvalidTag
        raise ConfigError(f"sealed custody text of case {case_ref!r} cannot be decrypted") from None
    fields: dict[str, Any] = json.loads(opened)
    return fields


def opened(session: Session, case_ref: str | None, details: dict[str, Any]) -> dict[str, Any]:
    """An entry's details with its sealed fields opened in place (each reads :data:`ERASED`
    once the case was erased; the names of sealed fields are listed in ``sealed_fields``)."""
    token = details.get("sealed")
    if not isinstance(token, str):
        return details
    out = {k: v for k, v in details.items() if k != "sealed"}
    fields = unseal(session, case_ref, token)
    names = details.get("sealed_fields") or (sorted(fields) if fields else [])
    for name in names:
        out[name] = ERASED if fields is None else fields.get(name)
    return out


def erase(session: Session, case_ref: str) -> bool:
    """Delete the case's key for good (crypto-shredding); False when it had none. The row stays,
    marked erased, so nothing new can be sealed for the case."""
    row = session.get(CaseKey, case_ref)
    if row is None:
        session.add(CaseKey(case_ref=case_ref, wrapped=None, erased_at=datetime.now(UTC)))
        return False
    had = row.wrapped is not None
    row.wrapped, row.erased_at = None, row.erased_at or datetime.now(UTC)
    return had
