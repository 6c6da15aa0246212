"""Resumable HTTP(S) downloads with size and SHA-256 checks (standard library only).

Bytes arrive in ``<dest>.part``; an interrupted transfer leaves that file behind and the next
call asks the server for the rest (HTTP ``Range``). Only a complete, verified file is renamed
to ``dest``, so a half download never carries the final name. Used by ``sciceapp model fetch``
and by the GUI.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sciceapp import __version__
from sciceapp.atomic import is_disk_full, replace_atomic
from sciceapp.errors import DownloadError, ModelError
from sciceapp.progress import CancelToken, ProgressFn

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 30.0
USER_AGENT = f"sciceapp/{__version__}"
WEB_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex SHA-256 of a file, read in chunks (model files are hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def part_path(dest: Path) -> Path:
    """Where the bytes of an unfinished download of ``dest`` are kept."""
    return dest.with_name(dest.name + ".part")


Check = Callable[[Path], None]


def download(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    size: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    timeout_s: float = TIMEOUT_S,
    check: Check | None = None,
) -> Path:
    """Fetch ``url`` into ``dest``, resuming ``dest.part`` if an earlier try was cut off.

    The file is complete only when its size is the one the server announced (or, for a
    server that announces none, the chunked body ended properly), a resumed part continues
    exactly where the part ended, and it passes ``size`` / ``sha256`` when given and
    ``check(path)`` (which raises ``ModelError`` for a file that is not what it claims to be:
    an HTML error page, a truncated archive, another network's weights). What fails is deleted
    (its bytes cannot be trusted) with a ``DownloadError``. A file already at ``dest`` is kept
    only if it passes the same checks; otherwise it is deleted and fetched again. Cancelling
    raises ``CancelledError`` and keeps the partial file for a later resume.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        if _matches(dest, sha256, size) and _passes(check, dest, url, delete=False):
            log.info("%s is already complete", dest)
            return dest
        log.warning("%s is not the expected file; deleting it and downloading again", dest)
        dest.unlink()
    part = part_path(dest)
    try:
        complete = _transfer(url, part, size, progress, cancel, timeout_s)
    except OSError as exc:
        if is_disk_full(exc):
            raise DownloadError(
                f"The disk holding {dest.parent} is full. Free some space and run the same "
                "command again: the download resumes where it stopped."
            ) from exc
        raise
    if not complete and sha256 is None and check is None:
        part.unlink()
        raise DownloadError(
            f"The server of {url} did not say how large the file is, so a cut-off transfer "
            "cannot be told from a complete one; the file was deleted. Try a mirror (--url)."
        )
    _verify(part, url, sha256, size)
    _passes(check, part, url, delete=True)
    replace_atomic(part, dest)
    return dest


def _passes(check: Check | None, path: Path, url: str, *, delete: bool) -> bool:
    """Run ``check``; a failed check deletes ``path`` (``delete``) with a ``DownloadError``."""
    if check is None:
        return True
    try:
        check(path)
    except ModelError as exc:
        if not delete:
            log.warning("%s", exc)
            return False
        path.unlink(missing_ok=True)
        raise DownloadError(
            f"What {url} sent is not the expected file: {exc} It was deleted. Check the "
            "address (or the mirror) and run the command again."
        ) from None
    return True


def _transfer(
    url: str,
    part: Path,
    size: int | None,
    progress: ProgressFn | None,
    cancel: CancelToken | None,
    timeout_s: float,
) -> bool:
    """Append the missing bytes of ``url`` to ``part``. True when the part is known complete
    (its size is the server's, or a chunked body ended properly); False when the server gave
    no way to tell."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    for _attempt in range(2):  # a part the server disowns is fetched once more from zero
        outcome = _transfer_once(url, part, have, size, progress, cancel, timeout_s)
        if outcome is not None:
            return outcome
        log.warning("the server does not continue %s where it stopped; starting again", url)
        part.unlink(missing_ok=True)
        have = 0
    raise DownloadError(f"The server of {url} answers range requests wrongly. Try a mirror.")


def _transfer_once(
    url: str,
    part: Path,
    have: int,
    size: int | None,
    progress: ProgressFn | None,
    cancel: CancelToken | None,
    timeout_s: float,
) -> bool | None:
    """One request. None when the server's answer cannot continue ``part`` (start again)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # Nothing past what we hold: complete only if the server's size is exactly ours.
            total = _range_total(exc.headers.get("Content-Range", ""))
            return True if total == have and size in (None, have) else None
        raise DownloadError(
            f"The server answered HTTP {exc.code} ({exc.reason}) for {url}. Check the address "
            "or try again later."
        ) from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"Could not reach {url} ({reason}). Check the network connection (or use --url "
            "with a mirror, or copy the file into the model folder yourself)."
        ) from exc
    with response:
        kind = response.headers.get_content_type()
        if kind in WEB_PAGE_TYPES:
            raise DownloadError(
                f"{url} sent a web page ({kind}) instead of the file: an error or sign-in "
                "page of the server. Check the address; nothing was saved."
            )
        if have and response.status == 206:
            start = _range_start(response.headers.get("Content-Range", ""))
            if start != have:
                return None  # another range than the one asked for: never appended
        elif have:
            log.info("server ignored the range request; starting %s again", url)
            have = 0
        expected_total = _expected_total(response, have)
        if size is not None and expected_total is not None and expected_total != size:
            raise DownloadError(
                f"{url} is {expected_total} bytes but {size} were expected: the address "
                "points to a different file. Check the address."
            )
        total = size if size is not None else expected_total
        _copy_body(response, part, have, total, url, progress, cancel)
        return expected_total is not None or bool(getattr(response, "chunked", False))


