"""NAS-Bench-201 conversion: NNI's mapping checked by hand on raw records, ids, sources agree, faults."""
from __future__ import annotations

import math
import pickle
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from helpers.nb201 import build

from nasbench_store.checks_common import count_violations
from nasbench_store.errors import RawFormatError
from nasbench_store.manifest import raw_digest
from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.checks import RULES
from nasbench_store.nasbench201.constants import DATASETS
from nasbench_store.nasbench201.convert import convert_part, write_store
from nasbench_store.nasbench201.space import parse_arch_str
from nasbench_store.tablewriter import parquet_provenance

TABLES = ("nb201trialconfig", "nb201trialstats", "nb201intermediatestats")
NUM_ARCHS, SEED, CHOSEN = 6, 5, [0, 1, 2, 4]


def raw_records(path: Path) -> dict:
    with open(path, "rb") as f:
        return [pickle.load(f) for _ in range(5)][3]


@pytest.fixture(scope="module")
def pth(tmp_path_factory) -> Path:
    return fx.write_nb201_pth(tmp_path_factory.mktemp("raw") / "NAS-Bench-201-v1_1-096897.pth",
                              NUM_ARCHS, SEED, CHOSEN)


@pytest.fixture(scope="module")
def built(tmp_path_factory, pth) -> tuple[Path, dict]:
    return build(tmp_path_factory.mktemp("nb201"), pth)


def rows(db: Path, sql: str, *params):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_configs_follow_nnis_order_and_cover_every_meta_arch(built):
    out, counts = built
    db = out / "nasbench201.db"
    assert counts["nb201trialconfig"] == NUM_ARCHS * 8 and counts["archs_with_results"] == len(CHOSEN)
    first = rows(db, "SELECT id, arch, num_epochs, num_channels, num_cells, dataset FROM nb201trialconfig "
                     "WHERE id <= 8 ORDER BY id")
    arch = '{"0_1":"avg_pool_3x3","0_2":"conv_1x1","0_3":"conv_1x1","1_2":"skip_connect","1_3":"skip_connect",' \
           '"2_3":"skip_connect"}'
    assert first == [(i + 1, arch, e, 16, 5, d) for i, (e, d) in enumerate(
        [(12, d) for d in DATASETS] + [(200, d) for d in DATASETS])]
    assert DATASETS == ("cifar10-valid", "cifar10", "cifar100", "imagenet16-120")
    # NNI's tutorial: the first arch's cifar100 200-epoch config is id 7.
    assert rows(db, "SELECT id FROM nb201trialconfig WHERE arch = ? AND num_epochs = 200 AND dataset = 'cifar100'",
                arch) == [(7,)]
    untrained = rows(db, "SELECT count(*) FROM nb201trialconfig c WHERE NOT EXISTS "
                         "(SELECT 1 FROM nb201trialstats s WHERE s.config_id = c.id)")
    assert untrained == [((NUM_ARCHS - len(CHOSEN)) * 8,)]


@pytest.mark.parametrize("arch,epochs,dataset,seed", [
    (0, 200, "cifar100", 777), (0, 200, "cifar10-valid", 999), (2, 200, "cifar10", 888),
    (4, 12, "cifar10-valid", 777), (1, 12, "ImageNet16-120", 111), (1, 200, "cifar100", 888)])
def test_trial_values_follow_nnis_mapping(built, pth, arch, epochs, dataset, seed):
    raw = raw_records(pth)
    state = raw["arch2infos"][arch]["full" if epochs == 200 else "less"]
    r = state["all_results"].get((dataset, seed))
    if r is None:
        pytest.skip("this seed was not drawn for this arch")
    last = epochs - 1
    valid, test = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test", "ori-test")}.get(
        dataset, ("x-valid", "x-test"))
    nan_null = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
    expected = (
        seed, r["train_acc1es"][last], r["eval_acc1es"][f"{valid}@{last}"], r["eval_acc1es"][f"{test}@{last}"],
        r["eval_acc1es"][f"ori-test@{last}"], nan_null(r["train_losses"][last]),
        nan_null(r["eval_losses"][f"{valid}@{last}"]), nan_null(r["eval_losses"][f"{test}@{last}"]),
        nan_null(r["eval_losses"][f"ori-test@{last}"]), float(r["params"]), float(r["latency"][0]), r["flop"],
        r["train_times"][last] * epochs, r["eval_times"][f"{valid}@{last}"], r["eval_times"][f"{test}@{last}"],
        r["eval_times"][f"ori-test@{last}"])
    got = rows(built[0] / "nasbench201.db",
               "SELECT s.seed, train_acc, valid_acc, test_acc, ori_test_acc, train_loss, valid_loss, test_loss, "
               "ori_test_loss, parameters, latency, flops, training_time, valid_evaluation_time, "
               "test_evaluation_time, ori_test_evaluation_time FROM nb201trialstats s JOIN nb201trialconfig c "
               "ON s.config_id = c.id WHERE c.id = ? AND s.seed = ?",
               arch * 8 + (epochs == 200) * 4 + DATASETS.index(dataset.lower()) + 1, seed)
    assert got == [expected]


