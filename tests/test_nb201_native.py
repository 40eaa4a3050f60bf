"""The project's own NAS-Bench-201 helpers (nasbench_store.nasbench201.architectures and space): index <->
arch string <-> NNI dict on a fixture store, iterating and sampling, NNI's rows with their index, and
nats_bench's isomorphism strings over the whole space."""
from __future__ import annotations

import itertools
import random

import pytest
from helpers import require_or_skip
from helpers.stores import built_files, nb201_built, raw_entry

from nasbench_store import frames
from nasbench_store import nasbench201 as nb
from nasbench_store.errors import QueryError, StoreNotFoundError
from nasbench_store.manifest import publish
from nasbench_store.nasbench201.constants import RAW_OPS
from nasbench_store.nasbench201.synthetic import arch_strings


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A published store of a .pth of 6 architectures (5 with results); NASBENCHMARK_DIR points at it."""
    tmp = tmp_path_factory.mktemp("nb201-native")
    raw, built = nb201_built(tmp)
    publish(tmp / "store", "nasbench201", built_files("nasbench201", built), raw_entry(raw))
    mp = pytest.MonkeyPatch()
    mp.setenv("NASBENCHMARK_DIR", str(tmp / "store"))
    yield tmp / "store"
    mp.undo()


def test_index_string_and_nni_dict_round_trip(store):
    meta = arch_strings(6, seed=5)   # what nb201_built wrote, in the release's order
    assert nb.arch_strs() == nb.arch_strs(store) == tuple(meta)
    for index, text in enumerate(meta):
        arch = nb.parse_arch_str(text)
        assert nb.arch_str_of(index) == text and nb.nni_arch_of(index) == arch
        raw_spelling = {edge: op.replace("conv_", "nor_conv_") for edge, op in arch.items()}
        for form in (index, text, arch, raw_spelling, nb.Architecture(index, text)):
            assert nb.index_of(form) == index
            assert nb.architecture(form) == nb.Architecture(index, text)
        assert nb.architecture(index).arch == arch and nb.arch_str(arch) == text
    assert [a.index for a in nb.iter_architectures()] == list(range(6))
    assert [a.arch_str for a in nb.iter_architectures(store)] == meta


@pytest.mark.parametrize("bad", [-1, 6, True, "|none~0|+", {"0_1": "conv_5x5"}, 2.0, None])
def test_what_is_not_an_architecture_of_the_store(store, bad):
    with pytest.raises(QueryError):
        nb.index_of(bad)


def test_a_cell_the_store_does_not_hold_and_a_missing_store(store, tmp_path):
    absent = next(a for a in arch_strings(50, seed=5) if a not in nb.arch_strs())
    with pytest.raises(QueryError, match="not one of this store's 6"):
        nb.index_of(absent)
    with pytest.raises(StoreNotFoundError, match="nasbench-store build nasbench201"):
        nb.arch_strs(tmp_path)


def test_samples_are_distinct_and_the_same_for_a_seed(store):
    state = random.getstate()
    first = nb.sample(4, seed=3)
    assert random.getstate() == state   # the global generator is not touched
    assert first == nb.sample(4, seed=3) and len({a.index for a in first}) == 4
    assert all(nb.architecture(a.index) == a for a in first)
    assert len({tuple(a.index for a in nb.sample(4, seed=s)) for s in range(10)}) > 1
    assert sorted(a.index for a in nb.sample(6, seed=0)) == list(range(6))
    assert nb.sample(0, seed=1) == []
    for n in (7, -1, 2.5):
        with pytest.raises(QueryError):
            nb.sample(n, seed=0)


def test_nni_rows_carry_their_architecture_index(store):
    for reduction in (None, "mean"):
        for arch in (None, nb.arch_str_of(1), nb.nni_arch_of(5)):
            plain = list(nb.query_nb201_trial_stats(arch, 200, "cifar100", reduction, True))
            indexed = list(nb.query_with_index(arch, 200, "cifar100", reduction, True))
            assert plain and len(indexed) == len(plain)
            for row, want in zip(indexed, plain):
                assert row.pop("arch_index") == nb.index_of(row["config"]["arch"])
                assert row.pop("arch_str") == nb.arch_str(row["config"]["arch"])
                assert row == want   # otherwise exactly NNI's dict
    assert {r["arch_index"] for r in nb.query_with_index(None, 12, None)} == {0, 1, 2, 3, 5}


def test_frames_architectures_agree(store):
    table = frames.architectures("nasbench201", store_dir=store)
    for row in table.itertuples():
        assert nb.index_of(row.arch) == row.arch_index == nb.arch_index_of_config(row.config_id)
        assert nb.arch_str_of(row.arch_index) == row.arch_str


def test_unique_strings_are_nats_benchs_over_the_whole_space():
    try:
        from nats_bench.genotype_utils import topology_str2structure
    except ImportError as exc:
        require_or_skip("NASBENCH_REQUIRE_ORACLE", f"the official nats_bench oracle is missing ({exc})")
    groups = set()
    for ops in itertools.product(RAW_OPS, repeat=6):
        text = f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"
        want = topology_str2structure(text).to_unique_str(consider_zero=True)
        assert nb.unique_str(text) == nb.unique_str(nb.parse_arch_str(text)) == want, text
        groups.add(want)
    assert len(groups) == 6466   # the count nats_bench's own test asserts
