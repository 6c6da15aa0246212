"""Entry point of the frozen app: one program under two names.

The bundle holds two launchers built from this script: ``sciceapp`` (the command line) and
``sciceapp-gui`` (the window, like ``sciceapp gui``). Both answer ``--version``, and both
accept ``-m sciceapp ARGS`` like a Python interpreter would, because the GUI starts its
helper jobs as ``sys.executable -m sciceapp ...``, and in the bundle ``sys.executable`` is
this program.

The bundle has no PyTorch: commands that need it (model export, training) end with a message
saying where to run them instead of a traceback.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

from sciceapp.cli import gui_main, main

TOOLKIT_MODULES = ("torch", "torchvision", "onnx", "onnxscript", "sciceapp.model",
                   "sciceapp.export", "sciceapp.training", "pytorch_metric_learning")  # fmt: skip
TOOLKIT_MESSAGE = (
    "sciceapp: error: this command needs PyTorch, which the desktop app does not include. "
    "Run it where the toolkit is installed (pip install 'sciceapp[torch]'), then bring the "
    "exported .onnx file here with `sciceapp model import FILE.onnx`."
)


def _needs_toolkit(exc: ModuleNotFoundError) -> bool:
    name = exc.name or ""
    return any(name == mod or name.startswith(mod + ".") for mod in TOOLKIT_MODULES)


def run(argv: list[str]) -> int:
    """Dispatch on the name the program was started under."""
    if argv[:2] == ["-m", "sciceapp"]:
        return main(argv[2:])
    if Path(sys.executable).stem.lower().endswith("-gui"):
        if argv[:1] == ["--version"]:
            return main(["--version"])
        return gui_main()
    return main(argv)


def entry() -> int:
    multiprocessing.freeze_support()
    try:
        return run(sys.argv[1:])
    except ModuleNotFoundError as exc:
        if not _needs_toolkit(exc):
            raise
        print(TOOLKIT_MESSAGE, file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(entry())
