"""query_nb101_trial_stats on a store built by the real workflow: NNI's shapes and semantics."""
import shutil

import pytest

from nasbench_store.errors import QueryError, StoreNotFoundError
from nasbench_store.nasbench101 import (
    Nb101IntermediateStats,
    Nb101TrialConfig,
    Nb101TrialStats,
    query_nb101_trial_stats,
)

REF = {"op1": "conv3x3-bn-relu", "op2": "maxpool3x3", "op3": "conv3x3-bn-relu", "op4": "conv3x3-bn-relu",
       "op5": "conv1x1-bn-relu", "input1": [0], "input2": [1], "input3": [2], "input4": [0],
       "input5": [0, 3, 4], "input6": [2, 5]}
# the same cell with vertices 3 and 4 swapped (an isomorphic relabelling)
REF_SWAPPED = {"op1": "conv3x3-bn-relu", "op2": "maxpool3x3", "op3": "conv3x3-bn-relu", "op4": "conv3x3-bn-relu",
               "op5": "conv1x1-bn-relu", "input1": [0], "input2": [1], "input3": [0], "input4": [2],
               "input5": [0, 3, 4], "input6": [2, 5]}
STATS_KEYS = ["id", "config", "train_acc", "valid_acc", "test_acc", "parameters", "training_time"]


@pytest.fixture(autouse=True)
def store(nb101_store, monkeypatch):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(nb101_store))
    return nb101_store


def test_nni_dict_shape_and_ids():
    rows = list(query_nb101_trial_stats(REF, 108))
    assert [r["id"] for r in rows] == [10, 11, 12]
    assert list(rows[0]) == STATS_KEYS
    assert rows[0]["config"] == {"id": 4, "arch": REF, "num_vertices": 7,
                                 "hash": "00005c142e6f48ac74fdcf73e3439874", "num_epochs": 108}
    assert list(rows[0]["config"]["arch"]) == sorted(REF)
    assert all(0 <= r[k] <= 100 for r in rows for k in ("train_acc", "valid_acc", "test_acc"))


def test_isomorphism_matches_relabelled_and_unpruned_cells():
    assert [r["id"] for r in query_nb101_trial_stats(REF_SWAPPED, 108)] == [10, 11, 12]
    assert list(query_nb101_trial_stats(REF_SWAPPED, 108, isomorphism=False)) == []
    assert [r["id"] for r in query_nb101_trial_stats(REF, 108, isomorphism=False)] == [10, 11, 12]
    dangling = dict(REF, op6="maxpool3x3", input6=[0], input7=[2, 5])  # vertex 6 leads nowhere
    assert [r["id"] for r in query_nb101_trial_stats(dangling, 108)] == [10, 11, 12]


def test_wildcards_and_epochs():
    every = list(query_nb101_trial_stats(None, None))
    assert len(every) == 92 * 12 and [r["id"] for r in every] == list(range(1, len(every) + 1))
    assert len(list(query_nb101_trial_stats(REF, None))) == 12
    assert {r["config"]["num_epochs"] for r in query_nb101_trial_stats(None, 36)} == {36}


@pytest.mark.parametrize("epochs", [7, 0, 200, True, "seven", 108.5, [108]])
def test_epochs_outside_the_benchmark_say_what_is_valid(epochs):
    with pytest.raises(QueryError, match=r"NAS-Bench-101 has no .*-epoch runs; valid: 4, 12, 36, 108 or None"):
        query_nb101_trial_stats(REF, epochs)   # raised at the call, before the first row


def test_epochs_given_as_a_string_or_float_match_like_nnis_integer_column():
    ids = [r["id"] for r in query_nb101_trial_stats(REF, 108)]
    assert [r["id"] for r in query_nb101_trial_stats(REF, "108")] == ids
    assert [r["id"] for r in query_nb101_trial_stats(REF, 108.0)] == ids


def test_intermediates_in_one_go():
    rows = list(query_nb101_trial_stats(REF, 108, include_intermediates=True))
    inter = rows[0]["intermediates"]
    keys = ["id", "current_epoch", "train_acc", "valid_acc", "test_acc", "training_time"]
    assert [list(i) for i in inter] == [keys] * 2
    assert [(i["id"], i["current_epoch"]) for i in inter] == [(19, 54), (20, 108)]
    assert inter[1]["train_acc"] == rows[0]["train_acc"] and inter[1]["training_time"] == rows[0]["training_time"]


def test_mean_reduction():
    runs = list(query_nb101_trial_stats(REF, 108))
    (mean,) = query_nb101_trial_stats(REF, 108, reduction="mean", include_intermediates=True)
    assert mean["id"] is None and mean["num_trials"] == 3 and mean["config"]["id"] == 4
    for key in ("train_acc", "valid_acc", "test_acc", "parameters", "training_time"):
        assert mean[key] == pytest.approx(sum(r[key] for r in runs) / 3, rel=1e-12)
    assert [i["current_epoch"] for i in mean["intermediates"]] == [54, 108]
    assert mean["intermediates"][1]["valid_acc"] == pytest.approx(mean["valid_acc"])
    assert len(list(query_nb101_trial_stats(None, 108, reduction="mean"))) == 92
    assert list(query_nb101_trial_stats(REF, 108, reduction="none")) == runs


