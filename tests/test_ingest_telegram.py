"""Telegram Desktop exports (#16), both formats, generated here in the shapes Telegram Desktop
writes (placeholders, thumbnail names, HTML classes): one row per media message, absent files
with their reason, the export's thumbnail hashed in their place, voice skipped with a reason,
``\\xNN`` escapes read, and a summary that counts everything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.demo.video_samples import clip_frames, write_video
from haechi.errors import InputError
from haechi.sources import exports
from haechi.sources.telegram import parse_json, read_export

NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
TOO_BIG = "(File exceeds maximum size. Change data exporting settings to download.)"
UNAVAILABLE = "(File unavailable, please try again later)"


def _msg(mid: int, **media: object) -> dict[str, object]:
    return {"id": mid, "type": "message", "date": f"2026-11-2{mid % 10}T10:00:00", "from": "Member A",
            "from_id": "user100000001", "text": "", "text_entities": [], **media}


def _media_files(folder: Path) -> None:
    (folder / "photos").mkdir(parents=True)
    (folder / "video_files").mkdir()
    (folder / "stickers").mkdir()
    (folder / "round_video_messages").mkdir()
    (folder / "voice_messages").mkdir()
    scene(1).save(folder / "photos/photo_1@21-11-2026_10-00-00.jpg")
    scene(2).resize((320, 240)).save(folder / "video_files/clip_big.mp4_thumb.jpg")
    scene(3).resize((256, 192)).save(folder / "stickers/sticker.webp", "WEBP")
    scene(4).resize((128, 96)).save(folder / "stickers/AnimatedSticker.tgs_thumb.jpg")
    (folder / "stickers/AnimatedSticker.tgs").write_bytes(b"\x1f\x8b\x08\x00lottie")
    write_video(folder / "round_video_messages/file_1.mp4", clip_frames(5, 2.0, size=(240, 240)))
    (folder / "voice_messages/audio_1.ogg").write_bytes(b"OggS\x00voice")


def _json_messages() -> list[dict[str, object]]:
    return [
        _msg(1, photo="photos/photo_1@21-11-2026_10-00-00.jpg", width=640, height=480),
        _msg(2, file=NOT_INCLUDED, thumbnail=NOT_INCLUDED, media_type="video_file", mime_type="video/mp4"),
        _msg(3, file=TOO_BIG, thumbnail="video_files/clip_big.mp4_thumb.jpg", media_type="video_file",
             mime_type="video/mp4"),
        _msg(4, photo=UNAVAILABLE, width=1280, height=960),
        _msg(5, file="stickers/sticker.webp", media_type="sticker", sticker_emoji="x", mime_type="image/webp"),
        _msg(6, file="stickers/AnimatedSticker.tgs", thumbnail="stickers/AnimatedSticker.tgs_thumb.jpg",
             media_type="sticker", mime_type="application/x-tgsticker"),
        _msg(7, file="round_video_messages/file_1.mp4", media_type="video_message", mime_type="video/mp4"),
        _msg(8, file="voice_messages/audio_1.ogg", media_type="voice_message", mime_type="audio/ogg"),
        _msg(9, file="name.mp4 " + TOO_BIG, media_type="animation", mime_type="video/mp4"),
        _msg(10, text=[{"type": "link", "text": "t.me/somechannel"}],
             text_entities=[{"type": "link", "text": "t.me/somechannel"}]),
        {"id": 11, "type": "service", "action": "pin_message"},
    ]


@pytest.fixture
def json_export(tmp_path: Path) -> Path:
    folder = tmp_path / "ChatExport_2026-11-25"
    _media_files(folder)
    chat = {"name": "Example group", "type": "private_supergroup", "id": 1000000001, "messages": _json_messages()}
    text = json.dumps(chat, ensure_ascii=False, indent=1)
    # Telegram writes control characters as \xNN (not JSON): put one in a message text
    text = text.replace('"text": ""', '"text": "price list\\x0Bcall me\\\\x41"', 1)
    (folder / "result.json").write_text(text, encoding="utf-8")
    return folder


def _by_id(scan: exports.ExportScan) -> dict[object, exports.ExportItem]:
    return {item.context["message_id"]: item for item in scan.items}


def test_json_export_one_item_per_media_message_with_reasons(json_export: Path) -> None:
    scan = exports.telegram(json_export, 10**8)
    items = _by_id(scan)
    assert sorted(items, key=int) == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # every media message, one item each
    assert items[1].ref.file and items[1].context["media_status"] == "included"
    assert items[2].ref.error and "not selected in the export settings" in items[2].ref.error
    assert items[2].context["media_status"] == "absent" and items[2].context["hashed"] is None
    assert items[3].context["media_status"] == "absent" and items[3].context["hashed"] == "thumbnail"
    assert items[3].ref.file and items[3].ref.file.endswith("clip_big.mp4_thumb.jpg")
    assert "size limit" in items[3].context["reason"]
    assert items[4].ref.error and "unavailable" in items[4].ref.error
    assert items[5].ref.file and items[5].context["media_kind"] == "sticker"
    assert items[6].context["hashed"] == "thumbnail" and "Lottie" in items[6].context["reason"]
    assert items[7].ref.file and items[7].context["media_kind"] == "video_message"
    assert items[8].context["media_status"] == "skipped" and items[8].ref.error
    assert items[9].context["media_status"] == "absent" and "size limit" in items[9].context["reason"]
    assert scan.links == ["https://t.me/somechannel"]
    summary = scan.summary
    assert summary["messages"] == 10 and summary["media_messages"] == 9
    assert summary["media_files"] == 3 and summary["thumbnails_for_absent_media"] == 2
    assert sum(summary["absent"].values()) == 5 and sum(summary["skipped"].values()) == 1


def test_telegram_x_escapes_are_read_not_rejected() -> None:
    data = parse_json('{"a": "x\\x0By", "b": "\\\\x41", "c": "\\\\\\x41"}', "result.json")
    assert data == {"a": "x\x0by", "b": "\\x41", "c": "\\A"}
    with pytest.raises(InputError, match="malformed JSON"):
        parse_json('{"a": ', "result.json")


def test_full_account_json_reads_every_chat_list(tmp_path: Path) -> None:
    folder = tmp_path / "DataExport"
    (folder / "chats/chat_001/photos").mkdir(parents=True)
    (folder / "chats/chat_002/photos").mkdir(parents=True)
    scene(1).save(folder / "chats/chat_001/photos/p1.jpg")
    scene(2).save(folder / "chats/chat_002/photos/p2.jpg")
    data = {"about": "x", "personal_information": {"first_name": "A"},
            "chats": {"about": "", "list": [{"name": "one", "type": "personal_chat", "id": 1,
                                             "messages": [_msg(1, photo="chats/chat_001/photos/p1.jpg")]}]},
            "left_chats": {"about": "", "list": [{"name": "gone", "type": "private_supergroup", "id": 2,
                                                  "messages": [_msg(5, photo="chats/chat_002/photos/p2.jpg"),
                                                               _msg(6, photo=NOT_INCLUDED)]}]},
            "profile_pictures": [{"date": "2026-01-01T00:00:00", "photo": "profile_pictures/p.jpg"}],
            "contacts": {"about": "", "list": [{"first_name": "B", "phone_number": "+82"}]}}
    (folder / "profile_pictures").mkdir()
    scene(3).save(folder / "profile_pictures/p.jpg")
    (folder / "result.json").write_text(json.dumps(data), encoding="utf-8")
    scan = exports.telegram(folder, 10**8)
    assert [(i.context["list"], i.context["chat"], i.context["message_id"]) for i in scan.items] == [
        ("chats", "one", 1), ("left_chats", "gone", 5), ("left_chats", "gone", 6), ("profile_pictures", None, None)]
    assert scan.items[3].ref.file and scan.items[3].ref.file.endswith("p.jpg")
    assert scan.items[1].ref.file and scan.summary["chats"] == 2


def test_media_path_escaping_the_export_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    scene(1).save(tmp_path / "outside.jpg")
    (folder / "result.json").write_text(json.dumps({"name": "c", "id": 1, "messages": [
        _msg(1, photo="../outside.jpg")]}), encoding="utf-8")
    (item,) = exports.telegram(folder, 10**8).items
    assert item.ref.file is None and item.ref.error and "escapes the export folder" in item.ref.error


def test_not_an_export_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a Telegram Desktop export"):
        read_export(tmp_path)


# -- HTML ----------------------------------------------------------------------------------
_HEAD = """<!DOCTYPE html>
<html>
 <head><meta charset="utf-8"/><title>Exported Data</title>
  <link href="css/style.css" rel="stylesheet"/></head>
 <body onload="CheckLocation();">
  <div class="page_wrap">
   <div class="page_header">
    <div class="content">
     <div class="text bold">
{name}
     </div>
    </div>
   </div>
   <div class="page_body chat_page">
    <div class="history">
