"""Safe, streaming access to NDS's `data.zip`.

The whole central directory is checked when the archive is opened, before any caller writes
anything, by the shared member check of `nasbench_store.safety.archives` (plus a total size cap
and no duplicate names). Members are then streamed straight out of the zip; nothing is unpacked
to disk.

Format: docs/formats.md#nds-archive.
"""
from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import RawFormatError
from ..safety.archives import zip_member_problem
from .constants import ARCHIVE_DIR, SWEEP_FILES
from .jsonstream import JsonStreamError, Record, iter_records

# Generous bounds: a real sweep file is a few hundred MB of JSON numbers.
MAX_MEMBER_BYTES = 16 << 30
MAX_TOTAL_BYTES = 64 << 30

_HINT_HOSTILE = "this is not NDS's data.zip; do not unpack it; download data.zip again from the source"
_HINT_DAMAGED = "the archive is damaged or not NDS's data.zip; delete it and download it again"


def member_name(sweep: str) -> str:
    return f"{ARCHIVE_DIR}/{sweep}"


class NdsArchive:
    """An opened, checked `data.zip`; use as a context manager."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise RawFormatError(self.path, None, f"cannot open as a zip archive: {exc}", _HINT_DAMAGED) from None
        try:
            self._members = check_members(self.path, self._zip.infolist())
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> NdsArchive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def require_all(self) -> None:
        """Fail unless all 34 sweep files are present (the workflow converts every one)."""
        missing = [s for s in SWEEP_FILES if member_name(s) not in self._members]
        if missing:
            raise RawFormatError(self.path, None, f"sweep files missing from the archive: {', '.join(missing)}",
                                 f"expected all {len(SWEEP_FILES)} files under {ARCHIVE_DIR}/; "
                                 "the download is incomplete or not NDS's data.zip")

    def member_size(self, sweep: str) -> int:
        return self._members[member_name(sweep)].file_size

    def open_sweep(self, sweep: str) -> BinaryIO:
        name = member_name(sweep)
        info = self._members.get(name)
        if info is None:
            raise RawFormatError(self.path, None, f"sweep file {name} is missing from the archive",
                                 "the download is incomplete or not NDS's data.zip; download it again")
        return self._zip.open(info)

    def records(self, sweep: str, keep: frozenset | None = None) -> Iterator[Record]:
        """Stream the sweep file's records (only `keep` keys, see `iter_records`); structural errors
        name the member and byte offset."""
        where = f"{self.path}!{member_name(sweep)}"
        try:
            with self.open_sweep(sweep) as stream:
                yield from iter_records(stream, keep=keep)
        except JsonStreamError as exc:
            raise RawFormatError(where, exc.offset, exc.problem,
                                 "the sweep file is not valid JSON; download data.zip again") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise RawFormatError(where, None, f"cannot decompress: {exc}", _HINT_DAMAGED) from None
        except UnicodeDecodeError as exc:
            raise RawFormatError(where, None, f"not UTF-8 text: {exc}", _HINT_DAMAGED) from None


def check_archive(path: str | Path) -> dict[str, int]:
    """Check the whole archive once (safety, all 34 sweep files); return each sweep's JSON size."""
    with NdsArchive(path) as zf:
        zf.require_all()
        return {sweep: zf.member_size(sweep) for sweep in SWEEP_FILES}


def check_members(path: Path, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """Refuse the archive if any member is unsafe; return the regular files by name."""
    files: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        problem = zip_member_problem(info, MAX_MEMBER_BYTES)
        if problem:
            raise RawFormatError(path, info.header_offset, f"refusing member {name!r}: {problem}", _HINT_HOSTILE)
        if info.is_dir():
            continue
        if name in files:
            raise RawFormatError(path, info.header_offset, f"member {name!r} appears twice", _HINT_HOSTILE)
        files[name] = info
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise RawFormatError(path, None, f"members expand to more than {MAX_TOTAL_BYTES} bytes", _HINT_HOSTILE)
    return files
