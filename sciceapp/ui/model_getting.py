"""What the Models dialog shows while ``sciceapp model get`` runs: the size and time estimate
before it starts, and bytes, speed and time left while the backbone downloads."""

from __future__ import annotations

import time
from typing import Any

from sciceapp.ui.progress_text import duration_text

ASSUMED_MB_PER_S = 10.0  # for the estimate before anything has arrived
BYTES_SUFFIX = "(bytes)"


def get_choice_text(manifest: Any) -> str:
    size = manifest.extra.get("weights_size_mb")
    return f"{manifest.name}: {manifest.label}" + (f", {size} MB download" if size else "")


class DownloadClock:
    """Turns byte counts into a progress value (per mille) and a line with time left."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.started: float | None = None
        self.first_bytes = 0

    @staticmethod
    def is_bytes(message: str) -> bool:
        return message.endswith(BYTES_SUFFIX)

    @staticmethod
    def estimate(manifest: Any) -> str:
        size = manifest.extra.get("weights_size_mb")
        build = manifest.extra.get("build_seconds")
        parts = []
        if size:
            download = duration_text(size / ASSUMED_MB_PER_S)
            parts.append(f"Downloads about {size} MB (about {download} at 10 MB/s; resumes if cut)")
        if build:
            parts.append(f"then builds and checks the model in about {duration_text(build)}")
        licence = manifest.extra.get("licence")
        text = ", ".join(parts) + "." if parts else ""
        return f"{text} Weights: {licence}." if licence else text

    def update(self, done: int, total: int, message: str) -> tuple[int, str]:
        now = time.monotonic()
        if self.started is None:
            self.started, self.first_bytes = now, done
        step = message.removesuffix(BYTES_SUFFIX).strip()
        if total <= 0:
            return 0, f"{step}: {done / 1e6:.0f} MB"
        elapsed = now - self.started
        rate = (done - self.first_bytes) / elapsed if elapsed > 0.5 else 0.0
        left = f", about {duration_text((total - done) / rate)} left" if rate > 0 else ""
        text = f"{step}: {done / 1e6:.0f} of {total / 1e6:.0f} MB{left}"
        return int(done * 1000 / total), text
