"""Signals: what Haechi computes from media and matches on.

Each signal type is one class in one module, registered in :data:`SIGNAL_TYPES` below —
the one place to add a new hasher (python-threatexchange's ``signal_type/`` pattern).
"""

from haechi.signals.base import SignalType
from haechi.signals.crypto import MD5Signal, SHA256Signal
from haechi.signals.pdq import PDQSignal
from haechi.signals.vpdq import VPDQSignal

SIGNAL_TYPES: dict[str, type[SignalType]] = {
    cls.name: cls for cls in (PDQSignal, MD5Signal, SHA256Signal, VPDQSignal)
}

__all__ = ["SIGNAL_TYPES", "MD5Signal", "PDQSignal", "SHA256Signal", "SignalType", "VPDQSignal"]
