"""Bulk access for analysis: a store's Parquet tables as pandas DataFrames (or Arrow tables).

The query functions answer one architecture at a time in NNI's shapes; for a whole benchmark at
once (plots, surrogate training), read the Parquet tables directly:

- `read_table` / `read_arrow`: one table, with column selection and Parquet filters;
- `trials`: every run joined to its config, one row per run;
- `summary`: per config (an architecture at a budget, on a dataset), mean / std / min / max of
  every metric over its runs (seeds), with the number of runs;
- `curves`: per-epoch learning curves, long (one row per run and epoch) or wide (one row per run),
  per run or averaged over runs;
- `architectures`: each config's architecture in the benchmark's encodings (NNI's dict; NB101's
  matrix, ops and graph hash; NB201's arch string and index);
- `duckdb_connection`: DuckDB with a view per table, for SQL.

Everything is computed by Arrow (filters pushed into the Parquet scan, hash group-by, hash join),
never row by row in Python, so the whole NB101 (5 million runs, 10 million intermediate rows) takes
seconds. Units are the store's: accuracies in percent, parameters and FLOPs in millions, times in
seconds (docs/formats.md#conventions).
"""
from __future__ import annotations

import gc
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .errors import NasbenchStoreError, QueryError, StoreNotFoundError
from .paths import default_store_dir
from .registry import BENCHMARKS, get
from .tablewriter import parquet_provenance

# Columns of the trial and intermediate tables that identify a row rather than measure something.
KEYS = ("id", "config_id", "trial_id", "seed", "current_epoch")
STATS = ("mean", "std", "min", "max")
REDUCTIONS = (None, "none", "mean")


class DuckDBUnavailableError(NasbenchStoreError, ImportError):
    """DuckDB, an optional dependency, is not installed."""


def _tables(benchmark: str) -> tuple[str, str, str]:
    return get(benchmark).tables


def _path(benchmark: str, table: str, store_dir) -> Path:
    if table not in _tables(benchmark):
        raise QueryError(f"{benchmark} has no table {table!r}; valid: {', '.join(_tables(benchmark))}")
    path = Path(store_dir or default_store_dir()) / get(benchmark).parquet_file(table)
    if not path.exists():
        raise StoreNotFoundError(f"{path} does not exist; build the {benchmark} store first (`nasbench-store build "
                                 f"{benchmark}`; in a checkout: `snakemake --cores 2 {benchmark}`) or set "
                                 f"NASBENCHMARK_DIR to the directory that holds it")
    return path


def read_arrow(benchmark: str, table: str, columns=None, filters=None, store_dir=None) -> pa.Table:
    """One table as Arrow; `filters` are pyarrow/Parquet filters, e.g. [("num_epochs", "=", 108)].

    An unknown column (in `columns` or `filters`), a malformed filter or a value of the wrong type
    raises QueryError naming the table's columns.
    """
    return _read_arrow(benchmark, table, columns, filters, store_dir)


def _read_arrow(benchmark: str, table: str, columns, filters, store_dir, filter_columns=None) -> pa.Table:
    """`read_arrow`; `filter_columns` names the columns an Expression filter reads, when known."""
    path = _path(benchmark, table, store_dir)
    schema = pq.read_schema(path)
    where = f"{benchmark} table {table}"
    expression = _filter_expression(filters, schema, where)
    for name in _filter_columns(filters) + (list(columns) if isinstance(columns, (list, tuple)) else []):
        if name not in schema.names:
            raise _no_column(where, name, schema)
    if not isinstance(filters, pc.Expression):
        filter_columns = _filter_columns(filters)
    try:
        if expression is None:
            return pq.read_table(path, columns=columns)
        if filter_columns is None and columns is not None:  # an Expression over columns we cannot list
            return pq.read_table(path, columns=columns, filters=expression)
        return _scan(path, columns, expression, filter_columns or [])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        missing = re.search(r"No match for FieldRef\.Name\((.*?)\)", str(exc))   # in an Expression filter
        if missing:
            raise _no_column(where, missing[1], schema) from None
        if expression is None or "no kernel matching input types" not in str(exc):
            raise
        typed = ", ".join(f"{f.name} ({f.type})" for f in schema)
        raise QueryError(f"{where}: a filter value does not fit its column's type ({exc}); columns: {typed}") from None


