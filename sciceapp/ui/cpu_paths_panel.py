"""The Models dialog's "on this CPU" box: how the selected model runs here, measured.

Shows every candidate's measured images/s (or why it is left out), lets the user measure
again on the photos of the collections built with the model, and choose a path by hand
(``auto``: the fastest measured). All work runs in workers; nothing here blocks the window.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from sciceapp.ui import jobs
from sciceapp.ui.guard import catch_all
from sciceapp.ui.progress_text import ProgressText
from sciceapp.ui.workers import Worker, show_progress

AUTO = "auto (fastest measured)"


class CpuPathsPanel(QGroupBox):
    def __init__(self, window: Any) -> None:
        super().__init__("On this CPU (measured)")
        self.window_ = window
        self.model_path: str | None = None
        self.text = QLabel("Select a model to see how it runs on this CPU.")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)  # file names and reasons, never HTML
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choice = QComboBox()
        self.choice.setEnabled(False)
        self.choice.activated.connect(self._chosen)
        self.measure_button = QPushButton("Measure again")
        self.measure_button.setEnabled(False)
        self.measure_button.clicked.connect(self.measure)
        self.progress = QProgressBar()
        self.progress_text = ProgressText("")  # calibration steps of several kinds
        self.progress.hide()
        row = QHBoxLayout()
        row.addWidget(QLabel("Run with"))
        row.addWidget(self.choice, 1)
        row.addWidget(self.measure_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addLayout(row)
        layout.addWidget(self.progress)

    def show_model(self, model_path: str | None) -> Worker | None:
        self.model_path = model_path
        self.measure_button.setEnabled(model_path is not None)
        if model_path is None:
            return None
        return self._start(jobs.cpu_paths, self.window_.data_dir, model_path)

    def measure(self) -> Worker | None:
        if self.model_path is None:
            return None
        self.measure_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress_text.reset()
        self.progress.show()
        return self._start(jobs.tune_model, self.window_.data_dir, self.model_path)

    @catch_all
    def _chosen(self, index: int) -> None:
        if self.model_path is None:
            return
        name = self.choice.itemData(index)
        self._start(jobs.set_cpu_path, self.window_.data_dir, self.model_path, name)

    def _start(self, fn: Any, *args: Any) -> Worker:
        worker = Worker(fn, *args, name="cpu paths")
        worker.signals.progress.connect(self._on_progress)
        worker.signals.result.connect(self._shown)
        worker.signals.errored.connect(self._failed)
        worker.signals.finished.connect(self._finished)
        return self.window_.pool.start(worker)

    @catch_all
    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.progress, done, total, message, self.progress_text)

    @catch_all
    def _shown(self, paths: jobs.CpuPaths) -> None:
        self.text.setText("\n".join(paths.lines))
        self.choice.clear()
        self.choice.addItem(AUTO, None)
        for name in paths.usable:
            self.choice.addItem(name, name)
        if paths.override:
            self.choice.setCurrentIndex(self.choice.findData(paths.override))
        self.choice.setEnabled(bool(paths.usable))

    @catch_all
    def _failed(self, message: str) -> None:
        self.text.setText(message)

    @catch_all
    def _finished(self) -> None:
        self.progress.hide()
        self.measure_button.setEnabled(self.model_path is not None)
