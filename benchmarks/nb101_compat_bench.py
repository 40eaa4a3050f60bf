"""The NAS-Bench-101 facade (`nasbench_store.compat.nasbench.api`) on a store: construction time and
memory, `query` latency, and a pass of `get_metrics_from_hash` over every hash.

    .venv/bin/python benchmarks/nb101_compat_bench.py [--store DIR | --store FILE.db] [--queries 5000]

The store defaults to the default store directory. Targets from issue 12: construction <= 1 s and
<= 200 MB RSS, `query` <= 0.5 ms p50, every hash through `get_metrics_from_hash` <= 60 s (at full
scale: 423,624 hashes). Construction is measured in a fresh interpreter (import included, then the
constructor alone), so the RSS figures are those a script would see. google's API needs
TensorFlow 1.x and the raw file; where it is installed, `--official RAW.tfrecord` loads the raw
file with it in another fresh interpreter for comparison.
"""
from __future__ import annotations

import argparse
import random
import time

from bench_common import fresh_interpreter, percentiles, rss_mb


def ms(samples_ns: list[int]) -> list[float]:
    return [s / 1e6 for s in samples_ns]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default=None, help="store directory or nasbench101.db (default: the default store)")
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--official", default=None, help="raw .tfrecord to load with google's nasbench, if installed")
    args = ap.parse_args()

    from nasbench_store.compat.nasbench import api

    given = repr(args.store)
    fig = fresh_interpreter("from nasbench_store.compat.nasbench import api", f"api.NASBench({given})")
    if isinstance(fig, str):
        raise SystemExit(f"construction failed: {fig}")
    print(f"store: {api.NASBench(args.store).dataset_file}")
    print(f"construction (fresh interpreter): import {fig['import_s']:.3f} s, NASBench() {fig['construct_s']:.3f} s; "
          f"RSS {fig['rss_start_mb']:.0f} MB at start, {fig['rss_import_mb']:.0f} MB after import, "
          f"{fig['rss_mb']:.0f} MB after construction (peak {fig['peak_rss_mb']:.0f} MB)")

    nb = api.NASBench(args.store, seed=0)
    started = time.perf_counter()
    hashes = list(nb.hash_iterator())
    listing = time.perf_counter() - started
    print(f"hash_iterator: {len(hashes)} hashes listed in {listing:.3f} s")

    rng = random.Random(0)
    chosen = [rng.choice(hashes) for _ in range(min(args.queries, 2000))]
    specs = []
    for h in chosen:
        fixed = nb.fixed_statistics[h]
        specs.append(api.ModelSpec(fixed["module_adjacency"], fixed["module_operations"]))
    epochs = max(nb.valid_epochs)
    samples, with_spec = [], []
    for i in range(args.queries):
        spec = specs[i % len(specs)]
        t = time.perf_counter_ns()
        nb.query(spec, epochs)
        samples.append(time.perf_counter_ns() - t)
        fixed_stat = nb.fixed_statistics[chosen[i % len(chosen)]] if i < 200 else None
        if fixed_stat is not None:
            t = time.perf_counter_ns()
            nb.query(api.ModelSpec(fixed_stat["module_adjacency"], fixed_stat["module_operations"]), epochs)
            with_spec.append(time.perf_counter_ns() - t)
    print(f"query({epochs} epochs), {args.queries} calls on {len(specs)} random cells: {percentiles(ms(samples))}")
    print(f"ModelSpec(...) + query, {len(with_spec)} calls: {percentiles(ms(with_spec))}")

    started = time.perf_counter()
    for h in nb.hash_iterator():
        nb.get_metrics_from_hash(h)
    every = time.perf_counter() - started
    print(f"get_metrics_from_hash over every hash: {every:.2f} s ({every / len(hashes) * 1e6:.0f} us per hash)")
    print(f"RSS of this process after the pass: {rss_mb():.0f} MB")

    if args.official:
        official = fresh_interpreter("from nasbench import api as official", f"official.NASBench({args.official!r})")
        if isinstance(official, str):
            print(f"google's nasbench could not be run here ({official})")
        else:
            print(f"google's nasbench on {args.official}: construction {official['construct_s']:.1f} s, "
                  f"RSS {official['rss_mb']:.0f} MB (peak {official['peak_rss_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
