"""``haechi serve``, ``haechi user ...`` and ``haechi token ...``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from haechi.cli.common import HomeOpt, JsonOpt, emit_json, err, handled, open_haechi, out

user_app = typer.Typer(help="Accounts: admin, caseworker, reviewer, partner, victim.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (bearer), shown once, revocable.", no_args_is_help=True)


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8000,
    allow_private_urls: Annotated[bool, typer.Option("--allow-private-urls",
                                                     help="Let /h/hash?url= reach private addresses.")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64,
                                         help="Server processes (each loads the index; login and "
                                              "self-service throttles are shared through Redis when "
                                              "throttle_url or a Redis broker_url is set).")] = 1,
    home: HomeOpt = None,
) -> None:
    """Run the REST API (OpenAPI at /openapi.json, docs at /docs)."""
    import os

    import uvicorn

    from haechi.api.app import create_app
    from haechi.api.asgi import proxy_options
    from haechi.cli import logs
    from haechi.config import SERVER_PROCESSES_ENV

    logs.configure()
    with handled():
        h = open_haechi(home, ctx)
        h.pdq_index()  # built and persisted once here, so worker processes only load it
        if workers == 1:
            app = create_app(h, allow_private_urls=allow_private_urls)
        else:  # uvicorn starts workers by import string: they read the same settings from the environment
            os.environ["HAECHI_HOME"] = str(h.settings.home)
            os.environ["HAECHI_DATABASE_URL"] = h.settings.database_url
            os.environ["HAECHI_ALLOW_PRIVATE_URLS"] = "1" if allow_private_urls else ""
            os.environ[SERVER_PROCESSES_ENV] = str(workers)  # each process's hashing pool takes its share of the cores
            h.close()
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, **proxy_options(h.settings))
    else:
        from haechi.api.asgi import serve_processes

        serve_processes(host, port, workers)


@user_app.command("add")
def user_add(ctx: typer.Context, username: str,
             role: Annotated[str, typer.Option("--role", help="admin|caseworker|reviewer|partner|victim")],
             password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")]
             = False,
             json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Add a user (password from stdin or a prompt; partners may have none and use tokens)."""

    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n") or None
    elif role != "partner" and sys.stdin.isatty():
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with handled(), open_haechi(home, ctx) as h:
        result = h.add_user(username, role, password)
    emit_json(result) if json_out else out.print(f"added {result['role']} {result['username']}")


@user_app.command("list")
def user_list(ctx: typer.Context, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """List users and roles."""

    with handled(), open_haechi(home, ctx) as h:
        users = h.list_users()
    if json_out:
        for u in users:
            emit_json(u)
        return
    table = Table("user", "role", "disabled", "created")
    for u in users:
        table.add_row(u["username"], u["role"], "yes" if u["disabled"] else "", u["created_at"][:19])
    out.print(table)


@user_app.command("disable")
def user_disable(ctx: typer.Context, username: str, home: HomeOpt = None) -> None:
    """Disable a user and revoke all of their tokens."""

    with handled(), open_haechi(home, ctx) as h:
        h.disable_user(username)
    out.print(f"disabled {username}; their tokens are revoked")


@token_app.command("create")
def token_create(ctx: typer.Context, username: str,
                 name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "",
                 home: HomeOpt = None) -> None:
    """Create an API token for a user; printed once (only its hash is stored)."""

    with handled(), open_haechi(home, ctx) as h:
        token = h.create_token(username, name)
    sys.stdout.write(token + "\n")


@token_app.command("revoke")
def token_revoke(ctx: typer.Context,
                 ref: Annotated[str | None, typer.Argument(help="The token's id (haechi token list).")] = None,
                 stdin: Annotated[bool, typer.Option("--stdin", help="Read the token itself from stdin.")] = False,
                 home: HomeOpt = None) -> None:
    """Revoke an API token by its id, or the token read from stdin — never typed on the command
    line, where the process list and the shell history would keep it."""
    with handled(), open_haechi(home, ctx) as h:
        if stdin:
            h.revoke_token(sys.stdin.readline().strip())
        elif ref is not None and ref.lstrip("#").isdigit():
            h.revoke_token_id(int(ref.lstrip("#")))
        elif ref:  # a whole token on argv (older scripts): works, and says why not to
            err.print("[yellow]warning:[/yellow] a token on the command line shows in `ps` and the shell "
                      "history; revoke by id (haechi token list) or with --stdin")
            h.revoke_token(ref)
        else:
            err.print("give the token's id (haechi token list) or --stdin")
            raise typer.Exit(2)
    out.print("revoked")


@token_app.command("list")
def token_list(ctx: typer.Context, username: Annotated[str | None, typer.Argument(help="Only this user's.")] = None,
               json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Tokens with their ids, users, names and dates (never the tokens themselves)."""
    with handled(), open_haechi(home, ctx) as h:
        rows = h.list_tokens(username)
    for r in rows:
        revoked = f", revoked {r['revoked_at'][:19]}" if r["revoked_at"] else ""
        emit_json(r) if json_out else out.print(
            f"#{r['id']} {r['user']} {r['name'] or '-'} created {r['created_at'][:19]}{revoked}")
