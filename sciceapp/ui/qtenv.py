"""Prepare the process environment for Qt and QtWebEngine before PySide6 is first imported.

Both settings are read once, when Qt starts, so the launcher calls
``prepare_qt_environment`` before anything imports PySide6.
"""

from __future__ import annotations

import os
import sys

NO_SANDBOX_FLAG = "--no-sandbox"


def _has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def prepare_qt_environment(*, offscreen: bool = False) -> None:
    """Choose the offscreen platform when asked or when there is no display, and switch off
    Chromium's sandbox when running as root.

    Chromium (inside QtWebEngine) refuses to start its sandbox for the root user and the map
    view would stay blank; the sandbox protects against hostile web content, and our view
    only ever shows the app's own local map files (see ``mappage.MapPage``), so for root we
    turn it off. Other users keep it.
    """
    if (offscreen or not _has_display()) and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if NO_SANDBOX_FLAG not in flags.split():
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} {NO_SANDBOX_FLAG}".strip()
