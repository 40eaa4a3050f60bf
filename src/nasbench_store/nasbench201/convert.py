"""NAS-Bench-201 conversion: raw source -> parts (one row per trial) -> NNI's three tables and the
store's extra tables (arch strings, per-run details, per-epoch times and key presence).

A part is one Parquet file: a row per trial with its config id, NNI's trial columns, the run's
details (nb201trialinfo), the per-epoch metrics as list columns (epochs with no metric at all left
out, as NNI does) and the run's epoch spans (nb201epochspan) as list columns. Rows
come in architecture order as the source yields them and, inside an architecture, by epochs
(12, 200), dataset in NNI's order, then seed. `Nb201Assembly` walks the parts in order and
numbers trials and intermediate rows consecutively, so ids depend only on the raw data, not on
how many jobs converted it. Configs are NNI's: every meta arch × {12, 200} × 4 datasets.

Mapping (NNI's db_gen): valid/test/ori_test come from the eval sets in SPLITS at epoch E-1,
training_time = train_times[E-1] × E, latency = latency[0], NaN losses become NULL. The extra
tables keep what the official APIs read and NNI's mapping drops, so that the facades in
`nasbench_store.compat` answer exactly as nas_201_api and nats_bench do.

Format: docs/formats.md#nb201-tables.
"""
from __future__ import annotations

import functools
import itertools
import math
import operator
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_path
from ..database import json_text
from ..errors import RawFormatError, shown
from ..manifest import raw_digest
from ..parts import (
    RowNumbers,
    explode_curves,
    job_items,
    leaf_values,
    part_rows,
    read_part_meta,
    rebatch,
    row_groups,
    with_part_meta,
)
from ..progress import Progress
from ..tablewriter import arrow_schema, provenance, table_name, write_tables
from .constants import DATASETS, EPOCHS, SPLITS
from .nats import NatsArchive
from .pth import LegacyPth
from .schema import (
    EXTRA_MODELS,
    MODELS,
    Nb201Arch,
    Nb201EpochSpan,
    Nb201IntermediateStats,
    Nb201TrialConfig,
    Nb201TrialInfo,
    Nb201TrialStats,
)
from .space import config_id, parse_arch_str

CONFIG_SCHEMA = arrow_schema(Nb201TrialConfig)
TRIAL_SCHEMA = arrow_schema(Nb201TrialStats)
INTERMEDIATE_SCHEMA = arrow_schema(Nb201IntermediateStats)
TRIAL_FIELDS = TRIAL_SCHEMA.names[1:]           # config_id, seed, ... (no id)
CURVE_FIELDS = INTERMEDIATE_SCHEMA.names[3:]    # train_acc .. ori_test_loss
ARCH_SCHEMA = arrow_schema(Nb201Arch)
INFO_SCHEMA = arrow_schema(Nb201TrialInfo)
INFO_FIELDS = INFO_SCHEMA.names[2:]             # latency_mean .. eval_names (no trial_id, arch_index)
SPAN_SCHEMA = arrow_schema(Nb201EpochSpan)
SPAN_FIELDS = SPAN_SCHEMA.names[2:]             # from_epoch .. has_ori_test_loss (no id, trial_id)
PART_SCHEMA = pa.schema([TRIAL_SCHEMA.field(n) for n in TRIAL_FIELDS] + [("arch_index", pa.int64())]
                        + [INFO_SCHEMA.field(n) for n in INFO_FIELDS]
                        + [("current_epoch", pa.list_(pa.int64()))]
                        + [(f"epoch_{n}", pa.list_(pa.float64())) for n in CURVE_FIELDS]
                        + [(f"span_{f.name}", pa.list_(f.type)) for f in SPAN_SCHEMA if f.name in SPAN_FIELDS])
N_SCALARS = len(TRIAL_FIELDS) + 1 + len(INFO_FIELDS)
# The release's evaluation sets, in the column order of nb201epochspan.
EVAL_SPLITS = ("x-valid", "x-test", "ori-test")
FLUSH_TRIALS = 2048
OUT_BATCH_ROWS = 1 << 16
_HINT = "the record does not have NAS-Bench-201's layout; the download may be damaged"


