"""The web app in headless Chromium as its users work it (#19): a reviewer decides ten items
with the keyboard alone (every reveal, hide and decision logged); a victim on a 390×844 phone
gets her PIN in groups and saves it, and the quick exit leaves at once; every page fits a phone
and a desktop, and axe-core finds no serious or critical accessibility violation on any of them.
Screenshots at 390×844 and 1440×900 go to test-artifacts/web/."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from haechi import Haechi
from haechi.demo.samples import scene
from haechi.demo.site import serve
from haechi.demo.transforms import make_copy
from tests.test_browser import ARTIFACTS, CHROMIUM, PW, browser, live  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (make system-deps)")]
SHOTS = ARTIFACTS / "web"
WIDTHS = (390, 1440)
#: axe-core (MPL-2.0) as shipped in the axe-playwright-python wheel: no CDN, pinned by the wheel
AXE_JS = None


def _axe(page: Any, name: str) -> None:
    """Run axe-core on the page; fail on any serious or critical violation (WCAG 2.1 A/AA and
    best practices), naming the rule and the elements."""
    global AXE_JS
    if AXE_JS is None:
        import axe_playwright_python

        AXE_JS = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
    page.evaluate(AXE_JS)
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    found = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5]) for v in result["violations"]]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with (SHOTS / "axe.jsonl").open("a") as fh:  # every finding, the moderate ones too, for a person to read
        fh.write(json.dumps({"page": name, "rules": len(result["passes"]) + len(result["violations"]) or None,
                             "violations": found}) + "\n")
    bad = [v for v in found if v[1] in ("serious", "critical")]
    assert not bad, (name, bad)


def _jpeg(im: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _site_with_ten_images(tmp_path: Path, h: Haechi) -> dict[str, tuple[str, bytes]]:
    """A page with ten images: five copies of banked photos (some transformed), five unrelated."""
    h.create_bank("victim-x")
    routes: dict[str, tuple[str, bytes]] = {}
    tags = []
    for k in range(10):
        if k % 2 == 0:
            photo = scene(500 + k)
            path = tmp_path / f"banked{k}.jpg"
            photo.save(path, quality=95)
            list(h.add_to_bank("victim-x", [path], label=f"photo-{k}"))
            im = make_copy(photo, ("resize", "flip_h", "rot90", "brighten", "recompress")[k // 2], seed=k)
        else:
            im = scene(800 + k)
        routes[f"/img{k}.jpg"] = ("image/jpeg", _jpeg(im))
        tags.append(f'<img src="/img{k}.jpg">')
    routes["/p"] = ("text/html", "".join(tags).encode())
    return routes


def _login(page: Any, base: str, lang: str = "en") -> None:
    page.goto(f"{base}/web/login?lang={lang}")
    page.fill("input[name=username]", "cw")
    page.fill("input[name=password]", PW)
    page.click("form.row button")
    page.wait_for_url(f"{base}/web/")


def _shoot(page: Any, name: str, axe: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    if axe:
        _axe(page, name)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844 if width < 600 else 900})
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (name, width, overflow)  # nothing wider than the screen
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


def test_reviewer_decides_ten_items_with_the_keyboard(tmp_path: Path, live: tuple[str, Haechi],  # noqa: F811
                                                      browser: Any) -> None:  # noqa: F811
    base, h = live
    with serve(_site_with_ten_images(tmp_path, h)) as site:
        ref = h.create_case(victim_ref="V-kb")["case"]
        list(h.add_case_items(ref, [f"{site}/p"], allow_private=True))
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _login(page, base)
        page.goto(f"{base}/web/review")
        assert page.locator("img.media").get_attribute("data-state") == "blurred"
        _shoot(page, "review-blurred")
        for k in range(10):
            page.wait_for_selector(f"body[data-keys=on] >> text={k + 1} / 10")
            page.keyboard.press("r")  # reveal (logged)
            page.wait_for_selector("body[data-keys=on] img[data-state=original]")
            if k == 0:
                _shoot(page, "review-revealed")
            page.keyboard.press("h")  # hide: stays on the item
            page.wait_for_selector("body[data-keys=on] img[data-state=blurred]")
            assert f"{k + 1} / 10" in page.text_content("main")
            page.keyboard.press("c" if page.locator(".no-match").count() == 0 else "n")
            if k < 9:
                page.wait_for_selector(f"text={k + 2} / 10")
        page.wait_for_selector("body[data-keys=on] #decision .badge.bad")  # the last one decided, still on it
        page.keyboard.press("k")  # previous
        page.wait_for_selector("text=9 / 10")
    from haechi.evidence.custody import rows_of

    with h.db.session() as s:
        rows = [r for r in rows_of(s) if r["case_ref"] == ref]
    views = [json.loads(r["details"])["event"] for r in rows if r["action"] == "view"]
    decisions = [json.loads(r["details"])["decision"] for r in rows if r["action"] == "review_decision"]
    assert views == ["reveal", "hide"] * 10 and all(r["actor"] == "cw" for r in rows if r["action"] == "view")
    assert decisions == ["confirmed", "not_a_match"] * 5  # the banked copies matched, the unrelated did not
    assert h.verify_custody(ref)["ok"]


def test_victim_on_a_phone_gets_a_grouped_pin_and_a_quick_exit(tmp_path: Path, live: tuple[str, Haechi],  # noqa: F811
                                                               browser: Any) -> None:  # noqa: F811
    base, _ = live
    photo = tmp_path / "me.jpg"
    scene(4242).save(photo, quality=92)
    context = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True,
                                  locale="ko-KR", is_mobile=True, has_touch=True)
    context.route("https://www.google.com/**", lambda route: route.fulfill(body="<p>neutral</p>",
                                                                          content_type="text/html"))
    page = context.new_page()
    page.goto(f"{base}/web/victim?lang=ko")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # the viewport tag works
    page.set_input_files("#files", [str(photo)])
    page.wait_for_selector("body[data-hashed='1']", timeout=60_000)
    assert page.is_disabled("#send")  # not before the 18+ step
    assert "a" * 8 not in page.text_content("#hashes") and "준비됨" in page.text_content("#hashes")  # no hex
    page.check("#adult")
    page.click("#send")
    page.wait_for_selector("#done:not([hidden])")
    pin = page.text_content("#pin") or ""
    groups = page.locator("#pin span").all_text_contents()
    assert len(pin) == 12 and groups == [pin[0:4], pin[4:8], pin[8:12]]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "victim-pin-390.png"), full_page=True)
    with page.expect_download() as dl:
        page.click("#save-pin")
    saved = Path(dl.value.path()).read_text()
    assert f"{pin[0:4]} {pin[4:8]} {pin[8:12]}" in saved and (page.text_content("#case") or "x") in saved
    page.click("#quick-exit")
    page.wait_for_url("https://www.google.com/**")
    page.go_back()  # the victim page was replaced in the history: back does not show it again
    assert "/web/victim" not in page.url


def test_every_page_fits_a_phone_and_a_desktop(tmp_path: Path, live: tuple[str, Haechi],  # noqa: F811
                                               browser: Any) -> None:  # noqa: F811

    base, h = live
    with serve(_site_with_ten_images(tmp_path, h)) as site:
        ref = h.create_case(victim_ref="V-1")["case"]
        list(h.add_case_items(ref, [f"{site}/p"], allow_private=True))
        item = h.show_case(ref)["items"][0]["id"]
        sent = h.draft_notice([item], "kr", "ko", recipient="abuse@x.example", actor="other")["id"]
        h.approve_notice(sent, by="cw")
        h.record_submission(sent, "cw", "email")
        notice = h.draft_notice([item], "kr", "ko", recipient="abuse@x.example")["id"]
        h.set_item_status(item, "notified", actor="cw")
        list(h.recheck(ref, allow_private=True, actor="cw"))
        entry = h.recheck_history(ref)[item][0]
        h.dispute_recheck(ref, entry["entry"], "geo-blocked", actor="cw")
        h.add_watch(ref, f"{site}/p", "6h", allow_private=True)
        h.run_watches(run_all=True, allow_private=True)
        sub = h.victim_submit([{"sha256": "a" * 64, "md5": "b" * 32, "pdq": "c" * 64}])
        for lang in ("ko", "en"):
            page = browser.new_page()
            page.goto(f"{base}/web/login?lang={lang}")
            _shoot(page, f"{lang}-login")
            _login(page, base, lang)
            for name, path in (("dashboard", "/web/?scope=all"), ("cases", "/web/cases"),
                               ("case", f"/web/cases/{ref}"), ("review", "/web/review?i=1"),
                               ("notice", f"/web/notices/{notice}"), ("stats", "/web/stats"),
                               ("deadlines", "/web/deadlines?scope=all"), ("watches", "/web/watches"),
                               ("banks", "/web/banks"), ("bank", "/web/banks/victim-x"),
                               ("error", "/web/cases/C-0000-00000")):
                page.goto(f"{base}{path}")
                _shoot(page, f"{lang}-{name}")
            page.context.clear_cookies()
            for name, path in (("victim", "/web/victim"), ("victim-minor", "/web/victim/minor"),
                               ("victim-login", "/web/victim/login")):
                page.goto(f"{base}{path}?lang={lang}")
                _shoot(page, f"{lang}-{name}")
            page.fill("input[name=case]", sub["case"].lower())
            page.fill("input[name=pin]", sub["pin"])
            page.click("main button")
            page.wait_for_url("**/web/victim/case")
            _shoot(page, f"{lang}-victim-case")
            page.click("#withdraw")
            page.wait_for_selector("#withdraw-confirm")
            _shoot(page, f"{lang}-victim-withdraw")
            page.close()
