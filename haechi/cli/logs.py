"""Structured logs for long-running doors (``haechi serve``, ``haechi worker``): one JSON object a
line on stderr, with the ``extra`` fields a module logs (e.g. ``haechi.egress``'s refused host and
addresses) — details an operator needs and a caller must never see."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

#: attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: int = logging.INFO) -> None:
    """Send ``haechi.*`` logs to stderr as JSON lines (idempotent)."""
    log = logging.getLogger("haechi")
    if any(isinstance(h.formatter, JsonFormatter) for h in log.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
