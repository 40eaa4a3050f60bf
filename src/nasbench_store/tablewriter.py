"""Deterministic writing of a benchmark's tables to Parquet files and to a SQLite database.

Tables arrive as pyarrow record batches whose columns are the SQLite columns in NNI's order.
The SQLite schema is created from the peewee models (so it is exactly what NNI's models expect),
rows are bulk-inserted with indexes built afterwards, and both outputs are written under
temporary names and renamed into place only when complete. The same batches give byte-identical
files: no timestamps, fixed page size, fixed Parquet options.

Two refusals end a write with nothing renamed into place: a trial table without rows (the raw
input held no records: `EmptyStoreError`), and a row SQLite refuses (`TableWriteError`, naming the
table and row; the converters check values first, so this is a converter bug, never a traceback).
"""
from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import peewee
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .atomic import atomic_path
from .errors import NasbenchStoreError
from .extensions import c_extension
from .progress import Progress

PARQUET_OPTIONS = dict(compression="zstd", compression_level=3, use_dictionary=True,
                       write_statistics=True, data_page_version="2.0", version="2.6")
ROW_GROUP_ROWS = 1 << 20
PROVENANCE_PREFIX = "nasbench_store."
INSERT_CHUNK_ROWS = 1 << 16
# Rows per INSERT statement of the C bulk insert: fewer statement executions, the same rows in the
# same order. Kept under 999 values per statement, the limit of SQLite before 3.32.
BLOCK_ROWS = 32


class EmptyStoreError(NasbenchStoreError):
    """The raw input held no records: an empty store is refused, not published as verified."""

    def __init__(self, raw: str | Path | None, table: str):
        self.raw = None if raw is None else str(raw)
        self.table = table
        where = self.raw if raw is not None else "the raw input"
        super().__init__(f"{where}: holds no records; {table} would be empty, so no store was written. "
                         "The file is empty, truncated before its first record, or not the release: "
                         "check it (or the `path` in your config) and run again")

    def __reduce__(self):
        return (type(self), (self.raw, self.table))


class TableWriteError(NasbenchStoreError):
    """SQLite refused a row (a constraint, or a value it cannot store); the message names it."""


def _arrow_type(field: peewee.Field) -> pa.DataType:
    if isinstance(field, (peewee.IntegerField, peewee.AutoField, peewee.ForeignKeyField)):
        return pa.int64()
    if isinstance(field, peewee.FloatField):
        return pa.float64()
    return pa.string()


def arrow_schema(model: type[peewee.Model]) -> pa.Schema:
    """Arrow schema of a model's table: column names and order as in SQLite."""
    return pa.schema([pa.field(f.column_name, _arrow_type(f), nullable=f.null)
                      for f in model._meta.sorted_fields])


