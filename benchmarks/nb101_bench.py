"""NAS-Bench-101 at full scale: generate a synthetic nasbench_full.tfrecord of the real shape
(423,624 cells x 4 epoch budgets x 3 repeats = 5,083,488 records, ~2 GB), build it with the real
workflow, and print wall time, per-job time and peak RSS, the no-op rerun time, query latency and
the time of the whole-benchmark summary table.

    .venv/bin/python benchmarks/nb101_bench.py [--cores 2] [--shards 8] [--queries 2000]
    .venv/bin/python benchmarks/nb101_bench.py --store DIR [--queries 20000] [--repeats 7]

Figures are also given as ratios against baselines measured in the same run: the build against
one sequential CRC-checked read of the raw file, the query against a bare indexed SELECT, the
summary table against DuckDB computing the same table from the same Parquet files. `--store`
measures only the read side on an existing store (read-only; nothing is generated or built).
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

from bench_common import job_figures, print_bounds, print_jobs, run_workflow
from nb101_space import load_space

from nasbench_store.database import connect_readonly, json_text
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


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _percentiles(times: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    ordered = sorted(times)
    return statistics.median(ordered) * 1e3, ordered[int(0.99 * len(ordered))] * 1e3


def _relabelled(arch: dict, rng: random.Random) -> dict:
    """The same cell in another topological vertex order: what a search usually holds."""
    from nasbench_store.nasbench101.graph import arch_to_spec, spec_to_arch
    matrix, ops = arch_to_spec(arch)
    n = len(ops)
    order, placed = [0], {0}
    while len(order) < n - 1:
        ready = [v for v in range(1, n - 1)
                 if v not in placed and all(u in placed or not matrix[u][v] for u in range(n))]
        order.append(rng.choice(ready))
        placed.add(order[-1])
    order.append(n - 1)
    return spec_to_arch([[matrix[a][b] for b in order] for a in order], [ops[v] for v in order])


def query_latency(store: Path, queries: int) -> None:
    """p50/p99 of query_nb101_trial_stats(arch, 108) on distinct random cells against a bare indexed
    SELECT of the same rows (another connection, default settings), interleaved query by query and
    alternating which goes first, so both see the same machine and the same OS page cache (warmed
    first with the pages of both indexes that our query may use: the figures are CPU, not disk).
    Cells as the store holds them, then other cells in another vertex order (found through the hash)."""
    import json
    if queries < 1:
        return
    os.environ["NASBENCHMARK_DIR"] = str(store)
    from nasbench_store.nasbench101 import query_nb101_trial_stats
    conn = connect_readonly(store / "nasbench101.db")
    cells = conn.execute("SELECT hash, arch FROM nb101trialconfig WHERE num_epochs = 108").fetchall()
    rng = random.Random(0)
    picked = [(h, json.loads(a)) for h, a in rng.sample(cells, min(2 * queries, len(cells)))]
    del cells
    sample, others = picked[:queries], picked[queries:]  # distinct cells in both passes: no cache helps
    sql = ("SELECT * FROM nb101trialstats s JOIN nb101trialconfig c ON s.config_id = c.id "
           "WHERE c.hash = ? AND c.num_epochs = 108")
    list(query_nb101_trial_stats(sample[0][1], 108))  # open the connection
    by_arch = "SELECT * FROM nb101trialconfig WHERE arch = ? AND num_epochs = 108"
    for h, arch in picked:  # both indexes our query may use
        conn.execute(sql, (h,)).fetchall()
        conn.execute(by_arch, (json_text(arch),)).fetchall()
    for label, archs in (("cells in the stored vertex order", sample),
                         ("other cells in another vertex order",
                          [(h, _relabelled(a, rng)) for h, a in others])):
        ours, bare = [], []
        print(f"  {load()}")
        for i, (h, arch) in enumerate(archs):
            for turn in ((0, 1) if i % 2 else (1, 0)):
                t0 = time.perf_counter()
                if turn == 0:
                    rows = list(query_nb101_trial_stats(arch, 108))
                    ours.append(time.perf_counter() - t0)
                else:
                    conn.execute(sql, (h,)).fetchall()
                    bare.append(time.perf_counter() - t0)
            assert len(rows) == 3 and rows[0]["config"]["hash"] == h
        (p50, p99), (b50, b99) = _percentiles(ours), _percentiles(bare)
        print(f"query_nb101_trial_stats(arch, 108), isomorphism on, {len(archs)} distinct random cells, {label}: "
              f"p50 {p50:.4f} ms, p99 {p99:.4f} ms; bare indexed SELECT p50 {b50:.4f} ms, p99 {b99:.4f} ms; "
              f"p50 ratio {p50 / b50:.2f}x  ({load()})")
        if archs is not sample:  # the cells whose order differs: a lookup by arch text misses, then the hash
            differ = [i for i, ((_, a), (_, b)) in enumerate(zip(others, archs)) if a != b]
            (d50, d99), (e50, _) = _percentiles([ours[i] for i in differ]), _percentiles([bare[i] for i in differ])
            print(f"  of which the {len(differ)} whose vertex order differs from the store's: p50 {d50:.4f} ms, "
                  f"p99 {d99:.4f} ms; bare p50 {e50:.4f} ms; p50 ratio {d50 / e50:.2f}x")


SUMMARY_SQL = """
WITH runs AS (
    SELECT config_id, count(*) AS num_trials, {aggregates}
    FROM read_parquet('{stats}')
    WHERE config_id IN (SELECT id FROM read_parquet('{config}') WHERE num_epochs = 108)
    GROUP BY config_id)
