"""The real app in headless Chromium (Debian's /usr/bin/chromium) through Playwright: the
victim hashes photos in her browser and the server finds their copies; a caseworker logs in,
creates a case, reveals an item (logged) and approves a notice; the in-browser PDQ agrees with
the server's. Screenshots of key pages go to test-artifacts/ (kept by CI as artefacts)."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.demo.site import serve
from haechi.demo.transforms import make_copy
from haechi.media import decode_image
from haechi.services import accounts
from tests.conftest import SHARED_DATA
from tests.helpers import CENTRE

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PW = "correct horse battery staple"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (make system-deps)")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, Haechi]]:
    import uvicorn

    from haechi.api.app import create_app

    h = Haechi(home=tmp_path / "home", workers=1, **CENTRE)
    with h.db.session() as s:
        accounts.add_user(s, "cw", "caseworker", PW)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(h, secure_cookies=False, allow_private_urls=True),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", h
    server.should_exit = True
    thread.join(10)
    h.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def _server_pdq(path: Path) -> str:
    import pdqhash

    from haechi.signals.pdq import bits_to_hex

    im = decode_image(path.read_bytes(), str(path), max_pixels=10**9)
    bits, _ = pdqhash.compute(im.rgb)
    return bits_to_hex(bits)


def _hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def test_browser_pdq_agrees_with_server(tmp_path: Path, live: tuple[str, Haechi], browser: Any) -> None:
    base, _ = live
    files = []
    for i in range(12):  # generated photos-like scenes, some as typical copies
        p = tmp_path / f"g{i}.jpg"
        im = scene(900 + i)
        (make_copy(im, "resize", seed=i) if i % 3 == 0 else im).save(p, quality=88)
        files.append(p)
    png = tmp_path / "g.png"
    scene(950).save(png)
    files.append(png)
    if SHARED_DATA.is_dir():
        files += sorted((SHARED_DATA / "pdq_bridge" / "bridge-mods").glob("*.jpg"))
        files += sorted(f for f in (SHARED_DATA / "photos_misc").iterdir() if f.suffix.lower() in (".jpg", ".png"))
    page = browser.new_context(bypass_csp=True).new_page()  # the test reads results with evaluate()
    page.goto(f"{base}/web/victim")
    page.set_input_files("#files", [str(f) for f in files])
    page.wait_for_selector(f"body[data-hashed='{len(files)}']", timeout=120_000)
    got = page.evaluate("""async () => { const out = [];
        for (const f of document.getElementById('files').files) out.push(await HaechiHasher.hashFile(f));
        return out; }""")
    distances = []
    for f, r in zip(files, got, strict=True):
        data = f.read_bytes()
        assert r["sha256"] == hashlib.sha256(data).hexdigest() and r["md5"] == hashlib.md5(data).hexdigest()  # noqa: S324
        distances.append(_hamming(r["pdq"], _server_pdq(f)))
    report = {"files": len(files), "max_distance": max(distances), "mean_distance": sum(distances) / len(distances),
              "exact": sum(d == 0 for d in distances), "distances": dict(zip([f.name for f in files], distances,
                                                                             strict=True))}
    (ARTIFACTS / "pdq_agreement.json").write_text(json.dumps(report, indent=1))
    assert report["max_distance"] <= 10, report


def test_victim_hashes_in_browser_server_finds_copies_then_withdraws(tmp_path: Path, live: tuple[str, Haechi],
                                                                     browser: Any) -> None:
    base, h = live
    photos = []
    for i in range(2):
        p = tmp_path / f"mine{i}.jpg"
        scene(700 + i).save(p, quality=92)
        photos.append(p)
    copy = tmp_path / "found_copy.jpg"
    make_copy(scene(700), "resize", seed=1).save(copy, quality=75)  # re-posted smaller, re-compressed
    page = browser.new_page()
    uploads: list[bytes] = []
    page.on("request", lambda r: uploads.append(r.post_data_buffer or b"") if r.method == "POST" else None)
    page.goto(f"{base}/web/victim?lang=ko")
    page.set_input_files("#files", [str(p) for p in photos])
    page.wait_for_selector("body[data-hashed='2']", timeout=60_000)
    page.check("#adult")  # the eligibility step: 18 or older
    page.click("#send")
    page.wait_for_selector("#done:not([hidden]), #result:not(:empty)")
    assert page.text_content("#result") == "", page.text_content("#result")
    page.screenshot(path=str(ARTIFACTS / "victim_submitted.png"), full_page=True)
    case, pin = page.text_content("#case"), page.text_content("#pin")
    assert case and pin and len(pin) == 12
    # only hashes left the browser: no request carried the photos' bytes
    sent = b"".join(uploads)
    assert sent and all(p.read_bytes()[1000:1064] not in sent for p in photos)
    (row,) = list(h.scan([copy]))
    assert any(m["bank"] == "victim-submitted" for m in row["matches"]), row
    # she sees her case (with her PIN), then withdraws: her hashes are gone everywhere
    page.goto(f"{base}/web/victim/login")
    page.fill("input[name=case]", case)
    page.fill("input[name=pin]", pin)
    page.click("button")
    page.wait_for_url("**/web/victim/case")
    assert page.text_content("#hash-count") == "6"  # per photo: SHA-256, MD5, PDQ
    page.screenshot(path=str(ARTIFACTS / "victim_case.png"), full_page=True)
    for staff in ("/web/", "/web/review", "/web/stats", f"/web/cases/{case}"):  # a victim opens no staff page
        resp = page.goto(f"{base}{staff}")
        assert resp is not None and resp.status == 403, staff
    page.goto(f"{base}/web/victim/case")
    page.click("#withdraw")
    page.click("#withdraw-confirm")  # withdrawal takes a second, explicit step
    page.wait_for_selector("[role=status]")
    (row,) = list(h.scan([copy]))
    assert not any(m["bank"] == "victim-submitted" for m in row["matches"])
    page.goto(f"{base}/web/victim/login")  # her login is disabled
    page.fill("input[name=case]", case)
    page.fill("input[name=pin]", pin)
    page.click("button")
    assert page.locator("[role=alert]").count() == 1


def test_caseworker_creates_case_reveals_item_and_approves_notice(tmp_path: Path, live: tuple[str, Haechi],
                                                                  browser: Any) -> None:
    base, h = live
    img = io.BytesIO()
    scene(321).save(img, "JPEG", quality=90)
    routes = {"/p": ("text/html", b'<html><img src="/m.jpg"></html>'), "/m.jpg": ("image/jpeg", img.getvalue())}
    with serve(routes) as site:
        page = browser.new_page()
        page.goto(f"{base}/web/login?lang=en")
        page.fill("input[name=username]", "cw")
        page.fill("input[name=password]", PW)
        page.click("button")
        page.wait_for_url(f"{base}/web/")
        page.fill("input[name=victim_ref]", "V-web-1")
        page.click("#new-case")
        page.wait_for_url("**/web/cases/C-*")
        case = page.url.rsplit("/", 1)[-1]
        page.fill("input[name=url]", f"{site}/p")
        page.click("#add-url")
        page.wait_for_selector("td:has-text('found')")
        page.screenshot(path=str(ARTIFACTS / "case.png"), full_page=True)
        page.goto(f"{base}/web/review")
        blurred = page.locator("img.media")
        assert blurred.get_attribute("data-state") == "blurred"
        page.screenshot(path=str(ARTIFACTS / "review_blurred.png"), full_page=True)
        page.click("button:has-text('Reveal')")
        page.wait_for_selector("img[data-state=original]")
        page.click("button:has-text('Hide')")
        chain = h.verify_custody(case)
        assert chain["ok"]
        from haechi.store.models import CustodyEntry

        with h.db.session() as s:
            from sqlalchemy import select

            events = [json.loads(e.details).get("event") for e in s.scalars(
                select(CustodyEntry).where(CustodyEntry.actor == "cw", CustodyEntry.action == "view"))]
        assert events == ["reveal", "hide"], events
        page.click("#decide-confirmed")  # a notice names confirmed items only
        page.wait_for_selector("#decision .badge.ok")
        page.goto(f"{base}/web/cases/{case}")
        page.select_option("select[name=regime]", "kr")
        page.select_option("select[name=lang]", "ko")
        page.fill("input[name=recipient]", "abuse@host.example")  # 127.0.0.1 is in no host registry
        page.click("#draft-notice")
        page.wait_for_url("**/web/notices/*")
        page.screenshot(path=str(ARTIFACTS / "notice_draft.png"), full_page=True)
        notice_url = page.url  # four eyes: a second caseworker approves what the first drafted
        with h.db.session() as s:
            accounts.add_user(s, "cw2", "caseworker", PW)
        page.click("nav button")  # log out
        page.fill("input[name=username]", "cw2")
        page.fill("input[name=password]", PW)
        page.click("main button")
        page.wait_for_url(f"{base}/web/")
        page.goto(notice_url)
        page.click("button:has-text('Approve')")
        page.wait_for_selector("h1:has-text('approved')")
        page.goto(f"{base}/web/stats")
        assert page.locator("img[src='/web/stats.png']").evaluate("i => i.naturalWidth") == 640
        page.screenshot(path=str(ARTIFACTS / "stats.png"), full_page=True)
        page.goto(f"{base}/web/cases/{case}")
        with page.expect_download() as dl:
            page.click("#export")
        from haechi.evidence.package import verify_package

        path = tmp_path / "export.zip"
        dl.value.save_as(path)
        assert verify_package(path)["ok"]


def test_browser_hashes_video_frames_without_playing(tmp_path: Path, live: tuple[str, Haechi], browser: Any) -> None:
    import av

    from haechi.signals.pdq import bits_to_hex

    video = tmp_path / "clip.webm"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libvpx", rate=5)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.bit_rate = 2_000_000
        for i in range(20):  # 4 s: one scene, then another
            frame = np.asarray(scene(60 + (i >= 10)).resize((320, 240)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    base, _ = live
    page = browser.new_context(bypass_csp=True).new_page()
    page.goto(f"{base}/web/victim")
    page.set_input_files("#files", [str(video)])
    page.wait_for_selector("body[data-hashed='1']", timeout=60_000)
    (got,) = page.evaluate("""async () => { const out = [];
        for (const f of document.getElementById('files').files) out.push(await HaechiHasher.hashFile(f));
        return out; }""")
    assert got["kind"] == "video" and len(got["frames"]) >= 3
    import pdqhash

    first = bits_to_hex(pdqhash.compute(np.asarray(scene(60).resize((320, 240))))[0])
    last = bits_to_hex(pdqhash.compute(np.asarray(scene(61).resize((320, 240))))[0])
    assert _hamming(got["frames"][0]["pdq"], first) <= 24  # VP8 re-encoding costs a few bits
    assert _hamming(got["frames"][-1]["pdq"], last) <= 24
