"""Entry point of the ``haechi`` console script."""

from __future__ import annotations

import typer

from haechi.cli import bank
from haechi.cli.common import HomeOpt
from haechi.cli.demo import demo_command
from haechi.cli.hashing import hash_command, scan_command

app = typer.Typer(help="Haechi: find, evidence and take down NCII and sexual deepfakes.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def root(ctx: typer.Context, home: HomeOpt = None) -> None:
    ctx.obj = {"home": home}


app.command("hash")(hash_command)
app.command("scan")(scan_command)
app.command("demo")(demo_command)
app.add_typer(bank.app, name="bank")


def main() -> None:
    app()
