"""nasbench_store.compat.nasbench.api against the raw records of the fixture, call by call.

No installable package carries google's nasbench API, so every value the facade returns is
compared with the record the fixture generator wrote (read with parse_record over iter_records),
and the semantics (one random.randint(0, 2) on the global generator per successful query, budget
counters, halfway metrics, errors) are checked against what the original's source does.
"""
from __future__ import annotations

import itertools
import random
import struct
import threading

import numpy as np
import pytest

from nasbench_store.compat.nasbench import api, model_spec_from_arch, model_spec_hash, model_spec_to_arch
from nasbench_store.nasbench101 import query_nb101_trial_stats
from nasbench_store.nasbench101.convert import convert_shard, write_store
from nasbench_store.nasbench101.graph import parse_adjacency
from nasbench_store.nasbench101.records import parse_record
from nasbench_store.nasbench101.synthetic import REFERENCE_HASH, canonical_cells, reference_cell, write_tfrecord
from nasbench_store.tfrecord import iter_records

C3, C1, MP = api.CONV3X3, api.CONV1X1, api.MAXPOOL3X3
REF_MATRIX = [[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0],
              [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0] * 7]
REF_OPS = ["input", C3, MP, C3, C3, C1, "output"]
QUERY_KEYS = ["module_adjacency", "module_operations", "trainable_parameters", "training_time",
              "train_accuracy", "validation_accuracy", "test_accuracy"]
STAT_KEYS = ["halfway_training_time", "halfway_train_accuracy", "halfway_validation_accuracy",
             "halfway_test_accuracy", "final_training_time", "final_train_accuracy",
             "final_validation_accuracy", "final_test_accuracy"]


def raw_statistics(raw_path):
    """What google's NASBench builds from the file: (fixed, computed) dicts keyed by hash, in file order."""
    fixed, computed = {}, {}
    for _, payload in iter_records(raw_path):
        run = parse_record(payload)
        if run.module_hash not in fixed:
            matrix = np.array(parse_adjacency(run.adjacency), dtype=np.int8)
            fixed[run.module_hash] = {"module_adjacency": matrix, "module_operations": run.operations.split(","),
                                      "trainable_parameters": run.trainable_parameters}
            computed[run.module_hash] = {}
        computed[run.module_hash].setdefault(run.epochs, []).append(dict(zip(STAT_KEYS, run.halfway + run.final)))
    return fixed, computed


@pytest.fixture(scope="module")
def raw(nb101_raw):
    return raw_statistics(nb101_raw)


@pytest.fixture
def nb(nb101_store):
    return api.NASBench(nb101_store, seed=0)


def spec_of(fixed_stat) -> api.ModelSpec:
    return api.ModelSpec(fixed_stat["module_adjacency"].tolist(), list(fixed_stat["module_operations"]))


def assert_fixed_equal(got, want):
    assert list(got) == ["module_adjacency", "module_operations", "trainable_parameters"]
    assert got["module_adjacency"].dtype == np.int8
    assert np.array_equal(got["module_adjacency"], want["module_adjacency"])
    assert got["module_operations"] == want["module_operations"] and type(got["module_operations"]) is list
    assert type(got["trainable_parameters"]) is int and got["trainable_parameters"] == want["trainable_parameters"]


def assert_computed_equal(got, want):
    """Exact equality of every float (no tolerance), keys in the original's order, Python floats."""
    assert sorted(got) == sorted(want) and list(got) == sorted(got)
    for epochs, repeats in want.items():
        assert len(got[epochs]) == len(repeats) == 3
        for g, w in zip(got[epochs], repeats):
            assert list(g) == STAT_KEYS
            assert all(type(v) is float for v in g.values())
            assert g == w, (epochs, g, w)


