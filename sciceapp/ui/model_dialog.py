"""Model management: the models on this computer and the known ones, the provider in use,
importing an ONNX file, and exporting one (from checkpoints, or a clearly labelled demo
model with random weights) in a subprocess."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sciceapp.paths import models_dir
from sciceapp.ui import file_dialogs, jobs
from sciceapp.ui.cpu_paths_panel import CpuPathsPanel
from sciceapp.ui.dialogs import close_buttons, fit_to_content, open_dialog
from sciceapp.ui.export_process import (
    DEMO_PRESET,
    REAL_MODEL,
    ExportProcess,
    export_arguments,
    get_arguments,
)
from sciceapp.ui.guard import catch_all
from sciceapp.ui.model_getting import DownloadClock, get_choice_text
from sciceapp.ui.workers import Worker, show_progress

log = logging.getLogger("sciceapp.ui")

DEMO_COLOR = QColor("#b00020")
MIN_SIZE = QSize(720, 0)  # room for the export form's file fields
BUILTIN_TEXT = "built in, no file: learns its vocabulary from each new collection's photos"


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


class ModelDialog(QDialog):
    models_changed = Signal()

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Models")
        self.local_list = QListWidget()
        self.use_button = QPushButton("Use for new collections")
        self.use_button.clicked.connect(self._use_selected)
        self.import_button = QPushButton("Import ONNX file…")
        self.import_button.clicked.connect(self._import)
        self.get_choice = QComboBox()
        self.get_button = QPushButton("Get a real model (download and build; no PyTorch needed)")
        self.get_button.clicked.connect(lambda: self.get_real_model())
        self.get_estimate = QLabel()
        self.get_estimate.setWordWrap(True)
        self.get_choice.currentIndexChanged.connect(self._show_estimate)
        self.download_clock = DownloadClock()
        self.known_list = QListWidget()
        self.known_list.setWordWrap(True)
        self.provider_label = QLabel("Checking ONNX Runtime providers…")
        self.provider_label.setWordWrap(True)
        self.provider_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

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
        self.exporter = ExportProcess(self)
        self.exporter.progress.connect(self._on_progress)
        self.exporter.output.connect(self.log_view.appendPlainText)
        self.exporter.succeeded.connect(self._exported)
        self.exporter.failed.connect(self._export_failed)
        self.cancel_button.clicked.connect(self.exporter.cancel)

        get_box = QGroupBox("Get a real model (training-free DINOv2 baseline)")
        get_layout = QVBoxLayout(get_box)
        get_row = QHBoxLayout()
        get_row.addWidget(self.get_button)
        get_row.addWidget(self.get_choice, 1)
        get_layout.addLayout(get_row)
        get_layout.addWidget(self.get_estimate)
        local_box = QGroupBox("Models on this computer")
        local_layout = QVBoxLayout(local_box)
        local_layout.addWidget(self.local_list)
        row = QHBoxLayout()
        row.addWidget(self.use_button)
        row.addWidget(self.import_button)
        row.addStretch(1)
        local_layout.addLayout(row)
        self.cpu_paths = CpuPathsPanel(window)
        local_layout.addWidget(self.cpu_paths)
        self.local_list.currentItemChanged.connect(self._selected_changed)
        known_box = QGroupBox("Known models")
        QVBoxLayout(known_box).addWidget(self.known_list)
        export_box = QGroupBox(
            "Build a model (runs `sciceapp model export`; needs the torch extra)"
        )
        form = QFormLayout(export_box)
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
        layout = QVBoxLayout(self)
        layout.addWidget(get_box)
        layout.addWidget(QLabel("<b>Provider in use</b>"))
        layout.addWidget(self.provider_label)
        layout.addWidget(local_box, 2)
        layout.addWidget(known_box, 1)
        layout.addWidget(export_box, 3)
        self.close_buttons = close_buttons(self, layout)
        fit_to_content(self, MIN_SIZE)
        self.reload()
        provider = Worker(jobs.provider_text, name="provider report")
        provider.signals.result.connect(self.provider_label.setText)
        provider.signals.errored.connect(self.provider_label.setText)
        window.pool.start(provider)
        advice = Worker(jobs.recommended_precision, window.settings.provider, name="precision")
        advice.signals.result.connect(self._recommend_precision)
        window.pool.start(advice)

    @catch_all
    def _recommend_precision(self, precision: str) -> None:
        """Preselect the precision that runs fastest here, unless the user already chose."""
        index = self.precision.findData(precision)
        self.precision.setItemText(index, f"{precision} (recommended here)")
        if not self.precision_chosen:
            self.precision.setCurrentIndex(index)

    def chosen_precision(self) -> str:
        return self.precision.currentData()

    @classmethod
    def show_for(cls, window: Any) -> ModelDialog:
        return open_dialog(cls, window)

    # -- listing -------------------------------------------------------------------------------
    def reload(self) -> Worker:
        worker = Worker(jobs.list_models, self.window_.data_dir, name="list models")
        worker.signals.result.connect(self._listed)
        worker.signals.errored.connect(self.window_.show_error)
        return self.window_.pool.start(worker)

    @catch_all
    def _listed(self, found: tuple[list[Any], list[Any]]) -> None:
        manifests, local = found
        self.local_list.clear()
        current = self.window_.settings.model_path
        for model in local:
            text = model.display_name
            if str(model.path) == current:
                text = f"✔ {text}  (used for new collections)"
            where = BUILTIN_TEXT if model.builtin else model.path
            item = QListWidgetItem(f"{text}\n    {where}")
            item.setData(Qt.ItemDataRole.UserRole, str(model.path))
            if model.info is None or model.info.random_init:
                item.setForeground(DEMO_COLOR)
            if model.info is None:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self.local_list.addItem(item)
        if not any(not model.builtin for model in local):
            self.local_list.insertItem(0, "No model yet: import an ONNX file or build one below.")
        self.known_list.clear()
        self.preset.clear()
        chosen = self.get_choice.currentData() or REAL_MODEL
        self.get_choice.clear()
        for manifest in (m for m in manifests if m.training_free and m.backbone):
            self.get_choice.addItem(get_choice_text(manifest), manifest.name)
            self.get_choice.setItemData(
                self.get_choice.count() - 1, manifest, Qt.ItemDataRole.UserRole + 1
            )
        self.get_choice.setCurrentIndex(max(0, self.get_choice.findData(chosen)))
        for manifest in manifests:
            self.known_list.addItem(
                f"{manifest.label}: {manifest.description} (weights: {manifest.weights})"
            )
            self.preset.addItem(f"{manifest.name}: {manifest.label}", manifest.preset)
        self.models_changed.emit()

    @catch_all
    def _selected_changed(self, item: QListWidgetItem | None, _previous: object) -> None:
        path = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        self.cpu_paths.show_model(path)

    @catch_all
    def _use_selected(self) -> None:
        item = self.local_list.currentItem()
        path = item.data(Qt.ItemDataRole.UserRole) if item else None
        if not path:
            self.window_.show_error("Select a usable model in the list first.")
            return
        self.window_.settings.model_path = path
        self.window_.apply_settings(self.window_.settings)
        self.reload()

    @catch_all
    def _import(self) -> None:
        path = file_dialogs.open_file_name(self, "Import an ONNX model", "ONNX models (*.onnx)")
        if path:
            self.import_file(path)

    def import_file(self, path: str) -> Worker:
        worker = Worker(jobs.import_model_file, self.window_.data_dir, path, name="import model")
        worker.signals.result.connect(lambda local: self._adopt(str(local.path)))
        worker.signals.errored.connect(self.window_.show_error)
        return self.window_.pool.start(worker)

    # -- exporting ---------------------------------------------------------------------------------
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

    @catch_all
    def get_real_model(self, name: str | None = None) -> None:
        """Download the official backbone and build the training-free model in a subprocess
        (``sciceapp model get``, torch-free), at the precision that runs fastest here."""
        name = name or self.get_choice.currentData() or REAL_MODEL
        self._run(get_arguments(self.window_.data_dir, name), models_dir(self.window_.data_dir))

    @catch_all
    def _show_estimate(self, _index: int = 0) -> None:
        manifest = self.get_choice.currentData(Qt.ItemDataRole.UserRole + 1)
        self.get_estimate.setText(self.download_clock.estimate(manifest) if manifest else "")

    def start_export(self, preset: str, file_name: str, **options: Any) -> None:
        output = models_dir(self.window_.data_dir) / file_name
        self._run(export_arguments(self.window_.data_dir, output, preset=preset, **options), output)

    def _run(self, arguments: list[str], output: Any) -> None:
        if self.exporter.is_running():
            self.window_.show_error("An export is already running.")
            return
        self.log_view.clear()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.download_clock.reset()
        self._set_exporting(True)
        self.exporter.start(arguments, output)

    def _set_exporting(self, running: bool) -> None:
        self.export_button.setEnabled(not running)
        self.demo_button.setEnabled(not running)
        self.get_button.setEnabled(not running)
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
        self._set_exporting(False)
        self.progress.hide()
        self.log_view.appendPlainText(f"Done: {path}")
        self._adopt(path)

    @catch_all
    def _export_failed(self, message: str) -> None:
        self._set_exporting(False)
        self.progress.hide()
        self.log_view.appendPlainText(message)
        self.window_.show_error(html.unescape(message))

    def _adopt(self, path: str) -> None:
        """A model just imported or built becomes the one new collections use."""
        self.window_.settings.model_path = str(Path(path))
        self.window_.apply_settings(self.window_.settings)
        self.window_.statusBar().showMessage(f"Model ready: {Path(path).name}", 8000)
        self.reload()

    def reject(self) -> None:
        self.exporter.cancel()
        super().reject()