def open_source(raw: str | Path):
    """The reader for a raw release: NATS-tss archive (directory or .tar) or a .pth file."""
    raw = Path(raw)
    return NatsArchive(raw) if raw.is_dir() or raw.suffix == ".tar" else LegacyPth(raw)


# -- one architecture -> trial rows ----------------------------------------------------------------
class _Kind(NamedTuple):
    """What a value may be: finite, within [low, high] (low excluded if low_open); NaN is NULL if nullable."""
    low: float
    high: float
    low_open: bool
    nullable: bool
    rule: str  # how a message states the range


ACCURACY = _Kind(0.0, 100.0, False, False, "outside [0, 100] (percent)")
FINITE_OR_NAN = _Kind(-math.inf, math.inf, False, True, "not finite")  # losses; every per-epoch metric
SIZE = _Kind(0.0, math.inf, True, False, "not a finite number > 0")
TIME = _Kind(0.0, math.inf, False, False, "not a finite number >= 0")
MAX_SEED = 2**32 - 1  # the release's seeds are 111, 777, 888, 999
_VALUE_HINT = "no NAS-Bench-201 run holds such a value; the file is damaged or is not the release"


def _number(value, where: str, what: str, kind: _Kind):
    if (type(value) is float and value - value == 0.0 and kind.low <= value <= kind.high
            and not (kind.low_open and value == kind.low)):
        return value  # the common case, in one test: a finite float in range
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RawFormatError(where, None, f"{what} is {shown(value)}, not a number", _HINT)
    try:
        value = float(value)
    except OverflowError:
        raise RawFormatError(where, None, f"{what} {shown(value)} is {kind.rule}", _VALUE_HINT) from None
    if math.isnan(value):
        if kind.nullable:
            return None
        raise RawFormatError(where, None, f"{what} is NaN", _HINT)
    if not (math.isfinite(value) and (value > kind.low if kind.low_open else value >= kind.low)
            and value <= kind.high):
        raise RawFormatError(where, None, f"{what} {value!r} is {kind.rule}", _VALUE_HINT)
    return value


def _required(d, key, where: str, what: str, kind: _Kind):
    try:
        value = d[key]
    except (KeyError, TypeError, IndexError):
        raise RawFormatError(where, None, f"{what}[{key!r}] is missing", _HINT) from None
    return _number(value, where, f"{what}[{key!r}]", kind)


def arch_trials(index: int, info: dict[int, dict], meta_archs: Sequence[str], where: str,
                rows: PartRows) -> None:
    """Add one architecture's runs to `rows`: 12 then 200 epochs, datasets in NNI's order, seeds."""
    for epochs in EPOCHS:
        state = info.get(epochs)
        if state is None:
            continue
        here = f"{where} arch {index} ({epochs} epochs)"
        if not isinstance(state, dict) or not isinstance(state.get("all_results"), dict):
            raise RawFormatError(here, None, "no all_results dict", _HINT)
        if state.get("arch_str", meta_archs[index]) != meta_archs[index]:
            raise RawFormatError(here, None, f"arch_str {shown(state.get('arch_str'))} differs from "
                                 f"meta_archs[{index}]", _HINT)
        runs = []
        for key, result in state["all_results"].items():
            if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str)
                    and type(key[1]) is int and key[0].lower() in SPLITS):
                raise RawFormatError(here, None, f"all_results key {shown(key)} is not (dataset, seed)", _HINT)
            if not 0 <= key[1] <= MAX_SEED:  # Arrow's int64 and SQLite would refuse it later, unnamed
                raise RawFormatError(f"{here} {key[0].lower()}", None,
                                     f"seed {shown(key[1])} is outside 0..{MAX_SEED}", _VALUE_HINT)
            runs.append((DATASETS.index(key[0].lower()), key[1], result))
        _check_dataset_seed(state, here)
        for d, seed, result in sorted(runs, key=lambda r: r[:2]):
            dataset = DATASETS[d]
            where_run = f"{here} {dataset} seed {seed}"
            trial = _trial(where_run, index, config_id(index, epochs, dataset), seed, epochs, dataset, result)
            curves, series = _curves(epochs, dataset, result, where_run)
            rows.add(trial + _details(where_run, epochs, meta_archs[index], result),
                     curves, _spans(where_run, epochs, dataset, result, series))


