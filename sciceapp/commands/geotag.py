"""`sciceapp geotag`: write locations into photos (or XMP sidecars), from a position or a GPX
track; list what was written; undo it. Also the `--apply` step of `sciceapp review`.

Every write is journalled in the catalogue before the file is replaced; `geotag undo` gives
back the original bytes (see docs/geotag.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sciceapp.errors import SciceappError
from sciceapp.terminal import escape

SIDECAR_HELP = (
    "write an XMP sidecar instead of changing the photo: 'darktable' (default) names it "
    "photo.jpg.xmp, 'digikam' photo.xmp"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``geotag set|gpx|offset|history|undo``."""
    group = subparsers.add_parser(
        "geotag", help="write locations into photos or sidecars, with history and undo"
    )
    sub = group.add_subparsers(dest="geotag_command", metavar="ACTION", required=True)

    put = sub.add_parser("set", help="write one position into photos")
    put.add_argument("photos", nargs="+", metavar="PHOTO", help="photos, or folders of photos")
    put.add_argument("--lat", type=float, required=True, help="latitude, degrees (south < 0)")
    put.add_argument("--lon", type=float, required=True, help="longitude, degrees (west < 0)")
    put.add_argument("--alt", type=float, help="altitude, metres above sea level")
    add_write_options(put)
    _quiet(put)
    put.set_defaults(func=_set)

    gpx = sub.add_parser("gpx", help="geotag photos from GPX tracks, by capture time")
    gpx.add_argument(
        "paths", nargs="+", metavar="TRACK.gpx|PHOTO|FOLDER",
        help="GPX files, then photos or folders (searched recursively)",
    )  # fmt: skip
    _time_options(gpx)
    gpx.add_argument("--offset", default="+00:00:00", metavar="±HH:MM:SS",
                     help="added to the camera's clock to get the true time (default 0; "
                     "`geotag offset` finds it)")  # fmt: skip
    gpx.add_argument("--max-gap", default="5m", metavar="DURATION",
                     help="photos farther in time from every track point are left alone "
                     "(default 5m; s, m or h)")  # fmt: skip
    add_write_options(gpx)
    _quiet(gpx)
    gpx.set_defaults(func=_gpx)

    offset = sub.add_parser(
        "offset", help="find the camera clock offset from one photo whose place is known"
    )
    offset.add_argument("tracks", nargs="+", metavar="TRACK.gpx")
    offset.add_argument("--photo", required=True, metavar="PHOTO")
    offset.add_argument("--lat", type=float, required=True, help="where the photo was taken")
    offset.add_argument("--lon", type=float, required=True)
    _time_options(offset)
    offset.set_defaults(func=_offset)

    history = sub.add_parser("history", help="what sciceapp wrote, newest first")
    history.add_argument("--limit", type=int, default=20, help="changes shown (default 20)")
    history.add_argument("--json", action="store_true")
    history.set_defaults(func=_history)

    undo = sub.add_parser("undo", help="restore photos as they were before the last changes")
    which = undo.add_mutually_exclusive_group()
    which.add_argument("count", nargs="?", type=int, default=1, metavar="N",
                       help="undo the last N changes (default 1)")  # fmt: skip
    which.add_argument("--all", action="store_true", help="undo every change still in effect")
    undo.set_defaults(func=_undo)


def add_write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sidecar", nargs="?", const="darktable", choices=("darktable", "digikam"),
        metavar="STYLE", help=SIDECAR_HELP,
    )  # fmt: skip
    parser.add_argument(
        "--touch", action="store_true",
        help="let the file's modification time change (default: it is kept)",
    )  # fmt: skip
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would change, write nothing"
    )


def _quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _time_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--camera-tz", metavar="ZONE",
        help="time zone of the camera clock for photos whose EXIF records none "
        "(Europe/Rome, +02:00, UTC)",
    )  # fmt: skip


def shown(text: object) -> str:
    """``text`` for the terminal: file names and EXIF can hold control characters."""
    return escape(str(text))


