"""NNI's trial-stats queries over a store, in plain SQL: one module for all three benchmarks.

NNI builds a peewee query per call and fetches intermediates with one more query per trial.
Here the SQL is prepared once, intermediates come from one query for the whole result, and the
connection is read-only and reopened when the file was replaced by a rebuild (atomic rename), so
a reader sees the old store or the new one, never a partial one.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import peewee

from .database import JSONField, benchmark_tables, check_tables, connect_readonly, missing_store_message
from .errors import QueryError, StoreNotFoundError
from .paths import default_store_dir

_local = threading.local()


def connection(filename: str) -> sqlite3.Connection:
    """A read-only connection to `<store dir>/<filename>`, cached per thread and file identity;
    the benchmark's tables are checked to be plain tables when it opens."""
    path = default_store_dir() / filename
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise StoreNotFoundError(missing_store_message(path)) from None
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    cache = _local.__dict__.setdefault("connections", {})
    cached = cache.get(str(path))
    if cached is not None and cached[0] == key:
        return cached[1]
    if cached is not None:
        cached[1].close()
    conn = connect_readonly(path)
    try:
        check_tables(conn, path, benchmark_tables(filename))
    except BaseException:
        conn.close()
        raise
    cache[str(path)] = (key, conn)
    return conn


@dataclass(frozen=True)
class TrialTables:
    """Names and column order (NNI's field order) of one benchmark's three tables."""
    db_filename: str
    config_table: str
    config_columns: tuple[str, ...]  # without id
    json_columns: frozenset[str]
    stats_table: str
    stats_columns: tuple[str, ...]  # without id and config_id
    intermediate_table: str
    intermediate_columns: tuple[str, ...]  # without id and trial_id
    not_averaged: frozenset[str] = frozenset()  # stats columns NNI leaves out of 'mean' (e.g. seed)

    @classmethod
    def of(cls, benchmark: str) -> TrialTables:
        """Derived from the benchmark's models: integer trial columns (seeds) are not averaged."""
        from .registry import get
        entry = get(benchmark)
        config, stats, inter = entry.models

        def columns(model) -> list[peewee.Field]:
            return [f for f in model._meta.sorted_fields
                    if not isinstance(f, (peewee.AutoField, peewee.ForeignKeyField))]

        return cls(
            db_filename=entry.db_filename,
            config_table=config._meta.table_name,
            config_columns=tuple(f.column_name for f in columns(config)),
            json_columns=frozenset(f.column_name for f in columns(config) if isinstance(f, JSONField)),
            stats_table=stats._meta.table_name,
            stats_columns=tuple(f.column_name for f in columns(stats)),
            intermediate_table=inter._meta.table_name,
            intermediate_columns=tuple(f.column_name for f in columns(inter)),
            not_averaged=frozenset(f.column_name for f in columns(stats) if isinstance(f, peewee.IntegerField)),
        )


def normalize_reduction(reduction):
    """NNI's reduction argument: None/'none' or 'mean'. Anything else raises NNI's message as a
    QueryError (a ValueError, as NNI's is) that also lists the valid values."""
    if reduction is None or (isinstance(reduction, str) and reduction == "none"):
        return None
    if isinstance(reduction, str) and reduction == "mean":
        return "mean"
    raise QueryError(f"Unsupported reduction: '{reduction}'; valid reductions: None, 'none', 'mean'")


def check_epochs(num_epochs, valid: Sequence[int], benchmark: str) -> int:
    """A num_epochs filter that is one of `valid`; like NNI's INTEGER column, '108' and 108.0 mean 108.

    Anything else raises QueryError listing the valid counts (NNI matches nothing).
    """
    if isinstance(num_epochs, str) and num_epochs.strip().isdigit():
        num_epochs = int(num_epochs)
    elif isinstance(num_epochs, float) and num_epochs.is_integer():
        num_epochs = int(num_epochs)
    if isinstance(num_epochs, bool) or num_epochs not in valid:
        raise QueryError(f"{benchmark} has no {num_epochs!r}-epoch runs; valid: "
                         f"{', '.join(map(str, valid))} or None")
    return num_epochs


