"""What a store directory holds and whether it is intact: `nasbench-store status` (data, and as text).

Per benchmark: its files, their size, row counts, the raw input it was built from (and whether
that was the configured release), the project version that built it, and whether its files
still match SHA256SUMS. Two depths of checking:

- quick (default): reads no file contents. Every published file must exist, have the size the
  manifest records, be listed in SHA256SUMS with the manifest's sha256, and not have been
  modified since it was published: its mtime must not be newer than SHA256SUMS (written after
  every file it lists), or must equal what the last passing full check recorded. That catches
  deleted, truncated, extended and rewritten files; it cannot see a change that keeps size and
  mtime (a copy made with `cp -p` of another file, `touch -r`, bit rot on the disk). A copy of the
  store that did not keep mtimes looks modified until a full check passes on it.
- full: `verify.verify_store` re-hashes every file, re-counts every table and re-checks each
  benchmark's invariants. When it passes, the files' sizes and mtimes are recorded (in
  `$XDG_CACHE_HOME/nasbench-store-status/`, outside the store) so quick checks trust them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__
from .atomic import atomic_path
from .manifest import MANIFEST, SUMS, repair_command
from .registry import BENCHMARKS, get
from .tabular import render_table
from .verify import verify_store

QUICK, FULL = "quick", "full"
OK, MISSING, DAMAGED, UNKNOWN = "ok", "missing", "damaged", "unknown"


@dataclass
class BenchmarkStatus:
    name: str
    title: str
    configured: bool            # listed in the config's `benchmarks`
    state: str                  # ok, missing, damaged, or unknown (in the manifest, not a benchmark this version knows)
    files: int = 0              # published files present
    files_expected: int = 0
    size: int = 0               # bytes of the files present
    rows: dict = field(default_factory=dict)   # table -> rows, as the manifest records them
    raw: dict = field(default_factory=dict)    # the manifest's record of the raw input
    raw_matches_release: bool | None = None    # None: not compared (no configured digest, or a directory)
    version: str | None = None  # nasbench-store version that built it
    check: str | None = None    # quick or full: how the files were compared with SHA256SUMS
    problems: list[str] = field(default_factory=list)
    fix: str | None = None      # the command that repairs or builds it

    @property
    def failing(self) -> bool:
        return self.state == DAMAGED or (self.configured and self.state == MISSING)


@dataclass
class StoreStatus:
    store_dir: str
    check: str
    benchmarks: list[BenchmarkStatus]
    problems: list[str] = field(default_factory=list)  # about the store as a whole (manifest, SHA256SUMS)
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and not any(b.failing for b in self.benchmarks)

    def to_json(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def store_status(store_dir: str | Path, configured: list[str], full: bool = False,
                 fix_args: list[str] = ()) -> StoreStatus:
    """The status of one store directory. `configured`: the benchmarks the config builds (each
    must be present); `fix_args`: options the printed build/repair commands need (--configfile
    ..., --config store_dir=...) to act on this store."""
    store_dir = Path(store_dir)
    status = StoreStatus(str(store_dir), FULL if full else QUICK, [])
    manifest, sums = _read(store_dir, status)
    entries = manifest.get("benchmarks", {}) if manifest else {}
    names = [*configured, *(n for n in entries if n not in configured)]
    for name in names:
        status.benchmarks.append(_benchmark(store_dir, name, name in configured, entries.get(name), fix_args))
    present = [b for b in status.benchmarks if b.state == OK]
    if manifest is not None:
        (_full_check if full else _quick_check)(store_dir, present, entries, sums, status)
    for b in present:
        if b.problems:
            b.state = DAMAGED
            b.fix = _command("repair", b.name, fix_args)
    if status.problems:
        status.fix = _command("build", None, fix_args)
    return status


def _read(store_dir: Path, status: StoreStatus) -> tuple[dict | None, dict | None]:
    """manifest.json and SHA256SUMS ({path: sha256}); a missing or unreadable one is a store problem."""
    try:
        manifest = json.loads((store_dir / MANIFEST).read_text())
        if not isinstance(manifest.get("benchmarks"), dict):
            raise ValueError("no 'benchmarks' mapping")
    except FileNotFoundError:
        if store_dir.is_dir() and any(store_dir.glob("*.db")):
            status.problems.append(f"{store_dir / MANIFEST} is missing: the files here were not published by a "
                                   f"build, or the manifest was deleted")
        return None, None
    except (OSError, ValueError, AttributeError) as exc:
        status.problems.append(f"{store_dir / MANIFEST} cannot be read ({exc})")
        return None, None
    try:
        sums = {}
        for line in (store_dir / SUMS).read_text().splitlines():
            digest, _, rel = line.partition("  ")
            sums[rel] = digest
    except FileNotFoundError:
        status.problems.append(f"{store_dir / SUMS} is missing")
        sums = None
    except OSError as exc:
        status.problems.append(f"{store_dir / SUMS} cannot be read ({exc.strerror})")
        sums = None
    return manifest, sums


def _benchmark(store_dir: Path, name: str, configured: bool, entry: dict | None, fix_args) -> BenchmarkStatus:
    if name not in BENCHMARKS:
        return BenchmarkStatus(name, name, configured, UNKNOWN if entry else MISSING,
                               problems=[f"not a benchmark nasbench-store {__version__} knows "
                                         f"(valid: {', '.join(BENCHMARKS)})"])
    bench = get(name)
    b = BenchmarkStatus(name, bench.title, configured, MISSING, files_expected=len(bench.published_files))
    if entry is None:
        b.fix = _command("build", name, fix_args)
        return b
    b.state = OK
    b.version = entry.get("version")
    b.raw = dict(entry.get("raw") or {})
    flags = [v for k, v in b.raw.items() if k.startswith("matches_configured_")]
    b.raw_matches_release = all(flags) if flags else None
    tables = (entry.get("tables") or {}).get(bench.db_filename) or {}
    b.rows = {t: tables.get(t) for t in bench.tables}
    for rel in bench.published_files:
        try:
            b.size += (store_dir / rel).stat().st_size
            b.files += 1
        except OSError:
            pass
    if sorted(entry.get("files") or {}) != sorted(bench.published_files):
        b.problems.append(f"{MANIFEST} lists {sorted(entry.get('files') or {})}, a {name} store holds "
                          f"{sorted(bench.published_files)}")
    return b


def _quick_check(store_dir: Path, present: list[BenchmarkStatus], entries: dict, sums: dict | None,
                 status: StoreStatus) -> None:
    reference = store_dir / (SUMS if sums is not None else MANIFEST)
    published_at = reference.stat().st_mtime_ns
    trusted = _read_record(store_dir)
    listed = {rel for entry in entries.values() for rel in (entry.get("files") or {})}
    if sums is not None and set(sums) - listed:
        status.problems.append(f"{SUMS} lists files {sorted(set(sums) - listed)} that {MANIFEST} does not")
    for b in present:
        b.check = QUICK
        for rel, info in (entries[b.name].get("files") or {}).items():
            path = store_dir / rel
            try:
                st = path.stat()
            except FileNotFoundError:
                b.problems.append(f"{rel} is missing")
                continue
            if sums is not None and sums.get(rel) != info.get("sha256"):
                b.problems.append(f"{SUMS} does not list {rel} with the sha256 {MANIFEST} records")
            elif st.st_size != info.get("size"):
                b.problems.append(f"{rel} has {st.st_size} bytes, the manifest records {info.get('size')} "
                                  f"(truncated, extended or replaced)")
            elif st.st_mtime_ns > published_at and trusted.get(rel) != _signature(st, info):
                b.problems.append(f"{rel} was modified after {reference.name} was written (newer mtime): its "
                                  f"contents may have changed; `nasbench-store status --full` re-hashes it "
                                  f"(a copy of the store that did not keep mtimes looks like this too)")


def _full_check(store_dir: Path, present: list[BenchmarkStatus], entries: dict, sums, status: StoreStatus) -> None:
    names = [b.name for b in present]
    before = _signatures(store_dir, entries, names)
    problems = verify_store(store_dir, names) if names else []
    by_name = {b.name: b for b in present}
    for problem in problems:
        name, sep, rest = problem.partition(": ")
        if sep and name in by_name:
            if not rest.startswith("repair: "):  # the fix is shown once, as the benchmark's own
                by_name[name].problems.append(rest.split("; repair: ")[0])
        elif problem not in status.problems:
            status.problems.append(problem)
    for b in present:
        b.check = FULL
    if not problems and before == _signatures(store_dir, entries, names):
        _write_record(store_dir, before)


# --- as text ---------------------------------------------------------------------------------------

CHECKED = {QUICK: "quick check: sizes and mtimes against manifest.json and SHA256SUMS; --full re-hashes",
           FULL: "full check: every file re-hashed, every table re-counted and re-checked"}


def _human_size(size: float) -> str:
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size, i = size / 1000, i + 1
    return f"{size} B" if i == 0 else f"{size:.1f} {units[i]}"


def _raw_match(value: bool | None) -> str:
    return {True: "yes", False: "no"}.get(value, "not compared")


def _table(status: StoreStatus) -> str:
    rows = []
    for b in status.benchmarks:
        counts = list(b.rows.values()) + [None] * 3
        rows.append({
            "benchmark": b.name, "state": b.state,
            "files": f"{b.files}/{b.files_expected}" if b.files_expected else "",
            "size": _human_size(b.size) if b.state != MISSING else "",
            "configs": counts[0], "trials": counts[1], "intermediates": counts[2],
            "raw input": b.raw.get("file", ""), "raw sha256": (b.raw.get("sha256") or "")[:12],
            "is release": _raw_match(b.raw_matches_release) if b.raw else "",
            "built by": b.version or "",
            "SHA256SUMS": ("" if b.check is None else f"{'match' if not b.problems else 'DIFFER'} ({b.check})"),
        })
    return render_table(rows, max_cell=None)


def format_text(statuses: list[StoreStatus]) -> str:
    """The statuses as people read them: a heading and a table per store, then problems and fixes."""
    lines = []
    for status in statuses:
        lines += [f"{status.store_dir}  ({CHECKED[status.check]})", ""]
        if status.benchmarks:
            lines.append(_table(status))
        lines += [f"  problem: {problem}" for problem in status.problems]
        lines += [f"  fix: {status.fix}"] if status.fix else []
        for b in status.benchmarks:
            lines += [f"  {b.name}: {problem}" for problem in b.problems]
            if b.failing and b.fix:
                lines.append(f"  {b.name} is {b.state}; {'build' if b.state == MISSING else 'repair'} it: {b.fix}")
        lines.append("")
    failing = [f"{b.name} {b.state} in {s.store_dir}" for s in statuses for b in s.benchmarks if b.failing]
    failing += [f"{s.store_dir}: {p}" for s in statuses for p in s.problems]
    lines.append(f"FAIL: {'; '.join(failing)}" if failing else
                 "OK: every configured benchmark is present, and every file matches SHA256SUMS")
    return "\n".join(lines)


# --- the record of the files a full check proved intact --------------------------------------------

def _signature(st: os.stat_result, info: dict) -> list:
    return [info.get("sha256"), st.st_size, st.st_mtime_ns, st.st_ino]


def _signatures(store_dir: Path, entries: dict, names: list[str]) -> dict:
    out = {}
    for name in names:
        for rel, info in (entries[name].get("files") or {}).items():
            try:
                out[rel] = _signature((store_dir / rel).stat(), info)
            except OSError:
                pass
    return out


def record_path(store_dir: Path) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path("~", ".cache")).expanduser()
    key = hashlib.sha256(str(store_dir.resolve()).encode()).hexdigest()[:16]
    return cache / "nasbench-store-status" / f"{key}.json"


def _read_record(store_dir: Path) -> dict:
    try:
        record = json.loads(record_path(store_dir).read_text())
        return record["files"] if record.get("store_dir") == str(store_dir.resolve()) else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_record(store_dir: Path, signatures: dict) -> None:
    """Best effort: a cache directory that cannot be written only makes later quick checks stricter."""
    path = record_path(store_dir)
    record = {"store_dir": str(store_dir.resolve()), "files": {**_read_record(store_dir), **signatures}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass


# --- the commands that fix what is wrong -----------------------------------------------------------

def _command(action: str, name: str | None, fix_args) -> str:
    args = " ".join(shlex.quote(a) for a in fix_args)
    if action == "repair":
        if not args:
            return repair_command(name)
        hint = "" if "--configfile" in fix_args else " (add the --configfile options you built with)"
        return f"nasbench-store repair {name} {args}{hint}"
    target = f" {name}" if name else ""
    return (f"nasbench-store build{target}{' ' + args if args else ''} (in a checkout: "
            f"snakemake --cores 2{target}{' ' + args if args else ''})")
