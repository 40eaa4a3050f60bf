"""NNI's own NAS-Bench-101 code (nni==3.0, in its own venv) reads our store and agrees with our queries.

The store is built from the project's fixture generator by the real workflow (conftest `nb101_store`).
NNI's query_nb101_trial_stats and peewee models run on it unchanged (tests/nni_oracle/run_nni_query.py).
Results must be equal exactly, in the same order, with the same dict key order, except for our
documented extensions: 'mean' adds `num_trials` and per-epoch averaged intermediates (NNI returns []),
and isomorphism=True prunes the cell before hashing (NNI hashes it as given and finds nothing).
"""
from __future__ import annotations

import itertools
import sqlite3

import pytest
from nni_oracle.oracle import check_mean_extras, mismatches, nni_python, results, run_both

from nasbench_store.nasbench101.query import query_nb101_trial_stats

REF = {"op1": "conv3x3-bn-relu", "op2": "maxpool3x3", "op3": "conv3x3-bn-relu", "op4": "conv3x3-bn-relu",
       "op5": "conv1x1-bn-relu", "input1": [0], "input2": [1], "input3": [2], "input4": [0],
       "input5": [0, 3, 4], "input6": [2, 5]}
REF_HASH = "00005c142e6f48ac74fdcf73e3439874"
REF_SWAPPED = dict(REF, input3=[0], input4=[2])  # vertices 3 and 4 swapped: isomorphic, not stored as such
DIAMOND = {"op1": "conv3x3-bn-relu", "op2": "maxpool3x3", "input1": [0], "input2": [0], "input3": [1, 2]}
DIAMOND_SWAPPED = dict(DIAMOND, op1="maxpool3x3", op2="conv3x3-bn-relu")
TWO_VERTICES = {"input1": [0]}
CHAIN = {"op1": "conv1x1-bn-relu", "input1": [0], "input2": [1]}
DANGLING = dict(REF, op6="maxpool3x3", input6=[0], input7=[2, 5])  # vertex 6 reaches no output: pruned

ARCHS = [REF, REF_SWAPPED, DIAMOND, DIAMOND_SWAPPED, TWO_VERTICES, CHAIN]
EPOCHS = [None, 4, 12, 36, 108]
REDUCTIONS = [None, "none", "mean"]
CALLS = [dict(arch=a, num_epochs=e, isomorphism=iso, reduction=r, include_intermediates=inter)
         for a, e, iso, r, inter in itertools.product(ARCHS, EPOCHS, [True, False], REDUCTIONS, [False, True])]
CALLS += [dict(arch=None, num_epochs=e, isomorphism=True, reduction=r, include_intermediates=inter)
          for e, r, inter in itertools.product(EPOCHS, REDUCTIONS, [False, True])
          if e in (None, 36) or not inter]  # NNI fetches intermediates with one query per trial: slow
CALLS += [dict(arch=None, num_epochs=None, isomorphism=False),  # NNI's positional defaults
          dict(arch=REF, num_epochs=108)]
CALLS += [dict(arch=dict(REF, input5=[4, 0, 3]), num_epochs=108, isomorphism=iso) for iso in (True, False)]
CALLS += [dict(arch=REF, num_epochs=e) for e in ("108", 108.0)]  # loose types: SQLite affinity decides
# Deliberate differences: where NNI matches nothing or raises a bare error, ours says what is valid.
INVALID = [dict(arch=REF, num_epochs=108, reduction="max"), dict(arch=dict(REF, op1="conv7x7"), num_epochs=108),
           dict(arch=REF, num_epochs=7), dict(arch=REF, num_epochs=True),
           dict(arch=dict(REF, op1="conv7x7"), num_epochs=108, isomorphism=False)]
SPECIAL = [dict(arch=DANGLING, num_epochs=108), *INVALID]
PROBES = [{"op": "count"}, {"op": "config", "where": {"hash": REF_HASH, "num_epochs": 108}}, {"op": "schema"},
          {"op": "hash_module"}]