def _check_dataset_seed(state: dict, here: str) -> None:
    """`dataset_seed` must list each dataset's seeds of `all_results`, sorted: the official APIs draw
    and average over it, the store over the runs (so the two must agree)."""
    seeds: dict[str, list] = {}
    for name, seed in state["all_results"]:
        seeds.setdefault(name, []).append(seed)
    listed = state.get("dataset_seed")
    as_lists = None
    if isinstance(listed, dict):
        as_lists = {k: list(v) for k, v in listed.items() if isinstance(v, (list, tuple))}
    if as_lists is None or len(as_lists) != len(listed) or as_lists != {k: sorted(v) for k, v in seeds.items()}:
        raise RawFormatError(here, None, f"dataset_seed {shown(listed)} does not list the sorted seeds of "
                             f"all_results ({shown({k: sorted(v) for k, v in seeds.items()})})", _HINT)


def _trial(where: str, index: int, cid: int, seed: int, epochs: int, dataset: str, r: dict) -> tuple:
    if not isinstance(r, dict):
        raise RawFormatError(where, None, "the result is not a dict", _HINT)
    last = epochs - 1
    valid, test, ori = (f"{s}@{last}" for s in SPLITS[dataset])
    try:
        train_acc, train_loss, train_times = r["train_acc1es"], r["train_losses"], r["train_times"]
        acc, loss, times = r["eval_acc1es"], r["eval_losses"], r["eval_times"]
        latency = r["latency"]
        params, flop = r["params"], r["flop"]
    except KeyError as exc:
        raise RawFormatError(where, None, f"key {exc} is missing", _HINT) from None
    if not isinstance(latency, (list, tuple)) or not latency:
        raise RawFormatError(where, None, f"latency {shown(latency)} is not a non-empty list", _HINT)
    epoch_time = _required(train_times, last, where, "train_times", TIME)
    return (
        cid, seed,
        _required(train_acc, last, where, "train_acc1es", ACCURACY),
        _required(acc, valid, where, "eval_acc1es", ACCURACY),
        _required(acc, test, where, "eval_acc1es", ACCURACY),
        _required(acc, ori, where, "eval_acc1es", ACCURACY),
        _required(train_loss, last, where, "train_losses", FINITE_OR_NAN),
        _required(loss, valid, where, "eval_losses", FINITE_OR_NAN),
        _required(loss, test, where, "eval_losses", FINITE_OR_NAN),
        _required(loss, ori, where, "eval_losses", FINITE_OR_NAN),
        _number(params, where, "params", SIZE),
        _number(latency[0], where, "latency[0]", TIME),
        _number(flop, where, "flop", SIZE),
        _number(epoch_time * epochs, where, f"train_times[{last}] x {epochs} epochs", TIME),
        _required(times, valid, where, "eval_times", TIME),
        _required(times, test, where, "eval_times", TIME),
        _required(times, ori, where, "eval_times", TIME),
        index,
    )


@functools.cache
def _keys(split: str, epochs: int) -> tuple[str, ...]:
    return tuple(f"{split}@{e}" for e in range(epochs))


