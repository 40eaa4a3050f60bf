"""`nasbench-store query`: NNI's filters as options, three output formats, errors, and SQL over Parquet.

The rows are compared with the Python query functions' on the same stores (those are tested against
NNI elsewhere): the command line must add nothing and lose nothing.
"""
from __future__ import annotations

import csv
import inspect
import io
import json
import math
import sys

import pytest
from helpers.cli import run_cli, table_rows
from helpers.nds import build as build_nds
from helpers.nds import hand_archive

from nasbench_store import cli_query
from nasbench_store.errors import QueryError
from nasbench_store.nasbench101 import query_nb101_trial_stats
from nasbench_store.nasbench101.graph import arch_to_spec
from nasbench_store.nasbench101.query import REFERENCE_ARCH
from nasbench_store.nasbench201 import query_nb201_trial_stats
from nasbench_store.nasbench201 import synthetic as nb201_fx
from nasbench_store.nasbench201.convert import convert as convert_nb201
from nasbench_store.nds import query_nds_trial_stats
from nasbench_store.registry import BENCHMARKS

NB201_ARCH = nb201_fx.REFERENCE_ARCHS[0]
BASIC_SPEC = {"ws": [16, 24, 24, 40], "ss": [1, 1, 2, 2], "ds": [1, 12, 12, 12]}


@pytest.fixture(autouse=True)
def no_store_env(monkeypatch):
    monkeypatch.delenv("NASBENCHMARK_DIR", raising=False)


@pytest.fixture(scope="module")
def nb201_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli-nb201")
    raw = nb201_fx.write_nats_tss_archive(tmp / "n.tar", 5, seed=11, arch_indexes=[0, 1, 3])
    convert_nb201(raw, tmp / "store" / "nasbench201.db", tmp / "store" / "nasbench201", work_dir=tmp)
    return tmp / "store"


@pytest.fixture(scope="module")
def nds_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli-nds")
    out, _ = build_nds(tmp, hand_archive(tmp / "data.zip"))
    return out


def python_rows(monkeypatch, store, fn, *args, **kwargs) -> list[dict]:
    monkeypatch.setenv("NASBENCHMARK_DIR", str(store))
    rows = list(fn(*args, **kwargs))
    monkeypatch.delenv("NASBENCHMARK_DIR")
    return rows


