"""NDS records whose values are out of range, non-finite or of the wrong type fail the conversion
naming the sweep file, the record and its byte offset, instead of reaching a store; an archive
without records is refused instead of published empty (issue 11, point 2)."""
from __future__ import annotations

import json
import sqlite3

import pytest
from helpers.nds import BASIC_NET, CELL_NET, NAN, build, record

from nasbench_store.errors import RawFormatError
from nasbench_store.nds.checks import RULES
from nasbench_store.nds.constants import SWEEP_FILES, sweep_labels
from nasbench_store.nds.convert import convert_sweep
from nasbench_store.nds.mapping import RecordError, RecordValueError, map_record
from nasbench_store.nds.synthetic import write_zip
from nasbench_store.tablewriter import EmptyStoreError

INF = float("inf")


def cell_record():
    return record(json.loads(json.dumps(CELL_NET)))


def change(path: str, value):
    """A change to a record: set the value at a dotted path (list indexes as digits)."""
    def apply(rec):
        *parents, last = path.split(".")
        for key in parents:
            rec = rec[int(key)] if isinstance(rec, list) else rec[key]
        rec[int(last) if isinstance(rec, list) else last] = value
    return apply


@pytest.mark.parametrize("path, value, problem", [
    ("test_ep_top1.2", 150.0, "test_ep_top1[2] 150.0 is outside [0, 100] (percent)"),
    ("train_ep_top1.0", -0.5, "train_ep_top1[0] -0.5 is outside [0, 100] (percent)"),
    ("train_ep_top1.1", INF, "train_ep_top1[1] inf is outside [0, 100] (percent)"),
    ("test_ep_top1.0", 10**400, "test_ep_top1[0] an integer of 1329 bits is outside [0, 100]"),
    ("train_ep_loss.1", INF, "train_ep_loss[1] inf is not finite"),
    ("train_ep_loss.0", -INF, "train_ep_loss[0] -inf is not finite"),
    ("params", 0, "key 'params' 0 is not a finite number > 0"),
    ("params", -5, "key 'params' -5 is not a finite number > 0"),
    ("params", 10**400, "key 'params' an integer of 1329 bits is not a finite number > 0"),
    ("flops", INF, "key 'flops' inf is not a finite number > 0"),
    ("iter_time", -0.1, "key 'iter_time' -0.1 is not a finite number >= 0"),
    ("iter_time", NAN, "key 'iter_time' is NaN"),
    ("optim.base_lr", -0.1, "key 'optim.base_lr' -0.1 is not a finite number >= 0"),
    ("optim.wd", INF, "key 'optim.wd' inf is not a finite number >= 0"),
    ("rng_seed", 2**70, "rng_seed 1180591620717411303424 is outside 0..4294967295"),
    ("rng_seed", -1, "rng_seed -1 is outside 0..4294967295"),
    ("net.drop_prob", NAN, "net.drop_prob (nan) is not a finite number; a spec holds no NaN or infinity"),
    ("net.width", INF, "net.width (inf) is not a finite number"),
    ("net.genotype.reduce_concat", [4, -INF], "net.genotype.reduce_concat[1] (-inf) is not a finite number"),
])
def test_a_bad_value_is_a_record_value_error(path, value, problem):
    bad = cell_record()
    change(path, value)(bad)
    with pytest.raises(RecordValueError) as info:
        map_record(bad, sweep_labels("DARTS.json"))
    assert str(info.value).startswith(problem), str(info.value)


def test_a_non_finite_value_in_an_anynet_spec_is_refused():
    bad = record(dict(BASIC_NET, ds=[1, 2, NAN, 3]))
    with pytest.raises(RecordValueError, match=r"^net\.ds\[2\] \(nan\) is not a finite number"):
        map_record(bad, sweep_labels("ResNet.json"))


