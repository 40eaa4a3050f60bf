"""query_nds_trial_stats on a store built from a hand-made archive; NNI's peewee models as oracle."""
from __future__ import annotations

import pytest
from helpers.nds import BOTTLENECK_NET, build, hand_archive
from playhouse.shortcuts import model_to_dict

from nasbench_store.errors import QueryError, StoreNotFoundError
from nasbench_store.nds import NdsIntermediateStats, NdsTrialConfig, NdsTrialStats, query_nds_trial_stats
from nasbench_store.nds.schema import db as nds_db

BASIC_SPEC = {"ws": [16, 24, 24, 40], "ss": [1, 1, 2, 2], "ds": [1, 12, 12, 12]}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nds")
    out, _ = build(tmp, hand_archive(tmp / "data.zip"))
    return out


@pytest.fixture
def env(store, monkeypatch):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(store))
    yield store
    nds_db.close()


def q(*args, **kwargs):
    return list(query_nds_trial_stats(*args, **kwargs))


def test_rows_equal_model_to_dict_of_nnis_models(env):
    expected = [model_to_dict(t) for t in NdsTrialStats.select(NdsTrialStats, NdsTrialConfig)
                .join(NdsTrialConfig).order_by(NdsTrialStats.id)]
    got = q(None, None, None, None, None, None)
    assert got == expected and len(got) == 10
    assert list(got[0]) == ["id", "config", "seed", "final_train_acc", "final_train_loss", "final_test_acc",
                            "best_train_acc", "best_train_loss", "best_test_acc", "parameters", "flops",
                            "iter_time"]
    assert list(got[0]["config"]) == ["id", "model_family", "model_spec", "cell_spec", "dataset", "generator",
                                      "proposer", "base_lr", "weight_decay", "num_epochs"]
    assert got[2]["config"]["model_spec"] == BASIC_SPEC and got[2]["config"]["cell_spec"] == {}
    assert got[0]["config"]["cell_spec"]["reduce_2_op_y"] == "dil_conv_3x3"


def test_filters(env):
    assert [r["id"] for r in q("residual_basic", "resnet", "random", None, None, "cifar10")] == [3, 4, 5, 6, 7, 10]
    assert [r["id"] for r in q(None, None, None, BASIC_SPEC, {}, None, num_epochs=3)] == [3, 4, 5, 7, 10]
    bottleneck = {k: v for k, v in BOTTLENECK_NET.items() if k != "block_type"}
    assert [(r["id"], r["seed"]) for r in q("residual_bottleneck", None, None, bottleneck, None, None)] == [
        (8, 1), (9, 2)]
    cell = q("nas_cell", None, None, None, None, None)[0]["config"]["cell_spec"]
    assert [r["id"] for r in q(None, "amoeba", None, None, cell, None)] == [1, 2]
    assert q(None, None, None, None, None, "imagenet") == []
    assert q(None, None, "tune_lr_wd", None, None, None) == []
    assert q(None, None, None, None, None, None, num_epochs=100) == []
    assert q(None, None, None, dict(BASIC_SPEC, ds=[1, 1, 1, 1]), None, None) == []


def test_mean_groups_by_config(env):
    rows = q(None, "resnet", None, None, None, None, reduction="mean")
    assert [r["config"]["id"] for r in rows] == [2, 3, 4]
    basic = rows[0]
    assert basic["id"] is None and basic["seed"] is None and basic["num_trials"] == 5
    # trials 3, 4, 5, 7, 10: final train errors 31, 20, 31, 31, 31
    assert basic["final_train_acc"] == pytest.approx((69.0 * 4 + 80.0) / 5)
    assert basic["final_train_loss"] is None and basic["best_train_loss"] == 0.5
    assert basic["parameters"] == pytest.approx(1.234567)
    assert q(None, "resnet", None, None, None, None, reduction="none") == q(None, "resnet", None, None, None, None)


def test_intermediates(env):
    (trial,) = q(None, None, None, None, None, None, include_intermediates=True)[3:4]
    assert trial["id"] == 4
    assert trial["intermediates"] == [
        {"id": 10, "current_epoch": 1, "train_loss": None, "train_acc": 50.0, "test_acc": 35.0},
        {"id": 11, "current_epoch": 2, "train_loss": 0.5, "train_acc": 60.0, "test_acc": 59.875},
        {"id": 12, "current_epoch": 3, "train_loss": None, "train_acc": 80.0, "test_acc": 59.5},
    ]
    oracle = [{k: v for k, v in model_to_dict(i).items() if k != "trial"}
              for i in NdsIntermediateStats.select().where(NdsIntermediateStats.trial == 4)]
    assert trial["intermediates"] == oracle


@pytest.mark.parametrize("args, message", [
    (("cell", None, None, None, None, None), "model_family='cell' is not in NDS; use one of 'nas_cell', "
                                             "'residual_bottleneck', 'residual_basic', 'vanilla'"),
    ((None, "resnet50", None, None, None, None), "proposer='resnet50'.*'amoeba', 'darts', 'enas'"),
    ((None, None, "grid", None, None, None), "generator='grid'.*'random', 'fix_w_d', 'tune_lr_wd'"),
    ((None, None, None, None, None, "cifar100"), "dataset='cifar100'.*'cifar10', 'imagenet'"),
])
def test_invalid_labels_list_the_valid_values_at_call_time(env, args, message):
    with pytest.raises(QueryError, match=message):
        query_nds_trial_stats(*args)


def test_unsupported_reduction_is_a_value_error(env):
    with pytest.raises(ValueError, match="Unsupported reduction: 'max'"):
        query_nds_trial_stats(None, None, None, None, None, None, reduction="max")


def test_missing_store_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(tmp_path))
    with pytest.raises(StoreNotFoundError, match=r"nds\.db does not exist"):
        q(None, None, None, None, None, None)
