"""Google Drive downloads through gdown: confirm page, resume, and refusals turned into advice.

gdown always talks to the real https://drive.google.com. It uses `requests`, so HTTPS_PROXY and
REQUESTS_CA_BUNDLE apply as for any download (that is also how the tests reach a local stand-in).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import gdown
import requests
from gdown.exceptions import DownloadError as GdownDownloadError
from gdown.exceptions import FileURLRetrievalError

from ..progress import Progress
from .errors import DownloadError, DriveRefusedError, TransientError
from .http import NETWORK_ERRORS
from .options import FetchOptions

log = logging.getLogger("nasbench_store.fetch")

REFUSED_STATUS = {401, 403, 404, 429}
GENERIC_REFUSAL = "Cannot retrieve the public link"


def browser_url(file_id: str) -> str:
    return f"https://drive.google.com/uc?id={file_id}"


def download(file_id: str, staging: Path, name: str, options: FetchOptions, progress: Progress,
             benchmark: str) -> Path:
    """Download Drive file `file_id` to `staging/name` and return that path.

    gdown keeps its partial bytes in `staging/` (`<name>XXXXXXXX.part`) and continues them with a
    Range request on the next call, also in a later run. Retries and backoff are ours, so they
    follow `options` like plain HTTP downloads do.
    """
    staging.mkdir(parents=True, exist_ok=True)
    output = staging / name
    attempt = 0
    while True:
        error: Exception
        try:
            _call_gdown(file_id, output, options, progress)
            return output
        except FileURLRetrievalError as e:
            # Drive's own refusal text (quota) is final; gdown's generic "cannot retrieve" also
            # covers a passing 5xx page, so that one is retried before it becomes advice.
            if GENERIC_REFUSAL not in str(e) or attempt >= options.retries:
                _remove_if_empty(staging)
                raise _refused(file_id, benchmark, _drive_reason(e)) from e
            error = TransientError(_drive_reason(e))
        except requests.HTTPError as e:
            status = e.response.status_code if e.response is not None else 0
            if status in REFUSED_STATUS:
                _remove_if_empty(staging)
                raise _refused(file_id, benchmark, f"HTTP {status}") from e
            error = TransientError(f"HTTP {status}")
        except GdownDownloadError as e:
            if "byte range" in str(e):
                # gdown keeps bytes the server will not continue: drop them and start over.
                _drop_partials(staging, name)
            error = TransientError(str(e).split("\n")[0])  # gdown's first line; the rest is CLI advice
        except NETWORK_ERRORS as e:
            error = TransientError(type(e).__name__)
        finally:
            progress.close()
        attempt += 1
        if attempt > options.retries:
            raise DownloadError(f"{browser_url(file_id)}: {error} (gave up after {options.retries} retries)")
        delay = options.delay(attempt)
        log.warning("%s: %s; retry %d/%d in %.1fs", browser_url(file_id), error, attempt, options.retries, delay)
        time.sleep(delay)


def _call_gdown(file_id: str, output: Path, options: FetchOptions, progress: Progress) -> None:
    started = False

    def report(done: int, total: int | None) -> None:
        nonlocal started
        if not started:
            progress.start(total, done)
            started = True
        progress.update(done)

    gdown.download(id=file_id, output=str(output), quiet=True, resume=True, use_cookies=False,
                   timeout=(options.connect_timeout, options.read_timeout), retries=0, progress=report)


def _drop_partials(staging: Path, name: str) -> None:
    for p in staging.glob(f"{name}*.part"):
        p.unlink()


def _remove_if_empty(staging: Path) -> None:
    """Tidy up after a refusal, but keep partial bytes: a later run (or day) may continue them."""
    if not any(staging.iterdir()):
        staging.rmdir()


def _refused(file_id: str, benchmark: str, why: str) -> DriveRefusedError:
    return DriveRefusedError(
        f"Google Drive refused to serve file {file_id} ({why}). This usually means the file's daily "
        f"download quota is used up or it needs a signed-in browser. Open {browser_url(file_id)} in a "
        f"browser, download the file there, and set sources.{benchmark}.path to the downloaded file "
        f"(e.g. in an extra --configfile); its digest is still checked. Or try again in 24 hours."
    )


def _drive_reason(e: Exception) -> str:
    """Drive's (or gdown's) own words, without gdown's advice wrapped around them."""
    parts = [p for p in str(e).split("\n\n") if p.strip()]
    core = parts[1] if len(parts) > 1 and parts[0].startswith("Failed to retrieve file url") else str(e)
    return " ".join(core.split())[:400]
