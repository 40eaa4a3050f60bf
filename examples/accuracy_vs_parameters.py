"""Accuracy against parameter count for every architecture of a benchmark, as a PNG.

    python examples/accuracy_vs_parameters.py [--benchmark nasbench201] [--out PNG] [--store-dir DIR]

NB101: test accuracy after 108 epochs; NB201: test accuracy after 200 epochs on --dataset;
NDS: best test accuracy of each model. Means over each architecture's runs (seeds), computed by
`nasbench_store.frames.summary` (Arrow, seconds for the whole NB101). Prints the number of points
and Spearman's rank correlation between size and accuracy.
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nasbench_store.frames import summary  # noqa: E402

SETTINGS = {  # benchmark: (config filters, accuracy column, what it is)
    "nasbench101": ([("num_epochs", "=", 108)], "test_acc", "test accuracy after 108 epochs (%)"),
    "nasbench201": ([("num_epochs", "=", 200)], "test_acc", "test accuracy after 200 epochs (%)"),
    "nds": ([], "best_test_acc", "best test accuracy (%)"),
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", choices=SETTINGS, default="nasbench201")
    p.add_argument("--dataset", default="cifar10-valid", help="NB201: cifar10-valid, cifar10, cifar100, imagenet16-120")
    p.add_argument("--out", default="accuracy_vs_parameters.png", help="the PNG to write")
    p.add_argument("--store-dir", help="the store (default: $NASBENCHMARK_DIR or ~/.cache/nasbench-store)")
    args = p.parse_args(argv)
    filters, accuracy, label = SETTINGS[args.benchmark]
    if args.benchmark == "nasbench201":
        filters = [*filters, ("dataset", "=", args.dataset)]
    table = summary(args.benchmark, metrics=[accuracy, "parameters"], config_filters=filters or None,
                    config_columns=[], store_dir=args.store_dir)
    x, y = table["parameters_mean"], table[f"{accuracy}_mean"]
    fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
    if len(table) > 2000:
        ax.hexbin(x, y, gridsize=70, bins="log", mincnt=1, xscale="log")
    else:
        ax.scatter(x, y, s=10, alpha=0.6)
        ax.set_xscale("log")
    ax.set_xlabel("parameters (millions, log scale)")
    ax.set_ylabel(label)
    ax.set_title(f"{args.benchmark}: {len(table)} architectures")
    fig.savefig(args.out, dpi=110)
    rho = x.rank().corr(y.rank())
    print(f"{args.benchmark}: {len(table)} architectures, Spearman rho(parameters, accuracy) = {rho:.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
