"""Stores are opened read-only whatever their path holds, and only when their tables are tables."""
from __future__ import annotations

import shutil
import sqlite3

import pytest

from nasbench_store.database import connect_readonly, readonly_uri
from nasbench_store.errors import DamagedStoreError
from nasbench_store.nasbench101 import Nb101TrialStats, query_nb101_trial_stats
from nasbench_store.verify import verify_store

REF = {"op1": "conv3x3-bn-relu", "op2": "maxpool3x3", "op3": "conv3x3-bn-relu", "op4": "conv3x3-bn-relu",
       "op5": "conv1x1-bn-relu", "input1": [0], "input2": [1], "input3": [2], "input4": [0],
       "input5": [0, 3, 4], "input6": [2, 5]}


@pytest.mark.parametrize("name", ["a?b", "a#b", "a%20b", "a%3Fb", "a b"])
def test_uri_opens_exactly_that_file_read_only(tmp_path, name):
    path = tmp_path / name / "x.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (v)")
    conn = connect_readonly(path)
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.db"]  # nothing else was created
    with pytest.raises(sqlite3.OperationalError):
        connect_readonly(tmp_path / name / "missing.db").execute("SELECT 1")
    assert not (tmp_path / name / "missing.db").exists()
    assert readonly_uri(path).endswith("?mode=ro") and "?" not in readonly_uri(path)[:-8]


@pytest.mark.slow
def test_a_store_dir_with_uri_characters_builds_verifies_and_answers(workflow, nb101_raw, tmp_path, monkeypatch):
    store = tmp_path / "odd?dir#1%41"
    wf = workflow(store_dir=str(store), benchmarks=["nasbench101"],
                  sources={"nasbench101": {"path": str(nb101_raw)}}, nasbench101={"shards": 2})
    wf.run().check()
    wf.run("verify").check()
    assert verify_store(store) == []
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith(".")) == [
        "SHA256SUMS", "manifest.json", "nasbench101", "nasbench101.db"]
    monkeypatch.setenv("NASBENCHMARK_DIR", str(store))
    assert len(list(query_nb101_trial_stats(REF, 108))) == 3


def test_a_view_in_place_of_a_table_is_refused(tmp_path, nb101_store, monkeypatch):
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(nb101_store / "nasbench101.db", store / "nasbench101.db")
    (store / "nasbench101.db").chmod(0o644)
    with sqlite3.connect(store / "nasbench101.db") as conn:
        conn.execute("ALTER TABLE nb101trialstats RENAME TO real_stats")
        conn.execute("CREATE VIEW nb101trialstats AS SELECT id, config_id, 100.0 AS train_acc, 100.0 AS valid_acc, "
                     "100.0 AS test_acc, parameters, training_time FROM real_stats")
    monkeypatch.setenv("NASBENCHMARK_DIR", str(store))
    with pytest.raises(DamagedStoreError, match="nb101trialstats is a view, not a table"):
        list(query_nb101_trial_stats(REF, 108))
    database = Nb101TrialStats._meta.database
    database.close()  # the models' connection opens on first use: an earlier test may have opened it
    try:
        with pytest.raises(DamagedStoreError, match="nb101trialstats is a view, not a table"):
            Nb101TrialStats.select().count()
    finally:
        database.close()
