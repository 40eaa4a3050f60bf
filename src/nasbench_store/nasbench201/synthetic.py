"""Generator of small, faithful NAS-Bench-201 raw files: legacy and zip `.pth`, NATS-tss archives.

Layout follows the release (docs/formats.md#nas-bench-201): the five-pickle legacy torch stream with the exact
137-byte header, the benchmark dict in key order meta_archs/total_archs/arch2infos/
evaluated_indexes, ArchState and ResultsState dicts in the release's key order and types
(np.float64 params and latency, OrderedDict train_times, '0777'-style seed strings, None
train_acc5es in 200-epoch runs), the v1_1 coverage pattern of eval keys
(docs/formats.md#nb201-eval-keys), 1-3 seeds, fresh key strings per result, NaN losses here and
there, and numpy's scalar constructor written as `numpy.core.multiarray.scalar`. `evaluated_type`
stores evaluated_indexes as a list (the v1_1 file) or as a set / frozenset (what one of the
official generation scripts saves; a protocol-2 pickle names `__builtin__.set`). Values are
synthetic and deterministic in (seed, arch index).
The official nas_201_api loads these files; tests use it as an oracle.
"""
from __future__ import annotations

import bz2
import collections
import io
import itertools
import math
import pickle
import random
import tarfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_dir, atomic_path
from .constants import RAW_DATASETS, RAW_OPS
from .picklewriter import Protocol2Writer

# Pickles 1-3 (magic, protocol version 1001, sys_info) and 5 (storage keys) of torch's legacy save.
LEGACY_HEADER = bytes.fromhex(
    "80028a0a6cfc9c46f9206aa85019" "2e" "80024de9032e"
    "80027d710028581000000070726f746f636f6c5f76657273696f6e71014de903580d0000006c6974746c655f"
    "656e6469616e710288580a000000747970655f73697a657371037d710428580500000073686f727471054b02"
    "5803000000696e7471064b0458040000006c6f6e6771074b0875752e")
LEGACY_TAIL = b"\x80\x02]q\x00."
NATS_TSS_NAME = "NATS-tss-v1_0-3ffb9-simple"

REFERENCE_ARCHS = (
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
)
X_VALID, X_TEST, ORI_TEST = "x-valid", "x-test", "ori-test"
CLASS_NUM = dict(zip(RAW_DATASETS, (10, 10, 100, 120)))
FULL_SEED_PATTERNS = ((777, 888, 999), (777, 888), (888,))
FULL_SEED_WEIGHTS = (7961, 5439, 2225)
SEED_ORDER = (999, 777, 888, 111)
LESS_SEEDS = {"cifar10-valid": (111, 777)}
# Strings every record shares (dict keys, dataset and eval-set names): the writer keeps them memoized.
SHARED_STRINGS = (*RAW_DATASETS, X_VALID, X_TEST, ORI_TEST, "meta_archs", "total_archs", "arch2infos",
                  "evaluated_indexes", "full", "less", "arch_index", "arch_str", "all_results",
                  "dataset_seed", "clear_net_done", "name", "train_acc1es", "train_acc5es", "train_losses",
                  "train_times", "arch_config", "channel", "num_cells", "class_num", "params", "flop",
                  "seed", "epochs", "latency", "eval_names", "eval_acc1es", "eval_times", "eval_losses",
                  "net_state_dict")


def arch_strings(num_archs: int, seed: int = 0) -> list[str]:
    """`num_archs` distinct arch strings: the release's first three, then a seeded shuffle of the rest."""
    if not 1 <= num_archs <= 5 ** 6:
        raise ValueError(f"num_archs must be in 1..15625, not {num_archs}")
    others = [_arch(ops) for ops in itertools.product(RAW_OPS, repeat=6)]
    others = [a for a in others if a not in REFERENCE_ARCHS]
    random.Random(seed).shuffle(others)
    return (list(REFERENCE_ARCHS) + others)[:num_archs]


def _arch(ops: Sequence[str]) -> str:
    return f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"


