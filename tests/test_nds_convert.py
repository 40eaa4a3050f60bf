"""NDS conversion: NNI's mapping checked value by value, global config dedup, ids, determinism."""
from __future__ import annotations

import hashlib
import json
import math
import sqlite3

import duckdb
import pyarrow.parquet as pq
import pytest
from helpers.nds import BASIC_NET, BOTTLENECK_NET, CELL_NET, NAN, build, hand_archive, record

from nasbench_store.errors import RawFormatError
from nasbench_store.nds.checks import check
from nasbench_store.nds.constants import SWEEP_FILES, sweep_labels
from nasbench_store.nds.convert import convert_sweep, write_store
from nasbench_store.nds.mapping import RecordError, map_record
from nasbench_store.nds.synthetic import write_nds_zip, write_zip


def test_nas_cell_record_maps_as_nni_does_with_reduce_nodes_from_its_own_genotype():
    config, trial, epochs = map_record(record(CELL_NET), sweep_labels("DARTS_lr-wd_in.json"))
    assert config.model_family == "nas_cell"
    assert json.loads(config.model_spec) == {"num_nodes_normal": 2, "num_nodes_reduce": 3, "depth": 8,
                                             "width": 16, "aux": False, "drop_prob": 0.2}
    assert config.model_spec == ('{"aux":false,"depth":8,"drop_prob":0.2,"num_nodes_normal":2,'
                                 '"num_nodes_reduce":3,"width":16}')
    cell = json.loads(config.cell_spec)
    assert cell == {
        "normal_0_op_x": "sep_conv_3x3", "normal_0_input_x": 0, "normal_0_op_y": "skip_connect", "normal_0_input_y": 1,
        "normal_1_op_x": "max_pool_3x3", "normal_1_input_x": 2, "normal_1_op_y": "none", "normal_1_input_y": 0,
        "normal_concat": [3],
        "reduce_0_op_x": "avg_pool_3x3", "reduce_0_input_x": 0, "reduce_0_op_y": "dil_conv_5x5", "reduce_0_input_y": 1,
        "reduce_1_op_x": "sep_conv_5x5", "reduce_1_input_x": 2, "reduce_1_op_y": "skip_connect", "reduce_1_input_y": 0,
        "reduce_2_op_x": "max_pool_3x3", "reduce_2_input_x": 3, "reduce_2_op_y": "dil_conv_3x3", "reduce_2_input_y": 1,
        "reduce_concat": [4],
    }
    assert config[3:] == ("imagenet", "tune_lr_wd", "darts", 0.05, 0.0003, 3)
    assert trial == (7, 69.0, None, 59.5, 69.75, 0.5, 59.875, 1.234567, 98.765432, 0.123)
    assert epochs == ([None, 0.5, None], [39.5, 69.75, 69.0], [35.0, 59.875, 59.5])


def test_anynet_model_spec_keeps_truthy_keys_except_block_type():
    config, _, _ = map_record(record(BOTTLENECK_NET), sweep_labels("ResNeXt-B.json"))
    assert (config.model_family, config.cell_spec) == ("residual_bottleneck", "{}")
    assert json.loads(config.model_spec) == {k: v for k, v in BOTTLENECK_NET.items() if k != "block_type"}
    config, _, _ = map_record(record(BASIC_NET), sweep_labels("ResNet_rng2.json"))
    assert config.model_family == "residual_basic"
    assert config.model_spec == '{"ds":[1,12,12,12],"ss":[1,1,2,2],"ws":[16,24,24,40]}'
    assert config[3:6] == ("cifar10", "random", "resnet")
    vanilla = dict(BASIC_NET, block_type="double_plain_block")
    assert map_record(record(vanilla), sweep_labels("Vanilla.json"))[0].model_family == "vanilla"


def test_all_nan_losses_give_null_best_loss():
    _, trial, epochs = map_record(record(BASIC_NET, loss=(NAN, NAN, NAN)), sweep_labels("ResNet.json"))
    assert trial.final_train_loss is None and trial.best_train_loss is None
    assert epochs.train_loss == [None, None, None]


