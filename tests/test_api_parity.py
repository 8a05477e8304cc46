"""Issue #20 part 3: one matcher behind every door. ``POST /m/lookup`` with a mirrored copy once
found nothing while ``scan`` found it at distance 0; now both doors run the same matcher and
report the same copies."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from haechi import Haechi
from haechi.api.app import create_app
from haechi.demo.samples import scene
from haechi.demo.site import serve
from haechi.demo.transforms import make_copy

FAMILIES = ["flip_h", "rot90", "crop_centre", "border", "resize"]


@pytest.fixture
def door(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Haechi]]:
    h = Haechi(home=tmp_path / "home", workers=1, hash_pool_workers=0)
    h.add_user("pt", "partner", None)
    token = h.create_token("pt")
    h.create_bank("VICTIM_1")
    scene(660).save(tmp_path / "o.png")
    list(h.add_to_bank("VICTIM_1", [tmp_path / "o.png"]))
    yield (TestClient(create_app(h, lookup_rate=10_000, allow_private_urls=True)), {"Authorization": f"Bearer {token}"},
           h)
    h.close()


@pytest.mark.parametrize("family", FAMILIES)
def test_post_lookup_and_scan_report_the_same_copies(door: tuple[TestClient, dict[str, str], Haechi],
                                                     family: str, tmp_path: Path) -> None:
    client, auth, h = door
    buf = io.BytesIO()
    make_copy(scene(660), family, seed=3).convert("RGB").save(buf, "JPEG", quality=90)
    (tmp_path / "c.jpg").write_bytes(buf.getvalue())
    (row,) = list(h.scan([tmp_path / "c.jpg"]))
    scanned = {m["bank"] for m in row["matches"] if m["verdict"] == "copy"}
    assert scanned == {"VICTIM_1"}, (family, row["matches"])
    r = client.post("/m/lookup", files={"photo": ("c.jpg", buf.getvalue(), "image/jpeg")}, headers=auth)
    assert r.status_code == 200, r.text
    api_banks = {bank for by_bank in r.json().values() for bank in by_bank}
    assert api_banks == scanned, (family, r.json())
    # the legacy format differs in shape only: it once looked up the file's two hashes alone and
    # missed mirrors, rotations, crops and borders that the default format found
    r = client.post("/m/lookup", params={"format": "legacy"}, files={"photo": ("c.jpg", buf.getvalue(), "image/jpeg")},
                    headers=auth)
    assert r.status_code == 200 and set(r.json()["pdq"]) == scanned, (family, r.json())
    # and a URL the server fetches goes through the same matcher, in both formats
    unrelated = io.BytesIO()
    scene(661).save(unrelated, "JPEG", quality=90)
    with serve({"/c.jpg": ("image/jpeg", buf.getvalue()), "/u.jpg": ("image/jpeg", unrelated.getvalue())}) as site:
        r = client.get("/m/lookup", params={"url": f"{site}/c.jpg"}, headers=auth)
        assert r.status_code == 200 and {b for by_bank in r.json().values() for b in by_bank} == scanned, r.text
        r = client.get("/m/lookup", params={"url": f"{site}/c.jpg", "format": "legacy"}, headers=auth)
        assert r.status_code == 200 and set(r.json()["pdq"]) == scanned, r.text
        r = client.get("/m/lookup", params={"url": f"{site}/u.jpg"}, headers=auth)
        assert r.status_code == 200 and all(not by_bank for by_bank in r.json().values()), r.text
    r = client.post("/m/lookup", files={"photo": ("u.jpg", unrelated.getvalue(), "image/jpeg")}, headers=auth)
    assert all(not by_bank for by_bank in r.json().values())
    r = client.post("/m/lookup", params={"format": "legacy"}, files={"photo": ("u.jpg", unrelated.getvalue(),
                                                                              "image/jpeg")}, headers=auth)
    assert r.json() == {"md5": [], "pdq": []}, r.text


def test_partners_never_see_labels_caseworkers_do(tmp_path: Path) -> None:
    """Issue #17 medium 6: `/api/lookup` returned "case C-2026-00001 / <a name>" to a partner."""
    with Haechi(home=tmp_path / "home", workers=1) as h:
        for user, role in (("pt", "partner"), ("cw", "caseworker")):
            h.add_user(user, role, None)
        tokens = {u: h.create_token(u) for u in ("pt", "cw")}
        h.create_bank("VICTIM_2")
        [entry] = h.add_signals("VICTIM_2", [("md5", "c" * 32)], label="case C-2026-00001 / Kim Jiyoung")
        client = TestClient(create_app(h, lookup_rate=10_000))
        seen = {}
        for user, token in tokens.items():
            auth = {"Authorization": f"Bearer {token}"}
            r = client.get("/api/lookup", params={"signal_type": "md5", "signal": "c" * 32}, headers=auth)
            item = client.get(f"/c/bank/VICTIM_2/content/{entry}", headers=auth)
            seen[user] = r.text + item.text
    assert "Kim Jiyoung" not in seen["pt"] and "C-2026" not in seen["pt"]
    assert "Kim Jiyoung" in seen["cw"]
