"""Model management: the models on this computer and the known ones, the provider in use,
importing an ONNX file, getting a real model, and building one (``model_build_box``: from
checkpoints, or a clearly labelled demo model with random weights) in a subprocess."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from sciceapp.paths import models_dir
from sciceapp.ui import file_dialogs, jobs
from sciceapp.ui.cpu_paths_panel import CpuPathsPanel
from sciceapp.ui.dialogs import close_buttons, fit_to_content, open_dialog
from sciceapp.ui.export_process import REAL_MODEL, get_arguments
from sciceapp.ui.guard import catch_all
from sciceapp.ui.model_build_box import ModelBuildBox
from sciceapp.ui.model_getting import DownloadClock, get_choice_text
from sciceapp.ui.workers import Worker

log = logging.getLogger("sciceapp.ui")

DEMO_COLOR = QColor("#b00020")
MIN_SIZE = QSize(720, 0)  # room for the export form's file fields
BUILTIN_TEXT = "built in, no file: learns its vocabulary from each new collection's photos"


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
        self.known_list = QListWidget()
        self.known_list.setWordWrap(True)
        self.provider_label = QLabel("Checking ONNX Runtime providers…")
        self.provider_label.setWordWrap(True)
        self.provider_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.builder = ModelBuildBox(window)
        self.builder.running_changed.connect(
            lambda running: self.get_button.setEnabled(not running)
        )
        self.builder.built.connect(self._built)

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
        layout = QVBoxLayout(self)
        layout.addWidget(get_box)
        layout.addWidget(QLabel("<b>Provider in use</b>"))
        layout.addWidget(self.provider_label)
        layout.addWidget(local_box, 2)
        layout.addWidget(known_box, 1)
        layout.addWidget(self.builder, 3)
        self.close_buttons = close_buttons(self, layout)
        fit_to_content(self, MIN_SIZE)
        self.reload()
        provider = Worker(jobs.provider_text, name="provider report")
        provider.signals.result.connect(self.provider_label.setText)
        provider.signals.errored.connect(self.provider_label.setText)
        window.pool.start(provider)
        advice = Worker(jobs.recommended_precision, window.settings.provider, name="precision")
        advice.signals.result.connect(self.builder.recommend_precision)
        window.pool.start(advice)

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
        self.builder.set_presets(manifests)
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

    # -- getting a real model -----------------------------------------------------------------------
    @catch_all
    def get_real_model(self, name: str | None = None) -> None:
        """Download the official backbone and build the training-free model in a subprocess
        (``sciceapp model get``, torch-free), at the precision that runs fastest here."""
        name = name or self.get_choice.currentData() or REAL_MODEL
        self.builder.run(
            get_arguments(self.window_.data_dir, name), models_dir(self.window_.data_dir)
        )

    @catch_all
    def _show_estimate(self, _index: int = 0) -> None:
        manifest = self.get_choice.currentData(Qt.ItemDataRole.UserRole + 1)
        self.get_estimate.setText(DownloadClock.estimate(manifest) if manifest else "")

    @catch_all
    def _built(self, path: str) -> None:
        self._adopt(path)

    def _adopt(self, path: str) -> None:
        """A model just imported or built becomes the one new collections use."""
        self.window_.settings.model_path = str(Path(path))
        self.window_.apply_settings(self.window_.settings)
        self.window_.statusBar().showMessage(f"Model ready: {Path(path).name}", 8000)
        self.reload()

    def reject(self) -> None:
        self.builder.exporter.cancel()
        super().reject()
