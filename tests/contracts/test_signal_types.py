"""Every signal type: its examples are valid and canonical, normalising is idempotent, bad strings
raise BadSignal naming the input, and it declares content types and field-standard names."""

from __future__ import annotations

import pytest

from haechi import plugins
from haechi.errors import BadSignal
from haechi.signals.base import PHOTO, VIDEO, SignalType

TYPES = list(plugins.signal_types().values())
BAD = ["", "   ", "zz", "not a hash", "g" * 32, "g" * 64, "0" * 31, "0" * 65, "[]", '["x"]', "{}", "\x00" * 32,
       "0x" + "0" * 62]


@pytest.fixture(params=TYPES, ids=[t.name for t in TYPES])
def signal_type(request: pytest.FixtureRequest) -> type[SignalType]:
    return request.param  # type: ignore[no-any-return]


def test_examples_are_valid_canonical_and_normalising_is_idempotent(signal_type: type[SignalType]) -> None:
    examples = signal_type.examples()
    assert examples, f"add examples to {signal_type.__name__}.examples()"
    for example in examples:
        once = signal_type.normalize(example)
        assert signal_type.normalize(once) == once
        assert once == example, "examples are given in canonical form"
        assert signal_type.normalize(f"  {example.upper() if signal_type.exact else example}\n") == once


def test_bad_strings_raise_bad_signal(signal_type: type[SignalType]) -> None:
    for bad in BAD:
        with pytest.raises(BadSignal) as info:
            signal_type.normalize(bad)
        assert info.value.reason


def test_declares_content_types_and_field_names(signal_type: type[SignalType]) -> None:
    assert signal_type.name and signal_type.name == signal_type.name.lower()
    assert signal_type.content_types and set(signal_type.content_types) <= {PHOTO, VIDEO}
    assert set(signal_type.field_names) <= set(signal_type.content_types)
    for content_type in signal_type.content_types:
        name = signal_type.exchange_name(content_type)
        assert name is None or (name == name.lower() and " " not in name)


def test_field_names_are_unique_across_types() -> None:
    seen: dict[str, str] = {}
    for t in TYPES:
        for name in t.field_names.values():
            assert name not in seen, f"{t.name} and {seen[name]} both exchange as {name}"
            seen[name] = t.name
