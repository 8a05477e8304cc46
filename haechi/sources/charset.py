"""Decode a fetched page the way a browser does: byte-order mark, then the charset the HTTP
header declares, then a ``<meta>`` charset near the top, then a guess.

Why: Korean boards and older Japanese and Chinese sites still serve EUC-KR/CP949, Shift_JIS or
GBK. Decoding those as UTF-8 mangles every non-ASCII URL on the page (``/data/사진.jpg``
becomes ``/data/����.jpg``), so the media are never found. Labels map to the codecs browsers
really use (the WHATWG Encoding standard): "euc-kr" is Windows-949, "shift_jis" is
Windows-31J, "iso-8859-1" and "ascii" are Windows-1252, "gb2312" is GBK.
"""

from __future__ import annotations

import codecs
import re

#: WHATWG labels whose browser codec differs from Python's codec of the same name
_LABELS = {
    "euc-kr": "cp949", "euckr": "cp949", "ks_c_5601-1987": "cp949", "ks_c_5601-1989": "cp949", "ksc5601": "cp949",
    "ksc_5601": "cp949", "korean": "cp949", "csksc56011987": "cp949", "iso-ir-149": "cp949", "windows-949": "cp949",
    "cp949": "cp949", "uhc": "cp949",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "ms_kanji": "cp932", "csshiftjis": "cp932",
    "windows-31j": "cp932", "x-sjis": "cp932", "ms932": "cp932", "cp932": "cp932",
    "gb2312": "gbk", "gbk": "gbk", "chinese": "gbk", "csgb2312": "gbk", "x-gbk": "gbk", "gb_2312-80": "gbk",
    "iso-ir-58": "gbk", "gb18030": "gb18030",
    "big5": "big5hkscs", "big5-hkscs": "big5hkscs", "cn-big5": "big5hkscs", "x-x-big5": "big5hkscs",
    "euc-jp": "euc_jp", "x-euc-jp": "euc_jp", "iso-2022-jp": "iso2022_jp", "csiso2022jp": "iso2022_jp",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "l1": "cp1252", "ascii": "cp1252", "us-ascii": "cp1252",
    "windows-1252": "cp1252", "cp1252": "cp1252", "iso8859-1": "cp1252", "iso_8859-1": "cp1252",
    "unicode-1-1-utf-8": "utf-8", "utf8": "utf-8", "utf-8": "utf-8", "x-unicode20utf8": "utf-8",
}
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_META = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_:.()+-]+)""", re.IGNORECASE)
_XML = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.+-]+)""", re.IGNORECASE)
#: how far into the document a <meta charset> is looked for (the standard says 1024; pages
#: with long comments or scripts first are common, and a later meta still wins in browsers)
PRESCAN_BYTES = 8192
#: when nothing is declared and the bytes are not UTF-8: each codec, the characters its text is
#: made of, and the share of non-ASCII characters that must be of them for the guess to stand.
#: Order matters: GB18030 decodes almost any bytes to Han characters, so Korean (Hangul) and
#: Japanese (kana) are recognised first, as a Korean- or Japanese-locale browser would.
_GUESSES: tuple[tuple[str, tuple[tuple[int, int], ...], float], ...] = (
    ("cp949", ((0xAC00, 0xD7A3),), 0.7),
    ("cp932", ((0x3040, 0x30FF),), 0.15),
    ("gb18030", ((0x4E00, 0x9FFF), (0x3000, 0x303F), (0xFF00, 0xFFEF)), 0.7),
    ("big5hkscs", ((0x4E00, 0x9FFF), (0x3000, 0x303F), (0xFF00, 0xFFEF)), 0.7),
)


def codec_for(label: str | None) -> str | None:
    """The Python codec a browser uses for charset ``label``, or None if unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _LABELS:
        return _LABELS[name]
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    return codec


def header_charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return codec_for(value)
    return None


def _guess(body: bytes) -> str:
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(body) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"  # a truncated body cut inside a character
    for codec, ranges, needed in _GUESSES:
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            continue
        wide = [ord(c) for c in text if ord(c) >= 0x80]
        if wide and sum(any(lo <= c <= hi for lo, hi in ranges) for c in wide) >= needed * len(wide):
            return codec
    return "cp1252"


def sniff(body: bytes, content_type: str = "") -> str:
    """The codec to decode ``body`` with (see the module docstring for the order)."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec
    declared = header_charset(content_type)
    if declared:
        return declared
    head = body[:PRESCAN_BYTES]
    for match in (_XML.search(head), _META.search(head)):
        if match:
            meta = codec_for(match.group(1).decode("ascii"))
            if meta:  # a page in UTF-16 cannot declare it in ASCII: browsers read it as UTF-8
                return "utf-8" if meta.startswith(("utf_16", "utf-16")) else meta
    return _guess(body)


_CSS_CHARSET = re.compile(rb'^@charset "([A-Za-z0-9_:.()+-]+)";')


def decode_css(body: bytes, content_type: str = "", referrer_codec: str | None = None) -> str:
    """A style sheet as text, by the CSS Syntax order: BOM, HTTP charset, ``@charset``, then
    the referring page's encoding, then UTF-8."""
    codec = next((c for bom, c in _BOMS if body.startswith(bom)), None) or header_charset(content_type)
    if codec is None:
        match = _CSS_CHARSET.match(body[:128])
        codec = codec_for(match.group(1).decode("ascii")) if match else None
    codec = codec or referrer_codec or "utf-8"
    start = next((len(bom) for bom, c in _BOMS if body.startswith(bom) and c == codec), 0)
    return body[start:].decode(codec, errors="replace")


def decode_html(body: bytes, content_type: str = "") -> tuple[str, str]:
    """(text, codec) of a page; undecodable bytes become U+FFFD, as in a browser."""
    codec = sniff(body, content_type)
    start = next((len(bom) for bom, c in _BOMS if body.startswith(bom) and c == codec), 0)
    return body[start:].decode(codec, errors="replace"), codec
