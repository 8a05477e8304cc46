"""``haechi worker``, ``haechi jobs`` and ``haechi doctor``."""

from __future__ import annotations

import os
import shutil
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from haechi.cli.common import HomeOpt, JsonOpt, emit_json, handled, open_haechi, out


def worker_command(
    queues: Annotated[str, typer.Option("--queues", help="Comma-separated queues to consume.")] = "",
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="Worker processes.")] = 0,
) -> None:
    """Run a Celery worker for distributed scans ($HAECHI_BROKER_URL, $HAECHI_DATABASE_URL, $HAECHI_HOME)."""
    from haechi.cli import logs
    from haechi.workers.tasks import QUEUE, app

    logs.configure()
    _refuse_a_foreign_key()

    argv = ["worker", "--loglevel", "INFO", "--queues", queues or QUEUE, "--without-gossip", "--without-mingle"]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    app.worker_main(argv)


def _refuse_a_foreign_key() -> None:
    """A worker on a new machine without the cluster's key would create a key of its own and fail
    every task on the shared database's encrypted fields (jobs stay "running"): it stops at once,
    naming what it cannot read and the fix."""
    from haechi.services.keys import probe

    with handled():
        h = open_haechi(None)
        try:
            problems = probe(h.runtime)
        finally:
            h.close()
    if problems:
        out.print(f"[red]this worker cannot read the cluster's data:[/] {escape('; '.join(problems))} — give "
                  "every worker the cluster's key ($HAECHI_SECRET_KEY, or the same <home>/secret.key)")
        raise typer.Exit(2)


def beat_command(
    schedule_file: Annotated[str, typer.Option("--schedule-file", help="Where beat keeps its last-run times.")] = "",
) -> None:
    """Run Celery beat: scheduled re-checks of notified items ($HAECHI_RECHECK_EVERY seconds, default
    6 h) and due watches (looked for every $HAECHI_WATCH_POLL_EVERY seconds, default 300). Run one."""
    from haechi.workers.tasks import app

    argv = ["beat", "--loglevel", "INFO"]
    if schedule_file:
        argv += ["--schedule", schedule_file]
    app.start(argv)


