"""Sweep file -> part (one parallel job each), then parts -> NNI's three tables with global ids.

A part is one Parquet file with one row per trial in NNI's order (a reruns file's `top` list, then
`mid`): the config columns (not yet deduplicated), the trial columns and the three per-epoch curves
as list columns. `NdsAssembly` walks the parts in NNI's file order, gives identical configs one
shared id (NNI's get_or_create, across files) and numbers trials and epochs consecutively, so the ids
depend only on the input, never on how many jobs ran.

Format: docs/formats.md#nds-tables.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_path
from ..errors import RawFormatError
from ..parts import RowNumbers, chunks, explode_curves, leaf_values, part_rows
from ..tablewriter import arrow_schema, table_name, write_tables
from .archive import NdsArchive, member_name
from .constants import SWEEP_FILES, sweep_labels
from .mapping import USED_KEYS, Config, Epochs, RecordError, RecordValueError, Trial, map_record
from .schema import MODELS, NdsIntermediateStats, NdsTrialConfig, NdsTrialStats

CONFIG_SCHEMA = arrow_schema(NdsTrialConfig)
TRIAL_SCHEMA = arrow_schema(NdsTrialStats)
INTERMEDIATE_SCHEMA = arrow_schema(NdsIntermediateStats)
PART_SCHEMA = pa.schema(
    [CONFIG_SCHEMA.field(name) for name in Config._fields]
    + [TRIAL_SCHEMA.field(name) for name in Trial._fields]
    + [(name, pa.list_(pa.float64())) for name in Epochs._fields]
)
BATCH_ROWS = 1024
OUT_BATCH_ROWS = 1 << 16  # bounds the Python objects a SQLite insert materialises at once
_HINT_RECORD = "the record does not have NDS's job-record shape; the download may be damaged or not NDS's data.zip"
_HINT_VALUE = "no NDS model holds such a value; the download may be damaged or not NDS's data.zip"


def convert_sweep(archive: str | Path, sweep: str, part: str | Path) -> int:
    """Convert one sweep file of `archive` into the Parquet `part`; return the number of trials."""
    labels = sweep_labels(sweep)
    sections: dict[str | None, list[pa.RecordBatch]] = {}
    with NdsArchive(archive) as zf:
        where = f"{zf.path}!{member_name(sweep)}"
        rows: list[tuple] = []
        current = None
        for record in zf.records(sweep, keep=USED_KEYS):
            if record.section != current and rows:
                sections.setdefault(current, []).append(_batch(rows))
                rows = []
            current = record.section
            try:
                config, trial, epochs = map_record(record.value, labels)
            except RecordError as exc:
                hint = _HINT_VALUE if isinstance(exc, RecordValueError) else _HINT_RECORD
                raise RawFormatError(where, record.offset, f"{record.name}: {exc}", hint) from None
            rows.append(config + trial + epochs)
            if len(rows) == BATCH_ROWS:
                sections.setdefault(current, []).append(_batch(rows))
                rows = []
        if rows:
            sections.setdefault(current, []).append(_batch(rows))
    # NNI processes `top` before `mid` whatever their order in the file.
    batches = [b for key in (None, "top", "mid") for b in sections.get(key, [])]
    table = pa.Table.from_batches(batches, PART_SCHEMA)
    with atomic_path(part) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return table.num_rows


def _batch(rows: list[tuple]) -> pa.RecordBatch:
    columns = list(zip(*rows))
    return pa.record_batch([pa.array(col, type=f.type) for col, f in zip(columns, PART_SCHEMA)], schema=PART_SCHEMA)


class NdsAssembly:
    """The three NNI tables from the 34 parts, each as a stream of RecordBatches (one part at a time)."""

    def __init__(self, parts: Mapping[str, str | Path]):
        missing = [s for s in SWEEP_FILES if s not in parts]
        extra = sorted(set(parts) - set(SWEEP_FILES))
        if missing or extra:
            raise ValueError(f"parts must cover exactly the {len(SWEEP_FILES)} sweep files; "
                             f"missing {missing}, unexpected {extra}")
        self.parts = [Path(parts[s]) for s in SWEEP_FILES]

    def tables(self) -> dict[str, tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
        """NNI table name -> (schema, batches); each stream re-reads the parts, so memory stays per part."""
        return {
            table_name(NdsTrialConfig): (CONFIG_SCHEMA, self.configs()),
            table_name(NdsTrialStats): (TRIAL_SCHEMA, self.trials()),
            table_name(NdsIntermediateStats): (INTERMEDIATE_SCHEMA, self.intermediates()),
        }

    def _config_ids(self) -> Iterator[tuple[np.ndarray, list[tuple]]]:
        """Per part: each row's global config id, and the configs first seen in it.

        Configs are equal when all nine columns are (NNI's get_or_create); the lookup keeps a
        128-bit digest per config rather than its JSON text, so memory stays small.
        """
        ids: dict[bytes, int] = {}
        for path in self.parts:
            table = pq.read_table(path, columns=list(Config._fields))
            row_ids = np.empty(table.num_rows, dtype=np.int64)
            new: list[tuple] = []
            for row, key in enumerate(zip(*(table.column(name).to_pylist() for name in Config._fields))):
                digest = _config_digest(key)
                config_id = ids.get(digest)
                if config_id is None:
                    config_id = ids[digest] = len(ids) + 1
                    new.append((config_id,) + key)
                row_ids[row] = config_id
            yield row_ids, new

    def configs(self) -> Iterator[pa.RecordBatch]:
        for _, new in self._config_ids():
            if new:
                columns = list(zip(*new))
                yield pa.record_batch([pa.array(c, type=f.type) for c, f in zip(columns, CONFIG_SCHEMA)],
                                      schema=CONFIG_SCHEMA)

    def trials(self) -> Iterator[pa.RecordBatch]:
        ids = RowNumbers()
        for path, (config_ids, _) in zip(self.parts, self._config_ids()):
            table = pq.read_table(path, columns=list(Trial._fields))
            if not table.num_rows:
                continue
            yield pa.record_batch([pa.array(ids.take(table.num_rows)), pa.array(config_ids)]
                                  + [table.column(f).combine_chunks() for f in Trial._fields], schema=TRIAL_SCHEMA)

    def intermediates(self) -> Iterator[pa.RecordBatch]:
        trials, rows = RowNumbers(), RowNumbers()
        for path in self.parts:
            table = pq.read_table(path, columns=list(Epochs._fields))
            if not table.num_rows:
                continue
            ids, trial, epoch, flat = explode_curves([table.column(f).combine_chunks() for f in Epochs._fields],
                                                     trials, rows)
            batch = pa.record_batch([pa.array(ids), pa.array(trial), pa.array(epoch)] + flat,
                                    schema=INTERMEDIATE_SCHEMA)
            yield from chunks(batch, OUT_BATCH_ROWS)


def _config_digest(key: tuple) -> bytes:
    """Digest of a config (Config's field order); -0.0 and 0.0 are one value, as SQL equality has it."""
    normalized = (*key[:6], key[6] + 0.0, key[7] + 0.0, key[8])
    return hashlib.blake2b(repr(normalized).encode(), digest_size=16).digest()


def parts_by_sweep(paths: Iterable[str | Path]) -> dict[str, Path]:
    """{sweep file: part} for parts named `<sweep file>.parquet` (as the workflow names them)."""
    return {Path(p).name[:-len(".parquet")]: Path(p) for p in paths}


def write_store(parts: Mapping[str, str | Path] | Iterable[str | Path], db_path: str | Path | None = None,
                parquet_dir: str | Path | None = None, raw: str | Path | None = None,
                provenance: Mapping[str, str] | None = None) -> dict[str, int]:
    """Assemble the parts ({sweep file: part}, or parts named `<sweep file>.parquet`) into nds.db
    and/or one Parquet file per table; return the row counts. `raw` is accepted for the
    registry's common signature: the parts carry all they need."""
    if not isinstance(parts, Mapping):
        parts = parts_by_sweep(parts)
    tables = ((name, batch) for name, (_, batches) in NdsAssembly(parts).tables().items() for batch in batches)
    # configs (shared between trials) are not counted: at most as many as the trials
    expected = sum(part_rows(p) + leaf_values(p, Epochs._fields[0]) for p in parts.values())
    return write_tables(MODELS, tables, db_path, parquet_dir, expected_rows=expected, raw=raw,
                        provenance=provenance)
