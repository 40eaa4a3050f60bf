"""NNI's own NAS-Bench-201 code (nni==3.0, in its own venv) reads our store and agrees with our queries.

The store is converted from the project's fixture generator (a legacy-format .pth with 6 meta archs,
4 of them trained) by the project's converter. NNI's query_nb201_trial_stats and peewee models run
on it unchanged (tests/nni_oracle/run_nni_query.py). Results must be equal exactly, in the same
order, with the same key order, except for our documented extensions: 'mean' adds `num_trials` and
per-epoch averaged intermediates (NNI returns []); the arch string form is accepted; an unknown
operator, dataset or epoch count raises QueryError where NNI silently matches nothing.
"""
from __future__ import annotations

import itertools

import pytest
from nni_oracle.oracle import check_mean_extras, mismatches, nni_python, results, run_both

from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.convert import convert
from nasbench_store.nasbench201.query import query_nb201_trial_stats
from nasbench_store.nasbench201.space import parse_arch_str

NUM_ARCHS, SEED, TRAINED = 6, 5, [0, 1, 2, 4]
ARCH_STRS = fx.arch_strings(NUM_ARCHS, SEED)
ARCH0, ARCH3, ARCH4 = (parse_arch_str(ARCH_STRS[i]) for i in (0, 3, 4))  # 3 has configs but no trials
ARCH0_REVERSED = dict(reversed(list(ARCH0.items())))  # key order must not matter (NNI sorts keys)
DATASETS = [None, "cifar10-valid", "cifar10", "cifar100", "imagenet16-120"]
# NNI fetches intermediates with one query per trial and model_to_dict per epoch (~0.1 s per
# 200-epoch trial), so the grid asks for them only where every trial is covered once.
CALLS = [dict(arch=a, num_epochs=e, dataset=d, reduction=r, include_intermediates=False)
         for a, e, d, r in itertools.product([None, ARCH0, ARCH0_REVERSED, ARCH3, ARCH4], [None, 12, 200], DATASETS,
                                             [None, "none", "mean"])]
CALLS += [dict(arch=a, num_epochs=e, dataset=d, reduction=r, include_intermediates=True)
          for a, e, d in ((None, None, None), (ARCH0, 200, "cifar100"), (ARCH4, 12, None))
          for r in (None, "mean")]
CALLS += [dict(arch=None, num_epochs=None, dataset=None)]
# Our extensions: NNI matches nothing (or fails) where we answer or explain.
SPECIAL = [dict(arch=ARCH_STRS[0], num_epochs=200, dataset="cifar100"),
           dict(arch=dict(ARCH0, **{"0_1": "conv_5x5"}), num_epochs=200, dataset=None),
           dict(arch=None, num_epochs=200, dataset="imagenet16"),
           dict(arch=None, num_epochs=100, dataset=None)]
STRING_EPOCHS = dict(arch=ARCH0, num_epochs="200", dataset="cifar100")
RELEASE_SPELLING = dict(arch=ARCH0, num_epochs=200, dataset="ImageNet16-120")
SPECIAL += [STRING_EPOCHS, RELEASE_SPELLING, dict(arch=ARCH0, num_epochs=200, dataset="cifar100", reduction="max")]
PROBES = [{"op": "count"}, {"op": "config", "where": {"arch": ARCH0, "num_epochs": 200, "dataset": "cifar100"}},
          {"op": "schema"}]