def test_every_cell_matches_the_raw_records(nb, raw):
    fixed, computed = raw
    assert list(nb.hash_iterator()) == list(fixed)  # the fixture, like the release, is sorted by hash
    assert len(nb.hash_iterator()) == len(nb.fixed_statistics) == len(nb.computed_statistics) == len(fixed) == 92
    assert nb.valid_epochs == {4, 12, 36, 108}
    for h in fixed:
        got_fixed, got_computed = nb.get_metrics_from_hash(h)
        assert_fixed_equal(got_fixed, fixed[h])
        assert_computed_equal(got_computed, computed[h])
        assert_fixed_equal(nb.fixed_statistics[h], fixed[h])
        assert_computed_equal(nb.computed_statistics[h], computed[h])
        spec = spec_of(fixed[h])
        assert spec.hash_spec(nb.config["available_ops"]) == h
        from_spec = nb.get_metrics_from_spec(spec)
        assert_fixed_equal(from_spec[0], fixed[h])
        assert_computed_equal(from_spec[1], computed[h])
    assert nb.get_budget_counters() == (0.0, 0)


def test_every_query_of_every_repeat_matches_the_raw_records(nb, raw):
    """Each query draws exactly one randint(0, 2) from the global generator and returns that repeat."""
    fixed, computed = raw
    for h, epochs, halfway in itertools.product(fixed, (4, 12, 36, 108), (False, True)):
        spec = spec_of(fixed[h])
        seen = set()
        while len(seen) < 3:
            state = random.getstate()
            k = random.randint(0, 2)
            random.setstate(state)
            data = nb.query(spec, epochs, stop_halfway=halfway)
            assert random.getstate() != state
            after = random.getstate()
            random.setstate(state)
            random.randint(0, 2)
            assert random.getstate() == after  # one draw, nothing more
            seen.add(k)
            want = computed[h][epochs][k]
            stage = "halfway" if halfway else "final"
            assert list(data) == QUERY_KEYS
            assert_fixed_equal({key: data[key] for key in QUERY_KEYS[:3]}, fixed[h])
            assert data["training_time"] == want[f"{stage}_training_time"]
            assert data["train_accuracy"] == want[f"{stage}_train_accuracy"]
            assert data["validation_accuracy"] == want[f"{stage}_validation_accuracy"]
            assert data["test_accuracy"] == want[f"{stage}_test_accuracy"]


def test_percent_and_millions_convert_back_exactly():
    """The store holds accuracy * 100 and parameters / 1e6 in float64. For float32 values (what the
    release holds) x * 100 is exact in float64 (24 + 7 significant bits), so dividing by 100 gives x
    back; a parameter count below 2**31 comes back from / 1e6 * 1e6 within far less than 0.5."""
    rng = random.Random(12)
    for _ in range(200_000):
        x = struct.unpack("<f", struct.pack("<f", rng.random()))[0]
        assert x * 100 / 100 == x
        p = rng.randrange(1, 2 ** 31)
        assert round(p / 1e6 * 1e6) == p
    for x in (0.0, 1.0, 0.1 * 0, struct.unpack("<f", struct.pack("<f", 0.1))[0]):
        assert x * 100 / 100 == x
    # not true of arbitrary doubles, which is why the release's float32 origin matters
    assert any(x * 100 / 100 != x for x in (rng.random() for _ in range(10_000)))


def test_seeded_objects_sample_the_same_repeats(nb101_store, raw):
    fixed, computed = raw
    cells = list(fixed)[::7]
    results = []
    for _ in range(2):
        nb = api.NASBench(nb101_store, seed=2024)
        results.append([nb.query(spec_of(fixed[h]), 108)["validation_accuracy"] for h in cells * 3])
    assert results[0] == results[1]
    random.seed(2024)  # what the original does: random.seed in the constructor, one randint per query
    assert results[0] == [computed[h][108][random.randint(0, 2)]["final_validation_accuracy"] for h in cells * 3]
    nb = api.NASBench(nb101_store, seed=2025)
    assert [nb.query(spec_of(fixed[h]), 108)["validation_accuracy"] for h in cells * 3] != results[0]


def test_seed_none_reseeds_the_global_generator(nb101_store):
    random.seed(5)
    expected = random.random()
    random.seed(5)
    api.NASBench(nb101_store)  # random.seed(None): fresh entropy, as the original
    assert random.random() != expected


