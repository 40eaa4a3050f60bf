"""Download failures, each carrying a message that says what to do next."""
from __future__ import annotations

from ..errors import NasbenchStoreError


class DownloadError(NasbenchStoreError):
    """A raw file could not be obtained from any configured source."""


class TransientError(DownloadError):
    """A failure worth retrying: dropped connection, timeout, HTTP 5xx/408/429."""


class DigestMismatchError(DownloadError):
    """The bytes are complete but not the ones the config (or the lock file) promises."""


class DriveRefusedError(DownloadError):
    """Google Drive would not serve the file (quota, permission, sign-in page)."""
