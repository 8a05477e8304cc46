"""The signal-type protocol shared by every hasher.

Modelled on python-threatexchange's ``SignalType`` (``signal_type/signal_base.py``): besides the
canonical form, a signal type says which content it applies to and gives examples, so contract
tests (``tests/contracts/test_signal_types.py``) cover every type, as tx's ``SignalTypeAutoTest``
does. Hashing and matching stay in Haechi's own pipeline (``services/analyse.py``, the indexes):
PDQ with dihedral, trimmed and band variants is a performance design a generic index would lose.

Names: ``name`` is the bank's ``signal_type`` (stored in the database; never renamed). Where the
field's name differs — threatexchange has no photo MD5, and calls a video's ``video_md5`` /
``video_sha256`` — :meth:`SignalType.exchange_name` gives the field-standard name per content
type, and ``None`` where the field has no such signal type (HMA answers 400 for an unknown one).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

#: threatexchange's content type names (``content_type/{photo,video}.py``)
PHOTO = "photo"
VIDEO = "video"


class SignalType(ABC):
    """A kind of signal that can live in a bank and be matched.

    ``exact`` signals match only on equality (cryptographic hashes); the others have a distance
    (PDQ: Hamming distance over 256 bits).
    """

    name: ClassVar[str]
    exact: ClassVar[bool]
    #: the content types this signal is computed from (tx's ``get_content_types``)
    content_types: ClassVar[tuple[str, ...]]
    #: content type -> the python-threatexchange / HMA signal type name; a content type missing
    #: here has no field-standard name (the signal is not exchanged for it)
    field_names: ClassVar[dict[str, str]]

    @classmethod
    @abstractmethod
    def normalize(cls, value: str) -> str:
        """Return the canonical form of ``value`` or raise :class:`haechi.errors.BadSignal`."""

    @classmethod
    @abstractmethod
    def examples(cls) -> list[str]:
        """Valid signals, for tests and demos (tx's ``get_examples``)."""

    @classmethod
    def exchange_name(cls, content_type: str | None) -> str | None:
        """The field-standard name of this signal for ``content_type`` (``None``: not exchanged)."""
        if content_type is None:
            names = set(cls.field_names.values())
            return names.pop() if len(names) == 1 and len(cls.content_types) == 1 else None
        return cls.field_names.get(content_type)
