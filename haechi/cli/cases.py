"""``haechi case ...``, ``haechi notice ...``, ``haechi due``, ``haechi recheck``, ``haechi stats``."""

from __future__ import annotations

import csv
import sys
from datetime import datetime
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
    handled,
    open_haechi,
    out,
    run_job,
    use_workers,
)

case_app = typer.Typer(help="Cases of victims and the items found for them.", no_args_is_help=True)
notice_app = typer.Typer(help="Takedown notices: draft, approve, send.", no_args_is_help=True)
ByOpt = Annotated[str | None, typer.Option("--by", help="Who acts (custody log; default: the OS user).")]


@case_app.command("create")
def case_create(ctx: typer.Context,
                victim_ref: Annotated[str | None, typer.Option("--victim-ref", help="Pseudonymous reference.")] = None,
                contact: Annotated[str | None, typer.Option("--contact", help="Victim contact (encrypted).")] = None,
                by: ByOpt = None, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Open a case."""
    with handled(), open_haechi(home, ctx) as h:
        case = h.create_case(victim_ref, contact, actor=by)
    emit_json(case) if json_out else out.print(f"created case {case['case']}")


@case_app.command("list")
def case_list(ctx: typer.Context, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """All cases with item counts."""
    with handled(), open_haechi(home, ctx) as h:
        cases = h.list_cases()
    if json_out:
        for c in cases:
            emit_json(c)
        return
    table = Table("case", "victim ref", "status", "items", "removed", "created")
    for c in cases:
        table.add_row(c["case"], c["victim_ref"] or "", c["status"], str(c["items"]), str(c["removed"]),
                      c["created_at"][:19])
    out.print(table)


@case_app.command("show")
def case_show(ctx: typer.Context, case: str, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """A case with its items and notices."""
    with handled(), open_haechi(home, ctx) as h:
        data = h.show_case(case)
    if json_out:
        emit_json(data)
        return
    out.print(f"{data['case']} ({data['status']}), victim ref {data['victim_ref'] or '-'}")
    table = Table("item", "status", "platform", "url", "matched media")
    for i in data["items"]:
        table.add_row(str(i["id"]), i["status"], i["platform"] or i["host"] or "", i["url"],
                      str(sum(bool(m.get("matches")) for m in i["media"])))
    out.print(table)


@case_app.command("add-item")
def case_add_item(ctx: typer.Context, case: str,
                  targets: Annotated[list[str], typer.Argument(help="URLs (captured) or local files.")],
                  screenshot: Annotated[bool, typer.Option("--screenshot/--no-screenshot")] = False,
                  allow_private: Annotated[bool, typer.Option("--allow-private", help="Test servers only.")] = False,
                  by: ByOpt = None, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Add items: each URL is captured as evidence and its media scanned."""
    failed = 0
    with handled(), open_haechi(home, ctx) as h:
        for row in h.add_case_items(case, targets, actor=by, screenshot=screenshot, allow_private=allow_private):
            failed += row.get("error") is not None
            if json_out:
                emit_json(row)
            elif row.get("error"):
                out.print(f"[red]{row['url']}[/red]: {row['error']}")
            else:
                out.print(f"item {row['id']}: {row['url']}" + (" (already in the case)" if row["duplicate"] else ""))
    raise typer.Exit(1 if failed else 0)


@case_app.command("item-status")
def case_item_status(ctx: typer.Context, item: int, status: str, by: ByOpt = None, home: HomeOpt = None) -> None:
    """Set an item's status by hand (found, notified, removed, still_up, reuploaded)."""
    with handled(), open_haechi(home, ctx) as h:
        h.set_item_status(item, status, actor=by)
    out.print(f"item {item}: {status}")


@case_app.command("close")
def case_close(ctx: typer.Context, case: str, by: ByOpt = None, home: HomeOpt = None) -> None:
    """Close a case (no new items or notices)."""
    with handled(), open_haechi(home, ctx) as h:
        h.close_case(case, actor=by)
    out.print(f"closed {case}")


@case_app.command("erase")
def case_erase(ctx: typer.Context, case: str, by: ByOpt = None, home: HomeOpt = None,
               yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False) -> None:
    """Erase a case's typed text for good: its custody key is deleted (notes, file names and paths
    in its custody entries become unreadable; the chain still verifies), its victim reference and
    contact are dropped, and it is closed. Old backups keep the key: renew them."""
    from haechi.errors import InputError

    with handled(), open_haechi(home, ctx) as h:
        if not yes:
            raise InputError("--yes", "erasing cannot be undone: pass --yes")
        result = h.erase_case(case, actor=by)
    out.print(f"erased {case}" + ("" if result["key_erased"] else " (it had no sealed text)"))


def _when(value: str, flag: str) -> datetime:
    """A time given on the command line (ISO 8601; no zone = UTC)."""
    from datetime import UTC

    from haechi.errors import InputError

    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(flag, f"{value!r} is not an ISO 8601 time (e.g. 2026-11-30T14:05 or 2026-11-30T14:05+09:00)"
                         ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@case_app.command("minor")
def case_minor(ctx: typer.Context, case: str,
               off: Annotated[bool, typer.Option("--off", help="The person is not a minor after all.")] = False,
               by: ByOpt = None, home: HomeOpt = None) -> None:
    """Mark a case as concerning a minor: notices take the minors' route (아청법; NCMEC, IWF abroad)."""
    with handled(), open_haechi(home, ctx) as h:
        h.set_case_minor(case, not off, actor=by)
    out.print(f"{case}: " + ("not a minor" if off else "minor (minors' route)"))


@notice_app.command("draft")
def notice_draft(ctx: typer.Context, items: Annotated[list[int], typer.Argument(help="Item ids (one platform).")],
                 regime: Annotated[str, typer.Option("--regime", help="kr|us|eu|uk|dmca")],
                 lang: Annotated[str, typer.Option("--lang", help="ko|en|ja|zh|vi|th|es")] = "en",
                 deadline_hours: Annotated[int | None, typer.Option(
                     "--deadline-hours", help="kr only: the reply time asked for (Korean law: without delay).")] = None,
                 to: Annotated[str | None, typer.Option("--to", help="Recipient (default: host registry).")] = None,
                 personal_details: Annotated[bool, typer.Option(
                     "--personal-details", help="Also ask to delete the person's details posted with it.")] = False,
                 by: ByOpt = None, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Draft a notice meeting the regime's required elements, in the language given."""
    with handled(), open_haechi(home, ctx) as h:
        notice = h.draft_notice(items, regime, lang, actor=by, deadline_hours=deadline_hours, recipient=to,
                                personal_details=personal_details)
    if json_out:
        emit_json(notice)
        return
    info = notice.get("channel_info") or {}
    out.print(f"notice {notice['id']} (draft) for {notice['platform'] or 'unknown platform'} via "
              f"{info.get('kind')}: {notice['recipient'] or 'no recipient'}")
    for w in notice.get("warnings", []):
        out.print(f"[yellow]warning:[/yellow] {w}")
    sys.stdout.write(f"\nSubject: {notice['subject']}\n\n{notice['text']}\n")


@notice_app.command("approve")
def notice_approve(ctx: typer.Context, notice: int, by: Annotated[str, typer.Option("--by", help="Approver.")],
                   home: HomeOpt = None) -> None:
    """Approve a drafted notice (another person than its drafter): nothing is sent without this."""
    with handled(), open_haechi(home, ctx) as h:
        n = h.approve_notice(notice, by)
    out.print(f"notice {n['id']} approved by {n['approved_by']}")


@notice_app.command("send")
def notice_send(ctx: typer.Context, notice: int,
                smtp_host: Annotated[str | None, typer.Option("--smtp-host")] = None,
                smtp_port: Annotated[int, typer.Option("--smtp-port")] = 25,
                export: Annotated[str | None, typer.Option(
                    "--export", help="Write .eml/.txt for a web form (starts no clock).")] = None,
                by: ByOpt = None, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Send an approved notice by SMTP (or export it). Sending twice is a no-op."""
    with handled(), open_haechi(home, ctx) as h:
        n = h.send_notice(notice, smtp_host, smtp_port, export, actor=by)
    if json_out:
        emit_json(n)
    elif n["already_sent"]:
        out.print(f"notice {n['id']}: already received by the platform")
    elif n["status"] == "exported":
        out.print(f"notice {n['id']}: exported to {export}; {n['next']}")
    else:
        out.print(f"notice {n['id']}: sent {n['sent_at']} (the clock starts now)")


@notice_app.command("submitted")
def notice_submitted(ctx: typer.Context, notice: int,
                     at: Annotated[str, typer.Option("--at", help="Received at (ISO 8601, no zone = UTC).")],
                     ref: Annotated[str, typer.Option("--ref", help="The platform's confirmation or ticket number.")],
                     by: ByOpt = None, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Record that you submitted the notice through the platform's form: its clock starts at --at."""
    with handled(), open_haechi(home, ctx) as h:
        n = h.notice_submitted(notice, _when(at, "--at"), ref, actor=by)
    emit_json(n) if json_out else out.print(f"notice {n['id']}: received by {n['platform']} at {n['received_at']}"
                                            f" (ref {n['submission_ref']})")


@notice_app.command("reply")
def notice_reply(ctx: typer.Context, notice: int,
                 kind: Annotated[str, typer.Argument(help="receipt | decision (DSA Art. 16(4) / 16(5)).")],
                 at: Annotated[str, typer.Option("--at", help="When the platform said it (ISO 8601; no zone = UTC).")],
                 outcome: Annotated[str | None, typer.Option("--outcome", help="Decision: removed, refused...")] = None,
                 by: ByOpt = None, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Record what the platform answered: its confirmation of receipt or its decision."""
    with handled(), open_haechi(home, ctx) as h:
        n = h.notice_reply(notice, kind, _when(at, "--at"), outcome, actor=by)
    emit_json(n) if json_out else out.print(f"notice {n['id']}: {kind} recorded")


def due_command(ctx: typer.Context, within: Annotated[float, typer.Option("--within", help="Hours.")] = 12.0,
                json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Notices needing action: which clock runs and why, overdue ones with their escalation route,
    and exported notices whose clock has not started."""
    with handled(), open_haechi(home, ctx) as h:
        rows = h.due(within)
    if json_out:
        for r in rows:
            emit_json(r)
        return
    table = Table("notice", "case", "platform", "clock", "deadline", "hours left", "items")
    for r in rows:
        left = "-" if r["hours_left"] is None else str(r["hours_left"])
        table.add_row(str(r["notice"]), r["case"] or "", r["platform"] or "", r["clock"], (r["deadline"] or "-")[:16],
                      f"[red]{left}[/red]" if r["overdue"] else left, str(len(r["items"])))
    out.print(table)
    for r in rows:
        out.print(f"notice {r['notice']} ({r['clock']}): {r['why']}")
        if r["escalation"]:
            out.print(f"  [red]escalate:[/red] {r['escalation']}")


def recheck_command(ctx: typer.Context, case: Annotated[str | None, typer.Option("--case")] = None,
                    allow_private: Annotated[bool, typer.Option("--allow-private", help="Test servers only.")] = False,
                    by: ByOpt = None, distributed: DistributedOpt = None, wait: WaitOpt = True,
                    json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Re-fetch notified items: removed, still up, or changed (with a new capture as proof)."""
    with handled(), open_haechi(home, ctx) as h:
        if use_workers(h, distributed):
            keys = [str(t[0]) for t in h.recheck_targets(case)]
            failed = run_job(h, "recheck", keys, {"actor": by or "worker", "allow_private": allow_private}, wait,
                             json_out)
            raise typer.Exit(1 if failed else 0)
        for row in h.recheck(case, allow_private=allow_private, actor=by):
            emit_json(row) if json_out else out.print(f"item {row['item']}: {row['status']} ({row['url']})")


def stats_command(ctx: typer.Context, json_out: JsonOpt = False,
                  start: Annotated[str | None, typer.Option("--from", help="Cases opened from (YYYY-MM-DD).")] = None,
                  end: Annotated[str | None, typer.Option("--to", help="... until, exclusive (YYYY-MM-DD).")] = None,
                  csv_out: Annotated[bool, typer.Option("--csv", help="CSV (metric,value).")] = False,
                  png: Annotated[str | None, typer.Option("--png", help="Write a chart here.")] = None,
                  home: HomeOpt = None) -> None:
    """Figures a centre can publish (no personal data)."""
    from datetime import UTC, datetime

    from haechi.errors import InputError

    def day(value: str | None) -> datetime | None:
        if value is None:
            return None
        try:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        except ValueError:
            raise InputError(value, "dates are YYYY-MM-DD") from None

    with handled(), open_haechi(home, ctx) as h:
        data = h.stats(day(start), day(end))
    if png:
        from haechi.cases.charts import stats_png

        Path(png).write_bytes(stats_png(data))
    if json_out:
        emit_json(data)
    elif csv_out:
        w = csv.writer(sys.stdout)
        w.writerow(["metric", "value"])
        for k, v in data.items():
            if isinstance(v, dict):
                for kk, vv in v.items():
                    w.writerow([f"{k}.{kk}", vv])
            else:
                w.writerow([k, v])
    else:
        for k, v in data.items():
            out.print(f"{k}: {v}")


watch_app = typer.Typer(help="Watch sources for re-uploads of a case's media.", no_args_is_help=True)


@watch_app.command("add")
def watch_add(ctx: typer.Context, case: str,
              source: Annotated[str, typer.Argument(help="A URL or a Telegram export folder.")],
              every: Annotated[str, typer.Option("--every", help="Interval: 30m, 6h, 1d.")] = "6h",
              allow_private: Annotated[bool, typer.Option("--allow-private", help="Test servers only.")] = False,
              json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Watch a source for re-uploads of the case's media."""
    with handled(), open_haechi(home, ctx) as h:
        w = h.add_watch(case, source, every, allow_private)
    emit_json(w) if json_out else out.print(f"watch {w['watch']}: {w['source']} every {w['every_seconds']}s")


@watch_app.command("list")
def watch_list(ctx: typer.Context, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """All watches."""
    with handled(), open_haechi(home, ctx) as h:
        rows = h.list_watches()
    for w in rows:
        emit_json(w) if json_out else out.print(f"{w['watch']} {w['case']} {w['kind']} {w['source']} "
                                                f"every {w['every_seconds']}s, last run {w['last_run']}")


@watch_app.command("run")
def watch_run(ctx: typer.Context, run_all: Annotated[bool, typer.Option("--all", help="Also those not due.")] = False,
              allow_private: Annotated[bool, typer.Option("--allow-private", help="Test servers only.")] = False,
              by: ByOpt = None, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Run due watches (call from cron, a systemd timer or Celery beat); new copies become items."""
    with handled(), open_haechi(home, ctx) as h:
        rows = h.run_watches(run_all, by or "watch", allow_private)
    for r in rows:
        emit_json(r) if json_out else out.print(f"watch {r['watch']} ({r['case']}): {len(r['new_items'])} new item(s)"
                                                + (f" — {r['error']}" if r["error"] else ""))


exchange_app = typer.Typer(help="Exchange hash lists with platforms (StopNCII-style, HMA).", no_args_is_help=True)


@exchange_app.command("export")
def exchange_export(ctx: typer.Context,
                    fmt: Annotated[str, typer.Option("--format", help="stopncii | hma")] = "stopncii",
                    bank: Annotated[str | None, typer.Option("--bank")] = None,
                    case: Annotated[str | None, typer.Option("--case")] = None, home: HomeOpt = None) -> None:
    """Write a bank's or a case's hashes (never media) to stdout."""
    with handled(), open_haechi(home, ctx) as h:
        sys.stdout.write(h.exchange_export(fmt, bank=bank, case_ref=case))


@exchange_app.command("import")
def exchange_import(ctx: typer.Context, bank: str, file: str,
                    fmt: Annotated[str, typer.Option("--format", help="stopncii | hma")] = "stopncii",
                    json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Import a platform's hash list into a bank; bad lines are reported, good ones stored."""
    with handled(), open_haechi(home, ctx) as h:
        result = h.exchange_import(fmt, bank, file)
    if json_out:
        emit_json(result)
    else:
        out.print(f"imported {result['imported']}; {len(result['errors'])} bad line(s)")
        for e in result["errors"][:20]:
            out.print(f"  {e}")
