"""Shared set-up for the atheris harnesses: expected errors are Haechi's typed errors; anything
else escaping a parser is a finding (atheris reports it with the input that caused it)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris


def run(test_one_input: Callable[[bytes], None]) -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