def test_budget_counters_and_stop_halfway(nb, raw):
    fixed, computed = raw
    spec = api.ModelSpec(REF_MATRIX, REF_OPS)
    time_spent, epochs_spent = 0.0, 0
    for epochs, halfway in [(108, False), (4, True), (36, False), (12, True), (108, True)]:
        data = nb.query(spec, epochs, stop_halfway=halfway)
        time_spent += data["training_time"]
        epochs_spent += epochs // 2 if halfway else epochs
        assert nb.get_budget_counters() == (time_spent, epochs_spent)
    assert epochs_spent == 108 + 2 + 36 + 6 + 54
    counters = nb.get_budget_counters()
    assert type(counters[0]) is float and type(counters[1]) is int
    nb.is_valid(spec)
    nb.get_metrics_from_spec(spec)
    nb.get_metrics_from_hash(REFERENCE_HASH)
    list(nb.hash_iterator())
    assert nb.get_budget_counters() == counters
    assert (nb.training_time_spent, nb.total_epochs_spent) == counters
    nb.reset_budget_counters()
    assert nb.get_budget_counters() == (0.0, 0)
    assert type(nb.get_budget_counters()[0]) is float


def test_epochs_given_as_float_or_numpy_int(nb):
    spec = api.ModelSpec(REF_MATRIX, REF_OPS)
    random.seed(1)
    a = nb.query(spec, 108)
    random.seed(1)
    b = nb.query(spec, 108.0, stop_halfway=True)
    random.seed(1)
    c = nb.query(spec, np.int64(108))
    assert a["validation_accuracy"] == c["validation_accuracy"]
    assert b["training_time"] < a["training_time"]
    assert nb.get_budget_counters()[1] == 108 + 54.0 + 108


@pytest.mark.parametrize("epochs", [7, 0, 200, "108", None, 108.5, True])
def test_bad_epochs_raise_out_of_domain_before_any_draw(nb, epochs):
    state = random.getstate()
    with pytest.raises(api.OutOfDomainError, match="invalid number of epochs, must be one of"):
        nb.query(api.ModelSpec(REF_MATRIX, REF_OPS), epochs)
    assert random.getstate() == state and nb.get_budget_counters() == (0.0, 0)


def test_out_of_domain_specs_raise_before_any_draw(nb):
    cases = [
        api.ModelSpec([[0, 0], [0, 0]], ["input", "output"]),                       # disconnected
        api.ModelSpec(np.eye(8, k=1, dtype=int), ["input"] + [C3] * 6 + ["output"]),  # 8 vertices
        api.ModelSpec(np.triu(np.ones((6, 6), dtype=int), 1), ["input"] + [C3] * 4 + ["output"]),  # 15 edges
        api.ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["in", C3, "output"]),     # first op
        api.ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", C3, "out"]),     # last op
        api.ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"]),  # unknown op
    ]
    messages = ["invalid spec, provided graph is disconnected.", "too many vertices, got 8 (max vertices = 7)",
                "too many edges, got 15 (max edges = 9)", "first operation should be 'input'",
                "last operation should be 'output'",
                "unsupported op conv5x5 (available ops = ['conv3x3-bn-relu', 'conv1x1-bn-relu', 'maxpool3x3'])"]
    state = random.getstate()
    for spec, message in zip(cases, messages):
        assert not nb.is_valid(spec)
        for call in (nb.query, nb.get_metrics_from_spec):
            with pytest.raises(api.OutOfDomainError) as info:
                call(spec)
            assert str(info.value) == message
    assert random.getstate() == state and nb.get_budget_counters() == (0.0, 0)


def test_valid_spec_missing_from_the_store_is_a_key_error_before_any_draw(nb):
    """The fixture holds cells of up to 4 vertices (and the reference cell): a valid 5-vertex chain is absent."""
    spec = api.ModelSpec(np.eye(5, k=1, dtype=int), ["input", C3, C3, C3, "output"])
    assert nb.is_valid(spec)
    h = spec.hash_spec(nb.config["available_ops"])
    state = random.getstate()
    for call in (nb.query, nb.get_metrics_from_spec):
        with pytest.raises(KeyError) as info:
            call(spec)
        assert info.value.args == (h,)
    assert random.getstate() == state
    for view in (nb.fixed_statistics, nb.computed_statistics):
        assert h not in view
        with pytest.raises(KeyError):
            view[h]
    with pytest.raises(KeyError):
        nb.get_metrics_from_hash("not a hash")
    assert 108 not in nb.fixed_statistics and None not in nb.computed_statistics


