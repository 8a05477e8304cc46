"""``haechi demo``: a real end-to-end run on generated sample images.

Creates a bank from generated "reported" images, makes copies the way they spread online
(resized, re-compressed, cropped, mirrored, rotated, bordered, screenshotted, captioned),
adds unrelated distractors, scans them all and prints what matched and how long it took;
then does the same for a generated video clip (re-encode, excerpt, mirror, caption, still).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from haechi.cli.common import HomeOpt, handled, open_haechi, out


def demo_command(
    ctx: typer.Context,
    originals: Annotated[int, typer.Option("--originals", help="Number of reported images.")] = 8,
    distractors: Annotated[int, typer.Option("--distractors", help="Unrelated images to scan.")] = 40,
    home: HomeOpt = None,
) -> None:
    """Run the whole core loop on generated images and print a table of results."""
    from haechi.demo.samples import scene
    from haechi.demo.transforms import FAMILIES, make_copy

    with tempfile.TemporaryDirectory(prefix="haechi-demo-") as tmp:
        root = Path(tmp)
        home = home or (ctx.obj or {}).get("home") or str(root / "home")
        reported, found = root / "reported", root / "found"
        reported.mkdir()
        found.mkdir()
        for i in range(originals):
            scene(1000 + i).save(reported / f"reported_{i:02d}.png")
        expected: dict[str, str] = {}
        for i in range(originals):
            im = scene(1000 + i)
            for j, family in enumerate(FAMILIES):
                name = f"copy_{i:02d}_{family}.jpg"
                make_copy(im, family, seed=i * 100 + j).save(found / name, quality=92)
                expected[name] = family
        for k in range(distractors):
            scene(5000 + k).save(found / f"unrelated_{k:03d}.jpg", quality=85)
        with handled(), open_haechi(home) as h:
            if "demo-reported" in {b["name"] for b in h.list_banks()}:
                h.delete_bank("demo-reported")
            h.create_bank("demo-reported", "generated demo images")
            t0 = time.perf_counter()
            added = [r for r in h.add_to_bank("demo-reported", [reported], label="demo") if not r.error]
            t_add = time.perf_counter() - t0
            t0 = time.perf_counter()
            results = list(h.scan([found], banks=["demo-reported"]))
            t_scan = time.perf_counter() - t0
        per_family: dict[str, list[int]] = {f: [0, 0] for f in FAMILIES}
        false_matches = 0
        for row in results:
            name = Path(row["path"]).name
            if name in expected:
                per_family[expected[name]][1] += 1
                per_family[expected[name]][0] += bool(row["matches"])
            elif row["matches"]:
                false_matches += 1
        table = Table("copy made by", "found", "of", title="Scan of copies against the bank")
        for family, (hit, total) in per_family.items():
            table.add_row(family, str(hit), str(total))
        total_hit = sum(v[0] for v in per_family.values())
        total = sum(v[1] for v in per_family.values())
        table.add_row("[bold]all copies[/bold]", f"[bold]{total_hit}[/bold]", str(total))
        table.add_row("unrelated images matched (false)", str(false_matches), str(distractors))
        out.print(table)
        out.print(f"bank add: {len(added)} images in {t_add:.2f}s; "
                  f"scan: {len(results)} images in {t_scan:.2f}s ({len(results) / t_scan:.1f}/s)")
        out.print(f"data home: {home}")
        video_ok = _video_demo(root, home)
        if false_matches or total_hit < total * 0.9 or not video_ok:
            raise typer.Exit(1)


def _video_demo(root: Path, home: str) -> bool:
    """Bank a generated clip, then scan a re-encode, an excerpt, a mirrored and a captioned copy,
    a still frame and an unrelated clip."""
    from haechi.demo.video_samples import caption, clip_frames, mirror, resize, still, write_video

    vids = root / "videos"
    dump = vids / "found"
    dump.mkdir(parents=True)

    def frames(seed: int = 31) -> Any:
        return clip_frames(seed, 16, (320, 240), fps=10)

    clip = write_video(vids / "reported_clip.mp4", frames(), fps=10)
    copies = {
        "re-encoded at 480x360": write_video(dump / "reencoded.mp4", frames(), fps=10, op=resize((480, 360)),
                                             bitrate=150_000),
        "6-second excerpt": write_video(dump / "excerpt.mp4", frames(), fps=10, start_s=5.3, end_s=11.3),
        "mirrored (VP9/WebM)": write_video(dump / "mirrored.webm", frames(), fps=10, op=mirror, codec="libvpx-vp9"),
        "captioned": write_video(dump / "captioned.mp4", frames(), fps=10, op=caption()),
    }
    still(31, 9.4, (320, 240), fps=10).save(dump / "screenshot.jpg", quality=85)
    copies["still frame (screenshot)"] = dump / "screenshot.jpg"
    unrelated = write_video(dump / "unrelated.mp4", frames(seed=32), fps=10)
    with handled(), open_haechi(home) as h:
        if "demo-videos" in {b["name"] for b in h.list_banks()}:
            h.delete_bank("demo-videos")
        h.create_bank("demo-videos", "generated demo clip")
        list(h.add_to_bank("demo-videos", [clip], label="demo-clip"))
        t0 = time.perf_counter()
        rows = {Path(r["path"]).name: r for r in h.scan([dump], banks=["demo-videos"])}
        t_scan = time.perf_counter() - t0
    table = Table("video copy", "found as", "query frames matched", "matched time", title="Video scan")
    ok = True
    for name, path in copies.items():
        matches = rows[path.name]["matches"]
        ok &= bool(matches)
        m = matches[0] if matches else {}
        how = f"{m.get('query_match_percent', '')}%" if m.get("signal_type") == "vpdq" else ""
        when = (", ".join(f"{a:g}-{b:g}s" for a, b in m.get("matched_segments", []))
                or (f"{m['t_s']}s" if "t_s" in m else ""))
        table.add_row(name, m.get("signal_type", "[red]missed[/red]"), how, when)
    false = bool(rows[unrelated.name]["matches"])
    table.add_row("unrelated clip", "[red]matched (false)[/red]" if false else "no match (correct)", "", "")
    out.print(table)
    out.print(f"video scan: {len(rows)} files in {t_scan:.2f}s")
    return ok and not false