def query_trials(t: TrialTables, conditions: Sequence[tuple[str, object]], reduction=None,
                 include_intermediates: bool = False) -> Iterator[dict]:
    """Yield NNI's `model_to_dict` shapes for trials whose config matches every condition.

    `conditions` are (SQL over alias c for the config table, parameter) pairs; a parameter of
    None means the fragment takes no parameter. With 'mean', one dict per config: `id` is None,
    columns in `not_averaged` are None, `num_trials` says how many trials were averaged, and
    intermediates (if asked) are per-epoch averages over those trials.
    """
    reduction = normalize_reduction(reduction)
    where = " AND ".join(sql for sql, _ in conditions) or "1"
    params = [p for _, p in conditions if p is not None]
    config_sel = ", ".join(f'c."{c}"' for c in ("id", *t.config_columns))
    if reduction == "mean":
        stats_sel = ", ".join("NULL" if c in t.not_averaged else f'AVG(s."{c}")' for c in t.stats_columns)
        sql = (f'SELECT NULL, {stats_sel}, COUNT(*), {config_sel} FROM "{t.stats_table}" s '
               f'JOIN "{t.config_table}" c ON s.config_id = c.id WHERE {where} '
               f'GROUP BY s.config_id ORDER BY s.config_id')
    else:
        stats_sel = ", ".join(f's."{c}"' for c in t.stats_columns)
        sql = (f'SELECT s.id, {stats_sel}, NULL, {config_sel} FROM "{t.stats_table}" s '
               f'JOIN "{t.config_table}" c ON s.config_id = c.id WHERE {where} ORDER BY s.id')
    conn = connection(t.db_filename)
    rows = conn.execute(sql, params).fetchall()
    n_stats = len(t.stats_columns)
    config_keys = ("id", *t.config_columns)
    json_idx = [i for i, c in enumerate(config_keys) if c in t.json_columns]
    inter = _intermediates(conn, t, rows, reduction, where, params) if include_intermediates else None
    for row in rows:
        config_vals = list(row[n_stats + 2:])
        for i in json_idx:
            if config_vals[i] is not None:
                config_vals[i] = json.loads(config_vals[i])
        out = {"id": row[0], "config": dict(zip(config_keys, config_vals))}
        out.update(zip(t.stats_columns, row[1:n_stats + 1]))
        if reduction == "mean":
            out["num_trials"] = row[n_stats + 1]
        if inter is not None:
            out["intermediates"] = inter.get(row[0] if reduction is None else config_vals[0], [])
        yield out


def _intermediates(conn, t: TrialTables, rows, reduction, where, params) -> dict:
    """All intermediates of the result in one query, keyed by trial id (or config id for 'mean')."""
    if not rows:
        return {}
    cols = t.intermediate_columns
    by: dict = {}
    if reduction is None:
        sel = ", ".join(f'i."{c}"' for c in cols)
        ids = [r[0] for r in rows]
        sql = (f'SELECT i.trial_id, i.id, {sel} FROM "{t.intermediate_table}" i '
               f'WHERE i.trial_id IN (SELECT value FROM json_each(?)) ORDER BY i.trial_id, i.id')
        for r in conn.execute(sql, [json.dumps(ids)]):
            by.setdefault(r[0], []).append(dict(zip(("id", *cols), r[1:])))
        return by
    sel = ", ".join(f'i."{c}"' if c == "current_epoch" else f'AVG(i."{c}")' for c in cols)
    sql = (f'SELECT s.config_id, NULL, {sel} FROM "{t.intermediate_table}" i '
           f'JOIN "{t.stats_table}" s ON i.trial_id = s.id JOIN "{t.config_table}" c ON s.config_id = c.id '
           f'WHERE {where} GROUP BY s.config_id, i.current_epoch ORDER BY s.config_id, i.current_epoch')
    for r in conn.execute(sql, params):
        by.setdefault(r[0], []).append(dict(zip(("id", *cols), r[1:])))
    return by
