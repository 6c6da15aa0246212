"""`sciceapp doctor`: every check's ok path and the failures that can be provoked here."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sciceapp.cli import main
from sciceapp.commands import doctor as doctor_command
from sciceapp.engine import doctor_checks, doctor_probes
from sciceapp.engine.doctor import OK, PROBLEM, SKIPPED, WARNING, Check, format_report, worst_status

TILE_PATH = "/tiles/0/0/0.png"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


class _TileHandler(BaseHTTPRequestHandler):
    """Serves tile 0/0/0; ``refuse_head`` answers HEAD with 405 like some tile servers."""

    refuse_head = False

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        if self.refuse_head:
            self.send_error(405)
            return
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        if self.path != TILE_PATH:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG_BYTES)))
        self.end_headers()
        if body:
            self.wfile.write(PNG_BYTES)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tile_server():
    """A tile server on 127.0.0.1; yields a function making a template for its /tiles."""
    servers = []

    def start(refuse_head: bool = False) -> str:
        handler = type("Handler", (_TileHandler,), {"refuse_head": refuse_head})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/tiles/{{z}}/{{x}}/{{y}}.png"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# --- the report itself -------------------------------------------------------------------


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


# --- versions -----------------------------------------------------------------------------


def test_versions_match_installed_packages():
    check = doctor_checks.check_versions()
    assert check.status == OK
    (runtime,) = doctor_checks.runtime_distributions()  # the CPU or the GPU build, not both
    assert check.details["onnxruntime"] == importlib.metadata.version(runtime)
    assert check.details["faiss-cpu"] == importlib.metadata.version("faiss-cpu")
    assert check.details["PySide6"] == importlib.metadata.version("PySide6")
    assert check.details["torch"] == importlib.metadata.version("torch")
    assert check.details["python"] == ".".join(map(str, sys.version_info[:3]))
    assert f"onnxruntime {check.details['onnxruntime']}" in check.summary


def test_versions_report_a_missing_package(monkeypatch: pytest.MonkeyPatch):
    broken = (
        *doctor_checks.PACKAGES,
        (("sciceapp-no-such-dist",), "sciceapp_no_such_module", True),
    )
    monkeypatch.setattr(doctor_checks, "PACKAGES", broken)
    check = doctor_checks.check_versions()
    assert check.status == PROBLEM
    assert "sciceapp-no-such-dist" in check.summary
    assert check.advice


def test_versions_do_not_import_torch():
    code = (
        "import sys; from sciceapp.engine.doctor_checks import check_versions; "
        "c = check_versions(); assert c.details['torch'], c; "
        "raise SystemExit('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- ONNX Runtime providers ------------------------------------------------------------------


def test_providers_explain_why_cpu_is_used_here():
    from sciceapp.engine import providers

    check = doctor_checks.check_providers()
    assert "CPUExecutionProvider" in check.details["usable"]
    gpu_problem = providers.cuda_device_problem()
    if gpu_problem is None:  # a machine with a working NVIDIA driver
        assert check.status in (OK, WARNING)
    else:
        assert check.status == OK
        assert gpu_problem in check.summary
        assert "CUDAExecutionProvider" in check.details["not_used"]


def test_providers_warn_when_a_gpu_cannot_be_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Pretend the driver reports a GPU and give onnxruntime a CUDA provider library the
    loader rejects: the check must warn with the loader's own message."""
    import onnxruntime as ort

    from sciceapp.engine import providers

    fake_capi = tmp_path / "onnxruntime" / "capi"
    fake_capi.mkdir(parents=True)
    (fake_capi / "libonnxruntime_providers_cuda.so").write_bytes(b"not a shared library")
    monkeypatch.setattr(ort, "__file__", str(fake_capi.parent / "__init__.py"))
    monkeypatch.setattr(providers, "cuda_device_problem", lambda: None)
    monkeypatch.setattr(providers, "tensorrt_problem", lambda: "no TensorRT here")
    monkeypatch.setattr(providers, "preload_gpu_libraries", lambda: "not preloaded")
    # the GPU build is what is installed (CI installs the CPU one, which has its own warning)
    monkeypatch.setattr(doctor_checks, "runtime_distributions", lambda: ["onnxruntime-gpu"])
    monkeypatch.setattr(providers, "available_providers", lambda: [providers.CUDA, providers.CPU])
    check = doctor_checks.check_providers()
    assert check.status == WARNING
    assert "CUDA libraries are missing" in check.summary
    assert "libonnxruntime_providers_cuda.so" in check.summary
    assert "cuDNN" in check.advice


