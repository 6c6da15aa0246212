"""The doctor's map tile check: whether the configured tile source (a server, within a
bounded time, or a local tile folder) gives the map its tiles."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from sciceapp import __version__
from sciceapp.commands.doctor.report import OK, PROBLEM, SKIPPED, WARNING, Check

TILE_TIMEOUT_S = 3.0
# Placeholders of a Leaflet tile URL template, filled with the one tile that always exists.
TILE_PLACEHOLDERS = {"{s}": "a", "{z}": "0", "{x}": "0", "{y}": "0", "{r}": ""}
USER_AGENT = f"sciceapp/{__version__} (doctor)"


def first_tile_url(template: str) -> str:
    """The URL of tile 0/0/0 of a Leaflet tile template (``https://.../{z}/{x}/{y}.png``)."""
    for placeholder, value in TILE_PLACEHOLDERS.items():
        template = template.replace(placeholder, value)
    return template


def _fetch_status(url: str, timeout_s: float) -> int:
    """HTTP status of ``url``: HEAD first, a one-byte GET when the server refuses HEAD."""
    headers = {"User-Agent": USER_AGENT}
    for method, extra in (("HEAD", {}), ("GET", {"Range": "bytes=0-0"})):
        request = urllib.request.Request(url, method=method, headers={**headers, **extra})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            if method == "HEAD" and exc.code in (403, 405, 501):
                continue
            return int(exc.code)
    raise AssertionError("unreachable")


def check_tiles(template: str | None, timeout_s: float = TILE_TIMEOUT_S) -> Check:
    """Whether the configured map tile source answers. ``None`` means the check is skipped;
    an empty template means the user chose an offline map."""
    advice = (
        "Without tiles the map still shows the photos on a plain background. Check the "
        "network or proxy, or set another tile URL (or none) in the settings."
    )
    if template is None:
        return Check("map tiles", SKIPPED, "not checked (offline)")
    if not template.strip():
        return Check("map tiles", OK, "offline map chosen: photos on a plain background")
    url = first_tile_url(template)
    details: dict[str, Any] = {"template": template, "url": url}
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file" or not parsed.scheme:
        folder = Path(urllib.request.url2pathname(parsed.path)).parent
        if Path(urllib.request.url2pathname(parsed.path)).is_file():
            return Check("map tiles", OK, f"local tiles in {folder}", details=details)
        return Check("map tiles", WARNING, f"no local tile at {url}", advice, details)
    if parsed.scheme not in ("http", "https"):
        return Check("map tiles", PROBLEM, f"unsupported tile URL {template!r}", advice, details)
    try:
        status = _fetch_status(url, timeout_s)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check(
            "map tiles", WARNING, f"{parsed.netloc} not reachable: {reason}", advice, details
        )
    details["http_status"] = status
    if 200 <= status < 300:
        return Check("map tiles", OK, f"{parsed.netloc} answers (HTTP {status})", details=details)
    return Check("map tiles", WARNING, f"{parsed.netloc} answers HTTP {status}", advice, details)
