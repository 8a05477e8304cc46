"""The signal-type protocol shared by every hasher."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar


class SignalType(ABC):
    """A kind of signal that can live in a bank and be matched.

    ``exact`` signals match only on equality (cryptographic hashes); the others have a distance
    (PDQ: Hamming distance over 256 bits).
    """

    name: ClassVar[str]
    exact: ClassVar[bool]

    @classmethod
    @abstractmethod
    def normalize(cls, value: str) -> str:
        """Return the canonical form of ``value`` or raise :class:`haechi.errors.BadSignal`."""
