"""Random search on NAS-Bench-201, with the benchmark as the "training" oracle.

Samples architectures uniformly (without replacement, from the 15,625 cells), "trains" each by
looking up its mean validation accuracy after 200 epochs with NNI's query function, keeps the
best, and reports its test accuracy and the training time the search would have cost.

    python examples/nb201_random_search.py [--dataset cifar10-valid] [--budget 50] [--seed 0] [--store-dir DIR]

The store is --store-dir, else $NASBENCHMARK_DIR, else ~/.cache/nasbench-store. Cells the store
has no results for (none in the release; some in the demo) are skipped and not counted.
"""
from __future__ import annotations

import argparse
import os
import random

from nasbench_store.frames import architectures
from nasbench_store.nasbench201 import query_nb201_trial_stats


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cifar10-valid")
    p.add_argument("--budget", type=int, default=50, help="architectures to evaluate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--store-dir", help="the store (default: $NASBENCHMARK_DIR or ~/.cache/nasbench-store)")
    args = p.parse_args(argv)
    if args.store_dir:
        os.environ["NASBENCHMARK_DIR"] = args.store_dir   # the query functions read it at each call

    # the search space: every architecture index and its arch string (one config row per index)
    space = architectures("nasbench201", config_filters=[("num_epochs", "=", 200), ("dataset", "=", args.dataset)],
                          store_dir=args.store_dir)
    order = list(range(len(space)))
    random.Random(args.seed).shuffle(order)   # sampling without replacement
    best, cost, tried = None, 0.0, 0
    for position in order:
        if tried == args.budget:
            break
        arch = space.iloc[position]
        result = list(query_nb201_trial_stats(arch.arch_str, 200, args.dataset, reduction="mean"))
        if not result:  # no run of this cell in the store
            continue
        [stats] = result
        tried += 1
        cost += stats["training_time"]
        if best is None or stats["valid_acc"] > best[1]["valid_acc"]:
            best = (arch, stats)
        print(f"step {tried:3d}: arch {arch.arch_index:5d} valid {stats['valid_acc']:6.2f}  "
              f"best so far {best[1]['valid_acc']:6.2f} (arch {best[0].arch_index})")
    if best is None:
        raise SystemExit(f"the store has no 200-epoch results on {args.dataset}")
    arch, stats = best
    print(f"best architecture: index {arch.arch_index} {arch.arch_str}")
    print(f"valid accuracy {stats['valid_acc']:.2f} %, test accuracy {stats['test_acc']:.2f} % "
          f"(mean over {stats['num_trials']} seeds), search cost {cost:.0f} s of training")


if __name__ == "__main__":
    main()
