"""Web app: server time per page at N open cases (p50/p99), written to bench/web.md.

    python bench/bench_web.py [--cases 1000] [--requests 60] [--out bench/web.md]

Each open case gets two items with two captured media each (one with a bank match), a fifth of
the cases a notice sent by e-mail (a running clock) and a tenth a reviewer's decision, so every
page has real rows to read. Pages are requested in-process through the whole ASGI app
(FastAPI, session cookie, Jinja2) with Starlette's TestClient: the time is the server's, no
network. SQLite under a temporary home.

The review page used to build the whole open-case queue (every item's media, matches and the
decisions of every open case) to number one item; it now reads the queue's order and one
entry. The table gives both, measured in the same run, as a ratio.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from haechi import Haechi
from haechi.api.app import create_app
from haechi.cases import review as rq
from haechi.cases import service as cases
from haechi.services import accounts

PW = "correct horse battery staple"
CENTRE = {"sender_name": "Kim Ji-won", "sender_org": "Seoul Digital Sex Crime Victim Support Centre",
          "sender_email": "takedown@seoul-centre.kr", "sender_phone": "+82 2 1234 5678",
          "sender_basis": "kr_deletion_support"}


def populate(h: Haechi, n: int) -> str:
    """``n`` open cases with items, media, matches, notices and decisions; returns a case number."""
    with h.db.session() as s:
        accounts.add_user(s, "cw", "caseworker", PW)
        accounts.add_user(s, "second", "caseworker", PW)
    refs = []
    with h.db.session() as s:
        for k in range(n):
            ref = cases.create_case(s, h.cipher, "cw", victim_ref=f"V-{k}")["case"]
            refs.append(ref)
            for j in range(2):
                media = [{"url": f"https://host{k % 50}.example/u/{k}-{j}-{m}.jpg",
                          "sha256": f"{k:030x}{j:02x}{m:032x}", "md5": f"{k:028x}{j:02x}{m:02x}", "pdq": "f0" * 32,
                          "matches": [{"bank": "victim-x", "label": f"photo-{k}", "method": "pdq",
                                       "signal_type": "pdq", "distance": 6, "transform": "original"}] if m == 0 else []}
                         for m in range(2)]
                cases.add_item(s, ref, f"https://host{k % 50}.example/p/{k}/{j}", media, "cw")
    for k, ref in enumerate(refs):
        if k % 5 == 0:
            item = h.show_case(ref)["items"][0]["id"]
            notice = h.draft_notice([item], "kr", "ko", actor="cw", recipient="abuse@x.example")["id"]
            h.approve_notice(notice, by="second")
            h.record_submission(notice, "second", "email")
        if k % 10 == 0:
            entry = h.review_entry(h.show_case(ref)["items"][1]["id"], 0)
            assert entry is not None
            h.review_decide("second", entry, "confirmed")
    return refs[len(refs) // 2]


def timed(fn: Callable[[], object], n: int) -> list[float]:
    fn()  # warm: templates compiled, caches filled
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "web.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Haechi(home=Path(tmp) / "home", workers=1, **CENTRE) as h:
        t0 = time.perf_counter()
        ref = populate(h, args.cases)
        setup_s = time.perf_counter() - t0
        client = TestClient(create_app(h, secure_cookies=False))
        page = client.get("/web/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        r = client.post("/web/login", data={"username": "cw", "password": PW, "csrf": csrf.group(1)},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        total = h.review_at(0).total
        middle = total // 2
        pages = {"dashboard": "/web/?scope=all", "case list": "/web/cases", "case page": f"/web/cases/{ref}",
                 "review": f"/web/review?i={middle}", "deadlines": "/web/deadlines?scope=all"}
        rows = []
        for name, path in pages.items():
            def get(path: str = path) -> None:
                resp = client.get(path)
                assert resp.status_code == 200, (path, resp.status_code)
            ms = timed(get, args.requests)
            rows.append((name, path, statistics.median(ms), pct(ms, 0.99)))
            print(f"{name:12s} p50 {rows[-1][2]:8.1f} ms  p99 {rows[-1][3]:8.1f} ms", file=sys.stderr)
        # the review page's numbering: the whole queue (before) against one entry (now)
        whole = timed(lambda: h.review_queue()[middle], args.requests)
        window = timed(lambda: h.review_at(middle), args.requests)
        assert h.review_at(middle).entry == h.review_queue()[middle]
        assert rq.position(h.review_queue(), 1, 0) == h.review_position(1, 0)
    lines = [
        f"# Web app: server time per page at {args.cases:,} open cases",
        "",
        f"`make bench-web` (`python bench/bench_web.py --cases {args.cases} --requests {args.requests}`). "
        f"{args.cases:,} open cases, {2 * args.cases:,} items, {total:,} media in the review queue, "
        f"{args.cases // 5} notices with a running clock, {args.cases // 10} decisions; SQLite. "
        "In-process requests through the whole app (session, CSRF, Jinja2), so the time is the "
        f"server's; {args.requests} requests per page after one warm-up. Set-up took {setup_s:.0f} s.",
        "The machine's 2 cores were shared with other jobs while this ran: compare the ratios, "
        "not the absolute times.",
        "",
        "| page | path | p50 ms | p99 ms |",
        "|---|---|---:|---:|",
        *[f"| {n} | `{p}` | {a:.1f} | {b:.1f} |" for n, p, a, b in rows],
        "",
        "The review page's entry, same run:",
        "",
        "| numbering one review item | p50 ms | p99 ms |",
        "|---|---:|---:|",
        f"| whole queue built (`review_queue()[i]`, before) | {statistics.median(whole):.1f} | {pct(whole, .99):.1f} |",
        f"| queue order + one entry (`review_at(i)`, now) | {statistics.median(window):.1f} | {pct(window, .99):.1f} |",
        f"| ratio (before / now, p50) | {statistics.median(whole) / statistics.median(window):.1f}× | |",
        "",
        "Where the time goes is not measured here; the pages that read every open case "
        "(dashboard, case list, deadlines) grow with the number of cases.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(json.dumps({n: {"p50_ms": round(a, 1), "p99_ms": round(b, 1)} for n, _, a, b in rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
