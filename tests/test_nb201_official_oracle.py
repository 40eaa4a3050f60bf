"""The official nas_201_api (CPU torch) as oracle: it loads the generated files, and every converted
value equals what it reports for the same architecture, epochs, dataset and seed."""
from __future__ import annotations

import math
import sqlite3

import pytest
from helpers import require_or_skip
from helpers.nb201 import build

from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.constants import DATASETS, RAW_DATASETS, SPLITS

pytestmark = pytest.mark.oracle
NUM_ARCHS, SEED, CHOSEN = 5, 21, [0, 1, 2, 4]


@pytest.fixture(scope="module")
def api_cls():
    try:
        import torch  # noqa: F401
        from nas_201_api import NASBench201API
    except ImportError as exc:
        require_or_skip("NASBENCH_REQUIRE_ORACLE", f"the official NAS-Bench-201 oracle is missing ({exc}; "
                                                   "pip install -e '.[oracle]')")
    return NASBench201API


@pytest.fixture(scope="module", params=["legacy", "zip"])
def case(request, api_cls, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"oracle-{request.param}")
    write = fx.write_nb201_pth if request.param == "legacy" else fx.write_nb201_pth_zip
    raw = write(tmp / "NAS-Bench-201-v1_1-096897.pth", NUM_ARCHS, SEED, CHOSEN)
    mp = pytest.MonkeyPatch()
    mp.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")   # torch>=2.6 refuses numpy globals otherwise
    try:
        api = api_cls(str(raw), verbose=False)
    finally:
        mp.undo()
    out, _ = build(tmp, raw)
    return api, out / "nasbench201.db"


def _nan_null(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def test_the_official_api_loads_the_files(case):
    api, _ = case
    assert len(api) == NUM_ARCHS and api.evaluated_indexes == CHOSEN
    assert api.meta_archs[:3] == list(fx.REFERENCE_ARCHS)
    assert api.query_index_by_arch(fx.REFERENCE_ARCHS[1]) == 1


def test_trials_equal_the_official_api(case):
    api, db = case
    conn = sqlite3.connect(db)
    checked = 0
    for index in CHOSEN:
        for hp, epochs in (("12", 12), ("200", 200)):
            arch = api.query_meta_info_by_index(index, hp=hp)
            for raw_name, dataset in zip(RAW_DATASETS, DATASETS):
                cid = index * 8 + (epochs == 200) * 4 + DATASETS.index(dataset) + 1
                seeds = arch.get_dataset_seeds(raw_name)
                got = conn.execute("SELECT seed, train_acc, valid_acc, test_acc, ori_test_acc, train_loss, valid_loss, "
                                   "test_loss, ori_test_loss, parameters, latency, flops, training_time, "
                                   "valid_evaluation_time, test_evaluation_time, ori_test_evaluation_time, id "
                                   "FROM nb201trialstats WHERE config_id = ? ORDER BY seed", (cid,)).fetchall()
                assert [g[0] for g in got] == sorted(seeds)
                for row in got:
                    r = arch.all_results[(raw_name, row[0])]
                    train = r.get_train(epochs - 1)
                    valid, test, ori = (r.get_eval(s, epochs - 1) for s in SPLITS[dataset])
                    assert row[1:16] == (
                        train["accuracy"], valid["accuracy"], test["accuracy"], ori["accuracy"],
                        _nan_null(train["loss"]), _nan_null(valid["loss"]), _nan_null(test["loss"]),
                        _nan_null(ori["loss"]), r.params, r.get_latency(), r.flop, train["cur_time"] * epochs,
                        valid["cur_time"], test["cur_time"], ori["cur_time"])
                    assert arch.get_compute_costs(raw_name)["flops"] is not None
                    inter = conn.execute("SELECT current_epoch, train_acc, valid_acc, test_acc, ori_test_acc, "
                                         "train_loss, valid_loss, test_loss, ori_test_loss FROM nb201intermediatestats "
                                         "WHERE trial_id = ? ORDER BY id", (row[16],)).fetchall()
                    assert [i[0] for i in inter] == [e + 1 for e in range(epochs) if e in r.train_acc1es]
                    for i in inter:
                        e = i[0] - 1
                        t = r.get_train(e) if e in r.train_losses else {"accuracy": None, "loss": None}
                        evals = [r.get_eval(s, e) if f"{s}@{e}" in r.eval_acc1es else {"accuracy": None, "loss": None}
                                 for s in SPLITS[dataset]]
                        assert i[1:] == (t["accuracy"], *(v["accuracy"] for v in evals), _nan_null(t["loss"]),
                                         *(_nan_null(v["loss"]) for v in evals))
                    checked += 1
    assert checked == conn.execute("SELECT count(*) FROM nb201trialstats").fetchone()[0] > 40
