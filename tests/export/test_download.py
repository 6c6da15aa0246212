"""The resumable download against a threaded HTTP server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sciceapp.engine.download import download, part_path
from sciceapp.errors import CancelledError, DownloadError, ModelError
from sciceapp.progress import CancelToken

PAYLOAD = os.urandom(300_000)
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class ServerState:
    """What the handler serves and what it saw."""

    cut_after_bytes: int | None = None  # send full headers, then drop the connection here
    honour_range: bool = True
    always_416: bool = False  # every range request: 416 "bytes */<full size>"
    range_from_zero: bool = False  # a range request gets 206 with bytes 0-..., not the one asked
    no_length: bool = False  # no Content-Length: the body ends when the connection closes
    web_page: bool = False  # 200 with an HTML error page
    body: bytes = PAYLOAD
    ranges: list[str | None] = field(default_factory=list)


class Handler(http.server.BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        if self.path != "/weights.pth":
            self.send_error(404, "Not Found")
            return
        state, payload = self.state, self.state.body
        if state.web_page:
            page = b"<html><body>Quota exceeded, sign in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        header = self.headers.get("Range")
        state.ranges.append(header)
        start = 0
        if header and state.honour_range:
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= len(payload) or state.always_416:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(payload)}")
                self.end_headers()
                return
            if state.range_from_zero:
                start = 0
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        else:
            self.send_response(200)
        body = payload[start:]
        if not state.no_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.state.cut_after_bytes
        if cut is not None:
            self.state.cut_after_bytes = None  # only the first transfer is cut off
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture()
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState()
    handler = type("BoundHandler", (Handler,), {"state": state})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_download_verifies_and_reports_progress(server, tmp_path: Path):
    url, _ = server
    seen: list[tuple[int, int | None]] = []
    dest = download(
        f"{url}/weights.pth",
        tmp_path / "w.pth",
        sha256=PAYLOAD_SHA256,
        size=len(PAYLOAD),
        progress=lambda done, total, msg="": seen.append((done, total)),
    )
    assert dest.read_bytes() == PAYLOAD
    assert not part_path(dest).exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_cut_off_transfer_resumes_with_a_range_request(server, tmp_path: Path):
    url, state = server
    state.cut_after_bytes = 100_000
    dest = tmp_path / "w.pth"
    with pytest.raises(DownloadError, match="stopped after 100000 of 300000 bytes"):
        download(f"{url}/weights.pth", dest, sha256=PAYLOAD_SHA256)
    assert not dest.exists()
    assert part_path(dest).read_bytes() == PAYLOAD[:100_000]

    download(f"{url}/weights.pth", dest, sha256=PAYLOAD_SHA256)
    assert state.ranges == [None, "bytes=100000-"]
    assert dest.read_bytes() == PAYLOAD
    assert not part_path(dest).exists()


# Issue 11, item 3: no wrong file is ever accepted as complete.
def test_416_after_a_cut_off_is_not_taken_as_complete(server, tmp_path: Path):
    url, state = server
    state.cut_after_bytes, state.always_416 = 100_000, True
    dest = tmp_path / "w.pth"
    with pytest.raises(DownloadError, match="stopped after"):
        download(f"{url}/weights.pth", dest)
    download(f"{url}/weights.pth", dest)  # the 416 disowns the part: fetched again from zero
    assert state.ranges == [None, "bytes=100000-", None]
    assert dest.read_bytes() == PAYLOAD


def test_206_with_another_range_is_never_appended(server, tmp_path: Path):
    url, state = server
    state.cut_after_bytes, state.range_from_zero = 100_000, True
    dest = tmp_path / "w.pth"
    with pytest.raises(DownloadError, match="stopped after"):
        download(f"{url}/weights.pth", dest)
    download(f"{url}/weights.pth", dest)
    assert dest.read_bytes() == PAYLOAD  # not PAYLOAD[:100000] + PAYLOAD
    assert state.ranges[:2] == [None, "bytes=100000-"]


def test_a_short_body_without_content_length_is_not_accepted(server, tmp_path: Path):
    url, state = server
    state.no_length, state.cut_after_bytes = True, 100_000
    dest = tmp_path / "w.pth"
    with pytest.raises(DownloadError, match="did not say how large"):
        download(f"{url}/weights.pth", dest)
    assert not dest.exists() and not part_path(dest).exists()
    # with a content check (what `model fetch` always gives), the check decides
    state.cut_after_bytes = 100_000

    def whole_payload(path: Path) -> None:
        if path.read_bytes() != PAYLOAD:
            raise ModelError("it is truncated.")

    with pytest.raises(DownloadError, match="truncated"):
        download(f"{url}/weights.pth", dest, check=whole_payload)
    assert not dest.exists() and not part_path(dest).exists()
    download(f"{url}/weights.pth", dest, check=whole_payload)
    assert dest.read_bytes() == PAYLOAD


def test_an_html_error_page_is_not_saved(server, tmp_path: Path):
    url, state = server
    state.web_page = True
    dest = tmp_path / "w.pth"
    with pytest.raises(DownloadError, match="web page"):
        download(f"{url}/weights.pth", dest, size=None)
    assert not dest.exists() and not part_path(dest).exists()


def test_a_bad_file_at_the_final_name_is_checked_and_replaced(server, tmp_path: Path):
    url, state = server
    dest = tmp_path / "w.pth"
    dest.write_bytes(b"<html>an old error page</html>")

    def is_payload(path: Path) -> None:
        if path.read_bytes() != PAYLOAD:
            raise ModelError("not the weights.")

    download(f"{url}/weights.pth", dest, check=is_payload)
    assert dest.read_bytes() == PAYLOAD
    assert state.ranges == [None]
    download(f"{url}/weights.pth", dest, check=is_payload)  # a good one is kept, not refetched
    assert state.ranges == [None]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path: Path):
    url, state = server
    state.honour_range = False
    dest = tmp_path / "w.pth"
    part_path(dest).write_bytes(b"stale bytes from another file")
    download(f"{url}/weights.pth", dest, sha256=PAYLOAD_SHA256)
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_without_refetching(server, tmp_path: Path):
    url, state = server
    dest = tmp_path / "w.pth"
    part_path(dest).write_bytes(PAYLOAD)
    download(f"{url}/weights.pth", dest, sha256=PAYLOAD_SHA256)
    assert state.ranges == [f"bytes={len(PAYLOAD)}-"]
    assert dest.read_bytes() == PAYLOAD


def test_hash_mismatch_deletes_the_download(server, tmp_path: Path):
    url, _ = server
    dest = tmp_path / "w.pth"
    with pytest.raises(DownloadError, match="SHA-256"):
        download(f"{url}/weights.pth", dest, sha256="0" * 64)
    assert not dest.exists()
    assert not part_path(dest).exists()


def test_wrong_size_is_refused(server, tmp_path: Path):
    url, _ = server
    with pytest.raises(DownloadError, match="different file"):
        download(f"{url}/weights.pth", tmp_path / "w.pth", size=len(PAYLOAD) + 1)
    assert not (tmp_path / "w.pth").exists()


def test_http_404_is_a_clear_error(server, tmp_path: Path):
    url, _ = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{url}/missing.pth", tmp_path / "w.pth")
    assert not (tmp_path / "w.pth").exists()


def test_unreachable_server_is_a_clear_error(tmp_path: Path):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="Could not reach"):
        download(f"http://127.0.0.1:{port}/w.pth", tmp_path / "w.pth", timeout_s=5)


def test_cancel_keeps_the_partial_file(server, tmp_path: Path, monkeypatch):
    url, _ = server
    monkeypatch.setattr("sciceapp.engine.download.CHUNK_BYTES", 64 * 1024)
    token = CancelToken()
    dest = tmp_path / "w.pth"

    def cancel_after_first_block(done: int, total: int | None, message: str = "") -> None:
        token.cancel()

    with pytest.raises(CancelledError):
        download(f"{url}/weights.pth", dest, progress=cancel_after_first_block, cancel=token)
    assert not dest.exists()
    assert 0 < part_path(dest).stat().st_size < len(PAYLOAD)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_full_disk_is_a_clear_error(server, tmp_path: Path):
    url, _ = server
    dest = tmp_path / "w.pth"
    part_path(dest).symlink_to("/dev/full")  # every write there fails with ENOSPC
    with pytest.raises(DownloadError, match="disk .* is full"):
        download(f"{url}/weights.pth", dest)
    assert not dest.exists()


@pytest.fixture(scope="module")
def small_backbone(tmp_path_factory) -> bytes:
    """A random-weight dinov2_vits14 file in the official layout, as bytes."""
    from official_files import official_backbone_state, save_torch

    path = tmp_path_factory.mktemp("vits14") / "dinov2_vits14_pretrain.pth"
    return save_torch(official_backbone_state("dinov2_vits14"), path).read_bytes()


def test_model_fetch_command_downloads_into_the_model_folder(
    server, data_dir: Path, capsys, small_backbone: bytes
):
    from sciceapp.cli import main

    url, state = server
    state.body = small_backbone
    code = main(["model", "fetch", "dinov2_vits14", "--url", f"{url}/weights.pth", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["event"] == "done"
    saved = data_dir / "models" / "dinov2_vits14_pretrain.pth"
    assert events[-1]["path"] == str(saved)
    assert saved.read_bytes() == small_backbone
    assert any(e["event"] == "progress" and e["done"] == len(small_backbone) for e in events)
    # the local manifest entry: what was accepted, so later checks can compare
    record = json.loads((data_dir / "models" / "dinov2_vits14_pretrain.pth.json").read_text())
    assert record["size_bytes"] == len(small_backbone)
    assert record["sha256"] == hashlib.sha256(small_backbone).hexdigest()
    assert record["url"] == f"{url}/weights.pth"


def test_model_fetch_refuses_what_is_not_the_named_backbone(
    server, data_dir: Path, capsys, small_backbone: bytes
):
    from sciceapp.cli import main

    url, state = server
    saved = data_dir / "models" / "dinov2_vitb14_pretrain.pth"
    for body, words in [(PAYLOAD, "not a readable PyTorch checkpoint"),
                        (small_backbone, "wrong shape")]:  # fmt: skip
        state.body = body
        assert main(["model", "fetch", "dinov2_vitb14", "--url", f"{url}/weights.pth"]) == 2
        assert words in capsys.readouterr().err
        assert not saved.exists() and not part_path(saved).exists()


def test_model_fetch_replaces_a_bad_file_at_the_final_name(
    server, data_dir: Path, capsys, small_backbone: bytes
):
    from sciceapp.cli import main

    url, state = server
    state.body = small_backbone
    saved = data_dir / "models" / "dinov2_vits14_pretrain.pth"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_bytes(b"<html><body>502 Bad Gateway</body></html>")
    assert main(["model", "fetch", "dinov2_vits14", "--url", f"{url}/weights.pth"]) == 0
    assert saved.read_bytes() == small_backbone
    assert state.ranges == [None]


def test_model_fetch_command_reports_http_errors_and_unknown_names(server, capsys):
    from sciceapp.cli import main

    url, _ = server
    assert main(["model", "fetch", "dinov2_vitb14", "--url", f"{url}/nope.pth"]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert main(["model", "fetch", "tiny"]) == 2  # no backbone to download
    assert "dinov2_vitb14" in capsys.readouterr().err
