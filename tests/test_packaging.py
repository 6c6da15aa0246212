"""Resources travel with the app: wheel contents, the installed and frozen layouts, icons,
the desktop entry."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from sciceapp import paths

DATA_FOLDERS = ("resources", "models")
SOURCE_ITEMS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "sciceapp", *DATA_FOLDERS)
WEIGHT_SUFFIXES = (".onnx", ".pth", ".pt", ".ckpt", ".safetensors")

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shipped_files(folder: Path) -> list[str]:
    """Files of a top-level data folder that a wheel must carry, relative to the repo."""
    return sorted(
        str(path.relative_to(REPO_ROOT))
        for path in folder.rglob("*")
        if path.is_file() and path.suffix not in WEIGHT_SUFFIXES and "__pycache__" not in path.parts
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built (not editable) from a copy of the source tree holding a stray model file."""
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for item in SOURCE_ITEMS:
        origin = REPO_ROOT / item
        if origin.is_dir():
            shutil.copytree(origin, source / item, ignore=ignore)
        elif origin.is_file():
            shutil.copy2(origin, source / item)
    (source / "models").mkdir(exist_ok=True)
    (source / "models" / "stray-weights.onnx").write_bytes(b"not shipped")
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    result = subprocess.run(
        [*command, "--no-index", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = out.glob("sciceapp-*.whl")
    return built


def test_wheel_carries_resources_and_manifests(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = [
        f"sciceapp/_data/{rel}" for name in DATA_FOLDERS for rel in _shipped_files(REPO_ROOT / name)
    ]
    assert expected, "resources/ should hold at least the icons and the desktop entry"
    missing = [name for name in expected if name not in names]
    assert not missing, missing
    assert "sciceapp/_data/resources/sciceapp.desktop" in names
    assert "sciceapp/_data/resources/icons/sciceapp.svg" in names


def test_wheel_carries_every_non_python_file_of_the_package(wheel: Path):
    """Map scripts and web pages are read with importlib.resources, even from folders
    without __init__.py: the wheel must hold them all."""
    names = set(zipfile.ZipFile(wheel).namelist())
    package = REPO_ROOT / "sciceapp"
    expected = [
        str(path.relative_to(REPO_ROOT))
        for path in package.rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc")
        and "__pycache__" not in path.parts
        and not path.name.startswith(".")
        and "_data" not in path.relative_to(package).parts[:1]
    ]
    missing = [name for name in expected if name not in names]
    assert not missing, missing


def test_wheel_ships_no_model_weights(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert not [name for name in names if name.endswith(WEIGHT_SUFFIXES)]


def test_installed_wheel_finds_its_resources(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target"]
    result = subprocess.run([*install, str(target), str(wheel)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    # -S: no site-packages, so neither the editable checkout nor anything else can answer.
    code = (
        "from sciceapp.paths import repo_or_package_dir as r; "
        "print(r('resources')); print(r('models'))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    resources, models = (Path(line) for line in result.stdout.splitlines())
    assert resources == target / "sciceapp" / "_data" / "resources"
    assert (resources / "icons" / "sciceapp-256.png").is_file()
    assert models == target / "sciceapp" / "_data" / "models"
    assert sorted(p.name for p in models.glob("*.json")) == sorted(
        p.name for p in (REPO_ROOT / "models").glob("*.json")
    )


def test_frozen_layout_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bundle = tmp_path / "_internal"
    (bundle / "sciceapp" / "_data" / "resources").mkdir(parents=True)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    assert paths.repo_or_package_dir("resources") == bundle / "sciceapp" / "_data" / "resources"
    # Something the bundle lacks is reported where the bundle would keep it, never the checkout.
    assert paths.repo_or_package_dir("nothing") == bundle / "sciceapp" / "_data" / "nothing"


def test_checkout_uses_top_level_folders():
    assert paths.repo_or_package_dir("resources") == REPO_ROOT / "resources"
    assert paths.repo_or_package_dir("models") == REPO_ROOT / "models"


def test_desktop_entry_launches_the_gui_script():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(REPO_ROOT / "resources" / "sciceapp.desktop", encoding="utf-8")
    section = entry["Desktop Entry"]
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert section["Type"] == "Application"
    assert section["Exec"].split()[0] in project["gui-scripts"]
    assert section["Terminal"] == "false"
    assert (REPO_ROOT / "resources" / "icons" / f"{section['Icon']}.svg").is_file()
    assert section["Categories"].endswith(";")


def _make_icons_module():
    sys.path.insert(0, str(REPO_ROOT / "packaging"))
    try:
        import make_icons
    finally:
        sys.path.remove(str(REPO_ROOT / "packaging"))
    return make_icons


def test_icons_match_their_generator(tmp_path: Path):
    """The committed icons are what packaging/make_icons.py draws, at every size."""
    make_icons = _make_icons_module()
    make_icons.write_icons(tmp_path)
    icons = REPO_ROOT / "resources" / "icons"
    assert (icons / "sciceapp.svg").read_text() == (tmp_path / "sciceapp.svg").read_text()
    root = ET.parse(icons / "sciceapp.svg").getroot()
    assert root.get("viewBox") == "0 0 256 256"
    for size in make_icons.PNG_SIZES_PX:
        committed = Image.open(icons / f"sciceapp-{size}.png")
        assert committed.size == (size, size)
        assert committed.mode == "RGBA"
        fresh = Image.open(tmp_path / f"sciceapp-{size}.png")
        # a few levels of slack for resampling differences between Pillow versions
        worst = max(high for _, high in ImageChops.difference(committed, fresh).getextrema())
        assert worst <= 8, (size, worst)
        # transparent corners, opaque middle: a real icon, not an empty square
        assert committed.getpixel((0, 0))[3] < 32
        assert committed.getpixel((size // 2, size // 2))[3] == 255
    with Image.open(icons / "sciceapp.ico") as ico:
        assert (256, 256) in ico.info["sizes"]


def test_install_desktop_script_installs_and_uninstalls(tmp_path: Path):
    """packaging/install-desktop.sh on an unpacked bundle layout, for a throwaway home."""
    app = tmp_path / "sciceapp"
    shutil.copytree(REPO_ROOT / "resources", app / "_internal" / "sciceapp" / "_data" / "resources")
    for launcher in ("sciceapp", "sciceapp-gui"):
        (app / launcher).write_text("#!/bin/sh\n")
    shutil.copy2(REPO_ROOT / "packaging" / "install-desktop.sh", app)
    home = tmp_path / "home"
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    script = [str(app / "install-desktop.sh")]
    result = subprocess.run(["bash", *script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    share = home / ".local" / "share"
    entry = (share / "applications" / "sciceapp.desktop").read_text()
    assert f"Exec={home}/.local/bin/sciceapp-gui" in entry.splitlines()
    assert (home / ".local" / "bin" / "sciceapp-gui").resolve() == (app / "sciceapp-gui").resolve()
    assert (share / "icons" / "hicolor" / "48x48" / "apps" / "sciceapp.png").is_file()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "sciceapp.svg").is_file()
    result = subprocess.run(
        ["bash", *script, "--uninstall"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    # the desktop database's own cache may stay; it no longer lists sciceapp
    left = [p for p in home.rglob("*") if p.is_file() or p.is_symlink()]
    left = [p for p in left if p.name != "mimeinfo.cache"]
    assert not left, left
    assert (app / "sciceapp-gui").is_file()  # the app folder itself is left alone
