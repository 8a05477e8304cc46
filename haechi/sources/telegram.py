"""Telegram Desktop exports, both formats it writes: JSON (``result.json``) and HTML
(``messages.html``, ``messages2.html``… — the default), of one chat or of a whole account
(``chats``, ``left_chats`` and every other chat list).

Why one row per media message, always: a support centre reads the summary as "what this chat
held". A video the export did not download is still a video someone posted, at a date, by a
sender; the export's placeholder says why its file is absent, and the thumbnail the export keeps
(Telegram Desktop saves it even when it skips the file) is hashed and matched in its place.
Voice and audio messages are listed as skipped, with the reason. Nothing is dropped in silence.

Media paths are relative to the file that names them (``result.json`` or the chat's HTML page)
and are confined to the export folder.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from haechi.errors import InputError
from haechi.sources.files import MediaRef

MAX_RESULT_JSON = 512 * 1024 * 1024
MAX_HTML_PAGE = 64 * 1024 * 1024

#: Telegram Desktop's placeholders for a file it did not download (JSON: the whole string, maybe
#: after a file name; HTML: the ``description`` of the media block) -> the reason we report
_ABSENT = (
    (re.compile(r"file not included|not included, change data exporting", re.I),
     "not downloaded: this media type was not selected in the export settings"),
    (re.compile(r"file exceeds maximum size|exceeds maximum size, change data exporting", re.I),
     "not downloaded: over the export's size limit"),
    (re.compile(r"file unavailable|unavailable, please try again later", re.I),
     "not downloaded: unavailable when the export ran"),
    # a photo or video sent with a timer ("Self-destructing photo", JSON self_destruct_period_seconds):
    # Telegram Desktop never exports one; the message itself is the evidence that it was sent
    (re.compile(r"^self-destructing (photo|video|media)$", re.I),
     "self-destructing media: Telegram Desktop never exports it (only the message that it was sent)"),
)
_PLACEHOLDER = re.compile(r"\((File [^)]*)\)\s*$")

#: media kinds that carry no picture: listed, never hashed
_SKIPPED_KINDS = {
    "voice_message": "voice message: audio is not matched (no picture)",
    "audio_file": "audio file: audio is not matched (no picture)",
}
#: animated stickers are Lottie vector animations (.tgs): their thumbnail is hashed instead
_NO_PIXELS_SUFFIXES = (".tgs",)

# Telegram writes control characters in JSON strings as \xNN, which JSON does not allow. Only a
# backslash that is itself not escaped starts an escape: an even run of backslashes before it.
_X_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\x([0-9A-Fa-f]{2})")


@dataclass
class TelegramMedia:
    """One message with media, as the export describes it (before any hashing)."""

    ref: MediaRef
    context: dict[str, Any]


@dataclass
class TelegramScan:
    items: list[TelegramMedia] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    messages: int = 0
    chats: int = 0
    absent: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    thumbnails: int = 0
    files: int = 0
    format: str = ""

    def summary(self) -> dict[str, Any]:
        """Counts for the ingest summary: messages seen, media found, files to hash, absent and
        skipped media by reason (hashed/failed counts come from the scan of ``items``)."""
        return {"format": self.format, "chats": self.chats, "messages": self.messages,
                "media_messages": len(self.items), "media_files": self.files,
                "thumbnails_for_absent_media": self.thumbnails, "absent": dict(self.absent),
                "skipped": dict(self.skipped)}


def read_export(export_dir: Path) -> TelegramScan:
    """Read a Telegram Desktop export folder (JSON or HTML; ``result.json`` wins when both).

    Sizes are not checked here: the hasher holds pictures to the file limit and streams videos."""
    root = export_dir.resolve()
    if root.is_file() and root.name in ("result.json", "messages.html"):  # the file instead of its folder
        root, export_dir = root.parent, export_dir.parent
    if not root.is_dir():
        raise InputError(str(export_dir), "no such folder (a Telegram Desktop export folder was expected)")
    if (root / "result.json").is_file():
        return _read_json(root, export_dir)
    pages = _html_pages(root)
    if pages:
        return _read_html(root, export_dir, pages)
    raise InputError(str(export_dir), "neither result.json nor messages.html: not a Telegram Desktop export")


# -- shared --------------------------------------------------------------------------------
def absent_reason(text: str) -> str | None:
    """The reason behind one of Telegram Desktop's "file not downloaded" placeholders, or None."""
    for pattern, reason in _ABSENT:
        if pattern.search(text):
            return reason
    return None