def _journal(args: argparse.Namespace) -> Any:
    from sciceapp.engine.geotag.writer import Journal

    return Journal(args.data_dir)


def _fmt_tag(tag: Any) -> str:
    alt = "" if tag.alt is None else f", {tag.alt:.1f} m"
    return f"{tag.lat:.6f}, {tag.lon:.6f}{alt}"


def write_plan(args: argparse.Namespace, plan: Any, summary: str) -> int:
    """Print or carry out a plan (``plans.Plan``); 1 when a photo could not be written."""
    from sciceapp.engine.geotag.writer import target_of
    from sciceapp.progress import TqdmProgress

    for photo, reason in plan.left:
        print(f"left alone  {shown(photo)}: {shown(reason)}")
    if args.dry_run:
        for request in plan.requests:
            print(f"would write {shown(target_of(request))}: {_fmt_tag(request.tag)}  "
                  f"({shown(request.tag.source)})")  # fmt: skip
        print(f"dry run: {len(plan.requests)} file(s) would be written, nothing was changed.")
        return 0
    if not plan.requests:
        print("nothing to write.")
        return 0
    journal = _journal(args)
    with TqdmProgress(
        "writing", unit="photo", disable=getattr(args, "quiet", False) or None
    ) as bar:
        report = journal.write(plan.requests, summary, keep_times=not args.touch, progress=bar)
    for outcome in report.outcomes:
        if outcome.written:
            print(f"wrote       {shown(outcome.target)}")
        elif outcome.error is None:
            print(f"unchanged   {shown(outcome.target)} (already holds this position)")
    for outcome in report.failed:
        print(f"sciceapp: cannot write {shown(outcome.photo)}: {shown(outcome.error)}",
              file=sys.stderr)  # fmt: skip
    if report.written:
        print(f"{len(report.written)} file(s) written as change {report.change_id}; "
              "`sciceapp geotag undo` restores them.")  # fmt: skip
    return 1 if report.failed else 0


