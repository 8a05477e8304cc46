"""Cost of sealing evidence at rest (issue #17): seal and unseal throughput of haechi.store.sealed
(AES-256-GCM, 1 MiB chunks) against a plain copy of the same bytes, in one run.

    python bench/bench_sealed.py --mib 256
"""

from __future__ import annotations

import argparse
import io
import os
import time

from cryptography.fernet import Fernet

from haechi.store.crypto import Cipher
from haechi.store.sealed import open_sealed, seal_stream


def _timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    data = os.urandom(args.mib << 20)
    cipher = Cipher(Fernet.generate_key())
    out = io.BytesIO()
    copy_s = _timed(lambda: bytearray(data))
    seal_s = _timed(lambda: seal_stream(io.BytesIO(data), out, cipher))
    sealed = out.getvalue()
    unseal_s = _timed(lambda: open_sealed(io.BytesIO(sealed), "bench", cipher).read())
    mib = args.mib
    print("| operation | MiB/s | ms per MiB |\n|---|---|---|")
    for name, secs in (("plain copy (baseline)", copy_s), ("seal", seal_s), ("unseal (read + verify)", unseal_s)):
        print(f"| {name} | {mib / secs:,.0f} | {1000 * secs / mib:.2f} |")
    print(f"\noverhead: {len(sealed) - len(data)} bytes on {mib} MiB ({(len(sealed) - len(data)) / mib:.0f} per MiB)")


if __name__ == "__main__":
    main()
