"""Bulk access beyond single tables: statistics over seeds, learning curves, architecture encodings,
DuckDB views; each checked against a plain pandas computation on the same store."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from helpers.stores import shared_store

from nasbench_store import frames
from nasbench_store.errors import QueryError, StoreNotFoundError
from nasbench_store.frames import DuckDBUnavailableError, architectures, curves, duckdb_connection, summary
from nasbench_store.nasbench101.graph import spec_hash, spec_to_arch
from nasbench_store.nasbench201.space import config_id, parse_arch_str
from nasbench_store.registry import BENCHMARKS


@pytest.fixture(scope="module")
def store(tmp_path_factory, nb101_store):
    return shared_store(tmp_path_factory, nb101_store)


def expected_summary(store, benchmark: str) -> pd.DataFrame:
    """What `summary` must give, computed by pandas' groupby on the joined runs."""
    runs = frames.trials(benchmark, store_dir=store)
    grouped = runs.groupby("config_id")
    out = pd.DataFrame({"num_trials": grouped.size()})
    for m in frames.metrics(benchmark):
        for stat in frames.STATS:
            out[f"{m}_{stat}"] = grouped[m].agg(stat)
    return out.reset_index()


@pytest.mark.parametrize("benchmark", list(BENCHMARKS))
def test_summary_equals_pandas_groupby_over_runs(store, benchmark):
    got = summary(benchmark, store_dir=store)
    want = expected_summary(store, benchmark)
    config_columns = [c if c != "id" else "config_id" for c in
                      frames.read_table(benchmark, BENCHMARKS[benchmark].tables[0], store_dir=store).columns]
    assert list(got.columns) == config_columns + list(want.columns[1:])
    assert list(got["config_id"]) == list(want["config_id"])   # ordered, only configs with runs
    pd.testing.assert_frame_equal(got[want.columns].reset_index(drop=True), want, check_exact=False, rtol=1e-12)
    assert got["num_trials"].sum() == len(frames.read_table(benchmark, BENCHMARKS[benchmark].tables[1],
                                                             columns=["id"], store_dir=store))


def test_summary_details(store):
    nb101 = summary("nasbench101", metrics="valid_acc", config_filters=[("num_epochs", "=", 108)],
                    config_columns=["hash"], store_dir=store)
    assert list(nb101.columns) == ["config_id", "hash", "num_trials", "valid_acc_mean", "valid_acc_std",
                                   "valid_acc_min", "valid_acc_max"]
    assert len(nb101) == 92 and set(nb101["num_trials"]) == {3}
    ref = nb101[nb101["hash"] == "00005c142e6f48ac74fdcf73e3439874"].iloc[0]
    runs = frames.read_table("nasbench101", "nb101trialstats", filters=[("config_id", "=", int(ref["config_id"]))],
                             store_dir=store)["valid_acc"]
    assert ref["valid_acc_mean"] == pytest.approx(runs.mean()) and ref["valid_acc_std"] == pytest.approx(runs.std())
    # NB201: a single seed has std NaN; NULL losses are skipped, a config whose losses are all NULL gets NaN
    nb201 = summary("nasbench201", metrics=["train_loss", "test_acc"], store_dir=store)
    assert nb201.loc[nb201["num_trials"] == 1, "test_acc_std"].isna().all()
    runs = frames.read_table("nasbench201", "nb201trialstats", store_dir=store)
    assert runs["train_loss"].isna().any()
    by_config = runs.groupby("config_id")["train_loss"].mean()
    np.testing.assert_allclose(nb201.set_index("config_id")["train_loss_mean"], by_config.loc[nb201["config_id"]])
    # untrained architecture 4 has configs but no runs, so no rows
    assert not set(nb201["config_id"]) & {config_id(4, e, "cifar10") for e in (12, 200)}


