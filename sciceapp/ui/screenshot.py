"""``sciceapp gui --screenshot OUT.png``: open the window, run the queries, wait for the map,
save a picture of the whole window, quit with 0 (or 1 when anything failed)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from sciceapp.ui.guard import catch_all

log = logging.getLogger("sciceapp.ui")

POLL_MS = 100
TIMEOUT_S = 180.0
VIEW_SCRIPT = "JSON.stringify(window.sciceapp.view())"
VIEW_WAIT_MS = 10_000


def view_text(view: dict) -> str:
    """``Map view: zoom 15, latitude 43.46 to 43.47, longitude 11.87 to 11.89``."""
    (south, west), (north, east) = view["bounds"]
    return (
        f"Map view: zoom {view['zoom']}, latitude {south:.5f} to {north:.5f}, "
        f"longitude {west:.5f} to {east:.5f}"
    )


class ScreenshotRun(QObject):
    """Drives the window through: collections loaded -> queries located -> map rendered -> grab."""

    def __init__(
        self,
        window: Any,
        collection: str | None,
        queries: list[str],
        output: Path | None,
        *,
        quit_when_done: bool = True,
    ) -> None:
        super().__init__(window)
        self.quit_when_done = quit_when_done
        self.window = window
        self.collection = collection
        self.queries = queries
        self.output = output
        self.failures: list[str] = []
        self.stage = "loading"
        self.deadline = time.monotonic() + TIMEOUT_S
        self.exit_code: int | None = None
        self.quiet_polls = 0
        self.map_view_state: dict | None = None  # the map's zoom and bounds when grabbed
        window.error_shown.connect(self._on_error)
        window.indexing.state_loaded.connect(self._on_loaded)
        window.locating.queries_finished.connect(self._on_located)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    def _on_error(self, message: str) -> None:
        """Anything shown to the user as an error fails the run; stop waiting for that stage."""
        self.failures.append(message)
        if self.stage in ("loading", "locating"):
            self.stage = "settling"

    @catch_all
    def _on_loaded(self, state: Any) -> None:
        if self.stage != "loading":
            return
        names = [s.name for s in state.summaries]
        if self.collection:
            if self.collection not in names:
                self.failures.append(
                    f"There is no collection named {self.collection!r} (have: {', '.join(names) or 'none'})."
                )
                self.stage = "settling"
                return
            self.window.collections.select(self.collection)
        if self.queries and self.window.current_collection():
            self.stage = "locating"
            if self.window.add_queries(self.queries) is None:
                self.stage = "settling"
        else:
            self.stage = "settling"

    @catch_all
    def _on_located(self, results: list) -> None:
        for result in results:
            if result.error:
                self.failures.append(f"{result.query}: {result.error}")
        self.stage = "settling"

    def _settled(self) -> bool:
        """No job running, and the newest map drawn (or no map to draw) for two polls in a
        row: the page has painted, and Qt has shown that frame."""
        window = self.window
        quiet = not window.pool.active and not window.locating.render_pending
        self.quiet_polls = self.quiet_polls + 1 if quiet else 0
        return self.quiet_polls >= 2

    @catch_all
    def _poll(self) -> None:
        if self.stage == "settling" and self._settled():
            self._finish()
        elif time.monotonic() > self.deadline:
            self.failures.append(f"Gave up waiting after {TIMEOUT_S:.0f} s (stage: {self.stage}).")
            self._finish()

    def _finish(self) -> None:
        self.timer.stop()
        if not self.quit_when_done:  # an interactive start: errors were shown already
            return
        if self.window.current_collection() and not self.window.map_view.is_ready:
            self.failures.append("The map did not render.")
        if self.window.map_view.is_ready:  # say what the picture's map shows, then take it
            self.window.map_view.run_js(VIEW_SCRIPT, self._grab)
            QTimer.singleShot(VIEW_WAIT_MS, lambda: self._grab(None))  # a page that never answers
        else:
            self._grab(None)

    @catch_all
    def _grab(self, view_json: Any) -> None:
        if self.exit_code is not None:  # taken already
            return
        self.map_view_state = json.loads(view_json) if isinstance(view_json, str) else None
        if self.map_view_state is not None:
            print(view_text(self.map_view_state), flush=True)
        if self.output is not None:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            if not self.window.grab().save(str(self.output)):
                self.failures.append(f"Could not write {self.output}.")
        for failure in self.failures:
            log.error("%s", failure)
        self.exit_code = 1 if self.failures else 0
        self.window.close()
        QApplication.instance().exit(self.exit_code)
