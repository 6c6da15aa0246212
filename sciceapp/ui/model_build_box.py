"""The Models dialog's "Build a model" box: the export form (network, checkpoint or backbone
file, precision, or a clearly labelled demo model with random weights), and the one model
job at a time that the dialog runs in a subprocess (``model export``, or ``model get`` for its
"Get a real model" button), with its progress, log and Cancel button."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QWidget,
)

from sciceapp.paths import models_dir
from sciceapp.ui import file_dialogs
from sciceapp.ui.export_process import DEMO_PRESET, ExportProcess, export_arguments
from sciceapp.ui.guard import catch_all
from sciceapp.ui.model_getting import DownloadClock
from sciceapp.ui.workers import show_progress

# Why each export precision, from benchmarks/RESULTS.md (the base model, batch 8 and 64).
PRECISION_ADVICE = {
    "fp32": "fp32: the network as trained",
    "fp16": "fp16: for GPUs (on an H100 1.7x the images/s of fp32, half the file)",
    "int8": "int8: for CPUs (2.75x PyTorch's images/s on 2 cores, cosine 0.99985 to fp32)",
}


def _file_row(edit: QLineEdit, title: str, pattern: str, parent: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(
        lambda: edit.setText(
            file_dialogs.open_file_name(parent, title, pattern, edit.text()) or edit.text()
        )
    )
    row.addWidget(button)
    return row


class ModelBuildBox(QGroupBox):
    """Emits ``running_changed`` when a job starts or ends and ``built`` with the file a job
    wrote."""

    running_changed = Signal(bool)
    built = Signal(str)

    def __init__(self, window: Any, parent: QWidget | None = None) -> None:
        super().__init__(
            "Build a model (runs `sciceapp model export`; needs the torch extra)", parent
        )
        self.window_ = window
        self.preset = QComboBox()
        self.checkpoint = QLineEdit()
        self.backbone = QLineEdit()
        self.precision = QComboBox()
        for precision, advice in PRECISION_ADVICE.items():
            self.precision.addItem(precision, precision)
            self.precision.setItemData(
                self.precision.count() - 1, advice, Qt.ItemDataRole.ToolTipRole
            )
        self.precision_chosen = False  # once the user picks one, the recommendation waits
        self.precision.activated.connect(lambda _index: setattr(self, "precision_chosen", True))
        self.export_button = QPushButton("Export model")
        self.export_button.clicked.connect(self._export_from_files)
        self.demo_button = QPushButton("Create demo model (random weights: demo, not accurate)")
        self.demo_button.clicked.connect(self.create_demo_model)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.hide()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.download_clock = DownloadClock()
        self.exporter = ExportProcess(self)
        self.exporter.progress.connect(self._on_progress)
        self.exporter.output.connect(self.log_view.appendPlainText)
        self.exporter.succeeded.connect(self._exported)
        self.exporter.failed.connect(self._export_failed)
        self.cancel_button.clicked.connect(self.exporter.cancel)

        form = QFormLayout(self)
        form.addRow("Network", self.preset)
        form.addRow(
            "SciceVPR checkpoint",
            _file_row(
                self.checkpoint,
                "SciceVPR checkpoint",
                "Checkpoints (*.pth *.pt *.ckpt *.safetensors);;All files (*)",
                self,
            ),
        )
        form.addRow(
            "DINOv2 backbone file",
            _file_row(self.backbone, "DINOv2 backbone", "Checkpoints (*.pth);;All files (*)", self),
        )
        form.addRow("Precision", self.precision)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.demo_button)
        buttons.addWidget(self.cancel_button)
        form.addRow(buttons)
        form.addRow(self.progress)
        form.addRow(self.log_view)

    @catch_all
    def recommend_precision(self, precision: str) -> None:
        """Preselect the precision that runs fastest here, unless the user already chose."""
        index = self.precision.findData(precision)
        self.precision.setItemText(index, f"{precision} (recommended here)")
        if not self.precision_chosen:
            self.precision.setCurrentIndex(index)

    def chosen_precision(self) -> str:
        return self.precision.currentData()

    def set_presets(self, manifests: list[Any]) -> None:
        self.preset.clear()
        for manifest in manifests:
            self.preset.addItem(f"{manifest.name}: {manifest.label}", manifest.preset)

    @catch_all
    def _export_from_files(self) -> None:
        preset = self.preset.currentData() or self.preset.currentText()
        if not self.checkpoint.text() and not self.backbone.text():
            self.window_.show_error(
                "Choose a SciceVPR checkpoint or a DINOv2 backbone file; for a model without "
                "trained weights use “Create demo model”."
            )
            return
        precision = self.chosen_precision()
        self.start_export(
            preset,
            f"{preset}-{precision}.onnx",
            checkpoint=self.checkpoint.text() or None,
            backbone_weights=self.backbone.text() or None,
            precision=precision,
        )

    @catch_all
    def create_demo_model(self) -> None:
        """An explicit choice: a tiny network with random weights, labelled as a demo everywhere."""
        self.start_export(DEMO_PRESET, f"{DEMO_PRESET}-random-demo.onnx", random_init=True)

    def start_export(self, preset: str, file_name: str, **options: Any) -> None:
        output = models_dir(self.window_.data_dir) / file_name
        self.run(export_arguments(self.window_.data_dir, output, preset=preset, **options), output)

    def run(self, arguments: list[str], output: Any) -> None:
        """Start the model job ``arguments`` (``-m sciceapp model ... --json``) unless one runs."""
        if self.exporter.is_running():
            self.window_.show_error("An export is already running.")
            return
        self.log_view.clear()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.download_clock.reset()
        self._set_running(True)
        self.exporter.start(arguments, output)

    def _set_running(self, running: bool) -> None:
        self.export_button.setEnabled(not running)
        self.demo_button.setEnabled(not running)
        self.running_changed.emit(running)
        self.cancel_button.setEnabled(running)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if self.download_clock.is_bytes(message):
            # bytes may exceed a progress bar's int range: show per mille
            value, text = self.download_clock.update(done, total, message)
            self.progress.setRange(0, 1000 if total > 0 else 0)
            self.progress.setValue(value)
            self.progress.setFormat(text)
            return
        show_progress(self.progress, done, total, message)

    @catch_all
    def _exported(self, path: str) -> None:
        self._set_running(False)
        self.progress.hide()
        self.log_view.appendPlainText(f"Done: {path}")
        self.built.emit(path)

    @catch_all
    def _export_failed(self, message: str) -> None:
        self._set_running(False)
        self.progress.hide()
        self.log_view.appendPlainText(message)
        self.window_.show_error(html.unescape(message))
