"""Tiny (or benchmark-sized) synthetic `data.zip` files with the real archive's shape.

Follows docs/formats.md#nds-sweep-files: `nds_data/<Sweep>.json`, Python `json.dump` default formatting, values
rounded to 3 decimals, epoch lists of length `optim.max_ep`, `min_test_top1 = min(test_ep_top1)`.
Covers both net layouts, the `{"top", "mid"}` reruns shape, `_in`, `fix-w-d` and `lr-wd` sweeps,
`rng{n}` sweeps that repeat one set of architectures with other seeds, and NaN losses.
"""
from __future__ import annotations

import json
import random
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .constants import ARCHIVE_DIR, SWEEP_FILES

# Op vocabulary and nodes per cell of each NAS space (docs/formats.md#nds-net-layouts).
CELL_SPACES = {
    "Amoeba": (5, ["avg_pool_3x3", "conv_7x1_1x7", "dil_sep_conv_3x3", "max_pool_3x3", "sep_conv_3x3",
                   "sep_conv_5x5", "sep_conv_7x7", "skip_connect"]),
    "DARTS": (4, ["avg_pool_3x3", "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3", "none", "sep_conv_3x3",
                  "sep_conv_5x5", "skip_connect"]),
    "ENAS": (5, ["avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5", "skip_connect"]),
    "NASNet": (5, ["avg_pool_3x3", "conv_1x1", "conv_3x1_1x3", "conv_3x3", "conv_7x1_1x7", "dil_conv_3x3",
                   "max_pool_3x3", "max_pool_5x5", "max_pool_7x7", "sep_conv_3x3", "sep_conv_5x5",
                   "sep_conv_7x7", "skip_connect"]),
    "PNAS": (5, ["avg_pool_3x3", "conv_7x1_1x7", "dil_conv_3x3", "max_pool_3x3", "sep_conv_3x3",
                 "sep_conv_5x5", "sep_conv_7x7", "skip_connect"]),
}
ANYNET_BLOCKS = {
    "ResNeXt-A": "res_bottleneck_block", "ResNeXt-B": "res_bottleneck_block",
    "ResNet-B": "res_bottleneck_block", "ResNet": "res_basic_block", "Vanilla": "double_plain_block",
}
RERUNS_PER_ARCH = 3


def write_nds_zip(path: str | Path, records_per_file: int | Mapping[str, int] = 4, max_ep: int = 3, seed: int = 0,
                  sweeps: Iterable[str] = SWEEP_FILES, iters_per_epoch: int = 1, nan_every: int = 3,
                  compresslevel: int | None = None) -> Path:
    """Write a synthetic data.zip with `records_per_file` records (or {sweep: count}) in each named sweep.

    Every `nan_every`-th record has NaN losses (every 2nd of those diverges to all-NaN).
    """
    path = Path(path)
    counts = records_per_file if isinstance(records_per_file, Mapping) else dict.fromkeys(sweeps, records_per_file)
    files = {sweep: sweep_data(sweep, counts[sweep], max_ep, seed, iters_per_epoch, nan_every) for sweep in sweeps}
    return write_zip(path, files, compresslevel)


def write_zip(path: str | Path, files: dict, compresslevel: int | None = None) -> Path:
    """Zip `{sweep name: list of records | {"top": [...], "mid": [...]}}` under nds_data/."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        zf.writestr(zipfile.ZipInfo(f"{ARCHIVE_DIR}/"), b"")
        for sweep, data in files.items():
            with zf.open(f"{ARCHIVE_DIR}/{sweep}", "w", force_zip64=True) as member:
                for chunk in _dump_chunks(data):
                    member.write(chunk.encode("ascii"))
    return path


def _dump_chunks(data) -> Iterator[str]:
    """json.dump's default text for `data`, produced record by record (records may be lazy)."""
    if isinstance(data, dict):
        yield "{"
        for i, (key, records) in enumerate(data.items()):
            yield f'{", " if i else ""}{json.dumps(key)}: '
            yield from _dump_chunks(records)
        yield "}"
        return
    yield "["
    for i, record in enumerate(data):
        yield (", " if i else "") + json.dumps(record)
    yield "]"