def _curves(epochs: int, dataset: str, r: dict, where: str) -> tuple[list[list], dict[str, list]]:
    """[current_epoch, 8 metrics] per epoch with NNI's .get() lookups, all-empty epochs dropped; and the
    per-epoch values by series (train_acc, train_loss, <split>_acc, <split>_loss of the dataset's splits)
    over every epoch, None where the key is missing.

    Every value is missing, NaN (both NULL) or a finite number; a key holding None is an error (the
    official APIs would return None there, which the store cannot tell from a missing key). Per-epoch
    accuracies are not range-checked (the final ones are, in _trial): the synthetic generator's early
    epochs dip below 0."""
    splits = SPLITS[dataset]
    for name in ("train_acc1es", "eval_acc1es", "train_losses", "eval_losses"):
        if not isinstance(r[name], dict):
            raise RawFormatError(where, None, f"{name} is a {type(r[name]).__name__}, not a dict", _HINT)
    acc_get, loss_get = r["eval_acc1es"].get, r["eval_losses"].get
    accs = {s: list(map(acc_get, _keys(s, epochs))) for s in set(splits)}
    losses = {s: list(map(loss_get, _keys(s, epochs))) for s in set(splits)}
    rng = range(epochs)
    cols = [list(map(r["train_acc1es"].get, rng)), *(accs[s] for s in splits),
            list(map(r["train_losses"].get, rng)), *(losses[s] for s in splits)]
    holds_none = {name: None in r[name].values() for name in ("train_acc1es", "eval_acc1es", "train_losses",
                                                              "eval_losses")}
    for values, (name, split) in zip(cols, _CURVE_NAMES[dataset]):
        _check_curve(values, where, name, split)
        if holds_none[name]:
            _no_none_values(values, r[name], where, name, split)
    series = {"train_acc": cols[0], "train_loss": cols[4],
              **{f"{s}_acc": accs[s] for s in splits}, **{f"{s}_loss": losses[s] for s in splits}}
    if None in cols[0]:
        keep = [e for e in rng if any(c[e] is not None for c in cols)]
        return [[e + 1 for e in keep]] + [[c[e] for e in keep] for c in cols], series
    return [list(range(1, epochs + 1))] + cols, series


def _no_none_values(values: list, raw: dict, where: str, name: str, split: str | None) -> None:
    for epoch, value in enumerate(values):
        key = epoch if split is None else f"{split}@{epoch}"
        if value is None and key in raw:
            raise RawFormatError(where, None, f"{name}[{key!r}] is None, not a number", _HINT)


def _details(where: str, epochs: int, arch_str: str, r: dict) -> tuple:
    """The run's nb201trialinfo values (after arch_index): latency mean, arch_config, eval_names."""
    if r.get("epochs") != epochs or type(r.get("epochs")) is not int:
        raise RawFormatError(where, None, f"epochs {shown(r.get('epochs'))} is not the budget's {epochs}", _HINT)
    latency = [_number(v, where, f"latency[{i}]", TIME) for i, v in enumerate(r["latency"])]
    config = r.get("arch_config")
    if not isinstance(config, dict):
        raise RawFormatError(where, None, f"arch_config {shown(config)} is not a dict", _HINT)
    sizes = []
    for key in ("channel", "num_cells", "class_num"):
        value = config.get(key)
        if type(value) is not int or not 0 < value <= MAX_SEED:
            raise RawFormatError(where, None, f"arch_config[{key!r}] {shown(value)} is not a positive integer", _HINT)
        sizes.append(value)
    if config.get("arch_str") != arch_str:
        raise RawFormatError(where, None, f"arch_config['arch_str'] {shown(config.get('arch_str'))} differs from "
                             f"the architecture's {arch_str!r}", _HINT)
    names = r.get("eval_names")
    if not isinstance(names, (list, tuple)) or any(n not in EVAL_SPLITS for n in names):
        raise RawFormatError(where, None, f"eval_names {shown(names)} is not a list of {', '.join(EVAL_SPLITS)}",
                             _HINT)
    # the official APIs' get_latency(): the sum over the list divided by its length, in this order
    return (float(sum(r["latency"]) / len(latency)), *sizes, ",".join(names))


