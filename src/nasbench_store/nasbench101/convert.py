"""NAS-Bench-101 conversion: TFRecord byte-range shards -> hash buckets -> NNI's three tables.

`convert_shard` reads the records that start in its byte range (one Snakemake job each), checks
every record (CRCs, payload, protobuf, recomputed graph hash), turns each new cell into NNI's arch
JSON, and writes a Parquet part whose row groups are buckets of module-hash prefixes. `iter_tables`
then walks bucket by bucket across all parts, so memory holds one bucket at a time, and emits rows
in (hash, epochs, file order) with
ids that depend only on the raw file: NNI's order (the reference cell's 108-epoch config is id 4
in a sorted full file) whatever the shard count.

Format: docs/formats.md#nb101-tables.
"""
from __future__ import annotations

import itertools
import mmap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..atomic import atomic_path
from ..database import json_text
from ..errors import RawFormatError
from ..parts import RowNumbers, job_slice, read_part_meta, with_part_meta
from ..tablewriter import write_tables
from ..tfrecord import iter_records, open_map, read_record, release_pages, sync_forward
from . import records
from .graph import check_spec, hash_adjacency, labels_of, parse_adjacency, prune, spec_to_arch
from .records import RecordError, Run, parse_record
from .schema import MODELS

BUCKET_HEX = 1  # buckets keyed by the first hex digit of the module hash
NUM_BUCKETS = 16 ** BUCKET_HEX
_FLUSH_ROWS = 1 << 16

RUN_SCHEMA = pa.schema([
    ("bucket", pa.int8()), ("offset", pa.int64()), ("hash", pa.string()), ("epochs", pa.int64()),
    ("arch", pa.string()), ("num_vertices", pa.int64()), ("parameters", pa.int64()),
    ("halfway_time", pa.float64()), ("halfway_train", pa.float64()),
    ("halfway_valid", pa.float64()), ("halfway_test", pa.float64()),
    ("final_time", pa.float64()), ("final_train", pa.float64()),
    ("final_valid", pa.float64()), ("final_test", pa.float64()),
])


_CELL_COLUMNS = [RUN_SCHEMA.get_field_index(n) for n in ("hash", "arch")]
_SHARD_SCHEMA = pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if i in _CELL_COLUMNS else f
                           for i, f in enumerate(RUN_SCHEMA)])


def check_cell(module_hash: str, adjacency: str, operations: str) -> tuple[str, int]:
    """NNI's arch JSON and vertex count of a stored cell; RecordError unless it is canonical
    (pruned, in the space) and hashes to its key."""
    try:
        matrix = parse_adjacency(adjacency)
    except ValueError as exc:
        raise RecordError(f"cell {module_hash}: {exc}") from None
    ops = operations.split(",")
    if len(ops) != len(matrix):
        raise RecordError(f"cell {module_hash}: {len(ops)} operations for a {len(matrix)}x{len(matrix)} matrix")
    try:
        check_spec(matrix, ops)
        pruned, _ = prune(matrix, ops)
    except ValueError as exc:
        raise RecordError(f"cell {module_hash} is outside the NAS-Bench-101 space: {exc}") from None
    if len(pruned) != len(matrix):
        raise RecordError(f"cell {module_hash} has vertices off every input->output path; stored cells are pruned")
    actual = hash_adjacency(adjacency, labels_of(ops))
    if actual != module_hash:
        raise RecordError(f"stored hash {module_hash} differs from the recomputed graph hash {actual}")
    return json_text(spec_to_arch(matrix, ops)), len(ops)


