"""Bulk access: the Parquet tables as DataFrames, runs joined to their configs."""
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
