"""NAS-Bench-201 conversion at full scale: a synthetic legacy .pth of the release's shape.

    .venv/bin/python benchmarks/nb201_bench.py [--scale 1.0] [--pth PATH] [--nats-archs 2000]

Writes (or reuses) a legacy torch .pth with round(15625 × scale) architectures, every one with
results (1-3 seeds at 200 epochs, the v1_1 12-epoch runs, fresh key strings per result, globally
increasing memo indices), without holding it in memory: the first 256 architectures come from the
fixture writer, the rest are copies of three writer-made templates (one per seed pattern) whose
memo indices are shifted and floats redrawn with numpy. Then, each in a fresh process as the
workflow runs them: the .pth -> part conversion, and the SQLite and Parquet assembly side by side.
Prints wall times and each job's peak RSS; as a baseline in the same run, the C unpickler's
whole-file pickle.load (only where it fits in memory: scale <= 0.1) against the streaming reader.
Also converts a NATS-tss archive of --nats-archs architectures in 2 jobs.
Targets (issue 4): the 5 GB .pth in <= 5 minutes on 2 cores within 4 GB; NATS within 1 GB.
"""
from __future__ import annotations

import argparse
import pickle
import pickletools
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.convert import convert_part, write_store
from nasbench_store.nasbench201.picklewriter import Protocol2Writer
from nasbench_store.nasbench201.pth import LegacyPth

FULL = 15625
FIRST_FROM_WRITER = 256


class _Template:
    """One architecture's value bytes with the offsets of everything that changes per copy."""

    def __init__(self, data: bytes, first_index: int, count: int, meta_index: int):
        self.data = np.frombuffer(data, dtype=np.uint8)
        self.first, self.count = first_index, count
        shift, arch_ref, floats, arch_ints = [], [], [], []
        for op, arg, pos in pickletools.genops(data + b"."):
            if op.name in ("LONG_BINPUT", "LONG_BINGET") and arg >= first_index:
                shift.append(pos + 1)
            elif op.name == "LONG_BINGET" and arg == meta_index:
                arch_ref.append(pos + 1)
            elif op.name == "BINFLOAT":
                floats.append(pos + 1)
            elif op.name == "BININT2" and arg == self._arch_index:
                arch_ints.append(pos + 1)
        self.shift = np.array(shift)
        self.arch_ref = np.array(arch_ref)
        self.floats = np.array(floats)
        self.arch_ints = np.array(arch_ints)

    _arch_index = -1

    def copy(self, next_index: int, arch_index: int, meta_index: int, rng: np.random.Generator) -> bytes:
        out = self.data.copy()
        _put_u32(out, self.shift, _get_u32(self.data, self.shift) + np.uint32(next_index - self.first))
        _put_u32(out, self.arch_ref, np.full(len(self.arch_ref), meta_index, dtype=np.uint32))
        values = rng.uniform(0.01, 99.0, len(self.floats)).astype(">f8").view(np.uint8).reshape(-1, 8)
        out[self.floats[:, None] + np.arange(8)] = values
        out[self.arch_ints[:, None] + np.arange(2)] = np.frombuffer(np.uint16(arch_index).astype("<u2").tobytes(),
                                                                    dtype=np.uint8)
        return out.tobytes()


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
                                                       meta_index[id(metas[i])])
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


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds of this process: on a shared machine, steadier than wall time."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def part_job(raw: str, part: str, index: int = 0, count: int = 1) -> tuple[dict, float, float, float]:
    started, cpu = time.perf_counter(), cpu_s()
    info = convert_part(raw, part, index, count)
    return info, time.perf_counter() - started, cpu_s() - cpu, peak_mb()


def store_job(parts: list[str], out: str) -> tuple[dict, float, float, float]:
    started, cpu = time.perf_counter(), cpu_s()
    out = Path(out)
    counts = write_store(parts, db_path=out) if out.suffix == ".db" else write_store(parts, parquet_dir=out)
    return counts, time.perf_counter() - started, cpu_s() - cpu, peak_mb()


def stream_only(raw: str) -> tuple[int, float, float, float]:
    started, cpu = time.perf_counter(), cpu_s()
    with LegacyPth(raw) as src:
        n = sum(1 for _ in src.archs())
    return n, time.perf_counter() - started, cpu_s() - cpu, peak_mb()


