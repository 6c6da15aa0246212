"""The "New collection" dialog: a name, the folders to index, the kind of search index, and
whether to store local features (what geometric verification of matches needs).

The index kinds are explained with their memory per photo and, for the compressed kinds, the
number of photos at which a new collection stops searching exactly and converts itself
(``sciceapp.engine.index.min_training_vectors`` for the model's descriptor size).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from sciceapp.ui import file_dialogs
from sciceapp.ui.guard import catch_all

# (kind, button text); the order is the order on screen.
INDEX_CHOICES: tuple[tuple[str, str], ...] = (
    ("auto", "Automatic (exact while it is the faster, then two-stage)"),
    ("flat", "Exact (best quality; slower as the collection grows)"),
    ("twostage", "Two-stage (100k photos and more; exact re-rank of a compressed shortlist)"),
    ("pca", "Compressed PCA"),
    ("ivfpq", "Compressed IVF-PQ (millions of photos; approximate)"),
)


LOCAL_FEATURES_TEXT = "Store local features (verified matches)"
LOCAL_FEATURES_HELP = (
    "Keeps up to 2000 SIFT keypoints of every photo (about 260 KB each) so that matches can be "
    "verified against the photos' geometry, which tells a true match from a look-alike. Off: "
    "a smaller collection whose matches are never verified (they can be added later with "
    "`sciceapp collection update --local-features on`)."
)


def _size_text(n_bytes: float) -> str:
    if n_bytes >= 1000:
        return f"{n_bytes / 1000:.0f} KB"
    return f"{n_bytes:.0f} bytes"


def index_kind_help(kind: str, descriptor_dim: int | None) -> str:
    """What choosing ``kind`` means, with numbers for the model's ``descriptor_dim`` (None: the
    model is unknown, so the numbers that depend on it are left out)."""
    from sciceapp.engine.defaults import AUTO_TWOSTAGE_FROM
    from sciceapp.engine.index import IndexParams, min_training_vectors
    from sciceapp.engine.index_params import code_bytes

    params = IndexParams()
    if kind == "auto":
        return (
            f"Searches every photo exactly up to {AUTO_TWOSTAGE_FROM:,} photos, where exact "
            "search becomes the slower one; from there it converts itself to the two-stage "
            "kind. The collection's details say which is in use and why."
        )
    if kind == "flat":
        if descriptor_dim is None:
            return "Searches every photo exactly. Memory grows with the model's descriptor size."
        per_photo = 4 * descriptor_dim
        return (
            f"Searches every photo exactly: {_size_text(per_photo)} per photo "
            f"(about {per_photo * 1e6 / 1e9:.0f} GB per million photos)."
        )
    if descriptor_dim is None:
        when = "Starts exact and converts itself once it has enough photos to train on."
        reduced = params.pca_dim
    else:
        needed = min_training_vectors(kind, descriptor_dim, params)
        when = f"Starts exact and converts itself once it has {needed} photos."
        reduced = params.effective_pca_dim(descriptor_dim)
    if kind == "twostage":
        return (
            f"Finds a shortlist of {params.shortlist} photos per query in a compressed index "
            f"(about {code_bytes(kind, descriptor_dim or params.pca_dim, params)} bytes per "
            "photo), then "
            "ranks it exactly with the stored descriptors: close to exact search, far faster "
            f"on big collections. {when}"
        )
    if kind == "pca":
        return (
            f"Reduces each descriptor to {reduced} numbers ({_size_text(4 * reduced)} per photo) "
            f"and searches those exactly; a small loss of quality. {when}"
        )
    return (
        f"Compresses each photo to about {params.pq_m} bytes and searches only part of the "
        "collection, so some true matches are missed (the recall against exact search is shown "
        f"after the conversion). {when}"
    )


NO_MODEL_TEXT = (
    "Choose a model first (Models opens now); what you typed here stays. Then press "
    "“Create and index” again."
)


class NewCollectionDialog(QDialog):
    """Emits ``chosen(name, folders, index_kind, local_features)`` when the user confirms;
    without a model (``has_model``) it stays open with what was typed and emits
    ``model_wanted`` instead, so the window can open Models over it."""

    chosen = Signal(str, list, str, bool)
    model_wanted = Signal()

    def __init__(
        self,
        parent: QWidget | None = None,
        folders: list[str] | None = None,
        taken_names: list[str] | None = None,
        descriptor_dim: int | None = None,
        has_model: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New collection")
        self.has_model = has_model
        self.taken = set(taken_names or [])
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. arezzo")
        self.folder_list = QListWidget()
        self.folder_list.setMaximumHeight(90)
        self.folder_list.setToolTip("Folders of geotagged photos (searched recursively)")
        add = QPushButton("Add folder…")
        self.remove_folder_button = QPushButton("Remove folder")
        add.clicked.connect(self._pick_folder)
        self.remove_folder_button.clicked.connect(self._remove_folder)
        folder_buttons = QHBoxLayout()
        folder_buttons.addWidget(add)
        folder_buttons.addWidget(self.remove_folder_button)
        folder_buttons.addStretch(1)

        self.kind_group = QButtonGroup(self)
        self.kind_buttons: dict[str, QRadioButton] = {}
        self.kind_help: dict[str, QLabel] = {}
        kinds = QVBoxLayout()
        for kind, text in INDEX_CHOICES:
            button = QRadioButton(text)
            explanation = QLabel(index_kind_help(kind, descriptor_dim))
            explanation.setWordWrap(True)
            explanation.setContentsMargins(22, 0, 0, 6)
            self.kind_group.addButton(button)
            self.kind_buttons[kind] = button
            self.kind_help[kind] = explanation
            kinds.addWidget(button)
            kinds.addWidget(explanation)
        self.kind_buttons["auto"].setChecked(True)
        self.local_features = QCheckBox(LOCAL_FEATURES_TEXT)
        self.local_features.setChecked(True)  # the engine's default: verification on
        self.local_features_help = QLabel(LOCAL_FEATURES_HELP)
        self.local_features_help.setWordWrap(True)
        self.local_features_help.setContentsMargins(22, 0, 0, 6)
        features = QVBoxLayout()
        features.addWidget(self.local_features)
        features.addWidget(self.local_features_help)

        self.problem = QLabel()
        self.problem.setStyleSheet("color:#b00020")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create and index")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Name:", self.name_edit)
        folders_box = QVBoxLayout()
        folders_box.addWidget(self.folder_list)
        folders_box.addLayout(folder_buttons)
        form.addRow("Folders:", folders_box)
        form.addRow("Index:", kinds)
        form.addRow("Local features:", features)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

        self.setMinimumWidth(560)
        self.name_edit.textChanged.connect(self._check)
        for folder in folders or []:
            self.add_folder(folder)
        self._check()

    # -- contents -------------------------------------------------------------------------------
    def folders(self) -> list[str]:
        return [self.folder_list.item(row).text() for row in range(self.folder_list.count())]

    def index_kind(self) -> str:
        return next(kind for kind, button in self.kind_buttons.items() if button.isChecked())

    def add_folder(self, folder: str) -> None:
        if folder and folder not in self.folders():
            self.folder_list.addItem(folder)
        if not self.name_edit.text().strip():
            self.name_edit.setText(Path(folder).name or "photos")
        self._check()

    @catch_all
    def _pick_folder(self, *_: object) -> None:
        folder = file_dialogs.existing_directory(self, "Folder of geotagged photos")
        if folder:
            self.add_folder(folder)

    @catch_all
    def _remove_folder(self, *_: object) -> None:
        for item in self.folder_list.selectedItems():
            self.folder_list.takeItem(self.folder_list.row(item))
        self._check()

    # -- confirming -----------------------------------------------------------------------------
    def problem_text(self) -> str:
        """Why the dialog cannot be confirmed yet ("" when it can)."""
        name = self.name_edit.text().strip()
        if not name:
            return "Give the collection a name."
        if name in self.taken:
            return f"A collection named “{name}” exists already; choose another name."
        if not self.folders():
            return "Add at least one folder of photos."
        return ""

    @catch_all
    def _check(self, *_: object) -> None:
        problem = self.problem_text()
        self.problem.setText(problem)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
        self.remove_folder_button.setEnabled(self.folder_list.count() > 0)

    @catch_all
    def _accept(self, *_: object) -> None:
        if self.problem_text():
            return
        if not self.has_model():
            self.problem.setText(NO_MODEL_TEXT)
            self.model_wanted.emit()
            return
        self.chosen.emit(
            self.name_edit.text().strip(),
            self.folders(),
            self.index_kind(),
            self.local_features.isChecked(),
        )
        self.accept()
