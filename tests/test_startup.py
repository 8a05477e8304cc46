"""Start-up cost (issue #22): ``haechi --help`` and ``haechi hash`` must not load faiss, numba,
OpenCV, onnxruntime or dlib — together they are ~0.3 s of a CLI start and no hashing needs them.
A subprocess, because the test process itself has loaded them long ago."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from haechi.demo.samples import scene

HEAVY = ("faiss", "numba", "llvmlite", "cv2", "onnxruntime", "dlib")

PROBE = """
import json, sys
heavy = {heavy!r}
def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in heavy)
import haechi.cli.main
after_import = loaded()
sys.argv = ["haechi", "hash", {image!r}, "--home", {home!r}, "--json"]
try:
    haechi.cli.main.main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"import": after_import, "hash": loaded(), "code": code}}))
"""


def test_cli_start_and_hash_load_no_heavy_native_module(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    scene(3).save(image)
    code = PROBE.format(heavy=HEAVY, image=str(image), home=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["code"] == 0
    assert result["import"] == [], f"`import haechi.cli.main` loaded {result['import']}"
    assert result["hash"] == [], f"`haechi hash` loaded {result['hash']}"
