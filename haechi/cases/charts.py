"""The stats chart (PNG) for the CLI (``stats --png``) and the web stats page. Drawn with Pillow:
four bars and a caption do not justify matplotlib as a dependency."""

from __future__ import annotations

import io
from typing import Any

#: fonts that carry Hangul (Debian's fonts-nanum, installed by scripts/system-deps.sh; Noto CJK)
FONTS = ["/usr/share/fonts/truetype/nanum/NanumGothic.ttf", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"]
#: the chart's words per language (the web page passes the user's)
LABELS = {
    "en": {"found": "found", "notified": "notified", "removed": "removed", "still_up": "still up",
           "title": "Items by status", "median": "median hours to removal", "none": "not yet known"},
    "ko": {"found": "발견", "notified": "삭제 요청함", "removed": "삭제됨", "still_up": "아직 게시 중",
           "title": "상태별 항목", "median": "삭제까지 걸린 시간(중앙값)", "none": "아직 없음"},
}


def stats_png(data: dict[str, Any], lang: str = "en") -> bytes:
    """The chart of :func:`haechi.cases.service.stats` in ``lang`` (en, ko): four bars, a title;
    a median not known yet says so (never ``None``)."""
    from pathlib import Path

    from PIL import Image, ImageDraw, ImageFont

    words = LABELS.get(lang, LABELS["en"])
    bars = [(words["found"], data["items_found"]), (words["notified"], data["items_notified"]),
            (words["removed"], data["items_removed"]), (words["still_up"], data["items_still_up"])]
    im = Image.new("RGB", (640, 360), "white")
    d = ImageDraw.Draw(im)
    path = next((f for f in FONTS if Path(f).exists()), None)
    font: Any = ImageFont.truetype(path, 15) if path else ImageFont.load_default()
    top = max([int(v) for _, v in bars] + [1])
    for i, (name, v) in enumerate(bars):
        x = 60 + i * 140
        hgt = int(260 * int(v) / top)
        d.rectangle((x, 320 - hgt, x + 90, 320), fill=(40, 90, 160))
        d.text((x, 325), f"{name}: {v}", fill="black", font=font)
    median = data.get("median_hours_to_removal")
    d.text((60, 20), f"{words['title']} · {words['median']}: {words['none'] if median is None else median}",
           fill="black", font=font)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()
