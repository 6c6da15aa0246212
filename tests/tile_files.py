"""Tile files made at test time (shared by the engine and GUI tests)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def make_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], fmt: str = "png") -> Path:
    """An MBTiles file with ``tiles`` given in XYZ numbering (stored as TMS rows)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute(
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
        "tile_data BLOB)"
    )
    db.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "test"), ("format", fmt)])
    db.executemany(
        "INSERT INTO tiles VALUES (?, ?, ?, ?)",
        [(z, x, 2**z - 1 - y, data) for (z, x, y), data in tiles.items()],
    )
    db.commit()
    db.close()
    return path


class TileServer:
    """An HTTP tile server on 127.0.0.1 for tests: every ``/z/x/y.png`` is ``tile`` (bytes),
    sent with ``headers``; it records each request's path and headers, and answers 304 to a
    request whose If-None-Match is its ETag. ``stop()`` takes it off the network."""

    def __init__(self, tile: bytes, headers: dict[str, str] | None = None) -> None:
        import http.server
        import threading

        self.tile = tile
        self.headers = dict(headers or {})
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests.append((self.path, dict(self.headers.items())))
                etag = server.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    for name in ("Cache-Control", "Expires"):
                        if name in server.headers:
                            self.send_header(name, server.headers[name])
                    self.end_headers()
                    return
                if not self.path.endswith(".png"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(server.tile)))
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(server.tile)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self.port}/{{z}}/{{x}}/{{y}}.png"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> TileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.stop()