def _scan(path: Path, columns, expression: pc.Expression, filter_columns) -> pa.Table:
    """pq.read_table(path, columns=columns, filters=expression), about twice as fast: the row groups
    whose statistics may match, read batch by batch and filtered as they come (the dataset scanner
    that read_table uses is slower here, and holds more of the unfiltered rows)."""
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    names = schema.names if columns is None else list(columns)
    read = [*names, *[c for c in dict.fromkeys(filter_columns) if c not in names]]
    fragment = next(iter(ds.dataset(path, format="parquet").get_fragments()))
    groups = [group.id for group in fragment.subset(expression).row_groups]
    batches = [batch.filter(expression) for batch in parquet.iter_batches(row_groups=groups, columns=read)]
    rows = pa.Table.from_batches(batches, pa.schema([schema.field(c) for c in read], metadata=schema.metadata))
    return rows.select(names) if rows.column_names != names else rows


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


def trials(benchmark: str, config_filters=None, store_dir=None, columns=None, config_columns=None):
    """Every run joined to its config (config columns prefixed `config_`), as a DataFrame.

    `config_filters` restricts the configs first (e.g. [("num_epochs", "=", 108)] for NB101,
    [("dataset", "=", "cifar100")] for NB201), which keeps memory small on the big tables.
    `columns` and `config_columns` pick the trial and config columns read (default: all; `id`
    and `config_id` are always there), e.g. to leave out NDS's long `cell_spec` text.
    """
    config = _configs(benchmark, config_filters, config_columns, store_dir)
    config = config.rename_columns([c if c == "config_id" else f"config_{c}" for c in config.column_names])
    if columns is not None:
        columns = ["id", "config_id", *[c for c in ([columns] if isinstance(columns, str) else columns)
                                        if c not in ("id", "config_id")]]
    stats = _read_in(benchmark, _tables(benchmark)[1], columns, "config_id",
                     config["config_id"] if config_filters else None, store_dir)
    joined = stats.join(config, keys="config_id", join_type="inner")
    return joined.sort_by("id").to_pandas()


# --- metrics: the measured columns of the trial and intermediate tables --------------------------

def metrics(benchmark: str, table: str = "trials") -> tuple[str, ...]:
    """The metric columns (floating point) of the trial table (`"trials"`) or the intermediate
    table (`"intermediates"`), in table order: what `summary` and `curves` aggregate."""
    kinds = {"trials": 1, "intermediates": 2}
    if table not in kinds:
        raise QueryError(f"table must be 'trials' or 'intermediates', not {table!r}")
    model = get(benchmark).models[kinds[table]]
    return tuple(f.column_name for f in model._meta.sorted_fields
                 if f.column_name not in KEYS and f.field_type == "FLOAT")


def _chosen_metrics(benchmark: str, table: str, chosen) -> list[str]:
    valid = metrics(benchmark, table)
    if chosen is None:
        return list(valid)
    names = [chosen] if isinstance(chosen, str) else list(chosen)
    bad = [m for m in names if m not in valid]
    if bad or not names:
        raise QueryError(f"{benchmark} {table} have no metric {bad[0] if bad else '(none given)'!r}; "
                         f"valid metrics: {', '.join(valid)}")
    return names


def _check_reduction(reduction) -> str | None:
    if reduction not in REDUCTIONS:
        raise QueryError(f"unsupported reduction {reduction!r}; valid: None, 'none', 'mean'")
    return None if reduction == "none" else reduction


def _configs(benchmark: str, config_filters, columns, store_dir) -> pa.Table:
    """The config table (filtered), `id` renamed `config_id`."""
    config_table = _tables(benchmark)[0]
    if columns is not None:
        columns = ["id", *[c for c in ([columns] if isinstance(columns, str) else columns) if c != "id"]]
    config = read_arrow(benchmark, config_table, columns=columns, filters=config_filters, store_dir=store_dir)
    return config.rename_columns(["config_id" if c == "id" else c for c in config.column_names])


