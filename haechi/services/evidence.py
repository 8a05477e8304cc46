"""Evidence use-cases: capture URLs (and record them), check stored artefacts, export a case."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from haechi.errors import InputError, NotFound, RemoteError
from haechi.evidence import custody
from haechi.evidence.capture import Screenshotter, capture_page, discard, orphans, sha256_file
from haechi.evidence.package import write_package
from haechi.evidence.timestamp import TSR_NAME, request_timestamp, stamped_bytes, tsa_settings, verify_token
from haechi.services.scan import scan_refs
from haechi.sources import MediaRef
from haechi.sources.web import FetchLimits
from haechi.store.blobs import BlobStore, read_bytes, sha256_of
from haechi.store.models import Capture, CrawlState

if TYPE_CHECKING:
    from haechi.runtime import Runtime


#: called inside the transaction that records a capture, so work keyed on it (a job item marked
#: done, an item's recheck status) commits together with the capture or not at all
OnRecord = Callable[[Session, dict[str, Any]], None]


#: HTTP statuses that say the page is gone (a removal, once confirmed)
GONE = (404, 410, 451)
#: asks for a URL by a second path: ``{"path", "status", "error"}`` (``capture.second_look``)
SecondLook = Callable[[str, FetchLimits], dict[str, Any]]


def capture_urls(rt: Runtime, urls: Iterable[str], case_ref: str | None, actor: str, screenshot: bool,
                 allow_private: bool, on_record: OnRecord | None = None,
                 confirm_gone: SecondLook | None = None) -> Iterator[dict[str, Any]]:
    """Capture and record each URL (custody entry + ``captures`` row per URL). With
    ``confirm_gone``, a page answered 404/410/451 is asked for again by that second path before
    it is recorded (outside the transaction); its answer is in the custody entry and the result
    as ``second_look``."""
    limits = FetchLimits(allow_private=allow_private, max_bytes=rt.settings.max_file_bytes)
    if screenshot:
        with Screenshotter(limits) as shooter:
            yield from _capture_urls(rt, urls, case_ref, actor, shooter, limits, on_record, confirm_gone)
    else:
        yield from _capture_urls(rt, urls, case_ref, actor, None, limits, on_record, confirm_gone)


def _capture_urls(rt: Runtime, urls: Iterable[str], case_ref: str | None, actor: str, shooter: Screenshotter | None,
                  limits: FetchLimits, on_record: OnRecord | None,
                  confirm_gone: SecondLook | None = None) -> Iterator[dict[str, Any]]:
    faces = rt.has_subjects()
    for url in urls:
        captured_at = custody.now_iso()
        try:
            cap = capture_page(url, rt.evidence_dir, captured_at, limits=limits, screenshotter=shooter)
        except InputError as exc:
            yield {"url": url, "final_url": None, "status": None, "captured_at": captured_at, "warc": None,
                   "screenshot": None, "sha256": {}, "media": [], "custody_entry": None, "error": str(exc)}
            continue
        try:
            # a medium's error already names its URL; the row prefixes the path (the URL) once
            refs = [MediaRef(path=m.url, data=m.body) if m.body is not None
                    else MediaRef(path=m.url, error=(m.error or "not fetched").removeprefix(f"{m.url}: "))
                    for m in cap.media]
            media: list[dict[str, Any]] = []
            for captured, row in zip(cap.media, scan_refs(rt, refs, faces=faces) if refs else [], strict=True):
                item = {"url": row["path"], "sha256": row["sha256"], "md5": row["md5"], "pdq": row["pdq"],
                        "pdq_quality": row["pdq_quality"], "width": row["width"], "height": row["height"],
                        "media_type": row["media_type"], "matches": row["matches"], "error": row["error"],
                        "how": captured.how, "http_status": captured.status}
                if row.get("vpdq"):
                    item["vpdq"] = row["vpdq"]
                if faces:
                    item["faces"] = row.get("faces", [])
                media.append(item)
            rel = cap.folder.relative_to(rt.evidence_dir).as_posix()
            stamp_info: dict[str, Any] = {}
            tsa_url, _ = tsa_settings(rt.settings.tsa_url, rt.settings.tsa_cert)
            if tsa_url and cap.error is None:
                try:
                    stamp = request_timestamp(stamped_bytes(cap.artefacts), tsa_url)
                    tsr = cap.folder / TSR_NAME
                    tsr.write_bytes(stamp.token)
                    tsr.chmod(0o400)
                    cap.artefacts[TSR_NAME] = sha256_file(tsr)
                    stamp_info = {"timestamp": {"tsa": tsa_url, "gen_time": stamp.gen_time, "serial": stamp.serial}}
                except RemoteError as exc:  # the TSA failed: the capture still stands, with the reason
                    stamp_info = {"timestamp_error": str(exc)}
            store = rt.blobs
            for name in cap.artefacts:  # a no-op for the local store; an upload for object storage
                store.put_file(f"{rel}/{name}", cap.folder / name)
            details = {"url": url, "final_url": cap.final_url, "status": cap.status, "folder": str(rel),
                       "outcome": cap.outcome, "reason": cap.reason, "item_status": cap.item_status,
                       "charset": cap.charset,
                       "media": len(media), "matched": sum(bool(m["matches"]) for m in media),
                       "media_sha256": {m["url"]: m["sha256"] for m in media if m["sha256"]}}
            if cap.error:
                details["error"] = cap.error
            second = confirm_gone(url, limits) if confirm_gone is not None and cap.status in GONE else None
            if second is not None:
                details["second_look"] = second
            details.update(stamp_info)
            with rt.db.session() as s:
                entry = custody.append(s, "capture", actor, case_ref=case_ref, details=details, artefacts=cap.artefacts)
                cap_row = Capture(case_ref=case_ref, url=url, final_url=cap.final_url, status=cap.status,
                              captured_at=captured_at, folder=str(rel), artefacts=json.dumps(cap.artefacts),
                              media=json.dumps(media), custody_entry_id=entry.id, error=cap.error)
                s.add(cap_row)
                s.flush()
                entry_info = {"id": entry.id, "entry_hash": entry.entry_hash, "prev_hash": entry.prev_hash}
                out: dict[str, Any] = {
                    "url": url, "final_url": cap.final_url, "status": cap.status, "captured_at": captured_at,
                    "warc": _location(store, f"{rel}/capture.warc.gz"),
                    "screenshot": _location(store, f"{rel}/screenshot.png") if "screenshot.png" in cap.artefacts
                    else None,
                    "sha256": cap.artefacts, "media": media, "custody_entry": entry_info, "capture_id": cap_row.id,
                    "case": case_ref, "links": cap.links, "page_sha256": cap.page_sha256, "error": cap.error,
                    "outcome": cap.outcome, "reason": cap.reason, "item_status": cap.item_status,
                    "charset": cap.charset,
                    "resources": [{"url": r.url, "kind": r.kind, "status": r.status} for r in cap.resources]}
                if cap.screenshot_error:
                    out["screenshot_error"] = cap.screenshot_error
                if second is not None:
                    out["second_look"] = second
                out.update(stamp_info)
                if on_record is not None:
                    on_record(s, out)
        except Exception as exc:  # noqa: BLE001 - one URL failing never stops the others
            # nothing was recorded: no artefact may stay without its custody entry
            discard(cap)
            yield {"url": url, "final_url": cap.final_url, "status": cap.status, "captured_at": captured_at,
                   "warc": None, "screenshot": None, "sha256": {}, "media": [], "custody_entry": None,
                   "outcome": "failed", "error": f"{url}: could not be recorded: {type(exc).__name__}: {exc}"}
            continue
        if store.local_path(f"{rel}/capture.warc.gz") is None:  # uploaded and recorded: drop the staging copy
            shutil.rmtree(cap.folder, ignore_errors=True)
        yield out


def _location(store: BlobStore, key: str) -> str:
    path = store.local_path(key)
    return str(path) if path is not None else f"{store.url.rstrip('/')}/{key}"


def verify_artefacts(rt: Runtime, case_ref: str | None = None) -> list[str]:
    """Every stored artefact still has the hash the custody log recorded."""
    problems: list[str] = []
    store = rt.blobs
    with rt.db.session() as s:
        query = select(Capture)
        if case_ref is not None:
            query = query.where(Capture.case_ref == case_ref)
        for cap in s.scalars(query):
            artefacts = json.loads(cap.artefacts)
            for name, digest in artefacts.items():
                key = f"{cap.folder}/{name}"
                if not store.exists(key):
                    problems.append(f"capture {cap.id}: artefact {name} is missing ({_location(store, key)})")
                    continue
                try:
                    actual = sha256_of(store, key)
                except InputError as exc:  # a sealed artefact that fails authentication
                    problems.append(f"capture {cap.id}: artefact {name} was modified ({exc.reason})")
                    continue
                if actual != digest:
                    problems.append(f"capture {cap.id}: artefact {name} was modified (hash differs)")
            tsr_key = f"{cap.folder}/{TSR_NAME}"
            if TSR_NAME in artefacts and store.exists(tsr_key):
                try:
                    token = read_bytes(store, tsr_key)
                except InputError as exc:
                    problems.append(f"capture {cap.id}: trusted timestamp token unreadable ({exc.reason})")
                    continue
                check = verify_token(token, stamped_bytes(artefacts), _tsa_cert(rt))
                if not check["ok"]:
                    problems.append(f"capture {cap.id}: trusted timestamp: {check['problem']}")
    return problems


def orphan_artefacts(rt: Runtime) -> list[str]:
    """Capture folders and half-written files under a local evidence store that no recorded
    capture covers: what a process killed mid-capture leaves behind. Reported, not failures —
    they never entered the custody chain, which stays intact (the crash-safety tests kill captures)."""
    store = rt.blobs
    if store.local_path("probe") is None:
        return []
    with rt.db.session() as s:
        recorded = list(s.scalars(select(Capture.folder)))
    return orphans(rt.evidence_dir, recorded)


def export_case(rt: Runtime, case_ref: str, out: Path, actor: str, recipients: Sequence[str] = (),
                passphrase: str | None = None, plaintext: bool = False) -> dict[str, Any]:
    """Write the case's evidence package (zip: manifest, artefacts, custody chain, PDF) to ``out``,
    encrypted with age to ``recipients`` (``age1...`` public keys) or a ``passphrase`` — or, only
    when ``plaintext`` is asked for explicitly, in the clear (a court's offline copy). The package
    holds intimate images: it never leaves Haechi readable by accident (issue #17).

    Raises InputError (no encryption chosen, a bad recipient, tampered evidence), NotFound (case)."""
    if not plaintext and not recipients and not passphrase:
        raise InputError("export", "the package holds intimate images: give --recipient age1... (or "
                                   "--passphrase-stdin) to encrypt it, or --plaintext for a court's copy")
    parsed = _age_recipients(recipients)
    with rt.db.session() as s:
        captures = list(s.scalars(select(Capture).where(Capture.case_ref == case_ref).order_by(Capture.id)))
        if not captures:
            raise NotFound("case", f"{case_ref} (no captures recorded)")
        problems = verify_artefacts(rt, case_ref)
        if problems:
            raise InputError(case_ref, "refusing to export tampered evidence: " + "; ".join(problems))
        # the export itself is a custody event; the package carries the chain up to and including it
        entry = custody.append(s, "export", actor, case_ref=case_ref, details={"captures": [c.id for c in captures]},
                               private={"out": out.name})  # a file name someone typed: sealed
        chain = custody.rows_of(s)
        cap_rows = [{"id": c.id, "url": c.url, "final_url": c.final_url, "status": c.status,
                     "captured_at": c.captured_at, "folder": c.folder, "artefacts": json.loads(c.artefacts),
                     "media": json.loads(c.media), "custody_entry_id": c.custody_entry_id} for c in captures]
        entry_hash = entry.entry_hash
    store = rt.blobs
    files = {f"captures/{c['id']}/{name}": read_bytes(store, f"{c['folder']}/{name}")
             for c in cap_rows for name in c["artefacts"]}
    if plaintext:
        manifest = write_package(out, case_ref, cap_rows, chain, files)
    else:
        import pyrage

        with tempfile.TemporaryDirectory(dir=rt.settings.home) as tmp:  # the home: 0700, never /tmp
            clear = Path(tmp) / "package.zip"
            manifest = write_package(clear, case_ref, cap_rows, chain, files)
            data = clear.read_bytes()
        sealed = pyrage.passphrase.encrypt(data, passphrase) if passphrase else pyrage.encrypt(data, parsed)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(sealed)
    return {"case": case_ref, "out": str(out), "captures": len(cap_rows), "files": len(files),
            "custody_entry": entry_hash, "manifest_sha256": manifest,
            "encrypted": None if plaintext else ("passphrase" if passphrase else "age")}


def _age_recipients(recipients: Sequence[str]) -> list[Any]:
    if not recipients:
        return []
    from pyrage import RecipientError, x25519

    out = []
    for r in recipients:
        try:
            out.append(x25519.Recipient.from_str(r.strip()))
        except (RecipientError, ValueError):
            raise InputError(r[:20], "not an age recipient (age1...)") from None
    return out


def open_package(path: Path, identity: str | None = None, passphrase: str | None = None) -> bytes:
    """The zip inside an exported package: decrypted with an age ``identity`` (AGE-SECRET-KEY-...)
    or ``passphrase``, or read as it is when it is a plaintext package. Raises InputError."""
    data = Path(path).read_bytes()
    if data.startswith(b"PK"):
        return data
    import pyrage

    try:
        if passphrase is not None:
            return bytes(pyrage.passphrase.decrypt(data, passphrase))
        if identity is not None:
            return bytes(pyrage.decrypt(data, [pyrage.x25519.Identity.from_str(identity.strip())]))
    except (pyrage.DecryptError, pyrage.IdentityError, ValueError) as exc:
        raise InputError(str(path), f"cannot decrypt the package: {exc}") from None
    raise InputError(str(path), "an encrypted package: give --identity FILE or --passphrase-stdin")


def crawl(rt: Runtime, root: str, depth: int, same_site: bool, max_pages: int, rate: float, case_ref: str | None,
          actor: str, screenshot: bool, allow_private: bool, resume: str | None = None,
          crawl_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Breadth-first, bounded, polite crawl feeding the capture path (raises InputError for
    depth < 0, max_pages < 1 or rate < 0).

    De-duplicates by URL and by page content hash; waits ``1/rate`` seconds between pages; its
    state (frontier, seen URLs and hashes) is saved in the database after every page, so
    ``resume`` continues an interrupted crawl — on any machine sharing the database, which is what
    lets a crawl task redelivered to another worker go on where the dead one stopped. ``crawl_id``
    names a new crawl, or continues it if its state exists (a redelivered worker task).
    """
    if depth < 0 or max_pages < 1 or rate < 0:
        raise InputError(f"depth={depth} max_pages={max_pages} rate={rate}", "depth >= 0, max-pages >= 1, rate >= 0")
    import time
    import uuid
    from urllib.parse import urlsplit

    if crawl_id is not None and not crawl_id.replace("-", "").isalnum():
        raise InputError(crawl_id, "a crawl id is letters, digits and dashes")
    name = resume or crawl_id
    state = _load_crawl(rt, name) if name else None
    if resume and state is None:
        raise NotFound("crawl", resume)
    if state is None:
        from haechi.sources.urls import to_uri
        from haechi.sources.web import check_url

        check_root = to_uri(root.strip())  # as links are compared: an IDN or Korean root equals them

        check_url(check_root, allow_private)
        state = {"id": crawl_id or uuid.uuid4().hex[:12], "root": check_root, "depth": depth, "same_site": same_site,
                 "max_pages": max_pages, "case": case_ref, "frontier": [[check_root, 0]], "seen_urls": [check_root],
                 "seen_hashes": [], "pages": 0}
    site = urlsplit(state["root"]).hostname

    def save() -> None:
        with rt.db.session() as s:
            row = s.get(CrawlState, state["id"])
            if row is None:
                s.add(CrawlState(id=state["id"], state=json.dumps(state)))
            else:
                row.state = json.dumps(state)

    save()
    seen_urls, seen_hashes = set(state["seen_urls"]), set(state["seen_hashes"])
    last = 0.0
    while state["frontier"] and state["pages"] < state["max_pages"]:
        url, level = state["frontier"].pop(0)
        wait = (1.0 / rate) - (time.monotonic() - last) if rate > 0 else 0
        if wait > 0:
            time.sleep(wait)
        last = time.monotonic()
        (row,) = list(capture_urls(rt, [url], state["case"], actor, screenshot, allow_private))
        row["crawl"] = state["id"]
        row["depth"] = level
        duplicate = row.get("page_sha256") in seen_hashes if row.get("page_sha256") else False
        row["duplicate_content"] = duplicate
        if row.get("page_sha256"):
            seen_hashes.add(row["page_sha256"])
        state["pages"] += 1
        if not duplicate and level < state["depth"]:
            for link in row.get("links", []):
                link = link.split("#")[0]
                if link in seen_urls or (state["same_site"] and urlsplit(link).hostname != site):
                    continue
                seen_urls.add(link)
                state["frontier"].append([link, level + 1])
        state["seen_urls"], state["seen_hashes"] = sorted(seen_urls), sorted(seen_hashes)
        save()
        yield row


def _load_crawl(rt: Runtime, crawl_id: str) -> dict[str, Any] | None:
    """A crawl's saved state: from the database, or from ``<home>/crawls/<id>.json`` where
    crawls started before migration 0010 kept it (read once, then saved in the database)."""
    with rt.db.session() as s:
        row = s.get(CrawlState, crawl_id)
        if row is not None:
            state: dict[str, Any] = json.loads(row.state)
            return state
    legacy = rt.settings.home / "crawls" / f"{crawl_id}.json"
    if crawl_id.replace("-", "").isalnum() and legacy.is_file():
        old: dict[str, Any] = json.loads(legacy.read_text())
        return old
    return None


def media_bytes(rt: Runtime, case_ref: str, url: str, max_bytes: int = 200 * 1024 * 1024) -> bytes | None:
    """The bytes of a media URL as captured for a case (from the evidentiary WARC), or None."""
    from warcio.archiveiterator import ArchiveIterator

    with rt.db.session() as s:
        caps = list(s.scalars(select(Capture).where(Capture.case_ref == case_ref).order_by(Capture.id.desc())))
        folders = [c.folder for c in caps if url in c.media]
    store = rt.blobs
    for folder in folders:
        key = f"{folder}/capture.warc.gz"
        if not store.exists(key):
            continue
        with store.open(key) as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "response" and record.rec_headers.get_header("WARC-Target-URI") == url:
                    return bytes(record.content_stream().read(max_bytes))
    return None


def ingest(rt: Runtime, kind: str, source: str | os.PathLike[str], case_ref: str | None, actor: str
           ) -> Iterator[dict[str, Any]]:
    """Hash and scan every media item of a Telegram export (``kind="telegram"``) or a WARC/WACZ
    file (``kind="warc"``). Yields ``{"kind": "item", ...context, hashes, matches}`` per item,
    then ``{"kind": "link", "url"}`` per link found (capture candidates), ``{"kind": "error"}``
    per unreadable part and one closing ``{"kind": "summary"}``; logs one custody entry.
    Raises InputError (kind, unreadable source)."""
    from haechi.sources import exports

    path = Path(source)
    if kind == "telegram":
        found = exports.telegram(path, rt.settings.max_file_bytes)
    elif kind == "warc":
        found = exports.warc(path, rt.settings.max_file_bytes)
    else:
        raise InputError(kind, "ingest source must be telegram or warc")
    faces = rt.has_subjects()
    matched = 0
    tally = exports.IngestTally(found)
    rows = scan_refs(rt, (item.ref for item in found.items), faces=faces)
    for item, row in zip(found.items, rows, strict=True):
        matched += bool(row["matches"])
        tally.add(item.context, row)
        yield {"kind": "item", **item.context, **row}
    for url in found.links:
        yield {"kind": "link", "url": url}
    for error in found.errors:
        yield {"kind": "error", "error": error}
    summary = tally.row()
    yield summary  # never a silent drop: what was seen, hashed, absent, skipped and why
    with rt.db.session() as s:
        # the folder's path and the summary's member names can carry a name: sealed (#17 low 13)
        custody.append(s, f"ingest_{kind}", actor, case_ref=case_ref,
                       details={"items": len(found.items), "matched": matched, "links": len(found.links)},
                       private={"source": str(path), "summary": summary})


def verify_custody(rt: Runtime, case_ref: str | None = None) -> dict[str, Any]:
    """The custody chain checked link by link, and every artefact it names checked against its
    recorded SHA-256 (and timestamp token): ``{"ok", "entries", "problems": [...]}``; for the whole
    store also ``orphans``: artefacts without a custody entry (left by a killed capture)."""
    with rt.db.session() as s:
        result = custody.verify(s, case_ref).public()
    problems = verify_artefacts(rt, case_ref)
    result["problems"] += problems
    result["ok"] = result["ok"] and not problems
    if case_ref is None:
        result["orphans"] = orphan_artefacts(rt)
    return result


def evidence_package(rt: Runtime, case_ref: str, actor: str, recipients: Sequence[str] = (),
                     passphrase: str | None = None) -> bytes:
    """The case's evidence package as bytes (an authenticated download): encrypted when a
    recipient or passphrase is given, else the plaintext copy; the export is logged as usual."""
    with tempfile.TemporaryDirectory(dir=rt.settings.home) as tmp:
        out = Path(tmp) / "package.zip"
        export_case(rt, case_ref, out, actor, recipients, passphrase, plaintext=not recipients and not passphrase)
        return out.read_bytes()


def _tsa_cert(rt: Runtime) -> bytes | None:
    return tsa_settings(rt.settings.tsa_url, rt.settings.tsa_cert)[1]


def artefact_bytes(rt: Runtime, capture_id: int, name: str) -> bytes:
    """The plaintext of one artefact of a capture (``capture.warc.gz``, ``screenshot.png``...),
    checked against the SHA-256 the custody log recorded. Raises NotFound, InputError (modified)."""
    with rt.db.session() as s:
        cap = s.get(Capture, capture_id)
        if cap is None or name not in json.loads(cap.artefacts):
            raise NotFound("artefact", f"{name} of capture {capture_id}")
        folder, digest = cap.folder, json.loads(cap.artefacts)[name]
    data = read_bytes(rt.blobs, f"{folder}/{name}")
    if hashlib.sha256(data).hexdigest() != digest:
        raise InputError(f"{name} of capture {capture_id}", "artefact was modified (hash differs)")
    return data
