"""NB101 graph hash, pruning and domain checks against the reference's test vectors."""
import pytest

from nasbench_store.errors import QueryError
from nasbench_store.nasbench101 import graph
from nasbench_store.nasbench101.synthetic import REFERENCE_ADJACENCY, REFERENCE_HASH, REFERENCE_OPS, canonical_cells

C3, C1, MP = graph.CONV3X3_BN_RELU, graph.CONV1X1_BN_RELU, graph.MAXPOOL3X3
INCEPTION = [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
             [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0] * 7]
INCEPTION_OPS = ["input", C1, C3, C3, C3, MP, "output"]
REFERENCE_ARCH = {"op1": C3, "op2": MP, "op3": C3, "op4": C3, "op5": C1, "input1": [0], "input2": [1],
                  "input3": [2], "input4": [0], "input5": [0, 3, 4], "input6": [2, 5]}


def test_reference_test_vectors():
    assert graph.spec_hash(graph.parse_adjacency(REFERENCE_ADJACENCY), REFERENCE_OPS) == REFERENCE_HASH
    assert graph.spec_hash([[0, 1], [0, 0]], ["input", "output"]) == "043721b9c7fe8c5fad811d47d83132ec"
    assert graph.spec_hash(INCEPTION, INCEPTION_OPS) == "28cfc7874f6d200472e1a9dcd8650aa0"


def test_nni_arch_dict_round_trip_and_hash():
    matrix, ops = graph.arch_to_spec(REFERENCE_ARCH)
    assert "".join(str(b) for row in matrix for b in row) == REFERENCE_ADJACENCY
    assert graph.spec_to_arch(matrix, ops) == REFERENCE_ARCH
    assert graph.hash_arch(REFERENCE_ARCH, 7) == REFERENCE_HASH
    assert graph.infer_num_vertices(REFERENCE_ARCH) == 7


def _permute(matrix, ops, order):
    """Relabel vertices: new vertex i is old vertex order[i]."""
    n = len(ops)
    return [[matrix[order[i]][order[j]] for j in range(n)] for i in range(n)], [ops[o] for o in order]


def test_hash_is_invariant_under_isomorphic_reordering():
    matrix, ops = _permute(INCEPTION, INCEPTION_OPS, [0, 3, 4, 2, 1, 5, 6])
    assert matrix != INCEPTION
    assert graph.spec_hash(matrix, ops) == "28cfc7874f6d200472e1a9dcd8650aa0"
    # a different label is a different cell
    assert graph.spec_hash(INCEPTION, ["input", C3, C3, C3, C3, MP, "output"]) != "28cfc7874f6d200472e1a9dcd8650aa0"


def test_prune_removes_dangling_and_unreachable_vertices():
    # vertex 2 is a dead end (no path to output), vertex 3 is unreachable from input
    matrix = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    pruned, ops = graph.prune(matrix, ["input", C3, MP, C1, "output"])
    assert pruned == [[0, 1, 0], [0, 0, 1], [0, 0, 0]] and ops == ["input", C3, "output"]
    with pytest.raises(QueryError, match="not connected"):
        graph.prune([[0, 0], [0, 0]], ["input", "output"])


@pytest.mark.parametrize("arch, message", [
    ({"op1": "conv5x5", "input1": [0], "input2": [1]}, "unknown NAS-Bench-101 op 'conv5x5'.*valid ops"),
    ({"op1": C3, "input1": [0]}, "no 'input2' key"),
    ({"op1": C3, "op3": C3, "input1": [0]}, "op1..opN with no gaps"),
    ({"op1": C3, "input1": [0], "input2": [5]}, "not one of 0..2"),
    ({f"op{i}": C3 for i in range(1, 7)} | {f"input{i}": [i - 1] for i in range(1, 8)}, "at most 7"),
    ({f"op{i}": C3 for i in range(1, 6)} | {"input1": [0], "input2": [0, 1], "input3": [0, 1, 2],
                                           "input4": [3], "input5": [4], "input6": [1, 5]}, "at most 9"),
])
def test_out_of_space_cells_raise_saying_why(arch, message):
    with pytest.raises(QueryError, match=message):
        graph.canonical_hash(arch)


def test_canonical_hash_prunes_before_hashing():
    # REFERENCE_ARCH plus an extra conv vertex feeding nothing useful (a dead end)
    extended = {"op1": C3, "op2": MP, "op3": C3, "op4": C3, "op5": C1, "op6": C3, "input1": [0], "input2": [1],
                "input3": [2], "input4": [0], "input5": [0, 3, 4], "input6": [0], "input7": [2, 5]}
    assert graph.hash_arch(extended) != REFERENCE_HASH
    assert graph.canonical_hash(extended) == REFERENCE_HASH


def test_enumeration_matches_nasbench_counts():
    cells = canonical_cells(5)
    by_vertices = {}
    for cell in cells:
        by_vertices[len(cell.ops)] = by_vertices.get(len(cell.ops), 0) + 1
    assert by_vertices == {2: 1, 3: 6, 4: 84, 5: 2441}
    assert len({c.module_hash for c in cells}) == len(cells)
    assert all(graph.spec_hash(c.matrix, c.ops) == c.module_hash for c in cells[:200])


def test_c_hash_equals_the_python_hash():
    import random
    if graph._hash_cell_c is None:
        pytest.skip("the C extension was not built (no compiler at install time)")
    cells = canonical_cells(5)
    for cell in cells:
        labels = graph.labels_of(cell.ops)
        assert graph.hash_module(cell.matrix, labels) == graph.hash_module_py(cell.matrix, labels) == cell.module_hash
    rng = random.Random(5)
    for _ in range(300):  # arbitrary (also non-DAG, unpruned) matrices and labels hash the same way too
        n = rng.randrange(1, 12)
        matrix = [[rng.random() < 0.3 for _ in range(n)] for _ in range(n)]
        labels = [rng.randrange(-1000, 1000) for _ in range(n)]
        assert graph.hash_module(matrix, labels) == graph.hash_module_py(matrix, labels)
    with pytest.raises(ValueError, match="'0'/'1'"):
        graph.hash_adjacency("0120", [-1, -2])
    with pytest.raises(ValueError, match="does not match"):
        graph.hash_adjacency("010", [-1, -2])