def _spans(where: str, epochs: int, dataset: str, r: dict, series: dict[str, list]) -> list[list]:
    """nb201epochspan columns (from_epoch .. has_ori_test_loss) of one run: runs of epochs with the same
    times and the same keys present. A metric of a split NNI's mapping has no column for on this dataset
    (cifar10's x-valid, say) is an error: its values would be in no table."""
    train_times = r["train_times"]
    if not isinstance(train_times, dict):
        raise RawFormatError(where, None, f"train_times is a {type(train_times).__name__}, not a dict", _HINT)
    if list(train_times) == _epoch_list(epochs):
        columns = [list(train_times.values())]
    else:
        _check_epoch_keys(list(train_times), epochs, where)
        columns = [list(map(train_times.get, range(epochs)))]
    times = r["eval_times"]
    columns += [list(map(times.get, _keys(s, epochs))) for s in EVAL_SPLITS]
    for values, (name, split) in zip(columns, [("train_times", None), *(("eval_times", s) for s in EVAL_SPLITS)]):
        missing = _missing(values)
        _check_times(values, missing, where, name, split)
        raw = train_times if split is None else times
        if missing and None in raw.values():
            _no_none_values(values, raw, where, name, split)
    # A flag column is True where the series has the epoch's key: a constant unless some keys are missing.
    flags: list = [_present(series["train_acc"]), _present(series["train_loss"])]
    for split in EVAL_SPLITS:
        for metric, raw in (("acc", "eval_acc1es"), ("loss", "eval_losses")):
            values = series.get(f"{split}_{metric}")
            if values is None:  # not one of this dataset's NNI splits: the release must not hold it
                if any(map(r[raw].__contains__, _keys(split, epochs))):
                    raise RawFormatError(where, None, f"{raw} holds {split} values, which NNI's split mapping has "
                                         f"no column for on {dataset}", _HINT)
                flags.append(0)
            else:
                flags.append(_present(values))
    # span boundaries: where any column changes (constant columns, the common case, and copies are left out)
    varying: list[list] = []
    for c in [c for c in columns if c.count(c[0]) != epochs] + [f for f in flags if isinstance(f, list)]:
        if c not in varying:
            varying.append(c)
    bounds = [0]
    groups = itertools.groupby(varying[0] if len(varying) == 1 else zip(*varying)) if varying else [(0, range(epochs))]
    for _, group in groups:
        bounds.append(bounds[-1] + len(list(group)))
    starts = bounds[:-1]  # column by column: a run whose per-epoch times vary has a span per epoch
    return [[start + 1 for start in starts], bounds[1:], *([c[start] for start in starts] for c in columns),
            *([int(f[start]) for start in starts] if isinstance(f, list) else [f] * len(starts) for f in flags)]


@functools.cache
def _epoch_list(epochs: int) -> list[int]:
    return list(range(epochs))


def _missing(values: list) -> int:
    """How many values are None. Numbers add up in C without a None, which is the common case; counting
    compares every number with None, which is slow."""
    try:
        sum(values)
        return 0
    except TypeError:
        return values.count(None)


def _present(values: list) -> int | list[bool]:
    """Per epoch whether the value exists (is not None): 1 or 0 when that holds for every epoch, else a list."""
    missing = _missing(values)
    if missing in (0, len(values)):
        return int(missing == 0)
    return list(map(operator.is_not, values, itertools.repeat(None)))


def _check_epoch_keys(keys: list, epochs: int, where: str) -> None:
    """train_times keys must be epochs 0..E-1 in ascending order (gaps allowed): the APIs sum its values."""
    if not all(type(k) is int and 0 <= k < epochs for k in keys) or keys != sorted(set(keys)):
        raise RawFormatError(where, None, f"train_times keys {shown(keys)} are not ascending epochs in "
                             f"0..{epochs - 1}", _HINT)


def _check_times(values: list, missing: int, where: str, name: str, split: str | None) -> None:
    """Per-epoch times are missing (None; `missing` of them) or finite numbers >= 0 (as final times are)."""
    numbers = [v for v in values if v is not None] if missing else values
    try:
        if not numbers or (min(numbers) >= 0 and isinstance(total := sum(numbers), float) and total - total == 0.0):
            return
    except TypeError:
        pass
    for epoch, value in enumerate(values):
        if value is not None:
            _number(value, where, f"{name}[{epoch!r}]" if split is None else f"{name}['{split}@{epoch}']", TIME)


