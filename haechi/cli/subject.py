"""``haechi subject ...`` (consented face enrolment) and ``haechi faces``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from haechi.cli.common import HomeOpt, JsonOpt, emit_json, handled, open_haechi, out

app = typer.Typer(help="People who consented to face search: enrol, list, withdraw.", no_args_is_help=True)


@app.command("enroll")
def enroll(ctx: typer.Context, subject: str,
           photos: Annotated[list[str], typer.Argument(help="Photos of her face, exactly one face each.")],
           consent_ref: Annotated[str | None, typer.Option("--consent-ref", help="Reference of the signed consent.")]
           = None,
           by: Annotated[str | None, typer.Option("--by", help="Who enrols (default: the OS user).")] = None,
           name: Annotated[str | None, typer.Option("--name", help="Her name, if the centre records it "
                                                                   "(stored encrypted; SUBJECT stays a pseudonym).")]
           = None,
           json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Enrol face embeddings (never the photos), encrypted at rest. All photos or none."""
    with handled(), open_haechi(home, ctx) as h:
        result = h.enroll_subject(subject, photos, consent_ref=consent_ref, enrolled_by=by, name=name)
    if json_out:
        emit_json(result)
    else:
        out.print(f"enrolled {result['added']} face(s) for {result['subject']} "
                  f"({result['embeddings']} in all; consent {result['consent_ref'] or 'not recorded'})")


@app.command("list")
def list_(ctx: typer.Context, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Enrolled subjects: consent reference, who enrolled and when, number of embeddings."""
    with handled(), open_haechi(home, ctx) as h:
        subjects = h.list_subjects()
    if json_out:
        for s in subjects:
            emit_json(s)
        return
    table = Table("subject", "embeddings", "consent", "enrolled by", "enrolled at", "withdrawn at")
    for s in subjects:
        table.add_row(s["subject"], str(s["embeddings"]), s["consent_ref"] or "", s["enrolled_by"],
                      s["enrolled_at"][:19], (s["withdrawn_at"] or "")[:19])
    out.print(table)


@app.command("withdraw")
def withdraw(ctx: typer.Context, subject: str, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Withdraw consent: delete every embedding of the subject (searched by no later scan)."""
    with handled(), open_haechi(home, ctx) as h:
        deleted = h.withdraw_subject(subject)
    if json_out:
        emit_json({"subject": subject, "deleted_embeddings": deleted})
    else:
        out.print(f"withdrew {subject}: deleted {deleted} embedding(s)")


def faces_command(ctx: typer.Context,
                  paths: Annotated[list[str], typer.Argument(help="Files, folders, zip or tar archives.")],
                  json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Detect faces (boxes; videos: on sampled frames, with their time). No matching."""
    failed = 0
    with handled(), open_haechi(home, ctx) as h:
        table = Table("path", "faces", "boxes [x, y, w, h]", "error")
        for row in h.faces(paths):
            failed += row["error"] is not None
            if json_out:
                emit_json(row)
            else:
                boxes = "; ".join(str(f["box"]) + (f" @{f['t_s']}s" if "t_s" in f else "") for f in row["faces"][:6])
                table.add_row(row["path"], str(len(row["faces"])), boxes, row["error"] or "")
        if not json_out:
            out.print(table)
    raise typer.Exit(1 if failed else 0)