@pytest.mark.parametrize("change, problem", [
    (lambda r: r["test_ep_top1"].pop(), "test_ep_top1 has 2 values but optim.max_ep is 3"),
    (lambda r: r["train_ep_loss"].append(1.0), "train_ep_loss has 4 values but optim.max_ep is 3"),
    (lambda r: r["optim"].update(max_ep=0), "optim.max_ep is 0"),
    (lambda r: r["net"].update(block_type="se_block"), "unknown net.block_type 'se_block'"),
    (lambda r: r.pop("rng_seed"), "key 'rng_seed' is missing"),
    (lambda r: r["train_ep_top1"].__setitem__(1, NAN), r"train_ep_top1\[1\] is NaN"),
    (lambda r: r["test_ep_top1"].__setitem__(0, "x"), r"test_ep_top1\[0\] is 'x'"),
    (lambda r: r.update(params=None), "key 'params' is None"),
])
def test_bad_records_say_what_is_wrong(change, problem):
    bad = record(dict(BASIC_NET))
    change(bad)
    with pytest.raises(RecordError, match=problem):
        map_record(bad, sweep_labels("ResNet.json"))


def test_bad_genotype():
    net = json.loads(json.dumps(CELL_NET))
    net["genotype"]["reduce"].pop()
    with pytest.raises(RecordError, match="net.genotype.reduce has 5 entries"):
        map_record(record(net), sweep_labels("ENAS.json"))


def rows(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_configs_are_shared_across_files_and_reruns_in_nni_order(tmp_path):
    out, counts = build(tmp_path, hand_archive(tmp_path / "data.zip", mid_first=True))
    assert counts == {"ndstrialconfig": 4, "ndstrialstats": 10, "ndsintermediatestats": 30}
    configs = rows(out / "nds.db", "SELECT id, model_family, proposer, model_spec FROM ndstrialconfig")
    # An optim key outside NNI's config (Amoeba's 2nd record) does not make a new config; ResNet's
    # basic net is one config across ResNet, reruns and both rng files.
    assert [c[:3] for c in configs] == [(1, "nas_cell", "amoeba"), (2, "residual_basic", "resnet"),
                                        (3, "residual_basic", "resnet"), (4, "residual_bottleneck", "resnet")]
    assert json.loads(configs[2][3])["ds"] == [1, 2, 2, 2]
    trials = rows(out / "nds.db", "SELECT id, config_id, seed FROM ndstrialstats ORDER BY id")
    # NNI's file order: Amoeba, ResNet, ResNet_reruns (top before mid although mid comes first
    # in the file), ResNet_rng1, ResNet_rng2.
    assert trials == [(1, 1, 1), (2, 1, 1), (3, 2, 1), (4, 2, 3), (5, 2, 4), (6, 3, 5),
                      (7, 2, 1), (8, 4, 1), (9, 4, 2), (10, 2, 2)]


def test_hand_values_in_sqlite_and_parquet(tmp_path):
    out, _ = build(tmp_path, hand_archive(tmp_path / "data.zip"))
    db = out / "nds.db"
    assert rows(db, "SELECT * FROM ndstrialstats WHERE id = 4") == [
        (4, 2, 3, 80.0, None, 59.5, 80.0, 0.5, 59.875, 1.234567, 98.765432, 0.123)]
    assert rows(db, "SELECT * FROM ndsintermediatestats WHERE trial_id = 4 ORDER BY id") == [
        (10, 4, 1, None, 50.0, 35.0), (11, 4, 2, 0.5, 60.0, 59.875), (12, 4, 3, None, 80.0, 59.5)]
    assert rows(db, "SELECT model_spec, cell_spec, base_lr, weight_decay, num_epochs FROM ndstrialconfig "
                    "WHERE id = 2") == [('{"ds":[1,12,12,12],"ss":[1,1,2,2],"ws":[16,24,24,40]}', "{}",
                                         0.05, 0.0003, 3)]
    for table in ("ndstrialconfig", "ndstrialstats", "ndsintermediatestats"):
        from_parquet = duckdb.sql(f"SELECT * FROM '{out / 'nds' / table}.parquet' ORDER BY id").fetchall()
        assert from_parquet == rows(db, f"SELECT * FROM {table} ORDER BY id")
    schema = pq.read_schema(out / "nds" / "ndstrialstats.parquet")
    assert schema.names[:3] == ["id", "config_id", "seed"] and schema.field("final_train_loss").nullable


def test_sqlite_schema_is_nnis(tmp_path):
    out, _ = build(tmp_path, hand_archive(tmp_path / "data.zip"))
    ddl = dict(rows(out / "nds.db", "SELECT name, sql FROM sqlite_master "
                                    "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"))
    assert ddl["ndstrialconfig"] == (
        'CREATE TABLE "ndstrialconfig" ("id" INTEGER NOT NULL PRIMARY KEY, "model_family" VARCHAR(20) NOT NULL, '
        '"model_spec" JSON NOT NULL, "cell_spec" JSON, "dataset" VARCHAR(15) NOT NULL, '
        '"generator" VARCHAR(15) NOT NULL, "proposer" VARCHAR(15) NOT NULL, "base_lr" REAL NOT NULL, '
        '"weight_decay" REAL NOT NULL, "num_epochs" INTEGER NOT NULL)')
    assert sorted(n for n in ddl if not n.startswith("nds") or "_" in n) == sorted([
        "ndstrialconfig_model_family", "ndstrialconfig_model_spec", "ndstrialconfig_cell_spec",
        "ndstrialconfig_dataset", "ndstrialconfig_generator", "ndstrialconfig_proposer",
        "ndstrialstats_config_id", "ndsintermediatestats_trial_id", "ndsintermediatestats_current_epoch"])


def test_json_columns_are_declared_json(tmp_path):
    out, _ = build(tmp_path, hand_archive(tmp_path / "data.zip"))
    types = {name: kind for _, name, kind, *_ in rows(out / "nds.db", "PRAGMA table_info(ndstrialconfig)")}
    assert (types["model_spec"], types["cell_spec"]) == ("JSON", "JSON")


def digest(directory):
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and "parts" not in p.parts}


