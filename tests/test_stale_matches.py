"""Issue #21: a deleted hash never matches, in any process, whatever id the database hands out next.

The sequence that once gave a false match at distance 0: bank A gets hash ``a``, A is deleted,
bank B gets an unrelated hash ``b``; SQLite reused ``a``'s id for ``b`` and the stale index slot
of ``a`` pointed at ``b``. Each test here failed before ids were made never-reusable, deletions
were logged for every index, and hits were verified against the stored signal.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from haechi import Haechi
from haechi.api.app import create_app
from haechi.demo.samples import scene
from haechi.services import accounts, victims
from haechi.signals.pdq import pdq_of
from haechi.store.models import Bank, BankEntry
from tests.helpers import served


def _bits_apart(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def _unrelated_pair() -> tuple[str, str]:
    a = pdq_of(np.asarray(scene(301))).hash
    b = pdq_of(np.asarray(scene(302))).hash
    assert _bits_apart(a, b) > 64
    return a, b


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, dict[str, str], Haechi]]:
    h = Haechi(home=tmp_path / "home", database_url=database_url, workers=1)
    with h.db.session() as s:
        accounts.add_user(s, "cw", "caseworker", None)
        accounts.add_user(s, "pt", "partner", None)
    with h.db.session() as s:
        tokens = {"cw": accounts.create_token(s, "cw"), "pt": accounts.create_token(s, "pt")}
    yield TestClient(create_app(h, lookup_rate=10_000)), tokens, h
    h.close()


def test_a_deleted_banks_hash_does_not_match_the_next_entry_through_the_api(
        api: tuple[TestClient, dict[str, str], Haechi]) -> None:
    client, tokens, _ = api
    cw = {"Authorization": f"Bearer {tokens['cw']}"}
    pt = {"Authorization": f"Bearer {tokens['pt']}"}
    a, b = _unrelated_pair()
    assert client.post("/c/banks", json={"name": "A"}, headers=cw).status_code == 201
    assert client.post("/c/bank/A/signal", json={"pdq": a}, headers=cw).status_code == 200
    assert client.get("/m/lookup", params={"signal_type": "pdq", "signal": a, "format": "legacy"},
                      headers=pt).json() == ["A"]
    assert client.delete("/c/bank/A", headers=cw).status_code == 200
    assert client.post("/c/banks", json={"name": "B"}, headers=cw).status_code == 201
    assert client.post("/c/bank/B/signal", json={"pdq": b}, headers=cw).status_code == 200
    assert client.get("/m/lookup", params={"signal_type": "pdq", "signal": a, "format": "legacy"},
                      headers=pt).json() == []
    raw = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": a, "include_distance": "true"},
                     headers=pt).json()
    assert raw["matches"] == []
    assert client.get("/m/lookup", params={"signal_type": "pdq", "signal": b, "format": "legacy"},
                      headers=pt).json() == ["B"]


def test_a_deleted_banks_hash_does_not_match_through_the_library_or_a_scan(tmp_path: Path, database_url: str
                                                                          ) -> None:
    a_img, b_img = tmp_path / "a.png", tmp_path / "b.png"
    scene(301).save(a_img)
    scene(302).save(b_img)
    with Haechi(home=tmp_path / "home", database_url=database_url, workers=1) as h:
        h.create_bank("A")
        list(h.add_to_bank("A", [a_img]))
        assert {m["bank"] for m in next(h.scan([a_img]))["matches"]} == {"A"}  # index loaded
        a = pdq_of(np.asarray(scene(301))).hash
        assert {m["bank"] for m in h.lookup("pdq", a)} == {"A"}
        h.delete_bank("A")
        h.create_bank("B")
        list(h.add_to_bank("B", [b_img]))
        assert h.lookup("pdq", a) == []
        assert next(h.scan([a_img]))["matches"] == []
        assert {m["bank"] for m in next(h.scan([b_img]))["matches"]} == {"B"}
        with h.db.session() as s:  # and the database never handed out a deleted id again
            ids = list(s.scalars(select(BankEntry.id).order_by(BankEntry.id)))
        assert min(ids) > 3  # bank A's sha256, md5 and pdq entries were 1..3


def test_removing_one_entry_or_a_victims_withdrawal_then_new_submissions(tmp_path: Path, database_url: str
                                                                         ) -> None:
    a, b = _unrelated_pair()
    with Haechi(home=tmp_path / "home", database_url=database_url, workers=1) as h:
        first = h.victim_submit([{"sha256": "1" * 64, "md5": "2" * 32, "pdq": a}])
        assert {m["bank"] for m in h.lookup("pdq", a)} == {victims.BANK}
        h.victim_withdraw(first["case"])
        for k in range(3):  # other victims submit after her withdrawal
            h.victim_submit([{"sha256": f"{k + 3}" * 64, "md5": f"{k + 3}" * 32,
                                "pdq": b if k == 0 else pdq_of(np.asarray(scene(310 + k))).hash}])
        assert h.lookup("pdq", a) == []
        assert h.lookup("md5", "2" * 32) == []
        assert len(h.lookup("pdq", b)) == 1
        h.create_bank("C")
        [entry] = h.add_signals("C", [("pdq", a)])
        h.remove_entry("C", entry)
        h.add_signals("C", [("pdq", b)])
        assert h.lookup("pdq", a) == []


def test_deletions_by_another_process_reach_this_ones_index(tmp_path: Path, database_url: str) -> None:
    """Two instances on one database are two processes' indexes: what one deletes, the other
    stops matching at once — bank delete, entry remove and the persisted index on reload."""
    a, b = _unrelated_pair()
    home = tmp_path / "home"
    with Haechi(home=home, database_url=database_url, workers=1) as server, \
            Haechi(home=home, database_url=database_url, workers=1) as cli:
        cli.create_bank("A")
        [ea] = cli.add_signals("A", [("pdq", a)])
        assert [m["entry_id"] for m in server.lookup("pdq", a)] == [ea]
        cli.delete_bank("A")
        assert server.lookup("pdq", a) == []
        cli.create_bank("B")
        [eb] = cli.add_signals("B", [("pdq", b)])
        assert server.lookup("pdq", a) == []
        assert [m["entry_id"] for m in server.lookup("pdq", b)] == [eb]
        cli.remove_entry("B", eb)
        assert server.lookup("pdq", b) == []
        # the index the server persisted is reloaded by a third process after more deletions
        server.pdq_index()
    with Haechi(home=home, database_url=database_url, workers=1) as later:
        assert later.lookup("pdq", a) == [] and later.lookup("pdq", b) == []


@pytest.mark.slow
def test_a_cli_import_and_delete_while_two_server_processes_run(tmp_path: Path) -> None:
    """``haechi serve --workers 2``; the CLI imports, deletes and re-imports while it runs:
    every lookup, whichever process answers, says exactly what the database holds."""
    a, b = _unrelated_pair()
    home = tmp_path / "home"
    with Haechi(home=home) as h:
        with h.db.session() as s:
            accounts.add_user(s, "pt", "partner", None)
        with h.db.session() as s:
            token = accounts.create_token(s, "pt")
        h.create_bank("A")
        h.add_signals("A", [("pdq", a)])
    haechi_bin = str(Path(sys.executable).with_name("haechi"))
    env = dict(os.environ, HAECHI_HOME=str(home))

    def cli(*args: str, stdin: str | None = None) -> None:
        subprocess.run([haechi_bin, *args], env=env, check=True, capture_output=True, input=stdin,  # noqa: S603
                       text=True, timeout=120)

    def banks_for(client: httpx.Client, code: str) -> set[str]:
        answers = {tuple(client.get("/m/lookup", params={"signal_type": "pdq", "signal": code}).json())
                   for _ in range(12)}  # new connections spread over both processes
        assert len(answers) == 1, f"the processes disagree: {answers}"
        return set(next(iter(answers)))

    with served(home, "--workers", "2") as (base, _), \
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}",
                                                 "Connection": "close"}, timeout=10) as client:
        assert banks_for(client, a) == {"A"}
        cli("bank", "delete", "A")
        assert banks_for(client, a) == set()
        cli("bank", "create", "B")
        lines = tmp_path / "b.jsonl"
        lines.write_text(json.dumps({"signal_type": "pdq", "signal": b}) + "\n")
        cli("bank", "import", "B", str(lines))
        assert banks_for(client, a) == set()
        assert banks_for(client, b) == {"B"}


# -- property: random add / delete / lookup across two processes against a brute-force oracle ----------

_WORKER = r"""
import json, sys
from haechi import Haechi
h = Haechi(home=sys.argv[1], workers=1)
for line in sys.stdin:
    op = json.loads(line)
    try:
        if op["op"] == "lookup":
            out = sorted([m["bank"], m["entry_id"], m["distance"]] for m in h.lookup("pdq", op["code"]))
        elif op["op"] == "add":
            try:
                h.create_bank(op["bank"])
            except Exception:
                pass
            out = h.add_signals(op["bank"], [("pdq", op["code"])])
        elif op["op"] == "delete_bank":
            h.delete_bank(op["bank"]); out = None
        elif op["op"] == "remove":
            h.remove_entry(op["bank"], op["entry_id"]); out = None
        print(json.dumps({"ok": out}), flush=True)
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__}), flush=True)
"""


class _Peer:
    """Another process with its own Haechi (and so its own index) over the same home."""

    def __init__(self, home: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER, str(home)],  # noqa: S603
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, **op: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(op) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        return answer.get("ok")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


def _codes() -> list[str]:
    """Six base hashes and a near copy of each (a few bits flipped): lookups hit and miss."""
    rng = random.Random(5)
    out = []
    for _ in range(6):
        base = rng.getrandbits(256)
        out += [f"{base:064x}", f"{base ^ (1 << rng.randrange(256)) ^ (1 << rng.randrange(256)):064x}"]
    return out


CODES = _codes()
_ops = st.lists(st.tuples(st.sampled_from(["add", "add", "delete_bank", "remove", "lookup", "lookup"]),
                          st.integers(0, 1), st.sampled_from(["P", "Q", "R"]), st.integers(0, len(CODES) - 1)),
                min_size=4, max_size=25)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Haechi, _Peer]]:
    home = tmp_path_factory.mktemp("interleave") / "home"
    here = Haechi(home=home, workers=1)
    here.create_bank("warm")
    here.lookup("pdq", CODES[0])  # this process's index is loaded before the other one writes
    peer = _Peer(home)
    peer(op="lookup", code=CODES[0])
    yield here, peer
    peer.close()
    here.close()


def _oracle(h: Haechi, code: str) -> list[list[Any]]:
    """Brute force over what the database holds now."""
    with h.db.session() as s:
        rows = s.execute(select(Bank.name, BankEntry.id, BankEntry.signal).join(Bank, Bank.id == BankEntry.bank_id)
                         .where(BankEntry.signal_type == "pdq")).all()
    return sorted([name, entry_id, _bits_apart(sig, code)] for name, entry_id, sig in rows
                  if _bits_apart(sig, code) <= h.settings.pdq_threshold)


@pytest.mark.slow
@given(ops=_ops)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_interleavings_across_two_processes_match_a_brute_force_oracle(
        two_processes: tuple[Haechi, _Peer], ops: list[tuple[str, int, str, int]]) -> None:
    here, peer = two_processes

    def run(who: int, **op: Any) -> Any:
        if who == 1:
            return peer(**op)
        try:
            if op["op"] == "lookup":
                return sorted([m["bank"], m["entry_id"], m["distance"]] for m in here.lookup("pdq", op["code"]))
            if op["op"] == "add":
                if op["bank"] not in {b["name"] for b in here.list_banks()}:
                    here.create_bank(op["bank"])
                return here.add_signals(op["bank"], [("pdq", op["code"])])
            if op["op"] == "delete_bank":
                return here.delete_bank(op["bank"])
            return here.remove_entry(op["bank"], op["entry_id"])
        except Exception:  # noqa: BLE001 - a missing bank or entry is fine here; matches are what is checked
            return None

    for kind, who, bank, k in ops:
        if kind == "lookup":
            assert run(who, op="lookup", code=CODES[k]) == _oracle(here, CODES[k]), (who, CODES[k])
        elif kind == "add":
            run(who, op="add", bank=bank, code=CODES[k])
        elif kind == "delete_bank":
            run(who, op="delete_bank", bank=bank)
        else:
            with here.db.session() as s:
                ids = list(s.scalars(select(BankEntry.id).join(Bank).where(Bank.name == bank)))
            if ids:
                run(who, op="remove", bank=bank, entry_id=ids[k % len(ids)])
    for code in CODES:  # and at the end, both processes agree with the database
        assert run(0, op="lookup", code=code) == run(1, op="lookup", code=code) == _oracle(here, code)
