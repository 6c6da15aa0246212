"""The doctor's QtWebEngine check: the probe starts offscreen, one that cannot start is a
problem, one that hangs is stopped."""

from __future__ import annotations

import os
import sys

import pytest

from sciceapp.commands.doctor import webengine
from sciceapp.commands.doctor.report import OK, PROBLEM


def _probe_env(**changes: str) -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", **changes}


@pytest.mark.gui
def test_webengine_starts_offscreen():
    command = webengine.webengine_probe_command()
    check = webengine.check_webengine(command, timeout_s=120, env=_probe_env())
    assert check.status == OK, check.details
    assert check.details["chromium"] not in ("", "?")


@pytest.mark.gui
def test_webengine_that_cannot_start_is_a_problem():
    command = webengine.webengine_probe_command()
    env = _probe_env(QT_QPA_PLATFORM="no-such-platform")
    check = webengine.check_webengine(command, timeout_s=120, env=env)
    assert check.status == PROBLEM
    assert "does not start" in check.summary
    assert check.details["returncode"] != 0


def test_webengine_probe_that_hangs_is_stopped():
    hang = [sys.executable, "-c", "import threading; threading.Event().wait()"]
    check = webengine.check_webengine(hang, timeout_s=1)
    assert check.status == PROBLEM
    assert "within 1 s" in check.summary