TABLES = {"Nb101TrialConfig": "nb101trialconfig", "Nb101TrialStats": "nb101trialstats",
          "Nb101IntermediateStats": "nb101intermediatestats"}


@pytest.fixture(scope="module")
def run(request):
    """One NNI process for every call and probe, our results for the same calls, and the db hash
    before and after NNI opened it."""
    nni_python()  # skip before building the store
    return run_both(request.getfixturevalue("nb101_store"), "nasbench101", query_nb101_trial_stats,
                    CALLS + SPECIAL, PROBES)


def test_nni_version_and_file_left_unchanged(run):
    assert run["nni"]["versions"] == {"nni": "3.0", "peewee": "3.19.0"}
    assert run["sha_after"] == run["sha_before"]


def test_every_call_equals_nni_exactly_in_order(run):
    """Same rows, same values, same order (NNI has no ORDER BY; SQLite's plan yields id order on our
    store, which is ours), same key order; 'mean' equal once our extras are taken off."""
    n = len(CALLS)
    bad = mismatches(CALLS, run["nni"]["calls"][:n], run["ours"][:n])
    assert not bad, f"{len(bad)} of {n} calls differ; first: {bad[:3]}"


def test_the_grid_is_not_vacuous(run):
    counts = {i: len(r.get("rows", [])) for i, r in enumerate(run["nni"]["calls"][:len(CALLS)])}
    assert sum(counts.values()) > 10_000
    assert len(results(run, dict(arch=None, num_epochs=None, isomorphism=False))[0]["rows"]) == 92 * 12
    nni, _ = results(run, dict(arch=REF, num_epochs=108))
    assert [r["id"] for r in nni["rows"]] == [10, 11, 12] and nni["rows"][0]["config"]["hash"] == REF_HASH
    assert results(run, dict(arch=REF, num_epochs="108"))[0] == nni
    assert results(run, dict(arch=dict(REF, input5=[4, 0, 3]), num_epochs=108, isomorphism=True))[0] == nni
    # isomorphism matters in the grid: the swapped cells match by hash only
    for arch in (REF_SWAPPED, DIAMOND_SWAPPED):
        assert len(results(run, dict(arch=arch, num_epochs=None, isomorphism=True, reduction=None,
                                      include_intermediates=False))[0]["rows"]) == 12
        assert results(run, dict(arch=arch, num_epochs=None, isomorphism=False, reduction=None,
                                  include_intermediates=False))[0]["rows"] == []
    nni, _ = results(run, dict(arch=REF, num_epochs=108, isomorphism=True, reduction=None,
                                include_intermediates=True))
    assert [i["current_epoch"] for i in nni["rows"][0]["intermediates"]] == [54, 108]


def test_mean_extras_are_the_averages_of_nnis_own_trials(run):
    """Our 'mean' adds num_trials and averaged intermediates; both follow from NNI's per-trial rows."""
    n = len(CALLS)
    assert check_mean_extras(CALLS, run["nni"]["calls"][:n], run["ours"][:n]) > 300
    (mean,) = results(run, dict(arch=REF, num_epochs=108, isomorphism=True, reduction="mean",
                                 include_intermediates=True))[1]["rows"]
    assert mean["num_trials"] == 3 and [i["current_epoch"] for i in mean["intermediates"]] == [54, 108]


def test_training_time_is_seconds_in_both_tables(run):
    """NNI's db_gen multiplies the trial training_time by 60; our store does not, and NNI's query
    reads our value unchanged: the trial's time equals its final intermediate's time."""
    nni, _ = results(run, dict(arch=None, num_epochs=None, isomorphism=True, reduction=None,
                                include_intermediates=True))
    for row in nni["rows"]:
        assert row["training_time"] == row["intermediates"][-1]["training_time"]


def test_isomorphism_prunes_before_hashing_where_nni_does_not(run):
    """Deliberate difference: a cell with an extraneous vertex finds its pruned record in ours only."""
    nni, ours = results(run, dict(arch=DANGLING, num_epochs=108))
    nni_ref, _ = results(run, dict(arch=REF, num_epochs=108))
    assert nni == {"rows": []}
    assert ours == nni_ref and len(ours["rows"]) == 3


