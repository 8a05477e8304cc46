"""Decoding and sources: hostile or broken input gets a clear error naming it."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.errors import MediaError
from haechi.media import decode_image
from haechi.signals.borders import trim_borders
from haechi.signals.pdq import hamming, pdq_of
from tests.conftest import require_shared


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(
        b"IEND", b"")


def _jpeg_bytes(seed: int = 1) -> bytes:
    buf = io.BytesIO()
    scene(seed).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_decompression_bomb_rejected_before_decoding() -> None:
    with pytest.raises(MediaError, match="decompression bomb") as exc:
        decode_image(_png_header_only(100_000, 100_000), "bomb.png", max_pixels=80_000_000)
    assert exc.value.source == "bomb.png"


@pytest.mark.parametrize(
    "data,expected",
    [
        (b"", "empty file"),
        (b"hello, this is not an image at all" * 10, "not a recognised image"),
    ],
)
def test_bad_bytes(data: bytes, expected: str) -> None:
    with pytest.raises(MediaError, match=expected):
        decode_image(data, "x.jpg", max_pixels=10**8)


def test_truncated_jpeg_is_an_error_not_a_grey_image() -> None:
    data = _jpeg_bytes()
    with pytest.raises(MediaError, match="truncated|corrupt"):
        decode_image(data[: len(data) // 2], "half.jpg", max_pixels=10**8)


def test_exif_orientation_applied_and_size_reported(tmp_path: Path) -> None:
    im = scene(3, (400, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW when displayed
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    decoded = decode_image(buf.getvalue(), "o.jpg", max_pixels=10**8)
    assert (decoded.width, decoded.height) == (200, 400)
    assert decoded.rgb.shape[:2] == (400, 200)


def test_draft_decoding_keeps_pdq_close() -> None:
    big = scene(9, (2400, 1800))
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=92)
    drafted = decode_image(buf.getvalue(), "big.jpg", max_pixels=10**8)
    full = decode_image(buf.getvalue(), "big.jpg", max_pixels=10**8, draft_min_side=None)
    assert drafted.rgb.shape[1] < full.rgb.shape[1]
    assert (drafted.width, drafted.height) == (2400, 1800)
    assert hamming(pdq_of(drafted.rgb).hash, pdq_of(full.rgb).hash) <= 10


def test_pdq_matches_reference_hash_on_bridge() -> None:
    data = require_shared() / "pdq_bridge" / "dih" / "bridge-1-original.jpg"
    decoded = decode_image(data.read_bytes(), str(data), max_pixels=10**8, draft_min_side=None)
    reference_cpp = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"
    result = pdq_of(decoded.rgb)
    assert result.hash == "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    assert hamming(result.hash, reference_cpp) <= 10
    assert result.quality == 100


def test_dihedral_transform_names_follow_pil_conventions() -> None:
    from haechi.signals.pdq import TRANSFORMS

    T = Image.Transpose
    im = scene(12)
    original = pdq_of(np.asarray(im)).hash
    ops = {"rot90": T.ROTATE_90, "rot180": T.ROTATE_180, "rot270": T.ROTATE_270, "flip_h": T.FLIP_LEFT_RIGHT,
           "flip_v": T.FLIP_TOP_BOTTOM, "transpose": T.TRANSPOSE, "transverse": T.TRANSVERSE}
    for name, op in ops.items():
        res = pdq_of(np.asarray(im.transpose(op)), dihedral=True)
        dists = [hamming(v, original) for v in res.variants]
        assert TRANSFORMS[int(np.argmin(dists))] == name
        assert min(dists) <= 16  # PDQ rounding on a non-square image


def test_reference_dihedral_files_all_match() -> None:
    dih = require_shared() / "pdq_bridge" / "dih"
    original = pdq_of(np.asarray(Image.open(dih / "bridge-1-original.jpg").convert("RGB"))).hash
    for path in sorted(dih.glob("bridge-*.jpg")):
        res = pdq_of(np.asarray(Image.open(path).convert("RGB")), dihedral=True)
        assert min(hamming(v, original) for v in res.variants) <= 16, path.name
        if "original" not in path.name:
            assert hamming(res.hash, original) > 31, path.name


def test_trim_borders_recovers_content() -> None:
    content = np.asarray(scene(4, (300, 200)))
    framed = np.zeros((260, 400, 3), np.uint8)
    framed[30:230, 50:350] = content
    trimmed = trim_borders(framed)
    assert trimmed is not None and trimmed.shape[:2] == (200, 300)
    assert trim_borders(content) is None


# -- sources ---------------------------------------------------------------------------------

def _hash(paths: list[Path | str], home: Path) -> list[dict]:
    with Haechi(home=home, workers=1) as h:
        return [r.public() for r in h.hash_paths(paths)]


def test_zip_members_traversal_and_bomb(tmp_path: Path) -> None:
    archive = tmp_path / "found.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("good/one.jpg", _jpeg_bytes(1))
        zf.writestr("../../etc/evil.jpg", _jpeg_bytes(2))
        zf.writestr("bomb.bin", b"\x00" * 5_000_000)  # compresses ~1000:1
    rows = {r["path"].split("!")[1]: r for r in _hash([archive], tmp_path / "h")}
    assert rows["good/one.jpg"]["error"] is None and len(rows["good/one.jpg"]["pdq"]) == 64
    assert "unsafe member path" in rows["../../etc/evil.jpg"]["error"]
    assert "zip bomb" in rows["bomb.bin"]["error"]
    assert all(r["error"] is None or str(archive) in r["error"] for r in rows.values())


def test_tar_members_and_links(tmp_path: Path) -> None:
    archive = tmp_path / "dump.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        data = _jpeg_bytes(3)
        info = tarfile.TarInfo("a/pic.jpg")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("a/link.jpg")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
    rows = {r["path"].split("!")[1]: r for r in _hash([archive], tmp_path / "h")}
    assert rows["a/pic.jpg"]["media_type"] == "image" and rows["a/pic.jpg"]["error"] is None
    assert "not a regular file" in rows["a/link.jpg"]["error"]


def test_folder_walk_symlink_loop_and_bad_files(tmp_path: Path) -> None:
    root = tmp_path / "dump"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "pic.jpg").write_bytes(_jpeg_bytes(4))
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("not an image")
    os.symlink(root, root / "sub" / "loop")
    os.symlink(root / "nowhere", root / "dangling.jpg")
    rows = {Path(r["path"]).relative_to(root).as_posix(): r for r in _hash([root], tmp_path / "h")}
    assert rows["sub/pic.jpg"]["error"] is None
    assert "empty file" in rows["empty.jpg"]["error"]
    assert "not a recognised image" in rows["notes.txt"]["error"]
    assert "loop" in rows["sub/loop"]["error"]
    assert "no such file" in rows["dangling.jpg"]["error"]
    assert all(r["error"] is None or r["path"] in r["error"] for r in rows.values())


REGRESSIONS = Path(__file__).parent / "data" / "fuzz_regressions"


@pytest.mark.parametrize("name", sorted(p.name for p in REGRESSIONS.iterdir() if "gif" in p.name))
def test_fuzz_findings_give_clear_errors(name: str) -> None:
    """Inputs atheris found that escaped the decoder (truncated GIF frame headers: struct.error)."""
    from haechi.assess.run import AssessOptions, assess_ref
    from haechi.errors import MediaError
    from haechi.media import decode_image
    from haechi.sources import MediaRef

    data = (REGRESSIONS / name).read_bytes()
    with pytest.raises(MediaError) as exc:
        decode_image(data, name, max_pixels=4_000_000)
    assert name in str(exc.value)
    out = assess_ref(MediaRef(path=name, data=data), AssessOptions(4_000_000, 2_000_000))
    assert out["error"] and name in out["error"]


def test_fuzz_finding_zip_with_unsupported_version_is_a_clear_error(tmp_path: Path) -> None:
    """fuzz_archive: a zip whose header asks for an unsupported version raised NotImplementedError."""
    from haechi.errors import InputError
    from haechi.sources import iter_media
    from haechi.sources.files import Limits

    bad = tmp_path / "x.zip"
    bad.write_bytes((REGRESSIONS / "archive-zip-version.zip").read_bytes())
    limits = Limits(max_file_bytes=10**6, max_archive_bytes=10**7, max_compression_ratio=100)
    try:
        refs = list(iter_media([bad], limits))
    except InputError as exc:
        assert "x.zip" in str(exc)
    else:
        assert all(r.error for r in refs) or refs == []


def test_fuzz_finding_csv_bare_carriage_return_is_a_line_error() -> None:
    """fuzz_exchange: a bare CR inside an unquoted CSV field raised csv.Error out of the parser."""
    from haechi.errors import InputError
    from haechi.services.banks import parse_exchange

    text = (REGRESSIONS / "exchange-bare-cr.csv").read_bytes().decode("utf-8", errors="replace")
    rows = list(parse_exchange(text, "bad.csv"))
    assert rows and all(isinstance(r, (dict, InputError)) for _, r in rows)


def test_fuzz_finding_wacz_with_unsupported_zip_version_is_reported() -> None:
    """fuzz_exports: a WACZ (zip) asking for an unsupported version raised NotImplementedError."""
    import shutil
    import tempfile

    from haechi.sources import exports

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.wacz"
        shutil.copyfile(REGRESSIONS / "exports-wacz-zip-version.bin", path)
        result = exports.warc(path, 1_000_000)
    assert result.errors and "a.wacz" in result.errors[0]


def test_fuzz_finding_html_with_malformed_ipv6_urls() -> None:
    """fuzz_html: a <base href> (or media URL) like "http://[bad" raised ValueError out of extract."""
    from haechi.sources.html_media import extract

    found = (REGRESSIONS / "html-bad-ipv6-base.html").read_bytes().decode("utf-8", "replace")
    extract(found, "https://site.example/a/b")
    media, links = extract('<base href="http://[x"><img src="/ok.jpg"><img src="http://[::1"><a href="//[z">z</a>',
                           "https://site.example/a/b")
    assert media == ["https://site.example/ok.jpg"] and links == []


def test_fuzz_finding_zip_member_with_empty_name(tmp_path: Path) -> None:
    """fuzz_archive: a zip member with an empty file name made ZipInfo.is_dir() raise IndexError."""
    from haechi.errors import InputError
    from haechi.sources import iter_media
    from haechi.sources.files import Limits

    bad = tmp_path / "y.zip"
    bad.write_bytes((REGRESSIONS / "archive-empty-member-name.zip").read_bytes())
    limits = Limits(max_file_bytes=10**6, max_archive_bytes=10**7, max_compression_ratio=100)
    try:
        list(iter_media([bad], limits))
    except InputError as exc:
        assert "y.zip" in str(exc)


def test_fuzz_finding_stopncii_csv_bare_carriage_return() -> None:
    """fuzz_exchange: a bare CR in the StopNCII-style CSV raised csv.Error out of the exchange loader."""
    from haechi.cases.exchange import exchange
    from haechi.errors import InputError

    text = (REGRESSIONS / "exchange-stopncii-bare-cr.csv").read_bytes().decode("utf-8", "replace")
    for fmt in ("stopncii", "hma"):
        try:
            exchange(fmt).load(text, "x.csv")
        except InputError as exc:
            assert "x.csv" in str(exc)
