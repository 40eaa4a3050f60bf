"""Invariant checks shared by the benchmarks' `checks` modules."""
from __future__ import annotations

import contextlib
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .database import connect_readonly
from .parts import row_groups
from .registry import get


def sql_list(values) -> str:
    """A SQL value list `('a', 'b', 3)` for IN clauses (the values are the project's own constants)."""
    return "(" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values) + ")"


def count_violations(conn: sqlite3.Connection, what: str, sql: str) -> list[str]:
    """A rule is a SQL query returning a count of offending rows; report it when non-zero."""
    n = conn.execute(sql).fetchone()[0]
    return [f"{n} rows violate: {what}"] if n else []


def parquet_matches_sqlite(conn: sqlite3.Connection, parquet_dir: Path, tables: list[str]) -> list[str]:
    """Compare per-column sums and null counts of each table in Parquet and in SQLite."""
    problems = []
    for table in tables:
        pf = pq.ParquetFile(parquet_dir / f"{table}.parquet")
        numeric = [f.name for f in pf.schema_arrow if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
        sums = {c: 0.0 for c in numeric}
        nulls = {c: 0 for c in numeric}
        for batch in row_groups(parquet_dir / f"{table}.parquet", numeric):
            for c in numeric:
                col = batch.column(c)
                sums[c] += (pc.sum(col).as_py() or 0)
                nulls[c] += col.null_count
        sel = ", ".join(f'TOTAL("{c}"), SUM("{c}" IS NULL)' for c in numeric)
        row = conn.execute(f'SELECT {sel} FROM "{table}"').fetchone()
        for i, c in enumerate(numeric):
            s, n = row[2 * i], row[2 * i + 1] or 0
            if n != nulls[c] or abs(s - sums[c]) > 1e-9 * max(1.0, abs(s)):
                problems.append(f"{table}.{c}: Parquet and SQLite differ (sum {sums[c]!r} vs {s!r}, "
                                f"nulls {nulls[c]} vs {n})")
    return problems


def table_checks(db_path: Path, parquet_dir: Path, benchmark: str, rules: dict[str, str], beside=None,
                 after=None) -> list[str]:
    """A benchmark's SQL invariants, Parquet-vs-SQLite agreement, and `beside(conn)`, `after(conn)`.

    The rules and each table's Parquet comparison run side by side, each on its own read-only
    connection: SQLite and Arrow release the GIL while they scan, so every core works on a table.
    `beside` is a check that holds the GIL most of its time (Python per row, NB101's rehash): it
    runs in one thread more than cores, beside the scans. `after` runs once they are done (NB201's
    scans of its own, which would compete with them: measured slower beside). Problems are listed
    in the order of the rules, the tables, `beside`, `after`, whatever finishes first.
    """
    def on_connection(check, *args) -> list[str]:
        with contextlib.closing(connect_readonly(db_path)) as conn:
            return check(conn, *args)

    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + (beside is not None)) as pool:
        # the longest tasks first: `beside`, then each table's Parquet-vs-SQLite sums (every numeric column)
        first = [pool.submit(on_connection, beside)] if beside is not None else []
        sums = [pool.submit(on_connection, parquet_matches_sqlite, Path(parquet_dir), [table])
                for table in get(benchmark).stored_tables]
        counts = [pool.submit(on_connection, count_violations, what, sql) for what, sql in rules.items()]
        problems = [problem for future in counts + sums + first for problem in future.result()]
    return problems + (on_connection(after) if after is not None else [])