def _runs(benchmark: str, columns: list[str], config_ids, store_dir) -> pa.Table:
    """Columns of the trial table, restricted to runs of `config_ids` (None: every run)."""
    return _read_in(benchmark, _tables(benchmark)[1], columns, "config_id", config_ids, store_dir)


def _configs_and_runs(benchmark: str, config_filters, config_columns, run_columns: list[str], store_dir):
    """(`_configs(...)`, the runs of those configs): read side by side when every run is read
    (no filter, or one that keeps many configs), which on two cores takes about the time of the
    longer read instead of the sum."""
    ids = None
    if config_filters:
        ids = _configs(benchmark, config_filters, [], store_dir)["config_id"]   # cheap: integer columns
        if len(ids) <= PUSHDOWN_VALUES:   # few configs: their runs come from a selective scan
            return _configs(benchmark, config_filters, config_columns, store_dir), \
                _runs(benchmark, run_columns, ids, store_dir)
    with ThreadPoolExecutor(1) as pool:
        runs = pool.submit(_runs, benchmark, run_columns, ids, store_dir)
        config = _configs(benchmark, config_filters, config_columns, store_dir)
        return config, runs.result()


# Up to this many values, an `in` filter goes into the Parquet scan (it skips row groups); beyond,
# the scan evaluates it far more slowly than a lookup per batch as the rows are read.
PUSHDOWN_VALUES = 10_000


def _read_in(benchmark: str, table: str, columns: list[str], key: str, values, store_dir) -> pa.Table:
    """`columns` of `table` for the rows whose `key` is in `values` (None: every row)."""
    if values is None:
        return read_arrow(benchmark, table, columns=columns, store_dir=store_dir)
    if len(values) <= PUSHDOWN_VALUES:
        return _read_arrow(benchmark, table, columns, pc.field(key).isin(values), store_dir, [key])
    path = _path(benchmark, table, store_dir)
    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names if columns is None else list(columns)
    for name in [*names, key]:
        if name not in parquet.schema_arrow.names:
            raise _no_column(f"{benchmark} table {table}", name, parquet.schema_arrow)
    read = names if key in names else [*names, key]
    keep = _membership(values)
    schema = pa.schema([parquet.schema_arrow.field(c) for c in read], metadata=parquet.schema_arrow.metadata)
    batches = [batch.filter(keep(batch.column(key))) for batch in parquet.iter_batches(columns=read)]
    rows = pa.Table.from_batches(batches, schema)
    return rows.select(names) if read != names else rows


def _membership(values):
    """A function: an Arrow column -> the mask of its values that are in `values` (pc.is_in). Ids
    (non-negative integers, not too sparse) go through a lookup table, many times faster than
    Arrow's hash set when there are hundreds of thousands of values."""
    value_set = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    wanted = value_set.to_numpy() if len(value_set) and value_set.null_count == 0 else np.zeros(0)

    def arrows(column):
        return pc.is_in(column, value_set=value_set)

    if wanted.dtype.kind not in "iu" or not len(wanted) or wanted.min() < 0 or \
            wanted.max() > 64 * len(wanted) + (1 << 20):
        return arrows
    table = np.zeros(int(wanted.max()) + 2, dtype=bool)   # the last slot stays False: keys beyond land there
    table[wanted] = True
    last = len(table) - 1

    def lookup(column):
        if column.null_count or not pa.types.is_integer(column.type) or not len(column):
            return arrows(column)
        keys = column.to_numpy()
        if keys.min() < 0:
            return arrows(column)
        return pa.array(table[np.minimum(keys, last)])

    return lookup


# --- grouping: vectorized with numpy over sorted keys --------------------------------------------