def test_errors(run):
    """Where NNI raises a bare error or silently matches nothing, ours raises QueryError (a ValueError, as
    NNI's reduction error is) listing what is valid."""
    nni, ours = results(run, dict(arch=REF, num_epochs=108, reduction="max"))
    assert nni == {"error": "ValueError", "message": "Unsupported reduction: 'max'"}
    assert ours["error"] == "QueryError" and ours["message"].startswith("Unsupported reduction: 'max'; valid")
    nni, ours = results(run, dict(arch=dict(REF, op1="conv7x7"), num_epochs=108))
    assert nni == {"error": "KeyError", "message": "'conv7x7'"}
    assert ours["error"] == "QueryError" and "conv7x7" in ours["message"]
    for call in (dict(arch=REF, num_epochs=7), dict(arch=REF, num_epochs=True),
                 dict(arch=dict(REF, op1="conv7x7"), num_epochs=108, isomorphism=False)):
        nni, ours = results(run, call)
        assert nni == {"rows": []}, call
        assert ours["error"] == "QueryError", (call, ours)
    assert "4, 12, 36, 108" in results(run, dict(arch=REF, num_epochs=7))[1]["message"]


def test_nni_models_read_the_file(run):
    """Raw selects through NNI's models: row counts, a config by hash, its trial_stats and intermediates backrefs."""
    counts, config, *_ = run["nni"]["probes"]
    with sqlite3.connect(f"file:{run['db']}?mode=ro", uri=True) as conn:
        assert counts == {m: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for m, t in TABLES.items()}
    assert counts == {"Nb101TrialConfig": 92 * 4, "Nb101TrialStats": 92 * 12, "Nb101IntermediateStats": 92 * 24}
    assert config["id"] == 4 and config["arch"] == REF and config["num_vertices"] == 7
    _, ours = results(run, dict(arch=REF, num_epochs=108, isomorphism=True, reduction=None,
                                 include_intermediates=True))
    assert [t["id"] for t in config["trial_stats"]] == [r["id"] for r in ours["rows"]] == [10, 11, 12]
    for trial, row in zip(config["trial_stats"], ours["rows"]):
        assert trial["config"] == 4
        assert {k: v for k, v in trial.items() if k not in ("config", "intermediates")} == {
            k: v for k, v in row.items() if k not in ("config", "intermediates")}
        assert [{k: v for k, v in i.items() if k != "trial"} for i in trial["intermediates"]] == row["intermediates"]
        assert {i["trial"] for i in trial["intermediates"]} == {trial["id"]}


def test_schema_is_exactly_what_nnis_models_create(run):
    """DDL text, columns (declared types, NOT NULL, primary key), foreign keys and every index equal
    what NNI's models create with peewee 3 (JSON columns declared JSON, not peewee 4's TEXT)."""
    schema = run["nni"]["probes"][2]
    assert schema["store_tables"] == sorted(TABLES.values())
    assert schema["store"] == schema["nni"]
    config = schema["store"]["nb101trialconfig"]
    assert config["columns"][1] == [1, "arch", "JSON", 1, None, 0]
    assert config["indexes"]["nb101trialconfig_hash"]["columns"] == ["hash"]


def test_nnis_graph_hash_of_every_stored_arch_is_its_stored_hash(run):
    """NNI's isomorphic lookup hashes the caller's arch with its own hash_module and compares it with
    the stored `hash`: for every config, NNI's hash of our stored arch must be our stored hash."""
    nni_hashes = run["nni"]["probes"][3]
    with sqlite3.connect(f"file:{run['db']}?mode=ro", uri=True) as conn:
        stored = {str(i): h for i, h in conn.execute("SELECT id, hash FROM nb101trialconfig")}
    assert nni_hashes == stored and len(stored) == 92 * 4
