"""NNI's mapping of one NDS job record to a config, a trial and its per-epoch rows (db_gen.py).

Pure functions: a bad record raises `RecordError` saying which key is wrong; the converter adds
the file name, record index and byte offset. Values are checked where the record is known, so none
outside its range reaches a store: errors in [0, 100] percent, losses finite or NaN (NULL),
`params` and `flops` finite and > 0, `iter_time`, `base_lr` and `wd` finite and >= 0, the seed in
0..2**32-1, and no NaN or infinity inside `net` (the JSON columns could not hold it).

Format: docs/formats.md#nds-job-record.
"""
from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

from ..errors import shown
from .constants import BLOCK_FAMILIES, SweepLabels

# The record keys NNI's mapping reads; the reader can skip the rest (per-iteration logs, memory...).
USED_KEYS = frozenset({"net", "optim", "rng_seed", "params", "flops", "iter_time",
                       "train_ep_top1", "test_ep_top1", "train_ep_loss"})


_NUMBER_TYPES = frozenset({int, float})  # exact types: JSON true/false (bool) are not numbers
MAX_SEED = 2**32 - 1  # numpy's seed range; pycls seeds with small ints


class _Range(NamedTuple):
    """A finite number within [low, high]; `low` itself excluded when `low_open`."""
    low: float
    high: float
    low_open: bool
    rule: str  # how a message states the range


POSITIVE = _Range(0.0, math.inf, True, "not a finite number > 0")
NON_NEGATIVE = _Range(0.0, math.inf, False, "not a finite number >= 0")
ERROR_PERCENT = _Range(0.0, 100.0, False, "outside [0, 100] (percent)")
FINITE = _Range(-math.inf, math.inf, False, "not finite")


class RecordError(ValueError):
    """One record does not have the shape NNI's db_gen expects."""


class RecordValueError(RecordError):
    """One record has the shape but a value outside what NDS holds (out of range, infinite, NaN)."""


class Config(NamedTuple):
    """ndstrialconfig without `id`, in NNI's column order; JSON columns as canonical text."""
    model_family: str
    model_spec: str
    cell_spec: str
    dataset: str
    generator: str
    proposer: str
    base_lr: float
    weight_decay: float
    num_epochs: int


class Trial(NamedTuple):
    """ndstrialstats without `id`/`config_id`, in NNI's column order; None stands for NaN/NULL."""
    seed: int
    final_train_acc: float
    final_train_loss: float | None
    final_test_acc: float
    best_train_acc: float
    best_train_loss: float | None
    best_test_acc: float
    parameters: float
    flops: float
    iter_time: float


class Epochs(NamedTuple):
    """ndsintermediatestats columns for epochs 1..num_epochs."""
    train_loss: list  # float | None
    train_acc: list
    test_acc: list


def map_record(record: dict, labels: SweepLabels) -> tuple[Config, Trial, Epochs]:
    net = _get(record, "net", dict)
    optim = _get(record, "optim", dict)
    family, model_spec, cell_spec = _architecture(net)
    num_epochs = _get(optim, "max_ep", int, "optim.")
    if num_epochs < 1:
        raise RecordError(f"optim.max_ep is {num_epochs}; expected at least 1")
    config = Config(family, _spec_text(model_spec, "net"), _spec_text(cell_spec, "net.genotype"), labels.dataset,
                    labels.generator, labels.proposer, _number(optim, "base_lr", "optim.", NON_NEGATIVE),
                    _number(optim, "wd", "optim.", NON_NEGATIVE), num_epochs)
    train_err = _curve(record, "train_ep_top1", num_epochs, nan_ok=False, valid=ERROR_PERCENT)
    test_err = _curve(record, "test_ep_top1", num_epochs, nan_ok=False, valid=ERROR_PERCENT)
    loss = _curve(record, "train_ep_loss", num_epochs, nan_ok=True, valid=FINITE)
    finite_loss = [v for v in loss if not math.isnan(v)]
    seed = _get(record, "rng_seed", int)
    if not 0 <= seed <= MAX_SEED:  # Arrow's int64 would refuse it later, naming nothing
        raise RecordValueError(f"rng_seed {shown(seed)} is outside 0..{MAX_SEED}")
    trial = Trial(
        seed=seed,
        final_train_acc=100 - train_err[-1],
        final_train_loss=_null_nan(loss[-1]),
        final_test_acc=100 - test_err[-1],
        best_train_acc=100 - min(train_err),
        best_train_loss=min(finite_loss) if finite_loss else None,
        best_test_acc=100 - min(test_err),
        parameters=_number(record, "params", "", POSITIVE) / 1e6,
        flops=_number(record, "flops", "", POSITIVE) / 1e6,
        iter_time=_number(record, "iter_time", "", NON_NEGATIVE),
    )
    epochs = Epochs([_null_nan(v) for v in loss], [100 - v for v in train_err], [100 - v for v in test_err])
    return config, trial, epochs


