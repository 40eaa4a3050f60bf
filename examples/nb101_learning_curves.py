"""NAS-Bench-101 learning curves of the best cells: accuracy at every evaluation the release holds.

    python examples/nb101_learning_curves.py [--top 3] [--out nb101_curves.png] [--store-dir DIR]

Ranks the cells by mean validation accuracy after 108 epochs, then prints, for each of the --top
best, every budget (4, 12, 36, 108 epochs: separate trainings) with its halfway and final
evaluation, averaged over the runs (3 per budget in the release). With --out, also plots them.
"""
from __future__ import annotations

import argparse

from nasbench_store.frames import curves, summary


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--top", type=int, default=3)
    p.add_argument("--out", help="also save a plot (PNG)")
    p.add_argument("--store-dir", help="the store (default: $NASBENCHMARK_DIR or ~/.cache/nasbench-store)")
    args = p.parse_args(argv)

    configs = summary("nasbench101", metrics="valid_acc", config_columns=["hash", "num_epochs"],
                      store_dir=args.store_dir)
    full = configs[configs["num_epochs"] == 108].sort_values("valid_acc_mean", ascending=False)
    best = full["hash"].head(args.top).tolist()
    chosen = configs[configs["hash"].isin(best)]
    points = curves("nasbench101", metrics=["valid_acc", "test_acc"], reduction="mean",
                    config_filters=[("id", "in", chosen["config_id"].tolist())], store_dir=args.store_dir)
    points = points.merge(chosen[["config_id", "hash", "num_epochs"]], on="config_id")
    print(f"{'cell (graph hash)':34} {'budget':>6} {'epoch':>5} {'valid':>7} {'test':>7} {'runs':>4}")
    for cell in best:
        for row in points[points["hash"] == cell].sort_values(["num_epochs", "current_epoch"]).itertuples():
            print(f"{row.hash:34} {row.num_epochs:6d} {row.current_epoch:5d} {row.valid_acc:7.2f} "
                  f"{row.test_acc:7.2f} {row.num_trials:4d}")
    if args.out:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
        for i, cell in enumerate(best):
            for _, one in points[points["hash"] == cell].groupby("num_epochs"):
                ax.plot(one["current_epoch"], one["valid_acc"], marker="o", color=f"C{i}",
                        label=cell[:10] if one["num_epochs"].iloc[0] == 108 else None)
        ax.set_xscale("log")
        ax.set_xlabel("epoch (each budget is its own training)")
        ax.set_ylabel("validation accuracy (%), mean over runs")
        ax.legend()
        fig.savefig(args.out, dpi=110)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