def test_bad_arguments():
    with pytest.raises(QueryError, match=r"Unsupported reduction: 'max'; valid reductions: None, 'none', 'mean'"):
        list(query_nb101_trial_stats(REF, 108, reduction="max"))
    assert issubclass(QueryError, ValueError)   # NNI raises ValueError here
    with pytest.raises(QueryError, match="valid ops"):
        list(query_nb101_trial_stats(dict(REF, op1="conv7x7"), 108))
    with pytest.raises(QueryError, match="not connected"):
        list(query_nb101_trial_stats({"op1": "maxpool3x3", "input1": [], "input2": [1]}, 108))


@pytest.mark.parametrize("isomorphism", [True, False])
def test_unknown_op_lists_the_valid_ops_with_or_without_isomorphism(isomorphism):
    with pytest.raises(QueryError, match=r"unknown NAS-Bench-101 op 'conv7x7'; valid ops: conv3x3-bn-relu, "
                                         r"conv1x1-bn-relu, maxpool3x3"):
        query_nb101_trial_stats(dict(REF, op3="conv7x7"), None, isomorphism=isomorphism)


def test_missing_store_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(tmp_path))
    with pytest.raises(StoreNotFoundError, match="nasbench101.db does not exist.*snakemake"):
        list(query_nb101_trial_stats(REF, 108))


def test_peewee_models_are_bound_to_the_store():
    config = Nb101TrialConfig.get(Nb101TrialConfig.hash == "00005c142e6f48ac74fdcf73e3439874",
                                  Nb101TrialConfig.num_epochs == 108)
    assert config.id == 4 and config.arch == REF
    assert [t.id for t in config.trial_stats] == [10, 11, 12]
    assert [i.current_epoch for i in config.trial_stats[0].intermediates] == [54, 108]
    assert Nb101TrialStats.select().count() == 92 * 12 and Nb101IntermediateStats.select().count() == 92 * 24
    # JSON equality the way NNI's JSONField compares it
    assert Nb101TrialConfig.select().where(Nb101TrialConfig.arch == REF).count() == 4


def test_replaced_store_is_picked_up_by_the_next_query(store, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    monkeypatch.setenv("NASBENCHMARK_DIR", str(copy))
    assert len(list(query_nb101_trial_stats(REF, 108))) == 3
    # a rebuild renames a new file into place; simulate one that holds no 108-epoch rows
    import sqlite3
    new = copy / "new.db"
    shutil.copy(copy / "nasbench101.db", new)
    with sqlite3.connect(new) as conn:
        conn.execute("DELETE FROM nb101trialstats WHERE config_id = 4")
    new.replace(copy / "nasbench101.db")
    assert list(query_nb101_trial_stats(REF, 108)) == []


def test_lookups_use_the_hash_index(store):
    """The store carries planner statistics (ANALYZE); without them SQLite picks the 4-valued
    num_epochs index and a lookup scans a quarter of the configs."""
    import sqlite3
    with sqlite3.connect(store / "nasbench101.db") as conn:
        plan = " ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT s.id FROM nb101trialstats s JOIN nb101trialconfig c ON s.config_id = c.id "
            "WHERE c.hash = ? AND c.num_epochs = ?", ("00005c142e6f48ac74fdcf73e3439874", 108)))
    assert "USING INDEX nb101trialconfig_hash" in plan, plan


def test_verify_finds_a_wrong_hash_even_when_the_checksums_agree(store, tmp_path):
    """Invariants are checked beyond the sha256s: a converter bug that wrote a wrong hash and then
    checksummed its own output is still caught (the hash is recomputed from the stored arch)."""
    import json
    import sqlite3

    from nasbench_store.manifest import publish, read_manifest
    from nasbench_store.verify import verify_store
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    assert verify_store(copy) == []
    db = copy / "nasbench101.db"
    built = tmp_path / "built.db"
    shutil.copy(db, built)
    with sqlite3.connect(built) as conn:
        conn.execute("UPDATE nb101trialconfig SET hash = 'ffffffffffffffffffffffffffffffff' WHERE id = 4")
        conn.execute("UPDATE nb101trialstats SET valid_acc = 101 WHERE id = 10")
    entry = read_manifest(copy)["benchmarks"]["nasbench101"]
    files = {rel: copy / rel for rel in entry["files"]}
    files["nasbench101.db"] = built
    publish(copy, "nasbench101", files, entry["raw"])
    problems = verify_store(copy)
    assert any("stored hash differs from the recomputed one" in p for p in problems), problems
    assert any("trial accuracies in [0, 100]" in p for p in problems), problems
    assert any("Parquet and SQLite differ" in p and "valid_acc" in p for p in problems), problems
    assert json.loads((copy / "manifest.json").read_text())  # still a readable manifest


