"""The build report: an integrity page and plots from the stores, as a Snakemake HTML report.

In the workflow, `rules/report.smk` makes the plots of each benchmark (rule `report_<benchmark>`,
rerun only when that benchmark is published again) and the integrity page (`report_integrity`,
which runs verify), all registered with Snakemake's `report()` flag, categories and the captions
in `report/*.rst`:

    snakemake --cores 2 report --report report.html --report-after-run

`write_report(store_dir, out_html)` makes the same report for any store without the rest of the
workflow: it runs the same rules through `report/Snakefile`, whose inputs are the published
store itself, in a temporary directory.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from ..errors import NasbenchStoreError, StoreNotFoundError
from ..registry import BENCHMARKS, get
from .catalog import PLOTS, Plot, caption_file, plot_files

MANIFEST = "manifest.json"   # manifest.MANIFEST; that module (pyarrow) is imported only when needed

__all__ = ["PLOTS", "Plot", "ReportError", "caption_file", "plot_files", "stored_benchmarks", "write_report"]


class ReportError(NasbenchStoreError):
    """Snakemake could not make the report; the message holds the end of its output."""


def stored_benchmarks(store_dir) -> list[str]:
    """The benchmarks `manifest.json` in `store_dir` lists, in registry order."""
    from ..manifest import read_manifest
    listed = read_manifest(store_dir)["benchmarks"]
    return [name for name in BENCHMARKS if name in listed]


def workflow_root() -> Path:
    """The directory with the Snakefile, `rules/`, `report/` and `scripts/` (checkout or installed copy)."""
    try:
        from ..workflow_files import workflow_root as find
    except ImportError:
        return Path(__file__).resolve().parents[3]
    return find()


def write_report(store_dir, out_html, benchmarks=None, cores: int = 1, timeout: float | None = None) -> Path:
    """Write the build report of the store in `store_dir` to `out_html` (Snakemake's HTML report:
    the integrity page with a fresh verify, and every plot of the stored benchmarks).

    `benchmarks` defaults to every benchmark in the store's manifest. Nothing is written into the
    store: the plots are made in a temporary directory and embedded in the HTML. Raises
    StoreNotFoundError when the store has no manifest (or lacks a requested benchmark) and
    ReportError when Snakemake fails.
    """
    store_dir = Path(store_dir).expanduser().resolve()
    if not (store_dir / MANIFEST).is_file():
        raise StoreNotFoundError(f"{store_dir / MANIFEST} does not exist: {store_dir} is not a built store "
                                 f"(build one with `snakemake --cores 2` or `nasbench-store build`)")
    stored = stored_benchmarks(store_dir)
    names = stored if benchmarks is None else [get(b).name for b in ([benchmarks] if isinstance(benchmarks, str)
                                                                     else benchmarks)]
    missing = [b for b in names if b not in stored]
    if missing or not names:
        build = f"snakemake --cores 2 {' '.join(missing)}".strip()
        raise StoreNotFoundError(f"{store_dir} holds {', '.join(stored) or 'no benchmark'}, not "
                                 f"{', '.join(missing) or 'any'}; build it first (`{build}`)")
    out_html = Path(out_html).expanduser().resolve()
    out_html.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nasbench-report-") as tmp:
        config = Path(tmp) / "report-config.yaml"
        config.write_text(yaml.safe_dump({"store_dir": str(store_dir), "benchmarks": names}))
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(workflow_root() / "report" / "Snakefile"),
                   "--directory", tmp, "--cores", str(cores), "--configfile", str(config), "--nolock",
                   "report", "--report", str(out_html), "--report-after-run"]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "MPLBACKEND": "Agg"})
    if proc.returncode or not out_html.is_file():
        raise ReportError(f"the report of {store_dir} failed (snakemake exit {proc.returncode}):\n"
                          f"{(proc.stdout + proc.stderr)[-4000:]}")
    return out_html
