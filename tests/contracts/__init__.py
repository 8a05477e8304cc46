"""Contract tests: one parametrised suite per plugin registry (:mod:`haechi.plugins`), so a new
signal type, detector, face detector, exchange format, blob store, job kind or notice regime is tested the day
it is registered — python-threatexchange's ``SignalTypeAutoTest`` idea, over every registry."""
