"""Error types. Every failure a user can cause is a typed error that names its input.

Callers catch :class:`HaechiError`; the CLI turns it into a one-line message and an exit
status, the library lets it propagate.
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


class MediaError(InputError):
    """Media that cannot be decoded: corrupt, truncated, not an image, or over a safety limit."""


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


class ConfigError(HaechiError):
    """The configuration (home, database URL, key) is unusable."""