def sweep_data(sweep: str, n: int, max_ep: int, seed: int, iters_per_epoch: int = 1, nan_every: int = 3):
    """The records of one synthetic sweep file (a lazy list, or the reruns dict of lists)."""
    stem = sweep[:-len(".json")]
    family = stem.split("_")[0]
    # rng{n} sweeps share their architectures: seed the architecture draw by family only.
    arch_rng = random.Random(f"{seed}:{family}:rng" if "_rng" in stem else f"{seed}:{stem}")
    curve_rng = random.Random(f"{seed}:{stem}:curves")
    rng_seed = int(stem[-1]) if "_rng" in stem else 1
    # Per-iteration logs are carried but never converted: a small pool keeps big files quick to make.
    its = max_ep * iters_per_epoch
    it_pool = [(_decay(curve_rng, 2.3, 0.1, its), _decay(curve_rng, 90.0, 5.0, its)) for _ in range(4)]
    if stem.endswith("_reruns"):
        archs = [_net(family, arch_rng, stem) for _ in range(max(1, -(-n // RERUNS_PER_ARCH)))]
        jobs = [(archs[i // RERUNS_PER_ARCH], i % RERUNS_PER_ARCH + 1) for i in range(n)]
        half = (len(jobs) + 1) // 2
        def section(part):
            return (_record(net, s, stem, i, max_ep, curve_rng, it_pool, nan_every)
                    for i, (net, s) in part)
        return {"top": _Lazy(section(list(enumerate(jobs))[:half]), half),
                "mid": _Lazy(section(list(enumerate(jobs))[half:]), len(jobs) - half)}
    records = (_record(_net(family, arch_rng, stem), rng_seed, stem, i, max_ep, curve_rng, it_pool, nan_every)
               for i in range(n))
    return _Lazy(records, n)


class _Lazy:
    """An iterable of known length, so benchmark-sized files never sit in memory."""

    def __init__(self, items: Iterator, length: int):
        self._items, self._length = items, length

    def __iter__(self):
        return self._items

    def __len__(self):
        return self._length


def _net(family: str, rng: random.Random, stem: str) -> dict:
    if family in CELL_SPACES:
        nodes, ops = CELL_SPACES[family]
        genotype = {}
        for cell in ("normal", "reduce"):
            pairs = [[rng.choice(ops), rng.randrange(i + 2)] for i in range(nodes) for _ in "xy"]
            used = {inp for _, inp in pairs}
            genotype[cell] = pairs
            genotype[f"{cell}_concat"] = [i + 2 for i in range(nodes) if i + 2 not in used]
        fixed = "fix-w-d" in stem
        return {"genotype": genotype, "width": 32 if fixed else rng.choice([16, 24, 32]),
                "depth": 20 if fixed else rng.choice([8, 12, 16, 20]), "aux": rng.random() < 0.5,
                "drop_prob": 0.0 if rng.random() < 0.5 else 0.2}
    block = ANYNET_BLOCKS[family]
    net = {"block_type": block, "ds": [1] + [rng.randint(1, 16) for _ in range(3)],
           "ws": [16] + [rng.choice([16, 24, 32, 48, 64, 128, 256]) for _ in range(3)], "ss": [1, 1, 2, 2]}
    if block == "res_bottleneck_block":
        net["bot_muls"] = [0.0] + [rng.choice([0.25, 0.5, 1.0]) for _ in range(3)]
        net["num_gs"] = [1] + [rng.choice([1, 2, 4]) for _ in range(3)]
    elif block == "res_basic_block":
        net["bot_muls"], net["num_gs"] = [], []  # falsy: dropped from model_spec, as NNI does
    return net


def _record(net: dict, rng_seed: int, stem: str, index: int, max_ep: int, rng: random.Random,
            it_pool: list, nan_every: int) -> dict:
    lr_wd = "lr-wd" in stem
    final_err = rng.uniform(4.0, 30.0) if "_in" not in stem else rng.uniform(25.0, 60.0)
    train_err = _decay(rng, 90.0, final_err * 0.5, max_ep)
    test_err = _decay(rng, 90.0, final_err, max_ep)
    loss = _decay(rng, 2.3, 0.05 + final_err / 100, max_ep)
    if nan_every and index % nan_every == nan_every - 1:
        if (index // nan_every) % 2:
            loss = [float("nan")] * max_ep
        else:
            loss[-1] = float("nan")
            loss[max_ep // 2] = float("nan")
    it_loss, it_top1 = it_pool[index % len(it_pool)]
    size = random.Random(json.dumps(net, sort_keys=True))  # reruns of one net share its size
    return {
        "job_id": f"{stem}-{index}-{rng_seed}",
        "rng_seed": rng_seed,
        "params": size.randint(50_000, 5_000_000),
        "flops": size.randint(10_000_000, 1_000_000_000),
        "net": net,
        "optim": {"base_lr": round(10 ** rng.uniform(-2, 0), 3) if lr_wd else 0.1,
                  "wd": round(10 ** rng.uniform(-5, -3), 6) if lr_wd else 0.0005, "max_ep": max_ep},
        "exp_mem": round(rng.uniform(0.5, 8.0), 3),
        "act_mem": round(rng.uniform(50.0, 900.0), 3),
        "prec_time": {"train_fw_bw": round(rng.uniform(0.01, 0.3), 3), "test_fw": round(rng.uniform(0.005, 0.1), 3)},
        "iter_time": round(rng.uniform(0.02, 0.4), 3),
        "min_test_top1": min(test_err),
        "train_ep_top1": train_err,
        "test_ep_top1": test_err,
        "train_ep_loss": loss,
        "train_it_loss": it_loss,
        "train_it_top1": it_top1,
    }


def _decay(rng: random.Random, start: float, end: float, n: int) -> list[float]:
    """A noisy curve from `start` to `end`, rounded to 3 decimals like the real files."""
    if n == 1:
        return [round(end, 3)]
    return [round(max(0.0, end + (start - end) * (1 - i / (n - 1)) ** 2 + rng.gauss(0, 0.3)), 3) for i in range(n)]
