"""The NB201 store's extra tables (what the official-API facades need beyond NNI's tables), checked by
hand against the raw records; what the conversion refuses because the store could not answer it
faithfully; the checks that verify and publish run on them; how a facade finds its store (directory,
.db, default store, raw .pth / .tar / NATS directory by digest, remembered) and what it refuses."""
from __future__ import annotations

import pickle
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nasbench_store.compat import nats_bench
from nasbench_store.compat.nas_201_api import NASBench201API, Nb201LookupError, WeightsNotStoredError
from nasbench_store.errors import DamagedStoreError, RawFormatError, StoreNotFoundError
from nasbench_store.manifest import publish, raw_digest
from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.checks import EXTRA_RULES, check, values_only_where_keys
from nasbench_store.nasbench201.constants import DATASETS, RAW_DATASETS, SPLITS
from nasbench_store.nasbench201.convert import convert, convert_part
from nasbench_store.registry import get

NUM_ARCHS, SEED, CHOSEN = 6, 5, [0, 1, 2, 4]
SPLIT_KEYS = ("x-valid", "x-test", "ori-test")


def publish_store(tmp: Path, raw: Path, name: str = "store") -> Path:
    """Convert `raw` and publish it into tmp/name as the workflow does (manifest with the raw digest)."""
    build = tmp / f"{name}-build"
    convert(raw, build / "nasbench201.db", build / "parquet", work_dir=tmp)
    entry = get("nasbench201")
    files = {entry.db_filename: build / "nasbench201.db",
             **{entry.parquet_file(t): build / "parquet" / f"{t}.parquet" for t in entry.stored_tables}}
    publish(tmp / name, "nasbench201", files, raw_digest(raw))
    return tmp / name


@pytest.fixture(scope="module")
def pth(tmp_path_factory) -> Path:
    return fx.write_nb201_pth(tmp_path_factory.mktemp("raw") / "NAS-Bench-201-v1_1-096897.pth",
                              NUM_ARCHS, SEED, CHOSEN)


@pytest.fixture(scope="module")
def store(tmp_path_factory, pth) -> Path:
    return publish_store(tmp_path_factory.mktemp("nb201"), pth)


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NASBENCHMARK_DIR", str(tmp_path / "no-store-here"))
    return monkeypatch


def rows(db: Path, sql: str, *params):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def raw_dict(path: Path) -> dict:
    with open(path, "rb") as f:
        return [pickle.load(f) for _ in range(5)][3]


