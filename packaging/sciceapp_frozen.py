"""Entry point of the frozen app: one program under two names.

The bundle holds two launchers built from this script: ``sciceapp`` (the command line) and
``sciceapp-gui`` (the window, like ``sciceapp gui``). Both answer ``--version``.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

from sciceapp.cli import gui_main, main


def run() -> int:
    """Dispatch on the name the program was started under."""
    multiprocessing.freeze_support()
    if Path(sys.executable).stem.lower().endswith("-gui"):
        if sys.argv[1:2] == ["--version"]:
            return main(["--version"])
        return gui_main()
    return main()


if __name__ == "__main__":
    raise SystemExit(run())
