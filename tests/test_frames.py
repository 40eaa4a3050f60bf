"""Bulk access: the Parquet tables as DataFrames, runs joined to their configs."""
import pyarrow.compute as pc
import pytest

from nasbench_store.errors import QueryError, StoreNotFoundError
from nasbench_store.frames import read_table, trials


def test_tables_and_joined_trials(nb101_store):
    configs = read_table("nasbench101", "nb101trialconfig", store_dir=nb101_store)
    assert len(configs) == 92 * 4 and list(configs.columns) == ["id", "arch", "num_vertices", "hash", "num_epochs"]
    runs = trials("nasbench101", config_filters=[("num_epochs", "=", 108)], store_dir=nb101_store)
    assert len(runs) == 92 * 3 and set(runs["config_num_epochs"]) == {108}
    ref = runs[runs["config_hash"] == "00005c142e6f48ac74fdcf73e3439874"]
    assert list(ref["id"]) == [10, 11, 12] and set(ref["config_id"]) == {4}


def test_bad_names_and_missing_store(nb101_store, tmp_path):
    with pytest.raises(QueryError, match="unknown benchmark 'nasbench102'; valid: nasbench101"):
        trials("nasbench102", store_dir=nb101_store)
    with pytest.raises(QueryError, match="has no table 'configs'"):
        read_table("nasbench101", "configs", store_dir=nb101_store)
    with pytest.raises(StoreNotFoundError, match="build the nds store first"):
        read_table("nds", "ndstrialconfig", store_dir=tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    ({"filters": [("epochs", "=", 108)]}, "nasbench101 table nb101trialconfig has no column 'epochs'"),
    ({"filters": [[("hash", "=", "x")], [("nope", "in", [1])]]}, "has no column 'nope'"),
    ({"columns": ["id", "config_hash"]}, "has no column 'config_hash'"),
    ({"filters": pc.field("epochs") == 108}, "has no column 'epochs'"),
])
def test_an_unknown_column_names_the_valid_ones(nb101_store, kwargs, message):
    with pytest.raises(QueryError, match=f"{message}; valid columns: id, arch, num_vertices, hash, num_epochs$"):
        read_table("nasbench101", "nb101trialconfig", store_dir=nb101_store, **kwargs)


def test_config_filters_of_trials_are_checked_against_the_config_table(nb101_store):
    with pytest.raises(QueryError, match="nb101trialconfig has no column 'config_num_epochs'; valid columns: id, "
                                         "arch, num_vertices, hash, num_epochs"):
        trials("nasbench101", config_filters=[("config_num_epochs", "=", 108)], store_dir=nb101_store)


@pytest.mark.parametrize("filters, message", [
    ([("num_epochs", "~", 108)], r"is not a filter .*op one of =, ==, .*; columns: id, arch, num_vertices"),
    ([("num_epochs", "=")], r"is not a filter .*; columns: id, arch"),
    ([("num_epochs", "=", "108")], r"a filter value does not fit its column's type .*num_epochs \(int64\)"),
])
def test_a_malformed_filter_is_a_query_error(nb101_store, filters, message):
    with pytest.raises(QueryError, match=message):
        read_table("nasbench101", "nb101trialconfig", filters=filters, store_dir=nb101_store)


def test_empty_filters_mean_no_filter(nb101_store):
    assert len(read_table("nasbench101", "nb101trialconfig", filters=[], store_dir=nb101_store)) == 92 * 4


def test_each_parquet_table_says_where_it_comes_from(nb101_store):
    """Provenance in every Parquet file's metadata: benchmark, raw input, version; verify compares it."""
    from nasbench_store import frames
    from nasbench_store.manifest import read_manifest

    entry = read_manifest(nb101_store)["benchmarks"]["nasbench101"]
    want = {"benchmark": "nasbench101", "raw_sha256": entry["raw"]["sha256"], "version": entry["version"]}
    assert frames.provenance("nasbench101", store_dir=nb101_store) == {
        t: want for t in ("nb101trialconfig", "nb101trialstats", "nb101intermediatestats")}
