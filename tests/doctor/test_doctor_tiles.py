"""The doctor's map tile check against a tile server on 127.0.0.1, a server that is down or
never answers, an offline map and a local tile folder."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from local_tile_server import PNG_BYTES

from sciceapp.commands.doctor import tiles
from sciceapp.commands.doctor.report import OK, PROBLEM, SKIPPED, WARNING


def test_first_tile_url_fills_the_template():
    template = "https://{s}.tile.example/{z}/{x}/{y}{r}.png"
    assert tiles.first_tile_url(template) == "https://a.tile.example/0/0/0.png"


def test_tiles_reachable(tile_server):
    check = tiles.check_tiles(tile_server())
    assert check.status == OK
    assert check.details["http_status"] == 200


def test_tiles_server_refusing_head_is_asked_with_get(tile_server):
    check = tiles.check_tiles(tile_server(refuse_head=True))
    assert check.status == OK, check.summary


def test_tiles_not_found(tile_server):
    template = tile_server().replace("/tiles/", "/elsewhere/")
    check = tiles.check_tiles(template)
    assert check.status == WARNING
    assert "HTTP 404" in check.summary
    assert "plain background" in check.advice


def test_tiles_server_down():
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as server:
        port = server.server_port  # bound, then closed: nothing listens there any more
    check = tiles.check_tiles(f"http://127.0.0.1:{port}/{{z}}/{{x}}/{{y}}.png")
    assert check.status == WARNING
    assert "not reachable" in check.summary


def test_tiles_server_that_never_answers_times_out():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection in the kernel, never replies
    try:
        port = listener.getsockname()[1]
        check = tiles.check_tiles(f"http://127.0.0.1:{port}/{{z}}/{{x}}/{{y}}.png", 0.3)
    finally:
        listener.close()
    assert check.status == WARNING
    assert "not reachable" in check.summary


def test_tiles_offline_and_local_folder(tmp_path: Path):
    assert tiles.check_tiles(None).status == SKIPPED
    assert tiles.check_tiles("").status == OK
    template = (
        (tmp_path / "{z}" / "{x}" / "{y}.png").as_uri().replace("%7B", "{").replace("%7D", "}")
    )
    assert tiles.check_tiles(template).status == WARNING
    tile = tmp_path / "0" / "0" / "0.png"
    tile.parent.mkdir(parents=True)
    tile.write_bytes(PNG_BYTES)
    assert tiles.check_tiles(template).status == OK
    assert tiles.check_tiles("ftp://tiles.example/{z}/{x}/{y}.png").status == PROBLEM
