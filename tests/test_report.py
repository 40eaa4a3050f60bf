"""The build report: plots and the integrity page registered in Snakemake's HTML report, from the
workflow (`snakemake report --report ...`) and from a store alone (`write_report`); the HTML is
opened and every plot of every benchmark is found in its category."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import REPO
from helpers.stores import shared_store

from nasbench_store.cli import main
from nasbench_store.errors import StoreNotFoundError
from nasbench_store.manifest import read_manifest
from nasbench_store.registry import BENCHMARKS
from nasbench_store.report import PLOTS, ReportError, caption_file, integrity, plot_files, plots, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def report_contents(html: Path) -> tuple[dict, dict]:
    """(results, categories) of a Snakemake HTML report: the embedded files and how they are grouped."""
    text = html.read_text()
    results = json.loads(re.search(r'<script id="results">\s*var results = (.*?);\s*</script>', text, re.S)[1])
    categories = json.loads(re.search(r'<script id="categories">\s*var categories = (.*?);\s*</script>',
                                      text, re.S)[1])
    return results, categories


def embedded(result: dict) -> bytes:
    return base64.b64decode(result["data_uri"].split("base64,", 1)[1])


def check_report(html: Path, benchmarks: list[str], store: Path) -> str:
    """Every plot of each benchmark is a PNG in the benchmark's category under its title, with its
    caption; the integrity page is there. Returns the integrity page's text."""
    results, categories = report_contents(html)
    by_name = {path: result for path, result in results.items()}
    assert set(categories) == {"Integrity", *(BENCHMARKS[b].title for b in benchmarks)}
    for name in benchmarks:
        category = categories[BENCHMARKS[name].title]
        assert set(category) == {p.title for p in PLOTS[name]}
        for plot in PLOTS[name]:
            [path] = category[plot.title]
            assert path.endswith(f"report/{name}/{plot_files(name)[plot.name]}")
            result = by_name[path]
            assert result["mime_type"] == "image/png" and embedded(result).startswith(PNG)
            caption = (REPO / caption_file(name, plot)).read_text().split()[:3]
            assert " ".join(caption).replace("**", "") in re.sub(r"<[^>]+>", "", result["caption"])
    [page] = [by_name[p] for p in categories["Integrity"]["Verify, sources and versions"]]
    text = embedded(page).decode()
    manifest = read_manifest(store)["benchmarks"]
    for name in benchmarks:
        assert manifest[name]["raw"]["sha256"] in text
        for rel, info in manifest[name]["files"].items():
            assert rel in text and info["sha256"] in text
    return text


@pytest.fixture(scope="module")
def store(tmp_path_factory, nb101_store):
    return shared_store(tmp_path_factory, nb101_store)


@pytest.mark.slow
def test_report_command_from_a_store_alone(store, tmp_path, capsys):
    html = tmp_path / "out" / "report.html"
    assert main(["report", "--store-dir", str(store), "--output", str(html), "--cores", "2"]) == 0
    assert capsys.readouterr().out == f"wrote {html}\n"
    text = check_report(html, list(BENCHMARKS), store)
    assert "Verify: <span class='ok'>passed</span>" in text
    assert "nb201trialstats" in text and "not known here (the report was made from the store alone)" in text
    assert not list(store.rglob("*.png")), "nothing is written into the store"


@pytest.mark.slow
def test_report_target_of_the_workflow(workflow, nb101_raw, tmp_path):
    wf = workflow(benchmarks=["nasbench101"], sources={"nasbench101": {"path": str(nb101_raw)}},
                  nasbench101={"shards": 1})
    wf.run().check()
    html = tmp_path / "report.html"
    wf.run("report", "--report", str(html), "--report-after-run").check()
    text = check_report(html, ["nasbench101"], wf.store)
    assert "Verify: <span class='ok'>passed</span>" in text and f"local path {nb101_raw}" in text
    dry = wf.run("report", "-n").check()
    assert "Nothing to be done" in dry.output, "plots are redrawn only when the store is published again"


