"""NAS-Bench-201 at full scale: generate a synthetic legacy .pth of the v1_1 release's shape, build it
with the real workflow, and print wall time, every job's wall, CPU and peak RSS, and the no-op rerun time.

    .venv/bin/python benchmarks/nb201_bench.py [--cores 2] [--scale 1.0] [--pth PATH] [--nats-archs 0]

The .pth (round(15625 x scale) architectures, every one with results: 1-3 seeds at 200 epochs, the
v1_1 12-epoch runs, fresh key strings per result, globally increasing memo indices; 4.04 GB at full
scale) is written once under benchmarks/data/ and reused, without holding it in memory: the first
256 architectures come from the fixture writer, the rest are copies of three writer-made templates
(one per seed pattern) whose memo indices are shifted and floats redrawn with numpy; as in v1_1, a
run's per-epoch train and eval times stay one value per run and split (`reset_pseudo_train_times`),
so the store's epoch spans have the release's shape (one to three per run). The build's
figure is given as a ratio against a baseline measured in the same run, in a fresh process: the
streaming .pth reader alone (`LegacyPth.archs()` over the whole file); where the file fits in
memory (scale <= 0.1) also the C unpickler's whole-file pickle.load. `--nats-archs N` also builds a
NATS-tss archive of N architectures (8 jobs). Targets (issue 14): the whole build <= 2x the
streaming reader, every job's peak RSS <= 2 GB.
"""
from __future__ import annotations

import argparse
import os
import pickle
import pickletools
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from bench_common import cpu_seconds, job_figures, print_bounds, print_dry_run, print_jobs, rss_mb, run_workflow

from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.picklewriter import Protocol2Writer
from nasbench_store.nasbench201.pth import LegacyPth

DATA = Path(__file__).parent / "data"
OUT = Path(__file__).parent / "out"

FULL = 15625
FIRST_FROM_WRITER = 256


class _Template:
    """One architecture's value bytes with the offsets of everything that changes per copy."""

    def __init__(self, data: bytes, first_index: int, count: int, meta_index: int, times: set[float]):
        self.data = np.frombuffer(data, dtype=np.uint8)
        self.first, self.count = first_index, count
        shift, arch_ref, floats, arch_ints, time_values = [], [], [], [], {}
        for op, arg, pos in pickletools.genops(data + b"."):
            if op.name in ("LONG_BINPUT", "LONG_BINGET") and arg >= first_index:
                shift.append(pos + 1)
            elif op.name == "LONG_BINGET" and arg == meta_index:
                arch_ref.append(pos + 1)
            elif op.name == "BINFLOAT" and arg in times:
                time_values.setdefault(arg, []).append(pos + 1)
            elif op.name == "BINFLOAT":
                floats.append(pos + 1)
            elif op.name == "BININT2" and arg == self._arch_index:
                arch_ints.append(pos + 1)
        self.shift = np.array(shift)
        self.arch_ref = np.array(arch_ref)
        self.floats = np.array(floats)
        self.arch_ints = np.array(arch_ints)
        # one group per run and split: the positions of one per-epoch time, scaled together per copy
        self.times = [(value, np.array(at)) for value, at in time_values.items()]

    _arch_index = -1

    def copy(self, next_index: int, arch_index: int, meta_index: int, rng: np.random.Generator) -> bytes:
        out = self.data.copy()
        _put_u32(out, self.shift, _get_u32(self.data, self.shift) + np.uint32(next_index - self.first))
        _put_u32(out, self.arch_ref, np.full(len(self.arch_ref), meta_index, dtype=np.uint32))
        values = rng.uniform(0.01, 99.0, len(self.floats)).astype(">f8").view(np.uint8).reshape(-1, 8)
        out[self.floats[:, None] + np.arange(8)] = values
        for value, at in self.times:
            scaled = np.full(len(at), value * rng.uniform(0.5, 1.5), dtype=">f8").view(np.uint8).reshape(-1, 8)
            out[at[:, None] + np.arange(8)] = scaled
        out[self.arch_ints[:, None] + np.arange(2)] = np.frombuffer(np.uint16(arch_index).astype("<u2").tobytes(),
                                                                    dtype=np.uint8)
        return out.tobytes()


