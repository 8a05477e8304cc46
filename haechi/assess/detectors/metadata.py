"""Generator metadata: PNG text chunks written by Stable Diffusion front ends (A1111
``parameters``, ComfyUI ``prompt``/``workflow``, InvokeAI, NovelAI), EXIF ``Software``, XMP
``CreatorTool`` and ``DigitalSourceType``, video container tags — checked against the editable
list in ``generators.json``. Strong but forgeable (anyone can write or strip metadata): 0.9."""

from __future__ import annotations

import io
import json
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from haechi.assess.base import DetectorResult, Media, Reason
from haechi.media.formats import open_image

MAX_XMP = 2 * 1024 * 1024
_AI_SOURCE = re.compile(rb"(?:DigitalSourceType[^>]{0,200}?|digitalsourcetype/)(trainedAlgorithmicMedia|"
                        rb"compositeWithTrainedAlgorithmicMedia|algorithmicMedia)")
_CREATOR = re.compile(rb"CreatorTool(?:>|=\")([^<\"]{1,200})")


@lru_cache(maxsize=1)
def registry() -> dict[str, Any]:
    return json.loads((Path(__file__).resolve().parents[1] / "generators.json").read_text(encoding="utf-8"))


def known_tool(text: str) -> dict[str, Any] | None:
    low = text.lower()
    for tool in registry()["tools"]:
        if any(m in low for m in tool["match"]):
            return dict(tool)
    return None


class MetadataDetector:
    name: ClassVar[str] = "metadata"
    #: optional dependencies (auto-archiver manifest style), reported by `haechi doctor` via haechi.plugins
    dependencies: ClassVar[dict[str, tuple[str, ...]]] = {"python": ("av",)}  # video container tags

    def run(self, media: Media) -> DetectorResult:
        if media.media_type == "video":
            return self._video(media)
        if media.media_type != "image":
            return DetectorResult("not_applicable")
        reasons: list[Reason] = []
        data: dict[str, Any] = {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im = open_image(media.data)
                info = dict(im.info)
                exif = im.getexif()
        except Exception as exc:  # noqa: BLE001 - oversize text chunks and broken EXIF raise assorted errors
            return DetectorResult("error", error=f"{media.path}: unreadable metadata: {str(exc)[:200]}")
        keys = registry()["png_text_keys"]
        found_keys = [k for k in info if isinstance(k, str) and k.lower() in keys]
        if found_keys:
            data["png_text"] = {k: str(info[k])[:300] for k in found_keys}
            what = ", ".join(keys[k.lower()] for k in found_keys)
            reasons.append(Reason("generator_metadata", f"PNG text chunk(s) {', '.join(found_keys)}: {what}", 0.9))
        for key in ("Software", "Comment", "Description", "Source", "Author"):
            value = info.get(key)
            if isinstance(value, str) and (tool := known_tool(value)):
                data.setdefault("tools", []).append(tool["name"])
                reasons.append(Reason("generator_metadata", f"{key} names {tool['name']} ({tool['kind']})", 0.9))
        software = exif.get(0x0131)
        if isinstance(software, str):
            data["exif_software"] = software[:200]
            if tool := known_tool(software):
                reasons.append(Reason("generator_metadata", f"EXIF Software names {tool['name']} ({tool['kind']})",
                                      0.9))
        xmp = self._xmp(media.data, info)
        if xmp:
            if m := _AI_SOURCE.search(xmp):
                src = m.group(1).decode()
                data["xmp_digital_source_type"] = src
                reasons.append(Reason("generator_metadata", f"XMP DigitalSourceType {src} (unsigned)", 0.9))
            if m := _CREATOR.search(xmp):
                creator = m.group(1).decode("utf-8", "replace")
                data["xmp_creator_tool"] = creator
                if tool := known_tool(creator):
                    reasons.append(Reason("generator_metadata", f"XMP CreatorTool names {tool['name']}", 0.9))
        return DetectorResult("ok", reasons, data)

    @staticmethod
    def _xmp(data: bytes, info: dict[Any, Any]) -> bytes | None:
        raw = info.get("xmp") or info.get("XML:com.adobe.xmp")
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "replace")
        if isinstance(raw, bytes):
            return raw[:MAX_XMP]
        start = data.find(b"<x:xmpmeta")
        if start < 0:
            return None
        end = data.find(b"</x:xmpmeta>", start, start + MAX_XMP)
        return data[start : end if end > 0 else start + MAX_XMP]

    def _video(self, media: Media) -> DetectorResult:
        import av

        try:
            with av.open(io.BytesIO(media.data), metadata_errors="ignore") as container:
                tags = dict(container.metadata)
                for stream in container.streams:
                    tags.update({f"stream{stream.index}.{k}": v for k, v in stream.metadata.items()})
        except (av.FFmpegError, OSError, ValueError) as exc:
            return DetectorResult("error", error=f"{media.path}: unreadable container: {str(exc)[:200]}")
        reasons = []
        for key, value in tags.items():
            if isinstance(value, str) and (tool := known_tool(value)):
                reasons.append(Reason("generator_metadata", f"video tag {key} names {tool['name']} ({tool['kind']})",
                                      0.9))
        return DetectorResult("ok", reasons, {"tags": {k: str(v)[:200] for k, v in list(tags.items())[:30]}})
