"""The ``sciceapp`` command line: everything the GUI does, scriptable.

Each sub-command group lives in ``sciceapp/commands/<group>.py`` and exposes
``register(subparsers)``. Those modules import their heavy dependencies (torch, Qt,
onnxruntime, faiss) inside the functions that run a command, so ``sciceapp --help`` and a
plain ``sciceapp locate`` never pay for torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from sciceapp import __version__
from sciceapp.errors import CancelledError, SciceappError

log = logging.getLogger("sciceapp")

COMMAND_MODULES = (
    "sciceapp.commands.model",
    "sciceapp.commands.collection",
    "sciceapp.commands.search",
    "sciceapp.commands.geotag",
    "sciceapp.commands.train",
    "sciceapp.commands.evaluate",
    "sciceapp.commands.gui",
    "sciceapp.commands.doctor",
    "sciceapp.commands.cluster",
)

# Installed only with the ``torch`` extra (and left out of the desktop bundle); the app itself
# runs without them.
TOOLKIT_MODULES = ("torch", "torchvision", "onnx", "onnxscript", "pytorch_metric_learning")


def needs_toolkit(exc: ModuleNotFoundError) -> bool:
    """Whether ``exc`` says a toolkit package is missing (rather than a bug)."""
    name = exc.name or ""
    return any(name == mod or name.startswith(mod + ".") for mod in TOOLKIT_MODULES)


def toolkit_message(command: str, missing: str | None) -> str:
    if getattr(sys, "frozen", False):
        return (
            f"'sciceapp {command}' needs PyTorch, which the desktop app does not include. Run it "
            "where the toolkit is installed (pip install 'sciceapp[torch]'), then bring the "
            "exported .onnx file here with `sciceapp model import FILE.onnx`."
        )
    return (
        f"'sciceapp {command}' needs the model toolkit ({missing} is not installed). Install "
        "it with: pip install 'sciceapp[torch]'"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sciceapp",
        description="Photo geolocation with the SciceVPR visual place recognition network.",
    )
    parser.add_argument("--version", action="version", version=f"sciceapp {__version__}")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where collections and models are stored (default: $SCICEAPP_DATA_DIR, "
        "else the platform's user data folder)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    """Run one command; everything it prints has its control characters escaped."""
    from sciceapp.terminal import escaped_output

    with escaped_output():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        result = func(args)
    except CancelledError as exc:
        print(f"sciceapp: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("sciceapp: interrupted; work finished before that is kept.", file=sys.stderr)
        return 130
    except SciceappError as exc:
        print(f"sciceapp: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        if not needs_toolkit(exc):
            raise
        print(f"sciceapp: error: {toolkit_message(args.command, exc.name)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`sciceapp locate ... | head`): that is not an error of ours.
        # Point stdout at /dev/null so that Python's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return int(result or 0)


def gui_main() -> int:
    """Entry point of the ``sciceapp-gui`` launcher: the window, with any CLI options."""
    return main(["gui", *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(main())
