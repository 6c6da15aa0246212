"""The doctor's versions check: what is installed, what is missing, and torch's version
read without importing torch."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from sciceapp.commands.doctor import runtime, versions
from sciceapp.commands.doctor.report import OK, PROBLEM


def test_versions_match_installed_packages():
    check = versions.check_versions()
    assert check.status == OK
    (installed,) = runtime.runtime_distributions()  # the CPU or the GPU build, not both
    assert check.details["onnxruntime"] == importlib.metadata.version(installed)
    assert check.details["faiss-cpu"] == importlib.metadata.version("faiss-cpu")
    assert check.details["PySide6"] == importlib.metadata.version("PySide6")
    assert check.details["torch"] == importlib.metadata.version("torch")
    assert check.details["python"] == ".".join(map(str, sys.version_info[:3]))
    assert f"onnxruntime {check.details['onnxruntime']}" in check.summary


def test_versions_report_a_missing_package(monkeypatch: pytest.MonkeyPatch):
    broken = (
        *versions.PACKAGES,
        (("sciceapp-no-such-dist",), "sciceapp_no_such_module", True),
    )
    monkeypatch.setattr(versions, "PACKAGES", broken)
    check = versions.check_versions()
    assert check.status == PROBLEM
    assert "sciceapp-no-such-dist" in check.summary
    assert check.advice


def test_versions_do_not_import_torch():
    code = (
        "import sys; from sciceapp.commands.doctor.versions import check_versions; "
        "c = check_versions(); assert c.details['torch'], c; "
        "raise SystemExit('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