def _add(out: TelegramScan, root: Path, shown_root: Path, base: Path, anchor: str, context: dict[str, Any],
         rel: str | None, thumb: str | None, placeholder: str | None) -> None:
    """Turn one media message into exactly one item (``anchor``: the file that holds the message,
    as the user names it, for rows that have no media file)."""
    kind = context.get("media_kind") or "file"
    if rel:
        context["media_path"] = rel
    if kind in _SKIPPED_KINDS:
        skip = _SKIPPED_KINDS[kind]
        out.skipped[skip] += 1
        context.update(media_status="skipped", reason=skip)
        where = _shown(shown_root, root, base, rel) if rel else f"{anchor}#message{context.get('message_id')}"
        out.items.append(TelegramMedia(MediaRef(path=where, error=skip), context))
        return
    reason: str | None = absent_reason(placeholder) if placeholder else None
    if reason is None and rel and rel.lower().endswith(_NO_PIXELS_SUFFIXES):
        reason = "animated sticker (Lottie vector animation): no pixels to hash"
        rel = None
    if reason is None and rel:
        problem, path = _confined(root, base, rel)
        if problem is None:
            out.files += 1
            context.update(media_status="included", hashed="file")
            out.items.append(TelegramMedia(MediaRef(path=_shown(shown_root, root, base, rel), file=str(path)),
                                           context))
            return
        reason = problem
    if reason is None:
        reason = "no file in the export for this media"
    out.absent[reason] += 1
    context.update(media_status="absent", reason=reason)
    if thumb and absent_reason(thumb) is None:
        problem, path = _confined(root, base, thumb)
        if problem is None:
            out.thumbnails += 1
            context.update(hashed="thumbnail", thumbnail_path=thumb)
            out.items.append(TelegramMedia(MediaRef(path=_shown(shown_root, root, base, thumb), file=str(path)),
                                           context))
            return
    context["hashed"] = None
    where = _shown(shown_root, root, base, rel) if rel else f"{anchor}#message{context.get('message_id')}"
    out.items.append(TelegramMedia(MediaRef(path=where, error=f"media not in the export: {reason}"), context))


def _confined(root: Path, base: Path, rel: str) -> tuple[str | None, Path]:
    try:
        path = (base / rel).resolve()
    except (ValueError, OSError) as exc:  # a NUL byte in the name (fuzz_exports), a name too long
        return f"invalid media path: {exc}", base
    if root not in path.parents:
        return "path escapes the export folder", path
    if not path.is_file():
        return "media file missing from the export folder", path
    return None, path


def _shown(shown_root: Path, root: Path, base: Path, rel: str) -> str:
    try:
        inner = (base / rel).relative_to(root) if not Path(rel).is_absolute() else Path(rel)
    except ValueError:
        inner = Path(rel)
    return f"{shown_root}/{inner.as_posix()}".replace("\x00", "\\x00")


# -- JSON ----------------------------------------------------------------------------------
def parse_json(text: str, source: str) -> Any:
    """Parse Telegram's JSON: ``\\xNN`` escapes and raw control characters are accepted."""
    try:
        return json.loads(_X_ESCAPE.sub(r"\1\\u00\2", text), strict=False)
    except ValueError as exc:
        raise InputError(source, f"malformed JSON: {exc}") from None


