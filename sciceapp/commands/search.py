"""`sciceapp locate`, `sciceapp review` and `sciceapp map`: query a reference collection.

locate  where were these photos taken? (a table, or JSON with --json / --output)
review  do a folder of geotagged survey photos agree with where they look taken?
map     an HTML map (works offline) of a collection and, optionally, of locate results
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sciceapp.commands import writing
from sciceapp.commands.arguments import integer, number, output_file
from sciceapp.commands.collection import add_run_options, library
from sciceapp.commands.geotag import add_review_options, apply_review
from sciceapp.engine.defaults import MAX_TOP_K
from sciceapp.errors import SciceappError

NO_TILES = ""
MAX_RESULTS_BYTES = 256 * 1024 * 1024
MAX_DISTANCE_M = 20_037_509.0  # half the Earth's circumference: no distance is longer


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``locate``, ``review`` and ``map``."""
    locate = subparsers.add_parser("locate", help="predict where photos were taken")
    locate.add_argument(
        "photos", nargs="+", metavar="PHOTO", help="photo files, or folders searched recursively"
    )
    _collection_option(locate)
    _search_options(locate)
    locate.add_argument("--json", action="store_true", help="print a JSON list of results")
    locate.add_argument(
        "--output", metavar="FILE.json", type=output_file, help="also write the JSON to a file"
    )
    locate.add_argument(
        "--include-self",
        action="store_true",
        help="let a photo that is itself in the collection (same content) be its own match "
        "(by default it is left out, and the JSON says in_collection)",
    )
    add_run_options(locate)
    locate.set_defaults(func=_locate)

    review = subparsers.add_parser("review", help="check survey photos' GPS against the model")
    review.add_argument("folder", metavar="FOLDER")
    _collection_option(review)
    review.add_argument(
        "--threshold-m",
        type=number(0, MAX_DISTANCE_M, above_low=True),
        default=200.0,
        help="flag disagreements above (default 200 m)",
    )
    review.add_argument("--csv", metavar="OUT.csv", type=output_file, help="write the table as CSV")
    review.add_argument(
        "--geojson", metavar="OUT.geojson", type=output_file, help="write both positions as GeoJSON"
    )
    _search_options(review)
    add_run_options(review)
    add_review_options(review)
    review.set_defaults(func=_review)

    mapping = subparsers.add_parser("map", help="write an HTML map of a collection and results")
    _collection_option(mapping)
    mapping.add_argument("--queries", metavar="RESULTS.json", help="output of locate --output")
    mapping.add_argument("--output", metavar="MAP.html", type=output_file, required=True)
    tiles = mapping.add_mutually_exclusive_group()
    tiles.add_argument("--tile-url", help="tile URL template (default: OpenStreetMap)")
    tiles.add_argument(
        "--offline", dest="tile_url", action="store_const", const=NO_TILES, help="no map tiles"
    )
    mapping.set_defaults(func=_map)


def _collection_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collection", "-c", metavar="NAME", required=True)


def _search_options(parser: argparse.ArgumentParser) -> None:
    # Defaults live in engine.locate; importing it here would slow down `sciceapp --help`.
    parser.add_argument(
        "--top-k",
        type=integer(1, MAX_TOP_K),
        help=f"matches per photo (default 10, at most {MAX_TOP_K})",
    )
    parser.add_argument(
        "--radius-m",
        type=number(0, MAX_DISTANCE_M, above_low=True),
        help="matches closer than this agree on a place (default 100 m)",
    )
    parser.add_argument(
        "--verify-top-k",
        type=integer(1, MAX_TOP_K),
        metavar="N",
        help="verify the first N matches geometrically with local features (default 20)",
    )
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="rank by the model's similarity alone (no geometric verification)",
    )


def _search_settings(args: argparse.Namespace) -> dict[str, Any]:
    from sciceapp.engine.defaults import DEFAULT_RADIUS_M, DEFAULT_TOP_K, DEFAULT_VERIFY_TOP_K

    settings = {
        "top_k": DEFAULT_TOP_K if args.top_k is None else args.top_k,
        "radius_m": DEFAULT_RADIUS_M if args.radius_m is None else args.radius_m,
        "verify": args.verify,
        "verify_top_k": DEFAULT_VERIFY_TOP_K if args.verify_top_k is None else args.verify_top_k,
    }
    return settings


def _verification_note(collection: Any, args: argparse.Namespace) -> None:
    """Say on stderr when matches cannot be verified (the collection has no local features)."""
    if args.verify and not collection.local_features:
        print(
            f"sciceapp: collection {collection.name!r} has no local features, so matches are "
            "not verified; add them with `sciceapp collection update "
            f"{collection.name} --local-features on`.",
            file=sys.stderr,
        )


def _open(args: argparse.Namespace) -> Any:
    from sciceapp.engine.collection import CollectionOptions

    options = CollectionOptions(
        provider=getattr(args, "provider", None) or "auto",
        batch_size=getattr(args, "batch_size", None) or None,
    )
    return library(args).open_collection(args.collection, options)


def _model_label(collection: Any) -> str:
    from sciceapp.engine.labels import model_text

    return model_text(collection.model_label, collection.model_random_init)


def _model_line(collection: Any) -> str:
    return f"collection {collection.name!r}, model {_model_label(collection)}"


def _write(path: str, text: str) -> None:
    from sciceapp.atomic import write_bytes_atomic

    with writing(path):
        write_bytes_atomic(path, text.encode("utf-8"))