def _eval_layout(dataset: str, epochs: int) -> tuple[list[str], list[tuple[str, int]], list[tuple[str, int]]]:
    """eval_names, eval_acc1es/eval_losses keys and eval_times keys of one run (docs/formats.md#nb201-eval-keys)."""
    every = range(epochs)
    last = epochs - 1
    if epochs != 200:
        names = {"cifar10-valid": [X_VALID, ORI_TEST], "cifar10": [ORI_TEST]}.get(
            dataset, [X_VALID, X_TEST, ORI_TEST])
        keys = [(n, e) for n in names for e in every]
        return names, keys, keys
    if dataset == "cifar10-valid":
        return ([X_VALID, ORI_TEST], [(X_VALID, e) for e in every] + [(ORI_TEST, last)],
                [(n, e) for n in (X_VALID, ORI_TEST) for e in every])
    if dataset == "cifar10":
        keys = [(ORI_TEST, e) for e in every]
        return [ORI_TEST], keys, keys
    return ([ORI_TEST, X_VALID, X_TEST], [(ORI_TEST, e) for e in every] + [(X_VALID, last), (X_TEST, last)],
            [(n, e) for n in (X_VALID, X_TEST, ORI_TEST) for e in every])


def results_state(arch_str: str, dataset: str, epochs: int, seed: int, rng: random.Random,
                  nan_losses: bool = False, gap_epoch: int | None = None) -> dict:
    """One ResultsCount.__dict__ (docs/formats.md#nb201-benchmark-dict) with synthetic, plausible values."""
    final = rng.uniform(40, 95)
    curve = [final * (1 - math.exp(-(e + 1) / (epochs / 5))) + rng.uniform(-0.5, 0.5) for e in range(epochs)]
    epoch_time = rng.uniform(5, 20)
    train_acc1es = {e: round(curve[e] + 3, 2) for e in range(epochs)}
    train_acc5es = None if epochs == 200 else {e: round(min(100.0, curve[e] + 20), 2) for e in range(epochs)}
    train_losses = {e: 3.0 * math.exp(-e / (epochs / 4)) + rng.random() * 0.1 for e in range(epochs)}
    train_times = collections.OrderedDict((e, epoch_time) for e in range(epochs))
    names, acc_keys, time_keys = _eval_layout(dataset, epochs)
    keys = {k: f"{k[0]}@{k[1]}" for k in time_keys}  # fresh strings, shared by the three dicts
    eval_acc1es = {keys[k]: curve[k[1]] + rng.uniform(-1, 1) for k in acc_keys}
    eval_times = {keys[k]: epoch_time / (10 if k[0] == X_VALID else 5) for k in time_keys}
    eval_losses = {keys[k]: 2.5 * math.exp(-k[1] / (epochs / 4)) + rng.random() * 0.1 for k in acc_keys}
    if nan_losses:
        train_losses[epochs - 1] = float("nan")
        eval_losses[keys[acc_keys[-1]]] = float("nan")
    if gap_epoch is not None:   # an epoch with no metric at all (times stay, as the API sums them)
        for d in (train_acc1es, train_acc5es or {}, train_losses):
            d.pop(gap_epoch, None)
        for d in (eval_acc1es, eval_losses):
            for name in names:
                d.pop(f"{name}@{gap_epoch}", None)
    return {
        "name": dataset,
        "train_acc1es": train_acc1es,
        "train_acc5es": train_acc5es,
        "train_losses": train_losses,
        "train_times": train_times,
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch_str, "class_num": CLASS_NUM[dataset]},
        "params": np.float64(round(rng.uniform(0.07, 1.5), 6)),
        "flop": round(rng.uniform(7, 220), 5),
        "seed": f"{seed:04d}",
        "epochs": epochs,
        "latency": [np.float64(rng.uniform(0.005, 0.03))],
        "eval_names": names,
        "eval_acc1es": eval_acc1es,
        "eval_times": eval_times,
        "eval_losses": eval_losses,
        "net_state_dict": None,
    }


