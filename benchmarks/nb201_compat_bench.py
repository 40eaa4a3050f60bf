"""The NAS-Bench-201 and NATS-Bench facades (`nasbench_store.compat.nas_201_api`, `.nats_bench`) on an NB201
store: construction time and memory in a fresh interpreter, and the latency of `get_more_info` (and of
`simulate_train_eval`, `get_cost_info`), beside the official packages on the same raw files.

    .venv/bin/python benchmarks/nb201_compat_bench.py [--archs 500] [--queries 5000] [--work DIR]

It writes a synthetic `.pth` and the same runs as a NATS-tss directory with the release's 15,625
architecture strings, `--archs` of them with results (the release has results for all), builds and
publishes the store from the `.pth`, and runs everything on that. So construction reads the
full-size architecture list, and each query reads an architecture as large as the release's, but
the store, the official packages' loading and their memory are those of `--archs` architectures:
fixture scale, not the 4.7 GB release, which the official nas_201_api loads in minutes and tens of GB.
Targets from issue 12: construction <= 1 s and <= 200 MB RSS, get_more_info <= 0.5 ms p50.

    .venv/bin/python benchmarks/nb201_compat_bench.py --store benchmarks/out/nb201/store

runs the facades alone on an existing store, such as the full-scale one `nb201_bench.py` builds
(15,625 architectures with results, 2.8 GB): construction, then the same calls over every architecture,
the first touch of each being a read from a cold facade cache.
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from bench_common import fresh_interpreter, percentiles

FULL = 15625
DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
def show_construction(name: str, fig) -> None:
    if isinstance(fig, str):
        print(f"  {name:<34} not run: {fig}")
        return
    print(f"  {name:<34} import {fig['import_s']:6.3f} s, construct {fig['construct_s']:7.3f} s, RSS "
          f"{fig['rss_mb']:6.0f} MB (start {fig['rss_start_mb']:.0f}, after import {fig['rss_import_mb']:.0f}, "
          f"peak {fig['peak_rss_mb']:.0f})")


def timed(calls) -> str:
    """p50/p90/p99/max of the calls (each a zero-argument function), in milliseconds. A call may raise as the
    original does (nats_bench's get_cost_info refuses runs whose FLOPs disagree without a seed 888)."""
    samples, raised = [], 0
    for call in calls:
        start = time.perf_counter_ns()
        try:
            call()
        except ValueError:
            raised += 1
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return f"{percentiles(samples)} ({len(samples)} calls" + (f", {raised} raised ValueError)" if raised else ")")


def workload(api, evaluated: list[int], n: int, seed: int) -> dict[str, list]:
    """The same random calls for every API: (architecture, dataset, budget) drawn once."""
    rng = random.Random(seed)
    picks = [(rng.choice(evaluated), rng.choice(DATASETS), rng.choice(("12", "200"))) for _ in range(n)]
    epochs = [rng.randrange(12 if hp == "12" else 200) for _, _, hp in picks]
    simulated = [(i, "cifar10" if d == "cifar10-valid" else d, hp) for i, d, hp in picks]
    return {
        "get_more_info(i, d, hp=...) [a random run, last epoch]":
            [lambda i=i, d=d, hp=hp: api.get_more_info(i, d, hp=hp) for i, d, hp in picks],
        "get_more_info(..., is_random=False) [seed mean]":
            [lambda i=i, d=d, hp=hp: api.get_more_info(i, d, hp=hp, is_random=False) for i, d, hp in picks],
        "get_more_info(..., iepoch=e) [a random epoch]":
            [lambda i=i, d=d, hp=hp, e=e: api.get_more_info(i, d, e, hp) for (i, d, hp), e in zip(picks, epochs)],
        "simulate_train_eval(i, d, hp=...)":
            [lambda i=i, d=d, hp=hp: api.simulate_train_eval(i, d, hp=hp) for i, d, hp in simulated],
        "get_cost_info(i, d, hp)": [lambda i=i, d=d, hp=hp: api.get_cost_info(i, d, hp) for i, d, hp in picks],
    }


def build(work: Path, archs: int) -> tuple[Path, Path, Path, list[int]]:
    """The .pth, the NATS directory with the same runs, and the store published from the .pth (which the
    facades find from the .pth; the NATS directory is another raw input, for the official nats_bench)."""
    from nasbench_store.manifest import publish, raw_digest
    from nasbench_store.nasbench201 import synthetic as fx
    from nasbench_store.nasbench201.convert import convert
    from nasbench_store.registry import get
    chosen = sorted(random.Random(0).sample(range(FULL), archs))
    pth, nats, store = work / "NAS-Bench-201-v1_1-096897.pth", work / "NATS-tss-v1_0-3ffb9-simple", work / "store"
    if not (store / "manifest.json").exists():
        started = time.perf_counter()
        fx.write_nb201_pth(pth, FULL, 0, chosen)
        fx.write_nats_tss_archive(nats, FULL, 0, chosen)
        entry = get("nasbench201")
        convert(pth, work / "build" / entry.db_filename, work / "build" / "parquet", work_dir=work)
        files = {entry.db_filename: work / "build" / entry.db_filename,
                 **{entry.parquet_file(t): work / "build" / "parquet" / f"{t}.parquet" for t in entry.stored_tables}}
        publish(store, "nasbench201", files, raw_digest(pth))
        size = (store / entry.db_filename).stat().st_size >> 20
        print(f"built the fixture raw files and store ({archs} of {FULL} architectures with results) in "
              f"{time.perf_counter() - started:.1f} s; nasbench201.db {size} MB")
    return pth, nats, store, chosen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", type=int, default=500, help="architectures with results (of 15,625)")
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--work", default=None, help="where to write the raw files and the store (kept; reused)")
    ap.add_argument("--store", type=Path, help="run the facades alone on this existing store (no raw files)")
    args = ap.parse_args()
    if args.store:
        store_only(args.store, args.queries)
        return
    work = Path(args.work or tempfile.mkdtemp(prefix="nb201-compat-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    pth, nats, store, chosen = build(work, args.archs)
    env = {"NASBENCHMARK_DIR": str(store), "XDG_CACHE_HOME": str(work / "cache"),
           "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    os.environ.update(env)

    print("construction, each in a fresh interpreter (the first facade run hashes the .pth once):")
    show_construction("facade NASBench201API(.pth) cold", fresh_interpreter(
        "from nasbench_store.compat.nas_201_api import NASBench201API", f"NASBench201API({str(pth)!r}, verbose=False)",
        env=env))
    for name, imports, construct in (
            ("facade NASBench201API(.pth)", "from nasbench_store.compat.nas_201_api import NASBench201API",
             f"NASBench201API({str(pth)!r}, verbose=False)"),
            ("facade NASBench201API(store dir)", "from nasbench_store.compat.nas_201_api import NASBench201API",
             f"NASBench201API({str(store)!r}, verbose=False)"),
            ("facade create(.pth, 'tss')", "from nasbench_store.compat.nats_bench import create",
             f"create({str(pth)!r}, 'tss', fast_mode=True)"),
            ("official nas_201_api (.pth)", "from nas_201_api import NASBench201API",
             f"NASBench201API({str(pth)!r}, verbose=False)"),
            ("official nats_bench (NATS dir, fast)", "from nats_bench import create",
             f"create({str(nats)!r}, 'tss', fast_mode=True, verbose=False)")):
        show_construction(name, fresh_interpreter(imports, construct, env=env))

    every = (f"for i in {chosen!r}:\n    for d in {DATASETS!r}:\n"
             "        api.get_more_info(i, d, hp='200'); api.get_more_info(i, d, hp='12')")
    for name, imports, construct in (
            ("facade NASBench201API", "from nasbench_store.compat.nas_201_api import NASBench201API",
             f"NASBench201API({str(store)!r}, verbose=False)"),
            ("official nas_201_api", "from nas_201_api import NASBench201API",
             f"NASBench201API({str(pth)!r}, verbose=False)")):
        fig = fresh_interpreter(imports, construct, after=every, env=env)
        if not isinstance(fig, str):
            print(f"  {name}: get_more_info on every architecture, dataset and budget took {fig['after_s']:.2f} s; "
                  f"RSS {fig['rss_mb']:.0f} MB after construction, {fig['rss_after_mb']:.0f} MB after")

    from nasbench_store.compat.nas_201_api import NASBench201API
    from nasbench_store.compat.nats_bench import create
    apis = {"facade NASBench201API": NASBench201API(str(pth), verbose=False),
            "facade NATStopology (fast)": create(str(pth), "tss", fast_mode=True)}
    try:
        import nas_201_api
        apis["official nas_201_api"] = nas_201_api.NASBench201API(str(pth), verbose=False)
    except ImportError as exc:
        print(f"official nas_201_api not installed ({exc})")
    try:
        import nats_bench
        apis["official nats_bench (fast)"] = nats_bench.create(str(nats), "tss", fast_mode=True, verbose=False)
    except ImportError as exc:
        print(f"official nats_bench not installed ({exc})")
    latencies(apis, chosen, args.queries)


def latencies(apis: dict, chosen: list[int], queries: int) -> None:
    for name, api in apis.items():
        print(f"{name}:")
        random.seed(0)
        first = workload(api, chosen, min(queries, len(chosen)), seed=1)
        print(f"  {'first touch of each architecture':<55} "
              f"{timed(first['get_more_info(i, d, hp=...) [a random run, last epoch]'])}")
        for what, calls in workload(api, chosen, queries, seed=2).items():
            print(f"  {what:<55} {timed(calls)}")


def store_only(store: Path, queries: int) -> None:
    """The facades on an existing store: construction in a fresh interpreter, then latencies."""
    print(f"{store}: load average {os.getloadavg()[0]:.1f}")
    for name, imports, construct in (
            ("facade NASBench201API(store dir)", "from nasbench_store.compat.nas_201_api import NASBench201API",
             f"NASBench201API({str(store)!r}, verbose=False)"),
            ("facade create(store dir, 'tss')", "from nasbench_store.compat.nats_bench import create",
             f"create({str(store)!r}, 'tss', fast_mode=True)")):
        show_construction(name, fresh_interpreter(imports, construct))
    from nasbench_store.compat.nas_201_api import NASBench201API
    from nasbench_store.compat.nats_bench import create
    apis = {"facade NASBench201API": NASBench201API(str(store), verbose=False),
            "facade NATStopology (fast)": create(str(store), "tss", fast_mode=True)}
    chosen = sorted(apis["facade NASBench201API"].evaluated_indexes)
    print(f"{len(chosen)} architectures with results; {queries} calls of each kind")
    latencies(apis, chosen, queries)


if __name__ == "__main__":
    main()