def _time_values(info: dict) -> set[float]:
    """Every per-epoch train and eval time of an arch_info: constant per run and split, as in v1_1."""
    return {t for state in info.values() for run in state["all_results"].values()
            for t in (*run["train_times"].values(), *run["eval_times"].values())}


def _get_u32(a: np.ndarray, pos: np.ndarray) -> np.ndarray:
    b = a[pos[:, None] + np.arange(4)].astype(np.uint32)
    return b[:, 0] | b[:, 1] << 8 | b[:, 2] << 16 | b[:, 3] << 24


def _put_u32(a: np.ndarray, pos: np.ndarray, values: np.ndarray) -> None:
    a[pos[:, None] + np.arange(4)] = values.astype("<u4").view(np.uint8).reshape(-1, 4)


def write_big_pth(path: Path, num_archs: int, seed: int = 0) -> None:
    """A legacy .pth of `num_archs` architectures, all evaluated, written streaming."""
    metas = fx.arch_strings(num_archs, seed)
    with open(path, "wb") as f:
        w = Protocol2Writer(f, flush_bytes=1 << 30)
        w.write(fx.LEGACY_HEADER + b"\x80\x02}")
        w._memoize(object())
        w.write(b"(")
        w.save("meta_archs")
        w.save(metas)
        meta_index = {id(s): w.memo[id(s)][0] for s in metas}
        w.save("total_archs")
        w.save(num_archs)
        w.save("arch2infos")
        w.write(b"}")
        w._memoize(object())
        w.flush()
        templates: dict[tuple, _Template] = {}
        rng = np.random.default_rng(seed)
        for start in range(0, num_archs, 1000):
            batch = range(start, min(num_archs, start + 1000))
            w.write(b"(" if len(batch) > 1 else b"")
            for i in batch:
                info = fx.arch_info(i, metas[i], seed)
                pattern = tuple(sorted({s for _, s in info["full"]["all_results"]}))
                key = b"K" + bytes((i,)) if i < 256 else b"M" + i.to_bytes(2, "little")
                if i < FIRST_FROM_WRITER or (pattern not in templates and i >= 256):
                    w.write(key)
                    w.flush()
                    first = w.next_index
                    w.begin_scope()
                    w.save(info)
                    w.end_scope(keep=fx.SHARED_STRINGS)
                    if i >= 256 and pattern not in templates:
                        _Template._arch_index = i
                        templates[pattern] = _Template(bytes(w._buf), first, w.next_index - first,
                                                       meta_index[id(metas[i])], _time_values(info))
                    w.flush()
                    continue
                t = templates[pattern]
                w.write(key + t.copy(w.next_index, i, meta_index[id(metas[i])], rng))
                w.next_index += t.count
                if len(w._buf) > 1 << 24:
                    w.flush()
            w.write(b"u" if len(batch) > 1 else b"s")
        w.save("evaluated_indexes")
        w.save(list(range(num_archs)))
        w.write(b"u." + fx.LEGACY_TAIL)
        w.flush()


def stream_only(raw: str) -> tuple[int, float, float, float]:
    """The baseline: the streaming reader over every architecture of the file, nothing else."""
    started, cpu = time.perf_counter(), cpu_seconds()
    with LegacyPth(raw) as src:
        n = sum(1 for _ in src.archs())
    return n, time.perf_counter() - started, cpu_seconds() - cpu, rss_mb("VmHWM")


