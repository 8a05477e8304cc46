"""``haechi capture`` and ``haechi evidence verify|export``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from haechi.cli.common import (
    DistributedOpt,
    HomeOpt,
    JsonOpt,
    WaitOpt,
    emit_json,
    err,
    handled,
    open_haechi,
    out,
    run_job,
    use_workers,
)

app = typer.Typer(help="Evidence: custody log checks and court-ready packages.", no_args_is_help=True)

CaseOpt = Annotated[str | None, typer.Option("--case", help="Case reference the evidence belongs to.")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who acts (custody log; default: the OS user).")]


def capture_command(
    ctx: typer.Context,
    urls: Annotated[list[str], typer.Argument(help="Pages (or media URLs) to capture.")],
    case: CaseOpt = None,
    by: ByOpt = None,
    screenshot: Annotated[bool, typer.Option("--screenshot/--no-screenshot", help="Full-page screenshot.")] = True,
    allow_private: Annotated[bool, typer.Option("--allow-private",
                                                help="Allow loopback/private addresses (test servers only).")] = False,
    distributed: DistributedOpt = None,
    wait: WaitOpt = True,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Capture pages as evidence: WARC, screenshot, media hashed and scanned, custody entry."""
    failed = 0
    with handled(), open_haechi(home, ctx) as h:
        if use_workers(h, distributed):
            failed = run_job(h, "capture", urls, {"case": case, "actor": by or "worker", "screenshot": screenshot,
                                                  "allow_private": allow_private}, wait, json_out)
            raise typer.Exit(1 if failed else 0)
        table = Table("url", "status", "media", "matched", "custody entry", "error")
        for row in h.capture(urls, case_ref=case, actor=by, screenshot=screenshot, allow_private=allow_private):
            failed += row["error"] is not None
            if json_out:
                emit_json(row)
            else:
                matched = sum(bool(m["matches"]) for m in row["media"])
                entry = row["custody_entry"]["entry_hash"][:16] if row["custody_entry"] else ""
                table.add_row(row["url"], str(row["status"] or ""), str(len(row["media"])), str(matched), entry,
                              row["error"] or row.get("screenshot_error") or "")
        if not json_out:
            out.print(table)
    raise typer.Exit(1 if failed else 0)


