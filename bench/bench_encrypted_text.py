"""Cost of encrypting victim free text in the live database (``haechi.store.encrypted``): bank
import with labels, an exact lookup that resolves matched labels, and a bank page listing
labels — each against the same query reading the raw column (no decryption) in the same run.

    python bench/bench_encrypted_text.py --entries 20000
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from sqlalchemy import Text, select, type_coerce

from haechi import Haechi
from haechi.store.models import BankEntry


def _best(fn: object, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=20000)
    args = ap.parse_args()
    n = args.entries
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp, Haechi(home=Path(tmp) / "home", workers=1) as h:
        h.create_bank("plain")
        h.create_bank("labelled", "photos of a victim")
        t = time.perf_counter()
        h.add_signals("plain", [("sha256", v) for v in hashes])
        plain_add = time.perf_counter() - t
        t = time.perf_counter()
        h.add_signals("labelled", [("sha256", hashlib.md5(v.encode()).hexdigest() + v[:32]) for v in hashes],
                      label="case C-2026-00001 / Choi Minji")
        labelled_add = time.perf_counter() - t
        target = hashlib.md5(hashes[n // 2].encode()).hexdigest() + hashes[n // 2][:32]
        lookup = _best(lambda: h.lookup("sha256", target), 50)
        with h.db.session() as s:
            ids = list(s.scalars(select(BankEntry.id).where(BankEntry.bank_id == 2)))
        few = ids[:10]

        def read(raw: bool, which: list[int]) -> None:
            col = type_coerce(BankEntry.label, Text) if raw else BankEntry.label
            with h.db.session() as s:
                s.execute(select(BankEntry.id, col).where(BankEntry.id.in_(which))).all()

        raw10, dec10 = _best(lambda: read(True, few), 50), _best(lambda: read(False, few), 50)
        raw_all, dec_all = _best(lambda: read(True, ids[:5000])), _best(lambda: read(False, ids[:5000]))
    print(f"| operation ({n:,} entries per bank) | raw column | encrypted | ratio |\n|---|---|---|---|")
    print(f"| add {n:,} hashes (no label / labelled: Fernet + blind index each) | {plain_add:.2f} s "
          f"| {labelled_add:.2f} s | {labelled_add / plain_add:.2f} |")
    print(f"| read the labels of 10 matched entries | {raw10 * 1e3:.2f} ms | {dec10 * 1e3:.2f} ms "
          f"| {dec10 / raw10:.2f} |")
    print(f"| read 5,000 labels (a whole-bank export) | {raw_all * 1e3:.1f} ms | {dec_all * 1e3:.1f} ms "
          f"| {dec_all / raw_all:.2f} |")
    print(f"| exact lookup incl. its matched label (encrypted) | | {lookup * 1e3:.2f} ms | |")


if __name__ == "__main__":
    main()
