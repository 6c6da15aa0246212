"""The repository keeps its promises: README commands, CI script, layers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _fenced_command(section: str) -> str:
    text = (REPO_ROOT / "README.md").read_text()
    match = re.search(rf"## {re.escape(section)}\n.*?```sh\n(.*?)\n```", text, re.S)
    assert match, f"README has no fenced sh command under '## {section}'"
    return match.group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
    command = _fenced_command("Running the tests")
    ci_lines = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci_lines


def test_quick_start_starts_the_app():
    assert _fenced_command("Quick start").endswith("sciceapp gui")


def _imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    pattern = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][\w]*)", re.M)
    for path in (REPO_ROOT / "sciceapp" / package).rglob("*.py"):
        found[str(path.relative_to(REPO_ROOT))] = set(pattern.findall(path.read_text()))
    return found


FORBIDDEN = {
    "engine": {"torch", "torchvision", "PySide6", "ray"},
    "cluster": {"torch", "torchvision", "PySide6"},
    "ui": {"torch", "torchvision"},
}
"""What each layer never imports (ARCHITECTURE.md's table)."""


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_of_a_layer_imports_what_the_layer_forbids(package: str):
    found = _imports(package)
    assert len(found) > 3, f"sciceapp/{package}/ is missing"  # subpackages are searched too
    for path, modules in found.items():
        assert not modules & FORBIDDEN[package], path


@pytest.mark.slow
@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_importing_every_module_of_a_layer_loads_nothing_it_forbids(package: str):
    """Also what a layer imports through the modules it imports (which the text check
    above cannot see), for every module of it, subpackages included."""
    code = (
        "import importlib, pkgutil, sys; "
        f"import sciceapp.{package} as layer; "
        f"names = [m.name for m in pkgutil.walk_packages(layer.__path__, 'sciceapp.{package}.')]; "
        "[importlib.import_module(n) for n in names]; "
        f"bad = sorted(m for m in {sorted(FORBIDDEN[package])!r} if m in sys.modules); "
        "print(len(names), bad); raise SystemExit(1 if bad or len(names) < 4 else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]


APP_MODULES = re.compile(
    r"^\s*(?:from|import)\s+sciceapp\.(?:commands|cli|ui)\b"
    r"|^\s*from\s+sciceapp\s+import\s+[^\n]*\b(?:commands|cli|ui)\b",
    re.M,
)


def test_app_diagnostics_live_beside_the_commands_not_in_the_engine():
    """ARCHITECTURE.md: `doctor` is an application concern, not engine logic. Its checks live
    in ``sciceapp/commands/doctor/``; no doctor module is in the engine, and the engine
    imports nothing from the command line or the window (where the doctor now lives)."""
    engine = REPO_ROOT / "sciceapp" / "engine"
    assert sorted(str(p.relative_to(REPO_ROOT)) for p in engine.rglob("*doctor*")) == []
    importing_app = [
        str(path.relative_to(REPO_ROOT))
        for path in engine.rglob("*.py")
        if APP_MODULES.search(path.read_text())
    ]
    assert importing_app == []
    doctor = REPO_ROOT / "sciceapp" / "commands" / "doctor"
    assert {"report.py", "versions.py", "runtime.py", "data.py"} <= {
        p.name for p in doctor.glob("*.py")
    }


SQL_STATEMENT = re.compile(
    r"[\"'](SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|PRAGMA|BEGIN|COMMIT|ROLLBACK)\b"
)
OTHER_DATABASES = {"sciceapp/engine/tiles.py"}  # reads the user's MBTiles file, not the catalogue


def test_every_catalogue_statement_is_in_the_catalogue_package():
    """The catalogue's statements live in ``engine/catalogue/`` only (ARCHITECTURE.md), so a
    schema change has one place to look."""
    package = REPO_ROOT / "sciceapp"
    found = []
    for path in package.rglob("*.py"):
        name = str(path.relative_to(REPO_ROOT))
        if name.startswith("sciceapp/engine/catalogue/") or name in OTHER_DATABASES:
            continue
        text = path.read_text()
        found += [f"{name}: {m.group(0)}" for m in SQL_STATEMENT.finditer(text)]
    assert found == []
    assert SQL_STATEMENT.search((package / "engine" / "catalogue" / "photo_rows.py").read_text())


def test_cli_help_does_not_import_torch_or_qt():
    code = (
        "import sys; from sciceapp.cli import build_parser; build_parser(); "
        "bad = [m for m in ('torch', 'PySide6', 'onnxruntime', 'faiss', 'ray', 'pyarrow') if m in sys.modules]; "
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_version_flag():
    result = subprocess.run(
        [sys.executable, "-m", "sciceapp", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.startswith("sciceapp ")


def test_toolkit_command_without_torch_says_what_to_install(monkeypatch, capsys):
    import builtins

    from sciceapp import cli

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real_import(name, *args, **kwargs)

    def needs_torch(args):
        import torch  # noqa: F401

    parser = cli.build_parser
    monkeypatch.setattr(
        cli,
        "build_parser",
        lambda: _with_fake_command(parser(), needs_torch),
    )
    monkeypatch.setattr(builtins, "__import__", no_torch)
    assert cli.main(["fake"]) == 2
    assert "pip install 'sciceapp[torch]'" in capsys.readouterr().err


def _with_fake_command(parser, func):
    subparsers = next(a for a in parser._actions if a.dest == "command")
    subparsers.add_parser("fake").set_defaults(func=func)
    return parser


def test_output_piped_into_a_closed_reader_is_no_traceback():
    # `sciceapp model list | head -1` style: the reader closes the pipe before we finish.
    code = (
        "import sys; from sciceapp import cli; "
        "cli.build_parser = (lambda real: lambda: _add(real()))(cli.build_parser)\n"
        "def _add(parser):\n"
        "    sub = next(a for a in parser._actions if a.dest == 'command')\n"
        "    sub.add_parser('spam').set_defaults(func=lambda args: [print('x' * 100) for _ in range(10**5)])\n"
        "    return parser\n"
        "raise SystemExit(cli.main(['spam']))"
    )
    reader = subprocess.Popen(
        ["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    result = subprocess.run(
        [sys.executable, "-c", code], stdout=reader.stdin, stderr=subprocess.PIPE, text=True
    )
    reader.stdin.close()
    reader.wait()
    assert result.returncode == 141
    assert "Traceback" not in result.stderr
