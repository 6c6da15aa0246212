"""The first-run dialog's first choice and the Models dialog's first button get a real model:
download (from a server on 127.0.0.1 standing in for the official one), build, adopt."""

from __future__ import annotations

import http.server
import sys
import threading
from pathlib import Path

import pytest
from ui_helpers import WAIT_MS, make_window

from sciceapp.engine.onnx_model import read_model_info
from sciceapp.ui.model_dialog import ModelDialog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from local_server import serve_folder  # noqa: E402
from official_files import official_backbone_state, save_torch  # noqa: E402

GET_TIMEOUT_MS = 480_000


@pytest.fixture(scope="module")
def backbone_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mirror")
    save_torch(
        official_backbone_state("dinov2_vits14", seed=2), folder / "dinov2_vits14_pretrain.pth"
    )
    return folder


@pytest.mark.slow
def test_first_run_gets_a_real_model_that_makes_a_usable_collection(
    qtbot, data_dir: Path, settings_store, backbone_folder: Path, monkeypatch, exif_samples
):
    from sciceapp.engine.library import Library
    from sciceapp.ui import first_run

    monkeypatch.setattr(first_run, "REAL_MODEL", "dinov2-gem-s")  # a quarter of the B download
    window = make_window(qtbot, data_dir, settings_store, first_run_check=True)
    with qtbot.waitSignal(window.indexing.state_loaded, timeout=WAIT_MS):
        window.show()
    dialog = window.first_run_dialog
    buttons = dialog.findChildren(type(dialog.get_button))
    assert "Get a real model" in dialog.get_button.text() and dialog.get_button.isDefault()
    assert "demo, not accurate" in dialog.demo_button.text()
    assert buttons.index(dialog.get_button) < buttons.index(dialog.demo_button)
    with serve_folder(backbone_folder) as url:
        monkeypatch.setenv("SCICEAPP_WEIGHTS_MIRROR", url)
        dialog.get_button.click()
        models = dialog.models_dialog
        texts: list[str] = []
        models.builder.exporter.progress.connect(
            lambda *a: texts.append(models.builder.progress.format())
        )
        with qtbot.waitSignal(models.builder.exporter.succeeded, timeout=GET_TIMEOUT_MS) as done:
            assert models.builder.cancel_button.isEnabled() and not models.get_button.isEnabled()
    built = Path(done.args[0])
    assert built.parent == data_dir / "models"
    info = read_model_info(built)
    assert (info.variant, info.random_init, info.precision) == ("dinov2-gem-s", False, "int8")
    assert window.settings.model_path == str(built)  # adopted for new collections
    assert any(" MB" in text for text in texts)  # bytes shown while downloading
    assert (data_dir / "models" / "dinov2_vits14_pretrain.pth.json").is_file()
    # usable: a collection built with it finds a photo of its own first
    collection = Library(data_dir).create_collection("real", built)
    report = collection.add([exif_samples / "gps"])
    assert report.added > 0
    photo = collection.photos()[0]
    from sciceapp.engine.locate import locate

    (result,) = locate(collection, [Path(photo.path)], top_k=3)
    assert Path(result.matches[0].path) == Path(photo.path)
    models.close()
    window.close()


class _Stalls(http.server.BaseHTTPRequestHandler):
    """Sends the headers and 1 MB of a 100 MB file, then waits until the test ends."""

    release = threading.Event()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(100 << 20))
        self.end_headers()
        self.wfile.write(b"\0" * (1 << 20))
        self.wfile.flush()
        self.release.wait(60)


def test_cancelling_a_model_get_leaves_nothing_behind(qtbot, window, data_dir: Path, monkeypatch):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stalls)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("SCICEAPP_WEIGHTS_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}")
        dialog = ModelDialog.show_for(window)
        seen: list[str] = []
        dialog.builder.exporter.progress.connect(lambda done, total, message: seen.append(message))
        with qtbot.waitSignal(dialog.builder.exporter.failed, timeout=60_000) as failed:
            dialog.get_real_model("dinov2-gem-s")
            qtbot.waitUntil(lambda: any(m.endswith("(bytes)") for m in seen), timeout=60_000)
            dialog.builder.cancel_button.click()
        assert failed.args == ["Export cancelled."]
        assert not dialog.builder.exporter.is_running()
        left = sorted(p.name for p in (data_dir / "models").iterdir())
        assert left == [], left  # no model, no work folder, no part of the download
        assert dialog.get_button.isEnabled()
        dialog.close()
    finally:
        _Stalls.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()