def test_nan_losses_are_null_and_empty_epochs_are_skipped(built, pth):
    db = built[0] / "nasbench201.db"
    # fixtures: arch 1's 200-epoch cifar100 runs have NaN as final train loss
    assert {r[0] for r in rows(db, "SELECT train_loss FROM nb201trialstats WHERE config_id = 15")} == {None}
    assert rows(db, "SELECT count(*) FROM nb201intermediatestats WHERE train_loss IS NULL AND current_epoch = 200 "
                    "AND trial_id IN (SELECT id FROM nb201trialstats WHERE config_id = 15)")[0][0] >= 1
    # arch 2's 12-epoch cifar10 run has no metric at all at epoch index 3 -> no current_epoch 4
    epochs = [e for (e,) in rows(db, "SELECT current_epoch FROM nb201intermediatestats i JOIN nb201trialstats s "
                                     "ON i.trial_id = s.id WHERE s.config_id = ? ORDER BY i.id", 2 * 8 + 2)]
    assert epochs == [1, 2, 3] + list(range(5, 13))
    r = raw_records(pth)["arch2infos"][0]["full"]["all_results"][("cifar10-valid", 888)]
    inter = rows(db, "SELECT current_epoch, i.train_acc, i.valid_acc, i.test_acc, i.ori_test_acc, i.train_loss FROM "
                     "nb201intermediatestats i JOIN nb201trialstats s ON i.trial_id = s.id "
                     "WHERE s.config_id = 5 AND s.seed = 888 ORDER BY i.id")
    assert len(inter) == 200 and inter[0] == (1, r["train_acc1es"][0], r["eval_acc1es"]["x-valid@0"], None, None,
                                             r["train_losses"][0])
    assert inter[199][3:5] == (r["eval_acc1es"]["ori-test@199"],) * 2


def test_trial_and_intermediate_ids_are_consecutive_in_config_then_seed_order(built):
    db = built[0] / "nasbench201.db"
    trials = rows(db, "SELECT id, config_id, seed FROM nb201trialstats ORDER BY id")
    assert [t[0] for t in trials] == list(range(1, len(trials) + 1))
    assert [t[1:] for t in trials] == sorted(t[1:] for t in trials)
    inter = rows(db, "SELECT id, trial_id, current_epoch FROM nb201intermediatestats ORDER BY id")
    assert [i[0] for i in inter] == list(range(1, len(inter) + 1))
    assert [i[1:] for i in inter] == sorted(i[1:] for i in inter)


def test_every_source_and_job_count_builds_identical_bytes(tmp_path, built, pth):
    variants = {
        "zip": (fx.write_nb201_pth_zip(tmp_path / "z.pth", NUM_ARCHS, SEED, CHOSEN), 1),
        "nats-tar-3-jobs": (fx.write_nats_tss_archive(tmp_path / "n.tar", NUM_ARCHS, SEED, CHOSEN), 3),
        "nats-dir-1-job": (fx.write_nats_tss_archive(tmp_path / "n", NUM_ARCHS, SEED, CHOSEN), 1),
        "nats-tar-8-jobs": (tmp_path / "n.tar", 8),
        "pth-2-jobs": (pth, 2),
        "zip-3-jobs": (tmp_path / "z.pth", 3),
        "pth-7-jobs": (pth, 7),   # more jobs than records: some parts are empty
    }
    reference = built[0]
    for name, (raw, count) in variants.items():
        out, _ = build(tmp_path, raw, name, count)
        assert (out / "nasbench201.db").read_bytes() == (reference / "nasbench201.db").read_bytes(), name
        for t in TABLES:  # the same tables and row groups; only the provenance names another raw file
            ours, theirs = pq.ParquetFile(out / f"{t}.parquet"), pq.ParquetFile(reference / f"{t}.parquet")
            assert ours.read().equals(theirs.read()), (name, t)
            assert [ours.metadata.row_group(i).num_rows for i in range(ours.num_row_groups)] == \
                   [theirs.metadata.row_group(i).num_rows for i in range(theirs.num_row_groups)], (name, t)
            assert parquet_provenance(out / f"{t}.parquet")["raw_sha256"] == raw_digest(raw)["sha256"]


_LAST_12_EPOCH_ROW = ("(SELECT MAX(i.id) FROM nb201intermediatestats i JOIN nb201trialstats s ON i.trial_id = s.id "
                      "JOIN nb201trialconfig c ON s.config_id = c.id WHERE c.num_epochs = 12)")