def _general_path(arch):
    """canonical_cell as the general (pre-fast-path) code computes it: (hash, already pruned) or the error."""
    from nasbench_store.nasbench101 import graph
    try:
        matrix, ops = graph.arch_to_spec(arch)
        if any(matrix[i][j] for i in range(len(ops)) for j in range(i + 1)):
            raise QueryError("the arch lists an input that is not an earlier vertex; "
                             "edges must go from lower to higher vertices")
        graph.labels_of(ops)
        pruned, pruned_ops = graph.prune(matrix, ops)
        graph.check_spec(pruned, pruned_ops)
        return graph.spec_hash(pruned, pruned_ops), len(pruned_ops) == len(ops)
    except QueryError as exc:
        return str(exc)


def _random_arch(rng):
    ops = ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]
    n = rng.randint(2, 8)
    arch = {f"op{i}": rng.choice(ops) if rng.random() > 0.03 else "conv7x7" for i in range(1, n - 1)}
    for i in range(1, n):
        inputs = [k for k in range(i) if rng.random() < 0.45] or ([rng.randrange(i)] if rng.random() < 0.9 else [])
        if rng.random() < 0.03:
            inputs.append(rng.choice([i, n + 1, True, 1.0]))
        if rng.random() < 0.05:
            inputs = inputs[::-1] + inputs[:1]   # unsorted, duplicated
        arch[f"input{i}"] = tuple(inputs) if rng.random() < 0.05 else inputs
    if rng.random() < 0.03:
        del arch[rng.choice(list(arch))]
    return arch


def test_canonical_cell_fast_path_equals_the_general_path():
    import random

    from nasbench_store.nasbench101 import graph
    rng = random.Random(7)
    fast = 0
    for _ in range(5000):
        arch = _random_arch(rng)
        fast += graph._pruned_cell_fast(arch) is not None
        want = _general_path(arch)
        try:
            adjacency, labels, as_given = graph.canonical_cell(arch)
            got = graph.hash_adjacency(adjacency, labels), as_given
            assert graph.canonical_hash(arch) == got[0]
        except QueryError as exc:
            got = str(exc)
        assert got == want, arch
    assert 1000 < fast < 4500   # both paths are exercised


def _relabelled(arch, rng):
    """The same cell in another topological vertex order (input first, output last)."""
    from nasbench_store.nasbench101 import graph
    matrix, ops = graph.arch_to_spec(arch)
    n = len(ops)
    order, placed = [0], {0}
    while len(order) < n - 1:
        ready = [v for v in range(1, n - 1) if v not in placed and all(matrix[u][v] == 0 or u in placed
                                                                          for u in range(n))]
        order.append(rng.choice(ready))
        placed.add(order[-1])
    order.append(n - 1)
    new = [[matrix[a][b] for b in order] for a in order]
    return graph.spec_to_arch(new, [ops[v] for v in order])


def test_stored_vertex_order_and_any_other_find_the_same_rows(store):
    """Lookups by stored arch text (no hashing) and by hash (any other vertex order) agree on every cell."""
    import json
    import random
    import sqlite3

    from nasbench_store.database import json_text
    from nasbench_store.nasbench101.query import _stored_text
    rng = random.Random(3)
    with sqlite3.connect(store / "nasbench101.db") as conn:
        configs = conn.execute("SELECT hash, arch FROM nb101trialconfig WHERE num_epochs = 36").fetchall()
        by_hash = {(h, e): [r[0] for r in conn.execute(
            "SELECT s.id FROM nb101trialstats s JOIN nb101trialconfig c ON s.config_id = c.id WHERE c.hash = ? "
            "AND (? IS NULL OR c.num_epochs = ?) ORDER BY s.id", (h, e, e))] for h, _ in configs for e in (None, 36)}
    moved = 0
    for h, text in configs:
        arch = json.loads(text)
        assert _stored_text(arch) == text == json_text(arch)
        other = _relabelled(arch, rng)
        moved += other != arch
        for a in (arch, other):
            for epochs in (None, 36):
                rows = list(query_nb101_trial_stats(a, epochs, include_intermediates=True))
                assert {r["config"]["hash"] for r in rows} == {h}
                assert [r["id"] for r in rows] == by_hash[h, epochs]
                assert len(rows) == (12 if epochs is None else 3)
            mean = list(query_nb101_trial_stats(a, None, reduction="mean"))
            assert [m["config"]["num_epochs"] for m in mean] == [4, 12, 36, 108]
        assert list(query_nb101_trial_stats(other, None)) == list(query_nb101_trial_stats(arch, None))
    assert moved >= 5   # the fixture's cells are small: few have another vertex order
