"""Obtain one benchmark's raw file as config `sources.<benchmark>` describes, verified before publishing.

A source is a local `path` (no network; wins over everything else), or HTTP(S) `url` plus optional
`mirrors`, and/or a Google Drive `gdrive_id`; locations are tried in that order. `sha256`/`md5`
give the published digest. Without one, the first verified download records its sha256 in the
lock file and later downloads must match it.

Builds that share a `raw_dir` (two checkouts, two users on one disk) take turns: each download
holds the file lock `<dest>.lock` (deleted on release), and a process that obtains it after
another one's download finds the verified file and uses it without downloading again.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..atomic import atomic_path
from ..errors import ConfigError
from ..progress import Progress
from . import gdrive, http, lockfile
from .digests import expected_digests, file_digests, first_mismatch
from .errors import DigestMismatchError, DownloadError, DriveRefusedError, TransientError
from .filelock import exclusive
from .options import FetchOptions

__all__ = ["fetch", "FetchOptions", "DownloadError", "DigestMismatchError", "DriveRefusedError", "TransientError"]

log = logging.getLogger("nasbench_store.fetch")


def fetch(source: Mapping, dest: str | Path, *, benchmark: str, lock_file: str | Path | None = None,
          options: FetchOptions | None = None) -> Path:
    """Return the path of the verified raw file: `source["path"]` itself, or `dest` once downloaded.

    Nothing appears under `dest` unless its digest matched. Partial bytes stay in `<dest>.part`
    (or `<dest>.gdrive/`) for the next attempt; bytes with a wrong digest are moved to `<dest>.bad`.
    Everything after the local `path` case runs under the file lock `<dest>.lock`.
    """
    options = options or FetchOptions()
    dest = Path(dest)
    lock_file = Path(lock_file) if lock_file is not None else None
    expected = expected_digests(source, benchmark)
    if not expected and lock_file is None:
        raise ConfigError(f"sources.{benchmark}: no sha256 or md5 given and no lock file to record one in; "
                          f"add the published digest to the config")
    check = _Checker(benchmark, expected, lock_file, dest.name)

    if source.get("path"):
        return _local(Path(source["path"]).expanduser(), benchmark, check)
    with _download_lock(dest):
        return _fetch_locked(source, dest, benchmark, check, options)



def link_into_build(shared: str | Path, link: str | Path) -> Path:
    """Give one build its own name for a verified file in the shared raw_dir: a hard link (the
    build keeps the bytes it verified even if the shared file is later replaced), or a symbolic
    link across filesystems. Atomic: the name appears complete or not at all."""
    shared, link = Path(shared), Path(link)
    with atomic_path(link) as tmp:
        try:
            os.link(shared, tmp)
        except OSError:
            os.symlink(shared.resolve(), tmp)
    return link

@contextlib.contextmanager
def _download_lock(dest: Path) -> Iterator[None]:
    """The lock that processes downloading `dest` share; says so while it waits for another one."""
    lock = dest.with_name(dest.name + ".lock")
    waiting_since: list[float] = []

    def waiting() -> None:
        waiting_since.append(time.monotonic())
        log.warning("waiting for another process downloading %s (lock %s)", dest.name, lock)

    with exclusive(lock, on_wait=waiting, remove=True):
        if waiting_since:
            log.info("%s: the other process finished after %.0f s; going on", dest.name,
                     time.monotonic() - waiting_since[0])
        yield


def _fetch_locked(source: Mapping, dest: Path, benchmark: str, check: _Checker, options: FetchOptions) -> Path:
    if dest.exists():
        problem = check(dest, origin=str(dest))
        if problem is None:
            log.info("%s: already present and verified", dest)
            return dest
        os.replace(dest, _bad(dest))
        log.warning("%s; moved it to %s and downloading again", problem, _bad(dest))

    where = locations(source, benchmark)
    failures = []
    for i, (kind, location) in enumerate(where):
        try:
            return _download_one(kind, location, dest, benchmark, check, options)
        except DownloadError as e:
            failures.append((location, e))
            if i + 1 < len(where):
                log.warning("%s; trying the next source", e)
    if len(failures) == 1:
        raise failures[0][1]
    lines = "\n".join(f"  - {loc}: {err}" for loc, err in failures)
    raise DownloadError(f"could not obtain {dest.name} for {benchmark} from any of its {len(failures)} "
                        f"sources:\n{lines}\nFix the locations in sources.{benchmark} (url, mirrors, "
                        f"gdrive_id), or download the file yourself and set sources.{benchmark}.path.")


def locations(source: Mapping, benchmark: str) -> list[tuple[str, str]]:
    """The (kind, location) pairs to try in order: url, each mirror, then the Drive id."""
    mirrors = source.get("mirrors") or []
    if isinstance(mirrors, str):
        raise ConfigError(f"sources.{benchmark}.mirrors: must be a list of URLs, got the string {mirrors!r}")
    urls = [u for u in [source.get("url"), *mirrors] if u]
    out = [("http", str(u)) for u in urls]
    if source.get("gdrive_id"):
        out.append(("gdrive", str(source["gdrive_id"])))
    if not out:
        raise ConfigError(f"sources.{benchmark}: set url (with optional mirrors), gdrive_id, or path "
                          f"(a raw file already on disk)")
    return out


def _download_one(kind: str, location: str, dest: Path, benchmark: str, check: _Checker,
                  options: FetchOptions) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(f"{benchmark} {dest.name}", interval=options.progress_interval, logger=log)
    origin = location if kind == "http" else gdrive.browser_url(location)
    log.info("downloading %s from %s", dest, origin)
    if kind == "http":
        candidate = dest.with_name(dest.name + ".part")
        http.download(location, candidate, options, progress)
    else:
        staging = dest.with_name(dest.name + ".gdrive")
        candidate = gdrive.download(location, staging, dest.name, options, progress, benchmark)
    try:
        problem = check(candidate, origin=origin)
        if problem is not None:
            os.replace(candidate, _bad(dest))
            raise DigestMismatchError(f"{problem}. The downloaded bytes were kept in {_bad(dest)}. "
                                      f"{check.advice(_bad(dest).name)}")
        os.replace(candidate, dest)
    finally:
        if kind == "gdrive":  # the complete file has left gdown's staging directory either way
            shutil.rmtree(candidate.parent, ignore_errors=True)
    log.info("%s: verified and published", dest)
    return dest


def _local(path: Path, benchmark: str, check: _Checker) -> Path:
    if not path.is_file():
        raise ConfigError(f"sources.{benchmark}.path: {path} does not exist or is not a file; fix the path, "
                          f"or remove sources.{benchmark}.path to download the file instead")
    problem = check(path, origin=str(path))
    if problem is not None:
        raise DigestMismatchError(f"{problem} (sources.{benchmark}.path). The file was left untouched. "
                                  f"{check.advice(None)}")
    log.info("%s: local file verified, no download", path)
    return path


def _bad(dest: Path) -> Path:
    return dest.with_name(dest.name + ".bad")


class _Checker:
    """Compares a file with the config's digests, or with (or into) the lock file when there are none."""

    def __init__(self, benchmark: str, expected: dict, lock_file: Path | None, name: str):
        self.benchmark, self.expected, self.lock_file, self.name = benchmark, expected, lock_file, name

    def advice(self, bad_name: str | None) -> str:
        """What to do next; `bad_name` is where the rejected bytes were kept, None for a local file."""
        retry = (f"If the transfer was corrupted, run again ({bad_name} is not reused; delete it). " if bad_name else
                 "If the copy is damaged, fetch it again. ")
        if self.expected:
            keys = ", ".join(f"sources.{self.benchmark}.{a}" for a in self.expected)
            return retry + (f"If upstream really changed the file and you trust the new one, update {keys} "
                            f"in your config.")
        return retry + (f"If upstream really changed the file and you trust the new one, delete the "
                        f"'{self.name}' entry under '{self.benchmark}' in {self.lock_file} and run again.")

    def __call__(self, path: Path, origin: str) -> str | None:
        """None if `path` is good; else a sentence naming file, expected and actual digest."""
        if self.expected:
            actual = file_digests(path, self.expected)
            bad = first_mismatch(self.expected, actual)
            if bad is None:
                return None
            algo, want, got = bad
            return f"{self.name} from {origin} has {algo} {got}, but the config expects {want}"
        sha256 = file_digests(path, ["sha256"])["sha256"]
        entry = lockfile.lookup(self.lock_file, self.benchmark, self.name)
        if entry is None:
            lockfile.record(self.lock_file, self.benchmark, self.name, sha256, path.stat().st_size, origin)
            log.warning("%s: upstream publishes no digest; recorded sha256 %s in %s, later downloads are "
                        "checked against it (commit that file)", self.name, sha256, self.lock_file)
            return None
        if entry.get("sha256") == sha256:
            return None
        return (f"{self.name} from {origin} has sha256 {sha256}, but {self.lock_file} recorded "
                f"{entry.get('sha256')} on its first download")