SELECT c.id AS config_id, c.arch, c.num_vertices, c.hash, c.num_epochs, runs.* EXCLUDE (config_id)
FROM read_parquet('{config}') c JOIN runs ON runs.config_id = c.id
WHERE c.num_epochs = 108 ORDER BY c.id
"""


def frames_summary(store: Path, repeats: int) -> None:
    """frames.summary of every cell at 108 epochs (mean, std, min, max of every metric over the
    three repeats, all config columns) against DuckDB computing the same table from the same
    Parquet files into a DataFrame; medians of `repeats` runs each, interleaved."""
    if repeats < 1:
        return
    import duckdb  # the benchmark's baseline: pip install duckdb (the project's [duckdb] extra)
    import numpy as np

    from nasbench_store import frames
    metric_names = frames.metrics("nasbench101")
    aggregates = ", ".join(f"{fn}({m}) AS {m}_{stat}" for m in metric_names
                           for stat, fn in zip(frames.STATS, ("avg", "stddev_samp", "min", "max")))
    sql = SUMMARY_SQL.format(aggregates=aggregates, stats=store / "nasbench101" / "nb101trialstats.parquet",
                             config=store / "nasbench101" / "nb101trialconfig.parquet")
    con = duckdb.connect()
    ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
    print(f"  {load()}")
    for i in range(repeats):
        for turn in ((0, 1) if i % 2 else (1, 0)):
            t0, c0 = time.perf_counter(), time.process_time()
            if turn == 0:
                got = frames.summary("nasbench101", config_filters=[("num_epochs", "=", 108)], store_dir=store)
                ours.append(time.perf_counter() - t0)
                ours_cpu.append(time.process_time() - c0)
            else:
                want = con.sql(sql).df()
                theirs.append(time.perf_counter() - t0)
                theirs_cpu.append(time.process_time() - c0)
    assert list(got.columns) == list(want.columns) and len(got) == len(want) == 423_624, (got.columns, len(got))
    assert (got["config_id"].to_numpy() == want["config_id"].to_numpy()).all()
    for column in got.columns[5:]:
        np.testing.assert_allclose(got[column].to_numpy(float), want[column].to_numpy(float), rtol=1e-9, atol=1e-9)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(f"frames.summary('nasbench101', config_filters=[('num_epochs', '=', 108)]): {len(got)} rows x "
          f"{len(got.columns)} columns, median of {repeats}: {ours_s:.3f} s (min {min(ours):.3f}); DuckDB, the same "
          f"table from the same Parquet: {theirs_s:.3f} s (min {min(theirs):.3f}); ratio {ours_s / theirs_s:.2f}x  "
          f"({load()})")
    print(f"  CPU seconds (all threads), medians: ours {statistics.median(ours_cpu):.3f}, "
          f"DuckDB {statistics.median(theirs_cpu):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--queries", type=int, default=2000, help="cells per query pass (0: no query figures)")
    ap.add_argument("--repeats", type=int, default=7, help="runs of the summary table and of DuckDB's (0: none)")
    ap.add_argument("--store", type=Path, help="measure queries and the summary table on this existing store "
                    "(read-only), without generating or building anything")
    args = ap.parse_args()
    if args.store:
        query_latency(args.store, args.queries)
        frames_summary(args.store, args.repeats)
        return
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
    rows = job_figures(work / "work" / "logs")
    print_jobs(rows)
    print_bounds(rows, args.cores, wall, base, "nb101_shard")
    noop = run_workflow(work / "wd", config, "-n", cores=args.cores)
    print(f"snakemake -n after the build: {noop:.2f} s")
    query_latency(work / "store", args.queries)
    frames_summary(work / "store", args.repeats)


if __name__ == "__main__":
    main()
