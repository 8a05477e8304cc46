"""A command-line option that is not given means the setting (issue #22, F1): the CLI, the library
and the API must agree on the PDQ threshold. Run in-process (typer's runner) to stay fast."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from haechi.cli.main import app
from haechi.demo.samples import scene
from haechi.signals.pdq import hamming, pdq_of


def _copy_at_distance(original: Image.Image, low: int, high: int) -> tuple[Image.Image, int]:
    """The original with a growing inverted corner, the first at PDQ distance in [low, high]."""
    rgb = np.asarray(original.convert("RGB"))
    base = pdq_of(rgb).hash
    for side in range(40, 240, 5):
        copy = rgb.copy()
        copy[:side, :side] = 255 - copy[:side, :side]
        d = hamming(base, pdq_of(copy).hash)
        if low <= d <= high:
            return Image.fromarray(copy), d
    raise AssertionError("no copy in the distance range")


@pytest.fixture
def banked_and_copy(tmp_path: Path) -> tuple[Path, Path, int]:
    home = tmp_path / "home"
    folder = tmp_path / "banked"
    folder.mkdir()
    original = scene(301)
    original.save(folder / "original.png")
    found = tmp_path / "found"
    found.mkdir()
    copy, distance = _copy_at_distance(original, 8, 14)
    copy.save(found / "copy.png")
    runner = CliRunner()
    for args in (["bank", "create", "reported"], ["bank", "add", "reported", str(folder)]):
        result = runner.invoke(app, [*args, "--home", str(home)], env={"HAECHI_PDQ_THRESHOLD": None})
        assert result.exit_code == 0, result.output
    return home, found, distance


def _pdq_matches(home: Path, found: Path, env: dict[str, str | None], *extra: str) -> list[int]:
    result = CliRunner().invoke(app, ["scan", str(found), "--json", "--home", str(home), *extra], env=env)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return [m["distance"] for r in rows for m in r["matches"] if m["signal_type"] == "pdq"]


def test_scan_honours_the_configured_pdq_threshold(banked_and_copy: tuple[Path, Path, int]) -> None:
    home, found, distance = banked_and_copy
    assert _pdq_matches(home, found, {"HAECHI_PDQ_THRESHOLD": None})  # default 31: the copy matches
    assert _pdq_matches(home, found, {"HAECHI_PDQ_THRESHOLD": "5"}) == []  # the setting rules
    # an explicit option still overrides the setting
    assert _pdq_matches(home, found, {"HAECHI_PDQ_THRESHOLD": "5"}, "--threshold", str(distance + 2))


def test_scan_honours_the_threshold_in_the_toml_file(banked_and_copy: tuple[Path, Path, int]) -> None:
    home, found, _ = banked_and_copy
    (home / "haechi.toml").write_text("pdq_threshold = 5\n")
    assert _pdq_matches(home, found, {"HAECHI_PDQ_THRESHOLD": None}) == []
