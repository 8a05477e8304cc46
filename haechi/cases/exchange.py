"""Hash-list exchange with platforms: hashes with a case reference, never media.

A ``SignalExchange`` is one class: a name, ``dump`` (signals → text) and ``load`` (text →
signals). Register a new exchange in ``EXCHANGES``. Formats:
- ``stopncii``: CSV ``case_reference,hash_type,hash_value`` with PDQ and MD5 (the two hash types
  StopNCII shares with its partner platforms);
- ``hma``: JSON lines ``{"pdq": "..."}`` / ``{"vpdq": "..."}`` / ``{"video_md5": "..."}`` /
  ``{"video_sha256": "..."}`` — the body HMA's ``POST /c/bank/{name}/signal`` takes, so each line
  can be sent to an HMA bank as is. Names are python-threatexchange's
  (:meth:`haechi.signals.SignalType.exchange_name`): HMA answers 400 "No such signal type" for
  any other (``blueprints/curation.py``), so an image's MD5 or SHA-256 — which tx has no type
  for — is not written, and an MD5 is written only when the signal says it is a video's
  (``content_type``). Haechi's older ``{"md5": ...}`` lines are still read.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import ClassVar, Protocol

from haechi.errors import BadSignal, InputError
from haechi.signals import SIGNAL_TYPES


@dataclass(frozen=True)
class ExchangedSignal:
    signal_type: str
    signal: str
    case_ref: str | None = None
    #: "photo" | "video" when known (tx's content types): formats that name signals per content
    #: type (``hma``) need it for MD5 and SHA-256
    content_type: str | None = None


class SignalExchange(Protocol):
    name: ClassVar[str]
    signal_types: ClassVar[tuple[str, ...]]

    def dump(self, signals: list[ExchangedSignal]) -> str: ...

    def load(self, text: str, source: str) -> tuple[list[ExchangedSignal], list[str]]: ...


def _valid(signal_type: str, value: str, where: str, allowed: tuple[str, ...]) -> ExchangedSignal | str:
    if signal_type not in allowed:
        return f"{where}: hash type {signal_type!r} not exchanged in this format ({', '.join(allowed)})"
    try:
        return ExchangedSignal(signal_type, SIGNAL_TYPES[signal_type].normalize(value))
    except BadSignal as exc:
        return f"{where}: {exc.reason}"


class StopNCIIExchange:
    name: ClassVar[str] = "stopncii"
    signal_types: ClassVar[tuple[str, ...]] = ("pdq", "md5")

    def dump(self, signals: list[ExchangedSignal]) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["case_reference", "hash_type", "hash_value"])
        for s in signals:
            if s.signal_type in self.signal_types:
                w.writerow([s.case_ref or "", s.signal_type, s.signal])
        return buf.getvalue()

    def load(self, text: str, source: str) -> tuple[list[ExchangedSignal], list[str]]:
        out: list[ExchangedSignal] = []
        errors: list[str] = []
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            fields = reader.fieldnames
        except csv.Error as exc:  # e.g. a bare carriage return in the header (found by fuzz_exchange)
            raise InputError(source, f"malformed CSV header: {exc}") from None
        if fields is None or not {"hash_type", "hash_value"} <= set(fields):
            raise InputError(source, "expected CSV columns case_reference,hash_type,hash_value")
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                errors.append(f"{source}:{reader.line_num}: malformed CSV line: {exc}")
                continue
            where = f"{source}:{reader.line_num}"
            got = _valid((row.get("hash_type") or "").strip().lower(), row.get("hash_value") or "", where,
                         self.signal_types)
            if isinstance(got, str):
                errors.append(got)
            else:
                out.append(ExchangedSignal(got.signal_type, got.signal, (row.get("case_reference") or None)))
        return out, errors


class HMAExchange:
    name: ClassVar[str] = "hma"
    signal_types: ClassVar[tuple[str, ...]] = ("pdq", "md5", "sha256", "vpdq")
    #: names read on import: tx's (pdq, vpdq, video_md5, video_sha256) and Haechi's older ``md5``
    read_names: ClassVar[dict[str, str]] = {"pdq": "pdq", "vpdq": "vpdq", "video_md5": "md5",
                                            "video_sha256": "sha256", "md5": "md5"}

    def dump(self, signals: list[ExchangedSignal]) -> str:
        lines = []
        for s in signals:
            if s.signal_type not in self.signal_types:
                continue
            field_name = SIGNAL_TYPES[s.signal_type].exchange_name(s.content_type)
            if field_name is not None:
                lines.append(json.dumps({field_name: s.signal}) + "\n")
        return "".join(lines)

    def load(self, text: str, source: str) -> tuple[list[ExchangedSignal], list[str]]:
        out: list[ExchangedSignal] = []
        errors: list[str] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{source}:{number}"
            try:
                obj = json.loads(line)
            except ValueError as exc:
                errors.append(f"{where}: malformed JSON: {exc}")
                continue
            if not isinstance(obj, dict) or len(obj) != 1:
                errors.append(f"{where}: expected one {{signal_type: signal}} per line")
                continue
            ((name, value),) = obj.items()
            name = str(name).lower()
            if name not in self.read_names:
                errors.append(f"{where}: hash type {name!r} not exchanged in this format "
                              f"({', '.join(self.read_names)})")
                continue
            got = _valid(self.read_names[name], str(value), where, self.signal_types)
            if isinstance(got, str):
                errors.append(got)
            else:
                video = name.startswith("video_") or name == "vpdq"
                out.append(ExchangedSignal(got.signal_type, got.signal, content_type="video" if video else None))
        return out, errors


#: the one place an exchange format is registered
EXCHANGES: dict[str, SignalExchange] = {e.name: e for e in (StopNCIIExchange(), HMAExchange())}


def exchange(name: str) -> SignalExchange:
    if name not in EXCHANGES:
        raise InputError(name, f"exchange format must be one of {', '.join(EXCHANGES)}")
    return EXCHANGES[name]