def _python_values(array: pa.Array) -> list:
    """Column values as Python objects; numpy's tolist is several times faster for plain numbers."""
    if array.null_count == 0 and (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
        return array.to_numpy().tolist()
    return array.to_pylist()


def _bulk_insert():
    """The C bulk insert (`_sqlitebulk`) bound to the SQLite that Python's sqlite3 module calls, or
    None: not built, `NASBENCH_PURE_PYTHON=1`, or that SQLite cannot be reached (a static build)."""
    if sys.implementation.name != "cpython" or not (3, 8) <= sys.version_info[:2] <= (3, 14):
        return None  # the connection object's layout (its handle first) is CPython 3.8-3.14's
    bulk = c_extension(f"{__package__}._sqlitebulk")
    if bulk is None:
        return None
    try:
        import _sqlite3
        version = bulk.bind_library(_sqlite3.__file__)
    except (ImportError, OSError):
        return None
    return bulk if version == sqlite3.sqlite_version else None


_BULK = _bulk_insert()
INSERT_IMPLEMENTATION = "python" if _BULK is None else "c"
_BULK_KINDS = {pa.int64(): 0, pa.float64(): 1, pa.string(): 2}


def _bulk_columns(batch: pa.RecordBatch) -> list[tuple] | None:
    """Each column as (kind, nullable, values, offsets, validity, offset) for `_sqlitebulk.insert`,
    nullable as the batch's schema says (`_check` gave it the table's), or None when a column has a
    type it does not take."""
    columns = []
    for array, field in zip(batch.columns, batch.schema):
        kind = _BULK_KINDS.get(array.type)
        if kind is None:
            return None
        buffers = array.buffers()
        validity = buffers[0] if array.null_count else b""
        values, offsets = (buffers[2], buffers[1]) if kind == 2 else (buffers[1], b"")
        columns.append((kind, field.nullable, values if values is not None else b"", offsets, validity, array.offset))
    return columns


def _insert_sql(name: str, columns: int, rows: int) -> str:
    """INSERT of `rows` rows into table `name`: one VALUES group per row."""
    group = f'({",".join("?" * columns)})'
    return f'INSERT INTO "{name}" VALUES {",".join([group] * rows)}'


def table_name(model: type[peewee.Model]) -> str:
    return model._meta.table_name


def _check(model: type[peewee.Model], batch: pa.RecordBatch) -> pa.RecordBatch:
    expected = arrow_schema(model)
    if batch.schema.names != expected.names:
        raise ValueError(f"{table_name(model)}: columns {batch.schema.names} != {expected.names}")
    return batch.cast(expected) if not batch.schema.equals(expected) else batch


def provenance(benchmark: str, raw_sha256: str) -> dict[str, str]:
    """What each Parquet file of a store records about where it comes from."""
    return {"benchmark": benchmark, "raw_sha256": raw_sha256, "version": __version__}


def parquet_provenance(path: str | Path) -> dict[str, str]:
    """The provenance a Parquet table was written with (benchmark, raw_sha256, version), from its footer."""
    meta = pq.read_schema(path).metadata or {}
    prefix = PROVENANCE_PREFIX.encode()
    return {k[len(prefix):].decode(): v.decode() for k, v in meta.items() if k.startswith(prefix)}


class ParquetTables:
    """One Parquet file per model under `directory`, each renamed into place on success."""

    def __init__(self, directory: str | Path, models: Sequence[type[peewee.Model]],
                 provenance: Mapping[str, str] | None = None):
        self.directory = Path(directory)
        self.models = {table_name(m): m for m in models}
        self.metadata = {f"{PROVENANCE_PREFIX}{k}": str(v) for k, v in sorted((provenance or {}).items())}
        self._stack = ExitStack()
        self._writers: dict[str, pq.ParquetWriter] = {}

    def __enter__(self) -> ParquetTables:
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, model in self.models.items():
            tmp = self._stack.enter_context(atomic_path(self.directory / f"{name}.parquet"))
            schema = arrow_schema(model)
            if self.metadata:
                schema = schema.with_metadata(self.metadata)
            self._writers[name] = pq.ParquetWriter(tmp, schema, **PARQUET_OPTIONS)
        return self

    def write(self, name: str, batch: pa.RecordBatch | pa.Table) -> None:
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        checked = _check(self.models[name], table)
        self._writers[name].write_table(checked, row_group_size=ROW_GROUP_ROWS)

    def __exit__(self, *exc) -> None:
        for writer in self._writers.values():
            writer.close()
        self._stack.__exit__(*exc)


class SqliteTables:
    """A SQLite database in NNI's schema, bulk-loaded, indexed at the end, renamed into place."""

    def __init__(self, path: str | Path, models: Sequence[type[peewee.Model]]):
        self.path = Path(path)
        self.models = {table_name(m): m for m in models}
        self._atomic = atomic_path(self.path)
        self._conn: sqlite3.Connection | None = None
        self._index_sql: list[str] = []
        self._bulk = False

    def __enter__(self) -> SqliteTables:
        tmp = self._atomic.__enter__()
        try:
            self._index_sql = create_tables(tmp, list(self.models.values()))
            self._conn = sqlite3.connect(tmp, isolation_level=None)
            # index builds sort through temporary files, not RAM, so memory stays bounded
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE",
                           "cache_size=-131072"):
                self._conn.execute(f"PRAGMA {pragma}")
            self._conn.execute("BEGIN")
            # the C insert takes the connection's handle only once it names the file we opened
            self._bulk = _BULK is not None and Path(_BULK.filename(self._conn)).resolve() == Path(tmp).resolve()
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise
        return self

    def write(self, name: str, batch: pa.RecordBatch | pa.Table) -> None:
        checked = _check(self.models[name], batch)
        width = checked.num_columns
        sql = _insert_sql(name, width, 1)
        block = max(1, min(BLOCK_ROWS, 999 // width))
        block_sql = _insert_sql(name, width, block)
        table = checked if isinstance(checked, pa.Table) else pa.Table.from_batches([checked])
        for chunk in table.to_batches(max_chunksize=INSERT_CHUNK_ROWS):  # bounded Python objects
            done = 0
            columns = _bulk_columns(chunk) if self._bulk else None
            if columns is not None:
                done, code, in_block, message = _BULK.insert(self._conn, sql, chunk.num_rows, columns, block_sql,
                                                             block)
                if not code:
                    continue
                if in_block:  # SQLite kept part of the block: abandon the write (nothing is renamed into place)
                    raise self._block_failed(name, done, block, code, message)
                # SQLite refused row `done`: replay from it through Python, for the usual exception
            before = self._conn.total_changes - done  # the rows C wrote count as changes before the refused one
            try:
                self._conn.executemany(sql, zip(*(_python_values(c) for c in chunk.slice(done).columns)))
            except _REFUSED_ROW as exc:
                raise self._refused(name, chunk, self._conn.total_changes - before, exc) from None

    def _refused(self, name: str, chunk: pa.RecordBatch, row: int, exc: Exception) -> TableWriteError:
        """The error for the chunk's row `row` (the rows before it went in), with its values."""
        values = {f.name: chunk.column(i)[row].as_py() for i, f in enumerate(chunk.schema)} if row < len(chunk) else {}
        shown = repr(values)
        shown = shown if len(shown) <= 400 else shown[:400] + "...}"
        return TableWriteError(f"{self.path}: SQLite refused row {row + 1} of a batch for table {name} "
                               f"({type(exc).__name__}: {exc}); row {shown}. {_CONVERTER_BUG}")

    def _block_failed(self, name: str, first: int, rows: int, code: int, message: str) -> Exception:
        """The error for a failed multi-row INSERT: a constraint names its rows as a refused row's
        error does; anything else (a full disk, say) is SQLite's error as the sqlite3 module raises it."""
        if code & 0xFF == _SQLITE_CONSTRAINT:
            return TableWriteError(f"{self.path}: SQLite refused one of rows {first + 1}-{first + rows} of a batch "
                                   f"for table {name} ({message}). {_CONVERTER_BUG}")
        return sqlite3.OperationalError(f"{message} (writing table {name} of {self.path})")

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                for sql in self._index_sql:
                    self._conn.execute(sql)
                # Statistics for the query planner: without them SQLite prefers the 4-valued
                # num_epochs index over the hash index and scans ~400k configs per NB101 lookup.
                # analysis_limit bounds the time; the result is still a function of the rows.
                self._conn.execute("PRAGMA analysis_limit=1000")
                self._conn.execute("ANALYZE")
                self._conn.execute("COMMIT")
        finally:
            if self._conn is not None:
                self._conn.close()
            self._atomic.__exit__(exc_type, exc, tb)


_SQLITE_CONSTRAINT = 19  # SQLite's primary result code of a violated constraint
_CONVERTER_BUG = ("The converter let through a value its table cannot hold: this is a bug, please report it "
                  "with the raw file")
# What SQLite raises for a row it refuses (NOT NULL: a NaN binds as NULL; an int beyond 64 bits; a
# string that is not UTF-8); an OperationalError such as a full disk is not a row's fault.
_REFUSED_ROW = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
                OverflowError, UnicodeEncodeError)


def write_tables(models: Sequence[type[peewee.Model]], tables: Iterable[tuple[str, pa.RecordBatch | pa.Table]],
                 db_path: str | Path | None = None, parquet_dir: str | Path | None = None,
                 expected_rows: int | None = None, raw: str | Path | None = None,
                 provenance: Mapping[str, str] | None = None) -> dict[str, int]:
    """Write (table name, rows) pairs to a SQLite database and/or Parquet files; return row counts.

    Progress (rows written, rate, and with `expected_rows` an ETA) goes to the log as it runs.
    `models` are (config, trial, intermediate): when the trial table got no rows, EmptyStoreError
    (naming `raw`, the raw input) is raised and nothing is renamed into place. `provenance`
    (benchmark, raw sha256, project version) goes into each Parquet file's key-value metadata, each
    key prefixed `nasbench_store.`.
    """
    if not db_path and not parquet_dir:
        raise ValueError("write_tables needs db_path, parquet_dir or both")
    progress = Progress(f"writing {Path(db_path or parquet_dir).name}", unit="rows").start(expected_rows)
    counts = {table_name(m): 0 for m in models}
    with ExitStack() as stack:
        writers = [stack.enter_context(w) for w in (
            SqliteTables(db_path, models) if db_path else None,
            ParquetTables(parquet_dir, models, provenance) if parquet_dir else None) if w is not None]
        for name, rows in tables:
            for writer in writers:
                writer.write(name, rows)
            counts[name] += rows.num_rows
            progress.advance(rows.num_rows)
        trials = table_name(models[1])
        if not counts[trials]:
            raise EmptyStoreError(raw, trials)  # inside the stack: the temporaries are removed
    progress.close()
    return counts


def create_tables(path: str | Path, models: Sequence[type[peewee.Model]]) -> list[str]:
    """Create the models' tables in a new database exactly as peewee would, without the indexes.

    The DDL comes from letting peewee create the full schema in memory. Returns the index DDL to
    run once the rows are in, which is several times faster than maintaining indexes during the load.
    """
    # peewee 4 maps JSON to TEXT for SQLite; NNI's databases (peewee 3) declare JSON.
    scratch = peewee.SqliteDatabase(":memory:", field_types={"JSON": "JSON"})
    with scratch.bind_ctx(models), scratch:
        scratch.create_tables(models)  # safe=True, as NNI's db_gen does
        ddl = scratch.execute_sql("SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL "
                                  "ORDER BY rowid").fetchall()
    with sqlite3.connect(path) as conn:
        for kind, sql in ddl:
            if kind == "table":
                conn.execute(sql)
    return [sql for kind, sql in ddl if kind == "index"]
