"""Exact hashes do not need pixels (#16): a file whose bytes are banked (MD5/SHA-256, e.g. from
a partner's list) is matched even when it cannot be decoded — a JPEG or PNG cut off halfway by an
interrupted download, a header with nothing after it, a format outside the allow-list (PDF/EPS).
The row keeps the decode error beside the exact match; a file nobody banked still only errors."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.sources import MediaRef


def _undecodable(tmp_path: Path) -> dict[str, bytes]:
    buf = io.BytesIO()
    scene(7).save(buf, "JPEG")
    jpeg = buf.getvalue()
    buf = io.BytesIO()
    scene(8).save(buf, "PNG")
    png = buf.getvalue()
    return {
        "half.jpg": jpeg[: len(jpeg) // 2],
        "half.png": png[: len(png) // 2],
        "header_only.jpg": jpeg[:20],
        "doc.pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        "art.eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
    }


@pytest.mark.parametrize("signal_type", ["md5", "sha256"])
def test_banked_bytes_match_although_undecodable(sqlite_haechi: Haechi, tmp_path: Path, signal_type: str) -> None:
    files = _undecodable(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "unbanked_half.jpg").write_bytes(files["half.jpg"][:-100])
    sqlite_haechi.create_bank("partner")
    digest = {"md5": lambda b: hashlib.md5(b, usedforsecurity=False).hexdigest(),
              "sha256": lambda b: hashlib.sha256(b).hexdigest()}[signal_type]
    sqlite_haechi.add_signals("partner", [(signal_type, digest(d)) for d in files.values()])
    rows = {Path(r["path"]).name: r for r in sqlite_haechi.scan([folder])}
    assert set(rows) == set(files) | {"unbanked_half.jpg"}
    for name in files:
        row = rows[name]
        assert row["error"], name  # still says why it has no PDQ
        assert [(m["bank"], m["signal_type"], m["distance"], m["method"]) for m in row["matches"]] == \
            [("partner", signal_type, 0, "exact")], name
    assert rows["unbanked_half.jpg"]["matches"] == [] and rows["unbanked_half.jpg"]["error"]


def test_undecodable_archive_member_and_bytes_match(sqlite_haechi: Haechi, tmp_path: Path) -> None:
    half = _undecodable(tmp_path)["half.jpg"]
    sqlite_haechi.create_bank("b")
    sqlite_haechi.add_signals("b", [("md5", hashlib.md5(half, usedforsecurity=False).hexdigest())])
    zpath = tmp_path / "dl.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("사진/잘림.jpg", half)
    (row,) = list(sqlite_haechi.scan([zpath]))
    assert row["path"].endswith("사진/잘림.jpg") and row["error"] and row["matches"][0]["signal_type"] == "md5"
    (row,) = list(sqlite_haechi.scan_refs([MediaRef(path="http://example.org/a.jpg", data=half)]))
    assert row["error"] and [m["signal_type"] for m in row["matches"]] == ["md5"]


def test_image_still_ok(sqlite_haechi: Haechi, tmp_path: Path) -> None:
    """The decodable path is unchanged: a whole JPEG matches by every signal."""
    p = tmp_path / "whole.jpg"
    scene(9).save(p, "JPEG")
    sqlite_haechi.create_bank("b")
    list(sqlite_haechi.add_to_bank("b", [p]))
    (row,) = list(sqlite_haechi.scan([p]))
    assert row["error"] is None and {m["signal_type"] for m in row["matches"]} == {"md5", "sha256", "pdq"}
    Image.open(p).verify()


@pytest.mark.slow
def test_cli_table_shows_the_error_beside_the_exact_match(tmp_path: Path) -> None:
    from tests.test_cli import run

    half = _undecodable(tmp_path)["half.jpg"]
    (tmp_path / "half.jpg").write_bytes(half)
    (tmp_path / "sig.csv").write_text(f"md5,{hashlib.md5(half, usedforsecurity=False).hexdigest()},cut\n")
    home = tmp_path / "h"
    run("bank", "create", "b", home=home)
    run("bank", "import", "b", tmp_path / "sig.csv", home=home)
    proc = run("scan", tmp_path / "half.jpg", home=home, check_code=1)
    flat = " ".join(proc.stdout.split())
    assert "md5" in flat and "truncated" in flat and "copy" in flat
    assert "1 file(s) matched (1 with a copy, 0 with leads only: for a reviewer), 1 unreadable" in flat