# The 8 curves' raw names (dict, split or None), in _curves' column order.
_CURVE_NAMES = {d: [("train_acc1es", None), *(("eval_acc1es", s) for s in SPLITS[d]),
                    ("train_losses", None), *(("eval_losses", s) for s in SPLITS[d])] for d in SPLITS}


def _check_curve(values: list, where: str, name: str, split: str | None) -> None:
    """Raise naming the first value that is not None, NaN or a finite number. A float curve is checked
    in C: its sum is finite (sum raises on anything but numbers), after dropping NaNs if it is not."""
    numbers = [v for v in values if v is not None] if None in values else values
    try:
        total = sum(numbers)
        if total != total:
            numbers = [v for v in numbers if v == v]
            total = sum(numbers)
    except (TypeError, OverflowError):
        total = None
    if not numbers or (isinstance(total, float) and total - total == 0.0):
        return
    for epoch, value in enumerate(values):
        if value is not None:
            _number(value, where, f"{name}[{epoch!r}]" if split is None else f"{name}['{split}@{epoch}']",
                    FINITE_OR_NAN)


# -- parts ----------------------------------------------------------------------------------------
class PartRows:
    """Trial rows with their curves and epoch spans (each flattened per column), turned into part
    RecordBatches."""

    def __init__(self):
        self.scalars: list[tuple] = []
        self.lengths: tuple[list[int], list[int]] = ([], [])  # per trial: curve epochs, spans
        self.flat: tuple[list[list], list[list]] = ([[] for _ in range(1 + len(CURVE_FIELDS))],
                                                    [[] for _ in SPAN_FIELDS])

    def __len__(self) -> int:
        return len(self.scalars)

    def add(self, trial: tuple, curves: list[list], spans: list[list]) -> None:
        self.scalars.append(trial)
        for lengths, flats, lists in zip(self.lengths, self.flat, (curves, spans)):
            lengths.append(len(lists[0]))
            for flat, values in zip(flats, lists):
                flat.extend(values)

    def batch(self) -> pa.RecordBatch:
        arrays = [pa.array(col, type=f.type, from_pandas=True)
                  for col, f in zip(zip(*self.scalars), PART_SCHEMA)]
        types = iter(PART_SCHEMA.types[N_SCALARS:])
        for lengths, flats in zip(self.lengths, self.flat):
            offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
            for flat, t in zip(flats, types):
                arrays.append(pa.ListArray.from_arrays(offsets, pa.array(flat, type=t.value_type, from_pandas=True)))
        self.__init__()
        return pa.record_batch(arrays, schema=PART_SCHEMA)


def convert_part(raw: str | Path, out: str | Path, index: int = 0, count: int = 1) -> dict:
    """Convert job `index` of `count`: a slice of a NATS archive's architectures, or the records of a
    .pth that start in the job's share of its bytes (`_record_share`)."""
    raw = Path(raw)
    if not 0 <= index < count:
        raise ValueError(f"job {index} of {count}: the index must lie in 0..{count - 1}")
    with open_source(raw) as source:
        if isinstance(source, NatsArchive):
            archs = source.archs(job_items(source.indexes, index, count))
        else:
            archs = _record_share(source, index, count)
        info = {"index": index, "count": count, "archs": 0, "trials": 0}
        total = len(job_items(source.indexes, index, count)) if isinstance(source, NatsArchive) else None
        progress = Progress(f"part {index} of {count} of {raw.name}", unit="architectures").start(total)
        with atomic_path(out) as tmp:
            writer = None
            try:
                rows = PartRows()
                for arch_index, arch_info in archs:
                    if writer is None:   # meta_archs is known once the first architecture arrives
                        meta = source.meta_archs
                        writer = _part_writer(tmp, meta)
                        progress.start(total or len(meta), info["archs"])
                    arch_trials(arch_index, arch_info, meta, str(raw), rows)
                    info["archs"] += 1
                    progress.update(info["archs"])
                    if len(rows) >= FLUSH_TRIALS:
                        info["trials"] += len(rows)
                        writer.write_batch(rows.batch())
                if writer is None:
                    writer = _part_writer(tmp, source.meta_archs)
                if len(rows):
                    info["trials"] += len(rows)
                    writer.write_batch(rows.batch())
            finally:
                progress.close()
                if writer is not None:
                    writer.close()
    return info


