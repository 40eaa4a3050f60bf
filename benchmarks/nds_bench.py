"""NDS at full scale: generate a synthetic data.zip of the real shape, build it with the real workflow,
and print wall time, every job's wall, CPU and peak RSS, and the no-op rerun time.

    .venv/bin/python benchmarks/nds_bench.py [--cores 2] [--scale 1.0] [--iters-per-epoch 10] [--archive PATH]

The archive (~153,000 records of 100 epochs over the 34 sweep files: two 25k files, twenty 5k files,
ten ImageNet files of 100, two reruns files of 1,000; `--scale` multiplies the counts) is made once
under benchmarks/data/ and reused. The build's figure is given as a ratio against a baseline measured
in the same run: one pass that decompresses every member of data.zip. Targets (issue 14): the whole
build <= 6x that pass, every job's peak RSS <= 1 GB.
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
import zipfile
from pathlib import Path

from bench_common import cpu_seconds, job_figures, print_bounds, print_dry_run, print_jobs, run_workflow

from nasbench_store.nds.constants import SWEEP_FILES
from nasbench_store.nds.synthetic import write_nds_zip

DATA = Path(__file__).parent / "data"
OUT = Path(__file__).parent / "out"
BIG = {"ResNeXt-A.json", "ResNet.json"}


def counts(scale: float = 1.0) -> dict[str, int]:
    def n(sweep: str) -> int:
        if sweep in BIG:
            return 25_000
        if "_in" in sweep:
            return 100
        if "reruns" in sweep:
            return 1_000
        return 5_000
    return {s: max(1, round(n(s) * scale)) for s in SWEEP_FILES}


def generate(archive: Path, scale: float, iters_per_epoch: int) -> None:
    if archive.exists():
        return
    archive.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = archive.with_suffix(".partial")
    write_nds_zip(tmp, counts(scale), max_ep=100, seed=1, iters_per_epoch=iters_per_epoch, compresslevel=1)
    tmp.replace(archive)
    print(f"generated {archive} in {time.perf_counter() - started:.0f} s")


def baseline_decompress(archive: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of one pass that decompresses every member; bytes decompressed."""
    started, cpu, total = time.perf_counter(), cpu_seconds(), 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            with zf.open(info) as fh:
                while chunk := fh.read(1 << 22):
                    total += len(chunk)
    return time.perf_counter() - started, cpu_seconds() - cpu, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0, help="records per sweep file, relative to full scale")
    ap.add_argument("--iters-per-epoch", type=int, default=10, help="length of the per-iteration logs / epoch")
    ap.add_argument("--archive", type=Path, help="reuse or create the synthetic data.zip here")
    args = ap.parse_args()
    tag = "" if args.scale == 1.0 else f"-x{args.scale:g}"
    archive = args.archive or DATA / f"nds{tag}-ipe{args.iters_per_epoch}" / "data.zip"
    generate(archive, args.scale, args.iters_per_epoch)
    base, base_cpu, json_bytes = baseline_decompress(archive)
    print(f"archive: {archive.stat().st_size / 1e9:.2f} GB zipped, {json_bytes / 1e9:.2f} GB of JSON, "
          f"{sum(counts(args.scale).values())} records x 100 epochs")
    print(f"baseline: one pass decompressing every member: {base:.1f} s wall, {base_cpu:.1f} s CPU")

    work = OUT / f"nds{tag}"
    shutil.rmtree(work, ignore_errors=True)
    config = {"store_dir": str(work / "store"), "work_dir": str(work / "work"), "benchmarks": ["nds"],
              "sources": {"nds": {"path": str(archive)}}}
    load = os.getloadavg()[0]
    wall = run_workflow(work / "wd", config, cores=args.cores)
    print(f"build: {wall:.1f} s wall on {args.cores} cores ({wall / base:.1f}x the baseline pass; target <= 6x); "
          f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    rows = job_figures(work / "work" / "logs")
    print_jobs(rows)
    print_bounds(rows, args.cores, wall, base, "nds_part")
    print(f"  every job's peak RSS <= 1 GB: {'yes' if max(r[2] for r in rows) <= 1024 else 'NO'}")
    print_dry_run(work / "wd", config, cores=args.cores)
    db = work / "store" / "nds.db"
    print(f"nds.db {db.stat().st_size / 1e6:.0f} MB; Parquet "
          f"{sum(p.stat().st_size for p in (work / 'store' / 'nds').iterdir()) / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