def test_boundary_values_and_nan_losses_are_valid():
    rec = record(dict(BASIC_NET), seed=2**32 - 1, train=(100.0, 0, 0.0), test=(0.0, 100, 50.5),
                 loss=(NAN, -1.5, 0.0), base_lr=0.0, wd=0)
    rec["iter_time"] = 0
    config, trial, epochs = map_record(rec, sweep_labels("ResNet.json"))
    assert (config.base_lr, config.weight_decay) == (0.0, 0.0)
    assert trial.seed == 2**32 - 1 and trial.best_train_acc == 100.0 and trial.final_test_acc == 49.5
    assert trial.best_train_loss == -1.5 and epochs.train_loss == [None, -1.5, 0.0]


def test_the_conversion_names_file_record_and_offset_and_writes_nothing(tmp_path):
    records = [cell_record(), cell_record()]
    records[1]["test_ep_top1"][2] = 150.0
    archive = write_zip(tmp_path / "data.zip", {"DARTS.json": records})
    text = json.dumps(records)
    offset = text.index("{", text.index("}, {") + 1)  # where record 1 starts (ASCII: chars are bytes)
    part = tmp_path / "part.parquet"
    with pytest.raises(RawFormatError) as info:
        convert_sweep(archive, "DARTS.json", part)
    message = str(info.value)
    assert message.startswith(f"{archive}!nds_data/DARTS.json at byte offset {offset}: record 1: "
                              "test_ep_top1[2] 150.0 is outside [0, 100] (percent) (no NDS model holds such a value")
    assert not part.exists()


def test_a_shape_error_keeps_its_hint(tmp_path):
    bad = cell_record()
    bad["params"] = "many"
    with pytest.raises(RecordError) as info:
        map_record(bad, sweep_labels("DARTS.json"))
    assert not isinstance(info.value, RecordValueError)
    archive = write_zip(tmp_path / "data.zip", {"DARTS.json": [bad]})
    with pytest.raises(RawFormatError, match="record 0: key 'params' is 'many', expected a number "
                                             r"\(the record does not have NDS's job-record shape"):
        convert_sweep(archive, "DARTS.json", tmp_path / "part.parquet")


def test_an_archive_without_records_is_refused_and_nothing_is_written(tmp_path):
    archive = write_zip(tmp_path / "data.zip", {name: [] for name in SWEEP_FILES})
    with pytest.raises(EmptyStoreError, match="holds no records; ndstrialstats would be empty"):
        build(tmp_path, archive)
    out = tmp_path / "store"
    assert not (out / "nds.db").exists() and not list(out.glob("nds/*.parquet"))


def test_store_checks_refuse_infinite_sizes_rates_and_losses():
    """The SQL rules publish and verify run: REAL columns hold infinity, which `> 0` let through."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE ndstrialconfig (base_lr, weight_decay)")
    conn.execute("CREATE TABLE ndstrialstats (final_train_acc, final_test_acc, best_train_acc, best_test_acc, "
                 "parameters, flops, iter_time, final_train_loss, best_train_loss)")
    conn.execute("CREATE TABLE ndsintermediatestats (train_acc, test_acc, train_loss)")
    conn.executemany("INSERT INTO ndstrialconfig VALUES (?, ?)", [(0.1, 0.0), (INF, 0.0), (0.1, -1.0)])
    good = [50.0] * 4 + [1.0, 1.0, 0.1, None, 0.5]
    conn.executemany("INSERT INTO ndstrialstats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [good, good[:5] + [INF] + good[6:], good[:8] + [-INF]])
    conn.executemany("INSERT INTO ndsintermediatestats VALUES (?, ?, ?)",
                     [(50.0, 50.0, None), (50.0, 101.0, 1.0), (50.0, 50.0, INF)])
    names = ("base_lr and weight_decay >= 0 and finite",
             "accuracies in [0, 100], sizes > 0, all finite, losses finite or NULL",
             "per-epoch accuracies in [0, 100], loss finite or NULL")
    assert [conn.execute(RULES[n]).fetchone()[0] for n in names] == [2, 2, 2]


def test_large_finite_losses_whose_sum_overflows_are_valid():
    rec = record(dict(BASIC_NET), loss=(1e308, 1e308, NAN))
    _, trial, epochs = map_record(rec, sweep_labels("ResNet.json"))
    assert epochs.train_loss == [1e308, 1e308, None] and trial.best_train_loss == 1e308