def _record_share(source: LegacyPth, index: int, count: int) -> Iterator[tuple[int, dict[int, dict]]]:
    """The architectures of a .pth whose records start in job `index`'s share of its bytes.

    A record's end is only found by parsing it, so every job parses the records before and in its
    share (the last one all of them, checking the whole pickle's structure with them) and converts
    only its own: each record is converted by one job, and the parts in job order are file order.
    """
    lo, hi = source.byte_share(index, count)
    archs = source.archs()
    try:
        for item in archs:
            if source.record_offset >= hi:
                return
            if source.record_offset >= lo:
                yield item
    finally:
        archs.close()


def _part_writer(path: Path, meta_archs: Sequence[str]) -> pq.ParquetWriter:
    schema = with_part_meta(PART_SCHEMA, {"meta_archs": list(meta_archs)})
    return pq.ParquetWriter(path, schema, compression="lz4", use_dictionary=False, write_statistics=False)


def part_meta_archs(part: str | Path) -> list[str]:
    meta = read_part_meta(part)
    if "meta_archs" not in meta:
        raise ValueError(f"{part} is not a NAS-Bench-201 part")
    return meta["meta_archs"]


# -- assembly -------------------------------------------------------------------------------------
class Nb201Assembly:
    """NNI's three tables from the parts (in job order), as streams of RecordBatches."""

    def __init__(self, parts: Sequence[str | Path]):
        self.parts = [Path(p) for p in parts]
        if not self.parts:
            raise ValueError("no parts to assemble")
        self.meta_archs = part_meta_archs(self.parts[0])
        for p in self.parts[1:]:
            if part_meta_archs(p) != self.meta_archs:
                raise ValueError(f"{p} was converted from a different meta_archs list than {self.parts[0]}")
        self.archs_with_results = self._check_archs()

    def _check_archs(self) -> int:
        seen: set[int] = set()
        for p in self.parts:
            archs = set(pq.read_table(p, columns=["arch_index"]).column(0).to_pylist())
            if seen & archs:
                raise ValueError(f"{p} repeats architectures {sorted(seen & archs)[:5]} of an earlier part")
            seen |= archs
        return len(seen)

    def tables(self) -> dict[str, Iterator[pa.RecordBatch]]:
        """Batches of OUT_BATCH_ROWS rows whatever the parts, so the Parquet row groups are too."""
        return {table_name(Nb201TrialConfig): self.configs(),
                table_name(Nb201TrialStats): rebatch(self.trials(), OUT_BATCH_ROWS),
                table_name(Nb201IntermediateStats): rebatch(self.intermediates(), OUT_BATCH_ROWS),
                table_name(Nb201Arch): self.archs(),
                table_name(Nb201TrialInfo): rebatch(self.infos(), OUT_BATCH_ROWS),
                table_name(Nb201EpochSpan): rebatch(self.spans(), OUT_BATCH_ROWS)}

    def configs(self) -> Iterator[pa.RecordBatch]:
        per_arch = [(e, d) for e in EPOCHS for d in DATASETS]
        step = OUT_BATCH_ROWS // len(per_arch)
        for start in range(0, len(self.meta_archs), step):
            archs = [json_text(parse_arch_str(a)) for a in self.meta_archs[start:start + step]]
            n = len(archs) * len(per_arch)
            first = start * len(per_arch) + 1
            yield pa.record_batch([
                pa.array(np.arange(first, first + n, dtype=np.int64)),
                pa.array([a for a in archs for _ in per_arch], type=pa.string()),
                pa.array([e for _ in archs for e, _ in per_arch], type=pa.int64()),
                pa.array(np.full(n, 16, dtype=np.int64)),
                pa.array(np.full(n, 5, dtype=np.int64)),
                pa.array([d for _ in archs for _, d in per_arch], type=pa.string()),
            ], schema=CONFIG_SCHEMA)

    def _part_batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        for p in self.parts:  # a row group at a time: iter_batches holds far more (parts.row_groups)
            for group in row_groups(p, columns):
                yield from group.to_batches(max_chunksize=FLUSH_TRIALS)

    def trials(self) -> Iterator[pa.RecordBatch]:
        ids = RowNumbers()
        for batch in self._part_batches(list(TRIAL_FIELDS)):
            yield pa.record_batch([pa.array(ids.take(batch.num_rows))] + batch.columns, schema=TRIAL_SCHEMA)

    def intermediates(self) -> Iterator[pa.RecordBatch]:
        trials, rows = RowNumbers(), RowNumbers()
        for batch in self._part_batches(["current_epoch", *(f"epoch_{n}" for n in CURVE_FIELDS)]):
            ids, trial, _, flat = explode_curves(batch.columns, trials, rows)
            yield pa.record_batch([pa.array(ids), pa.array(trial)] + flat, schema=INTERMEDIATE_SCHEMA)

    def archs(self) -> Iterator[pa.RecordBatch]:
        for start in range(0, len(self.meta_archs), OUT_BATCH_ROWS):
            names = self.meta_archs[start:start + OUT_BATCH_ROWS]
            yield pa.record_batch([pa.array(np.arange(start, start + len(names), dtype=np.int64)),
                                   pa.array(names, type=pa.string())], schema=ARCH_SCHEMA)

    def infos(self) -> Iterator[pa.RecordBatch]:
        ids = RowNumbers()
        for batch in self._part_batches(["arch_index", *INFO_FIELDS]):
            yield pa.record_batch([pa.array(ids.take(batch.num_rows))] + batch.columns, schema=INFO_SCHEMA)

    def spans(self) -> Iterator[pa.RecordBatch]:
        trials, rows = RowNumbers(), RowNumbers()
        for batch in self._part_batches([f"span_{n}" for n in SPAN_FIELDS]):
            ids, trial, _, flat = explode_curves(batch.columns, trials, rows)
            yield pa.record_batch([pa.array(ids), pa.array(trial)] + flat, schema=SPAN_SCHEMA)