@pytest.mark.parametrize("kwargs, message", [
    ({"metrics": "accuracy"}, "nasbench101 trials have no metric 'accuracy'; valid metrics: train_acc, valid_acc, "
                              "test_acc, parameters, training_time$"),
    ({"metrics": []}, "no metric '\\(none given\\)'"),
    ({"config_filters": [("epochs", "=", 4)]}, "nb101trialconfig has no column 'epochs'"),
    ({"config_columns": ["hash", "nope"]}, "nb101trialconfig has no column 'nope'"),
])
def test_summary_refuses_unknown_names(store, kwargs, message):
    with pytest.raises(QueryError, match=message):
        summary("nasbench101", store_dir=store, **kwargs)


def joined_points(store, benchmark: str) -> pd.DataFrame:
    """The intermediate table joined to runs by pandas, in (trial, epoch) order."""
    _, stats_table, inter_table = BENCHMARKS[benchmark].tables
    runs = frames.read_table(benchmark, stats_table, store_dir=store)
    points = frames.read_table(benchmark, inter_table, store_dir=store)
    keys = runs[[c for c in ("id", "config_id", "seed") if c in runs]].rename(columns={"id": "trial_id"})
    joined = points.merge(keys, on="trial_id")
    return joined.sort_values(["trial_id", "current_epoch"]).reset_index(drop=True)


@pytest.mark.parametrize("benchmark", list(BENCHMARKS))
def test_long_curves_are_the_intermediates_with_their_run(store, benchmark):
    got = curves(benchmark, store_dir=store)
    want = joined_points(store, benchmark)
    names = list(frames.metrics(benchmark, "intermediates"))
    ids = ["config_id", "trial_id", *(["seed"] if "seed" in want else [])]
    assert list(got.columns) == [*ids, "current_epoch", *names]
    pd.testing.assert_frame_equal(got, want[[*ids, "current_epoch", *names]], check_dtype=False)


@pytest.mark.parametrize("benchmark", list(BENCHMARKS))
def test_mean_curves_average_each_epoch_over_runs(store, benchmark):
    got = curves(benchmark, reduction="mean", store_dir=store)
    points = joined_points(store, benchmark)
    names = list(frames.metrics(benchmark, "intermediates"))
    grouped = points.groupby(["config_id", "current_epoch"])
    want = grouped[names].mean()
    want.insert(0, "num_trials", grouped.size())
    pd.testing.assert_frame_equal(got, want.reset_index(), check_dtype=False)


def test_wide_curves(store):
    one = curves("nasbench201", metrics="valid_acc", wide=True, config_filters=[("num_epochs", "=", 12)],
                 store_dir=store)
    assert list(one.columns) == list(range(1, 13)) and one.columns.name == "current_epoch"
    assert one.index.names == ["config_id", "trial_id"]
    long = curves("nasbench201", metrics=["valid_acc"], config_filters=[("num_epochs", "=", 12)], store_dir=store)
    assert len(one) == long["trial_id"].nunique()
    pivot = long.pivot(index=["config_id", "trial_id"], columns="current_epoch", values="valid_acc")
    pd.testing.assert_frame_equal(one, pivot, check_names=False)
    several = curves("nasbench101", metrics=["valid_acc", "test_acc"], reduction="mean", wide=True,
                     config_filters=[("num_epochs", "=", 108)], store_dir=store)
    assert list(several.columns) == [("valid_acc", 54), ("valid_acc", 108), ("test_acc", 54), ("test_acc", 108)]
    assert several.index.name == "config_id" and len(several) == 92
    s = summary("nasbench101", metrics="valid_acc", config_filters=[("num_epochs", "=", 108)], store_dir=store)
    np.testing.assert_allclose(several[("valid_acc", 108)], s.set_index("config_id")["valid_acc_mean"])


def test_curves_of_chosen_configs_and_bad_arguments(store):
    chosen = curves("nds", metrics="test_acc", config_filters=[("id", "in", [3, 1])], store_dir=store)
    assert set(chosen["config_id"]) == {1, 3}
    with pytest.raises(QueryError, match="unsupported reduction 'median'; valid: None, 'none', 'mean'"):
        curves("nds", reduction="median", store_dir=store)
    with pytest.raises(QueryError, match="nds intermediates have no metric 'valid_acc'; valid metrics: "
                                         "train_loss, train_acc, test_acc"):
        curves("nds", metrics="valid_acc", store_dir=store)


