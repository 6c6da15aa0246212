"""`sciceapp doctor`: one report of what a user needs to know when something does not work.

The checks live in ``sciceapp.engine.doctor*``; this module adds the one that needs Qt (run
in a child process, ``doctor --probe-webengine``, so a crashing QtWebEngine cannot take the
report with it) and the tile URL the GUI is configured with.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# The GUI's default when its settings cannot be read.
FALLBACK_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
PROBE_PAGE = "<!doctype html><html><body><p id='m'>sciceapp</p></body></html>"


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
    if args.probe_webengine:
        return probe_webengine(args.webengine_timeout)
    from sciceapp.engine import doctor_checks, doctor_probes
    from sciceapp.engine.doctor import PROBLEM, format_report, worst_status
    from sciceapp.paths import data_dir

    folder = data_dir(args.data_dir, create=False)
    checks = [
        doctor_checks.check_versions(),
        doctor_checks.check_providers(),
        doctor_checks.check_data_folder(folder),
    ]
    if folder.is_dir():
        checks += [doctor_checks.check_models(folder), doctor_checks.check_collections(folder)]
        checks.append(doctor_checks.check_cpu_paths(folder))
    if not args.no_webengine:
        checks.append(
            doctor_probes.check_webengine(webengine_probe_command(), args.webengine_timeout + 15)
        )
    template = (
        None
        if args.offline
        else (args.tile_url if args.tile_url is not None else configured_tile_url())
    )
    checks.append(doctor_probes.check_tiles(template))
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


def webengine_probe_command() -> list[str]:
    """How to start ``sciceapp doctor --probe-webengine`` from this installation."""
    if getattr(sys, "frozen", False):
        # The bundle's command-line launcher sits beside whichever launcher is running.
        exe = Path(sys.executable)
        cli = exe.with_name("sciceapp" + exe.suffix)
        return [str(cli if cli.is_file() else exe), "doctor", "--probe-webengine"]
    return [sys.executable, "-m", "sciceapp", "doctor", "--probe-webengine"]


def probe_webengine(timeout_s: float) -> int:
    """Render a tiny page offscreen in QtWebEngine, run a line of JavaScript in it and print
    one JSON line with what happened. Runs in the child process the doctor starts."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Chromium's sandbox refuses root
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags.split():
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} --no-sandbox".strip()
    from PySide6 import QtWebEngineCore
    from PySide6.QtCore import QTimer, qVersion
    from PySide6.QtWebEngineWidgets import QWebEngineView
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["sciceapp-doctor"])
    chromium = getattr(QtWebEngineCore, "qWebEngineChromiumVersion", lambda: "?")()
    outcome: dict[str, object] = {"ok": False, "qt": qVersion(), "chromium": chromium}
    view = QWebEngineView()

    def finish(**result: object) -> None:
        if "done" not in outcome:
            outcome.update(result, done=True)
            app.quit()

    def script_result(value: object) -> None:
        ok = value == 42
        finish(ok=ok, error=None if ok else f"JavaScript returned {value!r}")

    def loaded(ok: bool) -> None:
        if not ok:
            finish(ok=False, error="the test page did not load")
            return
        view.page().runJavaScript("6 * 7", 0, script_result)

    view.loadFinished.connect(loaded)
    QTimer.singleShot(int(timeout_s * 1000), lambda: finish(ok=False, error="timed out"))
    view.resize(320, 200)
    view.show()
    view.setHtml(PROBE_PAGE)
    app.exec()
    outcome.pop("done", None)
    print(json.dumps(outcome), flush=True)
    import shiboken6

    shiboken6.delete(view)  # the page must go before the profile, or Chromium complains
    return 0 if outcome["ok"] else 1
