"""The frozen app: build it with PyInstaller from packaging/sciceapp.spec and check it with
packaging/check_bundle.py (starts, --version, doctor, window offscreen, resources, no torch).

About a minute on a 2-core machine, so it runs in CI with the rest of the suite.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BUILD_TIMEOUT_S = 900

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert importlib.util.find_spec("PyInstaller"), (
        "PyInstaller is not installed: pip install 'pyinstaller>=6.10' (a dev dependency)"
    )
    out = tmp_path_factory.mktemp("frozen")
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(out / "dist"),
        "--workpath",
        str(out / "work"),
        str(REPO_ROOT / "packaging" / "sciceapp.spec"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-5000:]
    return out / "dist" / "sciceapp"


@pytest.mark.slow
@pytest.mark.gui
def test_frozen_app_passes_the_release_checks(bundle: Path, tiny_onnx_model: Path, exif_samples):
    """Including a real lookup: import the tiny random-weight model, build a collection of
    all the sample photos (HEIC and broken EXIF included) and locate one in the window, all
    inside the bundle."""
    check = [sys.executable, str(REPO_ROOT / "packaging" / "check_bundle.py"), str(bundle)]
    check += ["--model", str(tiny_onnx_model), "--photos", str(exif_samples)]
    check += ["--backbone", str(_official_small_backbone(bundle.parent))]
    result = subprocess.run(check, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    for name in ("check_versions", "check_no_toolkit", "check_toolkit_commands_explain",
                 "check_resources", "check_doctor", "check_geotag"):  # fmt: skip
        assert f"ok    {name}" in result.stdout
    assert "ok    check_window" in result.stdout
    assert "ok    check_demo_lookup" in result.stdout
    # the classical, training-free kind: OpenCV's SIFT, VLAD and the two-view fit, frozen
    assert "ok    check_classical_lookup" in result.stdout
    # a real model without torch: downloaded from 127.0.0.1 and built inside the bundle
    assert "ok    check_model_get" in result.stdout


def _official_small_backbone(folder: Path) -> Path:
    """A random-weight dinov2_vits14 in the official layout, as torch.save writes it."""
    sys.path.insert(0, str(REPO_ROOT / "tests" / "export"))
    from official_files import official_backbone_state, save_torch

    return save_torch(official_backbone_state("dinov2_vits14"), folder / "vits14.pth")


@pytest.mark.slow
def test_check_bundle_notices_torch(bundle: Path, tmp_path: Path):
    """The torch check is not a formality: a torch file planted in the bundle fails it."""
    sys.path.insert(0, str(REPO_ROOT / "packaging"))
    try:
        import check_bundle
    finally:
        sys.path.remove(str(REPO_ROOT / "packaging"))
    assert check_bundle.check_no_toolkit(bundle, tmp_path)
    planted = bundle / "_internal" / "torch"
    planted.mkdir()
    try:
        with pytest.raises(AssertionError, match="torch"):
            check_bundle.check_no_toolkit(bundle, tmp_path)
    finally:
        planted.rmdir()
