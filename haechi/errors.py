"""Error types. Every failure a user can cause is a typed error that names its input.

Callers catch :class:`HaechiError`; the CLI turns it into a one-line message and an exit
status, the API into a JSON error, the library lets it propagate. The tree (as httpx writes
its own, ``httpx/_exceptions.py``)::

    HaechiError                     anything Haechi raises on purpose
    ├── InputError(source, reason)  you asked wrongly: CLI exit 2, HTTP 400
    │   ├── MediaError              media that cannot be decoded or is over a limit
    │   │   └── MediaAborted        decoding was stopped: over the time limit, or its process
    │   │                           died (the API's hashing pool): HTTP 422
    │   ├── UnsafeArchiveMember     an archive member escaping the archive or over a limit
    │   └── BadSignal               a hash string that is not a valid signal of its type
    ├── NotFound(kind, name)        a named bank, entry, case... does not exist: exit 2, HTTP 404
    ├── AlreadyExists(kind, name)   a unique name is taken: exit 2, HTTP 409
    ├── Busy(source, reason)        the server's hashing pool is full: HTTP 503 + Retry-After
    ├── RemoteError(source, reason) another system failed (partner feed, SMTP, TSA, a URL fetch,
    │                               a job time-out): retry later — CLI exit 1, HTTP 502
    └── ConfigError                 the configuration is unusable: exit 2, HTTP 500
"""

from __future__ import annotations


class HaechiError(Exception):
    """Base of every error Haechi raises on purpose."""


class InputError(HaechiError):
    """A piece of input (a file, an archive member, an import line) could not be used."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        # crosses process boundaries (worker pools) intact: the default would call cls(message)
        return type(self), (self.source, self.reason)


class MediaError(InputError):
    """Media that cannot be decoded: corrupt, truncated, not an image, or over a safety limit."""


class MediaAborted(MediaError):
    """Decoding and hashing of one file was stopped: it ran past the hashing pool's time limit,
    or the process doing it died (out of memory, a crash in a native decoder). The file's fault
    as far as anyone can tell — other files were served meanwhile (HTTP 422)."""


class UnsafeArchiveMember(InputError):
    """An archive member that would escape the archive or exceed a size limit."""


class BadSignal(InputError):
    """A hash string that is not a valid signal of its type."""


class NotFound(HaechiError):
    """A named object (bank, entry) does not exist."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} not found: {name}")


class AlreadyExists(HaechiError):
    """A named object already exists and names must be unique."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} already exists: {name}")


class Busy(HaechiError):
    """Every hashing worker is busy and the waiting line is full: not the caller's mistake, try
    again after ``retry_after`` seconds (HTTP 503 with Retry-After)."""

    def __init__(self, source: str, reason: str, retry_after: int = 1) -> None:
        self.source = source
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(f"{source}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.source, self.reason, self.retry_after)


class RemoteError(HaechiError):
    """A system Haechi called failed or did not answer in time (a partner's sync feed, an SMTP
    server, a timestamp authority, a URL fetched for hashing, a job's workers). Not the caller's
    mistake: the same request may succeed later."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.source, self.reason)


class ConfigError(HaechiError):
    """The configuration (home, database URL, key) is unusable."""