"""
_TAIL = """    </div>
   </div>
  </div>
 </body>
</html>
"""


def _html_msg(mid: int, media: str = "", text: str = "", joined: bool = False, sender: str = "Member A") -> str:
    cls = "message default clearfix" + (" joined" if joined else "")
    who = "" if joined else f'     <div class="from_name">\n{sender}\n     </div>\n'
    body = f'     <div class="text">\n{text}\n     </div>\n' if text else ""
    wrap = f'     <div class="media_wrap clearfix">\n{media}\n     </div>\n' if media else ""
    return (f'     <div class="{cls}" id="message{mid}">\n'
            '      <div class="pull_left userpic_wrap"><div class="userpic userpic1"></div></div>\n'
            '      <div class="body">\n'
            f'     <div class="pull_right date details" title="2{mid % 10}.11.2026 10:00:00 UTC+09:00">\n10:00\n'
            '     </div>\n'
            f"{who}{wrap}{body}"
            "      </div>\n     </div>\n")


def _generic(classes: str, title: str, description: str, thumb: str | None = None, href: str | None = None) -> str:
    opener = (f'<a class="media clearfix pull_left block_link {classes}" href="{href}">' if href
              else f'<div class="media clearfix pull_left {classes}">')
    closer = "</a>" if href else "</div>"
    pic = f'<img class="thumb pull_left" src="{thumb}"/>' if thumb else '<div class="fill pull_left"></div>'
    desc = f'<div class="description">\n{description}\n</div>' if description else ""
    return (f'{opener}\n{pic}\n<div class="body">\n<div class="title bold">\n{title}\n</div>\n{desc}\n'
            f'<div class="status details">\n00:41, 12.3 MB\n</div>\n</div>\n{closer}')


def _write_html_chat(folder: Path, name: str) -> None:
    _media_files(folder)
    page1 = [
        _html_msg(-1, "") .replace('class="message default clearfix" id="message-1"',
                                   'class="message service" id="message-1"'),
        _html_msg(1, '<a class="photo_wrap clearfix pull_left" href="photos/photo_1@21-11-2026_10-00-00.jpg">'
                     '<img class="photo" src="photos/photo_1@21-11-2026_10-00-00_thumb.jpg" '
                     'style="width: 260px; height: 195px"/></a>'),
        _html_msg(2, _generic("media_video", "Video file",
                              "Not included, change data exporting settings to download."), joined=True),
        _html_msg(3, _generic("media_video", "Video file",
                              "Exceeds maximum size, change data exporting settings to download.",
                              thumb="video_files/clip_big.mp4_thumb.jpg"), sender="Member B"),
        _html_msg(4, _generic("media_photo", "Photo", "Unavailable, please try again later.")),
    ]
    page2 = [
        _html_msg(5, '<a class="sticker_wrap clearfix pull_left" href="stickers/sticker.webp">'
                     '<img class="sticker" src="stickers/sticker_thumb.jpg"/></a>'),
        _html_msg(6, _generic("media_photo", "Sticker", "", thumb="stickers/AnimatedSticker.tgs_thumb.jpg",
                              href="stickers/AnimatedSticker.tgs")),
        _html_msg(7, _generic("media_video", "Video message", "", href="round_video_messages/file_1.mp4")),
        _html_msg(8, _generic("media_voice_message", "Voice message", "", href="voice_messages/audio_1.ogg")),
        _html_msg(9, text='see <a href="https://example.org/leak">this</a> and <a href="messages.html">x</a>'),
        _html_msg(10, _generic("media_location", "Location", "")),
        _html_msg(11, _generic("media_contact", "Member C", "+82 10 0000 0000")),
    ]
    (folder / "messages.html").write_text(_HEAD.format(name=name) + "".join(page1)
                                          + '<a class="pagination block_link" href="messages2.html">Next</a>'
                                          + _TAIL, encoding="utf-8")
    (folder / "messages2.html").write_text(_HEAD.format(name=name) + "".join(page2) + _TAIL, encoding="utf-8")


def test_html_export_one_item_per_media_message_with_reasons(tmp_path: Path) -> None:
    folder = tmp_path / "ChatExport_2026-11-25"
    _write_html_chat(folder, "Example group")
    scan = exports.telegram(folder, 10**8)
    items = _by_id(scan)
    assert sorted(items, key=int) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert items[1].ref.file and items[1].ref.file.endswith("photo_1@21-11-2026_10-00-00.jpg")
    assert items[1].context["chat"] == "Example group" and items[1].context["date"].startswith("21.11.2026")
    assert items[2].context["sender"] == "Member A"  # a joined message keeps the sender before it
    assert items[2].ref.error and "not selected" in items[2].ref.error
    assert items[3].context["sender"] == "Member B" and items[3].context["hashed"] == "thumbnail"
    assert items[3].ref.file and items[3].ref.file.endswith("clip_big.mp4_thumb.jpg")
    assert items[4].context["media_kind"] == "photo" and "unavailable" in items[4].context["reason"]
    assert items[5].ref.file and items[5].context["media_kind"] == "sticker"
    assert items[6].context["hashed"] == "thumbnail"
    assert items[7].context["media_kind"] == "video_message" and items[7].ref.file
    assert items[8].context["media_status"] == "skipped"
    assert scan.links == ["https://example.org/leak"]
    assert scan.summary["messages"] == 11 and scan.summary["format"] == "html"  # a contact card is no media


def test_full_account_html_export_reads_every_chat_folder(tmp_path: Path) -> None:
    root = tmp_path / "DataExport_2026-11-25"
    _write_html_chat(root / "chats" / "chat_001", "first chat")
    _write_html_chat(root / "chats" / "chat_002", "second chat")
    (root / "export_results.html").write_text("<html><body>Exported Data</body></html>", encoding="utf-8")
    scan = exports.telegram(root, 10**8)
    assert scan.summary["chats"] == 2 and len(scan.items) == 16
    assert {i.context["chat"] for i in scan.items} == {"first chat", "second chat"}
    assert {i.context["list"] for i in scan.items} == {"chats"}


def test_ingest_matches_the_thumbnail_of_an_absent_video_and_says_why(sqlite_haechi: Haechi,
                                                                      json_export: Path, tmp_path: Path) -> None:
    sqlite_haechi.create_bank("known")
    scene(2).save(tmp_path / "still.png")  # the banked original; the export holds a smaller thumbnail
    list(sqlite_haechi.add_to_bank("known", [tmp_path / "still.png"]))
    rows = [r for r in sqlite_haechi.ingest("telegram", json_export) if r["kind"] == "item"]
    assert len(rows) == 9
    by_id = {r["message_id"]: r for r in rows}
    assert by_id[3]["matches"] and by_id[3]["hashed"] == "thumbnail" and by_id[3]["media_status"] == "absent"
    assert by_id[2]["error"] and not by_id[2]["matches"]
    assert by_id[7]["media_type"] == "video" and by_id[7]["error"] is None
    assert by_id[5]["media_type"] == "image" and by_id[5]["pdq"]


def test_fuzz_finding_nul_byte_in_a_media_path_is_a_row_not_a_crash(tmp_path: Path) -> None:
    """fuzz_exports: a raw NUL inside a path (raw control characters are accepted, as Telegram
    writes them) raised ValueError out of Path.resolve."""
    (tmp_path / "result.json").write_bytes(b'{"name": "c", "id": 1, "messages": [{"id": 1, "type": "message", '
                                           b'"photo": "ph\x01\x00otos/a.jpg"}]}')
    (item,) = exports.telegram(tmp_path, 10**6).items
    assert item.ref.error and "invalid media path" in item.ref.error and "\x00" not in item.ref.path


def test_html_forwarded_media_keeps_sender_and_source(tmp_path: Path) -> None:
    """A forward shows the forwarder as sender and the source channel (with the original post's date)
    inside ``forwarded body``; a forward in several parts names its source only on the first."""
    folder = tmp_path / "export"
    (folder / "photos").mkdir(parents=True)
    scene(1).save(folder / "photos/photo_1.jpg")
    fwd = ('<div class="pull_left forwarded userpic_wrap"><div class="userpic"></div></div>'
           '<div class="forwarded body"><div class="from_name">\nSomeChannel <span class="date details" '
           'title="08.12.2020 03:40:00 UTC+03:00"> 08.12.2020 03:40:00</span>\n</div>'
           '<div class="media_wrap clearfix">{media}</div></div>')
    absent = _generic("media_video", "Video file", "Not included, change data exporting settings to download.")
    photo = ('<a class="photo_wrap clearfix pull_left" href="photos/photo_1.jpg">'
             '<img class="photo" src="photos/photo_1_thumb.jpg"/></a>')
    part2 = fwd.format(media=photo).replace('<div class="from_name">\nSomeChannel <span class="date details" '
                                            'title="08.12.2020 03:40:00 UTC+03:00"> 08.12.2020 03:40:00</span>\n'
                                            '</div>', "")
    msgs = [_html_msg(7, sender="Dave").replace('<div class="body">\n', '<div class="body">\n' + fwd.format(
                media=absent), 1),
            _html_msg(8, joined=True).replace('<div class="body">\n', '<div class="body">\n' + part2, 1),
            _html_msg(9, photo, sender="Erin")]
    (folder / "messages.html").write_text(_HEAD.format(name="c") + "".join(msgs) + _TAIL, encoding="utf-8")
    items = _by_id(exports.telegram(folder, 10**8))
    assert [(items[i].context["sender"], items[i].context["forwarded_from"]) for i in (7, 8, 9)] == [
        ("Dave", "SomeChannel"), ("Dave", "SomeChannel"), ("Erin", None)]
    assert items[7].context["media_status"] == "absent" and items[8].ref.file and items[9].ref.file


def test_summary_counts_every_media_message_once(sqlite_haechi: Haechi, json_export: Path,
                                                 tmp_path: Path) -> None:
    """The mechanism of the ingest summary row: reader counts plus what hashing did."""
    sqlite_haechi.create_bank("known")
    scene(2).save(tmp_path / "still.png")
    list(sqlite_haechi.add_to_bank("known", [tmp_path / "still.png"]))
    found = exports.telegram(json_export, 10**8)
    tally = exports.IngestTally(found)
    for item, row in zip(found.items, sqlite_haechi.scan_refs(i.ref for i in found.items), strict=True):
        tally.add(item.context, row)
    summary = tally.row()
    assert summary["kind"] == "summary" and summary["messages"] == 10 and summary["media_messages"] == 9
    # hashed: photo, absent video's thumbnail, webp sticker, Lottie sticker's thumbnail, round video
    assert summary["hashed"] == 5 and summary["matched"] >= 1 and summary["failed"] == {}
    assert summary["hashed"] + sum(summary["failed"].values()) + sum(summary["skipped"].values()) + (
        sum(summary["absent"].values()) - summary["thumbnails_for_absent_media"]) == summary["media_messages"]


def test_naming_result_json_itself_reads_its_folder(json_export: Path) -> None:
    scan = exports.telegram(json_export / "result.json", 10**8)
    assert len(scan.items) == 9 and scan.items[0].ref.path == f"{json_export}/photos/photo_1@21-11-2026_10-00-00.jpg"
