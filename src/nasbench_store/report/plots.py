"""The report's plots, drawn with matplotlib from a store's Parquet tables through `nasbench_store.frames`.

`draw(benchmark, store_dir, outputs)` loads what the benchmark's plots need once (per-config
means over runs, or per-run rows for NDS) and writes every plot of `PLOTS[benchmark]` to
`outputs[name]`. The drawing functions take DataFrames, so they can be tried on any data. A panel
without data says so instead of failing: the demo and test stores are tiny and some budgets or
datasets are empty there.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import frames
from ..registry import get
from .catalog import PLOTS

# More points than this are drawn as a hexagonal 2-D histogram (log counts) instead of dots.
HEXBIN_ABOVE = 2000
TOP = 5     # architectures per panel in the learning-curve plots
DPI = 110


def pyplot():
    """matplotlib.pyplot with the file-only backend (no display needed, as on a cluster node)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def draw(benchmark: str, store_dir, outputs: dict[str, str | Path]) -> None:
    """Write every plot of the benchmark to outputs[plot name] (PNG)."""
    expected = {p.name for p in PLOTS[get(benchmark).name]}
    if set(outputs) != expected:
        raise ValueError(f"{benchmark}: outputs {sorted(outputs)} are not its plots {sorted(expected)}")
    DRAW[benchmark](store_dir, {k: Path(v) for k, v in outputs.items()})


# --- shared drawing ----------------------------------------------------------------------------

def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    pyplot().close(fig)


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this store", ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(n: int, width: float = 4.2, height: float = 3.4, columns: int | None = None):
    columns = columns or min(n, 4)
    rows = -(-n // columns)
    fig, axes = pyplot().subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False,
                                  layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def scatter(ax, x, y, log_x: bool = False) -> None:
    """Dots, or a log-count hexbin above HEXBIN_ABOVE points (423,624 NB101 cells would be one blot)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & ((x > 0) if log_x else True)
    x, y = x[keep], y[keep]
    if len(x) > HEXBIN_ABOVE:
        art = ax.hexbin(x, y, gridsize=70, bins="log", mincnt=1, cmap="viridis", xscale="log" if log_x else "linear")
        ax.figure.colorbar(art, ax=ax, label="architectures")
        if log_x:
            _log_x(ax)
    else:
        ax.scatter(x, y, s=10, alpha=0.6, edgecolors="none")
        if log_x:
            _log_x(ax)


def _log_x(ax) -> None:
    """A log x axis labelled at the decades only (minor labels overlap on a narrow range)."""
    from matplotlib.ticker import NullFormatter
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())


def spearman(a, b) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN below 3 pairs or for a constant side."""
    import pandas as pd
    a, b = pd.Series(np.asarray(a, dtype=float)), pd.Series(np.asarray(b, dtype=float))
    keep = a.notna() & b.notna()
    if keep.sum() < 3:
        return float("nan")
    ra, rb = a[keep].rank().to_numpy(), b[keep].rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def colours(names) -> dict:
    """One fixed colour per name (design spaces keep their colour across panels)."""
    return {name: f"C{i % 10}" for i, name in enumerate(sorted(set(names)))}


def edf(ax, values, label: str, colour=None) -> None:
    """Empirical distribution function: the fraction of models with error <= e, as the NDS paper plots it."""
    values = np.sort(np.asarray(values, dtype=float))
    values = values[np.isfinite(values)]
    if len(values):
        ax.step(np.r_[values[0], values], np.r_[0.0, np.arange(1, len(values) + 1) / len(values)], where="post",
                label=f"{label} (n={len(values)})", color=colour)


def rank_panel(ax, short, full, short_label: str, full_label: str) -> None:
    """Accuracy at the short budget against the full budget, Spearman's rho in the title."""
    if len(short) == 0:
        _empty(ax, "architecture trained at both budgets")
        return
    scatter(ax, short, full)
    ax.set_xlabel(short_label)
    ax.set_ylabel(full_label)
    rho = spearman(short, full)
    ax.set_title(f"Spearman rho = {rho:.3f} (n={len(short)})" if np.isfinite(rho) else f"n={len(short)}")


def curve_panel(ax, curve_frame, ranking, metric: str, label_of, top: int = TOP) -> None:
    """Mean curves (frames.curves(..., reduction="mean")) of the `top` best configs in `ranking`."""
    best = list(ranking[:top])
    shown = curve_frame[curve_frame["config_id"].isin(best)]
    if shown.empty or shown[metric].isna().all():
        _empty(ax, "per-epoch " + metric)
        return
    for config_id in best:
        one = shown[(shown["config_id"] == config_id) & shown[metric].notna()]
        if len(one):
            ax.plot(one["current_epoch"], one[metric], marker="o" if len(one) < 12 else None, markersize=3,
                    label=label_of(config_id))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{metric} (%)")
    ax.legend(fontsize=7)


# --- NAS-Bench-101 -----------------------------------------------------------------------------

def _nasbench101(store_dir, out: dict[str, Path]) -> None:
    s = frames.summary("nasbench101", metrics=["valid_acc", "test_acc", "parameters"],
                       config_columns=["hash", "num_epochs"], store_dir=store_dir)
    full = s[s["num_epochs"] == 108]
    nb101_accuracy_vs_parameters(full, out["accuracy_vs_parameters"])
    nb101_accuracy_distribution(s, out["accuracy_distribution"])
    nb101_rank_correlation(s, out["rank_correlation"])
    best = full.sort_values("valid_acc_mean", ascending=False).head(TOP)
    runs_of_best = s[s["hash"].isin(best["hash"])]
    ids = runs_of_best["config_id"].tolist()
    curve = frames.curves("nasbench101", metrics=["valid_acc", "test_acc"], reduction="mean",
                          config_filters=[("id", "in", ids)] if ids else [("id", "=", -1)], store_dir=store_dir)
    nb101_learning_curves(curve, runs_of_best, best["hash"].tolist(), out["learning_curves"])


def nb101_accuracy_vs_parameters(full, path: Path) -> None:
    fig, (ax,) = _grid(1, 5.5, 4.2)
    if full.empty:
        _empty(ax, "108-epoch run")
    else:
        scatter(ax, full["parameters_mean"], full["test_acc_mean"], log_x=True)
        ax.set_xlabel("parameters (millions, log scale)")
        ax.set_ylabel("test accuracy (%), mean over runs")
        ax.set_title(f"NAS-Bench-101, 108 epochs ({len(full)} cells)")
    _save(fig, path)


def nb101_accuracy_distribution(s, path: Path) -> None:
    fig, (ax,) = _grid(1, 6, 4.2)
    budgets = sorted(s["num_epochs"].unique())
    data = [s.loc[s["num_epochs"] == e, "test_acc_mean"].dropna().to_numpy() for e in budgets]
    if not budgets:
        _empty(ax, "run")
    else:
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(budgets) + 1), [f"{e} epochs\n(n={len(d)})" for e, d in zip(budgets, data)])
        ax.set_ylabel("test accuracy (%), mean over runs")
        ax.set_title("NAS-Bench-101: accuracy per training budget")
    _save(fig, path)