def test_same_input_same_bytes_whatever_order_or_parallelism(tmp_path):
    archive = write_nds_zip(tmp_path / "data.zip", records_per_file=6, max_ep=3, seed=5)
    one, counts = build(tmp_path, archive, name="sequential")
    two, _ = build(tmp_path, archive, order=SWEEP_FILES[::-1], workers=2, name="parallel")
    assert digest(one) == digest(two)
    assert counts["ndstrialstats"] == 6 * len(SWEEP_FILES)
    assert counts["ndsintermediatestats"] == 3 * counts["ndstrialstats"]
    # rng1..3 repeat their architectures with other seeds: one config for each trio
    shared = rows(one / "nds.db", "SELECT c.proposer, COUNT(DISTINCT s.seed) FROM ndstrialstats s JOIN "
                                  "ndstrialconfig c ON s.config_id = c.id GROUP BY c.id HAVING COUNT(*) > 1")
    assert {proposer for proposer, _ in shared} == {"resnet", "vanilla"}
    nulls = rows(one / "nds.db", "SELECT COUNT(*) FROM ndstrialstats WHERE best_train_loss IS NULL")[0][0]
    assert nulls > 0
    assert not math.isnan(rows(one / "nds.db", "SELECT MAX(best_train_acc) FROM ndstrialstats")[0][0])


def test_bad_record_names_file_and_index_and_writes_nothing(tmp_path):
    bad = record(BASIC_NET)
    bad["test_ep_top1"] = [1.0, 2.0]
    archive = write_zip(tmp_path / "data.zip", {"Vanilla_reruns.json": {"top": [record(BASIC_NET)],
                                                                        "mid": [record(BASIC_NET), bad]}})
    part = tmp_path / "part.parquet"
    with pytest.raises(RawFormatError, match=r"data\.zip!nds_data/Vanilla_reruns\.json at byte offset \d+: "
                                             r"record mid\[1\]: test_ep_top1 has 2 values but optim.max_ep is 3"):
        convert_sweep(archive, "Vanilla_reruns.json", part)
    assert list(tmp_path.iterdir()) == [archive]


def test_missing_part_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"missing \['Amoeba\.json'"):
        write_store({s: tmp_path / s for s in SWEEP_FILES[1:]}, tmp_path / "nds.db", tmp_path / "nds")


def test_checks_pass_on_a_built_store_and_catch_tampering(tmp_path):
    out, _ = build(tmp_path, hand_archive(tmp_path / "data.zip"))
    assert check(out / "nds.db", out / "nds") == []
    with sqlite3.connect(out / "nds.db") as conn:
        conn.execute("UPDATE ndstrialstats SET best_test_acc = best_test_acc - 1 WHERE id = 3")
        conn.execute("DELETE FROM ndsintermediatestats WHERE id = 30")
    problems = check(out / "nds.db", out / "nds")
    assert any("best values = the best epoch's" in p for p in problems)
    assert any("1 rows violate: one intermediate per epoch" in p for p in problems)
    assert any("ndstrialstats.best_test_acc: Parquet and SQLite differ" in p for p in problems)
