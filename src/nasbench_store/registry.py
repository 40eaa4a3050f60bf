"""The benchmarks this project builds and queries: one entry each, everything else derives from it.

An entry names a benchmark and its NNI query function; the rest follows from conventions that
every benchmark subpackage `nasbench_store.<name>` keeps (docs/architecture.md#adding-a-benchmark):
`schema.MODELS` (NNI's config, trial and intermediate models, in that order), optionally
`schema.EXTRA_MODELS` (tables the store holds beyond NNI's, e.g. for the official-API facades),
`convert.write_store`, `query.<query function>` and `query.sample`, `checks.check(db, parquet)`. The
store holds `<name>.db` (every table) and `<name>/<table>.parquet` (one per table). Subpackages are
imported on first use, so the workflow's parse time does not pay for the readers of benchmarks it
does not build.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .errors import QueryError


@dataclass(frozen=True)
class RawKind:
    """What a benchmark's raw input may be, for the parse-time check of `sources.<benchmark>.path`."""
    expected: str                         # what messages say the path should be
    file_suffixes: tuple[str, ...] = ()   # a regular file ending in one of these (empty: any name)
    directory_holds: str | None = None    # a directory is accepted when it holds this file


@dataclass(frozen=True)
class Benchmark:
    name: str    # config key, Snakemake target, manifest key and store subdirectory
    title: str   # as papers name it
    query: str   # NNI's query function, defined in the subpackage's query module
    raw: RawKind  # what `sources.<name>.path` may be (checked when the workflow parses)

    @property
    def package(self) -> str:
        return f"nasbench_store.{self.name}"

    def module(self, name: str) -> ModuleType:
        """A module of the subpackage; an import error propagates (a broken benchmark is an error)."""
        return importlib.import_module(f"{self.package}.{name}")

    @property
    def db_filename(self) -> str:
        return f"{self.name}.db"

    @property
    def models(self) -> tuple:
        """NNI's peewee models: config, trial stats, intermediate stats."""
        return tuple(self.module("schema").MODELS)

    @property
    def extra_models(self) -> tuple:
        """Models of the tables the store holds beyond NNI's three (`schema.EXTRA_MODELS`, if any)."""
        return tuple(getattr(self.module("schema"), "EXTRA_MODELS", ()))

    @property
    def tables(self) -> tuple[str, ...]:
        """NNI's three tables: config, trial stats, intermediate stats."""
        return tuple(m._meta.table_name for m in self.models)

    @property
    def extra_tables(self) -> tuple[str, ...]:
        return tuple(m._meta.table_name for m in self.extra_models)

    @property
    def stored_tables(self) -> tuple[str, ...]:
        """Every table of the store (NNI's, then the extra ones): in the .db, each with a Parquet file,
        published, counted in the manifest and compared Parquet against SQLite by the checks."""
        return self.tables + self.extra_tables

    def parquet_file(self, table: str) -> str:
        """Store-relative path of a table's Parquet file."""
        return f"{self.name}/{table}.parquet"

    @property
    def published_files(self) -> tuple[str, ...]:
        """Store-relative paths of everything a build publishes for this benchmark."""
        return (self.db_filename, *(self.parquet_file(t) for t in self.stored_tables))

    @property
    def query_function(self):
        return getattr(self.module("query"), self.query)

    def check(self, db_path, parquet_dir) -> list[str]:
        """The benchmark's own invariants (value ranges, structure, Parquet = SQLite) on its built or
        published tables; run before publishing and by verify."""
        return self.module("checks").check(Path(db_path), Path(parquet_dir))

    def sample(self):
        """(call as text, rows) of a typical query on the current store, for the demo."""
        return self.module("query").sample()

    def write_store(self, parts, db_path=None, parquet_dir=None, raw=None, provenance=None) -> dict:
        """Assemble the converted parts (of `raw`) into the SQLite database and/or the Parquet files
        (which carry `provenance` in their metadata)."""
        return self.module("convert").write_store(parts, db_path=db_path, parquet_dir=parquet_dir, raw=raw,
                                                  provenance=provenance)


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("nasbench101", "NAS-Bench-101", "query_nb101_trial_stats",
              RawKind("the NAS-Bench-101 TFRecord file (nasbench_full.tfrecord or nasbench_only108.tfrecord)")),
    # a directory or a .tar is a NATS-tss archive (nasbench201.convert.open_source), else a .pth;
    # every NATS-tss directory holds meta.pickle.pbz2 at its top (nasbench201.nats.META_NAME)
    Benchmark("nasbench201", "NAS-Bench-201", "query_nb201_trial_stats",
              RawKind("a NAS-Bench-201 .pth file, a NATS-tss .tar file or an extracted NATS-tss directory "
                      "(NATS-tss-v1_0-3ffb9-simple/)", file_suffixes=(".pth", ".tar"),
                      directory_holds="meta.pickle.pbz2")),
    Benchmark("nds", "NDS", "query_nds_trial_stats", RawKind("NDS's data.zip file")),
)}


def get(name: str) -> Benchmark:
    """The registry entry of `name`; QueryError listing the valid names otherwise."""
    try:
        return BENCHMARKS[name]
    except (KeyError, TypeError):
        raise QueryError(f"unknown benchmark {name!r}; valid: {', '.join(BENCHMARKS)}") from None