def nb101_rank_correlation(s, path: Path) -> None:
    fig, (ax,) = _grid(1, 5.5, 4.2)
    pairs = s[s["num_epochs"] == 12][["hash", "valid_acc_mean"]].merge(
        s[s["num_epochs"] == 108][["hash", "valid_acc_mean"]], on="hash", suffixes=("_short", "_full"))
    rank_panel(ax, pairs["valid_acc_mean_short"], pairs["valid_acc_mean_full"],
               "validation accuracy (%) after 12 epochs", "validation accuracy (%) after 108 epochs")
    _save(fig, path)


def nb101_learning_curves(curve, configs, hashes: list[str], path: Path) -> None:
    """Per cell (colour) and budget (marker), the halfway and final evaluation of that budget's runs:
    each budget is its own training (its own learning-rate schedule), so the segments do not join."""
    fig, axes = _grid(2, 5.5, 4.2)
    budget = dict(zip(configs["config_id"], configs["num_epochs"]))
    cell = dict(zip(configs["config_id"], configs["hash"]))
    colours = {h: f"C{i}" for i, h in enumerate(hashes)}
    markers = {4: "v", 12: "s", 36: "D", 108: "o"}
    for ax, metric in zip(axes, ("valid_acc", "test_acc")):
        if curve.empty:
            _empty(ax, "run of a 108-epoch cell")
            continue
        for config_id, one in curve.groupby("config_id", sort=True):
            epochs = budget[config_id]
            label = cell[config_id][:10] if epochs == 108 else None
            ax.plot(one["current_epoch"], one[metric], color=colours[cell[config_id]],
                    marker=markers.get(epochs, "o"), markersize=4, label=label)
        _log_x(ax)
        ax.set_xlabel("epoch (log scale); markers: budget 4 v, 12 s, 36 D, 108 o")
        ax.set_ylabel(f"{metric} (%), mean over runs")
        ax.set_title(f"best 108-epoch cells: {metric}")
        ax.legend(fontsize=7)
    _save(fig, path)