def jobs_command(ctx: typer.Context, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Progress of distributed jobs."""
    with handled(), open_haechi(home, ctx) as h:
        jobs = h.list_jobs()
    if json_out:
        for j in jobs:
            emit_json(j)
        return
    table = Table("job", "kind", "total", "queued", "running", "done", "failed", "created")
    for j in jobs:
        table.add_row(j["job"], j["kind"], str(j["total"]), str(j["queued"]), str(j["running"]), str(j["done"]),
                      str(j["failed"]), j["created_at"][:19])
    out.print(table)


def _check(name: str, fn: Any) -> dict[str, Any]:
    try:
        detail = fn()
        return {"check": name, "ok": True, "detail": detail}
    except Exception as exc:  # noqa: BLE001 - the doctor reports every failure, whatever it is
        return {"check": name, "ok": False, "detail": f"{type(exc).__name__}: {str(exc)[:300]}"}


def doctor_command(ctx: typer.Context, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Check database, broker, storage, keys and optional tools; say what is missing."""
    results = []
    with handled():
        h = open_haechi(home, ctx)

    def database() -> str:
        return f"{h.db.dialect} reachable, schema at {h.db.schema_version()}"

    def storage() -> str:
        probe = h.settings.home / ".doctor"
        probe.write_text("ok")
        probe.unlink()
        free = shutil.disk_usage(h.settings.home).free // 2**20
        mode = oct(os.stat(h.settings.home).st_mode & 0o777)
        store = h.blobs
        if store.local_path("probe") is None:  # object storage: list one key to prove access
            next(iter(store.keys()), None)
            return f"{h.settings.home} writable ({free} MiB free); evidence store {store.url} reachable"
        return f"{h.settings.home} writable, mode {mode}, {free} MiB free; evidence in {store.url}"

    def keys() -> str:
        if h.settings.secret_key:
            return "HAECHI_SECRET_KEY set"
        key = h.settings.key_file
        if not key.exists():
            return "no key yet (created 0600 on first use)"
        mode = key.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(f"{key} is readable by others (mode {oct(mode)}); chmod 600")
        return f"{key} mode {oct(mode)}"

    def broker() -> str:
        url = h.settings.broker_url
        if not url:
            return "not configured (HAECHI_BROKER_URL unset): scans run in-process"
        from haechi.jobs import make_app

        with make_app(h.settings, url).connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        return f"{url.split('@')[-1]} reachable"

    def readable() -> str:
        from haechi.services.keys import probe

        problems = probe(h.runtime)
        if problems:
            raise PermissionError("; ".join(problems) + " — restore the right key (its fingerprint is in the "
                                                         "backup's manifest)")
        return f"stored encrypted data readable with key {h.cipher.fingerprint()}"

    for name, fn in (("database", database), ("storage", storage), ("encryption key", keys),
                     ("encrypted data", readable), ("broker", broker)):
        results.append(_check(name, fn))
    results += _plugin_checks()
    h.close()
    if json_out:
        for r in results:
            emit_json(r)
    else:
        table = Table("check", "status", "detail")
        for r in results:
            status = ("[green]ok[/green]" if r["ok"] else "[yellow]optional, not installed[/yellow]"
                      if r.get("optional") else "[red]problem[/red]")
            table.add_row(r["check"], status, escape(str(r["detail"])))
        out.print(table)
    raise typer.Exit(0 if all(r["ok"] or r.get("optional") for r in results) else 1)


def _plugin_checks() -> list[dict[str, Any]]:
    """One row per plugin registry (what is registered), then one per missing optional
    dependency with the plugins that need it: "optional, not installed", not a problem — the
    plugin reports itself unavailable and everything else works (see haechi.plugins)."""
    from haechi import plugins

    rows: list[dict[str, Any]] = []
    found: list[plugins.Plugin] = []
    for reg in plugins.REGISTRIES:
        def listed(reg: str = reg) -> str:
            entries = plugins.index((reg,))
            found.extend(entries)
            return ", ".join(p.name for p in entries)

        rows.append(_check(f"plugins: {reg.replace('_', ' ')}", listed))
    for dep, needing in plugins.missing_dependencies(found).items():
        users = ", ".join(f"{p.registry.replace('_', ' ').rstrip('s')} {p.name}" for p in needing)
        rows.append({"check": f"optional: {dep.name}", "ok": False, "optional": True,
                     "status": "optional, not installed",
                     "detail": f"{dep} not installed; needed by {users} (everything else works)"})
    return rows


def backup_command(ctx: typer.Context, out_file: Annotated[str, typer.Argument(help="Archive to write (.tar.gz).")],
                   include_key: Annotated[bool, typer.Option("--include-key", help="Also store the encryption key "
                                                              "(protect the archive like the key).")] = False,
                   json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Back up the database, evidence store and custody log, with a manifest of hashes."""
    with handled(), open_haechi(home, ctx) as h:
        result = h.backup(out_file, include_key=include_key)
    if json_out:
        emit_json(result)
    else:
        out.print(f"backed up {sum(result['tables'].values())} rows and {result['evidence_files']} evidence files "
                  f"to {result['out']}" + ("" if include_key else " (key NOT included: keep it safe separately)"))


def restore_command(ctx: typer.Context, archive: Annotated[str, typer.Argument(help="Backup archive.")],
                    json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Restore a backup into an empty home (checked against its manifest first)."""
    with handled(), open_haechi(home, ctx) as h:
        result = h.restore(archive)
    emit_json(result) if json_out else out.print(f"restored {sum(result['restored'].values())} rows, "
                                                 f"{result['evidence_files']} evidence files")
