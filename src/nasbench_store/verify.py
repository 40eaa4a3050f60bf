"""Prove a store is intact: re-hash every file, re-count every table, re-check each benchmark.

Each benchmark's `checks.check(store_dir, entry) -> list[str]` (through the registry) adds its own
invariants (NB101 recomputes every cell's graph hash); problems are collected, not raised one by
one, so a single run lists everything that is wrong.
"""
from __future__ import annotations

from pathlib import Path

from .manifest import MANIFEST, SUMS, read_manifest, repair_command, sha256_file, table_rows
from .progress import Progress
from .registry import BENCHMARKS, get
from .tablewriter import parquet_provenance


def verify_store(store_dir: str | Path, benchmarks: list[str] | None = None) -> list[str]:
    """Return a list of problems (empty when the store is intact)."""
    store_dir = Path(store_dir)
    if not (store_dir / MANIFEST).exists():
        return [f"{store_dir / MANIFEST} is missing: this is not a built store"]
    manifest = read_manifest(store_dir)
    problems = _check_sums(store_dir, manifest)
    names = benchmarks or sorted(manifest["benchmarks"])
    total = sum(info.get("size", 0) for name in names for info in
                manifest["benchmarks"].get(name, {}).get("files", {}).values())
    progress = Progress(f"re-hashing {store_dir}", unit="B").start(total)
    for name in names:
        entry = manifest["benchmarks"].get(name)
        if name not in BENCHMARKS:
            problems.append(f"{name}: not a benchmark this version knows (valid: {', '.join(BENCHMARKS)})")
            continue
        if entry is None:
            problems.append(f"{name}: not in {MANIFEST}; build it first")
            continue
        problems += _check_entry(store_dir, name, entry, progress)
    progress.close()
    return problems


def _check_sums(store_dir: Path, manifest: dict) -> list[str]:
    sums = store_dir / SUMS
    if not sums.exists():
        return [f"{sums} is missing"]
    listed = {}
    for line in sums.read_text().splitlines():
        digest, _, rel = line.partition("  ")
        listed[rel] = digest
    expected = {rel: info["sha256"] for entry in manifest["benchmarks"].values()
                for rel, info in entry["files"].items()}
    if listed != expected:
        return [f"{SUMS} and {MANIFEST} disagree on {sorted(set(listed.items()) ^ set(expected.items()))[:4]}"]
    return []


def _check_entry(store_dir: Path, name: str, entry: dict, progress: Progress) -> list[str]:
    expected = sorted(get(name).published_files)
    if sorted(entry["files"]) != expected:
        return [f"{name}: {MANIFEST} lists {sorted(entry['files'])}, a {name} store holds {expected}; rebuild it"]
    problems = []
    for rel, info in entry["files"].items():
        path = store_dir / rel
        if not path.exists():
            problems.append(f"{name}: {path} is missing; repair: {repair_command(name)}")
            continue
        if path.stat().st_size != info["size"] or sha256_file(path, progress=progress) != info["sha256"]:
            problems.append(f"{name}: {path} does not match its sha256 in {SUMS} (modified or corrupt); "
                            f"repair: {repair_command(name)}")
            continue
        rows = table_rows(path)
        if rows != entry["tables"][rel]:
            problems.append(f"{name}: {path} has rows {rows}, the manifest says {entry['tables'][rel]}; "
                            f"repair: {repair_command(name)}")
        if path.suffix == ".parquet":
            want = {"benchmark": name, "raw_sha256": entry["raw"]["sha256"], "version": entry["version"]}
            found = parquet_provenance(path)
            if found != want:
                problems.append(f"{name}: {path} says it was made from {found}, the manifest "
                                f"says {want}; repair: {repair_command(name)}")
    if problems:
        return problems
    problems = get(name).check(store_dir / get(name).db_filename, store_dir / name)
    return [f"{name}: {p}" for p in problems] + ([f"{name}: repair: {repair_command(name)}"] if problems else [])