@pytest.mark.parametrize("damage, expected", [
    ([], 0),
    (["UPDATE nb201intermediatestats SET current_epoch = 0 WHERE id = 1"], 1),
    ([f"UPDATE nb201intermediatestats SET current_epoch = 13 WHERE id = {_LAST_12_EPOCH_ROW}"], 1),
    (["UPDATE nb201intermediatestats SET current_epoch = current_epoch + 1 WHERE id = 1"], 1),  # epoch 2 twice
    (["UPDATE nb201intermediatestats SET current_epoch = 0 WHERE id = 1",
      f"UPDATE nb201intermediatestats SET current_epoch = 13 WHERE id = {_LAST_12_EPOCH_ROW}"], 2),
])
def test_rule_intermediate_epochs_once_each_counts_damaged_trials(built, tmp_path, damage, expected):
    db = tmp_path / "nasbench201.db"
    shutil.copyfile(built[0] / "nasbench201.db", db)
    what = "intermediate epochs in 1..num_epochs, once each"
    with sqlite3.connect(db) as conn:
        for sql in damage:
            conn.execute(sql)
        assert count_violations(conn, what, RULES[what]) == ([f"{expected} rows violate: {what}"] if expected else [])


def test_parquet_reads_back_and_matches_sqlite(built):
    out = built[0]
    con = duckdb.connect()
    for t in TABLES:
        n_parquet = con.execute(f"SELECT count(*) FROM '{out / t}.parquet'").fetchone()[0]
        assert n_parquet == rows(out / "nasbench201.db", f"SELECT count(*) FROM {t}")[0][0] > 0
    joined = con.execute(
        f"SELECT c.dataset, count(*) FROM '{out}/nb201trialstats.parquet' s JOIN '{out}/nb201trialconfig.parquet' c "
        f"ON s.config_id = c.id GROUP BY c.dataset ORDER BY c.dataset").fetchall()
    assert [d for d, _ in joined] == sorted(DATASETS)
    assert con.execute(f"SELECT DISTINCT typeof(train_loss) FROM '{out}/nb201trialstats.parquet'").fetchall() == [
        ("DOUBLE",)]


def test_a_failed_conversion_publishes_nothing(tmp_path, pth):
    bad = tmp_path / "cut.pth"
    bad.write_bytes(pth.read_bytes()[:-20000])
    with pytest.raises(RawFormatError, match="cut.pth"):
        build(tmp_path, bad)
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())
    assert list(tmp_path.glob("*.parquet")) == []


def test_inconsistent_records_name_the_architecture(tmp_path):
    obj = fx.benchmark_dict(2)
    del obj["arch2infos"][1]["full"]["all_results"][("cifar10", 888)]["eval_times"]["ori-test@199"]
    path = tmp_path / "bad.pth"
    path.write_bytes(fx.LEGACY_HEADER + pickle.dumps(obj, protocol=2) + fx.LEGACY_TAIL)
    with pytest.raises(RawFormatError, match=r"arch 1 \(200 epochs\) cifar10 seed 888.*eval_times\['ori-test@199'\]"):
        convert_part(path, tmp_path / "p.parquet")
    assert not (tmp_path / "p.parquet").exists()
    obj = fx.benchmark_dict(2)
    obj["arch2infos"][0]["less"]["arch_str"] = obj["meta_archs"][1]
    path.write_bytes(fx.LEGACY_HEADER + pickle.dumps(obj, protocol=2) + fx.LEGACY_TAIL)
    with pytest.raises(RawFormatError, match=r"arch 0 \(12 epochs\).*differs from meta_archs\[0\]"):
        convert_part(path, tmp_path / "p.parquet")


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 9])
def test_each_pth_record_is_converted_by_exactly_one_job(tmp_path, pth, count):
    parts = []
    for i in range(count):
        info = convert_part(pth, tmp_path / f"{i}.parquet", i, count)
        parts.append(pq.read_table(tmp_path / f"{i}.parquet", columns=["arch_index"]).column(0).to_pylist())
        assert info["archs"] == len(set(parts[-1]))
    in_order = [a for part in parts for a in dict.fromkeys(part)]
    assert in_order == CHOSEN  # every record once, the parts in job order being file order
    if count == 2:
        assert all(parts), "the fixture's records lie in both halves of its bytes"


def test_a_job_index_outside_the_job_count_is_refused(tmp_path, pth):
    with pytest.raises(ValueError, match=r"job 2 of 2: the index must lie in 0\.\.1"):
        convert_part(pth, tmp_path / "p.parquet", 2, 2)
    with pytest.raises(ValueError, match="no parts"):
        write_store([], tmp_path / "x.db")


def test_arch_strings_map_to_nnis_dicts():
    assert parse_arch_str(fx.REFERENCE_ARCHS[1]) == {"0_1": "conv_3x3", "0_2": "conv_3x3", "1_2": "avg_pool_3x3",
                                                     "0_3": "skip_connect", "1_3": "conv_3x3", "2_3": "skip_connect"}
    with pytest.raises(ValueError, match="not a NAS-Bench-201 arch string"):
        parse_arch_str("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
