"""NB101 graph hash, pruning and domain checks against the reference's test vectors."""
import importlib.util
import os
import subprocess
import sys

import pytest
from helpers import require_or_skip

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


def c_hash_cell():
    """The C extension's hash_cell itself, whichever implementation graph.py chose."""
    try:
        from nasbench_store.nasbench101._graphhash import hash_cell
    except ImportError:
        require_or_skip("NASBENCH_REQUIRE_CEXT",
                        "the C graph-hash extension was not built (no compiler at install time)")
    return hash_cell


def test_c_hash_equals_the_python_hash():
    import random
    hash_cell = c_hash_cell()

    def c_hash(matrix, labels):
        return hash_cell("".join("1" if b else "0" for row in matrix for b in row), labels)

    cells = canonical_cells(5)
    for cell in cells:
        labels = graph.labels_of(cell.ops)
        assert c_hash(cell.matrix, labels) == graph.hash_module_py(cell.matrix, labels) == cell.module_hash
    rng = random.Random(5)
    for _ in range(300):  # arbitrary (also non-DAG, unpruned) matrices and labels hash the same way too
        n = rng.randrange(1, 12)
        matrix = [[rng.random() < 0.3 for _ in range(n)] for _ in range(n)]
        labels = [rng.randrange(-1000, 1000) for _ in range(n)]
        assert c_hash(matrix, labels) == graph.hash_module_py(matrix, labels)
    with pytest.raises(ValueError, match="'0'/'1'"):
        hash_cell("0120", [-1, -2])
    with pytest.raises(ValueError, match="does not match"):
        hash_cell("010", [-1, -2])


def test_hash_arch_of_a_cell_that_needs_no_pruning_skips_the_matrix_and_hashes_the_same():
    """hash_arch takes the pruned-cell fast path where it applies; the hash is the one of the
    arch's matrix as given, pruned or not, and a wrong num_vertices is refused either way."""
    import random
    rng = random.Random(3)
    fast = 0
    for cell in canonical_cells(5):
        arch = graph.spec_to_arch(cell.matrix, cell.ops)
        fast += graph._pruned_cell_fast(arch) is not None
        assert graph.hash_arch(arch, len(cell.ops)) == cell.module_hash
    unpruned = {"op1": C3, "op2": MP, "input1": [0], "input2": [0], "input3": [1]}  # op2 reaches no output
    assert graph._pruned_cell_fast(unpruned) is None
    assert graph.hash_arch(unpruned) == graph.spec_hash(*graph.arch_to_spec(unpruned))
    for _ in range(500):
        n = rng.randint(2, 7)
        arch = {f"op{i}": rng.choice(graph.AVAILABLE_OPS) for i in range(1, n - 1)}
        arch.update({f"input{i}": [k for k in range(i) if rng.random() < 0.5] for i in range(1, n)})
        assert graph.hash_arch(arch) == graph.spec_hash(*graph.arch_to_spec(arch))
    assert fast > 1000
    with pytest.raises(QueryError, match="num_vertices=6 but the arch has 7"):
        graph.hash_arch(REFERENCE_ARCH, 6)
    with pytest.raises(QueryError, match="num_vertices=5 but the arch has 4 vertices"):
        graph.hash_arch(unpruned, 5)


class _HashBoom(str):
    """An op whose hash raises something other than KeyError/TypeError: that escapes both paths."""
    def __hash__(self):
        raise ValueError("boom")


class _Equal:
    """Not a str, yet equal to (and hashing as) a valid op: a dict lookup finds the op."""
    def __hash__(self):
        return hash(C3)

    def __eq__(self, other):
        return other == C3