def whole_load(raw: str) -> tuple[float, float, float]:
    """NNI's and the official API's way: the C unpickler over the whole file (torch's 5 pickles)."""
    started, cpu = time.perf_counter(), cpu_seconds()
    with open(raw, "rb") as f:
        for _ in range(5):
            obj = pickle.load(f)
    del obj
    return time.perf_counter() - started, cpu_seconds() - cpu, rss_mb("VmHWM")


def fresh(fn, *args):
    with ProcessPoolExecutor(1) as ex:
        return ex.submit(fn, *args).result()


def build(name: str, raw: Path, cores: int, jobs: int | None = None) -> tuple[float, list]:
    """The real workflow on `raw` in benchmarks/out/<name>; its wall seconds and job figures."""
    work = OUT / name
    shutil.rmtree(work, ignore_errors=True)
    config = {"store_dir": str(work / "store"), "work_dir": str(work / "work"), "benchmarks": ["nasbench201"],
              "sources": {"nasbench201": {"path": str(raw)}}}
    if jobs:
        config["nasbench201"] = {"jobs": jobs}
    load = os.getloadavg()[0]
    wall = run_workflow(work / "wd", config, cores=cores)
    print(f"build of {raw.name}: {wall:.1f} s wall on {cores} cores; load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")
    rows = job_figures(work / "work" / "logs")
    print_jobs(rows)
    print(f"  every job's peak RSS <= 2 GB: {'yes' if max(r[2] for r in rows) <= 2048 else 'NO'}")
    db = work / "store" / "nasbench201.db"
    print(f"  nasbench201.db {db.stat().st_size / 1e9:.2f} GB")
    print_dry_run(work / "wd", config, cores=cores)
    return wall, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--pth", type=Path, help="reuse or create the synthetic .pth here")
    ap.add_argument("--nats-archs", type=int, default=0, help="also build a NATS-tss archive of this many archs")
    args = ap.parse_args()
    n = max(1, round(FULL * args.scale))
    # "pseudo-times": the name of the release-shaped file; an older nb201-<n>-archs.pth left under data/
    # redrew every epoch's time (a span per epoch) and is not reused
    raw = args.pth or DATA / f"nb201-{n}-archs-pseudo-times.pth"
    if not raw.exists():
        raw.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        tmp = raw.with_suffix(".partial")
        fresh(write_big_pth, tmp, n)
        tmp.replace(raw)
        print(f"generated {raw}: {n} archs in {time.perf_counter() - started:.0f} s")
    print(f"{raw}: {raw.stat().st_size / 1e9:.2f} GB, {n} architectures")
    archs, t_stream, c_stream, mb_stream = fresh(stream_only, str(raw))
    assert archs == n, archs
    print(f"baseline: the streaming reader alone: {archs} archs in {t_stream:.1f} s wall, {c_stream:.1f} s CPU, "
          f"peak RSS {mb_stream:.0f} MB")
    if args.scale <= 0.1:
        t_whole, c_whole, mb_whole = fresh(whole_load, str(raw))
        print(f"  (whole-file C pickle.load: {t_whole:.1f} s wall / {c_whole:.1f} s CPU, peak RSS {mb_whole:.0f} MB; "
              f"streaming/whole CPU {c_stream / c_whole:.2f}x, memory {mb_stream / mb_whole:.2f}x)")
    tag = "nb201" if args.scale == 1.0 else f"nb201-x{args.scale:g}"
    wall, rows = build(tag, raw, args.cores)
    print(f"build / streaming reader: {wall / t_stream:.2f}x (target <= 2x)")
    print_bounds(rows, args.cores, wall, t_stream, "nb201_part")
    if args.nats_archs:
        nats = DATA / f"nats-tss-{args.nats_archs}-archs.tar"
        if not nats.exists():
            fresh(fx.write_nats_tss_archive, nats, args.nats_archs, 0, None, True)
        print(f"NATS-tss archive of {args.nats_archs} archs ({nats.stat().st_size / 1e6:.0f} MB):")
        build(f"{tag}-nats", nats, args.cores, jobs=8)


if __name__ == "__main__":
    main()
