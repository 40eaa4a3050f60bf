"""The parts layer shared by every benchmark's conversion (docs/architecture.md#the-parts-layer).

A conversion runs as parallel jobs, each writing one Parquet *part*; an assembly step then
turns the parts, in job order, into NNI's tables. What is the same for every benchmark lives
here: how jobs slice their input, the metadata a part carries about itself, consecutive row
numbering (ids depend only on the raw data, never on how many jobs ran), exploding per-epoch
list columns into intermediate rows, and the batch shapes written (they fix the Parquet row groups,
so they are part of the byte-identical output). Each benchmark's `convert` supplies only reading
its raw format and mapping a record to rows.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

PART_META_KEY = b"nasbench_store.part"


def job_slice(n: int, index: int, count: int) -> tuple[int, int]:
    """[start, stop) of job `index` of `count` over `n` items (bytes, architectures): contiguous,
    near-equal slices that cover 0..n exactly once."""
    if not 0 <= index < count:
        raise ValueError(f"job index {index} is not in 0..{count - 1}")
    return n * index // count, n * (index + 1) // count


def job_items(items: Sequence, index: int, count: int) -> list:
    """The items of job `index` of `count` (see `job_slice`)."""
    start, stop = job_slice(len(items), index, count)
    return list(items[start:stop])


def with_part_meta(schema: pa.Schema, info: dict) -> pa.Schema:
    """The part's schema carrying `info` (what it was made from), read back by `read_part_meta`."""
    return schema.with_metadata({PART_META_KEY: json.dumps(info, sort_keys=True).encode()})


def leaf_values(part: str | Path, column: str) -> int:
    """How many values a list column holds in all, from the Parquet footer (nothing is read)."""
    meta = pq.ParquetFile(part).metadata
    leaf = next(i for i in range(meta.num_columns) if meta.schema.column(i).path.split(".")[0] == column)
    return sum(meta.row_group(g).column(leaf).num_values for g in range(meta.num_row_groups))


def part_rows(part: str | Path) -> int:
    return pq.ParquetFile(part).metadata.num_rows


def read_part_meta(part: str | Path) -> dict:
    meta = pq.read_schema(part).metadata or {}
    if PART_META_KEY not in meta:
        raise ValueError(f"{part} is not a part written by this version of nasbench-store; "
                         f"delete the work directory and rebuild")
    return json.loads(meta[PART_META_KEY])


class RowNumbers:
    """Consecutive ids from 1, handed out batch by batch in assembly order."""

    def __init__(self, first: int = 1):
        self.next = first

    def take(self, n: int) -> np.ndarray:
        ids = np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n
        return ids


def explode_curves(curves: Sequence[pa.Array], trials: RowNumbers,
                   rows: RowNumbers) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[pa.Array]]:
    """One row per list element of per-trial curves (list columns of equal lengths per trial).

    Returns row ids, each row's trial id, its 1-based position in its curve, and the flattened
    curves. The trials get the next ids of `trials`, the rows the next ids of `rows`.
    """
    lengths = pc.list_value_length(curves[0]).to_numpy(zero_copy_only=False)
    total = int(lengths.sum())
    trial = np.repeat(trials.take(len(lengths)), lengths)
    position = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1
    return rows.take(total), trial, position, [c.flatten() for c in curves]


def rebatch(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """The same rows in batches of exactly `size` rows (the last one shorter), across input batches."""
    pending: list[pa.RecordBatch] = []
    n = 0
    for batch in batches:
        pending.append(batch)
        n += batch.num_rows
        while n >= size:
            table = pa.Table.from_batches(pending).combine_chunks()
            yield table.slice(0, size).to_batches()[0]
            pending = table.slice(size).to_batches()
            n -= size
    if n:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def chunks(batch: pa.RecordBatch, size: int) -> Iterator[pa.RecordBatch]:
    """Slices of at most `size` rows of one batch (each batch's rows stay in their own row groups)."""
    for start in range(0, batch.num_rows, size):
        yield batch.slice(start, size)


def row_groups(path: str | Path, columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
    """A Parquet file's rows one row group at a time, so memory holds one group: `iter_batches`
    kept ~1 GB allocated over a 30M-row NB201 table (measured with pyarrow 26)."""
    parquet = pq.ParquetFile(path)
    for i in range(parquet.num_row_groups):
        yield parquet.read_row_group(i, columns=columns)
