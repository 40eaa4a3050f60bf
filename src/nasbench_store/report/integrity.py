"""The report's integrity page: what each store was built from, what it holds, and whether it is intact.

One self-contained HTML file (no scripts, no external resources): per benchmark the source
configured for it, the raw input the manifest records (name, size, sha256, whether it is the
configured release), the project version that built it, its files (size, sha256) and table row
counts; then the result of `verify_store` (every file re-hashed, every table re-counted and
re-checked) and the versions of the software that made the report.
"""
from __future__ import annotations

import html
import importlib.metadata
import platform
from pathlib import Path

from ..manifest import MANIFEST, read_manifest
from ..registry import BENCHMARKS
from ..verify import verify_store

SOFTWARE = ("nasbench-store", "snakemake", "pyarrow", "pandas", "numpy", "matplotlib", "peewee", "duckdb")
STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3}
code{font-size:90%}.ok{color:#176f2c;font-weight:bold}.bad{color:#b00020;font-weight:bold}"""


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def write_integrity(store_dir, benchmarks, out, sources: dict | None = None) -> list[str]:
    """Verify the store, write the page to `out`; return verify's problems (empty: intact)."""
    problems = verify_store(store_dir, list(benchmarks))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(page(store_dir, benchmarks, problems, sources or {}))
    return problems


def page(store_dir, benchmarks, problems: list[str], sources: dict) -> str:
    """The integrity page as HTML text."""
    store_dir = Path(store_dir)
    manifest = read_manifest(store_dir)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Store integrity</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>Store integrity</h1><p>Store: <code>{_e(store_dir.resolve())}</code> "
             f"(<code>{MANIFEST}</code>, <code>SHA256SUMS</code>).</p>",
             _verify_section(problems)]
    for name in benchmarks:
        parts.append(_benchmark_section(name, manifest["benchmarks"].get(name), sources.get(name) or {}))
    parts.append("<h2>Software that made this report</h2>" +
                 _table(["package", "version"], list(versions().items())))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _verify_section(problems: list[str]) -> str:
    if not problems:
        return ("<h2>Verify: <span class='ok'>passed</span></h2><p>Every file matches its sha256 in "
                "<code>SHA256SUMS</code>, every table has the row count the manifest records, Parquet equals "
                "SQLite, and each benchmark's invariants hold.</p>")
    items = "".join(f"<li>{_e(p)}</li>" for p in problems)
    return f"<h2>Verify: <span class='bad'>{len(problems)} problem(s)</span></h2><ul>{items}</ul>"


def _benchmark_section(name: str, entry: dict | None, source: dict) -> str:
    title = BENCHMARKS[name].title if name in BENCHMARKS else name
    head = f"<h2>{_e(title)} (<code>{_e(name)}</code>)</h2>"
    if entry is None:
        return head + "<p class='bad'>not in the manifest: this benchmark has not been built into this store.</p>"
    raw = entry.get("raw", {})
    matches = [f"{k.removeprefix('matches_configured_')}: {'yes' if v else 'no'}"
               for k, v in raw.items() if k.startswith("matches_configured_")]
    rows = [("configured source", _source(source)),
            ("raw file", raw.get("file", "")),
            ("raw size (bytes)", f"{raw['size']:,}" if isinstance(raw.get("size"), int) else ""),
            ("raw sha256", raw.get("sha256", "")),
            ("is the configured release", ", ".join(matches) or "not compared (no digest configured)"),
            ("built by nasbench-store", entry.get("version", ""))]
    rows += [(k, v) for k, v in sorted(entry.items()) if k not in ("files", "tables", "raw", "version")]
    files = [(rel, f"{info['size']:,}", info["sha256"]) for rel, info in sorted(entry["files"].items())]
    counts = {}
    for tables in entry.get("tables", {}).values():
        counts.update(tables)
    return (head + _table(["", ""], rows) + "<h3>Files</h3>" + _table(["file", "size (bytes)", "sha256"], files) +
            "<h3>Rows</h3>" + _table(["table", "rows"], [(t, f"{n:,}") for t, n in sorted(counts.items())]))


def _source(source: dict) -> str:
    if not source:
        return "not known here (the report was made from the store alone)"
    if source.get("path"):
        return f"local path {source['path']}"
    where = [source[k] for k in ("url",) if source.get(k)] + list(source.get("mirrors") or [])
    if source.get("gdrive_id"):
        where.append(f"Google Drive id {source['gdrive_id']}")
    digests = [f"{k} {source[k]}" for k in ("sha256", "md5") if source.get(k)]
    return "; ".join(where) + (f" ({', '.join(digests)})" if digests else " (no published digest)")


def _table(header, rows) -> str:
    head = "" if not any(header) else "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _e(value) -> str:
    return html.escape(str(value))
