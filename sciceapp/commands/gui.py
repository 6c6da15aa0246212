"""`sciceapp gui`: the desktop window (PySide6), optionally running queries and saving a
screenshot of the window. Qt is imported only when the command runs."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gui``."""
    gui = subparsers.add_parser("gui", help="open the desktop window")
    # SUPPRESS: when not given here, the top-level --data-dir (if any) is kept.
    gui.add_argument(
        "--data-dir", metavar="DIR", default=argparse.SUPPRESS, help="data folder to use"
    )
    gui.add_argument("--collection", metavar="NAME", help="select this reference collection")
    gui.add_argument(
        "--query", metavar="PHOTO", nargs="+", default=[], help="photos (or folders) to locate"
    )
    gui.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="run the queries, wait for the map, save a PNG of the window and quit "
        "(exit status 0, or 1 if anything failed)",
    )
    gui.set_defaults(func=_gui)


def _gui(args: argparse.Namespace) -> int:
    from sciceapp.ui.app import run_app

    return run_app(
        data_dir=getattr(args, "data_dir", None),
        collection=args.collection,
        queries=args.query,
        screenshot=args.screenshot,
    )
