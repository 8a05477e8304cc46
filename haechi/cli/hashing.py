"""``haechi hash`` and ``haechi scan``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from haechi.cli.common import HomeOpt, JsonOpt, emit_json, handled, open_haechi, out

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
    threshold: Annotated[int, typer.Option("--threshold", help="PDQ Hamming distance threshold.")] = 31,
    faces: Annotated[bool, typer.Option("--faces", help="Also find enrolled subjects' faces.")] = False,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Scan media against banks: every copy, resized, cropped, mirrored, rotated or bordered."""
    failed = 0
    matched = 0
    with handled(), open_haechi(home, ctx) as h:
        table = Table("path", "bank", "label", "signal", "distance", "transform", "error")
        for row in h.scan(paths, banks=bank or None, threshold=threshold, faces=faces):
            failed += row["error"] is not None
            matched += bool(row["matches"]) or any(f["match"] for f in row.get("faces", []))
            for f in row.get("faces", []):
                if f["match"] and not json_out:
                    table.add_row(row["path"], "(faces)", f["subject"], "face", f"similarity {f['similarity']}",
                                  f"box {f['box']}" + (f" @{f['t_s']}s" if "t_s" in f else ""), "")
            if json_out:
                emit_json(row)
            elif row["matches"]:
                for m in row["matches"]:
                    table.add_row(row["path"], m["bank"], m["label"] or "", m["signal_type"],
                                  _how_close(m), m["transform"], "")
            elif row["error"]:
                table.add_row(row["path"], "", "", "", "", "", row["error"])
        if not json_out:
            out.print(table)
            out.print(f"{matched} file(s) matched, {failed} unreadable")
            if faces:
                out.print("[yellow]A face match is a lead for a human reviewer, never a verdict.[/yellow]")
    raise typer.Exit(1 if failed else 0)
