"""``haechi bank ...``: create, list, add, import, export, remove, delete, pull."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from haechi.cli.common import HomeOpt, JsonOpt, emit_json, err, handled, open_haechi, out

app = typer.Typer(help="Hash banks: known material and victim-submitted hashes.", no_args_is_help=True)


@app.command("create")
def create(ctx: typer.Context, name: str,
           description: Annotated[str, typer.Option("--description", help="What the bank holds.")] = "",
           home: HomeOpt = None) -> None:
    """Create an empty bank."""
    with handled(), open_haechi(home, ctx) as h:
        h.create_bank(name, description)
    out.print(f"created bank {name}")


@app.command("list")
def list_(ctx: typer.Context, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """List banks with their entry counts."""
    with handled(), open_haechi(home, ctx) as h:
        banks = h.list_banks()
    if json_out:
        for b in banks:
            emit_json(b)
        return
    table = Table("name", "entries", "description", "created")
    for b in banks:
        table.add_row(b["name"], str(b["entries"]), b["description"], b["created_at"][:19])
    out.print(table)


@app.command("add")
def add(ctx: typer.Context, name: str, paths: Annotated[list[str], typer.Argument()],
        label: Annotated[str | None, typer.Option("--label", help="Label stored with each entry.")] = None,
        json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Hash media and add its signals to a bank (the media itself is never stored)."""
    failed = added = dupes = 0
    with handled(), open_haechi(home, ctx) as h:
        for result in h.add_to_bank(name, paths, label):
            if json_out:
                emit_json(result.public())
            if result.error:
                failed += 1
                if not json_out:
                    err.print(f"[yellow]skipped[/yellow] {result.error}")
            elif result.duplicate:
                dupes += 1
            else:
                added += 1
    if not json_out:
        out.print(f"added {added} file(s) to {name}; {dupes} already there; {failed} unreadable")
    raise typer.Exit(1 if failed else 0)


@app.command("import")
def import_(ctx: typer.Context, name: str, file: str, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Import hashes (JSONL or CSV: signal_type,signal[,label]; pdq|md5|sha256)."""
    with handled(), open_haechi(home, ctx) as h:
        result = h.import_bank(name, file)
    if json_out:
        emit_json(result.public())
    else:
        for e in result.errors:
            err.print(f"[yellow]rejected[/yellow] {e}")
        out.print(f"imported {result.imported}; {result.duplicates} already there; {len(result.errors)} rejected")
    raise typer.Exit(1 if result.errors else 0)


@app.command("export")
def export(ctx: typer.Context, name: str,
           fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
           home: HomeOpt = None) -> None:
    """Export a bank's hashes in the exchange format that ``bank import`` reads."""
    with handled(), open_haechi(home, ctx) as h:
        for line in h.export_bank(name, fmt):
            typer.echo(line)


@app.command("remove")
def remove(ctx: typer.Context, name: str, entry_id: int, home: HomeOpt = None) -> None:
    """Remove one entry from a bank."""
    with handled(), open_haechi(home, ctx) as h:
        h.remove_entry(name, entry_id)
    out.print(f"removed entry {entry_id} from {name}")


@app.command("delete")
def delete(ctx: typer.Context, name: str, home: HomeOpt = None) -> None:
    """Delete a bank and all its entries."""
    with handled(), open_haechi(home, ctx) as h:
        h.delete_bank(name)
    out.print(f"deleted bank {name}")


@app.command("pull")
def pull(ctx: typer.Context, name: str,
         source: Annotated[str, typer.Option("--from", help="Base URL of the Haechi that holds the bank.")],
         remote_bank: Annotated[str | None, typer.Option("--remote-bank",
                                                         help="The bank's name there (default: NAME).")] = None,
         allow_private: Annotated[bool, typer.Option("--allow-private",
                                                     help="Allow a private/loopback source address.")] = False,
         json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Keep a local bank in step with a bank on another Haechi (e.g. a support centre's): new
    hashes imported, removed ones — victims' withdrawals — deleted. The partner token is read
    from $HAECHI_REMOTE_TOKEN (never an argument: it would show in the process list). Run it
    again (cron, a timer) to sync; it resumes from the last page applied."""
    import os

    with handled(), open_haechi(home, ctx) as h:
        result = h.pull_bank(name, source, remote_bank or name, os.environ.get("HAECHI_REMOTE_TOKEN", ""),
                             allow_private=allow_private)
    public = {k: v for k, v in result.items() if k not in ("new_entry_ids", "removed_entry_ids")}
    if json_out:
        emit_json(public)
    else:
        for e in result["errors"]:
            err.print(f"[yellow]rejected[/yellow] {e}")
        out.print(f"{name}: {result['added']} added, {result['removed']} removed, {result['duplicates']} already "
                  f"there, {len(result['errors'])} rejected ({result['pages']} page(s) from {result['source']})")
    raise typer.Exit(1 if result["errors"] else 0)
