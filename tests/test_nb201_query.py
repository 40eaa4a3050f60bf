"""query_nb201_trial_stats on a converted fixture store; NNI's query built on the peewee models as oracle."""
from __future__ import annotations

import pytest
from helpers.nb201 import build
from peewee import fn
from playhouse.shortcuts import model_to_dict

from nasbench_store.errors import QueryError, StoreNotFoundError
from nasbench_store.nasbench201 import (
    Nb201IntermediateStats,
    Nb201TrialConfig,
    Nb201TrialStats,
    query_nb201_trial_stats,
)
from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.schema import db as nb201_db
from nasbench_store.nasbench201.space import parse_arch_str

ARCH0 = parse_arch_str(fx.REFERENCE_ARCHS[0])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nb201q")
    out, _ = build(tmp, fx.write_nats_tss_archive(tmp / "n.tar", 5, seed=11, arch_indexes=[0, 1, 3]), count=2)
    return out


@pytest.fixture
def env(store, monkeypatch):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(store))
    yield store
    nb201_db.close()


def q(*args, **kwargs):
    return list(query_nb201_trial_stats(*args, **kwargs))


def nni(arch, num_epochs, dataset, reduction=None, include_intermediates=False):
    """NNI's query_nb201_trial_stats, written against the peewee models (the reference semantics)."""
    fields = [Nb201TrialStats] if reduction is None else [
        fn.AVG(getattr(Nb201TrialStats, f)).alias(f) for f in Nb201TrialStats._meta.sorted_field_names
        if f not in ("id", "config", "seed")]
    query = Nb201TrialStats.select(*fields, Nb201TrialConfig).join(Nb201TrialConfig)
    conds = [c for c in (arch is not None and Nb201TrialConfig.arch == arch,
                         num_epochs is not None and Nb201TrialConfig.num_epochs == num_epochs,
                         dataset is not None and Nb201TrialConfig.dataset == dataset) if c is not False]
    for c in conds:
        query = query.where(c)
    if reduction is not None:
        query = query.group_by(Nb201TrialStats.config)
    out = []
    for trial in query.order_by(Nb201TrialStats.config, Nb201TrialStats.id):
        data = model_to_dict(trial)
        if include_intermediates:
            data["intermediates"] = [{k: v for k, v in model_to_dict(t).items() if k != "trial"}
                                     for t in trial.intermediates.order_by(Nb201IntermediateStats.id)]
        out.append(data)
    return out


@pytest.mark.parametrize("args", [(ARCH0, 200, "cifar100"), (None, 12, None), (ARCH0, None, None),
                                  (None, None, "imagenet16-120"), (None, None, None)])
def test_rows_equal_nnis_model_to_dict(env, args):
    got = q(*args)
    assert got == nni(*args) and got
    assert list(got[0]) == ["id", "config", "seed", "train_acc", "valid_acc", "test_acc", "ori_test_acc",
                            "train_loss", "valid_loss", "test_loss", "ori_test_loss", "parameters", "latency",
                            "flops", "training_time", "valid_evaluation_time", "test_evaluation_time",
                            "ori_test_evaluation_time"]
    assert list(got[0]["config"]) == ["id", "arch", "num_epochs", "num_channels", "num_cells", "dataset"]


def test_intermediates_equal_nnis_backref(env):
    got = q(ARCH0, 12, None, include_intermediates=True)
    assert got == nni(ARCH0, 12, None, include_intermediates=True)
    assert [len(r["intermediates"]) for r in got] == [12] * len(got)
    assert list(got[0]["intermediates"][0]) == ["id", "current_epoch", "train_acc", "valid_acc", "test_acc",
                                                "ori_test_acc", "train_loss", "valid_loss", "test_loss",
                                                "ori_test_loss"]