def _range_start(content_range: str) -> int | None:
    """The first byte of ``bytes START-END/TOTAL``; None if the header is not of that form."""
    unit, _, spec = content_range.strip().partition(" ")
    first = spec.split("-", 1)[0]
    return int(first) if unit == "bytes" and first.isdigit() else None


def _range_total(content_range: str) -> int | None:
    tail = content_range.rsplit("/", 1)[-1].strip() if "/" in content_range else ""
    return int(tail) if tail.isdigit() else None


def _expected_total(response: http.client.HTTPResponse, have: int) -> int | None:
    """The full file size from the response headers, if the server says."""
    if response.status == 206:
        return _range_total(response.headers.get("Content-Range", ""))
    length = response.headers.get("Content-Length")
    if length and length.isdigit():
        return have + int(length)
    return None


def _copy_body(
    response: http.client.HTTPResponse,
    part: Path,
    have: int,
    total: int | None,
    url: str,
    progress: ProgressFn | None,
    cancel: CancelToken | None,
) -> None:
    done = have
    with open(part, "ab" if have else "wb") as out:
        while True:
            if cancel is not None:
                cancel.raise_if_cancelled()
            try:
                block = response.read(CHUNK_BYTES)
            except (http.client.IncompleteRead, TimeoutError, ConnectionError) as exc:
                raise _cut_off(url, done, total) from exc
            if not block:
                break
            out.write(block)
            done += len(block)
            if progress is not None:
                progress(done, total, part.name)
    if total is not None and done < total:
        raise _cut_off(url, done, total)


def _cut_off(url: str, done: int, total: int | None) -> DownloadError:
    of_total = f" of {total}" if total is not None else ""
    return DownloadError(
        f"The transfer of {url} stopped after {done}{of_total} bytes. Run the same command "
        "again: it resumes from there."
    )


def _verify(part: Path, url: str, sha256: str | None, size: int | None) -> None:
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        part.unlink()
        raise DownloadError(
            f"{url} gave {actual_size} bytes instead of {size}; the partial file was deleted. "
            "Run the command again; if it keeps failing the address serves a different file."
        )
    if sha256 is not None:
        actual = sha256_file(part)
        if actual.lower() != sha256.lower():
            part.unlink()
            raise DownloadError(
                f"The file from {url} is damaged or not the expected one (SHA-256 {actual}, "
                f"expected {sha256}); it was deleted. Run the command again."
            )


def _matches(path: Path, sha256: str | None, size: int | None) -> bool:
    if size is not None and path.stat().st_size != size:
        return False
    return sha256 is None or sha256_file(path).lower() == sha256.lower()