def arch_state(index: int, arch_str: str, epochs: int, seed: int = 0) -> dict:
    """ArchResults.state_dict() of one architecture for the 12- or 200-epoch runs
    (docs/formats.md#nb201-benchmark-dict)."""
    rng = random.Random(f"{seed}/{index}/{epochs}")
    if epochs == 200:
        full = (777, 888, 999) if index == 0 else rng.choices(FULL_SEED_PATTERNS, FULL_SEED_WEIGHTS)[0]
        seeds = {d: full for d in RAW_DATASETS}
    else:
        seeds = {d: LESS_SEEDS.get(d, (111,)) for d in RAW_DATASETS}
    all_results = {}
    for s in SEED_ORDER:
        for d in RAW_DATASETS:
            if s in seeds[d]:
                nan = rng.random() < 0.05 or (index == 1 and epochs == 200 and d == "cifar100")
                gap = 3 if (index == 2 and epochs == 12 and d == "cifar10") else None
                all_results[(d, s)] = results_state(arch_str, d, epochs, s, rng, nan, gap)
    return {
        "arch_index": index,
        "arch_str": arch_str,
        "all_results": all_results,
        "dataset_seed": {d: sorted(seeds[d]) for d in RAW_DATASETS},
        "clear_net_done": True,
    }


def arch_info(index: int, arch_str: str, seed: int = 0) -> dict:
    """arch2infos[index] of the .pth: {'full': 200-epoch ArchState, 'less': 12-epoch ArchState}."""
    return {"full": arch_state(index, arch_str, 200, seed), "less": arch_state(index, arch_str, 12, seed)}


EVALUATED_TYPES = (list, set, frozenset)


def _evaluated(num_archs: int, arch_indexes: Iterable[int] | None) -> list[int]:
    chosen = sorted(set(range(num_archs) if arch_indexes is None else arch_indexes))
    if any(not 0 <= i < num_archs for i in chosen):
        raise ValueError(f"arch_indexes must lie in 0..{num_archs - 1}")
    return chosen


def _evaluated_as(chosen: list[int], evaluated_type: type):
    """evaluated_indexes as the file stores it: a sorted list, or a set / frozenset of the same indexes."""
    if evaluated_type not in EVALUATED_TYPES:
        raise ValueError(f"evaluated_type must be list, set or frozenset, not {evaluated_type!r}")
    return evaluated_type(chosen)


def benchmark_dict(num_archs: int = 3, seed: int = 0, arch_indexes: Iterable[int] | None = None,
                   evaluated_type: type = list) -> dict:
    """The whole benchmark object in memory (small sizes only; the writers stream)."""
    metas = arch_strings(num_archs, seed)
    chosen = _evaluated(num_archs, arch_indexes)
    return {"meta_archs": metas, "total_archs": num_archs,
            "arch2infos": {i: arch_info(i, metas[i], seed) for i in chosen},
            "evaluated_indexes": _evaluated_as(chosen, evaluated_type)}


def _write_legacy_stream(out, metas: list[str], chosen: list[int], seed: int, evaluated_type: type = list) -> None:
    w = Protocol2Writer(out)
    w.write(LEGACY_HEADER + b"\x80\x02")
    top, arch2infos = object(), object()   # identity tokens for the two streamed dicts
    w.write(b"}")
    w._memoize(top)
    w.write(b"(")
    for key, value in (("meta_archs", metas), ("total_archs", len(metas))):
        w.save(key)
        w.save(value)
    w.save("arch2infos")
    w.write(b"}")
    w._memoize(arch2infos)

    def items() -> Iterator[tuple[int, dict]]:
        for i in chosen:
            w.begin_scope()
            yield i, arch_info(i, metas[i], seed)
            w.end_scope(keep=SHARED_STRINGS)

    w.save_items(items(), len(chosen), exact=True)
    w.save("evaluated_indexes")
    w.save(_evaluated_as(chosen, evaluated_type))
    w.write(b"u.")
    w.write(LEGACY_TAIL)
    w.flush()