def clean(value):
    """What JSON makes of a row: NaN is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def jsonl(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


# --- NAS-Bench-101 -------------------------------------------------------------------------------

def test_nb101_jsonl_is_nnis_dicts(capsys, monkeypatch, nb101_store):
    expected = python_rows(monkeypatch, nb101_store, query_nb101_trial_stats, REFERENCE_ARCH, 108)
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--arch", json.dumps(REFERENCE_ARCH),
                "--epochs", "108", "--format", "jsonl")
    assert r.code == 0, r.err
    assert jsonl(r.out) == expected and len(expected) == 3


def test_nb101_table(capsys, monkeypatch, nb101_store):
    expected = python_rows(monkeypatch, nb101_store, query_nb101_trial_stats, REFERENCE_ARCH, None)
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--arch", json.dumps(REFERENCE_ARCH))
    assert r.code == 0, r.err
    rows = table_rows(r.out)
    assert list(rows[0]) == ["id", "config.id", "config.arch", "config.num_vertices", "config.hash",
                             "config.num_epochs", "train_acc", "valid_acc", "test_acc", "parameters", "training_time"]
    assert len(rows) == len(expected) == 12  # 4 budgets x 3 runs
    for row, want in zip(rows, expected):
        assert row["id"] == str(want["id"]) and row["config.hash"] == want["config"]["hash"]
        assert row["config.num_epochs"] == str(want["config"]["num_epochs"])
        assert float(row["valid_acc"]) == pytest.approx(want["valid_acc"], rel=1e-5)  # 6 significant digits
        arch = json.dumps(want["config"]["arch"], separators=(",", ":"))
        assert row["config.arch"] == arch[:59] + "…"  # long cells are cut in the table only
    widths = {len(line) for line in r.out.splitlines()}
    assert len(widths) == 1, "the last column (numbers, right-aligned) ends at the same place on every line"


def test_nb101_csv(capsys, monkeypatch, nb101_store):
    expected = python_rows(monkeypatch, nb101_store, query_nb101_trial_stats, None, 108, reduction="mean")
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--epochs", "108",
                "--reduction", "mean", "--format", "csv")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert len(rows) == len(expected) > 50
    for row, want in zip(rows, expected):
        assert row["id"] == "" and row["num_trials"] == str(want["num_trials"])
        assert json.loads(row["config.arch"]) == want["config"]["arch"]
        assert float(row["test_acc"]) == want["test_acc"]  # full precision in csv
        assert row["config.hash"] == want["config"]["hash"]


def test_nb101_matrix_and_ops_find_the_same_cell(capsys, monkeypatch, nb101_store):
    matrix, ops = arch_to_spec(REFERENCE_ARCH)
    expected = python_rows(monkeypatch, nb101_store, query_nb101_trial_stats, REFERENCE_ARCH, 108,
                           reduction="mean", include_intermediates=True)
    for arch in (REFERENCE_ARCH, {"matrix": matrix, "ops": ops}):
        r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--arch", json.dumps(arch),
                    "--epochs", "108", "--reduction", "mean", "--intermediates", "--format", "jsonl")
        assert r.code == 0, r.err
        assert jsonl(r.out) == expected
        assert [i["current_epoch"] for i in jsonl(r.out)[0]["intermediates"]] == [54, 108]


def test_nb101_no_isomorphism_matches_the_arch_as_written(capsys, monkeypatch, nb101_store):
    # the same cell with its two middle vertices listed in the other order: equivalent, not identical
    arch = {"op1": "conv3x3-bn-relu", "op2": "maxpool3x3", "input1": [0], "input2": [0], "input3": [1, 2]}
    swapped = {"op1": "maxpool3x3", "op2": "conv3x3-bn-relu", "input1": [0], "input2": [0], "input3": [1, 2]}
    base = ("query", "nasbench101", "--store-dir", nb101_store, "--epochs", "4", "--format", "jsonl")
    iso = [jsonl(run_cli(capsys, *base, "--arch", json.dumps(a)).out) for a in (arch, swapped)]
    exact = [jsonl(run_cli(capsys, *base, "--arch", json.dumps(a), "--no-isomorphism").out) for a in (arch, swapped)]
    assert iso[0] == iso[1] and len(iso[0]) == 3
    assert sorted(map(len, exact)) == [0, 3]  # only the order the store holds matches exactly
    assert next(e for e in exact if e) == python_rows(monkeypatch, nb101_store, query_nb101_trial_stats,
                                                      next(a for a, e in zip((arch, swapped), exact) if e), 4,
                                                      isomorphism=False)


def test_limit(capsys, nb101_store):
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--limit", "2", "--format", "jsonl")
    assert r.code == 0 and [row["id"] for row in jsonl(r.out)] == [1, 2]


@pytest.mark.parametrize("args, call", [
    (["--epochs", "7"], lambda: query_nb101_trial_stats(None, 7)),
    (["--arch", json.dumps({"op1": "conv9x9", "input1": [0], "input2": [1]})],
     lambda: query_nb101_trial_stats({"op1": "conv9x9", "input1": [0], "input2": [1]}, None)),
    (["--arch", json.dumps({"op1": "maxpool3x3", "input1": [0], "input2": []})],  # nothing reaches the output
     lambda: query_nb101_trial_stats({"op1": "maxpool3x3", "input1": [0], "input2": []}, None)),
])
def test_query_errors_print_the_message_and_exit_1(capsys, monkeypatch, nb101_store, args, call):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(nb101_store))
    with pytest.raises(QueryError) as exc:
        list(call())
    monkeypatch.delenv("NASBENCHMARK_DIR")
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, *args)
    assert (r.code, r.out, r.err) == (1, "", f"error: {exc.value}\n")


@pytest.mark.parametrize("arch, message", [
    ("[1, 2]", "--arch must be a JSON object (NNI's dict, or {\"matrix\": ..., \"ops\": ...}), not list"),
    ('{"matrix": [[0, 1]], "ops": ["input", "output"]}', "--arch 'matrix' must be a 2x2 list of 0/1 rows"),
    ('{"matrix": [], "ops": "input"}', "--arch 'ops' must be a list of op names from 'input' to 'output'"),
])
def test_arch_of_the_wrong_shape(capsys, nb101_store, arch, message):
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--arch", arch)
    assert r.code == 1 and r.err.startswith(f"error: {message}")


def test_missing_store_names_the_build_command(capsys, tmp_path):
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", tmp_path, "--epochs", "108")
    assert r.code == 1
    assert f"{tmp_path / 'nasbench101.db'} does not exist" in r.err
    assert r.err.rstrip().endswith(f"build it: nasbench-store build nasbench101 --config store_dir={tmp_path}")


@pytest.mark.parametrize("args, usage", [
    (["--arch", "{not json"], "argument --arch: --arch is not valid JSON"),
    (["--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
    (["--reduction", "max"], "argument --reduction: invalid choice: 'max'"),
    (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
    (["--dataset", "cifar10"], "unrecognized arguments: --dataset cifar10"),  # an NB201/NDS filter
    (["--sql", "SELECT 1", "--epochs", "108"], "--sql runs the SQL as written: leave out the filters (--epochs)"),
    (["--limit", "-1"], "--limit must be 0 or more"),
])
def test_usage_errors_exit_2(capsys, nb101_store, args, usage):
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, *args)
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("usage: nasbench-store query nasbench101 ") and usage in r.err


def test_unknown_benchmark_is_a_usage_error(capsys):
    r = run_cli(capsys, "query", "nasbench999")
    assert r.code == 2 and "invalid choice: 'nasbench999'" in r.err


# --- SQL -----------------------------------------------------------------------------------------

def test_sql_over_parquet_views(capsys, monkeypatch, nb101_store):
    sql = ("SELECT c.num_epochs, COUNT(*) AS runs, AVG(s.valid_acc) AS mean_valid FROM nb101trialstats s "
           "JOIN nb101trialconfig c ON c.id = s.config_id GROUP BY 1 ORDER BY 1")
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--sql", sql, "--format", "jsonl")
    assert r.code == 0, r.err
    rows = jsonl(r.out)
    assert [row["num_epochs"] for row in rows] == [4, 12, 36, 108]
    for row in rows:
        trials = python_rows(monkeypatch, nb101_store, query_nb101_trial_stats, None, row["num_epochs"])
        assert row["runs"] == len(trials)
        assert row["mean_valid"] == pytest.approx(sum(t["valid_acc"] for t in trials) / len(trials))
    table = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--sql", sql)
    assert [r["num_epochs"] for r in table_rows(table.out)] == ["4", "12", "36", "108"]
    csv_out = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--sql", sql, "--format", "csv")
    assert csv_out.out.splitlines()[0] == "num_epochs,runs,mean_valid"


def test_sql_has_one_view_per_table_and_keeps_duplicate_column_names(capsys, nb101_store):
    sql = ("SELECT table_name FROM information_schema.tables ORDER BY 1")
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--sql", sql, "--format", "jsonl")
    assert [row["table_name"] for row in jsonl(r.out)] == sorted(cli_query.parquet_tables("nasbench101"))
    assert set(BENCHMARKS["nasbench101"].tables) <= set(cli_query.parquet_tables("nasbench101"))
    sql = "SELECT s.id, c.id FROM nb101trialstats s JOIN nb101trialconfig c ON c.id = s.config_id ORDER BY 1 LIMIT 1"
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--sql", sql, "--format", "jsonl")
    assert jsonl(r.out) == [{"id": 1, "id_2": 1}]


def test_sql_errors_and_missing_duckdb(capsys, monkeypatch, nb101_store, tmp_path):
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--sql", "SELECT * FROM nb201trialstats")
    assert r.code == 1 and r.err.startswith("error: SQL: Catalog Error") and "nb201trialstats" in r.err
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", tmp_path, "--sql", "SELECT 1")
    assert r.code == 1 and "there is no nasbench101 store in" in r.err and "nasbench-store build nasbench101" in r.err
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if not installed: import raises ImportError
    r = run_cli(capsys, "query", "nasbench101", "--store-dir", nb101_store, "--sql", "SELECT 1")
    assert (r.code, r.err) == (1, "error: --sql needs DuckDB, an optional dependency: pip install "
                                  "'nasbench-store[duckdb]' (or pip install duckdb)\n")


# --- NAS-Bench-201 and NDS -----------------------------------------------------------------------

def test_nb201_arch_string_and_dict(capsys, monkeypatch, nb201_store):
    expected = clean(python_rows(monkeypatch, nb201_store, query_nb201_trial_stats, NB201_ARCH, 200, "cifar100",
                                 reduction="mean", include_intermediates=True))
    assert expected and expected[0]["num_trials"] >= 1
    arch_dict = expected[0]["config"]["arch"]
    for arch in (NB201_ARCH, json.dumps(arch_dict)):
        r = run_cli(capsys, "query", "nasbench201", "--store-dir", nb201_store, "--arch", arch, "--epochs", "200",
                    "--dataset", "CIFAR100", "--reduction", "mean", "--intermediates", "--format", "jsonl")
        assert r.code == 0, r.err
        assert jsonl(r.out) == expected


def test_nb201_csv_and_table(capsys, monkeypatch, nb201_store):
    expected = python_rows(monkeypatch, nb201_store, query_nb201_trial_stats, None, 12, "cifar10-valid")
    args = ("query", "nasbench201", "--store-dir", nb201_store, "--epochs", "12", "--dataset", "cifar10-valid")
    rows = list(csv.DictReader(io.StringIO(run_cli(capsys, *args, "--format", "csv").out)))
    assert [int(row["id"]) for row in rows] == [t["id"] for t in expected] and expected
    assert [row["config.dataset"] for row in rows] == ["cifar10-valid"] * len(expected)
    table = table_rows(run_cli(capsys, *args).out)
    assert [row["seed"] for row in table] == [str(t["seed"]) for t in expected]


@pytest.mark.parametrize("args", [["--dataset", "cifar1000"], ["--epochs", "100"], ["--arch", "|conv~0|"]])
def test_nb201_errors(capsys, nb201_store, args):
    r = run_cli(capsys, "query", "nasbench201", "--store-dir", nb201_store, *args)
    assert r.code == 1 and r.out == ""
    assert r.err.startswith("error: ") and ("valid" in r.err or "is not a NAS-Bench-201 arch string" in r.err)


def test_nds_filters(capsys, monkeypatch, nds_store):
    expected = clean(python_rows(monkeypatch, nds_store, query_nds_trial_stats, "residual_basic", "resnet", None,
                                 BASIC_SPEC, {}, "cifar10", include_intermediates=True))
    assert expected
    r = run_cli(capsys, "query", "nds", "--store-dir", nds_store, "--model-family", "residual_basic",
                "--proposer", "resnet", "--model-spec", json.dumps(BASIC_SPEC), "--cell-spec", "{}",
                "--dataset", "cifar10", "--intermediates", "--format", "jsonl")
    assert r.code == 0, r.err
    assert jsonl(r.out) == expected
    every = python_rows(monkeypatch, nds_store, query_nds_trial_stats, None, None, "random", None, None, None,
                        num_epochs=3, reduction="mean")
    table = table_rows(run_cli(capsys, "query", "nds", "--store-dir", nds_store, "--generator", "random",
                               "--epochs", "3", "--reduction", "mean").out)
    assert [row["config.id"] for row in table] == [str(t["config"]["id"]) for t in every] and every
    assert [row["num_trials"] for row in table] == [str(t["num_trials"]) for t in every]


def test_nds_errors_list_the_valid_values(capsys, nds_store):
    r = run_cli(capsys, "query", "nds", "--store-dir", nds_store, "--proposer", "foo")
    assert r.code == 1 and r.err.startswith("error: proposer='foo' is not in NDS; use one of 'amoeba'")


# --- every benchmark, every parameter ------------------------------------------------------------

@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_options_cover_the_query_functions_parameters(capsys, name):
    """A benchmark added to the registry, or a parameter added to a query function, needs its option."""
    params = list(inspect.signature(BENCHMARKS[name].query_function).parameters)
    import argparse
    top = argparse.ArgumentParser()
    cli_query.add_parser(top.add_subparsers(), parents=[])
    args = top.parse_args(["query", name])
    assert set(params) <= set(vars(args)), f"no option for {set(params) - set(vars(args))}"
    assert {p: getattr(args, p) for p in params} == {p: cli_query.DEFAULTS.get(p) for p in params}
    r = run_cli(capsys, "query", name, "--help")
    assert r.code == 0 and f"NNI's {BENCHMARKS[name].query}()" in r.out.replace("\n", " ")
    assert f"nasbench-store query {name} " in r.out  # examples
