"""Issue #17 medium 7: throttles per account and per address, shared by every server process
through Redis. Against the real Redis at 127.0.0.1:6379 and two ``haechi serve`` processes over
one home: rotating ``X-Forwarded-For`` from an untrusted client resets nothing, one account's
lockout holds on both servers, and another account behind the same address still logs in."""

from __future__ import annotations

import itertools
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from haechi import Haechi
from haechi.api.throttle import BUDGETS, Throttles, client_key
from haechi.services import accounts
from tests.helpers import served

REDIS = "redis://127.0.0.1:6379/0"
PW = "correct horse battery staple"
FILES = [{"sha256": "a" * 64, "md5": "b" * 32}]


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not _redis_up(), reason="needs Redis at 127.0.0.1:6379")
_xff = (f"203.0.113.{i % 250}, 198.51.100.{i % 250}" for i in itertools.count(1))


def _login(base: str, user: str, password: str) -> int:
    """One web login from a client that rotates X-Forwarded-For on every request."""
    r = httpx.get(f"{base}/web/login", headers={"X-Forwarded-For": next(_xff)}, timeout=30)
    m = re.search(r'name="csrf" value="([^"]+)"', r.text)
    assert m, r.text
    r = httpx.post(f"{base}/web/login", data={"username": user, "password": password, "csrf": m.group(1)},
                   headers={"Cookie": f"haechi_session={r.cookies['haechi_session']}",
                            "X-Forwarded-For": next(_xff)}, follow_redirects=False, timeout=30)
    return r.status_code


@pytest.fixture
def two_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    home = tmp_path / "home"
    with Haechi(home=home, workers=1) as h, h.db.session() as s:
        for name in ("alice", "bob"):
            accounts.add_user(s, name, "caseworker", PW)
    monkeypatch.setenv("HAECHI_THROTTLE_URL", REDIS)  # the servers' environment
    monkeypatch.delenv("HAECHI_TRUSTED_PROXIES", raising=False)
    with served(home) as (a, _), served(home) as (b, _):
        yield a, b


@needs_redis
@pytest.mark.slow  # two server processes
def test_two_servers_share_one_budget_and_forwarded_for_resets_nothing(two_servers: tuple[str, str]) -> None:
    a, b = two_servers
    # five wrong passwords for alice, alternating servers and forged client addresses
    assert [_login(a if i % 2 else b, "alice", "wrong") for i in range(5)] == [401] * 5
    # locked on both servers, even with the right password (per process, each would allow 5)
    assert _login(a, "ALICE", PW) == 429 and _login(b, "alice", PW) == 429
    # bob behind the same address is not locked out by alice's lockout
    assert _login(b, "bob", PW) == 303
    # the address budget is one for both servers: every counted attempt so far (5 + bob) and
    # then fresh accounts until refused; a forged X-Forwarded-For never opens a new budget
    counted, status, n = 6, 0, 0
    while True:
        status = _login(a if n % 2 else b, f"nobody{n}", "wrong")
        n += 1
        if status == 429:
            break
        assert status == 401 and n < 100
        counted += 1
    assert counted == int(BUDGETS["login.address"].split()[0])
    assert _login(a, "bob", PW) == 429 and _login(b, "bob", PW) == 429

    # victim submissions (each opens a case): ten from this address, then the other server refuses
    codes = [httpx.post(f"{a}/api/victim/submissions", json={"files": FILES},
                        headers={"X-Forwarded-For": next(_xff)}, timeout=30).status_code for _ in range(10)]
    assert codes == [201] * 10
    assert httpx.post(f"{b}/api/victim/submissions", json={"files": FILES},
                      headers={"X-Forwarded-For": next(_xff)}, timeout=30).status_code == 429


@needs_redis
def test_budgets_in_redis_are_shared_and_kept_per_account_and_address() -> None:
    ns = f"test-{socket.gethostname()}-{id(object())}"
    one, two = Throttles(REDIS, namespace=ns), Throttles(REDIS, namespace=ns)
    other = Throttles(REDIS, namespace=ns + "-other")  # another installation on the same Redis
    budgets = [one.allow("login.failures", "C-2026-00001") if i % 2 else two.allow("login.failures", "c-2026-00001")
               for i in range(6)]
    assert budgets == [True] * 5 + [False]
    assert one.exhausted("login.failures", "C-2026-00001") and two.exhausted("login.failures", "C-2026-00001")
    assert not one.exhausted("login.failures", "C-2026-00002")  # another case number
    assert not other.exhausted("login.failures", "C-2026-00001")
    two.forget("login.failures", "C-2026-00001")
    assert not one.exhausted("login.failures", "C-2026-00001")


def test_an_unreachable_store_refuses_and_addresses_are_grouped() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    down = Throttles(dead)
    assert not down.allow("login.address", "192.0.2.1") and down.exhausted("login.failures", "alice")
    # an IPv6 client is one budget per /64 (rotating within one's own /64 resets nothing)
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7" and client_key(None) == "?"
    mem = Throttles()
    assert all(mem.allow("victim.address", "192.0.2.7") for _ in range(10))
    assert not mem.allow("victim.address", "192.0.2.7") and mem.allow("victim.address", "192.0.2.8")
