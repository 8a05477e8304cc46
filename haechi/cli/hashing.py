"""``haechi hash`` and ``haechi scan``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Column, Table

from haechi.cli.common import HomeOpt, JsonOpt, emit_json, err, handled, open_haechi, out

PathsArg = Annotated[list[str], typer.Argument(help="Files, folders, zip or tar archives.")]


def hash_command(ctx: typer.Context, paths: PathsArg, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Hash media: SHA-256, MD5, PDQ (with quality) per image, vPDQ per video; errors name the file."""
    failed = 0
    with handled(), open_haechi(home, ctx) as h:
        table = Table("path", "pdq", "q", "size", "sha256", "error")
        for record in h.hash_paths(paths):
            row = record.public()
            failed += row["error"] is not None
            if json_out:
                emit_json(row)
            else:
                pdq = row["pdq"] or (f"vPDQ: {row['frames_hashed']} frames / {row['duration_s']}s"
                                     if row["media_type"] == "video" and row.get("frames_hashed") else "")
                table.add_row(row["path"], pdq, str(row["pdq_quality"] or ""),
                              f"{row['width']}x{row['height']}" if row["width"] else "",
                              (row["sha256"] or "")[:16], row["error"] or "")
        if not json_out:
            out.print(table)
    raise typer.Exit(1 if failed else 0)


def _how_close(m: dict[str, object]) -> str:
    """Distance for images; frame shares and matched time for videos."""
    if m["signal_type"] == "vpdq":
        segs = ", ".join(f"{a:g}-{b:g}s" for a, b in m["matched_segments"])  # type: ignore[attr-defined]
        return f"{m['query_match_percent']}% of query, {m['compared_match_percent']}% of banked ({segs})"
    if "t_s" in m:
        return f"{m['distance']} (at {m['t_s']}s)"
    return str(m["distance"])


def scan_command(
    ctx: typer.Context,
    paths: PathsArg,
    bank: Annotated[list[str] | None, typer.Option("--bank", help="Bank to match (repeatable; default all).")] = None,
    threshold: Annotated[int | None, typer.Option(
        "--threshold", help="PDQ Hamming distance threshold (default: the pdq_threshold setting, 31).")] = None,
    faces: Annotated[bool, typer.Option("--faces", help="Also find enrolled subjects' faces.")] = False,
    assess: Annotated[bool, typer.Option("--assess", help="Also assess whether each file is synthetic.")] = False,
    distributed: Annotated[bool | None, typer.Option(
        "--distributed/--local", help="Enqueue for `haechi worker`s (default: when HAECHI_BROKER_URL is set).")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="With --distributed: wait for the results.")] = True,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Scan media against banks: every copy, resized, cropped, mirrored, rotated or bordered."""
    failed = copies = leads = scanned = 0
    with handled(), open_haechi(home, ctx) as h:
        # the verdict is the first thing a caseworker reads: a copy may be acted on, a lead (same
        # scene, same person, partial overlap) is for a reviewer and looked the same without it
        table = Table(Column("path", overflow="fold"), "verdict", "bank", "label", "signal", "distance",
                      "transform", Column("error", overflow="fold"))
        use_workers = distributed if distributed is not None else bool(h.settings.broker_url)
        if use_workers:
            job_id = h.scan_distributed(paths, banks=bank or None, threshold=threshold)
            err.print(f"job {job_id} queued ({h.job_status(job_id)['total']} files)")
            if not wait:
                raise typer.Exit(0)
            rows = h.job_results(job_id)
        else:
            rows = h.scan(paths, banks=bank or None, threshold=threshold, faces=faces, assess=assess)
        for row in rows:
            scanned += 1
            failed += row["error"] is not None
            verdicts = {m.get("verdict", "copy") for m in row["matches"]}
            copies += "copy" in verdicts
            leads += "copy" not in verdicts and (bool(verdicts) or any(f["match"] for f in row.get("faces", [])))
            for f in row.get("faces", []):
                if f["match"] and not json_out:
                    table.add_row(row["path"], "lead", "(faces)", f["subject"], "face",
                                  f"similarity {f['similarity']}",
                                  f"box {f['box']}" + (f" @{f['t_s']}s" if "t_s" in f else ""), "")
            if json_out:
                emit_json(row)
            elif row["matches"]:
                for m in row["matches"]:  # an exact match of bytes that did not decode keeps its error
                    table.add_row(row["path"], m.get("verdict", "copy"), m["bank"], m["label"] or "",
                                  m["signal_type"], _how_close(m), m["transform"], row["error"] or "")
            elif row["error"]:
                table.add_row(row["path"], "", "", "", "", "", "", row["error"])
        if not json_out:
            out.print(table)
            out.print(f"{copies + leads} file(s) matched ({copies} with a copy, {leads} with leads only: for a "
                      f"reviewer), {failed} unreadable, of {scanned} scanned")
            if faces:
                out.print("[yellow]A face match is a lead for a human reviewer, never a verdict.[/yellow]")
    raise typer.Exit(1 if failed else 0)


def assess_command(
    ctx: typer.Context,
    paths: PathsArg,
    explain: Annotated[str | None, typer.Option("--explain", help="Write heat maps (error levels) here.")] = None,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Assess whether media is synthetic (a deepfake), with the reasons: provenance, generator
    metadata, watermarks, forensic hints. Never says "real": no evidence is reported as such."""
    failed = 0
    with handled(), open_haechi(home, ctx) as h:
        table = Table("path", "verdict", "score", "reasons", "error")
        for row in h.assess(paths, explain_dir=explain):
            failed += row["error"] is not None
            if json_out:
                emit_json(row)
            else:
                table.add_row(row["path"], row["verdict"] or "", "" if row["score"] is None else f"{row['score']:.2f}",
                              "; ".join(r["detail"] for r in row["reasons"][:3]), row["error"] or "")
        if not json_out:
            out.print(table)
            out.print("[yellow]A learned or forensic hint is a lead; signed provenance and watermarks are "
                      "evidence.[/yellow]")
    raise typer.Exit(1 if failed else 0)
