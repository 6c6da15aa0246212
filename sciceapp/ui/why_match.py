""" "Why this match?": the query and a matched photo side by side, with the inlier
correspondences of their geometric verification drawn between them.

The photos are decoded, described and verified in a worker (``engine.match_explanation``);
the dialog shows its progress, can cancel it, and draws once the result arrives by signal.
"""

from __future__ import annotations

import colorsys
import html
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from sciceapp.ui import jobs
from sciceapp.ui.guard import catch_all
from sciceapp.ui.progress_text import ProgressText
from sciceapp.ui.workers import Worker, show_progress

GAP_PX = 12
MAX_LINES = 400  # more lines than this hide the photos; a sample is drawn instead
VERIFIED_COLOR = "#2b8a3e"


def _pixmap(rgb: np.ndarray) -> QPixmap:
    height, width = rgb.shape[:2]
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())  # copy: the numpy buffer is not kept alive


def verdict_text(explanation: Any) -> str:
    """One line a user can act on: verified or not, the inliers, and the rule."""
    source = "stored" if getattr(explanation, "ref_features_stored", False) else "extracted"
    count = (
        f"{explanation.inliers} inlier correspondences ({explanation.model} fit; the matched "
        f"photo's features {source})"
    )
    if explanation.verified:
        return f"Verified: {count}, at least {explanation.min_inliers} needed."
    return (
        f"Not verified: {count}, fewer than the {explanation.min_inliers} needed; the "
        "similarity alone may come from a look-alike."
    )


class CorrespondenceView(QWidget):
    """Paints two photos side by side (scaled to fit) and lines joining matched points."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.explanation: Any = None
        self.pixmaps: tuple[QPixmap, QPixmap] | None = None
        self.show_lines = True
        self.setMinimumSize(480, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_explanation(self, explanation: Any) -> None:
        self.explanation = explanation
        self.pixmaps = (_pixmap(explanation.query_image), _pixmap(explanation.ref_image))
        self.update()

    def lines(self) -> int:
        """How many correspondences are drawn."""
        if self.explanation is None or not self.show_lines:
            return 0
        return min(len(self.explanation.query_points), MAX_LINES)

    def _placement(self) -> tuple[QRectF, QRectF]:
        """Where each photo goes: the same height, side by side, centred, fitting the widget."""
        assert self.pixmaps is not None
        left, right = self.pixmaps
        width = max(1.0, self.width() - GAP_PX)
        height = float(self.height())
        ratio_l = left.width() / max(1, left.height())
        ratio_r = right.width() / max(1, right.height())
        row_h = min(height, width / (ratio_l + ratio_r))
        w_l, w_r = row_h * ratio_l, row_h * ratio_r
        x0 = (self.width() - (w_l + GAP_PX + w_r)) / 2
        y0 = (height - row_h) / 2
        return QRectF(x0, y0, w_l, row_h), QRectF(x0 + w_l + GAP_PX, y0, w_r, row_h)

    def paintEvent(self, _event: object) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#202020"))
        if self.pixmaps is None:
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect_q, rect_r = self._placement()
        painter.drawPixmap(rect_q, self.pixmaps[0], QRectF(self.pixmaps[0].rect()))
        painter.drawPixmap(rect_r, self.pixmaps[1], QRectF(self.pixmaps[1].rect()))
        count = self.lines()
        if count:
            e = self.explanation
            picks = np.linspace(0, len(e.query_points) - 1, count).round().astype(int)
            scale_q = rect_q.width() / self.pixmaps[0].width()
            scale_r = rect_r.width() / self.pixmaps[1].width()
            for n, i in enumerate(picks):
                hue = (n * 0.618034) % 1.0  # golden-ratio hues: neighbours differ
                red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
                painter.setPen(QPen(QColor.fromRgbF(red, green, blue, 0.85), 1.5))
                a = QPointF(
                    rect_q.x() + (e.query_points[i, 0] + 0.5) * scale_q,
                    rect_q.y() + (e.query_points[i, 1] + 0.5) * scale_q,
                )
                b = QPointF(
                    rect_r.x() + (e.ref_points[i, 0] + 0.5) * scale_r,
                    rect_r.y() + (e.ref_points[i, 1] + 0.5) * scale_r,
                )
                painter.drawLine(a, b)
                painter.drawEllipse(a, 2.5, 2.5)
                painter.drawEllipse(b, 2.5, 2.5)
        painter.end()


class WhyMatchDialog(QDialog):
    """Emits ``drawn(lines)`` once the correspondences are on screen."""

    drawn = Signal(int)

    def __init__(self, window: Any, query: str, match: Any) -> None:
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Why this match?")
        self.resize(1100, 560)
        self.heading = QLabel(
            f"<b>{html.escape(Path(query).name)}</b> (query, left) and "
            f"<b>{html.escape(Path(match.path).name)}</b> (match, right): similarity "
            f"{match.score:.3f}"
        )
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.verdict = QLabel("Decoding both photos and verifying their correspondences…")
        self.verdict.setWordWrap(True)
        self.view = CorrespondenceView()
        self.progress = QProgressBar()
        self.progress_text = ProgressText("steps")
        self.progress.setRange(0, 0)
        self.cancel_button = QPushButton("Cancel")
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.verdict)
        layout.addLayout(row)
        self.worker = Worker(
            jobs.explain_match,
            query,
            str(match.path),
            window.data_dir,
            window.current_collection(),
            getattr(match, "photo_id", None),
            name="why this match",
        )
        self.worker.signals.progress.connect(self._on_progress)
        self.worker.signals.result.connect(self._on_result)
        self.worker.signals.errored.connect(self._on_stopped)
        self.worker.signals.cancelled.connect(self._on_stopped)
        self.cancel_button.clicked.connect(self.worker.cancel)
        window.pool.start(self.worker)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        show_progress(self.progress, done, total, message, self.progress_text)

    @catch_all
    def _on_result(self, explanation: Any) -> None:
        self._finished()
        self.view.set_explanation(explanation)
        self.verdict.setText(verdict_text(explanation))
        color = VERIFIED_COLOR if explanation.verified else "#b00020"
        self.verdict.setStyleSheet(f"color: {color}; font-weight: bold")
        self.drawn.emit(self.view.lines())

    @catch_all
    def _on_stopped(self, text: str) -> None:
        self._finished()
        self.verdict.setText(text)

    def _finished(self) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)

    def reject(self) -> None:
        self.worker.cancel()  # a closed dialog does not keep the worker busy
        super().reject()


def why_this_match_entry(menu: Any, window: Any, match: Any) -> None:
    """The match context menu's "Why this match?" (``context_menus.MATCH_MENU_EXTRAS``)."""
    rows = [i for i, shown in enumerate(window.strip.matches) if shown is match]
    if rows:
        action = menu.addAction("Why this match?")
        action.triggered.connect(lambda _checked=False: window.explain_match(rows[0]))