class _Runs:
    """Rows of the runs being read, turned into Arrow every `_FLUSH_ROWS` rows.

    The cell columns (hash, arch) repeat for the 12 runs of a cell, so they are
    dictionary-encoded: a shard of the 2 GB file then needs well under half the memory.
    The Python path adds rows one by one (`add`); the C path adds whole batches of columns
    (`add_columns`), which give the same record batches.
    """

    def __init__(self):
        self.batches: list[pa.RecordBatch] = []
        self.rows: list[tuple] = []
        self._cell_hashes: list[str] = []  # of the cells dict, in its (insertion) order
        self._cell_archs: list[str] = []

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            cols = [pa.array(col, f.type) for col, f in zip(zip(*self.rows), RUN_SCHEMA)]
            for i in _CELL_COLUMNS:
                cols[i] = cols[i].dictionary_encode()
            self.batches.append(pa.record_batch(cols, schema=_SHARD_SCHEMA))
            self.rows = []

    def add_columns(self, ints: np.ndarray, floats: np.ndarray, cells: dict[str, tuple]) -> None:
        """One batch from the C loop's columns (rows of `_recordscan.scan`'s ints and floats, which
        this batch then owns); hash and arch come from `cells` by each row's cell index."""
        for module_hash, cell in itertools.islice(cells.items(), len(self._cell_hashes), None):
            self._cell_hashes.append(module_hash)
            self._cell_archs.append(cell[3])
        bucket, offset, epochs, vertices, params, cell = ints
        # what dictionary_encode makes of the rows' strings: the values in order of first occurrence
        used, first, inverse = np.unique(cell, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty(len(order), np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        indices = pa.array(rank[inverse])
        cells_used = used[order].tolist()
        hashes = pa.DictionaryArray.from_arrays(indices, pa.array([self._cell_hashes[i] for i in cells_used],
                                                                  pa.string()))
        archs = pa.DictionaryArray.from_arrays(indices, pa.array([self._cell_archs[i] for i in cells_used],
                                                                 pa.string()))
        cols = [pa.array(bucket.astype(np.int8)), pa.array(offset), hashes, pa.array(epochs), archs,
                pa.array(vertices), pa.array(params), *(pa.array(column) for column in floats)]
        self.batches.append(pa.record_batch(cols, schema=_SHARD_SCHEMA))

    def table(self) -> pa.Table:
        self.flush()
        return pa.Table.from_batches(self.batches, schema=_SHARD_SCHEMA)


def convert_shard(raw_path: str | Path, index: int, count: int, out_path: str | Path) -> dict:
    """Read shard `index` of `count` of a NAS-Bench-101 TFRecord file into a bucketed Parquet part."""
    raw_path = Path(raw_path)
    size = raw_path.stat().st_size
    if size == 0:  # a store without trials is refused, not published as verified
        raise RawFormatError(raw_path, None, "holds no records: the file is empty")
    start, stop = job_slice(size, index, count)  # records that start in the range belong to it
    read = _read_runs_py if records.scan is None else _read_runs_c
    runs, first, end = read(raw_path, start, stop)
    table = runs.table()
    table = table.take(pc.sort_indices(table, [("bucket", "ascending"), ("offset", "ascending")]))
    info = {"index": index, "count": count, "raw_size": size, "start": first, "end": end,
            "records": table.num_rows}
    _write_part(out_path, table, info)
    return info


def _checked_run(raw_path: Path, offset: int, payload: bytes, cells: dict[str, tuple]) -> tuple[Run, tuple]:
    """The run of one record and its cell (adjacency, operations, parameters, arch, vertices, index
    in `cells`), which is added to `cells` if new; RawFormatError naming file and offset."""
    try:
        run = parse_record(payload)
        cell = cells.get(run.module_hash)
        if cell is None:
            arch, vertices = check_cell(run.module_hash, run.adjacency, run.operations)
            cell = cells[run.module_hash] = (run.adjacency, run.operations, run.trainable_parameters,
                                             arch, vertices, len(cells))
        elif cell[:3] != (run.adjacency, run.operations, run.trainable_parameters):
            raise RecordError(f"cell {run.module_hash} appears with a different adjacency, operations "
                              f"or parameter count than in its earlier records")
    except RecordError as exc:
        raise RawFormatError(raw_path, offset, str(exc)) from None
    return run, cell


def _read_runs_py(raw_path: Path, start: int, stop: int) -> tuple[_Runs, int | None, int | None]:
    """The pure-Python record loop (the fallback and the test oracle): (runs, first offset, end)."""
    runs = _Runs()
    cells: dict[str, tuple] = {}
    first = end = None
    for offset, payload in iter_records(raw_path, start, stop):
        run, cell = _checked_run(raw_path, offset, payload, cells)
        if first is None:
            first = offset
        end = offset + 16 + len(payload)
        runs.add((int(run.module_hash[:BUCKET_HEX], 16), offset, run.module_hash, run.epochs,
                  cell[3], cell[4], cell[2], *run.halfway, *run.final))
    return runs, first, end


def _read_runs_c(raw_path: Path, start: int, stop: int) -> tuple[_Runs, int | None, int | None]:
    """`_read_runs_py` with the loop in C (`records.scan`): each record it does not read in the
    release's shape, errors included, goes through `_checked_run`, so values and messages are the same."""
    scan = records.scan
    runs = _Runs()
    cells: dict[str, tuple] = {}
    first = None
    with open_map(raw_path) as (buf, size):
        pos = start if start == 0 else sync_forward(buf, start, stop, size)
        released = pos - pos % mmap.PAGESIZE
        while True:
            ints = np.empty((6, _FLUSH_ROWS), np.int64)  # bucket, offset, epochs, vertices, params, cell
            floats = np.empty((8, _FLUSH_ROWS), np.float64)  # halfway, final: time, train, valid, test
            n = 0
            while True:
                pos, n, status = scan(buf, pos, stop, n, ints, floats, cells, hash_adjacency, BUCKET_HEX)
                if status != records.SCAN_SLOW:
                    break
                payload = read_record(raw_path, buf, pos, size)  # a framing error raises here
                run, cell = _checked_run(raw_path, pos, payload, cells)
                ints[:, n] = (int(run.module_hash[:BUCKET_HEX], 16), pos, run.epochs, cell[4], cell[2], cell[5])
                floats[:, n] = (*run.halfway, *run.final)
                n, pos = n + 1, pos + 16 + len(payload)
            if n:
                first = int(ints[1, 0]) if first is None else first
                runs.add_columns(ints[:, :n], floats[:, :n], cells)
            released = release_pages(buf, released, pos)
            if status == records.SCAN_DONE:
                return runs, first, None if first is None else pos


def _write_part(out_path, table: pa.Table, info: dict) -> None:
    schema = with_part_meta(_SHARD_SCHEMA, info)
    buckets = table.column("bucket").to_numpy()
    bounds = np.searchsorted(buckets, np.arange(NUM_BUCKETS + 1))
    with atomic_path(out_path) as tmp:
        # dictionary pages only for the cell columns: the metrics are nearly all distinct, and trying
        # a dictionary for them cost half the write time
        with pq.ParquetWriter(tmp, schema, compression="zstd", compression_level=1,
                              use_dictionary=[RUN_SCHEMA.field(i).name for i in _CELL_COLUMNS]) as writer:
            for b in range(NUM_BUCKETS):  # one row group per bucket, empty ones included
                writer.write_table(table.slice(bounds[b], bounds[b + 1] - bounds[b]).replace_schema_metadata(
                    schema.metadata), row_group_size=max(1, table.num_rows))


def check_coverage(raw_path: str | Path, parts: Sequence[str | Path]) -> list[dict]:
    """Check the parts cover the raw file exactly once, record after record; return their infos."""
    infos = sorted((read_part_meta(p) for p in parts), key=lambda i: i["index"])
    size = Path(raw_path).stat().st_size
    count = len(infos)
    if [i["index"] for i in infos] != list(range(count)) or any(i["count"] != count for i in infos):
        raise RawFormatError(raw_path, None, "shard parts are not 0..N-1 of one split",
                             "delete the work directory and rebuild")
    pos = 0
    for info in infos:
        if info["raw_size"] != size:
            raise RawFormatError(raw_path, None, f"shard {info['index']} was made from a file of "
                                 f"{info['raw_size']} bytes, the file has {size}", "rebuild the shards")
        if info["start"] is None:
            continue
        if info["start"] != pos:
            raise RawFormatError(raw_path, pos, f"shard {info['index']} starts at {info['start']}, "
                                 f"but the previous record ends at {pos}")
        pos = info["end"]
    if pos != size:
        raise RawFormatError(raw_path, pos, f"{size - pos} trailing bytes after the last record")
    return infos


def _read_bucket(parts: Sequence[str | Path], bucket: int) -> pa.Table:
    tables = [pq.ParquetFile(p).read_row_group(bucket).replace_schema_metadata(None).cast(RUN_SCHEMA)
              for p in parts]
    table = pa.concat_tables(tables)
    order = pc.sort_indices(table, [("hash", "ascending"), ("epochs", "ascending"), ("offset", "ascending")])
    return table.take(order)


def iter_tables(raw_path: str | Path, parts: Sequence[str | Path]) -> Iterator[tuple[str, pa.Table]]:
    """Yield (table name, rows) for nb101trialconfig, nb101trialstats and nb101intermediatestats,
    bucket by bucket, with global ids."""
    check_coverage(raw_path, parts)
    numbers = _Numbers(RowNumbers(), RowNumbers(), RowNumbers())
    for bucket in range(NUM_BUCKETS):
        runs = _read_bucket(parts, bucket)
        if runs.num_rows == 0:
            continue
        config, trials, inter = _bucket_tables(raw_path, runs, numbers)
        yield "nb101trialconfig", config
        yield "nb101trialstats", trials
        yield "nb101intermediatestats", inter


def _differs_from_previous(column: pa.ChunkedArray) -> np.ndarray:
    """Boolean per row: not equal to the row before (the first row counts as different)."""
    n = len(column)
    out = np.ones(n, dtype=bool)
    if n > 1:
        out[1:] = pc.not_equal(column.slice(1), column.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    return out


def _check_cells_agree(raw_path, runs: pa.Table, new_hash: np.ndarray) -> None:
    """Records of one cell in different shards must agree on the cell (within a shard: checked there)."""
    for name in ("arch", "parameters"):
        bad = np.flatnonzero(~new_hash & _differs_from_previous(runs.column(name)))
        if bad.size:
            row = int(bad[0])
            raise RawFormatError(raw_path, runs.column("offset")[row].as_py(),
                                 f"cell {runs.column('hash')[row].as_py()} has a different {name} than in "
                                 f"its other records")


class _Numbers(NamedTuple):
    configs: RowNumbers
    trials: RowNumbers
    intermediates: RowNumbers


def _bucket_tables(raw_path, runs: pa.Table, numbers: _Numbers) -> tuple[pa.Table, pa.Table, pa.Table]:
    n = runs.num_rows
    new_hash = _differs_from_previous(runs.column("hash"))
    _check_cells_agree(raw_path, runs, new_hash)
    epochs = runs.column("epochs").to_numpy()
    starts = new_hash | _differs_from_previous(runs.column("epochs"))
    heads = pa.array(np.flatnonzero(starts))
    config_ids = numbers.configs.take(len(heads))
    config_id = config_ids[np.cumsum(starts) - 1]  # each run's config: the last config start at or before it
    config = pa.table({
        "id": pa.array(config_ids, pa.int64()), "arch": runs.column("arch").take(heads),
        "num_vertices": runs.column("num_vertices").take(heads), "hash": runs.column("hash").take(heads),
        "num_epochs": runs.column("epochs").take(heads),
    })
    trial_id = numbers.trials.take(n)

    def col(name):
        return runs.column(name).to_numpy()

    def pairs(a, b):
        return np.column_stack([col(a), col(b)]).ravel()

    trials = pa.table({
        "id": trial_id, "config_id": config_id.astype(np.int64),
        "train_acc": col("final_train") * 100, "valid_acc": col("final_valid") * 100,
        "test_acc": col("final_test") * 100, "parameters": col("parameters") / 1e6,
        "training_time": col("final_time"),
    })
    inter = pa.table({
        "id": numbers.intermediates.take(2 * n),
        "trial_id": np.repeat(trial_id, 2),
        "current_epoch": np.column_stack([epochs // 2, epochs]).ravel().astype(np.int64),
        "train_acc": pairs("halfway_train", "final_train") * 100,
        "valid_acc": pairs("halfway_valid", "final_valid") * 100,
        "test_acc": pairs("halfway_test", "final_test") * 100,
        "training_time": pairs("halfway_time", "final_time"),
    })
    return config, trials, inter


def write_store(parts: Sequence[str | Path], db_path: str | Path | None = None,
                parquet_dir: str | Path | None = None, raw: str | Path | None = None,
                provenance: Mapping[str, str] | None = None) -> dict[str, int]:
    """Assemble the shard parts of `raw` into nasbench101.db and/or the Parquet files; return row counts."""
    if raw is None:
        raise ValueError("NAS-Bench-101's assembly needs the raw file, to check that the shards cover it")
    runs = sum(read_part_meta(p)["records"] for p in parts)
    # per run a trial and two intermediate rows; a config per three runs (the release's repeats)
    return write_tables(MODELS, iter_tables(raw, parts), db_path, parquet_dir, expected_rows=3 * runs + runs // 3,
                        raw=raw, provenance=provenance)