TABLES = {"Nb201TrialConfig": "nb201trialconfig", "Nb201TrialStats": "nb201trialstats",
          "Nb201IntermediateStats": "nb201intermediatestats"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Build the store, then one NNI process for every call and probe, our results for the same
    calls, and the db hash before and after NNI opened it."""
    nni_python()  # skip before building the store
    tmp = tmp_path_factory.mktemp("nb201-nni")
    raw = fx.write_nb201_pth(tmp / "NAS-Bench-201-v1_1-096897.pth", NUM_ARCHS, SEED, TRAINED)
    store = tmp / "store"
    counts = convert(raw, store / "nasbench201.db", store, work_dir=tmp)
    return {**run_both(store, "nasbench201", query_nb201_trial_stats, CALLS + SPECIAL, PROBES), "counts": counts}


def test_nni_version_and_file_left_unchanged(run):
    assert run["nni"]["versions"] == {"nni": "3.0", "peewee": "3.19.0"}
    assert run["sha_after"] == run["sha_before"]


def test_every_call_equals_nni_exactly_in_order(run):
    """Same rows, values (NULL losses included), order, key order; 'mean' equal once our extras are off."""
    n = len(CALLS)
    bad = mismatches(CALLS, run["nni"]["calls"][:n], run["ours"][:n])
    assert not bad, f"{len(bad)} of {n} calls differ; first: {bad[:3]}"


def test_the_grid_is_not_vacuous(run):
    nni, _ = results(run, dict(arch=None, num_epochs=None, dataset=None))
    assert len(nni["rows"]) == run["counts"]["nb201trialstats"] > 40
    assert {r["config"]["dataset"] for r in nni["rows"]} == set(DATASETS[1:])
    assert {r["seed"] for r in nni["rows"]} >= {777, 888}
    losses = ("train_loss", "valid_loss", "test_loss", "ori_test_loss")
    assert any(r[k] is None for r in nni["rows"] for k in losses)  # NaN in the release -> NULL -> None
    nni, _ = results(run, dict(arch=ARCH0, num_epochs=200, dataset="cifar100", reduction=None,
                                include_intermediates=True))
    assert nni["rows"] and all(len(r["intermediates"]) > 100 for r in nni["rows"])
    assert results(run, dict(arch=ARCH3, num_epochs=None, dataset=None, reduction=None,
                              include_intermediates=False))[0] == {"rows": []}
    assert sum(len(r.get("rows", [])) for r in run["nni"]["calls"]) > 1000


def test_mean_extras_are_the_averages_of_nnis_own_trials(run):
    """Our 'mean' adds num_trials (seeds averaged) and averaged intermediates, both from NNI's rows;
    `seed` is None in the mean row for both."""
    n = len(CALLS)
    assert check_mean_extras(CALLS, run["nni"]["calls"][:n], run["ours"][:n]) > 20
    nni, ours = results(run, dict(arch=None, num_epochs=200, dataset=None, reduction="mean",
                                   include_intermediates=False))
    assert {r["seed"] for r in nni["rows"]} == {r["seed"] for r in ours["rows"]} == {None}
    assert {r["num_trials"] for r in ours["rows"]} > {1}


def test_our_extensions_where_nni_matches_nothing(run):
    """Deliberate differences: the arch string finds its rows; an unknown op, dataset or epoch count
    is a QueryError naming what is valid, where NNI returns []. A bad reduction is NNI's ValueError, ours
a QueryError (a ValueError) listing the valid ones."""
    nni, ours = results(run, dict(arch=ARCH_STRS[0], num_epochs=200, dataset="cifar100"))
    nni_dict, _ = results(run, dict(arch=ARCH0, num_epochs=200, dataset="cifar100", reduction=None,
                                     include_intermediates=False))
    assert nni == {"rows": []} and ours == nni_dict and ours["rows"]
    for call, word in zip(SPECIAL[1:4], ("conv_5x5", "imagenet16", "100")):
        nni, ours = results(run, call)
        assert nni == {"rows": []}
        assert ours["error"] == "QueryError" and word in ours["message"], ours
    nni, ours = results(run, dict(arch=ARCH0, num_epochs=200, dataset="cifar100", reduction="max"))
    assert nni == {"error": "ValueError", "message": "Unsupported reduction: 'max'"}
    assert ours["error"] == "QueryError" and ours["message"].startswith("Unsupported reduction: 'max'; valid")
    # the release's spelling of a dataset finds NNI's lower-cased rows in ours
    nni, ours = results(run, RELEASE_SPELLING)
    nni_lower, _ = results(run, dict(arch=ARCH0, num_epochs=200, dataset="imagenet16-120", reduction=None,
                                      include_intermediates=False))
    assert nni == {"rows": []} and ours == nni_lower and ours["rows"]


def test_epochs_given_as_a_string_match_like_nni(run):
    """'200' finds the 200-epoch rows in NNI (SQLite INTEGER affinity); ours too (fixed in 57bb149)."""
    nni, ours = results(run, STRING_EPOCHS)
    assert len(nni["rows"]) == 3
    assert ours == nni


def test_nni_models_read_the_file(run):
    """Raw selects through NNI's models: row counts, a config by its JSON arch, the backrefs."""
    counts, config, _ = run["nni"]["probes"]
    assert counts == {model: run["counts"][table] for model, table in TABLES.items()}
    assert config["arch"] == ARCH0 and config["num_epochs"] == 200 and config["dataset"] == "cifar100"
    _, ours = results(run, dict(arch=ARCH0, num_epochs=200, dataset="cifar100", reduction=None,
                                 include_intermediates=True))
    assert [t["id"] for t in config["trial_stats"]] == [r["id"] for r in ours["rows"]]
    for trial, row in zip(config["trial_stats"], ours["rows"]):
        assert trial["config"] == config["id"] == row["config"]["id"]
        assert {k: v for k, v in trial.items() if k not in ("config", "intermediates")} == {
            k: v for k, v in row.items() if k not in ("config", "intermediates")}
        assert [{k: v for k, v in i.items() if k != "trial"} for i in trial["intermediates"]] == row["intermediates"]


def test_schema_is_exactly_what_nnis_models_create(run):
    schema = run["nni"]["probes"][2]
    # NNI's tables exactly as NNI creates them, beside the extra tables the official-API facades read
    assert schema["store_tables"] == sorted([*TABLES.values(), "nb201arch", "nb201epochspan", "nb201trialinfo"])
    assert schema["store"] == schema["nni"]
    assert schema["store"]["nb201trialconfig"]["columns"][1] == [1, "arch", "JSON", 1, None, 0]
