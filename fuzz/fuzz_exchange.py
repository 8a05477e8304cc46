"""Bank import lines (JSONL/CSV), signal normalisation, vPDQ strings, exchange formats."""
import atheris

with atheris.instrument_imports():
    from haechi.cases.exchange import EXCHANGES
    from haechi.errors import HaechiError
    from haechi.services.banks import parse_exchange
    from haechi.signals import SIGNAL_TYPES

import contextlib

from _common import run


def one(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    for _, row in parse_exchange(text, "fuzz"):
        if isinstance(row, dict) and row.get("signal_type") in SIGNAL_TYPES:
            with contextlib.suppress(HaechiError):
                SIGNAL_TYPES[row["signal_type"]].normalize(row.get("signal", ""))
    for ex in EXCHANGES.values():
        with contextlib.suppress(HaechiError):
            ex.load(text, "fuzz")


if __name__ == "__main__":
    run(one)