@app.command("verify")
def verify(ctx: typer.Context,
           package: Annotated[Path | None, typer.Argument(help="An exported package to check offline.")] = None,
           case: CaseOpt = None,
           identity: Annotated[Path | None, typer.Option(
               "--identity", help="age identity file (AGE-SECRET-KEY-...) of an encrypted package.")] = None,
           passphrase_stdin: Annotated[bool, typer.Option(
               "--passphrase-stdin", help="The package's passphrase, from stdin.")] = False,
           json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Check the custody log (or a package): any edit, deletion or reordering is reported."""
    with handled():
        if package is not None:
            import tempfile

            from haechi.evidence.package import verify_package
            from haechi.services.evidence import open_package

            key = next((ln.strip() for ln in identity.read_text().splitlines() if ln.startswith("AGE-SECRET-KEY")),
                       None) if identity is not None else None
            data = open_package(package, key, sys.stdin.readline().rstrip("\n") if passphrase_stdin else None)
            with tempfile.TemporaryDirectory() as tmp:  # decrypted only for the check, then gone
                (Path(tmp) / "package.zip").write_bytes(data)
                result = verify_package(Path(tmp) / "package.zip")
        else:
            with open_haechi(home, ctx) as h:
                result = h.verify_custody(case)
    if json_out:
        emit_json(result)
    elif result["ok"]:
        out.print(f"[green]verified[/green]: {result.get('custody_entries', result.get('entries'))} custody entries"
                  + (f", {result['captures']} captures" if "captures" in result else ""))
    else:
        err.print("[red]NOT VERIFIED[/red]")
        for p in result["problems"]:
            err.print(f"  - {p}")
    if not json_out and result.get("orphans"):
        err.print(f"[yellow]{len(result['orphans'])} artefact(s) without a custody entry[/yellow] (left by an "
                  "interrupted capture; never part of the chain):")
        for o in result["orphans"]:
            err.print(f"  - {o}")
    raise typer.Exit(0 if result["ok"] else 1)


@app.command("export")
def export(ctx: typer.Context, case: str, out_zip: Annotated[Path, typer.Argument(help="Package to write.")],
           recipient: Annotated[list[str] | None, typer.Option(
               "--recipient", help="Encrypt to this age public key (age1...); repeatable.")] = None,
           recipient_file: Annotated[Path | None, typer.Option(
               "--recipient-file", help="A file of age public keys, one per line.")] = None,
           passphrase_stdin: Annotated[bool, typer.Option(
               "--passphrase-stdin", help="Encrypt with a passphrase read from stdin.")] = False,
           plaintext: Annotated[bool, typer.Option(
               "--plaintext", help="Write the package in the clear (a court's offline copy).")] = False,
           by: ByOpt = None, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Export a case's evidence: manifest, WARCs, screenshots, custody chain, PDF report —
    encrypted with age to a recipient or passphrase, or in the clear only with --plaintext."""
    recipients = list(recipient or [])
    if recipient_file is not None:
        recipients += [line.strip() for line in recipient_file.read_text().splitlines()
                       if line.strip() and not line.startswith("#")]
    passphrase = sys.stdin.readline().rstrip("\n") if passphrase_stdin else None
    with handled(), open_haechi(home, ctx) as h:
        result = h.export_evidence(case, out_zip, actor=by, recipients=recipients, passphrase=passphrase,
                                   plaintext=plaintext)
    if json_out:
        emit_json(result)
    else:
        how = f"encrypted ({result['encrypted']})" if result.get("encrypted") else "IN THE CLEAR"
        out.print(f"exported {result['captures']} capture(s), {result['files']} file(s) to {result['out']}, {how}")


ingest_app = typer.Typer(help="Ingest collections: Telegram exports, web archives.", no_args_is_help=True)


def _ingest(ctx: typer.Context, kind: str, source: str, case: str | None, by: str | None, json_out: bool,
            home: str | None) -> None:
    items = matched = errors = 0
    summary: dict[str, object] = {}
    with handled(), open_haechi(home, ctx) as h:
        table = Table("item", "when", "from", "matches", "error or reason")
        links: list[str] = []
        for row in h.ingest(kind, source, case_ref=case, actor=by):
            # like `scan`: the batch goes on, and the exit status says whether anything failed —
            # an item that could not be read, or an error row (in --json mode too). Media the
            # export does not hold (absent, skipped) is reported with its reason, not a failure.
            errors += row["kind"] not in ("link", "item", "summary") or bool(
                row["kind"] == "item" and row["error"] and row.get("media_status") not in ("absent", "skipped"))
            if json_out:
                emit_json(row)
                continue
            if row["kind"] == "link":
                links.append(row["url"])
            elif row["kind"] == "item":
                items += 1
                matched += bool(row["matches"])
                if row["matches"] or row["error"] or row.get("media_status") in ("absent", "skipped"):
                    where = row.get("url") or f"{row.get('chat')} #{row.get('message_id')}"
                    table.add_row(where, str(row.get("date") or row.get("archived_at") or ""),
                                  str(row.get("sender") or ""),
                                  ", ".join(f"{m['bank']}:{m['signal_type']}" for m in row["matches"]),
                                  row["error"] or row.get("reason") or "")
            elif row["kind"] == "summary":
                summary = row
            else:
                err.print(row["error"])
        if not json_out:
            out.print(table)
            out.print(f"{items} media item(s), {matched} matched; {len(links)} link(s) to capture")
            if summary:
                out.print("summary: " + ", ".join(f"{k} {v}" for k, v in summary.items() if k != "kind" and v))
    raise typer.Exit(1 if errors else 0)


@ingest_app.command("telegram")
def ingest_telegram(ctx: typer.Context, export_dir: str, case: CaseOpt = None, by: ByOpt = None,
                    json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """A Telegram Desktop export (JSON or HTML; one chat or a whole account): every message with
    media is hashed and scanned; media the export does not hold is a row with its reason."""
    _ingest(ctx, "telegram", export_dir, case, by, json_out, home)


@ingest_app.command("warc")
def ingest_warc(ctx: typer.Context, file: str, case: CaseOpt = None, by: ByOpt = None,
                json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """A WARC or WACZ web archive: every archived image/video is hashed and scanned."""
    _ingest(ctx, "warc", file, case, by, json_out, home)


def crawl_command(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to start (or anything, with --resume).")],
    depth: Annotated[int, typer.Option("--depth", help="Link depth to follow.")] = 1,
    same_site: Annotated[bool, typer.Option("--same-site/--any-site", help="Stay on the start host.")] = True,
    max_pages: Annotated[int, typer.Option("--max-pages", help="Stop after this many pages.")] = 50,
    rate: Annotated[float, typer.Option("--rate", help="Pages per second at most.")] = 1.0,
    resume: Annotated[str | None, typer.Option("--resume", help="Continue the crawl with this id.")] = None,
    case: CaseOpt = None,
    by: ByOpt = None,
    screenshot: Annotated[bool, typer.Option("--screenshot/--no-screenshot", help="Full-page screenshots.")] = True,
    allow_private: Annotated[bool, typer.Option("--allow-private", help="Test servers only.")] = False,
    distributed: DistributedOpt = None,
    wait: WaitOpt = True,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Crawl politely from URL, capturing every page as evidence (resumable)."""
    with handled(), open_haechi(home, ctx) as h:
        if use_workers(h, distributed) and resume is None:
            params = {"depth": depth, "same_site": same_site, "max_pages": max_pages, "rate": rate, "case": case,
                      "actor": by or "worker", "screenshot": screenshot, "allow_private": allow_private}
            failed = run_job(h, "crawl", [url], params, wait, json_out)
            raise typer.Exit(1 if failed else 0)
        table = Table("depth", "url", "status", "media", "matched", "note")
        crawl_id = ""
        for row in h.crawl(url, depth=depth, same_site=same_site, max_pages=max_pages, rate=rate, case_ref=case,
                           actor=by, screenshot=screenshot, allow_private=allow_private, resume=resume):
            crawl_id = row["crawl"]
            if json_out:
                emit_json(row)
            else:
                table.add_row(str(row["depth"]), row["url"], str(row["status"] or ""), str(len(row["media"])),
                              str(sum(bool(m["matches"]) for m in row["media"])),
                              "duplicate content" if row["duplicate_content"] else (row["error"] or ""))
        if not json_out:
            out.print(table)
            out.print(f"crawl id {crawl_id} (continue with --resume {crawl_id})")