# --- NAS-Bench-201 -----------------------------------------------------------------------------

def _nasbench201(store_dir, out: dict[str, Path]) -> None:
    from ..nasbench201.constants import DATASETS
    s = frames.summary("nasbench201", metrics=["valid_acc", "test_acc", "parameters", "flops"],
                       config_columns=["num_epochs", "dataset"], store_dir=store_dir)
    s["arch_index"] = (s["config_id"] - 1) // 8
    full = s[s["num_epochs"] == 200]
    nb201_accuracy_vs(full, "parameters_mean", "parameters (millions)", DATASETS, out["accuracy_vs_parameters"])
    nb201_accuracy_vs(full, "flops_mean", "FLOPs (millions)", DATASETS, out["accuracy_vs_flops"])
    nb201_accuracy_distribution(s, DATASETS, out["accuracy_distribution"])
    nb201_rank_correlation(s, DATASETS, out["rank_correlation"])
    best = full.sort_values("valid_acc_mean", ascending=False).groupby("dataset", sort=False).head(TOP)
    ids = best["config_id"].tolist()
    curve = frames.curves("nasbench201", metrics=["valid_acc", "test_acc", "ori_test_acc"], reduction="mean",
                          config_filters=[("id", "in", ids)] if ids else [("id", "=", -1)], store_dir=store_dir)
    nb201_learning_curves(curve, best, DATASETS, out["learning_curves"])


def nb201_accuracy_vs(full, column: str, label: str, datasets, path: Path) -> None:
    fig, axes = _grid(len(datasets))
    for ax, dataset in zip(axes, datasets):
        one = full[full["dataset"] == dataset]
        if one.empty:
            _empty(ax, f"200-epoch run on {dataset}")
            continue
        scatter(ax, one[column], one["test_acc_mean"])
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%), mean over seeds")
        ax.set_title(f"{dataset}, 200 epochs (n={len(one)})")
    _save(fig, path)


def nb201_accuracy_distribution(s, datasets, path: Path) -> None:
    fig, axes = _grid(len(datasets))
    for ax, dataset in zip(axes, datasets):
        one = s[s["dataset"] == dataset]
        budgets = sorted(one["num_epochs"].unique())
        if not budgets:
            _empty(ax, f"run on {dataset}")
            continue
        data = [one.loc[one["num_epochs"] == e, "test_acc_mean"].dropna().to_numpy() for e in budgets]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(budgets) + 1), [f"{e} epochs\n(n={len(d)})" for e, d in zip(budgets, data)])
        ax.set_ylabel("test accuracy (%), mean over seeds")
        ax.set_title(dataset)
    _save(fig, path)


def nb201_rank_correlation(s, datasets, path: Path) -> None:
    fig, axes = _grid(len(datasets))
    for ax, dataset in zip(axes, datasets):
        one = s[s["dataset"] == dataset]
        pairs = one[one["num_epochs"] == 12][["arch_index", "valid_acc_mean"]].merge(
            one[one["num_epochs"] == 200][["arch_index", "valid_acc_mean"]], on="arch_index",
            suffixes=("_short", "_full"))
        rank_panel(ax, pairs["valid_acc_mean_short"], pairs["valid_acc_mean_full"],
                   f"{dataset}: valid acc (%), 12 epochs", "valid acc (%), 200 epochs")
    _save(fig, path)


def curve_metric(curve, candidates=("valid_acc", "ori_test_acc", "test_acc")) -> str:
    """The metric with the most per-epoch values (NB201's 200-epoch runs hold some splits only at
    the last epoch: docs/formats.md#nb201-eval-keys); the first candidate on a tie."""
    counts = [int(curve[m].notna().sum()) if m in curve else -1 for m in candidates]
    return candidates[int(np.argmax(counts))]


