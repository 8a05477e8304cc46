"""Self-destructing photos and videos (#16): a common way to send intimate images in a chat.
Telegram Desktop never exports one (the HTML export writes a "Self-destructing photo" block, the
JSON one a ``self_destruct_period_seconds`` with no file): the row says exactly that, not a vague
"no file", so a caseworker knows no file will ever come from this export. A file that is merely
*named* so is still a file. Exports generated here."""

from __future__ import annotations

import json
from pathlib import Path

from haechi.demo.samples import scene
from haechi.sources import exports
from tests.test_ingest_telegram import _HEAD, _TAIL, _generic, _html_msg

WHY = "self-destructing media: Telegram Desktop never exports it"


def test_html_self_destructing_blocks_say_why(tmp_path: Path) -> None:
    folder = tmp_path / "ChatExport"
    (folder / "files").mkdir(parents=True)
    scene(4).save(folder / "files" / "Self-destructing photo", "JPEG")  # a document named like the block
    msgs = [
        _html_msg(1, _generic("media_photo", "Self-destructing photo", "")),
        _html_msg(2, _generic("media_video", "Self-destructing video", "")),
        _html_msg(3, _generic("media_file", "Self-destructing photo", "", href="files/Self-destructing photo")),
    ]
    (folder / "messages.html").write_text(_HEAD.format(name="c") + "".join(msgs) + _TAIL, encoding="utf-8")
    items = {i.context["message_id"]: i for i in exports.telegram(folder, 10**8).items}
    assert items[1].context["media_kind"] == "photo" and items[1].context["reason"].startswith(WHY)
    assert items[2].context["media_kind"] == "video_file" and items[2].context["reason"].startswith(WHY)
    assert items[1].ref.error and WHY in items[1].ref.error
    assert items[3].context["media_status"] == "included" and items[3].ref.file


def test_json_self_destructing_media_say_why(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    msgs = [
        {"id": 1, "type": "message", "date": "2026-11-21T10:00:00", "from": "A", "text": "",
         "photo": "(File not included. Change data exporting settings to download.)",
         "width": 1280, "height": 720, "self_destruct_period_seconds": 10},
        {"id": 2, "type": "message", "date": "2026-11-21T10:01:00", "from": "A", "text": "",
         "media_type": "video_file", "self_destruct_period_seconds": 15},
        {"id": 3, "type": "message", "date": "2026-11-21T10:02:00", "from": "A", "text": "",
         "photo": "(File not included. Change data exporting settings to download.)", "width": 1, "height": 1},
    ]
    (folder / "result.json").write_text(json.dumps({"name": "c", "type": "private_chat", "id": 5, "messages": msgs}))
    items = {i.context["message_id"]: i for i in exports.telegram(folder, 10**8).items}
    assert items[1].context["reason"].startswith(WHY) and items[2].context["reason"].startswith(WHY)
    assert "not selected" in items[3].context["reason"]  # an ordinary photo left out keeps its reason
