"""Drop-in replacements for the official benchmark APIs, answered from this project's stores.

`nasbench_store.compat.nasbench.api` stands in for google's `nasbench.api` (NAS-Bench-101) without
TensorFlow. Scripts switch with one changed import; see the README section "Already using
nasbench / NAS-Bench-201 / NATS-Bench?".

This module holds what every facade shares: finding the store a facade reads from what the
official API was given (`locate_store`). The official APIs take the path of their raw release; a
facade takes that too, and finds the store built from the same bytes by the raw sha256 that
`manifest.json` records (benchmarks.<name>.raw.sha256). Hashing a 2 GB release takes seconds, so
the digest is computed once per file and remembered by path, size, mtime and inode in a small
JSON file under the user's cache directory (`digest_cache_path`).
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import StoreNotFoundError
from ..paths import default_store_dir
from ..registry import get

MANIFEST = "manifest.json"  # manifest.MANIFEST; that module is imported only to hash (it loads pyarrow)
SQLITE_MAGIC = b"SQLite format 3\x00"
DIGEST_CACHE_ENTRIES = 256  # files remembered; the oldest entries are dropped beyond this


def digest_cache_path() -> Path:
    """`$XDG_CACHE_HOME/nasbench-store-compat/raw-digests.json` (default `~/.cache/...`).

    Kept outside the default store directory, which holds only what a build publishes."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "nasbench-store-compat" / "raw-digests.json"


def _file_key(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino, "device": st.st_dev}


def _read_cache(cache: Path) -> dict:
    try:
        entries = json.loads(cache.read_text())
    except (OSError, ValueError):  # missing, unreadable or damaged: start afresh
        return {}
    return entries if isinstance(entries, dict) else {}


def _write_cache(cache: Path, entries: dict) -> None:
    """Replace the cache file atomically under a unique temporary name (concurrent writers may lose
    each other's newest entry, never corrupt the file). A cache that cannot be written is skipped."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".raw-digests.", suffix=".tmp", dir=cache.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(entries, fh, indent=1, sort_keys=True)
            os.replace(tmp, cache)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def sha256_file(path: Path) -> str:
    from ..manifest import sha256_file as digest

    return digest(path)


def cached_sha256(path: str | Path) -> str:
    """sha256 of a file, hashed once and then taken from the digest cache while the file's path,
    size, mtime and inode are unchanged."""
    path = Path(path).absolute()
    key = _file_key(path)
    cache = digest_cache_path()
    entries = _read_cache(cache)
    hit = entries.get(str(path))
    if isinstance(hit, dict) and {k: hit.get(k) for k in key} == key and isinstance(hit.get("sha256"), str):
        return hit["sha256"]
    print(f"nasbench-store: computing the sha256 of {path} once (remembered in {cache})")
    digest = sha256_file(path)
    if _file_key(path) != key:  # changed while it was read: do not remember a digest of mixed bytes
        return digest
    entries.pop(str(path), None)
    entries[str(path)] = {**key, "sha256": digest}
    while len(entries) > DIGEST_CACHE_ENTRIES:
        entries.pop(next(iter(entries)))
    _write_cache(cache, entries)
    return digest


def is_sqlite(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def candidate_store_dirs(raw: Path) -> list[Path]:
    """Where a store built from `raw` may be: the default store directory, the raw file's own
    directory, and the directory above it (a build's default raw_dir is `<store_dir>/raw`)."""
    dirs = []
    for d in (default_store_dir(), raw.parent, raw.parent.parent):
        d = d.absolute()
        if d not in dirs:
            dirs.append(d)
    return dirs


def _raw_entry(store_dir: Path, benchmark: str) -> dict | None:
    try:
        manifest = json.loads((store_dir / MANIFEST).read_text())
        raw = manifest["benchmarks"][benchmark]["raw"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return raw if isinstance(raw, dict) else None


def store_for_raw(benchmark: str, raw: Path, search: Iterable[Path] | None = None) -> Path:
    """The database of a store built from the raw file `raw` (its sha256 in the store's manifest).

    A store whose manifest records another size is ruled out without hashing, so a file no store
    was built from is refused at once. Raises StoreNotFoundError naming the build that makes one.
    """
    bench = get(benchmark)
    dirs = list(search) if search is not None else candidate_store_dirs(raw)
    size = raw.stat().st_size
    sized = [d for d in dirs if (e := _raw_entry(d, benchmark)) is not None and e.get("size") == size
             and (d / bench.db_filename).is_file()]
    digest = cached_sha256(raw) if sized else None
    for d in sized:
        if _raw_entry(d, benchmark).get("sha256") == digest:
            return d / bench.db_filename
    found = f"sha256 {digest}" if digest else f"{size} bytes"
    raise StoreNotFoundError(
        f"no {bench.title} store built from {raw} ({found}) in {', '.join(map(str, dirs))}. "
        f"Build one in the nasbench-store checkout with `snakemake --cores 2 {benchmark} --configfile mine.yaml`, "
        f"where mine.yaml sets `sources: {{{benchmark}: {{path: {raw}}}}}` (and `store_dir` to one of those "
        f"directories unless it is the default), or pass the store directory instead of the raw file.")


def locate_store(benchmark: str, dataset_file: str | os.PathLike | None = None) -> Path:
    """The SQLite database a facade reads, from what the official API would be given.

    `dataset_file` may be None (the default store: `$NASBENCHMARK_DIR`, else
    `~/.cache/nasbench-store`), a store directory, the benchmark's `.db` file (any SQLite file), or
    the raw release file the store was built from (found by its sha256, see `store_for_raw`).
    """
    bench = get(benchmark)
    if dataset_file is None:
        store = default_store_dir()
        db = store / bench.db_filename
        if not db.is_file():
            raise StoreNotFoundError(
                f"{db} does not exist: there is no {bench.title} store in the default store directory. Build it "
                f"with `snakemake --cores 2 {benchmark}` in the nasbench-store checkout (see README), set "
                f"NASBENCHMARK_DIR to the directory that holds it, or pass that directory.")
        return db
    path = Path(os.fspath(dataset_file)).expanduser()
    if path.is_dir():
        db = path / bench.db_filename
        if not db.is_file():
            raise StoreNotFoundError(f"{path} is a directory without {bench.db_filename}: not a "
                                     f"{bench.title} store directory (pass the store directory, its "
                                     f"{bench.db_filename} or the raw release file)")
        return db
    if not path.is_file():
        raise StoreNotFoundError(f"{path} does not exist (pass a store directory, its {bench.db_filename}, "
                                 f"or the raw release file a store was built from)")
    if is_sqlite(path):
        return path
    return store_for_raw(benchmark, path.absolute())
