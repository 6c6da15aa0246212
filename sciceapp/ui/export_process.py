"""Model export in a subprocess: ``python -m sciceapp model export ... --json``.

The window never imports torch; building a model runs in its own process whose JSON-lines
output (``progress`` / ``done`` / ``error`` events) drives a progress bar. Cancel kills it.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from sciceapp.ui.guard import catch_all

log = logging.getLogger("sciceapp.ui")

DEMO_PRESET = "tiny"
REAL_MODEL = "dinov2-gem-b"  # the first-run dialog's first choice
KILL_AFTER_MS = 10_000


def export_arguments(
    data_dir: Path,
    output: Path,
    *,
    preset: str,
    checkpoint: str | None = None,
    backbone_weights: str | None = None,
    random_init: bool = False,
    precision: str = "fp32",
) -> list[str]:
    """The command line after the Python executable."""
    args = ["-m", "sciceapp", "--data-dir", str(data_dir), "model", "export", "--preset", preset]
    if checkpoint:
        args += ["--checkpoint", checkpoint]
    if backbone_weights:
        args += ["--backbone-weights", backbone_weights]
    if random_init:
        args.append("--random-init")
    return [*args, "--precision", precision, "--output", str(output), "--json"]


def get_arguments(data_dir: Path, name: str, *, precision: str = "auto") -> list[str]:
    """``model get``: download and build a real model (torch-free, also in the desktop app)."""
    args = ["-m", "sciceapp", "--data-dir", str(data_dir), "model", "get", name]
    return [*args, "--precision", precision, "--json"]


class ExportProcess(QObject):
    """Runs one export; emits ``progress``, then exactly one of ``succeeded`` or ``failed``."""

    progress = Signal(int, int, str)
    output = Signal(str)  # every line, for the log pane
    succeeded = Signal(str)  # the ONNX file
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)
        self._buffer = b""
        self._outcome: tuple[str, str] | None = None
        self._cancelled = False
        self.output_path: Path | None = None

    def start(self, arguments: list[str], output_path: Path) -> None:
        self.output_path = output_path
        self._outcome = None
        self._cancelled = False
        self.output.emit("$ python " + " ".join(arguments))
        self.process.start(sys.executable, arguments)

    def is_running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """SIGTERM first: the export then removes its temporary files; kill if it lingers."""
        if self.is_running():
            self._cancelled = True
            self.process.terminate()
            QTimer.singleShot(KILL_AFTER_MS, self._kill_if_running)

    def stop_and_wait(self) -> None:
        """Cancel and block until the process has gone (the window is closing)."""
        if self.is_running():
            self.cancel()
            if not self.process.waitForFinished(KILL_AFTER_MS):
                self.process.kill()
                self.process.waitForFinished(KILL_AFTER_MS)

    def _kill_if_running(self) -> None:
        if self.is_running():
            log.warning("The export did not stop after SIGTERM; killing it")
            self.process.kill()

    @catch_all
    def _read_stdout(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            self._handle_line(raw.decode("utf-8", "replace").strip())

    def _handle_line(self, line: str) -> None:
        if not line:
            return
        try:
            event = json.loads(line)
        except ValueError:
            self.output.emit(line)
            return
        kind = event.get("event")
        if kind == "progress":
            total = event.get("total")
            self.progress.emit(
                int(event.get("done") or 0),
                -1 if total is None else int(total),
                str(event.get("message", "")),
            )
            message = str(event.get("message", ""))
            if not message.endswith("(bytes)"):  # byte counts go to the bar, not the log
                self.output.emit(message)
        elif kind == "done":
            self._outcome = (
                "done",
                str(event.get("output") or event.get("path") or self.output_path),
            )
        elif kind == "error":
            self._outcome = ("error", str(event.get("message", "the export failed")))

    @catch_all
    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                self.output.emit(line)

    @catch_all
    def _finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        if self._cancelled:
            self.failed.emit("Export cancelled.")
        elif self._outcome and self._outcome[0] == "done" and exit_code == 0:
            self.succeeded.emit(self._outcome[1])
        elif self._outcome and self._outcome[0] == "error":
            self.failed.emit(self._outcome[1])
        else:
            self.failed.emit(
                f"The export process stopped with status {exit_code}; see its output above."
            )

    @catch_all
    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.failed.emit(f"Could not start {sys.executable} to export the model.")
