"""C2PA provenance (``c2pa-python``): signer, claim generator, actions and the IPTC digital
source type. A claim that the content was made by generative AI, with a valid signature, is
hard evidence; the same claim with a broken signature is reported, not trusted."""

from __future__ import annotations

import io
import json
from typing import Any, ClassVar

from haechi.assess.base import HARD, DetectorResult, Media, Reason

_AI_TYPES = {
    "trainedAlgorithmicMedia": "created by a generative AI model",
    "compositeWithTrainedAlgorithmicMedia": "composited with generative AI content",
    "algorithmicMedia": "created algorithmically",
    "compositeSynthetic": "composite including synthetic elements",
}
_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif", "TIFF": "image/tiff",
         "HEIF": "image/heif", "AVIF": "image/avif"}


def _walk(obj: Any) -> list[dict[str, Any]]:
    out = []
    if isinstance(obj, dict):
        if "action" in obj:
            out.append(obj)
        for v in obj.values():
            out += _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            out += _walk(v)
    return out


class ProvenanceDetector:
    name: ClassVar[str] = "c2pa"
    #: optional dependencies (auto-archiver manifest style), reported by `haechi doctor` via haechi.plugins
    dependencies: ClassVar[dict[str, tuple[str, ...]]] = {"python": ("c2pa",)}

    def run(self, media: Media) -> DetectorResult:
        try:
            import c2pa
        except ImportError:
            return DetectorResult("unavailable", error="c2pa-python is not installed")
        mime = _MIME.get(media.image_format or "", "video/mp4" if media.media_type == "video" else None)
        if mime is None:
            return DetectorResult("not_applicable")
        if b"c2pa" not in media.data and b"jumb" not in media.data:
            return DetectorResult("ok", data={"manifest": False})
        try:
            reader = c2pa.Reader(mime, io.BytesIO(media.data))
            store = json.loads(reader.json())
        except Exception as exc:  # noqa: BLE001 - c2pa raises its own error types for malformed manifests
            msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            if "ManifestNotFound" in msg or "JumbfNotFound" in msg:
                return DetectorResult("ok", data={"manifest": False})
            return DetectorResult("error", error=f"{media.path}: malformed C2PA manifest: {msg}")
        active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
        statuses = [s.get("code", "") for s in store.get("validation_status", []) or []]
        broken = [c for c in statuses if c and not c.startswith("signingCredential.untrusted")
                  and any(k in c for k in ("mismatch", "invalid", "missing", "revoked", "expired"))]
        signer = active.get("signature_info", {}) or {}
        gen = active.get("claim_generator_info") or active.get("claim_generator")
        data = {"manifest": True, "signer": signer.get("common_name") or signer.get("issuer"),
                "issuer": signer.get("issuer"), "claim_generator": gen, "validation": statuses or ["valid"],
                "signature_valid": not broken, "trusted_signer": "signingCredential.untrusted" not in statuses}
        reasons: list[Reason] = []
        actions = _walk(active.get("assertions", []))
        data["actions"] = [a.get("action") for a in actions]
        for a in actions:
            source = str(a.get("digitalSourceType", ""))
            key = source.rsplit("/", 1)[-1]
            if key in _AI_TYPES:
                data["digital_source_type"] = key
                if broken:
                    reasons.append(Reason("provenance", f"C2PA claims the content was {_AI_TYPES[key]}, but the "
                                                        f"manifest does not validate ({', '.join(broken)})", 0.6))
                else:
                    trust = "" if data["trusted_signer"] else " (signer not on a trust list)"
                    reasons.append(Reason("provenance", f"signed C2PA claim by {data['signer']}{trust}: "
                                                        f"{a.get('action')} — {_AI_TYPES[key]}", HARD, hard=True))
                break
        return DetectorResult("ok", reasons, data)
