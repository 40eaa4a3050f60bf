"""NNI's mapping of one NDS job record to a config, a trial and its per-epoch rows (db_gen.py).

Pure functions: a bad record raises `RecordError` saying which key is wrong; the converter adds
the file name, record index and byte offset.

Format: docs/formats.md#nds-job-record.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..tablewriter import json_text
from .constants import BLOCK_FAMILIES, SweepLabels

# The record keys NNI's mapping reads; the reader can skip the rest (per-iteration logs, memory...).
USED_KEYS = frozenset({"net", "optim", "rng_seed", "params", "flops", "iter_time",
                       "train_ep_top1", "test_ep_top1", "train_ep_loss"})


_NUMBER_TYPES = frozenset({int, float})  # exact types: JSON true/false (bool) are not numbers


class RecordError(ValueError):
    """One record does not have the shape NNI's db_gen expects."""


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
    config = Config(family, json_text(model_spec), json_text(cell_spec), labels.dataset,
                    labels.generator, labels.proposer, _number(optim, "base_lr", "optim."),
                    _number(optim, "wd", "optim."), num_epochs)
    train_err = _curve(record, "train_ep_top1", num_epochs, nan_ok=False)
    test_err = _curve(record, "test_ep_top1", num_epochs, nan_ok=False)
    loss = _curve(record, "train_ep_loss", num_epochs, nan_ok=True)
    finite_loss = [v for v in loss if not math.isnan(v)]
    trial = Trial(
        seed=_get(record, "rng_seed", int),
        final_train_acc=100 - train_err[-1],
        final_train_loss=_null_nan(loss[-1]),
        final_test_acc=100 - test_err[-1],
        best_train_acc=100 - min(train_err),
        best_train_loss=min(finite_loss) if finite_loss else None,
        best_test_acc=100 - min(test_err),
        parameters=_number(record, "params") / 1e6,
        flops=_number(record, "flops") / 1e6,
        iter_time=_number(record, "iter_time"),
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


def _number(obj: dict, key: str, prefix: str = "") -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"key '{prefix}{key}' is {value!r}, expected a number")
    if math.isnan(value):
        raise RecordError(f"key '{prefix}{key}' is NaN")
    return float(value)


def _curve(record: dict, key: str, num_epochs: int, nan_ok: bool) -> list[float]:
    values = _get(record, key, list)
    if len(values) != num_epochs:
        raise RecordError(f"{key} has {len(values)} values but optim.max_ep is {num_epochs}")
    # Whole-list checks run in C (map); the loop below only runs to name the bad value.
    if not set(map(type, values)) <= _NUMBER_TYPES or (not nan_ok and any(map(math.isnan, values))):
        for index, value in enumerate(values):
            if type(value) not in _NUMBER_TYPES:
                raise RecordError(f"{key}[{index}] is {value!r}, expected a number")
            if math.isnan(value):
                raise RecordError(f"{key}[{index}] is NaN; only losses may be NaN")
    return list(map(float, values))


def _null_nan(value: float) -> float | None:
    return None if math.isnan(value) else value
