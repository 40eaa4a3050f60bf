"""NDS conversion at full scale: a synthetic data.zip of the real shape, converted as the workflow does.

    .venv/bin/python benchmarks/nds_bench.py [--iters-per-epoch 10] [--workers 2] [--archive PATH]

Makes (or reuses) ~153,000 records of 100 epochs over the 34 sweep files (two 25k files, twenty
5k files, ten ImageNet files of 100, two reruns files of 1,000), then runs one fresh process per
sweep file on `--workers` processes (as Snakemake does), then the SQLite and the Parquet assembly
side by side. Prints wall times, every job's peak RSS, throughput, and the ratio against NNI's
way of reading one sweep file (json.load of the whole file) on the largest file.
Targets (issue 5): <= 2 minutes on 2 cores, <= 1 GB peak RSS per job.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from nasbench_store.nds.constants import SWEEP_FILES
from nasbench_store.nds.convert import convert_sweep, write_store
from nasbench_store.nds.synthetic import write_nds_zip

BIG = {"ResNeXt-A.json", "ResNet.json"}


def counts() -> dict[str, int]:
    def n(sweep: str) -> int:
        if sweep in BIG:
            return 25_000
        if "_in" in sweep:
            return 100
        if "reruns" in sweep:
            return 1_000
        return 5_000
    return {s: n(s) for s in SWEEP_FILES}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def part_job(archive: str, sweep: str, part: str) -> tuple[str, int, float, float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    try:
        rows = convert_sweep(archive, sweep, part)
    except Exception as exc:  # our errors do not survive pickling back to the parent; keep the message
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
    return sweep, rows, time.perf_counter() - started, time.process_time() - cpu, peak_mb()


def assemble_job(parts: dict, db: str | None, parquet: str | None) -> tuple[str, float, float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    write_store(parts, db, parquet)
    return ("sqlite" if db else "parquet"), time.perf_counter() - started, time.process_time() - cpu, peak_mb()


def nni_baseline(archive: str, sweep: str) -> tuple[float, float, float]:
    """NNI's loader: the whole sweep file through json.load (here from the zip, without unpacking)."""
    started, cpu = time.perf_counter(), time.process_time()
    with zipfile.ZipFile(archive) as zf, zf.open(f"nds_data/{sweep}") as fh:
        data = json.load(fh)
    del data
    return time.perf_counter() - started, time.process_time() - cpu, peak_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters-per-epoch", type=int, default=10, help="length of the per-iteration logs / epoch")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--archive", type=Path, help="reuse or create the synthetic data.zip here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nds-bench-"))
    archive = args.archive or work / "data.zip"
    if not archive.exists():
        started = time.perf_counter()
        write_nds_zip(archive, counts(), max_ep=100, seed=1, iters_per_epoch=args.iters_per_epoch, compresslevel=1)
        print(f"generated {archive} in {time.perf_counter() - started:.0f} s")
    with zipfile.ZipFile(archive) as zf:
        json_bytes = sum(i.file_size for i in zf.infolist())
    print(f"archive: {archive.stat().st_size / 1e9:.2f} GB zipped, {json_bytes / 1e9:.2f} GB of JSON, "
          f"{sum(counts().values())} records x 100 epochs")

    spawn = multiprocessing.get_context("spawn")
    parts = {s: str(work / "parts" / f"{s}.parquet") for s in SWEEP_FILES}
    order = sorted(SWEEP_FILES, key=lambda s: -counts()[s])  # biggest first, as a scheduler would like
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=spawn, max_tasks_per_child=1) as pool:
        jobs = list(pool.map(part_job, [str(archive)] * len(order), order, [parts[s] for s in order]))
    t_parts = time.perf_counter() - started
    started = time.perf_counter()
    with ProcessPoolExecutor(2, mp_context=spawn, max_tasks_per_child=1) as pool:
        assembled = list(pool.map(assemble_job, [parts, parts], [str(work / "nds.db"), None],
                                  [None, str(work / "nds")]))
    t_assemble = time.perf_counter() - started
    with ProcessPoolExecutor(1, mp_context=spawn, max_tasks_per_child=1) as pool:
        base_s, base_cpu, base_mb = pool.submit(nni_baseline, str(archive), "ResNet.json").result()

    print(f"\nper-sweep jobs on {args.workers} workers: {t_parts:.1f} s wall, "
          f"{sum(j[3] for j in jobs):.1f} s CPU in all")
    for sweep, rows, seconds, cpu, mb in sorted(jobs, key=lambda j: -j[4])[:5]:
        print(f"  {sweep:24s} {rows:6d} trials  {seconds:6.1f} s wall  {cpu:6.1f} s CPU  peak RSS {mb:6.0f} MB")
    print(f"  ... max peak RSS over all {len(jobs)} jobs: {max(j[4] for j in jobs):.0f} MB")
    for name, seconds, cpu, mb in assembled:
        print(f"assemble {name:8s} {seconds:6.1f} s wall  {cpu:6.1f} s CPU  peak RSS {mb:6.0f} MB")
    total = t_parts + t_assemble
    # Other processes on a shared machine stretch wall times; CPU times say what 2 idle cores would take.
    idle = sum(j[3] for j in jobs) / args.workers + max(a[2] for a in assembled)
    print(f"\nTOTAL conversion: {total:.1f} s wall (target <= 120 s); on idle cores ~{idle:.0f} s "
          f"(parts CPU / {args.workers} + slowest assembly CPU); load average now {os.getloadavg()[0]:.1f}")
    print(f"{json_bytes / 1e6 / t_parts:.0f} MB/s of JSON through the per-sweep jobs (wall)")
    db_mb = (work / "nds.db").stat().st_size / 1e6
    print(f"nds.db {db_mb:.0f} MB; Parquet {sum(p.stat().st_size for p in (work / 'nds').iterdir()) / 1e6:.0f} MB")
    ours = next(j for j in jobs if j[0] == "ResNet.json")
    print(f"\nResNet.json (25k records): NNI-style json.load alone {base_cpu:.1f} s CPU, peak {base_mb:.0f} MB; "
          f"our whole conversion job {ours[3]:.1f} s CPU, peak {ours[4]:.0f} MB "
          f"(CPU ratio {ours[3] / base_cpu:.2f}, memory ratio {ours[4] / base_mb:.2f})")
    print(f"work directory (delete when done): {work}")


if __name__ == "__main__":
    main()