def test_providers_say_which_runtime_package_is_installed_and_refuse_both(monkeypatch):
    check = doctor_checks.check_providers()
    assert check.details["package"] in ("onnxruntime", "onnxruntime-gpu")
    real_version = importlib.metadata.version

    def both_installed(name: str) -> str:
        if name in ("onnxruntime", "onnxruntime-gpu"):
            return "1.31.1"
        return real_version(name)

    monkeypatch.setattr(doctor_checks.importlib.metadata, "version", both_installed)
    check = doctor_checks.check_providers()
    assert check.status == PROBLEM and "both onnxruntime and onnxruntime-gpu" in check.summary
    assert "pip uninstall -y onnxruntime onnxruntime-gpu" in check.advice


def test_providers_report_a_broken_onnxruntime(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    check = doctor_checks.check_providers()
    assert check.status == PROBLEM
    assert "onnxruntime cannot be imported" in check.summary


# --- data folder ------------------------------------------------------------------------------


def test_data_folder_ok_reports_free_space(data_dir: Path):
    check = doctor_checks.check_data_folder(data_dir)
    assert check.status == OK
    assert check.details["free_bytes"] == shutil.disk_usage(data_dir).free
    assert str(data_dir) in check.summary


def test_data_folder_that_cannot_be_created(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    check = doctor_checks.check_data_folder(blocker / "data")
    assert check.status == PROBLEM
    assert "cannot be written" in check.summary
    assert "--data-dir" in check.advice


@pytest.mark.parametrize(
    ("free_bytes", "status"),
    [(10 * 2**20, PROBLEM), (1 * 2**30, WARNING), (50 * 2**30, OK)],
)
def test_data_folder_free_space_levels(data_dir: Path, monkeypatch, free_bytes, status):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor_checks.shutil, "disk_usage", lambda _: usage(2**40, 0, free_bytes))
    assert doctor_checks.check_data_folder(data_dir).status == status


# --- models -----------------------------------------------------------------------------------


def test_models_none_yet(data_dir: Path):
    check = doctor_checks.check_models(data_dir)
    assert check.status == WARNING
    assert "no ONNX model" in check.summary


def test_models_corrupt_file_is_a_problem(data_dir: Path):
    models = data_dir / "models"
    models.mkdir()
    (models / "broken.onnx").write_bytes(b"this is not an onnx file")
    check = doctor_checks.check_models(data_dir)
    assert check.status == PROBLEM
    assert "broken.onnx" in check.summary
    assert check.details["models"][0]["usable"] is False


# --- collections ------------------------------------------------------------------------------


def test_models_demo_model_is_flagged(data_dir: Path, tiny_onnx_model: Path):
    models = data_dir / "models"
    models.mkdir()
    shutil.copy2(tiny_onnx_model, models / "tiny.onnx")
    check = doctor_checks.check_models(data_dir)
    assert check.status == WARNING
    assert "demo" in check.summary
    (entry,) = check.details["models"]
    assert entry["usable"] is True and entry["random_init"] is True


def test_collections_none_yet(data_dir: Path):
    check = doctor_checks.check_collections(data_dir)
    assert check.status == OK
    assert check.details["collections"] == []


def test_collections_listed_and_a_missing_model_found(data_dir: Path, tiny_onnx_model: Path):
    from sciceapp.engine.library import Library

    model = data_dir / "tiny.onnx"
    shutil.copy2(tiny_onnx_model, model)
    Library(data_dir).create_collection("arezzo", model)
    check = doctor_checks.check_collections(data_dir)
    assert check.status == WARNING  # built with a random-weight model
    assert "arezzo" in check.summary and "demo, not accurate" in check.summary
    assert check.details["collections"][0]["indexed"] == 0

    model.unlink()
    check = doctor_checks.check_collections(data_dir)
    assert check.status == PROBLEM
    assert "arezzo" in check.summary and "missing" in check.summary


def test_collections_with_a_replaced_model(data_dir: Path, tiny_onnx_model: Path):
    from sciceapp.engine.library import Library

    model = data_dir / "tiny.onnx"
    shutil.copy2(tiny_onnx_model, model)
    Library(data_dir).create_collection("arezzo", model)
    with model.open("ab") as handle:  # same name, different file
        handle.write(b"\0")
    check = doctor_checks.check_collections(data_dir)
    assert check.status == PROBLEM
    assert "not the one collection 'arezzo' was built with" in check.summary


def test_collections_in_an_unreadable_catalogue(data_dir: Path):
    from sciceapp.engine.catalogue import FILE_NAME

    (data_dir / FILE_NAME).write_bytes(b"this is not a SQLite database" * 100)
    check = doctor_checks.check_collections(data_dir)
    assert check.status == PROBLEM
    assert "is damaged" in check.summary and ".recover" in check.summary


# --- map tiles --------------------------------------------------------------------------------


def test_first_tile_url_fills_the_template():
    template = "https://{s}.tile.example/{z}/{x}/{y}{r}.png"
    assert doctor_probes.first_tile_url(template) == "https://a.tile.example/0/0/0.png"


def test_tiles_reachable(tile_server):
    check = doctor_probes.check_tiles(tile_server())
    assert check.status == OK
    assert check.details["http_status"] == 200


def test_tiles_server_refusing_head_is_asked_with_get(tile_server):
    check = doctor_probes.check_tiles(tile_server(refuse_head=True))
    assert check.status == OK, check.summary


def test_tiles_not_found(tile_server):
    template = tile_server().replace("/tiles/", "/elsewhere/")
    check = doctor_probes.check_tiles(template)
    assert check.status == WARNING
    assert "HTTP 404" in check.summary
    assert "plain background" in check.advice


def test_tiles_server_down():
    with ThreadingHTTPServer(("127.0.0.1", 0), _TileHandler) as server:
        port = server.server_port  # bound, then closed: nothing listens there any more
    check = doctor_probes.check_tiles(f"http://127.0.0.1:{port}/{{z}}/{{x}}/{{y}}.png")
    assert check.status == WARNING
    assert "not reachable" in check.summary


def test_tiles_server_that_never_answers_times_out():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection in the kernel, never replies
    try:
        port = listener.getsockname()[1]
        check = doctor_probes.check_tiles(f"http://127.0.0.1:{port}/{{z}}/{{x}}/{{y}}.png", 0.3)
    finally:
        listener.close()
    assert check.status == WARNING
    assert "not reachable" in check.summary


def test_tiles_offline_and_local_folder(tmp_path: Path):
    assert doctor_probes.check_tiles(None).status == SKIPPED
    assert doctor_probes.check_tiles("").status == OK
    template = (
        (tmp_path / "{z}" / "{x}" / "{y}.png").as_uri().replace("%7B", "{").replace("%7D", "}")
    )
    assert doctor_probes.check_tiles(template).status == WARNING
    tile = tmp_path / "0" / "0" / "0.png"
    tile.parent.mkdir(parents=True)
    tile.write_bytes(PNG_BYTES)
    assert doctor_probes.check_tiles(template).status == OK
    assert doctor_probes.check_tiles("ftp://tiles.example/{z}/{x}/{y}.png").status == PROBLEM


# --- QtWebEngine ------------------------------------------------------------------------------


def _probe_env(**changes: str) -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", **changes}


@pytest.mark.gui
def test_webengine_starts_offscreen():
    command = doctor_command.webengine_probe_command()
    check = doctor_probes.check_webengine(command, timeout_s=120, env=_probe_env())
    assert check.status == OK, check.details
    assert check.details["chromium"] not in ("", "?")


@pytest.mark.gui
def test_webengine_that_cannot_start_is_a_problem():
    command = doctor_command.webengine_probe_command()
    env = _probe_env(QT_QPA_PLATFORM="no-such-platform")
    check = doctor_probes.check_webengine(command, timeout_s=120, env=env)
    assert check.status == PROBLEM
    assert "does not start" in check.summary
    assert check.details["returncode"] != 0


def test_webengine_probe_that_hangs_is_stopped():
    hang = [sys.executable, "-c", "import threading; threading.Event().wait()"]
    check = doctor_probes.check_webengine(hang, timeout_s=1)
    assert check.status == PROBLEM
    assert "within 1 s" in check.summary


# --- the command ------------------------------------------------------------------------------


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
