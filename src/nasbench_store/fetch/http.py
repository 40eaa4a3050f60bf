"""Resumable HTTP(S) download into a `.part` file: Range when the server honours it, restart when not.

The ETag (or Last-Modified) of the first response is kept in `<part>.validator` and sent as
If-Range on resume, so bytes of a file that changed upstream are never spliced onto older ones.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import requests

from ..progress import Progress, human_bytes
from .errors import DownloadError, TransientError
from .options import FetchOptions

log = logging.getLogger("nasbench_store.fetch")

NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
RETRYABLE_STATUS = {408, 425, 429}


def download(url: str, part: Path, options: FetchOptions, progress: Progress) -> None:
    """Make `part` hold the complete body of `url`, retrying transient failures with backoff.

    Bytes already in `part` (from an earlier attempt or an earlier run) are kept and continued.
    Raises DownloadError for a permanent failure or when the retries are used up.
    """
    with requests.Session() as session:
        attempt = 0
        while True:
            try:
                _transfer(session, url, part, options, progress)
                _validator_file(part).unlink(missing_ok=True)
                return
            except TransientError as e:
                attempt += 1
                if attempt > options.retries:
                    raise DownloadError(f"{url}: {e} (gave up after {options.retries} retries)") from e
                delay = options.delay(attempt)
                have = part.stat().st_size if part.exists() else 0
                log.warning("%s: %s; retry %d/%d in %.1fs, keeping %s in %s",
                            url, e, attempt, options.retries, delay, human_bytes(have), part.name)
                time.sleep(delay)
            finally:
                progress.close()


def _transfer(session: requests.Session, url: str, part: Path, options: FetchOptions, progress: Progress) -> None:
    offset = part.stat().st_size if part.exists() else 0
    # identity: byte offsets must count the bytes on disk, not a transparently decoded stream
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = _validator_file(part)
        if validator.exists():
            # If the remote file changed since these bytes came, the server sends all of it (200).
            headers["If-Range"] = validator.read_text()
    try:
        response = session.get(url, headers=headers, stream=True,
                               timeout=(options.connect_timeout, options.read_timeout))
    except NETWORK_ERRORS as e:
        raise TransientError(_describe(e)) from e
    with response:
        total, mode = _plan(response, url, part, offset)
        if total is not None and total == offset and mode == "ab":
            return
        start = offset if mode == "ab" else 0
        if mode == "wb":
            _remember_validator(response, part)
        progress.start(total, start)
        written = start
        try:
            with open(part, mode) as out:
                for chunk in response.iter_content(chunk_size=options.chunk_size):
                    out.write(chunk)
                    written += len(chunk)
                    progress.update(written)
        except NETWORK_ERRORS as e:
            raise TransientError(f"{_describe(e)} after {human_bytes(written)}") from e
    if total is not None and written != total:
        raise TransientError(f"connection closed at byte {written} of {total}")


def _plan(response: requests.Response, url: str, part: Path, offset: int) -> tuple[int | None, str]:
    """(expected total size, file mode) for this response, or an error for statuses we cannot use."""
    status = response.status_code
    if status == 206 and offset:
        start, total = _content_range(response, part)
        if start != offset:
            raise _restart(part, f"server resumed at byte {start}, not {offset}")
        return total, "ab"
    if status == 200:
        if offset:
            log.warning("%s: server sent the whole file instead of resuming at byte %d (it ignores Range, or "
                        "the file changed upstream); restarting %s from byte 0", url, offset, part.name)
        length = response.headers.get("Content-Length")
        return (int(length) if length and length.isdigit() else None), "wb"
    if status == 416 and offset:
        # Our .part is as long as (or longer than) the remote file: complete, or junk to discard.
        total = _content_range(response, part)[1]
        if total == offset:
            return total, "ab"
        raise _restart(part, f"server refused Range at byte {offset} (file is {total} bytes)")
    reason = f"HTTP {status} {response.reason or ''}".strip()
    if status >= 500 or status in RETRYABLE_STATUS:
        raise TransientError(reason)
    raise DownloadError(f"{url}: {reason}")


def _content_range(response: requests.Response, part: Path) -> tuple[int | None, int | None]:
    header = response.headers.get("Content-Range", "").strip()
    m = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", header)
    if not m:
        raise _restart(part, f"unusable Content-Range {header!r}")
    return (int(m[1]) if m[1] is not None else None), (int(m[2]) if m[2] != "*" else None)


def _restart(part: Path, why: str) -> TransientError:
    """Drop the partial bytes: the server cannot continue them, so the next attempt starts at 0."""
    part.unlink(missing_ok=True)
    _validator_file(part).unlink(missing_ok=True)
    return TransientError(f"{why}; restarting from byte 0")


def _validator_file(part: Path) -> Path:
    return part.with_name(part.name + ".validator")


def _remember_validator(response: requests.Response, part: Path) -> None:
    """Keep the strong ETag (else Last-Modified) of the bytes in `part`, for If-Range on resume."""
    etag = response.headers.get("ETag")
    value = etag if etag and not etag.startswith("W/") else response.headers.get("Last-Modified")
    if value:
        _validator_file(part).write_text(value)
    else:
        _validator_file(part).unlink(missing_ok=True)


def _describe(e: Exception) -> str:
    if isinstance(e, requests.Timeout) or "timed out" in str(e).lower():
        return "timed out"
    if isinstance(e, requests.exceptions.ChunkedEncodingError):
        return "connection broken mid-body"
    return "connection failed"