def _set(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sciceapp.engine.geotag.plans import Plan
    from sciceapp.engine.geotag.tags import GeoTag
    from sciceapp.engine.geotag.writer import WriteRequest
    from sciceapp.engine.pipeline import scan

    tag = GeoTag(args.lat, args.lon, args.alt, "sciceapp: set by hand (geotag set)")
    photos = [
        p for path in map(Path, args.photos) for p in (scan([path]) if path.is_dir() else [path])
    ]
    plan = Plan([WriteRequest(p, tag, args.sidecar) for p in photos])
    return write_plan(args, plan, f"geotag set {_fmt_tag(tag)} on {len(photos)} photo(s)")


def _camera_tz(args: argparse.Namespace) -> Any:
    from sciceapp.engine.geotag.gpx import parse_timezone

    return parse_timezone(args.camera_tz) if args.camera_tz else None


def _gpx(args: argparse.Namespace) -> int:
    from sciceapp.engine.geotag.gpx import correlate, parse_duration, parse_offset, read_tracks
    from sciceapp.engine.geotag.plans import plan_gpx
    from sciceapp.engine.pipeline import require_paths, scan

    tracks = [p for p in args.paths if p.lower().endswith(".gpx")]
    targets = [p for p in args.paths if not p.lower().endswith(".gpx")]
    if not tracks or not targets:
        raise SciceappError("Give at least one TRACK.gpx and at least one photo or folder.")
    offset, max_gap = parse_offset(args.offset), parse_duration(args.max_gap)
    track = read_tracks(tracks)
    require_paths(targets)
    photos = scan(targets)
    if not photos:
        raise SciceappError(f"No photos found in {shown(', '.join(targets))}.")
    matches = correlate(track, photos, _camera_tz(args), offset, max_gap)
    plan = plan_gpx(matches, track, args.sidecar)
    print(f"{len(track.points)} track points from {shown(track.name)}; "
          f"{len(plan.requests)} of {len(photos)} photos on the track.")  # fmt: skip
    return write_plan(args, plan, f"geotag gpx {track.name} on {len(plan.requests)} photo(s)")


def _offset(args: argparse.Namespace) -> int:
    from sciceapp.engine.geotag.gpx import find_offset, format_offset, read_tracks

    track = read_tracks(args.tracks)
    offset, distance_m = find_offset(track, args.photo, args.lat, args.lon, _camera_tz(args))
    print(f"offset {format_offset(offset)}  (the track passes {distance_m:.0f} m from that place)")
    print(f"use: sciceapp geotag gpx ... --offset={format_offset(offset)}")
    return 0


def _history(args: argparse.Namespace) -> int:
    changes = _journal(args).history(args.limit if args.limit > 0 else None)
    if args.json:
        print(json.dumps([_change_json(c) for c in changes], indent=1, ensure_ascii=False))
        return 0
    if not changes:
        print("sciceapp has not written any photo yet.")
    for change in changes:
        status = f"undone {change.undone}" if change.undone else "in effect"
        print(f"change {change.id}  {change.created}  {shown(change.summary)}  [{status}]")
        for write in change.writes:
            backup = {"bytes": "backup of the file", "metadata": "backup of its metadata",
                      "none": "new file"}[write.backup_kind]  # fmt: skip
            print(f"  {write.state:<8} {shown(write.target)}  ({backup})"
                  + (f"  {shown(write.note)}" if write.note else ""))  # fmt: skip
    return 0


def _change_json(change: Any) -> dict[str, Any]:
    return {
        "id": change.id,
        "created": change.created,
        "summary": change.summary,
        "undone": change.undone,
        "writes": [
            {
                "photo": w.photo,
                "target": w.target,
                "sidecar": w.sidecar,
                "state": w.state,
                "old_tags": w.old_tags,
                "new_tags": w.new_tags,
                "old_sha256": w.old_sha256,
                "new_sha256": w.new_sha256,
                "backup": w.backup_kind,
                "note": w.note,
            }
            for w in change.writes
        ],
    }


def _undo(args: argparse.Namespace) -> int:
    if not args.all and args.count < 1:
        raise SciceappError("N must be 1 or more (or use --all).")
    outcomes = _journal(args).undo(None if args.all else args.count)
    if not outcomes:
        print("nothing to undo.")
    for outcome in outcomes:
        if outcome.written:
            print(f"restored {shown(outcome.target)}")
        else:
            print(f"sciceapp: cannot restore {shown(outcome.target)}: {shown(outcome.error)}",
                  file=sys.stderr)  # fmt: skip
    return 1 if any(not o.written for o in outcomes) else 0


# -- `sciceapp review --apply` ------------------------------------------------------------------
def add_review_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``review`` that write predicted positions back."""
    group = parser.add_argument_group("writing predicted positions (journalled, undoable)")
    group.add_argument("--apply", choices=("flagged", "all"),
                       help="write the predicted position into the flagged photos, or into every "
                       "photo with a prediction")  # fmt: skip
    group.add_argument("--min-confidence", type=float, default=0.0, metavar="C",
                       help="only predictions at least this confident (0-1, default 0)")  # fmt: skip
    group.add_argument("--include-unverified", action="store_true",
                       help="also predictions no match verified geometrically")  # fmt: skip
    add_write_options(group)  # type: ignore[arg-type]


def apply_review(args: argparse.Namespace, collection_name: str, rows: list[Any]) -> int:
    """Carry out ``review --apply`` on the review's rows (0 when nothing was asked)."""
    if args.apply is None:
        if args.dry_run or args.sidecar:
            raise SciceappError("--dry-run and --sidecar go with --apply flagged|all.")
        return 0
    from sciceapp.engine.geotag.plans import plan_review

    if not 0 <= args.min_confidence <= 1:
        raise SciceappError("--min-confidence must be between 0 and 1.")
    plan = plan_review(
        rows,
        collection_name,
        args.apply,
        args.min_confidence,
        args.include_unverified,
        args.sidecar,
    )
    return write_plan(args, plan, f"review --apply {args.apply} with collection {collection_name}")
