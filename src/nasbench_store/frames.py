"""Bulk access for analysis: a store's Parquet tables as pandas DataFrames (or Arrow tables).

The query functions answer one architecture at a time in NNI's shapes; for a whole benchmark at
once (plots, surrogate training), read the Parquet tables directly. `trials` joins each run to its
config so one row holds everything a researcher usually filters and plots on.
"""
from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import QueryError, StoreNotFoundError
from .paths import default_store_dir
from .registry import get


def _tables(benchmark: str) -> tuple[str, str, str]:
    return get(benchmark).tables


def _path(benchmark: str, table: str, store_dir) -> Path:
    if table not in _tables(benchmark):
        raise QueryError(f"{benchmark} has no table {table!r}; valid: {', '.join(_tables(benchmark))}")
    path = Path(store_dir or default_store_dir()) / get(benchmark).parquet_file(table)
    if not path.exists():
        raise StoreNotFoundError(f"{path} does not exist; build the {benchmark} store first "
                                 f"(`snakemake --cores 2 {benchmark}`) or set NASBENCHMARK_DIR")
    return path


def read_arrow(benchmark: str, table: str, columns=None, filters=None, store_dir=None) -> pa.Table:
    """One table as Arrow; `filters` are pyarrow/Parquet filters, e.g. [("num_epochs", "=", 108)].

    An unknown column (in `columns` or `filters`), a malformed filter or a value of the wrong type
    raises QueryError naming the table's columns.
    """
    path = _path(benchmark, table, store_dir)
    schema = pq.read_schema(path)
    where = f"{benchmark} table {table}"
    expression = _filter_expression(filters, schema, where)
    for name in _filter_columns(filters) + (list(columns) if isinstance(columns, (list, tuple)) else []):
        if name not in schema.names:
            raise _no_column(where, name, schema)
    try:
        return pq.read_table(path, columns=columns, filters=expression)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        missing = re.search(r"No match for FieldRef\.Name\((.*?)\)", str(exc))   # in an Expression filter
        if missing:
            raise _no_column(where, missing[1], schema) from None
        if expression is None or "no kernel matching input types" not in str(exc):
            raise
        typed = ", ".join(f"{f.name} ({f.type})" for f in schema)
        raise QueryError(f"{where}: a filter value does not fit its column's type ({exc}); columns: {typed}") from None


def _no_column(where: str, name, schema: pa.Schema) -> QueryError:
    return QueryError(f"{where} has no column {name!r}; valid columns: {', '.join(schema.names)}")


def _filter_expression(filters, schema: pa.Schema, where: str):
    """`filters` as an Arrow expression (None or [] for no filter); QueryError if malformed."""
    if filters is None or isinstance(filters, pc.Expression):
        return filters
    if isinstance(filters, (list, tuple)) and not filters:
        return None
    try:
        return pq.filters_to_expression(filters)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise QueryError(f"{where}: {filters!r} is not a filter ({exc}); write [(column, op, value), ...] with "
                         f"op one of =, ==, !=, <, >, <=, >=, in, not in; columns: {', '.join(schema.names)}") from None


def _filter_columns(filters) -> list:
    """Column names of a well-formed list filter: [(col, op, value), ...] or a list of such lists."""
    if filters is None or isinstance(filters, pc.Expression) or not filters:
        return []
    conjunctions = [filters] if isinstance(filters[0][0], str) else filters
    return [predicate[0] for conjunction in conjunctions for predicate in conjunction]


def read_table(benchmark: str, table: str, columns=None, filters=None, store_dir=None):
    """One table as a pandas DataFrame (JSON columns stay JSON text; see `trials` for dicts)."""
    return read_arrow(benchmark, table, columns, filters, store_dir).to_pandas()


def trials(benchmark: str, config_filters=None, store_dir=None):
    """Every run joined to its config (config columns prefixed `config_`), as a DataFrame.

    `config_filters` restricts the configs first (e.g. [("num_epochs", "=", 108)] for NB101,
    [("dataset", "=", "cifar100")] for NB201), which keeps memory small on the big tables.
    """
    config_table, stats_table, _ = _tables(benchmark)
    config = read_arrow(benchmark, config_table, filters=config_filters, store_dir=store_dir)
    config = config.rename_columns([f"config_{c}" if c != "id" else "config_id" for c in config.column_names])
    stats = read_arrow(benchmark, stats_table, store_dir=store_dir)
    if config_filters:
        stats = stats.filter(pc.is_in(stats["config_id"], value_set=config["config_id"]))
    joined = stats.join(config, keys="config_id", join_type="inner")
    return joined.sort_by("id").to_pandas()