def test_write_report_refuses_a_missing_store(tmp_path, store):
    with pytest.raises(StoreNotFoundError, match="manifest.json does not exist: .* is not a built store"):
        write_report(tmp_path, tmp_path / "r.html")
    only = tmp_path / "only101"
    only.mkdir()
    (only / "manifest.json").write_text(json.dumps({"format": 1, "benchmarks": {}}))
    with pytest.raises(StoreNotFoundError, match="holds no benchmark, not nds; build it first"):
        write_report(only, tmp_path / "r.html", benchmarks=["nds"])
    assert issubclass(ReportError, Exception)


def test_every_plot_has_a_caption_and_every_caption_a_plot():
    wanted = {caption_file(b, p) for b in PLOTS for p in PLOTS[b]} | {"report/integrity.rst", "report/workflow.rst"}
    assert {p.relative_to(REPO).as_posix() for p in (REPO / "report").glob("*.rst")} == wanted
    assert set(PLOTS) == set(BENCHMARKS)


def test_plots_of_large_and_empty_data(tmp_path):
    """Above HEXBIN_ABOVE points a scatter becomes a hexbin; a panel without data says so."""
    rng = np.random.default_rng(0)
    n = plots.HEXBIN_ABOVE + 500
    full = pd.DataFrame({"parameters_mean": rng.uniform(0.2, 40, n), "test_acc_mean": rng.uniform(10, 95, n)})
    plt = plots.pyplot()
    fig, (ax,) = plots._grid(1)
    plots.scatter(ax, full["parameters_mean"], full["test_acc_mean"], log_x=True)
    assert ax.collections and type(ax.collections[0]).__name__ == "PolyCollection"   # hexbin
    plt.close(fig)
    plots.nb101_accuracy_vs_parameters(full, tmp_path / "big.png")
    empty = pd.DataFrame(columns=["config_id", "hash", "num_epochs", "valid_acc_mean", "test_acc_mean",
                                  "parameters_mean"])
    plots.nb101_accuracy_vs_parameters(empty, tmp_path / "a.png")
    plots.nb101_accuracy_distribution(empty, tmp_path / "b.png")
    plots.nb101_rank_correlation(empty, tmp_path / "c.png")
    for name in ("big", "a", "b", "c"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(PNG)


def test_plot_helpers():
    assert plots.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert plots.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert plots.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)   # 1 - 6*4/(5*24)
    assert np.isnan(plots.spearman([1, 2], [1, 2])) and np.isnan(plots.spearman([1, 1, 1], [1, 2, 3]))
    curve = pd.DataFrame({"valid_acc": [np.nan, np.nan, 5.0], "ori_test_acc": [1.0, 2.0, 3.0],
                          "test_acc": [np.nan, np.nan, 3.0]})
    assert plots.curve_metric(curve) == "ori_test_acc"
    assert plots.curve_metric(curve.assign(valid_acc=1.0)) == "valid_acc"
    fig, (ax,) = plots._grid(1)
    plots.edf(ax, [3.0, 1.0, 2.0, np.nan], "space")
    [line] = ax.lines
    assert list(line.get_xdata()) == [1.0, 1.0, 2.0, 3.0] and list(line.get_ydata()) == [0, 1 / 3, 2 / 3, 1]
    assert line.get_label() == "space (n=3)"
    plots.pyplot().close(fig)


def test_integrity_page_lists_problems_and_sources(store):
    problems = ["nds: nds/ndstrialstats.parquet does not match its sha256 <in SHA256SUMS>"]
    sources = {"nasbench101": {"url": "https://example.org/nasbench_full.tfrecord", "sha256": "ab" * 32},
               "nasbench201": {"gdrive_id": "XYZ", "md5": "cd" * 16}, "nds": {"path": "/data/data.zip"}}
    text = integrity.page(store, list(BENCHMARKS), problems, sources)
    assert "Verify: <span class='bad'>1 problem(s)</span>" in text
    assert "&lt;in SHA256SUMS&gt;" in text, "values are escaped"
    assert f"https://example.org/nasbench_full.tfrecord (sha256 {'ab' * 32})" in text
    assert f"Google Drive id XYZ (md5 {'cd' * 16})" in text and "local path /data/data.zip" in text
    assert "matplotlib" in text and "<td>python</td>" in text
    missing = integrity.page(store, ["nasbench101", "nds"], [], {})
    assert "Verify: <span class='ok'>passed</span>" in missing
