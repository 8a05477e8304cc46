"""Files, folders, zip and tar archives as a lazy stream of media references.

Folders are walked (symlinks followed, loops detected by device/inode); archives are opened
in place, never extracted to disk, and members are read with hard size limits so a zip bomb
or a path-traversal name is reported as an error instead of being obeyed.
"""

from __future__ import annotations

import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from haechi.errors import InputError, UnsafeArchiveMember

ARCHIVE_SEPARATOR = "!"
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


@dataclass(frozen=True)
class RecordLocator:
    """Where a web-archive record starts: the WARC file (or WACZ with ``member``, the WARC inside
    it) and the byte offset of the record. Small and picklable, so an archive's items are a list
    of these and each payload is read by the process that hashes it."""

    archive: str
    member: str | None
    offset: int


@dataclass(frozen=True)
class MediaRef:
    """One piece of media to process.

    ``path`` is what users see (``archive.zip!member.jpg`` for members). Exactly one of
    ``file`` (read by the worker), ``data`` (already read, for archive members) or ``record``
    (a web-archive record, read by the worker) is set, unless ``error`` says why it could not be
    read at all.
    """

    path: str
    file: str | None = None
    data: bytes | None = None
    error: str | None = None
    record: RecordLocator | None = None


@dataclass(frozen=True)
class Limits:
    """Safety limits for reading files and archives."""

    max_file_bytes: int
    max_archive_bytes: int
    max_compression_ratio: int
    #: plain files may be this large (videos are streamed); archive members keep max_file_bytes
    max_video_bytes: int = 0


def iter_media(paths: Iterable[str | os.PathLike[str]], limits: Limits) -> Iterator[MediaRef]:
    """Yield a :class:`MediaRef` for every file under ``paths``, archives opened, in a stable order."""
    for raw in paths:
        path = Path(raw)
        try:
            st = path.stat()
        except OSError as exc:
            yield MediaRef(path=str(raw), error=_os_reason(exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(path, limits, visited={(st.st_dev, st.st_ino)})
        else:
            yield from _file_refs(path, limits)


def _walk_dir(root: Path, limits: Limits, visited: set[tuple[int, int]]) -> Iterator[MediaRef]:
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        yield MediaRef(path=str(root), error=_os_reason(exc))
        return
    for entry in entries:
        child = Path(entry.path)
        try:
            st = child.stat()  # follows symlinks
        except OSError as exc:
            yield MediaRef(path=str(child), error=_os_reason(exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in visited:
                yield MediaRef(path=str(child), error="symlink loop: folder already visited")
                continue
            yield from _walk_dir(child, limits, visited | {key})
        elif stat.S_ISREG(st.st_mode):
            yield from _file_refs(child, limits)
        else:
            yield MediaRef(path=str(child), error="not a regular file")


def _file_refs(path: Path, limits: Limits) -> Iterator[MediaRef]:
    name = path.name.lower()
    try:
        if name.endswith(".zip") or name.endswith(".cbz"):
            yield from _zip_members(path, limits)
            return
        if name.endswith(_TAR_SUFFIXES):
            yield from _tar_members(path, limits)
            return
        size = path.stat().st_size
    except InputError as exc:
        yield MediaRef(path=str(path), error=exc.reason)
        return
    except OSError as exc:
        yield MediaRef(path=str(path), error=_os_reason(exc))
        return
    cap = max(limits.max_file_bytes, limits.max_video_bytes)
    if size > cap:
        yield MediaRef(path=str(path), error=f"file is {size} bytes, over the limit of {cap}")
        return
    yield MediaRef(path=str(path), file=str(path))


def check_member_name(name: str) -> None:
    """Reject absolute or parent-escaping member names (path traversal)."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveMember(name, "unsafe member path (absolute or contains '..')")


def _zip_members(path: Path, limits: Limits) -> Iterator[MediaRef]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        # NotImplementedError: a zip "version needed" zipfile does not support (found by fuzz_archive)
        raise InputError(str(path), f"not a readable zip archive: {exc}") from None
    total = 0
    with zf:
        for info in zf.infolist():
            if not info.filename or info.filename.endswith("/"):  # is_dir() fails on an empty name (fuzz_archive)
                continue
            shown = f"{path}{ARCHIVE_SEPARATOR}{info.filename}"
            try:
                check_member_name(info.filename)
                if info.file_size > limits.max_file_bytes:
                    raise UnsafeArchiveMember(info.filename, f"member is {info.file_size} bytes, over the limit")
                if info.compress_size and info.file_size / max(info.compress_size, 1) > limits.max_compression_ratio:
                    raise UnsafeArchiveMember(
                        info.filename,
                        f"compression ratio {info.file_size // max(info.compress_size, 1)}:1 "
                        "looks like a zip bomb",
                    )
                if total + info.file_size > limits.max_archive_bytes:
                    raise UnsafeArchiveMember(info.filename, "archive total size over the limit")
                with zf.open(info) as fh:
                    data = fh.read(limits.max_file_bytes + 1)
                if len(data) > limits.max_file_bytes:
                    raise UnsafeArchiveMember(info.filename, "member larger than declared (zip bomb)")
                total += len(data)
            except InputError as exc:
                yield MediaRef(path=shown, error=exc.reason)
                continue
            except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError, NotImplementedError,
                    zlib.error, lzma.LZMAError) as exc:
                yield MediaRef(path=shown, error=f"cannot read archive member: {exc}")
                continue
            yield MediaRef(path=shown, data=data)


def _tar_members(path: Path, limits: Limits) -> Iterator[MediaRef]:
    try:
        tf = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        raise InputError(str(path), f"not a readable tar archive: {exc}") from None
    total = 0
    with tf:
        while True:
            try:
                info = tf.next()
            except (tarfile.TarError, OSError, EOFError) as exc:
                yield MediaRef(path=str(path), error=f"archive is corrupt after some members: {exc}")
                return
            if info is None:
                return
            if info.isdir():
                continue
            shown = f"{path}{ARCHIVE_SEPARATOR}{info.name}"
            try:
                check_member_name(info.name)
                if not info.isfile():
                    raise UnsafeArchiveMember(info.name, "not a regular file (link or device) — skipped")
                if info.size > limits.max_file_bytes:
                    raise UnsafeArchiveMember(info.name, f"member is {info.size} bytes, over the limit")
                if total + info.size > limits.max_archive_bytes:
                    raise UnsafeArchiveMember(info.name, "archive total size over the limit")
                fh = tf.extractfile(info)
                if fh is None:
                    raise UnsafeArchiveMember(info.name, "member has no data")
                data = fh.read(limits.max_file_bytes + 1)
                total += len(data)
            except InputError as exc:
                yield MediaRef(path=shown, error=exc.reason)
                continue
            except (tarfile.TarError, OSError, EOFError) as exc:
                yield MediaRef(path=shown, error=f"cannot read archive member: {exc}")
                continue
            yield MediaRef(path=shown, data=data)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "no such file or folder"
    if exc.errno == 40:  # ELOOP
        return "symlink loop"
    return exc.strerror or str(exc)
