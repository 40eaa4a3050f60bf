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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import orjson
import peewee

from .database import JSONField, benchmark_tables, check_tables, connect_readonly, missing_store_message
from .errors import QueryError, StoreNotFoundError
from .paths import ENV_STORE_DIR, default_store_dir

_local = threading.local()
MMAP_SIZE = 1 << 31  # SQLite caps it at its compile-time maximum (usually just under 2 GiB)


def connection(filename: str) -> sqlite3.Connection:
    """A read-only connection to `<store dir>/<filename>`, cached per thread and file identity;
    the benchmark's tables are checked to be plain tables when it opens."""
    path = _store_path(filename)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise StoreNotFoundError(missing_store_message(path)) from None
    key = (st.st_ino, st.st_mtime_ns, st.st_size, st.st_dev)
    try:
        cache = _local.connections
    except AttributeError:
        cache = _local.connections = {}
    cached = cache.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    if cached is not None:
        cached[1].close()
    conn = connect_readonly(path)
    try:
        check_tables(conn, path, benchmark_tables(filename))
        # Pages read through a memory map, without a copy per read: lookups take about a third less.
        # Safe for a store: a rebuild renames a new file into place, the mapped one stays intact.
        conn.execute(f"PRAGMA mmap_size = {MMAP_SIZE}")
    except BaseException:
        conn.close()
        raise
    cache[path] = (key, conn)
    return conn


_paths: dict = {}


def _store_path(filename: str) -> str:
    """str(default_store_dir() / filename), worked out once per value of the variables it reads."""
    environ = os.environ
    store_dir = environ.get(ENV_STORE_DIR)
    if store_dir and store_dir[0] != "~":  # the usual case: nothing else counts
        key = (filename, store_dir)
    else:
        key = (filename, store_dir, environ.get("XDG_CACHE_HOME"), environ.get("HOME"))
    path = _paths.get(key)
    if path is None:
        if len(_paths) > 256:
            _paths.clear()
        path = _paths[key] = str(default_store_dir() / filename)
    return path


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
                 include_intermediates: bool = False, fallback=None) -> Iterator[dict]:
    """Yield NNI's `model_to_dict` shapes for trials whose config matches every condition.

    `conditions` are (SQL over alias c for the config table, parameter) pairs; a parameter of
    None means the fragment takes no parameter. With 'mean', one dict per config: `id` is None,
    columns in `not_averaged` are None, `num_trials` says how many trials were averaged, and
    intermediates (if asked) are per-epoch averages over those trials. `fallback`: a function
    giving other conditions, tried when `conditions` match nothing (a cheap exact lookup first,
    then the general one).
    """
    reduction = normalize_reduction(reduction)
    conn = connection(t.db_filename)
    where, params = _where(conditions)
    plan = _plan(t, where, reduction)
    rows = conn.execute(plan.sql, params).fetchall()
    if not rows and fallback is not None:
        where, params = _where(fallback())
        plan = _plan(t, where, reduction)
        rows = conn.execute(plan.sql, params).fetchall()
    if reduction is None and len(rows) > 1:
        rows.sort(key=_first)  # NNI's order, trial id; in Python: SQLite's sorter costs more than the lookup
    yield from _dicts(plan, rows, _intermediates(conn, t, rows, reduction, where, params)
                      if include_intermediates else None)


def _first(row: tuple):
    return row[0]


def _where(conditions: Sequence[tuple[str, object]]) -> tuple[str, list]:
    return " AND ".join([c[0] for c in conditions]) or "1", [c[1] for c in conditions if c[1] is not None]


@dataclass(frozen=True)
class _Plan:
    """One query shape, worked out once: its SQL and how a row becomes NNI's dict.

    A row is (trial id, NULL for the config, the stats columns[, the count of trials], the config
    columns), so the dict's first keys come straight from the row in NNI's order."""
    sql: str
    build: Callable[[list[tuple]], list[dict]]  # rows -> dicts, without intermediates
    config_start: int  # index of the config id in a row
    mean: bool


_plans: dict = {}


def _plan(t: TrialTables, where: str, reduction) -> _Plan:
    key = (t.db_filename, t.config_table, where, reduction)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    config_keys = ("id", *t.config_columns)
    config_sel = ", ".join(f'c."{c}"' for c in config_keys)
    keys = ("id", "config", *t.stats_columns)
    if reduction == "mean":
        stats_sel = ", ".join("NULL" if c in t.not_averaged else f'AVG(s."{c}")' for c in t.stats_columns)
        sql = (f'SELECT NULL, NULL, {stats_sel}, COUNT(*), {config_sel} FROM "{t.stats_table}" s '
               f'JOIN "{t.config_table}" c ON s.config_id = c.id WHERE {where} '
               f'GROUP BY s.config_id ORDER BY s.config_id')
        keys += ("num_trials",)
    else:
        stats_sel = ", ".join(f's."{c}"' for c in t.stats_columns)
        sql = (f'SELECT s.id, NULL, {stats_sel}, {config_sel} FROM "{t.stats_table}" s '
               f'JOIN "{t.config_table}" c ON s.config_id = c.id WHERE {where}')
    plan = _Plan(sql, _row_builder(keys, len(keys), config_keys, t.json_columns), len(keys), reduction == "mean")
    if len(_plans) < 1024:  # callers build `where` from a few fixed fragments
        _plans[key] = plan
    return plan


def _row_builder(keys: tuple[str, ...], start: int, config_keys: tuple[str, ...], json_columns) -> Callable:
    """A function turning rows into NNI's dicts, written out for this row shape: a dict display
    per row takes half the time of dict(zip(...)) and a loop over the JSON columns."""
    def value(i: int, key: str) -> str:
        return f"loads(r[{i}]) if r[{i}] is not None else None" if key in json_columns else f"r[{i}]"

    config = ", ".join(f"{k!r}: {value(start + j, k)}" for j, k in enumerate(config_keys))
    items = ", ".join(f"{k!r}: {{{config}}}" if k == "config" else f"{k!r}: r[{i}]" for i, k in enumerate(keys))
    namespace = {"loads": _loads}
    exec(f"def build(rows):\n    return [{{{items}}} for r in rows]\n", namespace)
    return namespace["build"]


def _loads(text: str):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what orjson refuses (NaN, huge integers) json reads as NNI does
        return json.loads(text)


def _dicts(plan: _Plan, rows: list[tuple], inter: dict | None) -> list[dict]:
    out = plan.build(rows)
    if inter is not None:
        at = plan.config_start if plan.mean else 0
        for d, row in zip(out, rows):
            d["intermediates"] = inter.get(row[at], [])
    return out


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
