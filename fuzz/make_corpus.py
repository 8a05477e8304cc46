"""Generate the small seed corpora committed under fuzz/corpus/ (run once; outputs are tiny)."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

from PIL import Image, PngImagePlugin

ROOT = Path(__file__).parent / "corpus"


def put(target: str, name: str, data: bytes) -> None:
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def img(fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 40, 90)).save(buf, fmt, **kw)
    return buf.getvalue()


#: one Telegram Desktop HTML page: a photo, an absent video with its thumbnail, a joined message, a link
TELEGRAM_PAGE = (
    b'<div class="page_header"><div class="content"><div class="text bold">chat</div></div></div>'
    b'<div class="history"><div class="message service" id="message-1"><div class="body details">1 May</div></div>'
    b'<div class="message default clearfix" id="message1"><div class="body">'
    b'<div class="pull_right date details" title="01.05.2026 10:00:00 UTC+09:00">10:00</div>'
    b'<div class="from_name">A</div><div class="media_wrap clearfix">'
    b'<a class="photo_wrap clearfix pull_left" href="photos/photo_1.jpg">'
    b'<img class="photo" src="photos/photo_1_thumb.jpg"/></a></div></div></div>'
    b'<div class="message default clearfix joined" id="message2"><div class="body">'
    b'<div class="media_wrap clearfix"><div class="media clearfix pull_left media_video">'
    b'<img class="thumb pull_left" src="photos/photo_1_thumb.jpg"/><div class="body">'
    b'<div class="title bold">Video file</div>'
    b'<div class="description">Exceeds maximum size, change data exporting settings to download.</div>'
    b'</div></div></div><div class="text">see <a href="https://a.example/">x</a></div></div></div></div>'
)


def main() -> None:
    png, jpg, gif = img("PNG"), img("JPEG", quality=70), img("GIF")
    for name, data in (("a.png", png), ("a.jpg", jpg), ("a.gif", gif)):
        put("decode", name, data)
        put("assess", name, data)
    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", "Steps: 20, Sampler: Euler")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=meta)
    put("assess", "sd.png", buf.getvalue())
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.png", png)
        zf.writestr("../evil.png", png)
    put("archive", "a.zip", z.getvalue())
    t = io.BytesIO()
    with tarfile.open(fileobj=t, mode="w") as tf:
        info = tarfile.TarInfo("a.jpg")
        info.size = len(jpg)
        tf.addfile(info, io.BytesIO(jpg))
    put("archive", "a.tar", t.getvalue())
    put("exchange", "a.jsonl", b'{"signal_type":"pdq","signal":"' + b"ab" * 32 + b'","label":"x"}\n')
    put("exchange", "a.csv", b"signal_type,signal,label\nmd5," + b"0" * 32 + b",y\n")
    put("exchange", "s.csv", b"case_reference,hash_type,hash_value\nC-1,pdq," + b"f" * 64 + b"\n")
    put("exchange", "v.jsonl", b'{"signal_type":"vpdq","signal":"[\\"' + b"ab" * 32 + b',100,0.000\\"]"}\n')
    put("exports", "result.json", json.dumps({"name": "c", "id": 1, "messages": [
        {"id": 1, "type": "message", "date": "2026-01-01T00:00:00", "from": "x", "photo": "photos/a.jpg",
         "text_entities": [{"type": "link", "text": "https://a.example/"}]}]}).encode())
    put("exports", "a.warc", b"WARC/1.1\r\nWARC-Type: resource\r\nWARC-Target-URI: https://a.example/a.png\r\n"
        b"Content-Type: image/png\r\nWARC-Date: 2026-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
        b"Content-Length: " + str(len(png)).encode() + b"\r\n\r\n" + png + b"\r\n\r\n")
    put("telegram", "messages.html", TELEGRAM_PAGE)
    put("html", "a.html", b'<html><head><meta property="og:image" content="/o.jpg"><base href="/b/"></head>'
        b'<img src="a.jpg" srcset="b.jpg 1x, c.jpg 2x"><video poster="p.jpg"><source src="v.mp4"></video>'
        b'<a href="/next">n</a>')
    put("capture", "tme.html", b"<div class='tgme_widget_message'><a style=\"width:480px;background-image:"
        b"url('/cdn/file/a.jpg')\"></a></div><style>.b{background:url(\"b.png\")} @import 'c.css';</style>")
    put("capture", "euckr.html", "<meta http-equiv='Content-Type' content='text/html; charset=euc-kr'><p>사진</p>"
        "<img src='/data/사진.jpg?q=사진'>".encode("cp949"))
    put("capture", "sjis.html", "<p>写真をアップロード</p><img src='/写真.jpg'>".encode("cp932"))
    put("capture", "srcset.html", b'<picture><source srcset="https://c.example/f_auto,w_400/a.jpg 400w, '
        b'x.jpg (1,2) 2x,, y.jpg"></picture><img data-src="/l.jpg" data-srcset="/m.jpg 1x" poster="p.jpg">'
        b'<a href="/full.JPEG">f</a><meta name="twitter:image" content="//cdn.example/t.jpg"><base href="http://[x">')
    put("capture", "a.css", b"@charset 'utf-8'; .a{background:-webkit-image-set('a.png' 1x, url(b\\2c c.png) 2x)}"
        b"@font-face{src:url(f.woff2)} /* url(no.jpg) */")
    put("api", "a", b'{"pdq":"' + b"ab" * 32 + b'"}' + b"\x00" * 8 + b"pdq")


if __name__ == "__main__":
    main()