def _architecture(net: dict) -> tuple[str, dict, dict]:
    if "genotype" in net:
        genotype = _get(net, "genotype", dict, "net.")
        spec = {
            "num_nodes_normal": len(_genotype_list(genotype, "normal")) // 2,
            "num_nodes_reduce": len(_genotype_list(genotype, "reduce")) // 2,
        }
        for key in ("depth", "width", "aux", "drop_prob"):
            if key not in net:
                raise RecordError(f"key 'net.{key}' is missing")
            spec[key] = net[key]
        cell: dict[str, Any] = {}
        for cell_type in ("normal", "reduce"):
            # The reduce cell's node count comes from its own genotype (NNI reuses the normal count).
            for i in range(spec[f"num_nodes_{cell_type}"]):
                for j, label in enumerate("xy"):
                    op, node_input = genotype[cell_type][2 * i + j]
                    cell[f"{cell_type}_{i}_op_{label}"] = op
                    cell[f"{cell_type}_{i}_input_{label}"] = node_input
            cell[f"{cell_type}_concat"] = _get(genotype, f"{cell_type}_concat", list, "net.genotype.")
        return "nas_cell", spec, cell
    block_type = _get(net, "block_type", str, "net.")
    for prefix, family in BLOCK_FAMILIES:
        if block_type.startswith(prefix):
            return family, {k: v for k, v in net.items() if v and k != "block_type"}, {}
    known = ", ".join(f"{p}*" for p, _ in BLOCK_FAMILIES)
    raise RecordError(f"unknown net.block_type {block_type!r} (known: {known}) and no net.genotype")


def _genotype_list(genotype: dict, cell_type: str) -> list:
    pairs = _get(genotype, cell_type, list, "net.genotype.")
    if len(pairs) % 2:
        raise RecordError(f"net.genotype.{cell_type} has {len(pairs)} entries; expected 2 per node")
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                and isinstance(pair[1], int) and not isinstance(pair[1], bool)):
            raise RecordError(f"net.genotype.{cell_type} entry {pair!r} is not [op, input]")
    return pairs


def _get(obj: dict, key: str, kind: type, prefix: str = ""):
    if key not in obj:
        raise RecordError(f"key '{prefix}{key}' is missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RecordError(f"key '{prefix}{key}' is {type(value).__name__}, expected {kind.__name__}")
    return value


def _number(obj: dict, key: str, prefix: str, valid: _Range) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"key '{prefix}{key}' is {shown(value)}, expected a number")
    if isinstance(value, float) and math.isnan(value):
        raise RecordValueError(f"key '{prefix}{key}' is NaN")
    if not _in_range(value, valid):
        raise RecordValueError(f"key '{prefix}{key}' {shown(value)} is {valid.rule}")
    return float(value)


def _in_range(value: int | float, valid: _Range) -> bool:
    """Finite (an int too large for a float is not) and within the range."""
    try:
        value = float(value)
    except OverflowError:
        return False
    above = value > valid.low if valid.low_open else value >= valid.low
    return math.isfinite(value) and above and value <= valid.high


def _curve(record: dict, key: str, num_epochs: int, nan_ok: bool, valid: _Range) -> list[float]:
    values = _get(record, key, list)
    if len(values) != num_epochs:
        raise RecordError(f"{key} has {len(values)} values but optim.max_ep is {num_epochs}")
    # Whole-list checks run in C (map, sum, min, max); the loop below only runs to name the bad value.
    if set(map(type, values)) <= _NUMBER_TYPES:
        try:
            floats = list(map(float, values))
        except OverflowError:  # an int beyond a float's range
            floats = None
        if floats is not None:
            numbers = [v for v in floats if v == v] if nan_ok else floats
            total = sum(numbers)
            if total - total == 0.0 and (valid is FINITE or not numbers
                                         or (min(numbers) >= valid.low and max(numbers) <= valid.high)):
                return floats  # a finite sum: no NaN (left), no infinity
    for index, value in enumerate(values):
        if type(value) not in _NUMBER_TYPES:
            raise RecordError(f"{key}[{index}] is {shown(value)}, expected a number")
        if isinstance(value, float) and math.isnan(value):
            if nan_ok:
                continue
            raise RecordValueError(f"{key}[{index}] is NaN; only losses may be NaN")
        if not _in_range(value, valid):
            raise RecordValueError(f"{key}[{index}] {shown(value)} is {valid.rule}")
    return list(map(float, values))  # each value is fine (a sum of huge finite values overflowed)


def _null_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def _spec_text(spec: dict, where: str) -> str:
    """`database.json_text` of a spec, refusing NaN and infinity (invalid JSON, which SQLite's JSON
    functions reject) and nesting too deep to encode."""
    try:
        return json.dumps(spec, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise RecordValueError(f"{_non_finite_path(spec, where)} is not a finite number; a spec holds no NaN or "
                          "infinity") from None
    except RecursionError:
        raise RecordError(f"{where} is nested too deeply") from None


def _non_finite_path(spec, where: str) -> str:
    """The key path of the first NaN or infinity in a JSON value (iteratively: no recursion limit)."""
    stack = [(where, spec)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return f"{path} ({value!r})"
        if isinstance(value, dict):
            stack.extend((f"{path}.{k}", v) for k, v in reversed(sorted(value.items())))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(value))))
    return where