def test_extra_tables_hold_the_runs_details_times_and_key_presence(store, pth):
    db = store / "nasbench201.db"
    obj = raw_dict(pth)
    archs = rows(db, "SELECT arch_index, arch_str FROM nb201arch ORDER BY arch_index")
    assert archs == list(enumerate(obj["meta_archs"]))
    trials = rows(db, "SELECT s.id, s.config_id, s.seed, i.arch_index, i.latency_mean, i.channels, i.num_cells, "
                      "i.num_classes, i.eval_names FROM nb201trialstats s JOIN nb201trialinfo i ON i.trial_id = s.id")
    assert len(trials) == rows(db, "SELECT COUNT(*) FROM nb201trialstats")[0][0] > 40
    for trial_id, config_id, seed, index, latency, channels, cells, classes, names in trials:
        position = (config_id - 1) % 8
        budget, dataset = ("less", "full")[position // 4], RAW_DATASETS[position % 4]
        r = obj["arch2infos"][index]["full" if budget == "full" else "less"]["all_results"][(dataset, seed)]
        epochs = r["epochs"]
        assert index == (config_id - 1) // 8 and latency == sum(r["latency"]) / len(r["latency"])
        assert (channels, cells, classes) == (16, 5, fx.CLASS_NUM[dataset]) and names.split(",") == r["eval_names"]
        spans = rows(db, "SELECT from_epoch, to_epoch, train_time, x_valid_time, x_test_time, ori_test_time, "
                         "has_train_acc, has_train_loss, has_x_valid_acc, has_x_valid_loss, has_x_test_acc, "
                         "has_x_test_loss, has_ori_test_acc, has_ori_test_loss FROM nb201epochspan "
                         "WHERE trial_id = ? ORDER BY id", trial_id)
        per_epoch = [span[2:] for span in spans for _ in range(span[0], span[1] + 1)]
        assert [s[0] for s in spans] == [1] + [s[1] + 1 for s in spans[:-1]] and spans[-1][1] == epochs
        for e, got in enumerate(per_epoch):
            keys = [f"{s}@{e}" for s in SPLIT_KEYS]
            assert got == (r["train_times"].get(e), *(r["eval_times"].get(k) for k in keys),
                           e in r["train_acc1es"], e in r["train_losses"],
                           *(k in d for k in keys for d in (r["eval_acc1es"], r["eval_losses"])))
    # constant times and keys make one span; v1_1's 200-epoch cifar100 runs hold x-valid/x-test at the end only
    assert rows(db, "SELECT COUNT(*) FROM nb201epochspan")[0][0] < 2 * len(trials)


def test_the_checks_find_each_kind_of_damage_to_the_extra_tables(store, tmp_path):
    assert check(store / "nasbench201.db", store / "nasbench201") == []
    damage = {
        "one nb201trialinfo row per run, with its architecture's index": "UPDATE nb201trialinfo SET arch_index = 3 "
                                                                          "WHERE trial_id = 1",
        "run details: latency >= 0 and finite, sizes > 0, eval_names of x-valid, x-test, ori-test":
            "UPDATE nb201trialinfo SET eval_names = 'x-valid,train' WHERE trial_id = 2",
        "a run's epoch spans cover 1..num_epochs once, in order": "UPDATE nb201epochspan SET from_epoch = 150 "
                                                                  "WHERE id = (SELECT MAX(id) FROM nb201epochspan)",
        "span times finite >= 0 or NULL, flags 0 or 1": "UPDATE nb201epochspan SET has_train_acc = 2 WHERE id = 1",
        "no metrics for splits NNI's mapping has no column for": "UPDATE nb201epochspan SET has_x_test_acc = 1 "
                                                                 "WHERE trial_id = 1",
        "NNI's final values and times come from the last span": "UPDATE nb201epochspan SET train_time = 1.5 "
                                                                "WHERE trial_id = 1",
    }
    for rule, sql in damage.items():
        db = tmp_path / "copy.db"
        shutil.copyfile(store / "nasbench201.db", db)
        db.chmod(0o644)
        with sqlite3.connect(db) as conn:
            conn.execute(sql)
            assert conn.execute(EXTRA_RULES[rule]).fetchone()[0], rule
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE nb201arch SET arch_str = (SELECT arch_str FROM nb201arch WHERE arch_index = 5) || 'x' "
                     "WHERE arch_index = 0")
    problems = check(db, store / "nasbench201")
    assert any("nb201arch strings are the configs' archs (arch indexes [0])" in p for p in problems)


def _values_outside_keys(parquet_dir: Path) -> int:
    """The per-epoch-values rule, row by row in plain Python: the oracle of the vectorised check."""
    configs = {r["id"]: r["dataset"] for r in pq.read_table(parquet_dir / "nb201trialconfig.parquet").to_pylist()}
    dataset = {r["id"]: configs[r["config_id"]] for r in pq.read_table(parquet_dir / "nb201trialstats.parquet",
                                                                        columns=["id", "config_id"]).to_pylist()}
    spans: dict[int, list[dict]] = {}
    for span in pq.read_table(parquet_dir / "nb201epochspan.parquet").to_pylist():
        spans.setdefault(span["trial_id"], []).append(span)
    bad = 0
    for row in pq.read_table(parquet_dir / "nb201intermediatestats.parquet").to_pylist():
        span = next((s for s in spans.get(row["trial_id"], []) if s["from_epoch"] <= row["current_epoch"]
                     <= s["to_epoch"]), None)
        if span is None:
            continue
        for col, split in (("train", "train"), *zip(("valid", "test", "ori_test"), SPLITS[dataset[row["trial_id"]]])):
            for metric in ("acc", "loss"):
                if row[f"{col}_{metric}"] is not None and not span[f"has_{split.replace('-', '_')}_{metric}"]:
                    bad += 1
    return bad


@pytest.mark.parametrize("damage", ["none", "one trial's train loss", "random flags", "every flag",
                                    "every flag, spans shuffled"])
def test_per_epoch_values_only_where_keys_matches_a_row_by_row_oracle(store, tmp_path, damage):
    """The vectorised rule (binary search per row) counts exactly what a row-by-row walk counts."""
    parquet = tmp_path / "parquet"
    shutil.copytree(store / "nasbench201", parquet)
    path = parquet / "nb201epochspan.parquet"
    path.chmod(0o644)
    spans = pq.read_table(path)
    rng = np.random.default_rng(len(damage))
    flags = [f for f in spans.column_names if f.startswith("has_")]
    for name in flags:
        values = spans.column(name).to_numpy().copy()
        if damage == "one trial's train loss" and name == "has_train_loss":
            values[spans.column("trial_id").to_numpy() == 3] = 0
        elif damage == "random flags":
            values[rng.random(len(values)) < 0.2] = 0
        elif damage.startswith("every flag"):
            values[:] = 0
        spans = spans.set_column(spans.column_names.index(name), name, pa.array(values))
    if damage.endswith("shuffled"):  # another writer's row order: the check sorts the spans itself
        spans = spans.take(rng.permutation(spans.num_rows))
    pq.write_table(spans, path, row_group_size=97)  # several row groups
    expected = _values_outside_keys(parquet)
    assert (expected == 0) == (damage == "none")
    found = values_only_where_keys(parquet)
    assert found == ([f"{expected} rows violate: NNI's per-epoch values only where the release has the key"]
                     if expected else [])