def _json_chats(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(list name, chat) for a single-chat export or every chat list of a whole-account one."""
    if isinstance(data.get("messages"), list):
        return [("chat", data)]
    chats: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        listed = value.get("list") if isinstance(value, dict) else None
        if not isinstance(listed, list):
            continue
        chats += [(key, c) for c in listed if isinstance(c, dict) and isinstance(c.get("messages"), list)]
    return chats


def _json_kind(msg: dict[str, Any]) -> str:
    if "photo" in msg:
        return "photo"
    kind = msg.get("media_type")
    if isinstance(kind, str) and kind:
        return kind
    mime = str(msg.get("mime_type") or "")
    return "video_file" if mime.startswith("video/") else "file"


def _text_links(message: dict[str, Any]) -> list[str]:
    links = []
    entities = message.get("text_entities") or (message.get("text") if isinstance(message.get("text"), list) else [])
    for ent in entities or []:
        if not isinstance(ent, dict):
            continue
        if ent.get("type") == "link" and isinstance(ent.get("text"), str):
            links.append(ent["text"])
        elif ent.get("type") == "text_link" and isinstance(ent.get("href"), str):
            links.append(ent["href"])
    return [u if u.startswith(("http://", "https://")) else "https://" + u for u in links]


def _read_json(root: Path, shown: Path) -> TelegramScan:
    result = root / "result.json"
    if result.stat().st_size > MAX_RESULT_JSON:
        raise InputError(str(result), "result.json is too large")
    try:
        text = result.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(result), f"not UTF-8 text: {exc}") from None
    data = parse_json(text, str(result))
    if not isinstance(data, dict):
        raise InputError(str(result), "malformed export: top level is not an object")
    out = TelegramScan(format="json")
    for list_name, chat in _json_chats(data):
        out.chats += 1
        chat_name = str(chat.get("name") or chat.get("id") or "")
        for msg in chat["messages"]:
            if not isinstance(msg, dict) or msg.get("type") != "message":
                continue
            out.messages += 1
            out.links += [u for u in _text_links(msg) if u not in out.links]
            if "photo" not in msg and "file" not in msg and "media_type" not in msg:
                continue
            raw = msg.get("photo") if "photo" in msg else msg.get("file")
            raw = raw if isinstance(raw, str) else ""
            placeholder = raw if _PLACEHOLDER.search(raw) else None
            if msg.get("self_destruct_period_seconds") and (placeholder or not raw):
                placeholder = f"Self-destructing {'photo' if 'photo' in msg else 'media'}"
            thumb = msg.get("thumbnail") if isinstance(msg.get("thumbnail"), str) else None
            context = {"chat": chat_name, "chat_id": chat.get("id"), "chat_type": chat.get("type"),
                       "list": list_name, "message_id": msg.get("id"), "date": msg.get("date"),
                       "sender": msg.get("from"), "sender_id": msg.get("from_id"),
                       "forwarded_from": msg.get("forwarded_from"), "media_kind": _json_kind(msg),
                       "mime_type": msg.get("mime_type")}
            rel = None if placeholder else (raw or None)
            _add(out, root, shown, root, f"{shown}/result.json", context, rel, thumb, placeholder)
    for list_name, entry in _json_account_media(data):  # profile pictures, stories: the account's own media
        key = next(k for k in _ACCOUNT_MEDIA_KEYS if isinstance(entry.get(k), str))
        raw = entry[key]
        placeholder = raw if _PLACEHOLDER.search(raw) else None
        context = {"chat": None, "chat_id": None, "chat_type": None, "list": list_name, "message_id": entry.get("id"),
                   "date": entry.get("date"), "sender": None, "sender_id": None, "forwarded_from": None,
                   "media_kind": "photo" if key == "photo" else "file", "mime_type": entry.get("mime_type")}
        thumb = entry.get("thumbnail") if isinstance(entry.get("thumbnail"), str) else None
        _add(out, root, shown, root, f"{shown}/result.json", context, None if placeholder else raw, thumb,
             placeholder)
    return out


_ACCOUNT_MEDIA_KEYS = ("photo", "file", "media")


def _json_account_media(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(list name, entry) for every other list of a whole-account export whose entries carry a
    media path (``profile_pictures``, ``stories``…), not chats."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(data.get("messages"), list):
        return found  # one chat's export
    for key, value in data.items():
        listed = value.get("list") if isinstance(value, dict) else value
        if not isinstance(listed, list):
            continue
        found += [(key, e) for e in listed if isinstance(e, dict) and "messages" not in e
                  and any(isinstance(e.get(k), str) for k in _ACCOUNT_MEDIA_KEYS)]
    return found


# -- HTML ----------------------------------------------------------------------------------
_PAGE = re.compile(r"^messages(\d*)\.html$")
#: the original post's date that follows the source's name in a forwarded message's header
_FORWARD_DATE = re.compile(r"\s*\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}\s*$")


def _html_pages(root: Path) -> list[Path]:
    """Every ``messages*.html`` under the export, each chat's pages in order (full-account
    exports keep one folder per chat under ``chats/``)."""
    pages = [p for p in root.rglob("messages*.html") if _PAGE.match(p.name) and p.is_file()]

    def key(p: Path) -> tuple[str, int]:
        m = _PAGE.match(p.name)
        return str(p.parent), int(m.group(1) or 1) if m else 0

    return sorted(pages, key=key)


_VOID = {"img", "br", "hr", "meta", "link", "input", "source", "wbr", "area", "base", "col", "embed", "param",
         "track"}
#: a present file's wrapper class -> media kind
_WRAPS = {"photo_wrap": "photo", "video_file_wrap": "video_file", "animated_wrap": "animation",
          "sticker_wrap": "sticker", "media_video": "video_file", "media_photo": "photo",
          "media_voice_message": "voice_message", "media_audio_file": "audio_file", "media_file": "file"}
#: media blocks that hold no file (a contact card, a place, a poll, a call, a game, an invoice)
_NOT_MEDIA = {"media_contact", "media_location", "media_live_location", "media_venue", "media_poll", "media_call",
              "media_game", "media_invoice", "media_dice", "poll"}
#: the title of a generic media block -> media kind (more precise than its class)
_TITLES = {"photo": "photo", "video file": "video_file", "video message": "video_message",
           "animation": "animation", "sticker": "sticker", "voice message": "voice_message",
           "audio file": "audio_file"}


@dataclass
class _HtmlMessage:
    id: str
    joined: bool
    date: str | None = None
    sender: str | None = None
    forwarded_from: str | None = None
    forwarded: bool = False
    kind: str | None = None
    href: str | None = None
    thumb: str | None = None
    title: str = ""
    description: str = ""
    links: list[str] = field(default_factory=list)
    has_media: bool = False
    not_media: bool = False


class _ChatPage(HTMLParser):
    """Collects the messages of one ``messages*.html`` page without building a DOM."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, frozenset[str]]] = []
        self.messages: list[_HtmlMessage] = []
        self.chat_name = ""
        self._current: _HtmlMessage | None = None
        self._msg_depth = -1
        self._capture: str | None = None  # which text is being read
        self._capture_depth = -1
        self._buf: list[str] = []

    def _inside(self, cls: str) -> bool:
        return any(cls in c for _, c in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        classes = frozenset(a.get("class", "").split())
        m = self._current
        if tag == "div" and "message" in classes and "service" not in classes and a.get("id", "").startswith(
                "message") and not self._inside("message"):
            m = self._current = _HtmlMessage(id=a["id"][len("message"):], joined="joined" in classes)
            self.messages.append(m)
            self._msg_depth = len(self.stack)
        if tag not in _VOID:
            self.stack.append((tag, classes))
        if self._capture is None and tag == "div" and "text" in classes and "bold" in classes and self._inside(
                "page_header") and not self.chat_name:
            self._start("chat_name")
        if m is None:
            return
        forwarded = self._inside("forwarded")
        if "forwarded" in classes and "body" in classes:
            m.forwarded = True
        if tag == "div" and "date" in classes and "details" in classes and m.date is None and not forwarded:
            m.date = a.get("title") or None
        elif tag == "div" and "from_name" in classes and not forwarded and m.sender is None:
            self._start("sender")
        elif tag == "div" and "from_name" in classes and forwarded and m.forwarded_from is None:
            self._start("forwarded_from")
        elif tag == "div" and "media_wrap" in classes:
            m.has_media = True
        if self._inside("media_wrap"):
            for cls in classes:
                if cls in _WRAPS and m.kind is None:
                    m.kind = _WRAPS[cls]
                m.not_media = m.not_media or cls in _NOT_MEDIA
            if tag == "a" and a.get("href") and m.href is None and not a["href"].startswith(("#", "http:", "https:",
                                                                                              "tg:", "mailto:")):
                m.href = a["href"]
            elif tag == "img" and a.get("src") and m.thumb is None:
                m.thumb = a["src"]
            elif tag == "div" and "title" in classes and "bold" in classes:
                self._start("title")
            elif tag == "div" and "description" in classes:
                self._start("description")
        elif (tag == "a" and a.get("href", "").startswith(("http://", "https://")) and self._inside("text")
              and a["href"] not in m.links):
            m.links.append(a["href"])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def _start(self, what: str) -> None:
        self._capture, self._capture_depth, self._buf = what, len(self.stack), []

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._buf.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        while self.stack:
            open_tag, _ = self.stack.pop()
            if self._capture is not None and len(self.stack) < self._capture_depth:
                self._finish()
            if self._current is not None and len(self.stack) <= self._msg_depth:
                self._current, self._msg_depth = None, -1
            if open_tag == tag:
                break

    def _finish(self) -> None:
        text = " ".join("".join(self._buf).split())
        m = self._current
        if self._capture == "chat_name":
            self.chat_name = text
        elif m is not None and self._capture == "sender":
            m.sender = text
        elif m is not None and self._capture == "forwarded_from":
            m.forwarded_from = _FORWARD_DATE.sub("", text) or None
        elif m is not None and self._capture == "title":
            m.title = m.title or text
        elif m is not None and self._capture == "description":
            m.description = m.description or text
        self._capture = None


def _read_html(root: Path, shown: Path, pages: list[Path]) -> TelegramScan:
    out = TelegramScan(format="html")
    chat_dirs: set[Path] = set()
    sender: str | None = None
    forwarded_from: str | None = None
    chat_dir: Path | None = None
    chat_name = ""
    for page in pages:
        if page.stat().st_size > MAX_HTML_PAGE:
            out.errors.append(f"{page}: page is over {MAX_HTML_PAGE} bytes, not read")
            continue
        if page.parent != chat_dir:
            chat_dir, sender, chat_name, forwarded_from = page.parent, None, "", None
        chat_dirs.add(page.parent)
        parser = _ChatPage()
        try:
            parser.feed(page.read_text(encoding="utf-8", errors="replace"))
            parser.close()
        except (AssertionError, ValueError) as exc:  # HTMLParser on pathological markup
            out.errors.append(f"{page}: unreadable HTML: {exc}")
            continue
        chat_name = parser.chat_name or chat_name
        rel_chat = page.parent.relative_to(root).as_posix()
        chat_id = None if rel_chat == "." else rel_chat
        list_name = rel_chat.split("/")[0] if rel_chat != "." else "chat"
        for m in parser.messages:
            out.messages += 1
            sender = m.sender if (m.sender or not m.joined) else sender
            # a forward in several parts names its source once: the joined parts carry it
            forwarded_from = (m.forwarded_from or (forwarded_from if m.joined else None)) if m.forwarded else None
            out.links += [u for u in m.links if u not in out.links]
            if not m.has_media:
                continue
            kind = _TITLES.get(m.title.lower()) or m.kind or "file"
            if kind == "video_file" and "round_video" in (m.href or m.thumb or ""):
                kind = "video_message"
            if kind not in ("photo", "video_file", "video_message", "animation", "sticker", "voice_message",
                            "audio_file", "file"):
                continue
            if (m.not_media and m.kind is None) or (kind == "file" and not m.href and not m.description):
                continue  # a contact, place, poll or game block: no media file
            context = {"chat": chat_name, "chat_id": chat_id, "list": list_name, "page": page.name,
                       "message_id": int(m.id) if m.id.lstrip("-").isdigit() else m.id, "date": m.date,
                       "sender": sender, "sender_id": None, "forwarded_from": forwarded_from,
                       "media_kind": kind, "mime_type": None}
            # the title says so only for a block with no file (a file may be named anything)
            placeholder = next((t for t in (m.description, "" if m.href else m.title) if absent_reason(t)), None)
            thumb = m.thumb if m.thumb and m.thumb != m.href else None
            anchor = _shown(shown, root, page.parent, page.name)
            _add(out, root, shown, page.parent, anchor, context, None if placeholder else m.href, thumb, placeholder)
    out.chats = len(chat_dirs)
    return out
