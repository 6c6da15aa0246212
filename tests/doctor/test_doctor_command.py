"""`sciceapp doctor` as a command: the report's statuses and text, its JSON, its exit status
and the tile URL it takes from the GUI's settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sciceapp.cli import main
from sciceapp.commands.doctor.report import (
    OK,
    PROBLEM,
    SKIPPED,
    WARNING,
    Check,
    format_report,
    worst_status,
)


def test_worst_status_and_text_report():
    checks = [
        Check("a", OK, "fine"),
        Check("b", SKIPPED, "not run"),
        Check("c", WARNING, "meh", "do X"),
    ]
    assert worst_status(checks) == WARNING
    assert worst_status([*checks, Check("d", PROBLEM, "bad", "do Y")]) == PROBLEM
    text = format_report(checks)
    assert "warning  c  meh" in text
    assert "-> do X" in text
    assert text.endswith("overall: warning")


def test_doctor_json_with_local_tiles(tile_server, capsys, data_dir: Path):
    code = main(["doctor", "--json", "--no-webengine", "--tile-url", tile_server()])
    report = json.loads(capsys.readouterr().out)
    by_name = {check["name"]: check for check in report["checks"]}
    assert code == 0  # warnings (no model yet) do not fail
    assert report["status"] == WARNING
    assert by_name["map tiles"]["status"] == OK
    assert by_name["data folder"]["details"]["path"] == str(data_dir)
    assert {"versions", "onnxruntime", "models", "collections"} <= set(by_name)


def test_doctor_exits_1_on_a_problem(tmp_path: Path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code = main(["--data-dir", str(blocker / "data"), "doctor", "--offline", "--no-webengine"])
    out = capsys.readouterr().out
    assert code == 1
    assert "problem  data folder" in out
    assert out.rstrip().endswith("overall: problem")


def test_doctor_tests_the_tile_url_of_the_settings(tile_server, tmp_path: Path, data_dir: Path):
    """Without --tile-url, the URL comes from the GUI's settings file (run in a child process
    so Qt reads this test's settings folder, not the user's)."""
    config = tmp_path / "config"
    (config / "sciceapp").mkdir(parents=True)
    template = tile_server()
    (config / "sciceapp" / "sciceapp.ini").write_text(f"[settings]\ntile_url={template}\n")
    env = {**os.environ, "XDG_CONFIG_HOME": str(config), "SCICEAPP_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "sciceapp", "doctor", "--json", "--no-webengine"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    report = json.loads(result.stdout)
    tiles = next(check for check in report["checks"] if check["name"] == "map tiles")
    assert tiles["status"] == OK, tiles
    assert tiles["details"]["template"] == template
