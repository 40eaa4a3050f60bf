"""Peewee building blocks shared by the benchmarks' models (NNI's schema, bound to the store).

Each benchmark declares its models with `database = store_database("<name>.db")`. The database
file is located through `default_store_dir()` when a connection opens, not at import, and is
opened read-only so a researcher's query can never modify a verified store.
"""
from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import peewee
from playhouse.sqlite_ext import JSONField as _PeeweeJSONField

from .errors import DamagedStoreError, StoreNotFoundError
from .paths import default_store_dir

json_dumps = functools.partial(json.dumps, sort_keys=True)


def json_text(obj) -> str:
    """Canonical JSON: sorted keys, minified; equals what SQLite's json() makes of NNI's values."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


class JSONField(_PeeweeJSONField):
    """NNI's JSON column: declared type JSON, values stored through SQLite json() with sorted keys."""
    field_type = "JSON"

    def __init__(self, **kwargs):
        kwargs.setdefault("json_dumps", json_dumps)
        super().__init__(**kwargs)


def readonly_uri(path: str | Path) -> str:
    """A `file:` URI that opens `path` read-only whatever its name holds: `?`, `#` and `%` are
    percent-escaped (pasted into a URI unescaped, they would open another file, read-write)."""
    return Path(path).absolute().as_uri() + "?mode=ro"


def connect_readonly(path: str | Path, **kwargs) -> sqlite3.Connection:
    return sqlite3.connect(readonly_uri(path), uri=True, **kwargs)


def check_tables(conn: sqlite3.Connection, path: str | Path, tables: Iterable[str]) -> None:
    """Refuse a store whose benchmark tables are not plain tables (a view could compute anything)."""
    tables = list(tables)
    marks = ",".join("?" * len(tables))
    kinds = dict(conn.execute(f"SELECT name, type FROM sqlite_master WHERE name IN ({marks})", tables))
    wrong = [f"{t} is {'missing' if t not in kinds else 'a ' + kinds[t]}" for t in tables if kinds.get(t) != "table"]
    if wrong:
        raise DamagedStoreError(f"{path}: {'; '.join(wrong)}, not a table: this file was not built by nasbench-store "
                             f"(or was edited); rebuild it, or run `nasbench-store verify`")


def benchmark_tables(filename: str) -> tuple[str, ...]:
    from .registry import BENCHMARKS
    return next(b.tables for b in BENCHMARKS.values() if b.db_filename == filename)


class StoreDatabase(peewee.SqliteDatabase):
    """A read-only SQLite database whose file is `<store dir>/<filename>`, resolved at connect time."""

    def __init__(self, filename: str, **kwargs):
        self.filename = filename
        super().__init__(filename, autoconnect=True, **kwargs)

    def _connect(self):
        path = default_store_dir() / self.filename
        if not path.is_file():
            raise StoreNotFoundError(missing_store_message(path))
        self.database = readonly_uri(path)
        self.connect_params["uri"] = True
        conn = super()._connect()
        check_tables(conn, path, benchmark_tables(self.filename))
        return conn


def missing_store_message(path) -> str:
    benchmark = Path(path).stem
    return (f"{path} does not exist. Build it with `nasbench-store build {benchmark}` (in a checkout: "
            f"`snakemake --cores 2 {benchmark}`), or point NASBENCHMARK_DIR at the directory that holds it.")


@functools.cache
def store_database(filename: str) -> StoreDatabase:
    return StoreDatabase(filename)
