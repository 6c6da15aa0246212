"""`sciceapp doctor`: one report of what a user needs to know when something does not work.

App diagnostics are an application concern, not engine logic (ARCHITECTURE.md), so they live
here beside the other commands, one module per concern: ``report`` (a check's outcome and the
text report), ``versions``, ``runtime`` (ONNX Runtime and the GPU), ``data`` (the data folder,
its models and collections), ``cpu_paths`` (each model's calibrated CPU runtime), ``tiles``
(the map tile source) and ``webengine`` (QtWebEngine, probed in a child process). This module
is the command: it runs them and prints the report, with the tile URL the GUI is set to.
"""

from __future__ import annotations

import argparse
import json

# The GUI's default when its settings cannot be read.
FALLBACK_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sciceapp doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        help="check the installation and report what to fix",
        description="Check versions, ONNX Runtime providers (and why CUDA is not used), "
        "QtWebEngine, the data folder and its free space, models, collections and the map "
        "tile server. Exits 1 when a problem is found.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--offline", action="store_true", help="do not contact the map tile server")
    parser.add_argument(
        "--tile-url",
        metavar="URL",
        help="tile URL template to test (default: the one set in the app's settings)",
    )
    parser.add_argument(
        "--no-webengine", action="store_true", help="do not start QtWebEngine (saves seconds)"
    )
    parser.add_argument(
        "--webengine-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long QtWebEngine may take to render a test page (default: %(default)s)",
    )
    parser.add_argument("--probe-webengine", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sciceapp.commands.doctor import webengine

    if args.probe_webengine:
        return webengine.probe_webengine(args.webengine_timeout)
    from sciceapp.commands.doctor import cpu_paths, data, runtime, tiles, versions
    from sciceapp.commands.doctor.report import PROBLEM, format_report, worst_status
    from sciceapp.paths import data_dir

    folder = data_dir(args.data_dir, create=False)
    checks = [
        versions.check_versions(),
        runtime.check_providers(),
        data.check_data_folder(folder),
    ]
    if folder.is_dir():
        checks += [data.check_models(folder), data.check_collections(folder)]
        checks.append(cpu_paths.check_cpu_paths(folder))
    if not args.no_webengine:
        checks.append(
            webengine.check_webengine(
                webengine.webengine_probe_command(), args.webengine_timeout + 15
            )
        )
    template = (
        None
        if args.offline
        else (args.tile_url if args.tile_url is not None else configured_tile_url())
    )
    checks.append(tiles.check_tiles(template))
    status = worst_status(checks)
    if args.json:
        report = {"status": status, "checks": [check.to_json() for check in checks]}
        print(json.dumps(report, indent=2, default=str))
    else:
        print(format_report(checks))
    return 1 if status == PROBLEM else 0


def configured_tile_url() -> str:
    """The tile URL template from the GUI's settings ("" = offline map)."""
    try:
        from sciceapp.ui.settings import load_settings
    except ImportError:
        return FALLBACK_TILE_URL
    return load_settings().tile_url
