"""The main window's collection commands: creating one (the dialog, or from dropped folders),
adding folders, updating, removing (after asking), listing skipped photos, and the first-run
check once the collections are loaded. Indexing itself runs in workers
(``indexing.IndexingController``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from sciceapp.engine.labels import model_exists
from sciceapp.ui import file_dialogs, jobs
from sciceapp.ui.dialogs import open_dialog
from sciceapp.ui.guard import catch_all

if TYPE_CHECKING:
    from sciceapp.ui.collections_panel import CollectionsPanel
    from sciceapp.ui.indexing import IndexingController
    from sciceapp.ui.locating import QueryController
    from sciceapp.ui.settings import AppSettings


class CollectionCommands:
    """``MainWindow``'s collection commands (module docstring); the window gives them its
    widgets, controllers and ``show_error`` / ``open_models`` / ``show_first_run``."""

    collections: CollectionsPanel
    indexing: IndexingController
    locating: QueryController
    settings: AppSettings
    first_run_check: bool
    first_run_dialog: Any

    def current_collection(self) -> str | None:
        return self.collections.current_name()

    @catch_all
    def _on_state_loaded(self, state: jobs.CollectionsState) -> None:
        usable = [m for m in state.models if m.info is not None and not m.builtin]
        if self.settings.model_path and not model_exists(self.settings.model_path):
            self.settings.model_path = ""
        if not self.settings.model_path and len(usable) == 1 and not usable[0].info.random_init:
            self.settings.model_path = str(usable[0].path)  # the only real model: nothing to choose
        if (
            self.first_run_check
            and not state.summaries
            and not usable
            and self.first_run_dialog is None
        ):
            self.show_first_run()
        self.first_run_check = False

    @catch_all
    def _on_collection_changed(self, name: str) -> None:
        self.settings.last_collection = name
        if self.locating.map_collection != name:
            self.locating.render_map(self.locating.current_result())

    def new_collection(self, folders: list[str] | None = None) -> Any:
        """The New collection dialog (name, folders, index kind); confirming starts indexing.
        Without a model it stays open, keeping what was typed, while Models opens over it."""
        from sciceapp.ui.new_collection_dialog import NewCollectionDialog

        dim = self.indexing.descriptor_dim(self.settings.model_path)
        has_model = lambda: bool(self.settings.model_path)  # noqa: E731
        names = self.indexing.names()
        dialog = open_dialog(NewCollectionDialog, self, folders, names, dim, has_model)
        dialog.chosen.connect(catch_all(self.create_collection))
        dialog.model_wanted.connect(catch_all(self.open_models))
        return dialog

    @catch_all
    def create_from_dropped(self, folders: list[str]) -> Any:
        """Folders dropped on the collections panel: a new collection named after the first."""
        base = Path(folders[0]).name or "photos"
        taken = set(self.indexing.names())
        name = next(n for n in (base, *(f"{base} {i}" for i in range(2, 10_000))) if n not in taken)
        return self.create_collection(name, folders)

    def create_collection(
        self,
        name: str,
        folders: list[str],
        index_kind: str = "auto",
        local_features: bool = True,
    ) -> Any:
        """Index ``folders`` into a new collection bound to the chosen model (in a worker)."""
        if not self.settings.model_path:
            self.show_error("Choose a model first: open Models (Ctrl+M) to import or build one.")
            self.open_models()
            return None
        return self.indexing.create(
            name, folders, self.settings.model_path, index_kind, local_features
        )

    def add_folders(self) -> None:
        name = self.current_collection()
        if name is None:
            self.new_collection()
            return
        folders = self._pick_folders(f"Folders to add to “{name}”")
        if folders:
            self.indexing.add(name, folders)

    def update_collection(self) -> None:
        name = self.current_collection()
        if name:
            self.indexing.update(name)

    def remove_collection(self, name: str) -> QMessageBox:
        """Ask (No is the default) and say what is lost; Yes removes it in a worker."""
        summary = self.collections._summaries.get(name)
        count = f"{summary.indexed:,} photos" if summary is not None else "its photos"
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Remove collection",
            f"Remove the collection “{name}”?\n\nIts index and the descriptions of {count} are "
            "deleted; using it again means describing every photo again, which can take long. "
            "The photos themselves stay where they are, untouched.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setEscapeButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(_result: int) -> None:
            if box.standardButton(box.clickedButton()) == QMessageBox.StandardButton.Yes:
                self.indexing.remove(name)

        box.finished.connect(catch_all(answered))
        box.open()
        return box

    def show_skipped(self, name: str) -> None:
        from sciceapp.ui.skipped_dialog import SkippedDialog

        SkippedDialog.show_for(self, name)

    def _pick_folders(self, title: str) -> list[str]:
        folder = file_dialogs.existing_directory(self, title)
        return [folder] if folder else []