def test_nb101_encodings(store):
    archs = architectures("nasbench101", store_dir=store)
    assert list(archs.columns) == ["config_id", "arch", "matrix", "ops", "num_vertices", "hash", "num_epochs"]
    assert len(archs) == 92 * 4
    for row in archs.itertuples():
        assert spec_to_arch(row.matrix, row.ops) == row.arch
        assert spec_hash(row.matrix, row.ops) == row.hash and len(row.ops) == row.num_vertices
        assert row.ops[0] == "input" and row.ops[-1] == "output"


def test_nb201_encodings(store):
    archs = architectures("nasbench201", config_filters=[("dataset", "=", "cifar100")], store_dir=store)
    assert list(archs.columns)[:4] == ["config_id", "arch_index", "arch", "arch_str"]
    assert len(archs) == 6 * 2   # every meta arch x {12, 200}, trained or not
    for row in archs.itertuples():
        assert parse_arch_str(row.arch_str) == row.arch
        assert config_id(row.arch_index, row.num_epochs, row.dataset) == row.config_id
    meta = frames.read_table("nasbench201", "nb201trialconfig", store_dir=store)
    assert sorted(archs["arch_index"].unique()) == list(range(len(meta) // 8))


def test_nds_encodings(store):
    archs = architectures("nds", store_dir=store)
    raw = frames.read_table("nds", "ndstrialconfig", store_dir=store)
    assert len(archs) == len(raw) and all(isinstance(s, dict) for s in archs["model_spec"])
    cells = archs[archs["model_family"] == "nas_cell"]
    assert all("normal_0_op_x" in c for c in cells["cell_spec"])
    assert all(c == {} for c in archs.loc[archs["model_family"] != "nas_cell", "cell_spec"])


def test_grouping_of_unsorted_keys():
    rng = np.random.default_rng(1)
    major, minor = rng.integers(0, 5, 200), rng.integers(0, 3, 200)
    values = rng.random(200)
    values[::7] = np.nan
    order, starts = frames._groups(major, minor)
    assert order is not None
    reduced = frames._reduce(values[order], starts, frames.STATS)
    want = pd.DataFrame({"a": major, "b": minor, "v": values}).groupby(["a", "b"])["v"]
    for stat in frames.STATS:
        np.testing.assert_allclose(reduced[stat], want.agg(stat).to_numpy())
    ordered, starts = frames._groups(np.array([1, 1, 2, 2]), np.array([3, 4, 1, 2]))
    assert ordered is None and list(starts) == [0, 1, 2, 3]


def test_duckdb_views(store):
    pytest.importorskip("duckdb")
    con = duckdb_connection(store_dir=store)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert {t for b in BENCHMARKS.values() for t in b.stored_tables} == views   # NNI's tables and the extra ones
    rows = con.sql("SELECT c.num_epochs, count(*) FROM nb101trialstats s JOIN nb101trialconfig c ON c.id = s.config_id "
                   "GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [(4, 276), (12, 276), (36, 276), (108, 276)]
    one = duckdb_connection("nds", store_dir=store)
    assert one.execute("SELECT count(*) FROM ndstrialstats").fetchone()[0] == len(
        frames.read_table("nds", "ndstrialstats", columns=["id"], store_dir=store))


def test_duckdb_missing_or_no_store(store, tmp_path, monkeypatch):
    with pytest.raises(StoreNotFoundError, match="no benchmark's Parquet files are in"):
        duckdb_connection(store_dir=tmp_path)
    monkeypatch.setitem(sys.modules, "duckdb", None)   # import duckdb now raises ImportError
    with pytest.raises(DuckDBUnavailableError, match=r"pip install 'nasbench-store\[duckdb\]'"):
        duckdb_connection(store_dir=store)


@pytest.mark.parametrize("columns, filters", [
    (None, [("num_epochs", "=", 108)]),
    (["hash"], [("num_epochs", "in", [4, 36])]),   # a filter column that is not read
    (["num_epochs", "id"], [[("id", "<", 20)], [("num_vertices", ">=", 6), ("num_epochs", "!=", 4)]]),
    (None, [("id", ">", 10**9)]),   # no row group can match: empty, with the schema
    (None, pc.field("hash") == "00005c142e6f48ac74fdcf73e3439874"),
])
def test_filtered_reads_equal_parquets_own(store, columns, filters):
    path = store / BENCHMARKS["nasbench101"].parquet_file("nb101trialconfig")
    expression = filters if isinstance(filters, pc.Expression) else pq.filters_to_expression(filters)
    got = frames.read_arrow("nasbench101", "nb101trialconfig", columns=columns, filters=filters, store_dir=store)
    want = pq.read_table(path, columns=columns, filters=expression)
    assert got.equals(want, check_metadata=True)
    assert got.schema.metadata == pq.read_schema(path).metadata


@pytest.mark.parametrize("keys, values", [
    ([1, 5, 3, 3, 9], [3, 9, 11]),
    ([1, 5, 3, 3, 900], [3, 5]),           # keys beyond the largest value
    ([1, 5, 3, None, 9], [3, 9]),          # nulls: Arrow's own
    ([-2, 5, 3], [3, -2]),                 # negative ids: Arrow's own
    ([1, 5, 10**12], [10**12]),            # sparse: Arrow's own
    ([1, 2, 3], []),
    ([], [1]),
])
def test_membership_equals_arrows_is_in(keys, values):
    column = pa.chunked_array([pa.array(keys[:2], pa.int64()), pa.array(keys[2:], pa.int64())])
    for given in (values, pa.array(values, pa.int64()), pa.chunked_array([pa.array(values, pa.int64())])):
        for part in (column, *column.chunks):
            got = frames._membership(given)(part)
            assert got.to_pylist() == pc.is_in(part, value_set=pa.array(values, pa.int64())).to_pylist()


@pytest.mark.parametrize("size", range(1, 10))
def test_equal_groups_reduce_to_the_same_bits_as_the_general_path(size):
    rng = np.random.default_rng(size)
    values = rng.normal(50, 20, 300 * size) * 10.0 ** rng.integers(-3, 4, 300 * size)
    starts = np.arange(0, len(values), size)
    got = frames._reduce(values, starts, frames.STATS)
    present = np.ones(len(values), dtype=bool)
    count = np.add.reduceat(present.astype(np.int64), starts)
    mean = np.add.reduceat(values, starts) / count
    deviation = values - np.repeat(mean, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.where(count > 1, np.sqrt(np.add.reduceat(deviation * deviation, starts) / np.maximum(count - 1, 1)),
                       np.nan)
    want = {"mean": mean, "std": std, "min": np.fmin.reduceat(values, starts), "max": np.fmax.reduceat(values, starts)}
    for stat in frames.STATS:
        np.testing.assert_array_equal(got[stat], want[stat], strict=True)
    values[3] = np.nan   # NaN: the general path, which skips it
    assert np.isnan(frames._reduce(values, starts, ("mean",))["mean"]).sum() == (size == 1)


def test_many_configs_read_their_runs_by_lookup_with_the_same_result(store, monkeypatch):
    """Beyond PUSHDOWN_VALUES configs, runs are read whole and kept by a lookup per batch (and the
    config table is read alongside): the same frames as with the selective scan."""
    calls = [
        lambda: summary("nasbench101", config_filters=[("num_epochs", "in", [4, 108])], store_dir=store),
        lambda: summary("nasbench201", metrics=["train_loss"], config_filters=[("dataset", "=", "cifar100")],
                        store_dir=store),
        lambda: frames.trials("nds", config_filters=[("generator", "!=", "fix_w_d")], store_dir=store),
        lambda: curves("nasbench101", config_filters=[("num_vertices", ">", 4)], reduction="mean", store_dir=store),
        lambda: curves("nasbench201", config_filters=[("num_epochs", "=", 12)], store_dir=store),
    ]
    selective = [call() for call in calls]
    monkeypatch.setattr(frames, "PUSHDOWN_VALUES", 3)
    for want, call in zip(selective, calls):
        assert len(want) > 3
        pd.testing.assert_frame_equal(call(), want, check_exact=True)