def write_store(parts: Sequence[str | Path], db_path: str | Path | None = None,
                parquet_dir: str | Path | None = None, raw: str | Path | None = None,
                provenance: Mapping[str, str] | None = None) -> dict[str, int]:
    """Assemble the parts into nasbench201.db and/or one Parquet file per table; return counts.

    The parts carry all they need; `raw` is accepted for the registry's common signature."""
    assembly = Nb201Assembly(parts)
    tables = ((name, batch) for name, batches in assembly.tables().items() for batch in batches)
    expected = 9 * len(assembly.meta_archs) + sum(2 * part_rows(p) + leaf_values(p, "current_epoch")
                                                  + leaf_values(p, "span_from_epoch") for p in parts)
    counts = write_tables(MODELS + EXTRA_MODELS, tables, db_path, parquet_dir, expected_rows=expected, raw=raw,
                          provenance=provenance)
    return {**summary(assembly), **counts}


def summary(parts: Sequence[str | Path] | Nb201Assembly) -> dict[str, int]:
    """How many architectures the source lists and how many it has results for (for the manifest)."""
    assembly = parts if isinstance(parts, Nb201Assembly) else Nb201Assembly(parts)
    return {"meta_archs": len(assembly.meta_archs), "archs_with_results": assembly.archs_with_results}


def convert(raw: str | Path, db_path: str | Path | None = None, parquet_dir: str | Path | None = None,
            jobs: Iterable[int] = (0,), count: int = 1, work_dir: str | Path | None = None) -> dict[str, int]:
    """Whole conversion in one process (tests, the demo): parts in `work_dir`, then the store, whose
    Parquet files record their provenance as the workflow's do."""
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        parts = [Path(tmp) / f"{i}-of-{count}.parquet" for i in jobs]
        for i, part in zip(jobs, parts):
            convert_part(raw, part, i, count)
        origin = provenance("nasbench201", raw_digest(raw)["sha256"]) if parquet_dir else None
        return write_store(parts, db_path, parquet_dir, raw=raw, provenance=origin)
