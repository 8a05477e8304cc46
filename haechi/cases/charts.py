"""The stats chart (PNG) for the CLI (``stats --png``) and the web stats page. Drawn with Pillow:
four bars and a caption do not justify matplotlib as a dependency."""

from __future__ import annotations

import io
from typing import Any


def stats_png(data: dict[str, Any]) -> bytes:
    from PIL import Image, ImageDraw

    bars = [("found", data["items_found"]), ("notified", data["items_notified"]), ("removed", data["items_removed"]),
            ("still up", data["items_still_up"])]
    im = Image.new("RGB", (640, 360), "white")
    d = ImageDraw.Draw(im)
    top = max([int(v) for _, v in bars] + [1])
    for i, (name, v) in enumerate(bars):
        x = 60 + i * 140
        hgt = int(260 * int(v) / top)
        d.rectangle((x, 320 - hgt, x + 90, 320), fill=(40, 90, 160))
        d.text((x, 325), f"{name}: {v}", fill="black")
    d.text((60, 20), f"Haechi items by status; median hours to removal: {data['median_hours_to_removal']}",
           fill="black")
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()