def bad_pth(tmp_path: Path, change) -> Path:
    obj = fx.benchmark_dict(2)
    change(obj["arch2infos"][1]["full"], obj["arch2infos"][1]["full"]["all_results"][("cifar10", 888)])
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    path.write_bytes(fx.LEGACY_HEADER + pickle.dumps(obj, protocol=2) + fx.LEGACY_TAIL)
    return path


def _set(key, value):
    def change(state, run):
        run[key] = value
    return change


def _item(key, item, value):
    def change(state, run):
        run[key][item] = value
    return change


RUN = "arch 1 (200 epochs) cifar10 seed 888"


@pytest.mark.parametrize("change, problem", [
    (lambda state, run: state["dataset_seed"]["cifar10"].append(999),
     "arch 1 (200 epochs): dataset_seed {"),
    (lambda state, run: state.pop("dataset_seed"), "arch 1 (200 epochs): dataset_seed None does not list"),
    (_item("eval_acc1es", "x-valid@7", 50.0), f"{RUN}: eval_acc1es holds x-valid values, which NNI's split mapping "
                                              "has no column for on cifar10"),
    (_item("train_losses", 7, None), f"{RUN}: train_losses[7] is None, not a number"),
    (_item("eval_times", "ori-test@7", None), f"{RUN}: eval_times['ori-test@7'] is None"),
    (_item("eval_times", "x-test@7", -1.0), f"{RUN}: eval_times['x-test@7'] -1.0 is not a finite number >= 0"),
    (_item("train_times", 250, 1.0), f"{RUN}: train_times keys [0, 1,"),
    (_set("epochs", 12), f"{RUN}: epochs 12 is not the budget's 200"),
    (_item("arch_config", "class_num", 0), f"{RUN}: arch_config['class_num'] 0 is not a positive integer"),
    (_item("arch_config", "arch_str", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
     f"{RUN}: arch_config['arch_str'] '|none~0|"),
    (_set("eval_names", ["ori-test", "x-train"]), f"{RUN}: eval_names ['ori-test', 'x-train'] is not a list of"),
    (_set("latency", [0.01, float("nan")]), f"{RUN}: latency[1] is NaN"),
])
def test_what_the_facades_could_not_answer_faithfully_is_refused(tmp_path, change, problem):
    raw = bad_pth(tmp_path, change)
    with pytest.raises(RawFormatError) as info:
        convert_part(raw, tmp_path / "part.parquet")
    assert str(info.value).startswith(f"{raw} {problem}"), str(info.value)
    assert not (tmp_path / "part.parquet").exists()


def test_a_facade_reads_a_store_directory_its_db_or_the_default_store(store, env):
    for given in (store, str(store / "nasbench201.db")):
        api = NASBench201API(given, verbose=False)
        assert api.store_path == store / "nasbench201.db" and len(api) == NUM_ARCHS
        assert api.evaluated_indexes == CHOSEN and sorted(api.avaliable_hps) == ["12", "200"]
    env.setenv("NASBENCHMARK_DIR", str(store))
    api = nats_bench.create()
    assert api.store_path == store / "nasbench201.db" and api.fast_mode and api.evaluated_indexes == set()
    assert repr(api) == f"NATStopology(0/{NUM_ARCHS} architectures, fast_mode=True, file=None)"
    assert api.get_more_info(1, "cifar10", hp="200", is_random=False)["test-accuracy"] > 0
    assert api.evaluated_indexes == {1} and sorted(api.avaliable_hps) == ["12", "200"]
    assert nats_bench.create(None, "topology", fast_mode=False).evaluated_indexes == set(CHOSEN)


def test_the_raw_pth_finds_its_store_by_digest_hashed_once(store, pth, env, tmp_path):
    env.setenv("NASBENCHMARK_DIR", str(store))
    api = NASBench201API(str(pth), verbose=False)
    assert api.store_path == store / "nasbench201.db" and api.filename == pth.name
    calls = []
    env.setattr("nasbench_store.compat.sha256_file", lambda path: calls.append(path) or "x")
    assert NASBench201API(pth, verbose=False).store_path == store / "nasbench201.db"   # the cached digest
    assert calls == []
    other = fx.write_nb201_pth(tmp_path / "other.pth", NUM_ARCHS, SEED + 1, CHOSEN)
    with pytest.raises(StoreNotFoundError, match=r"snakemake --cores 2 nasbench201 --configfile mine\.yaml"):
        nats_bench.create(str(other), "tss")


@pytest.mark.parametrize("as_tar", [True, False])
def test_a_nats_archive_or_its_directory_finds_its_store(tmp_path, env, as_tar):
    name = "NATS-tss-v1_0-3ffb9-simple" + (".tar" if as_tar else "")
    raw = fx.write_nats_tss_archive(tmp_path / "raw" / name, 5, 2, [0, 1, 3])
    store = publish_store(tmp_path, raw)
    env.setenv("NASBENCHMARK_DIR", str(store))
    api = nats_bench.create(str(raw), "tss", fast_mode=True)
    assert api.store_path == store / "nasbench201.db" and api.meta_archs == fx.arch_strings(5, 2)
    if not as_tar:
        calls = []
        env.setattr("nasbench_store.manifest.raw_digest", lambda path: calls.append(path))
        assert nats_bench.create(raw).store_path == store / "nasbench201.db" and calls == []
        (raw / "000003.pickle.pbz2").write_bytes(b"changed")   # another archive now: no store built from it
        env.undo()
        env.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        env.setenv("NASBENCHMARK_DIR", str(store))
        with pytest.raises(StoreNotFoundError, match="no NAS-Bench-201 store built from the NATS-tss directory"):
            nats_bench.create(raw)


def test_what_the_facades_refuse(store, env, tmp_path):
    api = nats_bench.create(store)
    with pytest.raises(nats_bench.SizeSpaceNotBuiltError, match="size search space .* is not built yet"):
        nats_bench.create(store, "sss")
    with pytest.raises(ValueError, match="invalid search space"):
        nats_bench.create(store, "nas")
    for call in (lambda: api.get_net_param(1, "cifar10", None), lambda: api.reload(None, 1),
                 lambda: NASBench201API(store, verbose=False).get_net_param(1, "cifar10", 777, hp="200"),
                 lambda: next(iter(api.query_by_index(1, "cifar10", hp="200").values())).get_net_param()):
        with pytest.raises(WeightsNotStoredError, match="needs trained weights.*'simple' NATS-tss archive"):
            call()
    with pytest.raises(TypeError, match="not from a loaded dict"):
        NASBench201API({"meta_archs": []})
    with pytest.raises(Nb201LookupError) as info:
        NASBench201API(store, verbose=False).get_net_config(3, "cifar10")
    assert isinstance(info.value, NameError) and isinstance(info.value, ValueError)
    old = tmp_path / "old.db"
    shutil.copyfile(store / "nasbench201.db", old)
    old.chmod(0o644)
    with sqlite3.connect(old) as conn:
        conn.execute("DROP TABLE nb201epochspan")
    with pytest.raises(DamagedStoreError, match="nb201epochspan is missing.*rebuild it"):
        NASBench201API(old, verbose=False)


def test_nas_bench_201_1x_budget_flag(store):
    api = NASBench201API(store, verbose=False)
    for flag, hp in ((True, "12"), (False, "200")):
        want = repr(api.get_more_info(1, "cifar100", hp=hp, is_random=False))   # repr: NaN losses compare equal
        assert repr(api.get_more_info(1, "cifar100", use_12epochs_result=flag, is_random=False)) == want
        assert repr(api.get_more_info(1, "cifar100", None, flag, False)) == want   # 1.x's positional form
        assert api.get_cost_info(1, "cifar100", flag) == api.get_cost_info(1, "cifar100", hp)
        assert api.find_best("cifar100", "valid", None, None, flag) == api.find_best("cifar100", "valid", hp=hp)
    assert api.query_by_arch(1) == api.query_by_arch(1, "200") and "arch-index=1" in api.query_by_arch(1)
    assert set(DATASETS) == {d.lower() for d in RAW_DATASETS}


def _child_query(api) -> float:
    return api.get_more_info(1, "cifar100", hp="200", is_random=False)["valtest-accuracy"]


def test_a_facade_survives_pickling_and_a_forked_worker(store):
    import multiprocessing
    import pickle as pickle_module
    api = nats_bench.create(store, "tss", fast_mode=False)
    want = _child_query(api)
    copy = pickle_module.loads(pickle_module.dumps(api))
    assert _child_query(copy) == want and copy.store_path == api.store_path
    with multiprocessing.get_context("fork").Pool(1) as pool:   # the child opens its own connection
        assert pool.apply(_child_query, (api,)) == want
    assert _child_query(api) == want
