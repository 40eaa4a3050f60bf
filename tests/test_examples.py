"""The scripts in examples/ run as a researcher runs them (a fresh Python process, `--store-dir`) on the
fixture stores, and print what an independent computation on the same tables gives."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import REPO
from helpers.stores import shared_store

from nasbench_store import frames

EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def store(tmp_path_factory, nb101_store):
    return shared_store(tmp_path_factory, nb101_store)


def run(script: str, *args, capsys=None) -> str:
    """Run an example: its main(argv) in this process when `capsys` is given (quick), else as a script."""
    argv = [str(a) for a in args]
    if capsys is not None:
        spec = importlib.util.spec_from_file_location(f"example_{Path(script).stem}", EXAMPLES / script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        capsys.readouterr()
        module.main(argv)
        return capsys.readouterr().out
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *argv], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_every_example_is_tested():
    assert {p.name for p in EXAMPLES.glob("*.py")} == {
        "nb201_random_search.py", "accuracy_vs_parameters.py", "nb101_learning_curves.py"}


@pytest.mark.parametrize("dataset, budget", [("cifar100", 3), ("cifar10-valid", 50)])
def test_nb201_random_search(store, dataset, budget, capsys, monkeypatch):
    monkeypatch.delenv("NASBENCHMARK_DIR", raising=False)   # the script sets it from --store-dir
    out = run("nb201_random_search.py", "--store-dir", store, "--dataset", dataset, "--budget", budget, "--seed", 4,
              capsys=capsys)
    table = frames.summary("nasbench201", config_filters=[("num_epochs", "=", 200), ("dataset", "=", dataset)],
                           store_dir=store)
    table["arch_index"] = (table["config_id"] - 1) // 8
    by_index = table.set_index("arch_index")
    steps = [(int(i), float(v), float(b), int(bi)) for i, v, b, bi in re.findall(
        r"step +\d+: arch +(\d+) valid +([\d.]+) +best so far +([\d.]+) \(arch (\d+)\)", out)]
    assert len(steps) == min(budget, len(table))   # only trained architectures count; 5 in the fixture
    assert len({s[0] for s in steps}) == len(steps), "sampled without replacement"
    running = 0.0
    for index, valid, best, best_index in steps:
        assert valid == pytest.approx(by_index.loc[index, "valid_acc_mean"], abs=0.005)
        running = max(running, by_index.loc[index, "valid_acc_mean"])
        assert best == pytest.approx(running, abs=0.005)
        assert by_index.loc[best_index, "valid_acc_mean"] == pytest.approx(running)
    winner = by_index.loc[steps[-1][3]]
    arch_str = frames.architectures("nasbench201", config_filters=[("id", "=", int(winner["config_id"]))],
                                    store_dir=store)["arch_str"].iloc[0]
    assert f"best architecture: index {steps[-1][3]} {arch_str}\n" in out
    cost = by_index.loc[[s[0] for s in steps], "training_time_mean"].sum()
    assert (f"valid accuracy {winner['valid_acc_mean']:.2f} %, test accuracy {winner['test_acc_mean']:.2f} % "
            f"(mean over {winner['num_trials']} seeds), search cost {cost:.0f} s of training") in out


@pytest.mark.parametrize("benchmark, accuracy, filters", [
    ("nasbench101", "test_acc", [("num_epochs", "=", 108)]),
    ("nasbench201", "test_acc", [("num_epochs", "=", 200), ("dataset", "=", "cifar10-valid")]),
    ("nds", "best_test_acc", None),
])
def test_accuracy_vs_parameters(store, tmp_path, benchmark, accuracy, filters, capsys):
    png = tmp_path / "plot.png"
    out = run("accuracy_vs_parameters.py", "--benchmark", benchmark, "--store-dir", store, "--out", png, capsys=capsys)
    table = frames.trials(benchmark, config_filters=filters, store_dir=store).groupby("config_id")[
        [accuracy, "parameters"]].mean()
    rho = table["parameters"].rank().corr(table[accuracy].rank())
    assert out == (f"{benchmark}: {len(table)} architectures, Spearman rho(parameters, accuracy) = {rho:.3f}\n"
                   f"wrote {png}\n")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_nb101_learning_curves(store, tmp_path):
    png = tmp_path / "curves.png"
    out = run("nb101_learning_curves.py", "--store-dir", store, "--top", 2, "--out", png)   # as a script
    runs = frames.trials("nasbench101", store_dir=store)
    final = runs[runs["config_num_epochs"] == 108].groupby("config_hash")["valid_acc"].mean()
    best = final.sort_values(ascending=False).index[:2]
    points = frames.read_table("nasbench101", "nb101intermediatestats", store_dir=store).merge(
        runs[["id", "config_hash", "config_num_epochs"]].rename(columns={"id": "trial_id"}), on="trial_id")
    want = points[points["config_hash"].isin(best)].groupby(
        ["config_hash", "config_num_epochs", "current_epoch"])[["valid_acc", "test_acc"]].agg(["mean", "size"])
    lines = out.splitlines()
    assert lines[0].split() == ["cell", "(graph", "hash)", "budget", "epoch", "valid", "test", "runs"]
    rows = [line.split() for line in lines[1:-1]]
    assert len(rows) == 2 * 4 * 2 and lines[-1] == f"wrote {png}"   # 2 cells x 4 budgets x (halfway, final)
    assert [r[0] for r in rows] == [best[0]] * 8 + [best[1]] * 8
    for cell, budget, epoch, valid, test, count in rows:
        expected = want.loc[(cell, int(budget), int(epoch))]
        assert float(valid) == pytest.approx(expected[("valid_acc", "mean")], abs=0.005)
        assert float(test) == pytest.approx(expected[("test_acc", "mean")], abs=0.005)
        assert int(count) == expected[("valid_acc", "size")] == 3
    assert sorted({(int(r[1]), int(r[2])) for r in rows}) == [(4, 2), (4, 4), (12, 6), (12, 12), (36, 18), (36, 36),
                                                             (108, 54), (108, 108)]
    assert png.read_bytes().startswith(b"\x89PNG")
    assert isinstance(want, pd.DataFrame)


# --- the documentation's code and tables ----------------------------------------------------------

def python_blocks(path, start: str | None = None) -> list[str]:
    """The ```python blocks of a Markdown file (of the section headed `start`, if given)."""
    text = path.read_text()
    if start is not None:
        text = text[text.index(start):]
        text = text[:text.index("\n## ", len(start))]
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.mark.parametrize("page", ["README.md", "docs/nasbench101.md", "docs/nasbench201.md", "docs/nds.md"])
def test_documented_code_runs_on_the_fixture_store(store, page):
    pytest.importorskip("duckdb")
    start = "## Quick start for queries" if page == "README.md" else None
    blocks = python_blocks(REPO / page, start)
    assert len(blocks) >= 2
    # one process for the page: each block is run as a script of its own, its output after a marker
    marker = "=== next block ==="
    program = "\n".join(f"print({marker!r})\nexec(compile({block!r}, 'block {i}', 'exec'), {{'__name__': '__main__'}})"
                        for i, block in enumerate(blocks))
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={**os.environ, "NASBENCHMARK_DIR": str(store)})
    assert proc.returncode == 0, f"{page}:\n{proc.stdout}{proc.stderr}"
    outputs = proc.stdout.split(marker + "\n")[1:]
    assert len(outputs) == len(blocks)
    if page == "README.md":
        assert re.search(r"NB101 mean of 3 runs: [\d.]+ [\d.]+\nNB201 mean of \d seeds: [\d.]+\n"
                         r"NDS ResNeXt-A samples: 4 best: [\d.]+\n", outputs[0]), outputs[0]
        assert "num_epochs" in outputs[-1] and "mean_test_acc" in outputs[-1]


def documented_tables(path) -> dict[str, list[str]]:
    """{table: [column, ...]} of the '### `table`' sections of a page, from each column table's first cell."""
    tables = {}
    for name, body in re.findall(r"^### `(\w+)`\n(.*?)(?=^#|\Z)", path.read_text(), re.S | re.M):
        tables[name] = re.findall(r"^\| `(\w+)` \|", body, re.M)
    return tables


@pytest.mark.parametrize("benchmark", ["nasbench101", "nasbench201", "nds"])
def test_each_benchmark_page_lists_exactly_the_models_columns(benchmark):
    """docs/<benchmark>.md has a section for each table of the store (NNI's models and the extra ones)
    listing exactly its columns, in order, and no other table."""
    from nasbench_store.registry import get
    entry = get(benchmark)
    columns = {m._meta.table_name: [f.column_name for f in m._meta.sorted_fields]
               for m in (*entry.models, *entry.extra_models)}
    documented = documented_tables(REPO / "docs" / f"{benchmark}.md")
    assert set(documented) >= set(columns), f"docs/{benchmark}.md has no section for {set(columns) - set(documented)}"
    for table, listed in documented.items():
        assert table in columns, f"docs/{benchmark}.md documents {table}, which the {benchmark} store does not have"
        assert listed == columns[table], f"docs/{benchmark}.md, {table}: lists {listed}, the model has {columns[table]}"