def _fmt_point(point: tuple[float, float] | None) -> str:
    return "-" if point is None else f"{point[0]:.6f}, {point[1]:.6f}"


def _fmt_m(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f} km" if value >= 10_000 else f"{value:.0f} m"


def _locate(args: argparse.Namespace) -> int:
    from sciceapp.engine.locate import locate, query_photos
    from sciceapp.progress import TqdmProgress

    collection = _open(args)
    photos = query_photos(args.photos)
    _verification_note(collection, args)
    with TqdmProgress("locating", unit="photo", disable=args.quiet or None) as bar:
        results = locate(
            collection,
            photos,
            progress=bar,
            exclude_self=not args.include_self,
            **_search_settings(args),
        )
    # Each result names the model, so a random-weight demo is labelled in the JSON too.
    model = _model_label(collection)
    data = [{**r.to_json(), "model": model} for r in results]
    if args.output:
        _write(args.output, json.dumps(data, indent=1, ensure_ascii=False))
    if args.json:
        print(json.dumps(data, indent=1, ensure_ascii=False))
    else:
        print(_model_line(collection))
        for result in results:
            _print_result(result)
    failed = [r for r in results if r.error is not None]
    for result in failed:
        print(f"sciceapp: cannot locate {result.query}: {result.error}", file=sys.stderr)
    return 1 if failed else 0


def _print_result(result: Any) -> None:
    print(f"\n{result.query}")
    if result.error is not None:
        print(f"  error: {result.error}")
        return
    if result.in_collection:
        print("  in this collection (its own photo is left out of the matches)")
    place = f"  {result.place}" if result.place else ""
    print(f"  predicted  {_fmt_point(result.predicted)}  confidence {result.confidence:.2f}{place}")
    if result.query_gps is not None:
        print(f"  own GPS    {_fmt_point(result.query_gps)}  error {_fmt_m(result.error_m)}")
    if result.verified:
        print("  verified   the prediction rests on geometrically verified matches")
    for rank, match in enumerate(result.matches, 1):
        where = _fmt_point((match.lat, match.lon) if match.has_gps else None)
        check = _fmt_inliers(match)
        print(f"  {rank:>3}. {match.score:6.3f}  {check:<14}  {where:<24}  {match.path}")


def _fmt_inliers(match: Any) -> str:
    if match.inliers is None:
        return "-"
    return f"{'verified' if match.verified else 'no'} {match.inliers:>4}"


def _review(args: argparse.Namespace) -> int:
    from sciceapp.engine.review import review, write_csv, write_geojson
    from sciceapp.progress import TqdmProgress

    collection = _open(args)
    _verification_note(collection, args)
    with TqdmProgress("reviewing", unit="photo", disable=args.quiet or None) as bar:
        rows = review(
            collection,
            [args.folder],
            args.threshold_m,
            progress=bar,
            **_search_settings(args),
        )
    print(_model_line(collection))
    print(f"{'flag':<5} {'distance':>10} {'conf':>5}  {'status':<13} photo")
    for row in rows:
        flag = "!!" if row.flagged else ""
        print(
            f"{flag:<5} {_fmt_m(row.distance_m):>10} {row.confidence:5.2f}  {row.status:<13} "
            f"{row.path}" + (f"  ({row.note})" if row.note else "")
        )
    flagged = sum(r.flagged for r in rows)
    checked = sum(r.status == "checked" for r in rows)
    print(
        f"{len(rows)} photos: {checked} checked, {flagged} farther than {args.threshold_m:g} m, "
        f"{sum(r.status == 'no_gps' for r in rows)} without GPS, "
        f"{sum(r.status == 'error' for r in rows)} unreadable."
    )
    for path, writer in ((args.csv, write_csv), (args.geojson, write_geojson)):
        if path:
            with writing(path):
                writer(rows, path)
            print(f"wrote {path}")
    return apply_review(args, collection.name, rows)


def _read_results(path: str) -> list[Any]:
    from sciceapp.engine.locate import LocateResult
    from sciceapp.reading import read_regular

    try:
        data = json.loads(read_regular(path, MAX_RESULTS_BYTES).decode("utf-8"))
        if isinstance(data, dict):
            data = [data]
        return [LocateResult.from_json(item) for item in data]
    except OSError as exc:
        raise SciceappError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except RecursionError as exc:
        raise SciceappError(
            f"{path} is not a locate result file (nested too deeply to be one); write one "
            "with `sciceapp locate ... --output FILE.json`."
        ) from exc
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise SciceappError(
            f"{path} is not a locate result file ({exc}); write one with "
            "`sciceapp locate ... --output FILE.json`."
        ) from exc


def _map(args: argparse.Namespace) -> int:
    from sciceapp.engine.defaults import OSM_TILE_URL
    from sciceapp.engine.mapview import MapData, render_map

    collection = _open(args)
    results = _read_results(args.queries) if args.queries else []
    data = MapData.from_collection(collection, results)
    tile_url = OSM_TILE_URL if args.tile_url is None else (args.tile_url or None)
    try:
        with writing(args.output):
            path = render_map(data, args.output, tile_url=tile_url)
    except ValueError as exc:
        raise SciceappError(str(exc)) from exc
    print(
        f"wrote {path}: {len(data.references)} geotagged photos, {len(data.results)} results"
        + ("" if tile_url else " (no tiles: offline)")
    )
    return 0