def test_mean_averages_seeds_and_says_how_many(env):
    got = q(ARCH0, 200, None, reduction="mean")
    expected = nni(ARCH0, 200, None, reduction="mean")
    assert [{k: v for k, v in r.items() if k != "num_trials"} for r in got] == [
        {k: pytest.approx(v) if isinstance(v, float) else v for k, v in e.items()} for e in expected]
    assert [r["num_trials"] for r in got] == [3, 3, 3, 3]     # the first arch has all three seeds
    assert got[0]["id"] is None and got[0]["seed"] is None
    assert {r["num_trials"] for r in q(ARCH0, 12, None, reduction="mean")} == {1, 2}   # cifar10-valid: 111, 777
    assert q(ARCH0, 200, "cifar10", reduction="none") == q(ARCH0, 200, "cifar10")


def test_mean_intermediates_are_per_epoch_averages(env):
    (row,) = q(ARCH0, 12, "cifar10-valid", reduction="mean", include_intermediates=True)
    runs = q(ARCH0, 12, "cifar10-valid", include_intermediates=True)
    assert row["num_trials"] == len(runs) == 2
    for i, inter in enumerate(row["intermediates"]):
        assert inter["current_epoch"] == i + 1
        assert inter["valid_acc"] == pytest.approx(sum(r["intermediates"][i]["valid_acc"] for r in runs) / 2)


def test_arch_string_and_release_op_names_are_accepted(env):
    expected = q(ARCH0, 200, "cifar10")
    assert q(fx.REFERENCE_ARCHS[0], 200, "cifar10") == expected
    raw_names = {k: {"conv_1x1": "nor_conv_1x1"}.get(v, v) for k, v in ARCH0.items()}
    assert q(raw_names, 200, "cifar10") == expected
    assert q(dict(reversed(list(ARCH0.items()))), 200, "cifar10") == expected


def test_epochs_given_as_a_string_or_float_match_like_nnis_integer_column(env):
    expected = q(ARCH0, 200, "cifar100")
    assert q(ARCH0, "200", "cifar100") == q(ARCH0, 200.0, "cifar100") == expected and len(expected) == 3
    with pytest.raises(QueryError, match="no True-epoch runs"):
        q(ARCH0, True, None)


def test_an_arch_lookup_searches_the_arch_index(env):
    """Without statistics SQLite would pick the num_epochs index (half the configs at full scale)."""
    from nasbench_store.sqlite_query import connection
    conn = connection("nasbench201.db")
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        q(ARCH0, 200, "cifar100")
    finally:
        conn.set_trace_callback(None)
    plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + seen[-1]))
    assert "USING INDEX nb201trialconfig_arch (arch=?)" in plan, plan


def test_untrained_architecture_gives_no_rows(env):
    assert q(fx.arch_strings(5, 11)[2], None, None) == []


@pytest.mark.parametrize("args,message", [
    ((ARCH0, 200, "imagenet"), "unknown dataset 'imagenet'; valid datasets: cifar10-valid, cifar10, cifar100, "
                               "imagenet16-120"),
    ((dict(ARCH0, **{"0_1": "conv_5x5"}), 200, None), "unknown operator.*conv_5x5.*valid operators: none, "
                                                        "skip_connect, conv_1x1, conv_3x3, avg_pool_3x3"),
    (("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", None, None), "not a NAS-Bench-201 arch string"),
    (({"0_1": "none"}, None, None), "are not NAS-Bench-201's edges"),
    ((ARCH0, 108, None), "no 108-epoch runs; valid: 12, 200"),
])
def test_bad_arguments_say_what_is_valid(env, args, message):
    with pytest.raises(QueryError, match=message):
        q(*args)


def test_unsupported_reduction_is_nnis_value_error(env):
    with pytest.raises(ValueError, match="Unsupported reduction: 'max'"):
        q(None, None, None, reduction="max")


def test_missing_store_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(tmp_path))
    with pytest.raises(StoreNotFoundError, match="nasbench201.db does not exist"):
        q(None, 12, None)


def test_peewee_models_are_bound_read_only(env):
    assert Nb201TrialConfig.select().count() == 5 * 8
    assert Nb201TrialStats.select().where(Nb201TrialStats.seed == 111).count() > 0
    with pytest.raises(Exception, match="readonly"):
        Nb201TrialConfig.update(num_cells=6).execute()
