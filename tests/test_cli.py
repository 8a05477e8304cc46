"""The ``haechi`` command as a user runs it: JSON lines, exit statuses, --home everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from haechi.demo.transforms import make_copy

HAECHI = [sys.executable, "-m", "haechi.cli"]


def run(*args: str | Path, home: Path, check_code: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAECHI_")}
    env["HAECHI_WORKERS"] = "2"
    env["COLUMNS"] = "200"  # a caseworker's terminal, not 80 columns: tables keep whole words
    proc = subprocess.run([*HAECHI, *map(str, args), "--home", str(home)], capture_output=True, text=True,
                          env=env, timeout=300)
    if check_code is not None:
        assert proc.returncode == check_code, proc.stderr + proc.stdout
    return proc


def lines(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_hash_json_contract(images: Path, tmp_path: Path) -> None:
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xffnope")
    proc = run("hash", images, "--json", home=tmp_path / "h", check_code=1)
    rows = {Path(r["path"]).name: r for r in lines(proc)}
    assert set(rows) == {f"img_{i}.png" for i in range(6)} | {"broken.jpg"}
    good = rows["img_0.png"]
    assert len(good["pdq"]) == 64 and len(good["sha256"]) == 64 and len(good["md5"]) == 32
    assert 0 <= good["pdq_quality"] <= 100 and good["media_type"] == "image"
    assert (good["width"], good["height"]) == (640, 480) and good["error"] is None
    assert "broken.jpg" in rows["broken.jpg"]["error"]


def test_bank_and_scan_end_to_end(images: Path, tmp_path: Path) -> None:
    home = tmp_path / "h"
    run("bank", "create", "reported", "--description", "from a victim", home=home)
    run("bank", "create", "reported", home=home, check_code=2)
    run("bank", "add", "reported", images, "--label", "case-7", home=home)
    listed = lines(run("bank", "list", "--json", home=home))
    assert listed[0]["name"] == "reported" and listed[0]["entries"] == 18
    found = tmp_path / "found"
    found.mkdir()
    make_copy(Image.open(images / "img_1.png"), "rot90", 1).save(found / "rotated.jpg")
    make_copy(Image.open(images / "img_2.png"), "crop_offcentre", 2).save(found / "cropped.jpg")
    rows = {Path(r["path"]).name: r for r in lines(run("scan", found, "--bank", "reported", "--json", home=home))}
    assert rows["rotated.jpg"]["matches"][0]["transform"] == "rot90"
    assert rows["cropped.jpg"]["matches"][0]["label"] == "case-7"
    # export -> import into a new bank round-trips
    exported = run("bank", "export", "reported", "--format", "csv", home=home).stdout
    (tmp_path / "x.csv").write_text(exported)
    run("bank", "create", "copy", home=home)
    imported = lines(run("bank", "import", "copy", tmp_path / "x.csv", "--json", home=home))[0]
    assert imported["imported"] == 18
    # hash-only bank (no media): PDQ matching still finds the rotated copy
    rows = {Path(r["path"]).name: r for r in lines(run("scan", found, "--bank", "copy", "--json", home=home))}
    assert rows["rotated.jpg"]["matches"][0]["bank"] == "copy"
    entry = rows["rotated.jpg"]["matches"][0]["entry_id"]
    run("bank", "remove", "copy", str(entry), home=home)
    run("bank", "delete", "copy", home=home)
    assert [b["name"] for b in lines(run("bank", "list", "--json", home=home))] == ["reported"]


def test_scan_exit_codes(images: Path, tmp_path: Path) -> None:
    home = tmp_path / "h"
    run("bank", "create", "b", home=home)
    assert run("scan", images / "img_0.png", "--json", home=home).returncode == 0
    (tmp_path / "bad.png").write_bytes(b"")
    proc = run("scan", images / "img_0.png", tmp_path / "bad.png", "--json", home=home, check_code=1)
    assert len(lines(proc)) == 2
    run("scan", images, "--bank", "nope", home=home, check_code=2)
    run("scan", images, "--threshold", "abc", home=home, check_code=2)
    run("bank", "import", "b", tmp_path / "missing.jsonl", home=home, check_code=2)


def test_home_from_environment(images: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAECHI_")}
    env["HAECHI_HOME"] = str(tmp_path / "envhome")
    subprocess.run([*HAECHI, "bank", "create", "x"], check=True, env=env, capture_output=True)
    assert (tmp_path / "envhome" / "haechi.db").exists()


def test_adding_to_a_bank_that_does_not_exist_says_how_to_create_it(images: Path, tmp_path: Path) -> None:
    """`bank add` does not create a bank; its error said only "bank not found" and left a
    caseworker guessing (issue #20's caseworker). It names the command that creates one, and so
    does a scan limited to a bank that does not exist; nothing is banked."""
    home = tmp_path / "h"
    proc = run("bank", "add", "victim-2026", images, home=home, check_code=2)
    assert "bank not found: victim-2026" in proc.stderr
    assert "haechi bank create victim-2026" in " ".join(proc.stderr.split())
    proc = run("scan", images, "--bank", "victim-2026", home=home, check_code=2)
    assert "haechi bank create victim-2026" in " ".join(proc.stderr.split())
    listed = run("bank", "list", "--json", home=home)
    assert "victim-2026" not in listed.stdout
