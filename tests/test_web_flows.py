"""Staff pages on a phone, driven in headless Debian Chromium (#19): at 390 px every table
either fits or stacks its cells (label: value), so no column is clipped behind a horizontal
scroll and no URL wraps four letters to a line."""

from __future__ import annotations

from typing import Any

import pytest

from haechi import Haechi
from haechi.demo.site import serve
from tests.test_browser import CHROMIUM, PW, browser, live  # noqa: F401 - fixtures
from tests.test_web_browser import _site_with_ten_images

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (make system-deps)")]

#: what a table on a phone may not do: scroll sideways (a column hidden off-screen) or squeeze a
#: cell so that a short text (a URL, a status) wraps over more than this many lines
MAX_LINES = 3


def test_every_staff_table_fits_a_phone(tmp_path: Any, live: tuple[str, Haechi],  # noqa: F811
                                        browser: Any) -> None:  # noqa: F811
    base, h = live
    with serve(_site_with_ten_images(tmp_path, h)) as site:
        ref = h.create_case(victim_ref="V-phone")["case"]
        list(h.add_case_items(ref, [f"{site}/p", f"{site}/p?a-rather-long-query-string=1234567890"],
                              allow_private=True))
        item = h.show_case(ref)["items"][0]["id"]
        notice = h.draft_notice([item], "kr", "ko", recipient="abuse@x.example")["id"]
        h.add_watch(ref, f"{site}/p", "6h", allow_private=True)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{base}/web/login?lang=en")
        page.fill("input[name=username]", "cw")
        page.fill("input[name=password]", PW)
        page.click("form.row button")
        page.wait_for_url(f"{base}/web/")
        for path in (f"/web/cases/{ref}", "/web/?scope=all", "/web/cases", "/web/review", f"/web/notices/{notice}",
                     "/web/stats", "/web/deadlines?scope=all", "/web/watches", "/web/banks", "/web/banks/victim-x"):
            page.goto(f"{base}{path}")
            bad = page.evaluate("""(max) => {
                const out = [];
                for (const t of document.querySelectorAll('table')) {
                    const wrap = t.closest('.table-wrap') || t.parentElement;
                    if (wrap.scrollWidth > wrap.clientWidth + 1)
                        out.push(['scrolls', t.id || t.className, wrap.scrollWidth, wrap.clientWidth]);
                    for (const c of t.querySelectorAll('td')) {
                        const text = c.textContent.trim();
                        if (!text || text.length > 120 || c.querySelector('table, ul, form')) continue;
                        const range = document.createRange();
                        range.selectNodeContents(c);
                        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
                        if (lines > max) out.push(['squeezed', t.id || t.className, text.slice(0, 40), lines]);
                    }
                }
                return out;
            }""", MAX_LINES)
            assert not bad, (path, bad)