def nb201_learning_curves(curve, best, datasets, path: Path) -> None:
    fig, axes = _grid(len(datasets))
    for ax, dataset in zip(axes, datasets):
        ranking = best[best["dataset"] == dataset]
        one = curve[curve["config_id"].isin(ranking["config_id"])]
        if one.empty:
            _empty(ax, f"200-epoch run on {dataset}")
            continue
        metric = curve_metric(one)
        index = dict(zip(ranking["config_id"], ranking["arch_index"]))
        curve_panel(ax, one, ranking["config_id"].tolist(), metric, lambda c, index=index: f"arch {index[c]}")
        ax.set_title(f"{dataset}: best by final valid acc")
    _save(fig, path)


# --- NDS ---------------------------------------------------------------------------------------

def _nds(store_dir, out: dict[str, Path]) -> None:
    runs = frames.trials("nds", columns=["best_test_acc", "final_test_acc", "parameters", "flops"],
                         config_columns=["dataset", "generator", "proposer"], store_dir=store_dir)
    runs = runs.rename(columns={"config_dataset": "dataset", "config_generator": "generator",
                                "config_proposer": "proposer"})
    runs["error"] = 100.0 - runs["best_test_acc"]
    nds_error_edf(runs, out["error_edf"])
    nds_accuracy_vs_complexity(runs, out["accuracy_vs_complexity"])
    best = runs.sort_values("best_test_acc", ascending=False).groupby("dataset", sort=True).head(TOP)
    ids = sorted(set(best["config_id"]))
    curve = frames.curves("nds", metrics=["test_acc"], reduction="mean",
                          config_filters=[("id", "in", ids)] if ids else [("id", "=", -1)], store_dir=store_dir)
    nds_learning_curves(curve, best.drop_duplicates("config_id"), out["learning_curves"])


def _nds_datasets(runs) -> list[str]:
    from ..nds.constants import DATASETS
    return [d for d in DATASETS if (runs["dataset"] == d).any()] or list(DATASETS[:1])


def nds_error_edf(runs, path: Path) -> None:
    """One panel per dataset, one EDF per design space (proposer) of the random samples."""
    datasets = _nds_datasets(runs)
    colour = colours(runs["proposer"])
    fig, axes = _grid(len(datasets), 5.5, 4.2)
    for ax, dataset in zip(axes, datasets):
        one = runs[(runs["dataset"] == dataset) & (runs["generator"] == "random")]
        if one.empty:
            _empty(ax, f"random sample on {dataset}")
            continue
        for proposer, group in one.groupby("proposer", sort=True):
            edf(ax, group["error"], proposer, colour[proposer])
        ax.set_xlabel("error (%) = 100 - best test accuracy")
        ax.set_ylabel("cumulative probability")
        ax.set_ylim(0, 1)
        ax.set_title(f"NDS {dataset}: error EDF per design space")
        ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)


def nds_accuracy_vs_complexity(runs, path: Path) -> None:
    datasets = _nds_datasets(runs)
    colour = colours(runs["proposer"])
    fig, axes = _grid(2 * len(datasets), 5, 4, columns=2)
    for row, dataset in enumerate(datasets):
        one = runs[runs["dataset"] == dataset]
        for ax, column, label in zip(axes[2 * row:], ("parameters", "flops"), ("parameters", "FLOPs")):
            if one.empty:
                _empty(ax, f"model on {dataset}")
                continue
            for proposer, group in one.groupby("proposer", sort=True):
                ax.scatter(group[column], group["best_test_acc"], s=8, alpha=0.6, label=proposer, edgecolors="none",
                           color=colour[proposer])
            _log_x(ax)
            ax.set_xlabel(f"{label} (millions, log scale)")
            ax.set_ylabel("best test accuracy (%)")
            ax.set_title(f"NDS {dataset}")
            ax.legend(fontsize=6, markerscale=2)
    _save(fig, path)


def nds_learning_curves(curve, best, path: Path) -> None:
    datasets = _nds_datasets(best) if not best.empty else ["cifar10"]
    fig, axes = _grid(len(datasets), 5.5, 4.2)
    for ax, dataset in zip(axes, datasets):
        ranking = best[best["dataset"] == dataset]
        labels = dict(zip(ranking["config_id"], ranking["proposer"]))
        curve_panel(ax, curve, ranking["config_id"].tolist(), "test_acc",
                    lambda c, labels=labels: f"{labels[c]} (config {c})")
        ax.set_title(f"NDS {dataset}: best models")
    _save(fig, path)


DRAW = {"nasbench101": _nasbench101, "nasbench201": _nasbench201, "nds": _nds}