def whole_load(raw: str) -> tuple[float, float, float]:
    started, cpu = time.perf_counter(), cpu_s()
    with open(raw, "rb") as f:
        for _ in range(5):
            obj = pickle.load(f)
    del obj
    return time.perf_counter() - started, cpu_s() - cpu, peak_mb()


def fresh(fn, *args):
    with ProcessPoolExecutor(1) as ex:
        return ex.submit(fn, *args).result()


def convert_and_assemble(raw: Path, work: Path, jobs: int) -> None:
    parts = [str(work / f"part-{i}.parquet") for i in range(jobs)]
    started = time.perf_counter()
    with ProcessPoolExecutor(2) as ex:
        results = list(ex.map(part_job, [str(raw)] * jobs, parts, range(jobs), [jobs] * jobs))
    t_parts = time.perf_counter() - started
    for info, secs, cpu, mb in results:
        print(f"  part {info['index']}/{info['count']}: {info['archs']} archs, {info['trials']} trials "
              f"in {secs:.1f} s wall / {cpu:.1f} s CPU, peak RSS {mb:.0f} MB")
    started = time.perf_counter()
    with ProcessPoolExecutor(2) as ex:
        db = ex.submit(store_job, parts, str(work / "nasbench201.db"))
        pq_dir = work / "parquet"
        pq_dir.mkdir(exist_ok=True)
        parquet = ex.submit(store_job, parts, str(pq_dir))
        (counts, t_db, c_db, mb_db), (_, t_pq, c_pq, mb_pq) = db.result(), parquet.result()
    t_store = time.perf_counter() - started
    print(f"  SQLite {t_db:.1f} s wall / {c_db:.1f} s CPU (peak {mb_db:.0f} MB) | Parquet {t_pq:.1f} s wall / "
          f"{c_pq:.1f} s CPU (peak {mb_pq:.0f} MB), side by side")
    print(f"  rows: {counts}")
    print(f"  TOTAL wall {t_parts + t_store:.1f} s (parts {t_parts:.1f} s + store {t_store:.1f} s); "
          f"db {(work / 'nasbench201.db').stat().st_size / 1e9:.2f} GB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--pth", type=Path, help="reuse or create the synthetic .pth here")
    ap.add_argument("--nats-archs", type=int, default=2000)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="nb201-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    n = max(1, round(FULL * args.scale))
    raw = args.pth or work / f"synthetic-{n}.pth"
    if not raw.exists():
        started = time.perf_counter()
        fresh(write_big_pth, raw, n)
        print(f"wrote {raw}: {n} archs, {raw.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s")
    print(f"{raw}: {raw.stat().st_size / 1e9:.2f} GB")
    archs, t_stream, c_stream, mb_stream = fresh(stream_only, str(raw))
    print(f"streaming reader alone: {archs} archs in {t_stream:.1f} s wall / {c_stream:.1f} s CPU, "
          f"peak RSS {mb_stream:.0f} MB")
    if args.scale <= 0.1:
        t_whole, c_whole, mb_whole = fresh(whole_load, str(raw))
        print(f"baseline, whole-file C pickle.load: {t_whole:.1f} s wall / {c_whole:.1f} s CPU, peak RSS "
              f"{mb_whole:.0f} MB -> streaming/whole CPU {c_stream / c_whole:.2f}x, memory {mb_stream / mb_whole:.2f}x")
    print(".pth conversion (1 job: a .pth is one pickle stream):")
    (work / "pth").mkdir(exist_ok=True)
    convert_and_assemble(raw, work / "pth", 1)
    if args.nats_archs:
        nats = work / f"nats-{args.nats_archs}.tar"
        if not nats.exists():
            fresh(fx.write_nats_tss_archive, nats, args.nats_archs, 0, None, True)
        print(f"NATS archive of {args.nats_archs} archs ({nats.stat().st_size / 1e6:.0f} MB), 2 jobs:")
        (work / "nats").mkdir(exist_ok=True)
        convert_and_assemble(nats, work / "nats", 2)
    print(f"work dir: {work}")


if __name__ == "__main__":
    main()
