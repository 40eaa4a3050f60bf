"""NAS-Bench-201 runs whose values are out of range, non-finite or of the wrong type fail the
conversion naming the file, architecture, epochs, dataset and seed, instead of reaching a store;
a source without runs is refused instead of published empty (issue 11, point 2)."""
from __future__ import annotations

import pickle
import sqlite3

import pytest

from nasbench_store.errors import RawFormatError
from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.checks import RULES
from nasbench_store.nasbench201.convert import convert, convert_part
from nasbench_store.tablewriter import EmptyStoreError

NAN, INF = float("nan"), float("inf")
# arch 1's first 200-epoch run in the synthetic dict: imagenet16-120, seed 777 (sorted key order)
RUN = "arch 1 (200 epochs) imagenet16-120 seed 777"


def bad_pth(tmp_path, change) -> tuple:
    obj = fx.benchmark_dict(2)
    results = obj["arch2infos"][1]["full"]["all_results"]
    key = ("ImageNet16-120", 777)
    change(results, key, results[key])
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    path.write_bytes(fx.LEGACY_HEADER + pickle.dumps(obj, protocol=2) + fx.LEGACY_TAIL)
    return path


def setter(field, index, value):
    def change(results, key, result):
        if index is None:
            result[field] = value
        else:
            result[field][index] = value
    return change


def reseed(seed):
    def change(results, key, result):
        results[(key[0], seed)] = results.pop(key)
    return change


@pytest.mark.parametrize("change, where, problem", [
    (setter("train_acc1es", 199, 150.0), RUN, "train_acc1es[199] 150.0 is outside [0, 100] (percent)"),
    (setter("eval_acc1es", "x-valid@199", -1.0), RUN, "eval_acc1es['x-valid@199'] -1.0 is outside [0, 100]"),
    (setter("eval_acc1es", "ori-test@199", INF), RUN, "eval_acc1es['ori-test@199'] inf is outside [0, 100]"),
    (setter("train_acc1es", 199, NAN), RUN, "train_acc1es[199] is NaN"),
    (setter("flop", None, INF), RUN, "flop inf is not a finite number > 0"),
    (setter("params", None, 0.0), RUN, "params 0.0 is not a finite number > 0"),
    (setter("params", None, 10**400), RUN, "params an integer of 1329 bits is not a finite number > 0"),
    (setter("latency", None, [-0.5]), RUN, "latency[0] -0.5 is not a finite number >= 0"),
    (setter("train_times", 199, 1e307), RUN, "train_times[199] x 200 epochs inf is not a finite number >= 0"),
    (setter("eval_times", "x-test@199", NAN), RUN, "eval_times['x-test@199'] is NaN"),
    (setter("train_losses", 199, INF), RUN, "train_losses[199] inf is not finite"),
    (setter("eval_losses", "ori-test@5", -INF), RUN, "eval_losses['ori-test@5'] -inf is not finite"),
    (setter("train_acc1es", 5, INF), RUN, "train_acc1es[5] inf is not finite"),
    (setter("train_acc1es", 5, "x"), RUN, "train_acc1es[5] is 'x', not a number"),
    (setter("train_losses", 7, 10**400), RUN, "train_losses[7] an integer of 1329 bits is not finite"),
    (setter("train_acc1es", None, [50.0] * 200), RUN, "train_acc1es is a list, not a dict"),
    (reseed(2**70), "arch 1 (200 epochs) imagenet16-120", "seed 1180591620717411303424 is outside 0..4294967295"),
    (reseed(-1), "arch 1 (200 epochs) imagenet16-120", "seed -1 is outside 0..4294967295"),
    (reseed(10**5000), "arch 1 (200 epochs) imagenet16-120", "seed an integer of 16610 bits is outside"),
])
def test_a_bad_value_fails_the_conversion_naming_the_run(tmp_path, change, where, problem):
    raw = bad_pth(tmp_path, change)
    part = tmp_path / "part.parquet"
    with pytest.raises(RawFormatError) as info:
        convert_part(raw, part)
    assert str(info.value).startswith(f"{raw} {where}: {problem}"), str(info.value)
    assert list(tmp_path.iterdir()) == [raw]


def test_nan_losses_and_missing_or_nan_per_epoch_values_are_still_null(tmp_path):
    def change(results, key, result):
        result["train_losses"][199] = NAN      # the final loss: NULL
        result["eval_acc1es"]["ori-test@3"] = NAN  # a per-epoch accuracy: NULL
        del result["train_acc1es"][4]             # missing: NULL
    raw = bad_pth(tmp_path, change)
    out = tmp_path / "store"
    convert(raw, out / "nasbench201.db", out, work_dir=tmp_path)
    with sqlite3.connect(out / "nasbench201.db") as conn:  # config 16: arch 1, 200 epochs, imagenet16-120
        (trial, loss), = conn.execute("SELECT id, train_loss FROM nb201trialstats WHERE config_id = 16 "
                                      "AND seed = 777").fetchall()
        rows = conn.execute("SELECT current_epoch, train_acc, ori_test_acc FROM nb201intermediatestats "
                            "WHERE trial_id = ? AND current_epoch IN (4, 5) ORDER BY current_epoch",
                            (trial,)).fetchall()
    assert loss is None
    assert rows[0][0] == 4 and rows[0][1] is not None and rows[0][2] is None
    assert rows[1][0] == 5 and rows[1][1] is None and rows[1][2] is not None


def test_a_source_without_runs_is_refused_and_nothing_is_written(tmp_path):
    obj = {**fx.benchmark_dict(2), "arch2infos": {}, "evaluated_indexes": []}
    raw = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    raw.write_bytes(fx.LEGACY_HEADER + pickle.dumps(obj, protocol=2) + fx.LEGACY_TAIL)
    out = tmp_path / "store"
    with pytest.raises(EmptyStoreError, match="holds no records; nb201trialstats would be empty"):
        convert(raw, out / "nasbench201.db", out, work_dir=tmp_path)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_store_checks_refuse_infinite_sizes_times_and_losses():
    """The SQL rules publish and verify run: REAL columns hold infinity, which `> 0` let through."""
    conn = sqlite3.connect(":memory:")
    metrics = "train_acc, valid_acc, test_acc, ori_test_acc, train_loss, valid_loss, test_loss, ori_test_loss"
    conn.execute(f"CREATE TABLE nb201trialstats ({metrics}, parameters, flops, latency, training_time, "
                 "valid_evaluation_time, test_evaluation_time, ori_test_evaluation_time)")
    conn.execute(f"CREATE TABLE nb201intermediatestats ({metrics})")
    good = [50.0] * 4 + [1.0, None, 1.0, 1.0] + [1.0] * 7
    rows = [good, good[:8] + [INF] + good[9:], good[:12] + [INF] + good[13:], good[:4] + [-INF] + good[5:]]
    conn.executemany(f"INSERT INTO nb201trialstats VALUES ({','.join('?' * 15)})", rows)
    conn.executemany("INSERT INTO nb201intermediatestats VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     [good[:8], [None, None, -5.0, None, None, None, None, None], good[:3] + [INF] + good[4:8]])
    names = ("accuracies in [0, 100], sizes > 0 and times >= 0, all finite", "losses finite or NULL",
             "per-epoch metrics finite or NULL")
    assert [conn.execute(RULES[n]).fetchone()[0] for n in names] == [2, 1, 1]
