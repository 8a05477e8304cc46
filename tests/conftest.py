"""Shared fixtures. Store tests run on SQLite always and on PostgreSQL when it is reachable
(``HAECHI_TEST_POSTGRES_URL``, default the local server CI has), each in a fresh schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from haechi import Haechi
from haechi.demo.samples import scene

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PG_URL = os.environ.get("HAECHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    if os.environ.get("HAECHI_TEST_NO_POSTGRES"):
        return False
    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False


def _reference_watermark_without_torch() -> None:
    """Let tests import ``invisible-watermark`` (the reference the vendored DWT-DCT decoder is
    checked against, installed --no-deps by ``make``) without torch: its ``rivaGan`` module
    imports torch at load time, so stand in for that one module."""
    import importlib.util
    import sys
    import types

    if importlib.util.find_spec("torch") is not None or "imwatermark.rivaGan" in sys.modules:
        return
    stub = types.ModuleType("imwatermark.rivaGan")

    class RivaWatermark:
        def __init__(self, *a: object, **k: object) -> None:
            raise RuntimeError("RivaGAN watermarks need torch, which the tests do not install")

    stub.RivaWatermark = RivaWatermark  # type: ignore[attr-defined]
    sys.modules["imwatermark.rivaGan"] = stub


_reference_watermark_without_torch()
PG_AVAILABLE = _pg_available()
REQUIRE_PG = bool(os.environ.get("HAECHI_REQUIRE_POSTGRES"))


#: whole modules that are slow: every test starts `haechi` subprocesses (CLI runs, SIGKILLs),
#: drives Chromium, or runs Celery workers against Redis
SLOW_MODULES = {"test_cli.py", "test_crash_safety.py", "test_browser.py", "test_distributed.py"}
#: single slow tests in modules that hold no `import pytest` of their own at module level
SLOW_TESTS = {"test_assess.py::test_learned_detector_scores_blended_faces_above_real_ones",  # real photos
              "test_assess.py::test_learned_detector_scores_held_out_face_swaps_above_their_originals",
              "test_assess.py::test_learned_detector_on_video_frames"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` what the inner loop (``pytest -m "not slow"``, ``make test-fast``) leaves
    out; ``make test`` runs everything. Other slow tests carry ``@pytest.mark.slow`` themselves,
    and the PostgreSQL half of ``database_url`` is marked where it is parametrised."""
    slow = pytest.mark.slow
    for item in items:
        module = item.path.name
        if module in SLOW_MODULES or f"{module}::{item.originalname}" in SLOW_TESTS:
            item.add_marker(slow)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'haechi.db'}"
        return
    if not PG_AVAILABLE:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but not reachable at {PG_URL}")
        pytest.skip("PostgreSQL not reachable")
    schema = f"haechi_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def haechi(tmp_path: Path, database_url: str) -> Iterator[Haechi]:
    h = Haechi(home=tmp_path / "home", database_url=database_url, workers=1)
    yield h
    h.close()


@pytest.fixture
def sqlite_haechi(tmp_path: Path) -> Iterator[Haechi]:
    h = Haechi(home=tmp_path / "home", workers=1)
    yield h
    h.close()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Six generated photo-like PNGs in a folder."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(6):
        scene(200 + i).save(folder / f"img_{i}.png")
    return folder


def require_shared() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data not present")
    return SHARED_DATA
