"""NAS-Bench-101 at full scale: generate a synthetic nasbench_full.tfrecord of the real shape
(423,624 cells x 4 epoch budgets x 3 repeats = 5,083,488 records, ~2 GB), build it with the real
workflow, and print wall time, per-job time and peak RSS, the no-op rerun time, and query latency.

    .venv/bin/python benchmarks/nb101_bench.py [--cores 2] [--shards 8] [--queries 2000]

Figures are also given as ratios against baselines measured in the same run: the build against
one sequential CRC-checked read of the raw file, the query against a bare indexed SELECT.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench_common import job_figures, print_jobs, run_workflow
from nb101_space import load_space

from nasbench_store.database import connect_readonly
from nasbench_store.nasbench101.synthetic import Cell, iter_payloads
from nasbench_store.tfrecord import frame, iter_records

DATA = Path(__file__).parent / "data"
OUT = Path(__file__).parent / "out"
RAW = DATA / "nasbench_full.tfrecord"
RECORDS = 423_624 * 12


def _cell(row) -> Cell:
    h, adj, ops = row
    ops = tuple(ops.split(","))
    n = len(ops)
    return Cell(tuple(tuple(int(adj[i * n + j]) for j in range(n)) for i in range(n)), ops, h)


def _write_part(args) -> Path:
    rows, path = args
    with open(path, "wb") as fh:
        for payload in iter_payloads([_cell(r) for r in rows], seed=2026):
            fh.write(frame(payload))
    return path


def generate(space, workers: int) -> None:
    """Write the full file in sorted-hash order, in parallel parts concatenated at the end."""
    if RAW.exists():
        return
    started = time.perf_counter()
    n = 16
    size = -(-len(space) // n)
    parts = [(space[i * size:(i + 1) * size], DATA / f"part-{i:02d}.tfrecord") for i in range(n)]
    with ProcessPoolExecutor(workers) as pool:
        paths = list(pool.map(_write_part, parts))
    tmp = RAW.with_suffix(".partial")
    with open(tmp, "wb") as out:
        for p in paths:
            with open(p, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 24)
            p.unlink()
    tmp.replace(RAW)
    print(f"generated {RAW} ({RAW.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - started:.0f} s")


def baseline_read() -> float:
    started = time.perf_counter()
    count = sum(1 for _ in iter_records(RAW))
    assert count == RECORDS, count
    return time.perf_counter() - started


def query_latency(store: Path, space, queries: int) -> None:
    os.environ["NASBENCHMARK_DIR"] = str(store)
    from nasbench_store.nasbench101 import query_nb101_trial_stats
    from nasbench_store.nasbench101.graph import spec_to_arch
    rng = random.Random(0)
    archs = []
    for h, adj, ops in rng.sample(space, queries):
        cell = _cell((h, adj, ops))
        archs.append((h, spec_to_arch(cell.matrix, cell.ops)))
    conn = connect_readonly(store / "nasbench101.db")
    sql = ("SELECT * FROM nb101trialstats s JOIN nb101trialconfig c ON s.config_id = c.id "
           "WHERE c.hash = ? AND c.num_epochs = 108")
    ours, bare = [], []
    for h, arch in archs:
        t0 = time.perf_counter()
        rows = list(query_nb101_trial_stats(arch, 108))
        t1 = time.perf_counter()
        conn.execute(sql, (h,)).fetchall()
        t2 = time.perf_counter()
        assert len(rows) == 3 and rows[0]["config"]["hash"] == h
        ours.append(t1 - t0)
        bare.append(t2 - t1)
    p50, b50 = statistics.median(ours) * 1e3, statistics.median(bare) * 1e3
    p99 = sorted(ours)[int(0.99 * len(ours))] * 1e3
    print(f"query_nb101_trial_stats(arch, 108), isomorphism on, {queries} random cells: "
          f"p50 {p50:.3f} ms, p99 {p99:.3f} ms; bare indexed SELECT p50 {b50:.3f} ms (ratio {p50 / b50:.1f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--queries", type=int, default=2000)
    args = ap.parse_args()
    space = load_space(DATA / "nb101_space.json.gz")
    print(f"cells in the space: {len(space)}")
    generate(space, args.cores)
    base = baseline_read()
    print(f"baseline: one CRC-checked sequential read of {RECORDS} records: {base:.1f} s")
    shutil.rmtree(OUT / "nb101", ignore_errors=True)
    work = OUT / "nb101"
    config = {"store_dir": str(work / "store"), "work_dir": str(work / "work"), "benchmarks": ["nasbench101"],
              "sources": {"nasbench101": {"path": str(RAW)}}, "nasbench101": {"shards": args.shards}}
    wall = run_workflow(work / "wd", config, cores=args.cores)
    print(f"build: {wall:.1f} s wall on {args.cores} cores, {args.shards} shards "
          f"({wall / base:.1f}x the baseline read)")
    print_jobs(job_figures(work / "work" / "logs"))
    noop = run_workflow(work / "wd", config, "-n", cores=args.cores)
    print(f"snakemake -n after the build: {noop:.2f} s")
    query_latency(work / "store", space, args.queries)


if __name__ == "__main__":
    main()
