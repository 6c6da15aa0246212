"""A map tile server on 127.0.0.1 for the doctor's tests: it serves tile 0/0/0."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

TILE_PATH = "/tiles/0/0/0.png"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


class TileHandler(BaseHTTPRequestHandler):
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
