"""The project's own NAS-Bench-101 helpers (nasbench_store.nasbench101.architectures): a ModelSpec or
(matrix, ops) <-> NNI dict <-> graph hash, checked on the reference's hashes and on every cell of the
fixture store, against the raw records, the nasbench facade and NNI's query; iterating and sampling."""
from __future__ import annotations

import random

import numpy as np
import pytest

from nasbench_store import nasbench101 as nb
from nasbench_store.compat.nasbench import api
from nasbench_store.errors import QueryError, StoreNotFoundError
from nasbench_store.nasbench101 import architectures
from nasbench_store.nasbench101.records import parse_record
from nasbench_store.tfrecord import iter_records

CONV1X1, CONV3X3, MAXPOOL = "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3"
# official-apis.md 5.1: the notebook's Inception-like cell (as queried) and its hash
INCEPTION = ([[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
              [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
             ["input", CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL, "output"])
INCEPTION_HASH = "28cfc7874f6d200472e1a9dcd8650aa0"
DANGLING = ([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", CONV1X1, CONV3X3, "output"])
CHAIN_HASH = "b49ac8c578b4561d79ac7087988f1c61"


@pytest.fixture(scope="module")
def store(nb101_store):
    mp = pytest.MonkeyPatch()
    mp.setenv("NASBENCHMARK_DIR", str(nb101_store))
    yield nb101_store
    mp.undo()


def test_every_form_of_a_cell_gives_the_references_hash():
    matrix, ops = INCEPTION
    spec = api.ModelSpec(matrix, ops)
    for form in ((matrix, ops), (np.array(matrix), tuple(ops)), (spec, None), (nb.cell_arch(spec), None)):
        assert nb.cell_hash(*form) == INCEPTION_HASH
    assert nb.cell_arch(matrix, ops) == nb.spec_to_arch(matrix, ops)   # nothing to prune there


def test_pruning_as_nasbench_does():
    matrix, ops = DANGLING   # vertex 1 reaches nothing: the cell is the chain input -> conv3x3 -> output
    chain = {"op1": CONV3X3, "input1": [0], "input2": [1]}
    assert nb.cell_spec(matrix, ops) == ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", CONV3X3, "output"])
    assert nb.cell_arch(matrix, ops) == nb.cell_arch(api.ModelSpec(matrix, ops)) == chain
    assert nb.cell_hash(matrix, ops) == nb.cell_hash(chain) == nb.cell_hash(nb.spec_to_arch(matrix, ops)) == CHAIN_HASH


@pytest.mark.parametrize("cell, ops, why", [
    ([[0, 0, 1], [0, 0, 0], [0, 0, 0]], ["input", CONV3X3, "output"], None),   # valid: the direct edge
    ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", CONV3X3, "output"], "not connected"),
    ([[0, 1], [1, 0]], ["input", "output"], "upper-triangular"),
    ([[0, 1, 0], [0, 0, 1]], ["input", CONV3X3, "output"], "3x3"),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"], "unknown NAS-Bench-101 op"),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [CONV3X3, CONV3X3, "output"], "first op must be 'input'"),
    ([[int(j == i + 1) for j in range(8)] for i in range(8)], ["input", *[CONV3X3] * 6, "output"], "at most 7"),
    ([[int(j > i) for j in range(7)] for i in range(7)], ["input", *[CONV3X3] * 5, "output"], "at most 9"),
    ("cell", None, "not str"),
    (api.ModelSpec([[0, 0], [0, 0]], ["input", "output"]), None, "not connected"),
])
def test_cells_outside_the_space_say_why(cell, ops, why):
    if why is None:
        assert nb.cell_hash(cell, ops) == nb.spec_hash([[0, 1], [0, 0]], ["input", "output"])
        return
    for convert in (nb.cell_spec, nb.cell_arch, nb.cell_hash):
        with pytest.raises(QueryError, match=why):
            convert(cell, ops)


def test_every_stored_cell_in_every_encoding(store, nb101_raw, monkeypatch):
    records = {}
    for _, payload in iter_records(nb101_raw):
        record = parse_record(payload)
        records.setdefault(record.module_hash, record)
    monkeypatch.setattr(architectures, "_PAGE", 7)   # several pages over the fixture's cells
    cells = list(nb.iter_cells())
    assert [c.hash for c in cells] == sorted(records) == [h.decode() for h in nb.hashes(store)]
    assert [c.hash for c in cells] == list(api.NASBench(store).hash_iterator())
    for cell in cells:
        spec = api.ModelSpec(cell.matrix, cell.ops)
        assert nb.cell_hash(cell.arch) == nb.cell_hash(cell.matrix, cell.ops) == nb.cell_hash(spec) == cell.hash
        assert nb.cell_hash(nb.cell_arch(spec)) == spec.hash_spec(list(nb.AVAILABLE_OPS)) == cell.hash
        assert nb.arch_of_hash(cell.hash) == cell.arch == nb.cell_arch(cell.arch)   # the release's cells are pruned
        assert ",".join(cell.ops) == records[cell.hash].operations
        rows = list(nb.query_nb101_trial_stats(cell.arch, None))
        assert rows and {r["config"]["hash"] for r in rows} == {cell.hash}
    assert len({nb.Cell(c.hash, c.arch) for c in cells}) == len(cells)


def test_samples_are_distinct_and_the_same_for_a_seed(store):
    total = len(nb.hashes())
    state = random.getstate()
    first = nb.sample(5, seed=11)
    assert random.getstate() == state   # the global generator is not touched
    assert first == nb.sample(5, seed=11, store_dir=store) and len({c.hash for c in first}) == 5
    assert all(nb.arch_of_hash(c.hash) == c.arch for c in first)
    assert len({tuple(c.hash for c in nb.sample(5, seed=s)) for s in range(10)}) > 1
    assert sorted(c.hash for c in nb.sample(total, seed=0)) == [h.decode() for h in nb.hashes()]
    for n in (total + 1, -1, 1.0):
        with pytest.raises(QueryError):
            nb.sample(n, seed=0)


def test_an_unknown_hash_and_a_missing_store(store, tmp_path):
    with pytest.raises(QueryError, match="no cell with hash"):
        nb.arch_of_hash("0" * 32)
    with pytest.raises(StoreNotFoundError, match="nasbench-store build nasbench101"):
        nb.hashes(tmp_path)
