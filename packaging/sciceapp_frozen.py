"""Entry point of the frozen app: one program under two names.

The bundle holds two launchers built from this script: ``sciceapp`` (the command line) and
``sciceapp-gui`` (the window, like ``sciceapp gui``). Both answer ``--version``, and both
accept ``-m sciceapp ARGS`` like a Python interpreter would, because the GUI starts its
helper jobs as ``sys.executable -m sciceapp ...``, and in the bundle ``sys.executable`` is
this program.

The bundle has no PyTorch: commands that need it (model export, training) end with the
message of ``sciceapp.cli.toolkit_message`` instead of a traceback.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

from sciceapp.cli import gui_main, main


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
    return run(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(entry())
