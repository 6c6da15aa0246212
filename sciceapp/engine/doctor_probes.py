"""The probes of `sciceapp doctor` that reach outside the process, each in a bounded time:
the map tile server and QtWebEngine (started in a child process, since the engine never
imports Qt)."""

from __future__ import annotations

import json
import logging
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from sciceapp import __version__
from sciceapp.engine.doctor import OK, PROBLEM, SKIPPED, WARNING, Check

log = logging.getLogger(__name__)

TILE_TIMEOUT_S = 3.0
WEBENGINE_TIMEOUT_S = 60.0
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


def check_webengine(
    command: list[str], timeout_s: float = WEBENGINE_TIMEOUT_S, env: dict[str, str] | None = None
) -> Check:
    """Run the QtWebEngine probe ``command`` (it loads a tiny page offscreen and prints one
    JSON line with ``ok``) and report what happened, within ``timeout_s``."""
    advice = (
        "The map view needs QtWebEngine: reinstall PySide6 (or the packaged app); on Linux "
        "install the system libraries it names (libnss3, libxkbfile1, libxcomposite1, ...)."
    )
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return Check(
            "QtWebEngine",
            PROBLEM,
            f"did not load a page within {timeout_s:.0f} s",
            advice,
            {"command": command},
        )
    except OSError as exc:
        return Check("QtWebEngine", PROBLEM, f"probe could not start: {exc}", advice)
    report: dict[str, Any] = {}
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            try:
                report = json.loads(line)
            except ValueError:
                continue
            break
    details = {"returncode": result.returncode, **report}
    if result.returncode == 0 and report.get("ok"):
        versions = f"Chromium {report.get('chromium', '?')}, Qt {report.get('qt', '?')}"
        return Check("QtWebEngine", OK, f"starts and renders a page ({versions})", details=details)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    reason = report.get("error") or (lines[-1] if lines else f"exit status {result.returncode}")
    details["stderr_tail"] = lines[-20:]
    return Check("QtWebEngine", PROBLEM, f"does not start: {reason}", advice, details)
