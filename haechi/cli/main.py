"""Entry point of the ``haechi`` console script."""

from __future__ import annotations

import typer

from haechi.cli import bank, cases, evidence, ops, service, setup, subject
from haechi.cli.common import HomeOpt
from haechi.cli.demo import demo_command
from haechi.cli.hashing import assess_command, hash_command, scan_command

app = typer.Typer(help="Haechi: find, evidence and take down NCII and sexual deepfakes.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def root(ctx: typer.Context, home: HomeOpt = None) -> None:
    ctx.obj = {"home": home}


app.command("hash")(hash_command)
app.command("scan")(scan_command)
app.command("assess")(assess_command)
app.command("demo")(demo_command)
app.add_typer(bank.app, name="bank")
app.add_typer(subject.app, name="subject")
app.command("faces")(subject.faces_command)
app.command("capture")(evidence.capture_command)
app.command("crawl")(evidence.crawl_command)
app.add_typer(evidence.app, name="evidence")
app.add_typer(evidence.ingest_app, name="ingest")
app.command("serve")(service.serve_command)
app.command("worker")(ops.worker_command)
app.command("beat")(ops.beat_command)
app.command("jobs")(ops.jobs_command)
app.command("doctor")(ops.doctor_command)
app.command("backup")(ops.backup_command)
app.command("restore")(ops.restore_command)
app.add_typer(cases.case_app, name="case")
app.add_typer(cases.notice_app, name="notice")
app.command("due")(cases.due_command)
app.command("setup")(setup.setup_command)
app.command("recheck")(cases.recheck_command)
app.command("stats")(cases.stats_command)
app.add_typer(cases.watch_app, name="watch")
app.add_typer(cases.exchange_app, name="exchange")
app.add_typer(service.user_app, name="user")
app.add_typer(service.token_app, name="token")

keys_app = typer.Typer(help="Encryption keys of victim data at rest.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def rotate_keys(ctx: typer.Context, home: HomeOpt = None) -> None:
    """Re-encrypt every encrypted value (features, face embeddings) with a new key."""
    from haechi.cli.common import emit_json, handled, open_haechi

    with handled(), open_haechi(home, ctx) as h:
        emit_json({"rotated": h.rotate_keys()})


def main() -> None:
    app()
