"""Fixtures of the doctor's tests: a map tile server on 127.0.0.1."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest
from local_tile_server import TileHandler


@pytest.fixture
def tile_server():
    """A tile server on 127.0.0.1; yields a function making a template for its /tiles."""
    servers = []

    def start(refuse_head: bool = False) -> str:
        handler = type("Handler", (TileHandler,), {"refuse_head": refuse_head})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/tiles/{{z}}/{{x}}/{{y}}.png"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
