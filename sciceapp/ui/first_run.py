"""First run: there is no model yet. Explain what is needed and offer the ways to get one.

The app never falls back to a random-weight model on its own: a demo model is one explicit,
clearly labelled choice among the others.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout

from sciceapp.engine.labels import CLASSICAL, CLASSICAL_LABEL
from sciceapp.ui.export_process import REAL_MODEL
from sciceapp.ui.guard import catch_all

EXPLANATION = (
    "<h3>Welcome to sciceapp</h3>"
    "<p>To find where a photo was taken, sciceapp compares it with your own geotagged photos "
    "using a <b>SciceVPR</b> place-recognition model (an ONNX file). There is no model on "
    "this computer yet.</p>"
    "<ul>"
    "<li><b>Get a real model</b> (recommended): downloads the official DINOv2 backbone "
    "(about 350 MB, once) and builds the training-free baseline here, ready in a few minutes. "
    "No other software is needed.</li>"
    "<li><b>Import a model</b>: an ONNX file made with <code>sciceapp model export</code> "
    "(for example on another computer).</li>"
    "<li><b>Build from checkpoints</b>: export one here from SciceVPR or DINOv2 weight files "
    "(needs the <code>torch</code> extra).</li>"
    "<li><b>Use the classical model</b>: RootSIFT-VLAD, <b>classical, training-free</b>: no "
    "download and no network; it learns from the photos of each collection you make. Less "
    "accurate than a trained SciceVPR model, but its matches are real.</li>"
    "<li><b>Create a demo model</b>: a tiny network with <b>random weights</b>, to try the app "
    "out. It is marked “demo, not accurate” everywhere: its matches are not meaningful.</li>"
    "</ul>"
)


class FirstRunDialog(QDialog):
    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("A model is needed")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        text = QLabel(EXPLANATION)
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        self.text = text
        self.get_button = QPushButton("Get a real model (download about 350 MB)")
        self.get_button.setDefault(True)
        self.import_button = QPushButton("Import a model…")
        self.build_button = QPushButton("Build from checkpoints…")
        self.classical_button = QPushButton(f"Use the classical model ({CLASSICAL_LABEL})")
        self.demo_button = QPushButton("Create a demo model (random weights: demo, not accurate)")
        self.later_button = QPushButton("Later")
        buttons = QDialogButtonBox()
        for button in (
            self.get_button,
            self.import_button,
            self.build_button,
            self.classical_button,
            self.demo_button,
        ):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.later_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.get_button.clicked.connect(self._get)
        self.import_button.clicked.connect(self._import)
        self.build_button.clicked.connect(self._build)
        self.classical_button.clicked.connect(self._classical)
        self.demo_button.clicked.connect(self._demo)
        self.later_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)
        self.resize(620, 360)

    def _models(self) -> Any:
        from sciceapp.ui.model_dialog import ModelDialog

        self.accept()
        self.models_dialog = ModelDialog.show_for(self.window_)
        return self.models_dialog

    @catch_all
    def _get(self) -> None:
        self._models().get_real_model(REAL_MODEL)

    @catch_all
    def _import(self) -> None:
        self._models()._import()

    @catch_all
    def _build(self) -> None:
        self._models()

    @catch_all
    def _classical(self) -> None:
        """Needs nothing: new collections use the classical kind from now on."""
        self.accept()
        self.window_.settings.model_path = CLASSICAL
        self.window_.apply_settings(self.window_.settings)
        self.window_.statusBar().showMessage(
            f"New collections use {CLASSICAL_LABEL}. Add a folder of geotagged photos.", 10_000
        )

    @catch_all
    def _demo(self) -> None:
        self._models().builder.create_demo_model()