def write_nb201_pth(path: str | Path, num_archs: int = 3, seed: int = 0,
                    arch_indexes: Iterable[int] | None = None, evaluated_type: type = list) -> Path:
    """A legacy (pre-1.6 torch) NAS-Bench-201 `.pth`, written streaming (memory of one arch).

    num_archs: length of meta_archs (the release has 15625). arch_indexes: which of them have
    results in arch2infos (default all). evaluated_type: list (the release), set or frozenset.
    """
    path = Path(path)
    metas = arch_strings(num_archs, seed)
    chosen = _evaluated(num_archs, arch_indexes)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        _write_legacy_stream(f, metas, chosen, seed, evaluated_type)
    return path


def write_nb201_pth_zip(path: str | Path, num_archs: int = 3, seed: int = 0,
                        arch_indexes: Iterable[int] | None = None, evaluated_type: type = list) -> Path:
    """The same benchmark in torch's zip format (torch.save's default since 1.6): archive/data.pkl."""
    path = Path(path)
    data = io.BytesIO()
    metas = arch_strings(num_archs, seed)
    _write_legacy_stream(data, metas, _evaluated(num_archs, arch_indexes), seed, evaluated_type)
    body = data.getvalue()[len(LEGACY_HEADER):-len(LEGACY_TAIL)]
    name = path.stem
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{name}/data.pkl", body)
        zf.writestr(f"{name}/byteorder", "little")
        zf.writestr(f"{name}/version", "3\n")
        zf.writestr(f"{name}/.data/serialization_id", "0" * 40)
    return path


class _NatsPickler(pickle._Pickler):
    """Protocol-4 pickler that names numpy's scalar constructor as the 2021 release does."""

    def save_global(self, obj, name=None):
        if obj is np.float64(0).__reduce__()[0]:
            self.save("numpy.core.multiarray")
            self.save("scalar")
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def _pbz2(obj) -> bytes:
    buf = io.BytesIO()
    _NatsPickler(buf, protocol=4).dump(obj)
    return bz2.compress(buf.getvalue())


def nats_files(num_archs: int = 3, seed: int = 0, arch_indexes: Iterable[int] | None = None,
               evaluated_type: type | None = None) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) of a NATS-tss "simple" archive: meta.pickle.pbz2 and {index:06d}.pickle.pbz2.

    The meta's evaluated_indexes is an empty set, as in the release, unless `evaluated_type` (list,
    set or frozenset) asks for the evaluated indexes in that type.
    """
    metas = arch_strings(num_archs, seed)
    chosen = _evaluated(num_archs, arch_indexes)
    evaluated = set() if evaluated_type is None else _evaluated_as(chosen, evaluated_type)
    yield "meta.pickle.pbz2", _pbz2({"meta_archs": metas, "total_archs": num_archs, "arch2infos": None,
                                     "evaluated_indexes": evaluated})
    for i in chosen:
        per_arch = collections.OrderedDict([("12", arch_state(i, metas[i], 12, seed)),
                                            ("200", arch_state(i, metas[i], 200, seed))])
        yield f"{i:06d}.pickle.pbz2", _pbz2(per_arch)


def write_nats_tss_archive(path: str | Path, num_archs: int = 3, seed: int = 0,
                           arch_indexes: Iterable[int] | None = None, as_tar: bool | None = None,
                           evaluated_type: type | None = None) -> Path:
    """A NATS-tss-v1_0-3ffb9-simple archive: a .tar (if `path` ends in .tar) or a directory."""
    path = Path(path)
    as_tar = path.suffix == ".tar" if as_tar is None else as_tar
    files = nats_files(num_archs, seed, arch_indexes, evaluated_type)
    if as_tar:
        with atomic_path(path) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tf:
            top = tarfile.TarInfo(NATS_TSS_NAME)
            top.type, top.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(top)
            for name, data in files:
                info = tarfile.TarInfo(f"{NATS_TSS_NAME}/{name}")
                info.size, info.mode = len(data), 0o644
                tf.addfile(info, io.BytesIO(data))
    else:
        with atomic_dir(path) as tmp:
            for name, data in files:
                (tmp / name).write_bytes(data)
    return path
