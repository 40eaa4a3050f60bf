"""Peewee building blocks shared by the benchmarks' models (NNI's schema, bound to the store).

Each benchmark declares its models with `database = store_database("<name>.db")`. The database
file is located through `default_store_dir()` when a connection opens, not at import, and is
opened read-only so a researcher's query can never modify a verified store.
"""
from __future__ import annotations

import functools
import json

import peewee
from playhouse.sqlite_ext import JSONField as _PeeweeJSONField

from .errors import StoreNotFoundError
from .paths import default_store_dir

json_dumps = functools.partial(json.dumps, sort_keys=True)


class JSONField(_PeeweeJSONField):
    """NNI's JSON column: declared type JSON, values stored through SQLite json() with sorted keys."""
    field_type = "JSON"

    def __init__(self, **kwargs):
        kwargs.setdefault("json_dumps", json_dumps)
        super().__init__(**kwargs)


class StoreDatabase(peewee.SqliteDatabase):
    """A read-only SQLite database whose file is `<store dir>/<filename>`, resolved at connect time."""

    def __init__(self, filename: str, **kwargs):
        self.filename = filename
        super().__init__(filename, autoconnect=True, **kwargs)

    def _connect(self):
        path = default_store_dir() / self.filename
        if not path.is_file():
            raise StoreNotFoundError(missing_store_message(path))
        self.database = f"file:{path}?mode=ro"
        self.connect_params["uri"] = True
        return super()._connect()


def missing_store_message(path) -> str:
    return (f"{path} does not exist. Build it with `snakemake --cores 2` in the nasbench-store "
            f"checkout (see README), or point NASBENCHMARK_DIR at the directory that holds it.")


@functools.cache
def store_database(filename: str) -> StoreDatabase:
    return StoreDatabase(filename)
