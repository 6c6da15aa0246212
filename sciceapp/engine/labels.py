"""How a model is named to users: a random-weight model always carries the demo note.

Kept free of heavy imports so the CLI, the map and the window can all use it cheaply.
"""

from __future__ import annotations

from pathlib import Path

DEMO_NOTE = "demo, not accurate"
RANDOM_WEIGHTS_NOTE = f"(random weights: {DEMO_NOTE})"
CLASSICAL = "classical"
"""The built-in classical model's name, used where a model file is asked for (CLI, settings)."""
CLASSICAL_LABEL = "RootSIFT-VLAD (classical, training-free)"


def model_text(label: str, random_init: bool) -> str:
    """``label``, plus :data:`RANDOM_WEIGHTS_NOTE` for a random-weight model that lacks it."""
    if random_init and DEMO_NOTE not in label:
        return f"{label} {RANDOM_WEIGHTS_NOTE}"
    return label


def model_exists(path: str) -> bool:
    """Whether ``path`` names a model that is there: a file, or the built-in classical one."""
    return path == CLASSICAL or Path(path).is_file()
