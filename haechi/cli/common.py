"""Options and helpers shared by every command."""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from haechi.errors import AlreadyExists, HaechiError, InputError, NotFound, RemoteError

if TYPE_CHECKING:
    from haechi.app import Haechi

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
    from haechi.app import Haechi  # here, not at the top: `haechi --help` must not load the library

    return Haechi(home=home)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _next_step(exc: NotFound) -> str:
    """What to do about a missing object, for the kinds a user names on the command line: a bank
    is created before anything is added to it (``bank add`` does not create one)."""
    if exc.kind == "bank":
        return (f" — create it first with `haechi bank create {exc.name}`"
                " (`haechi bank list` shows the banks there are)")
    return ""


@contextmanager
def handled() -> Iterator[None]:
    """Turn Haechi's typed errors into a message and an exit status (2 usage, 1 failure)."""
    try:
        yield
    except NotFound as exc:
        err.print(f"[red]error:[/red] {exc}{_next_step(exc)}", highlight=False)
        raise typer.Exit(2) from None
    except AlreadyExists as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except InputError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except RemoteError as exc:  # not the caller's mistake: a timer or a person may retry
        err.print(f"[red]error:[/red] {exc} (another system failed; try again later)")
        raise typer.Exit(1) from None
    except HaechiError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except OSError as exc:
        if exc.errno not in _FULL:
            raise
        err.print(f"[red]error:[/red] storage full writing {exc.filename or 'data'}: {exc.strerror}; nothing "
                  "half-written was kept — free space and run the command again")
        raise typer.Exit(1) from None
    except Exception as exc:
        # sqlalchemy is loaded only by commands that open a database: without it, no such error
        sa_exc = sys.modules.get("sqlalchemy.exc")
        if sa_exc is None or not isinstance(exc, sa_exc.OperationalError):
            raise
        text = str(exc.orig).lower()
        if not any(m in text for m in ("full", "disk i/o error", "no space left")):
            raise
        # SQLite reports a write refused by RLIMIT_FSIZE/ENOSPC as "disk I/O error" or "database or
        # disk is full", PostgreSQL as "No space left on device"; the transaction is rolled back
        err.print(f"[red]error:[/red] database storage full or failing ({exc.orig}); the transaction was rolled "
                  "back — free space and run the command again")
        raise typer.Exit(1) from None


#: errno values that mean "no room": disk full, file too large (RLIMIT_FSIZE), quota exceeded
_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


DistributedOpt = Annotated[bool | None, typer.Option(
    "--distributed/--local", help="Enqueue for `haechi worker`s (default: when HAECHI_BROKER_URL is set).")]
WaitOpt = Annotated[bool, typer.Option("--wait/--no-wait", help="With --distributed: wait for the results.")]


def use_workers(h: Haechi, distributed: bool | None) -> bool:
    return distributed if distributed is not None else bool(h.settings.broker_url)


def run_job(h: Haechi, kind: str, keys: list[str], params: dict[str, Any], wait: bool, json_out: bool) -> int:
    """Enqueue a job, print its id, and (with ``wait``) each item's result; returns failures."""
    job_id = h.enqueue(kind, keys, params)
    err.print(f"job {job_id} queued ({len(set(keys))} {kind} item(s)); `haechi jobs` shows progress")
    if not wait:
        return 0
    failed = 0
    for row in h.job_results(job_id):
        failed += bool(row.get("error"))
        if json_out:
            emit_json(row)
        else:
            out.print(f"{row.get('url') or row.get('root') or row.get('item') or row.get('watch')}: "
                      f"{row.get('status', '')} {row.get('error') or ''}")
    return failed