def _groups(*keys: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(order that sorts the rows by `keys`, or None when they already are; start of each group in
    that order). The first key is the major one."""
    n = len(keys[0])
    if n == 0:
        return None, np.zeros(0, dtype=np.int64)
    change = np.zeros(n - 1, dtype=bool)
    ascending = np.ones(n - 1, dtype=bool)
    for key in keys:   # lexicographic: a row is in order when the earlier keys tie and this one grows
        step = np.diff(key)
        ascending = np.where(change, ascending, step >= 0)
        change |= step != 0
    order = None if ascending.all() else np.lexsort(keys[::-1])
    if order is not None:
        keys = tuple(k[order] for k in keys)
        change = np.zeros(n - 1, dtype=bool)
        for key in keys:
            change |= np.diff(key) != 0
    return order, np.flatnonzero(np.r_[True, change])


def _values(table: pa.Table, name: str, order) -> np.ndarray:
    """A numeric column as float64 with NaN for NULL, in `order`."""
    values = table[name].to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    return values if order is None else values[order]


def _reduce(values: np.ndarray, starts: np.ndarray, stats) -> dict[str, np.ndarray]:
    """Per group (rows starts[i]..starts[i+1]-1): mean, sample std (ddof=1), min and max of the
    non-NaN values; NaN where a group has none (std: fewer than two)."""
    if len(starts) == 0:
        return {s: np.zeros(0) for s in stats}
    size = len(values) // len(starts)
    if 1 <= size <= 8 and len(values) == size * len(starts) and (starts == np.arange(0, len(values), size)).all() \
            and not np.isnan(values).any():
        return _reduce_equal(values.reshape(-1, size), stats)
    present = ~np.isnan(values)
    count = np.add.reduceat(present.astype(np.int64), starts)
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.add.reduceat(np.where(present, values, 0.0), starts) / count
        if "mean" in stats:
            out["mean"] = mean
        if "std" in stats:
            sizes = np.diff(np.r_[starts, len(values)])
            deviation = np.where(present, values - np.repeat(mean, sizes), 0.0)
            squares = np.add.reduceat(deviation * deviation, starts)
            out["std"] = np.where(count > 1, np.sqrt(squares / np.maximum(count - 1, 1)), np.nan)
        if "min" in stats:
            out["min"] = np.fmin.reduceat(values, starts)
        if "max" in stats:
            out["max"] = np.fmax.reduceat(values, starts)
    return out


def _reduce_equal(grid: np.ndarray, stats) -> dict[str, np.ndarray]:
    """`_reduce` of groups of equal size k <= 8 without NaN (NB101: three runs per config), one
    row of `grid` per group, column by column; the same floating-point operations in the same
    order as np.add.reduceat (the first value plus the sum of the rest), so the same bits."""
    k = grid.shape[1]
    count = np.int64(k)
    columns = [grid[:, j] for j in range(k)]

    def total(columns):
        rest = None
        for column in columns[1:]:
            rest = column.copy() if rest is None else np.add(rest, column, out=rest)
        return columns[0].copy() if rest is None else columns[0] + rest

    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total(columns) / count
        if "mean" in stats:
            out["mean"] = mean
        if "std" in stats:
            squares = total([(column - mean) ** 2 for column in columns])
            out["std"] = np.sqrt(squares / max(k - 1, 1)) if k > 1 else np.full(len(grid), np.nan)
        for name, pick in (("min", np.minimum), ("max", np.maximum)):
            if name in stats:   # column by column: numpy reduces short rows (axis=1) slowly
                out[name] = columns[0].copy()
                for column in columns[1:]:
                    pick(out[name], column, out=out[name])
    return out


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row numbers of `wanted` ids in a table whose id column is `ids` (ids unique; all present)."""
    if len(ids) and np.all(np.diff(ids) > 0):
        return np.searchsorted(ids, wanted)
    order = np.argsort(ids, kind="stable")
    return order[np.searchsorted(ids[order], wanted)]


def _rows(table: pa.Table, positions: np.ndarray) -> pa.Table:
    """table.take(positions), through a cheaper filter when the positions ascend (a sorted subset)."""
    if len(positions) == len(table) and np.array_equal(positions, np.arange(len(table))):
        return table
    if len(positions) and np.all(np.diff(positions) > 0):
        mask = np.zeros(len(table), dtype=bool)
        mask[positions] = True
        return table.filter(pa.array(mask))
    return table.take(positions)


# --- per config: statistics over runs ----------------------------------------------------------

def summary(benchmark: str, metrics=None, config_filters=None, config_columns=None, store_dir=None):
    """One row per config that has runs: its columns, `num_trials` (how many runs, i.e. seeds, it
    has) and `<metric>_mean`, `_std`, `_min`, `_max` over those runs, ordered by `config_id`.

    A config is an architecture at a training budget (NB101: `num_epochs`; NB201: `num_epochs` and
    `dataset`; NDS: the whole training setup), so this is "per architecture and budget". `metrics`
    (a name or a list; default every metric of the trial table, see `frames.metrics`) picks the
    columns; `config_filters` restricts the configs (e.g. [("num_epochs", "=", 108)]);
    `config_columns` picks the config columns kept (default all; on the whole NB101, leaving out
    `arch` saves time and memory). `std` is the sample standard deviation (ddof=1, as pandas'),
    NaN for a single run; NULL values (NB201 losses) are skipped. NB201 configs of untrained
    architectures have no runs and no row.
    """
    names = _chosen_metrics(benchmark, "trials", metrics)
    config, runs = _configs_and_runs(benchmark, config_filters, config_columns, ["config_id", *names], store_dir)
    config_of_run = runs["config_id"].to_numpy()
    order, starts = _groups(config_of_run)
    keys = (config_of_run if order is None else config_of_run[order])[starts]
    columns = {"num_trials": np.diff(np.r_[starts, len(config_of_run)])}
    for m in names:
        reduced = _reduce(_values(runs, m, order), starts, STATS)
        columns.update({f"{m}_{s}": reduced[s] for s in STATS})
    rows = _rows(config, _positions(config["config_id"].to_numpy(), keys))
    for name, values in columns.items():
        rows = rows.append_column(name, pa.array(values))
    return rows.to_pandas()


# --- per epoch: learning curves ----------------------------------------------------------------

def curves(benchmark: str, metrics=None, config_filters=None, reduction=None, wide: bool = False,
           store_dir=None):
    """Per-epoch learning curves from the intermediate table.

    Long (default): one row per run and epoch, columns `config_id`, `trial_id`, `seed` (NB201, NDS),
    `current_epoch` and the metrics, ordered by run then epoch. With `reduction="mean"`: one row
    per config and epoch, averaged over the config's runs (`num_trials` of them; NULLs skipped).
    `wide=True` pivots the epochs into columns: one row per run (index `config_id`, `trial_id`) or
    per config (index `config_id`), columns the epochs for a single metric given as a string,
    else (metric, epoch) pairs. `metrics`: a name or a list (default every intermediate metric,
    see `frames.metrics(benchmark, "intermediates")`); `config_filters` as in `summary`, e.g.
    [("id", "in", [1, 2])] for given configs.

    NB101 has two points per run (halfway and final); NB201's 200-epoch runs have some splits
    only at the last epoch (docs/formats.md#nb201-eval-keys), which are NULL (NaN) elsewhere.
    """
    reduction = _check_reduction(reduction)
    names = _chosen_metrics(benchmark, "intermediates", metrics)
    _, stats_table, inter_table = _tables(benchmark)
    has_seed = "seed" in pq.read_schema(_path(benchmark, stats_table, store_dir)).names
    config_ids = _configs(benchmark, config_filters, [], store_dir)["config_id"] if config_filters else None
    runs = _runs(benchmark, ["id", "config_id", *(["seed"] if has_seed else [])], config_ids, store_dir)
    points = _read_in(benchmark, inter_table, ["trial_id", "current_epoch", *names], "trial_id",
                      None if config_ids is None else runs["id"], store_dir)
    trial = points["trial_id"].to_numpy()
    run = _positions(runs["id"].to_numpy(), trial)
    config_id = runs["config_id"].to_numpy()[run]
    epoch = points["current_epoch"].to_numpy()
    if reduction == "mean":
        order, starts = _groups(config_id, epoch)
        index = {"config_id": config_id, "current_epoch": epoch}
        index = {k: (v if order is None else v[order])[starts] for k, v in index.items()}
        columns = {**index, "num_trials": np.diff(np.r_[starts, len(epoch)])}
        columns.update({m: _reduce(_values(points, m, order), starts, ("mean",))["mean"] for m in names})
        rows = ["config_id"]
    else:
        order, _ = _groups(trial, epoch)
        seed = {"seed": runs["seed"].to_numpy()[run]} if has_seed else {}
        columns = {"config_id": config_id, "trial_id": trial, **seed, "current_epoch": epoch}
        columns = {k: v if order is None else v[order] for k, v in columns.items()}
        columns.update({m: _values(points, m, order) for m in names})
        rows = ["config_id", "trial_id"]
    frame = pa.table(columns).to_pandas()
    if not wide:
        return frame
    return _pivot(frame, rows, metrics if isinstance(metrics, str) else names)


def _pivot(frame, rows: list[str], values):
    """Long -> wide (epochs as columns) without pandas' general pivot: the rows are already grouped."""
    import pandas as pd

    last = rows[-1]
    key = frame[last].to_numpy()
    _, starts = _groups(key)
    row = np.cumsum(np.r_[False, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
    epochs = np.unique(frame["current_epoch"].to_numpy())
    column = np.searchsorted(epochs, frame["current_epoch"].to_numpy())
    index = pd.MultiIndex.from_frame(frame[rows].iloc[starts]) if len(rows) > 1 else \
        pd.Index(frame[last].to_numpy()[starts], name=last)
    blocks = {}
    for m in [values] if isinstance(values, str) else values:
        grid = np.full((len(starts), len(epochs)), np.nan)
        grid[row, column] = frame[m].to_numpy(dtype=np.float64, na_value=np.nan)
        blocks[m] = grid
    if isinstance(values, str):
        return pd.DataFrame(blocks[values], index=index, columns=pd.Index(epochs, name="current_epoch"))
    columns = pd.MultiIndex.from_product([list(blocks), epochs], names=[None, "current_epoch"])
    return pd.DataFrame(np.hstack(list(blocks.values())) if blocks else None, index=index, columns=columns)


# --- architectures in each benchmark's encodings ----------------------------------------------

def architectures(benchmark: str, config_filters=None, store_dir=None):
    """Every config (filtered by `config_filters`) with its architecture decoded, ordered by `config_id`.

    JSON columns become Python objects (NNI's `arch` dict; NDS's `model_spec` and `cell_spec`), and
    each benchmark adds its own encodings:
    - NB101: `matrix` (the upper-triangular adjacency, a list of 0/1 rows) and `ops` (`input`, ...,
      `output`), as nasbench's `ModelSpec(matrix, ops)` takes them; `hash` is the graph hash.
    - NB201: `arch_str` (the release's `|op~0|+|op~0|op~1|+...|` string) and `arch_index` (its
      position in the release's `meta_archs`, the index the official API uses; config id =
      8 * index + 4 * (num_epochs == 200) + dataset position + 1).
    Decoding runs once per distinct architecture, not once per config (NB101: 423,624 cells for
    1.7 million configs).
    """
    config = _configs(benchmark, config_filters, None, store_dir)
    model = get(benchmark).models[0]
    frame = config.to_pandas()
    collecting = gc.isenabled()
    gc.disable()   # millions of small containers, none cyclic: the collector would rescan them again and again
    try:
        for field in model._meta.sorted_fields:
            if field.field_type != "JSON":
                continue
            texts, positions = _distinct(config[field.column_name])
            objects = [None if t is None else orjson.loads(t) for t in texts]
            frame[field.column_name] = _spread(objects, positions)
            encode = _ENCODINGS.get((benchmark, field.column_name))
            if encode:
                for position, (name, values) in enumerate(encode(objects).items(), 1 + frame.columns.get_loc(
                        field.column_name)):
                    frame.insert(position, name, _spread(values, positions))
    finally:
        if collecting:
            gc.enable()
    if benchmark == "nasbench201":   # the config id holds the index: 8 configs per architecture
        frame.insert(1, "arch_index", (frame["config_id"].to_numpy() - 1) // 8)
    return frame


def _distinct(column: pa.ChunkedArray) -> tuple[list, np.ndarray]:
    """The distinct values of `column` as Python objects, and each row's position among them."""
    distinct = pc.unique(column)
    positions = pc.index_in(column, value_set=distinct).to_numpy(zero_copy_only=False).astype(np.int64)
    return distinct.to_pylist(), positions


def _spread(values: list, positions: np.ndarray) -> np.ndarray:
    """values[positions] as an object array (values may be lists: no numpy broadcasting)."""
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array[positions]


def _nb101_specs(archs: list) -> dict[str, list]:
    from .nasbench101.graph import arch_to_spec
    specs = [arch_to_spec(a) for a in archs]
    return {"matrix": [s[0] for s in specs], "ops": [s[1] for s in specs]}


def _nb201_strings(archs: list) -> dict[str, list]:
    from .nasbench201.space import arch_str
    return {"arch_str": [arch_str(a) for a in archs]}


# (benchmark, JSON column) -> more encodings of its distinct values, inserted after it
_ENCODINGS = {("nasbench101", "arch"): _nb101_specs, ("nasbench201", "arch"): _nb201_strings}


# --- DuckDB ------------------------------------------------------------------------------------

def duckdb_connection(benchmarks=None, store_dir=None, database: str = ":memory:"):
    """A DuckDB connection with a view per table over the store's Parquet files.

    `benchmarks`: a name or a list (default: every benchmark whose Parquet files are in the store;
    StoreNotFoundError if there is none). The views are named as the tables (`nb101trialconfig`,
    ...; also any table a store holds beyond NNI's three), so NNI-style SQL runs unchanged, e.g.
    `con.sql("SELECT num_epochs, avg(valid_acc) FROM nb101trialstats JOIN nb101trialconfig c ON
    c.id = config_id GROUP BY 1").df()`. DuckDB is an optional dependency: without it,
    DuckDBUnavailableError says how to install it.
    """
    try:
        import duckdb
    except ImportError:
        raise DuckDBUnavailableError("nasbench_store.frames.duckdb_connection needs DuckDB, an optional dependency: "
                                     "pip install 'nasbench-store[duckdb]' (or pip install duckdb)") from None
    root = Path(store_dir or default_store_dir())
    if benchmarks is None:
        names = [b.name for b in BENCHMARKS.values()
                 if all((root / b.parquet_file(t)).is_file() for t in b.tables)]
        if not names:
            raise StoreNotFoundError(f"no benchmark's Parquet files are in {root}; build a store first "
                                     f"(`nasbench-store build`) or set NASBENCHMARK_DIR")
    else:
        names = [benchmarks] if isinstance(benchmarks, str) else list(benchmarks)
    con = duckdb.connect(database)
    for name in names:
        entry = get(name)
        paths = {table: _path(name, table, root) for table in entry.tables}
        for table in entry.extra_tables:   # tables beyond NNI's, where the store has them
            if (root / entry.parquet_file(table)).is_file():
                paths[table] = root / entry.parquet_file(table)
        for table, path in paths.items():
            quoted = str(path).replace("'", "''")
            con.execute(f"CREATE VIEW \"{table}\" AS SELECT * FROM read_parquet('{quoted}')")
    return con


def provenance(benchmark: str, store_dir=None) -> dict[str, dict[str, str]]:
    """Where each Parquet table comes from: {table: {benchmark, raw_sha256, version}}, from the files' metadata."""
    return {table: parquet_provenance(_path(benchmark, table, store_dir)) for table in get(benchmark).tables}