def test_c_pruned_cell_equals_the_python_fast_path():
    """graph._pruned_cell_fast in C against the Python function (the fallback and oracle): random
    arch dicts in and out of the space, unpruned, with odd keys, types and values; each gives the
    same (adjacency, labels, True) or None, or raises the same exception."""
    import random
    c_hash_cell()
    from nasbench_store.nasbench101._graphhash import pruned_cell

    def c_path(arch):
        return pruned_cell(arch, graph._OP_LABELS, graph.MAX_VERTICES, graph.MAX_EDGES)

    rng = random.Random(21)
    odd_inputs = [True, False, 1.0, -1, 2**70, -(2**70), "0", None]
    odd_ops = ["conv7x7", None, [C3], _Equal(), type("S", (str,), {})(C1), b"maxpool3x3", 3]
    archs = [REFERENCE_ARCH, {}, {"input1": [0]}, {"input1": (0,)}, {"input1": []}, [("input1", [0])],
             type("D", (dict,), {})(input1=[0])]
    for _ in range(20000):
        n = rng.randint(1, 9)
        arch = {f"op{i}": rng.choice(graph.AVAILABLE_OPS) if rng.random() > 0.02 else rng.choice(odd_ops)
                for i in range(1, n - 1)}
        for i in range(1, n):
            inputs = [k for k in range(i) if rng.random() < rng.choice([0.2, 0.45, 0.9])]
            if rng.random() < 0.02:
                inputs.append(rng.choice(odd_inputs + [i, i + 1]))
            if rng.random() < 0.05:
                inputs = inputs[::-1] + inputs[:1]  # unsorted, duplicated
            arch[f"input{i}"] = tuple(inputs) if rng.random() < 0.1 else inputs if rng.random() > 0.01 else set(inputs)
        if arch and rng.random() < 0.02:
            del arch[rng.choice(list(arch))]
        if rng.random() < 0.02:
            arch[rng.choice(["op9", "inputX", 3, ("input1",)])] = [0]
        archs.append(arch)
    found = 0
    for arch in archs:
        want = graph._pruned_cell_fast_py(arch)
        got = c_path(arch)
        assert got == want, arch
        assert want is None or tuple(map(type, want[1])) == tuple(map(type, got[1])) == (int,) * len(want[1])
        found += want is not None
    assert 1000 < found < 19000, found  # both outcomes are exercised
    boom = {"op1": _HashBoom(C3), "input1": [0], "input2": [1]}
    for fn in (graph._pruned_cell_fast_py, c_path):
        with pytest.raises(ValueError, match="boom"):
            fn(boom)
    with pytest.raises(ValueError, match="max_vertices"):
        pruned_cell(REFERENCE_ARCH, graph._OP_LABELS, 33, graph.MAX_EDGES)


def test_nasbench_pure_python_forces_the_fallback():
    """HASH_IMPLEMENTATION is decided at import: "c" when the extension is built, "python" when it is
    not or NASBENCH_PURE_PYTHON=1; either gives the reference hash."""
    code = ("from nasbench_store.nasbench101 import graph, synthetic as s; print(graph.HASH_IMPLEMENTATION, "
            "graph.hash_adjacency(s.REFERENCE_ADJACENCY, graph.labels_of(s.REFERENCE_OPS)))")
    env = {k: v for k, v in os.environ.items() if k != "NASBENCH_PURE_PYTHON"}
    built = importlib.util.find_spec("nasbench_store.nasbench101._graphhash") is not None
    for pure, expected in (("1", "python"), ("0", "c" if built else "python"), (None, "c" if built else "python")):
        run_env = env if pure is None else {**env, "NASBENCH_PURE_PYTHON": pure}
        proc = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [expected, REFERENCE_HASH], pure


def md5_paths():
    """The C hash's MD5 paths this CPU runs ('scalar' always; 'avx2', 'avx512': 8 messages at once)."""
    c_hash_cell()
    from nasbench_store.nasbench101 import _graphhash
    paths = []
    for name in ("scalar", "avx2", "avx512"):
        try:
            _graphhash.hash_cell_with("0100", [-1, -2], name)
        except ValueError:
            continue
        paths.append(name)
    assert _graphhash.MD5 in paths
    return _graphhash, paths


def test_every_md5_path_equals_the_python_hash():
    """Each MD5 path of the C hash (the one hash_cell uses and the others) against hash_module_py:
    the fixture cells, and random matrices of 1..32 vertices (self-loops, cycles, dense rows, so
    messages of 1 to 34 blocks of very different lengths share the 8 lanes), labels in and out of
    the start-hash cache (degrees past 7, labels other than -2..2)."""
    import random
    _graphhash, paths = md5_paths()
    rng = random.Random(14)

    def text(matrix):
        return "".join("1" if b else "0" for row in matrix for b in row)

    cases = [(c.adjacency, graph.labels_of(c.ops), c.module_hash) for c in canonical_cells(4)]
    cases += [(text(INCEPTION), graph.labels_of(INCEPTION_OPS), "28cfc7874f6d200472e1a9dcd8650aa0"),
              (REFERENCE_ADJACENCY, graph.labels_of(REFERENCE_OPS), REFERENCE_HASH)]
    for n in [1, 2, 7, 8, 9, 15, 16, 17, 31, 32] + [rng.randrange(1, 33) for _ in range(60)]:
        density = rng.choice([0.0, 0.1, 0.3, 0.7, 1.0])
        matrix = [[rng.random() < density for _ in range(n)] for _ in range(n)]
        labels = [rng.choice([-2, -1, 0, 1, 2, rng.randrange(-2**31, 2**31)]) for _ in range(n)]
        cases.append((text(matrix), labels, graph.hash_module_py(matrix, labels)))
    for adjacency, labels, expected in cases:
        assert _graphhash.hash_cell(adjacency, labels) == expected
        for name in paths:
            assert _graphhash.hash_cell_with(adjacency, labels, name) == expected, (name, adjacency, labels)
    with pytest.raises(ValueError, match="not available"):
        _graphhash.hash_cell_with("0100", [-1, -2], "md4")
    with pytest.raises(ValueError, match="does not match"):
        _graphhash.hash_cell_with("0100", [-1, -2, 0], "scalar")
