"""Keep exceptions out of the Qt event loop.

An exception raised in a slot called from Qt is printed and swallowed at best, and aborts
the process at worst. ``catch_all`` wraps slots so that every error is logged and shown to
the user through one error sink, and the window goes on.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sciceapp.errors import SciceappError

log = logging.getLogger("sciceapp.ui")

F = TypeVar("F", bound=Callable[..., Any])

_sink: list[Callable[[str], None]] = []


def set_error_sink(sink: Callable[[str], None]) -> None:
    """Where ``catch_all`` sends messages (the main window's ``show_error``)."""
    _sink.insert(0, sink)


def remove_error_sink(sink: Callable[[str], None]) -> None:
    """Stop sending to ``sink`` (its window closed); an earlier sink takes over again."""
    while sink in _sink:
        _sink.remove(sink)


def describe(exc: BaseException) -> str:
    """A message for the user: ours say what to do; anything else is a bug, said plainly."""
    if isinstance(exc, SciceappError):
        return str(exc)
    return f"Unexpected error ({type(exc).__name__}: {exc}). The details are in the log."


def report(message: str) -> None:
    """Send a message to the error sink, or to the log when there is none."""
    if _sink:
        try:
            _sink[0](message)
            return
        except Exception:  # the sink itself must never take the app down
            log.exception("Could not show an error message")
    log.error("%s", message)


def catch_all(func: F) -> F:
    """Decorate a slot: any exception is logged and reported instead of reaching Qt."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            if isinstance(exc, SciceappError):
                log.warning("%s", exc)
            else:
                log.exception("Error in %s", func.__qualname__)
            report(describe(exc))
            return None

    return wrapper  # type: ignore[return-value]


def install_excepthook() -> None:
    """The last line of defence: an exception from a slot that ``catch_all`` does not wrap
    (a lambda, a Qt override) reaches ``sys.excepthook``; log it and show it instead of
    letting PySide print it to a console the user never sees."""
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not issubclass(exc_type, Exception):  # KeyboardInterrupt, SystemExit
            previous(exc_type, exc, tb)
            return
        log.error("Uncaught error", exc_info=(exc_type, exc, tb))
        report(describe(exc))

    sys.excepthook = hook
