"""Options and helpers shared by every command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

from haechi.app import Haechi
from haechi.errors import AlreadyExists, HaechiError, InputError, NotFound

HomeOpt = Annotated[
    str | None,
    typer.Option("--home", help="Data home (default: $HAECHI_HOME, else a per-user folder).",
                 envvar="HAECHI_HOME", show_envvar=True),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]

err = Console(stderr=True)
out = Console()



def open_haechi(home: str | None, ctx: typer.Context | None = None) -> Haechi:
    if home is None and ctx is not None and ctx.obj:
        home = ctx.obj.get("home")
    return Haechi(home=home)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@contextmanager
def handled() -> Iterator[None]:
    """Turn Haechi's typed errors into a message and an exit status (2 usage, 1 failure)."""
    try:
        yield
    except (NotFound, AlreadyExists) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except InputError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except HaechiError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


