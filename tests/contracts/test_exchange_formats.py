"""Every exchange format: dump → load gives back what it exchanges (a fixpoint on a second round),
and malformed input becomes per-line errors naming the source, never an exception."""

from __future__ import annotations

import pytest

from haechi import plugins
from haechi.cases.exchange import ExchangedSignal
from haechi.errors import InputError

FORMATS = list(plugins.exchange_formats().values())


def _signals() -> list[ExchangedSignal]:
    out = []
    for t in plugins.signal_types().values():
        for content_type in t.content_types:
            for example in t.examples():
                out.append(ExchangedSignal(t.name, example, "C-2026-00001", content_type))
    return out


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_dump_load_round_trip(fmt: object) -> None:
    signals = _signals()
    text = fmt.dump(signals)  # type: ignore[attr-defined]
    loaded, errors = fmt.load(text, "round-trip")  # type: ignore[attr-defined]
    assert errors == [] and loaded, fmt
    exchanged = {(s.signal_type, s.signal) for s in signals}
    assert {(s.signal_type, s.signal) for s in loaded} <= exchanged
    assert {s.signal_type for s in loaded} <= set(fmt.signal_types)  # type: ignore[attr-defined]
    again = fmt.dump(loaded)  # type: ignore[attr-defined]
    assert fmt.load(again, "second")[0] == loaded  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_malformed_input_is_reported_per_line(fmt: object) -> None:
    good = fmt.dump(_signals()[:1] + [ExchangedSignal("pdq", plugins.signal_types()["pdq"].examples()[0])])  # type: ignore[attr-defined]
    for junk in ("not,a,line\n", '{"pdq": "zz"}\n', "\x00\x01\r\n", '{"md5": 1, "pdq": 2}\n'):
        try:
            loaded, errors = fmt.load(good + junk, "junk.txt")  # type: ignore[attr-defined]
        except InputError as exc:  # a file the format cannot read at all
            assert "junk.txt" in str(exc)
            continue
        assert all("junk.txt" in e for e in errors)
