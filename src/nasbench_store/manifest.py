"""The store's manifest: what was published, from which raw input, and every file's sha256.

`manifest.json` holds one entry per benchmark (files with sha256 and size, table row counts,
the raw input's name, size and sha256, the project version). `SHA256SUMS` is derived from it in
sha256sum format, so `sha256sum -c SHA256SUMS` works inside the store directory. Neither holds a
timestamp: the same raw input gives the same manifest on any machine.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq

from . import __version__
from .atomic import atomic_path
from .database import connect_readonly
from .errors import DamagedStoreError
from .progress import Progress
from .safety.archives import directory_files

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
FORMAT = 1
READ_ONLY = 0o444


def repair_command(benchmark: str) -> str:
    """The one command that rebuilds a benchmark's published files from its raw input."""
    return (f"nasbench-store repair {benchmark} (add the --configfile options you built with; it runs "
            f"`snakemake {benchmark} --forcerun tables_sqlite tables_parquet`)")


def sha256_file(path: str | Path, chunk: int = 1 << 22, progress: Progress | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
            if progress is not None:
                progress.advance(len(block))
    return h.hexdigest()


def table_rows(path: str | Path) -> dict[str, int]:
    """Row count of every table in a SQLite file, or of the one table in a Parquet file."""
    path = Path(path)
    if path.suffix == ".parquet":
        return {path.stem: pq.ParquetFile(path).metadata.num_rows}
    with contextlib.closing(connect_readonly(path)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


# A directory source's files may each be as large as a release (NB101's is 2 GB); links are refused.
MAX_TREE_FILE = 1 << 40


def raw_digest(path: str | Path) -> dict:
    """The manifest's record of a raw input: name, size, sha256 (of a file, or of a directory's tree).

    A directory's sha256 is that of its `sha256sum` listing (`<file sha256>  <relative path>`
    lines, sorted by path), so `(cd DIR && find . -type f | cut -c3- | LC_ALL=C sort | xargs
    sha256sum) | sha256sum` reproduces it; the same files give the same digest wherever they lie.
    """
    path = Path(path)
    if not path.is_dir():
        return {"file": path.name, "size": path.stat().st_size, "sha256": sha256_file(path)}
    listing = hashlib.sha256()
    size = count = 0
    for rel, file in directory_files(path, MAX_TREE_FILE):
        listing.update(f"{sha256_file(file)}  {rel}\n".encode())
        size += file.stat().st_size
        count += 1
    return {"file": path.name, "kind": "directory", "files": count, "size": size, "sha256": listing.hexdigest()}


def file_digest(path: str | Path) -> dict:
    return {"sha256": sha256_file(path), "size": Path(path).stat().st_size}


def record_digests(built: Iterable[str | Path], record: str | Path) -> dict:
    """Record the digests of files a job just built, at the moment it built them.

    Publishing compares the files with this record, so a build copy changed afterwards (for
    example through its hard link in the store) is refused instead of republished as verified.
    """
    digests = {str(Path(p).resolve()): file_digest(p) for p in built}
    with atomic_path(record) as tmp:
        tmp.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    return digests


def check_recorded(benchmark: str, files: Mapping[str, dict], built: Mapping[str, str | Path],
                   records: Iterable[str | Path]) -> None:
    """Raise DamagedStoreError naming every built file whose digest differs from its build's record."""
    recorded: dict[str, dict] = {}
    for record in records:
        recorded.update(json.loads(Path(record).read_text()))
    changed = []
    for rel, path in built.items():
        want = recorded.get(str(Path(path).resolve()))
        if want != files[rel]:
            was = "no digest was recorded for it" if want is None else f"recorded sha256 {want['sha256']}"
            changed.append(f"{path} ({was}, now {files[rel]['sha256']})")
    if changed:
        raise DamagedStoreError(f"{benchmark}: refusing to publish built files that changed after the job that made "
                             f"them (modified by hand, or through their hard link in the store): "
                             f"{'; '.join(changed)}. Repair: {repair_command(benchmark)}")


def benchmark_entry(files: Mapping[str, str | Path], digests: Mapping[str, dict], raw: Mapping,
                    extra: Mapping | None = None) -> dict:
    """Manifest entry for one benchmark: `files` maps store-relative names to built files, whose
    `file_digest`s are `digests`."""
    entry = {"version": __version__, "raw": dict(raw), "files": {}, "tables": {}}
    for rel, built in sorted(files.items()):
        entry["files"][rel] = digests[rel]
        entry["tables"][rel] = table_rows(built)
    if extra:
        entry.update(extra)
    return entry


@contextlib.contextmanager
def store_lock(store_dir: Path) -> Iterator[None]:
    """Serialise manifest updates of benchmarks published in parallel."""
    store_dir.mkdir(parents=True, exist_ok=True)
    with open(store_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def read_manifest(store_dir: str | Path) -> dict:
    path = Path(store_dir) / MANIFEST
    if not path.exists():
        return {"format": FORMAT, "benchmarks": {}}
    return json.loads(path.read_text())


def install(built: str | Path, final: str | Path) -> None:
    """Put a built file at its final name atomically, read-only (hard link when possible, else copy).

    The store file and the build copy then share one inode and one mode: no second copy on
    disk, and a change to either is caught by the digest records (`check_recorded`).
    """
    final = Path(final)
    if final.exists() and os.path.samefile(built, final):
        os.chmod(final, READ_ONLY)
        return  # already this file (renaming a hard link onto itself would be a no-op that leaves the link)
    with atomic_path(final) as tmp:
        try:
            os.link(built, tmp)
        except OSError:  # another filesystem: copy
            shutil.copyfile(built, tmp)
        os.chmod(tmp, READ_ONLY)


def publish(store_dir: str | Path, benchmark: str, files: Mapping[str, str | Path], raw: Mapping,
            extra: Mapping | None = None, records: Iterable[str | Path] | None = None,
            check: Callable[[], list[str]] | None = None) -> dict:
    """Install a benchmark's built files into the store and record them in the manifest.

    With `records` (the digest records of the jobs that built the files), a file that changed
    since its job is refused; with `check` (the benchmark's invariants on the built tables), tables
    that break them are refused. Either raises DamagedStoreError, and nothing is installed.
    """
    store_dir = Path(store_dir)
    # Hashing the files (GIL released) runs beside the checks; a changed file is still reported
    # first, before anything the checks found or raised, since a damaged file may not even be a database.
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashing = pool.submit(lambda: {rel: file_digest(built) for rel, built in files.items()})
        try:
            problems, failure = (check() if check is not None else []), None
        except Exception as exc:  # re-raised below, unless a file changed since its job
            problems, failure = [], exc
        digests = hashing.result()
    if records is not None:
        check_recorded(benchmark, digests, files, records)
    if failure is not None:
        raise failure
    entry = benchmark_entry(files, digests, raw, extra)
    if problems:
        raise DamagedStoreError(f"{benchmark}: refusing to publish tables that break the benchmark's invariants: "
                             f"{'; '.join(problems)}. The raw input holds values outside the benchmark's ranges "
                             f"(or is not the release); nothing was published")
    with store_lock(store_dir):
        for rel, built in files.items():
            install(built, store_dir / rel)
        manifest = read_manifest(store_dir)
        manifest["format"] = FORMAT
        manifest["benchmarks"][benchmark] = entry
        manifest["benchmarks"] = dict(sorted(manifest["benchmarks"].items()))
        write_manifest(store_dir, manifest)
    return entry


def write_manifest(store_dir: Path, manifest: dict) -> None:
    with atomic_path(store_dir / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.chmod(tmp, READ_ONLY)
    lines = sorted(f"{info['sha256']}  {rel}\n" for entry in manifest["benchmarks"].values()
                   for rel, info in entry["files"].items())
    with atomic_path(store_dir / SUMS) as tmp:
        tmp.write_text("".join(sorted(lines, key=lambda line: line[66:])))
        os.chmod(tmp, READ_ONLY)
