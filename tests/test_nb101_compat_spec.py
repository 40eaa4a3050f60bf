"""compat ModelSpec: validation, pruning and hashing as google's nasbench ModelSpec does them."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from nasbench_store.compat.nasbench import api
from nasbench_store.nasbench101 import graph
from nasbench_store.nasbench101.synthetic import REFERENCE_HASH, canonical_cells

C3, C1, MP = api.CONV3X3, api.CONV1X1, api.MAXPOOL3X3
OPS = [C3, C1, MP]
INCEPTION = [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
             [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0] * 7]
INCEPTION_OPS = ["input", C1, C3, C3, C3, MP, "output"]
REF_MATRIX = [[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0],
              [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0] * 7]
REF_OPS = ["input", C3, MP, C3, C3, C1, "output"]


def test_hash_test_vectors():
    assert api.ModelSpec(INCEPTION, INCEPTION_OPS).hash_spec(OPS) == "28cfc7874f6d200472e1a9dcd8650aa0"
    assert api.ModelSpec([[0, 1], [0, 0]], ["input", "output"]).hash_spec(OPS) == "043721b9c7fe8c5fad811d47d83132ec"
    assert api.ModelSpec(REF_MATRIX, REF_OPS).hash_spec(OPS) == REFERENCE_HASH


@pytest.mark.parametrize("matrix, ops, message", [
    ([[0, 1, 0], [0, 0, 1]], ["input", C3, "output"], "matrix must be square"),
    ([0, 1, 0], ["input", C3, "output"], "matrix must be square"),
    (np.zeros((2, 2, 2)), ["input", "output"], "matrix must be square"),
    ([[0, 1], [0, 0]], ["input", C3, "output"], "length of ops must match matrix dimensions"),
    ([[0, 1], [1, 0]], ["input", "output"], "matrix must be upper triangular"),
    ([[1, 1], [0, 0]], ["input", "output"], "matrix must be upper triangular"),
    ([[0, 1, 1], [0, 0, 1], [0, 2, 0]], ["input", C3, "output"], "matrix must be upper triangular"),
])
def test_constructor_value_errors(matrix, ops, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        api.ModelSpec(matrix, ops)


def test_pruning_keeps_originals_and_removes_extraneous_vertices():
    m = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    ops = ["input", C3, "bogus-op", MP, "output"]     # 2 -> 3 leads nowhere; its ops are never checked
    spec = api.ModelSpec(m, ops)
    assert spec.valid_spec
    assert isinstance(spec.original_matrix, np.ndarray) and spec.original_matrix.tolist() == m
    assert spec.original_ops == ops and spec.original_ops is not ops
    assert spec.matrix.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]] and spec.ops == ["input", C3, "output"]
    assert spec.data_format == "channels_last"
    m[0][1] = 0
    ops[1] = "changed"
    assert spec.original_matrix[0, 1] == 1 and spec.ops[1] == C3 and spec.original_ops[1] == C3


def test_vertices_the_input_never_reaches_are_pruned():
    m = np.array([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])  # vertex 2 has no input
    spec = api.ModelSpec(m, ["input", C1, C3, "output"])
    assert spec.matrix.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]] and spec.ops == ["input", C1, "output"]
    assert spec.matrix.dtype == m.dtype


@pytest.mark.parametrize("matrix, ops", [
    ([[0, 0], [0, 0]], ["input", "output"]),
    ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", C3, "output"]),
    ([[0]], ["input"]),
    (np.zeros((0, 0)), []),
])
def test_disconnected_input_and_output_make_an_invalid_spec(matrix, ops):
    spec = api.ModelSpec(matrix, ops)
    assert spec.valid_spec is False and spec.matrix is None and spec.ops is None
    assert np.array_equal(spec.original_matrix, np.asarray(matrix)) and spec.original_ops == ops


def test_nothing_pruned_keeps_the_ops_object_type():
    spec = api.ModelSpec(np.array([[0, 1], [0, 0]]), ("input", "output"))
    assert spec.ops == ("input", "output")
    pruned = api.ModelSpec([[0, 1, 1], [0, 0, 0], [0, 0, 0]], ("input", C3, "output"))  # vertex 1 dangles
    assert pruned.ops == ["input", "output"]  # the original fails here (del on a tuple)


def test_hash_is_invariant_under_vertex_relabelling():
    for cell in canonical_cells(4)[::5]:
        n = len(cell.ops)
        base = api.ModelSpec([list(r) for r in cell.matrix], list(cell.ops)).hash_spec(OPS)
        assert base == cell.module_hash
        for perm in itertools.permutations(range(1, n - 1)):
            order = [0, *perm, n - 1]
            inverse = {old: new for new, old in enumerate(order)}
            m = np.zeros((n, n), dtype=int)
            for a, b in zip(*np.nonzero(np.array(cell.matrix))):
                m[inverse[a], inverse[b]] = 1
            if np.any(np.tril(m)):
                continue
            assert api.ModelSpec(m, [cell.ops[o] for o in order]).hash_spec(OPS) == base


def test_hash_labels_come_from_the_canonical_ops_order():
    spec = api.ModelSpec(REF_MATRIX, REF_OPS)
    assert spec.hash_spec([C3, C1, MP]) == REFERENCE_HASH
    assert spec.hash_spec([C1, C3, MP]) != REFERENCE_HASH
    with pytest.raises(ValueError):
        spec.hash_spec([C3, C1])


def test_matrix_types_hash_as_numpy_sums_them():
    """The original takes degrees from numpy sums: ints for int and bool matrices, floats for a
    float matrix, whose hash therefore is not any stored key (a lookup fails with the original too)."""
    expected = api.ModelSpec(REF_MATRIX, REF_OPS).hash_spec(OPS)
    for dtype in (np.int8, np.int64, np.uint8, bool, object):
        assert api.ModelSpec(np.array(REF_MATRIX, dtype=dtype), REF_OPS).hash_spec(OPS) == expected
    as_float = api.ModelSpec(np.array(REF_MATRIX, dtype=float), REF_OPS).hash_spec(OPS)
    assert as_float != expected
    labels = [-1, 0, 2, 0, 0, 1, -2]
    assert api.graph_fingerprint(np.array(REF_MATRIX, dtype=float), labels) == as_float
    # the general path (object dtype) equals the project's hash for every 0/1 cell
    for cell in canonical_cells(4):
        labels = [graph.LABEL2ID[op] for op in cell.ops]
        assert api.graph_fingerprint(np.array(cell.matrix, dtype=object), labels) == cell.module_hash


def test_entries_other_than_one_count_as_edges_and_in_sums():
    m = np.array(REF_MATRIX) * 2
    spec = api.ModelSpec(m, REF_OPS)
    assert spec.valid_spec and spec.matrix.tolist() == m.tolist()
    assert spec.hash_spec(OPS) != REFERENCE_HASH   # degree 2 per edge, as numpy sums it


def test_visualize_needs_graphviz():
    spec = api.ModelSpec(REF_MATRIX, REF_OPS)
    try:
        import graphviz  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError):
            spec.visualize()
    else:
        dot = spec.visualize()
        assert dot.source.count("->") == int(np.sum(REF_MATRIX))
