"""The doctor's QtWebEngine check. The probe runs in a child process (``sciceapp doctor
--probe-webengine``) so that a QtWebEngine that crashes or hangs cannot take the report with
it: ``check_webengine`` starts it and reads the one JSON line it prints, within a bounded
time; ``probe_webengine`` is what the child runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sciceapp.commands.doctor.report import OK, PROBLEM, Check

WEBENGINE_TIMEOUT_S = 60.0
PROBE_PAGE = "<!doctype html><html><body><p id='m'>sciceapp</p></body></html>"


def check_webengine(
    command: list[str], timeout_s: float = WEBENGINE_TIMEOUT_S, env: dict[str, str] | None = None
) -> Check:
    """Run the QtWebEngine probe ``command`` (it loads a tiny page offscreen and prints one
    JSON line with ``ok``) and report what happened, within ``timeout_s``."""
    advice = (
        "The map view needs QtWebEngine: reinstall PySide6 (or the packaged app); on Linux "
        "install the system libraries it names (libnss3, libxkbfile1, libxcomposite1, ...)."
    )
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return Check(
            "QtWebEngine",
            PROBLEM,
            f"did not load a page within {timeout_s:.0f} s",
            advice,
            {"command": command},
        )
    except OSError as exc:
        return Check("QtWebEngine", PROBLEM, f"probe could not start: {exc}", advice)
    report: dict[str, Any] = {}
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            try:
                report = json.loads(line)
            except ValueError:
                continue
            break
    details = {"returncode": result.returncode, **report}
    if result.returncode == 0 and report.get("ok"):
        versions = f"Chromium {report.get('chromium', '?')}, Qt {report.get('qt', '?')}"
        return Check("QtWebEngine", OK, f"starts and renders a page ({versions})", details=details)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    reason = report.get("error") or (lines[-1] if lines else f"exit status {result.returncode}")
    details["stderr_tail"] = lines[-20:]
    return Check("QtWebEngine", PROBLEM, f"does not start: {reason}", advice, details)


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
