"""RFC 3161 trusted timestamps (``rfc3161-client``) for captures.

What is stamped: the canonical JSON of a capture's artefact hashes (WARC, screenshot), so one
token proves that exactly those files existed no later than the TSA's time. The token is saved
beside them as ``timestamp.tsr`` and its own hash goes into the custody entry. The TSA is an
operator setting (``$HAECHI_TSA_URL``; optionally ``$HAECHI_TSA_CERT``, a PEM root to check the
signature against), not user input, so it is posted to directly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from haechi.errors import RemoteError

TSR_NAME = "timestamp.tsr"


def stamped_bytes(artefacts: dict[str, str]) -> bytes:
    """What a capture's token covers: its artefact hashes, canonical JSON, the token excluded."""
    return json.dumps({k: v for k, v in sorted(artefacts.items()) if k != TSR_NAME}, sort_keys=True,
                      separators=(",", ":")).encode()


@dataclass(frozen=True)
class Stamp:
    token: bytes
    gen_time: str
    serial: int


def request_timestamp(data: bytes, tsa_url: str, timeout_s: float = 20.0) -> Stamp:
    import rfc3161_client as tsa

    req = tsa.TimestampRequestBuilder().data(data).nonce(nonce=True).cert_request(cert_request=True).build()
    try:
        resp = httpx.post(tsa_url, content=req.as_bytes(), timeout=timeout_s, trust_env=False,
                          headers={"Content-Type": "application/timestamp-query"})
    except httpx.HTTPError as exc:
        raise RemoteError(tsa_url, f"timestamp authority unreachable: {exc}") from None
    if resp.status_code != 200:
        raise RemoteError(tsa_url, f"timestamp authority answered HTTP {resp.status_code}")
    try:
        parsed = tsa.decode_timestamp_response(resp.content)
    except Exception as exc:  # noqa: BLE001 - the decoder raises its own error types
        raise RemoteError(tsa_url, f"malformed timestamp response: {exc}") from None
    if parsed.status not in (0, 1):  # granted, grantedWithMods
        raise RemoteError(tsa_url, f"timestamp refused: status {parsed.status} {parsed.status_string}")
    info = parsed.tst_info
    if info.message_imprint.message != hashlib.new(_hash_name(info), data).digest():
        raise RemoteError(tsa_url, "timestamp covers different data than requested")
    return Stamp(resp.content, info.gen_time.isoformat(), int(info.serial_number))


def _hash_name(info: Any) -> str:
    oid = info.message_imprint.hash_algorithm.dotted_string
    return {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
            "2.16.840.1.101.3.4.2.3": "sha512"}.get(oid, "sha512")


def verify_token(token: bytes, data: bytes, root_pem: bytes | None = None) -> dict[str, Any]:
    """Check that ``token`` covers ``data``; with a root certificate, also the TSA signature."""
    import rfc3161_client as tsa

    try:
        parsed = tsa.decode_timestamp_response(token)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "problem": f"unreadable token: {exc}"}
    info = parsed.tst_info
    if info.message_imprint.message != hashlib.new(_hash_name(info), data).digest():
        return {"ok": False, "problem": "the timestamped hash does not match the artefacts"}
    out: dict[str, Any] = {"ok": True, "gen_time": info.gen_time.isoformat(), "signature_checked": False}
    if root_pem:
        from cryptography import x509

        try:
            verifier = tsa.VerifierBuilder().add_root_certificate(x509.load_pem_x509_certificate(root_pem)).build()
            verifier.verify_message(parsed, data)
            out["signature_checked"] = True
        except Exception as exc:  # noqa: BLE001 - VerificationError and friends
            return {"ok": False, "problem": f"TSA signature does not verify: {exc}"}
    return out


def tsa_settings(url: str | None, cert: str | None) -> tuple[str | None, bytes | None]:
    """The TSA URL (``Settings.tsa_url``) and its certificate's PEM bytes (``Settings.tsa_cert``,
    a path; None when unset or missing)."""
    return url or None, (Path(cert).read_bytes() if cert and Path(cert).exists() else None)
