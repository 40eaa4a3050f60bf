"""What the report holds: each benchmark's plots, their captions and files. Imported when the workflow
parses (rules/report.smk), so it imports nothing heavy; the drawing is in `plots`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plot:
    name: str    # output key and file stem; the caption is report/<benchmark>_<name>.rst
    title: str   # the report's subcategory


PLOTS: dict[str, tuple[Plot, ...]] = {
    "nasbench101": (
        Plot("accuracy_vs_parameters", "Accuracy vs parameters"),
        Plot("accuracy_distribution", "Accuracy distribution per budget"),
        Plot("rank_correlation", "Rank correlation, 12 vs 108 epochs"),
        Plot("learning_curves", "Learning curves of the best architectures"),
    ),
    "nasbench201": (
        Plot("accuracy_vs_parameters", "Accuracy vs parameters"),
        Plot("accuracy_vs_flops", "Accuracy vs FLOPs"),
        Plot("accuracy_distribution", "Accuracy distribution per budget and dataset"),
        Plot("rank_correlation", "Rank correlation, 12 vs 200 epochs"),
        Plot("learning_curves", "Learning curves of the best architectures"),
    ),
    "nds": (
        Plot("error_edf", "Error EDF per design space"),
        Plot("accuracy_vs_complexity", "Accuracy vs parameters and FLOPs"),
        Plot("learning_curves", "Learning curves of the best models"),
    ),
}


def caption_file(benchmark: str, plot: Plot | str) -> str:
    """The caption of a plot, relative to the workflow root."""
    return f"report/{benchmark}_{plot if isinstance(plot, str) else plot.name}.rst"


def plot_files(benchmark: str) -> dict[str, str]:
    """{plot name: file name} of a benchmark's plots (under <work_dir>/report/<benchmark>/)."""
    return {p.name: f"{p.name}.png" for p in PLOTS[benchmark]}