def test_dangling_vertices_are_pruned_before_lookup(nb, raw):
    fixed, computed = raw
    m = np.zeros((7, 7), dtype=int)
    m[0, 1] = m[1, 2] = m[2, 6] = 1   # input -> conv3x3 -> maxpool -> output
    m[0, 3] = m[3, 4] = 1             # a branch that never reaches the output
    m[5, 6] = 1                       # a vertex the input never reaches
    spec = api.ModelSpec(m, ["input", C3, MP, "junk-op", C1, "another", "output"])
    assert spec.ops == ["input", C3, MP, "output"] and nb.is_valid(spec)
    h = spec.hash_spec(nb.config["available_ops"])
    assert h in fixed
    _, got = nb.get_metrics_from_spec(spec)
    assert got == computed[h]


def test_isomorphic_specs_share_a_record(nb):
    order = [0, 4, 1, 2, 3, 5, 6]  # new vertex i is old vertex order[i]; edges still go forward
    inverse = {old: new for new, old in enumerate(order)}
    m = np.zeros((7, 7), dtype=int)
    for a, b in zip(*np.nonzero(REF_MATRIX)):
        m[inverse[a], inverse[b]] = 1
    assert not np.any(np.tril(m)) and m.tolist() != REF_MATRIX
    spec = api.ModelSpec(m, [REF_OPS[o] for o in order])
    assert spec.hash_spec(nb.config["available_ops"]) == REFERENCE_HASH
    assert nb.get_metrics_from_spec(spec)[1] == nb.computed_statistics[REFERENCE_HASH]


def test_statistics_views_are_read_only_and_lazy(nb, raw):
    fixed, _ = raw
    for view in (nb.fixed_statistics, nb.computed_statistics):
        with pytest.raises(TypeError):
            view[REFERENCE_HASH] = {}
        with pytest.raises(TypeError):
            del view[REFERENCE_HASH]
        assert REFERENCE_HASH in view and list(view) == list(fixed) and len(view) == 92
        assert set(view.keys()) == set(fixed)
    keys = nb.hash_iterator()
    assert REFERENCE_HASH in keys and len(keys) == 92 and list(keys) == list(fixed)
    # a changed result dict is a copy: the next lookup is unaffected
    nb.computed_statistics[REFERENCE_HASH][108][0]["final_test_accuracy"] = -1
    assert nb.computed_statistics[REFERENCE_HASH][108][0]["final_test_accuracy"] >= 0
    assert all(not isinstance(v, dict | list | set) or len(v) < 50 for v in vars(nb).values())  # nothing loaded


def test_config_is_nasbenchs_flag_defaults(nb):
    assert nb.config["module_vertices"] == 7 and nb.config["max_edges"] == 9 and nb.config["num_repeats"] == 3
    assert nb.config["available_ops"] == ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]
    assert list(nb.config)[:3] == ["train_data_files", "valid_data_file", "test_data_file"]
    assert len(nb.config) == 25 and nb.history == {}
    assert api.NASBench.__init__.__defaults__ == (None, None)


def test_evaluate_says_it_needs_tensorflow(nb):
    with pytest.raises(NotImplementedError, match="TensorFlow"):
        nb.evaluate(api.ModelSpec(REF_MATRIX, REF_OPS), "/tmp/model")


