"""How a model job (``model export|get|fetch``) reports: with ``--json`` one JSON event per
line on stdout, which the GUI reads from its subprocess; on a terminal, numbered step lines
and a byte counter while downloading. An error is an ``error`` event too, and SIGTERM (how
the GUI stops the subprocess) cancels the job like Ctrl-C."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable

from sciceapp.errors import SciceappError


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def json_progress(done: int, total: int | None, message: str = "") -> None:
    emit("progress", done=done, total=total, message=message)


def step_lines(done: int, total: int | None, message: str = "") -> None:
    """``[3/5] checking ...`` while working (step numbers from 1), then the final message."""
    step = f"[{done + 1}/{total}] " if total is not None and done < total else ""
    print(f"{step}{message}", file=sys.stderr, flush=True)


def run_reporting_errors(as_json: bool, job: Callable[[], int]) -> int:
    """Run ``job``; with ``--json`` an error is also written as an ``error`` event.

    SIGTERM (how the GUI stops a subprocess) cancels the job like Ctrl-C, so temporary files
    are removed and nothing half-written is left under the final name.
    """
    previous = _cancel_on_sigterm()
    try:
        return job()
    except SciceappError as exc:
        if as_json:
            emit("error", message=str(exc), kind=type(exc).__name__)
        raise
    except KeyboardInterrupt:
        if as_json:
            emit("error", message="Stopped on request.", kind="CancelledError")
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _cancel_on_sigterm():
    if threading.current_thread() is not threading.main_thread():
        return None

    def cancel(signum: int, frame: object) -> None:
        # KeyboardInterrupt, not an Exception: library code that catches Exception (the torch
        # exporter wraps errors) must not swallow the stop.
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, cancel)


class StepsAndBytes:
    """CLI progress of ``model get``: one line per step, a byte counter while downloading."""

    def __init__(self) -> None:
        self.message, self.bar = "", None

    def __call__(self, done: int, total: int | None, message: str = "") -> None:
        from sciceapp.progress import TqdmProgress

        if message.endswith("(bytes)"):
            if self.bar is None:
                self.bar = TqdmProgress("download", unit="B")
            self.bar(done, total)
            return
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        if message != self.message:
            print(message, file=sys.stderr, flush=True)
            self.message = message
