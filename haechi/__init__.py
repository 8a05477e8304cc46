"""Haechi: find, evidence and take down non-consensual intimate imagery and sexual deepfakes.

>>> from haechi import Haechi
>>> h = Haechi(home="/tmp/haechi-doc")  # doctest: +SKIP
>>> h.create_bank("reported")  # doctest: +SKIP

``Haechi`` is imported on first use (PEP 562), so importing any ``haechi.*`` module — the CLI's
``--help`` included — does not load the whole library and its native dependencies.
"""

from typing import TYPE_CHECKING, Any

from haechi.errors import HaechiError, InputError, NotFound, RemoteError

__version__ = "0.1.0"

__all__ = ["Haechi", "HaechiError", "InputError", "NotFound", "RemoteError", "__version__"]

if TYPE_CHECKING:
    from haechi.app import Haechi


def __getattr__(name: str) -> Any:
    if name == "Haechi":
        from haechi.app import Haechi

        return Haechi
    raise AttributeError(f"module 'haechi' has no attribute {name!r}")