def test_threads_share_one_facade(nb, raw):
    fixed, computed = raw
    errors = []

    def work(cells):
        try:
            for h in cells:
                assert nb.get_metrics_from_hash(h)[1] == computed[h]
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(list(fixed)[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_native_helpers_link_model_spec_nni_dict_and_hash(nb101_store, monkeypatch):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(nb101_store))
    spec = api.ModelSpec(REF_MATRIX, REF_OPS)
    arch = model_spec_to_arch(spec)
    assert model_spec_hash(spec) == model_spec_hash(model_spec_from_arch(arch)) == REFERENCE_HASH
    runs = list(query_nb101_trial_stats(arch, 108))
    nb = api.NASBench()
    _, computed = nb.get_metrics_from_spec(model_spec_from_arch(arch))
    assert [r["valid_acc"] / 100 for r in runs] == [c["final_validation_accuracy"] for c in computed[108]]
    with pytest.raises(api.OutOfDomainError):
        model_spec_to_arch(api.ModelSpec([[0, 0], [0, 0]], ["input", "output"]))


@pytest.fixture(scope="module")
def mixed_db(tmp_path_factory):
    """A store whose cells do not all have every epoch budget, from a raw file not sorted by hash:
    2-3 vertex cells at 4/12/36/108 epochs, then 4-vertex cells at 108 only (two files back to back)."""
    base = tmp_path_factory.mktemp("nb101-mixed")
    small = canonical_cells(3)
    large = [c for c in canonical_cells(4) if len(c.ops) == 4][:10] + [reference_cell()]
    a = write_tfrecord(base / "a.tfrecord", small)
    b = write_tfrecord(base / "b.tfrecord", large, epochs=(108,))
    raw = base / "mixed.tfrecord"
    raw.write_bytes(a.read_bytes() + b.read_bytes())
    part = base / "part-0.parquet"
    convert_shard(raw, 0, 1, part)
    db = base / "nasbench101.db"
    write_store([part], db_path=db, raw=raw)
    return raw, db, [c.module_hash for c in large]


def test_a_missing_epoch_budget_is_a_key_error_after_the_draw(mixed_db):
    raw, db, only108 = mixed_db
    fixed, computed = raw_statistics(raw)
    nb = api.NASBench(db, seed=3)
    assert list(nb.hash_iterator()) == sorted(fixed) != list(fixed)  # ascending, not the file's order
    spec = api.ModelSpec(REF_MATRIX, REF_OPS)
    assert nb.query(spec, 108)["validation_accuracy"] in [r["final_validation_accuracy"]
                                                          for r in computed[REFERENCE_HASH][108]]
    state = random.getstate()
    with pytest.raises(KeyError) as info:
        nb.query(spec, 4)
    assert info.value.args == (4,)
    after = random.getstate()
    random.setstate(state)
    random.randint(0, 2)
    assert random.getstate() == after != state  # the original samples before it indexes by epochs
    assert nb.get_budget_counters()[1] == 108
    for h in fixed:
        got_fixed, got_computed = nb.get_metrics_from_hash(h)
        assert_fixed_equal(got_fixed, fixed[h])
        assert_computed_equal(got_computed, computed[h])
    assert all(list(nb.computed_statistics[h]) == [108] for h in only108)


def _child_metrics(args):
    nb, h = args
    return nb.get_metrics_from_hash(h)[1]


_INHERITED = {}


def _inherited_metrics(h):
    return _INHERITED["nb"].get_metrics_from_hash(h)[1]


def test_worker_processes_open_their_own_connection(nb, raw):
    """A facade inherited through fork, or pickled to a worker (as the original's dicts can be)."""
    import multiprocessing
    import pickle

    fixed, computed = raw
    nb.get_metrics_from_hash(REFERENCE_HASH)  # the parent's connection is open before the fork
    cells = list(fixed)[:8]
    _INHERITED["nb"] = nb
    try:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            assert pool.map(_inherited_metrics, cells) == [computed[h] for h in cells]
            assert pool.map(_child_metrics, [(nb, h) for h in cells]) == [computed[h] for h in cells]
    finally:
        _INHERITED.clear()
    copy = pickle.loads(pickle.dumps(nb))
    assert copy.get_metrics_from_hash(REFERENCE_HASH)[1] == computed[REFERENCE_HASH]
    assert copy.get_budget_counters() == nb.get_budget_counters() and copy.valid_epochs == nb.valid_epochs
    assert nb.get_metrics_from_hash(REFERENCE_HASH)[1] == computed[REFERENCE_HASH]
