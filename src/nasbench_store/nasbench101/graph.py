"""NAS-Bench-101 cell graphs: the graph hash, pruning, domain checks, and NNI's arch dict form.

`hash_module` reproduces nasbench's `graph_util.hash_module` bit for bit (its md5 strings are the
keys of the raw release), so any isomorphic labelled DAG gets the same hash.

Format: docs/formats.md#nb101-graph-hash.
"""
from __future__ import annotations

from collections.abc import Sequence

try:  # CPython's built-in md5 is about twice as fast as OpenSSL's for these short strings
    from _md5 import md5
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import md5

from ..errors import QueryError
from ..extensions import c_extension

INPUT = "input"
OUTPUT = "output"
CONV3X3_BN_RELU = "conv3x3-bn-relu"
CONV1X1_BN_RELU = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
AVAILABLE_OPS = (CONV3X3_BN_RELU, CONV1X1_BN_RELU, MAXPOOL3X3)
LABEL2ID = {INPUT: -1, OUTPUT: -2, CONV3X3_BN_RELU: 0, CONV1X1_BN_RELU: 1, MAXPOOL3X3: 2}
MAX_VERTICES = 7
MAX_EDGES = 9

Matrix = Sequence[Sequence[int]]


_hash_cell_c = c_extension(f"{__package__}._graphhash", "hash_cell")  # the same hash in C: ~50x faster
# Which hash_module / hash_adjacency run, decided once above: "c" (the extension) or "python" (hash_module_py).
HASH_IMPLEMENTATION = "python" if _hash_cell_c is None else "c"


def hash_module(matrix: Matrix, labels: Sequence[int]) -> str:
    """nasbench's graph-invariant md5 of an upper-triangular 0/1 matrix and integer labels."""
    if _hash_cell_c is not None:
        return _hash_cell_c("".join("1" if b else "0" for row in matrix for b in row), labels)
    return hash_module_py(matrix, labels)


def hash_adjacency(adjacency: str, labels: Sequence[int]) -> str:
    """`hash_module` of the raw release's row-major '0'/'1' string, without building a matrix."""
    if _hash_cell_c is not None:
        return _hash_cell_c(adjacency, labels)
    return hash_module_py(parse_adjacency(adjacency), labels)


def hash_module_py(matrix: Matrix, labels: Sequence[int]) -> str:
    """Pure-Python `hash_module`: the reference the C version is tested against, and its fallback."""
    n = len(labels)
    rng = range(n)
    preds = [tuple(w for w in rng if matrix[w][v]) for v in rng]
    succs = [tuple(w for w in rng if matrix[v][w]) for v in rng]
    hashes = [md5(str((len(succs[v]), len(preds[v]), labels[v])).encode()).hexdigest() for v in rng]
    plan = list(zip(preds, succs))
    for _ in rng:  # nasbench iterates exactly V times, not until convergence
        new = []
        for v, (p, s) in enumerate(plan):
            # a one-element join needs no sort; this loop runs ~50 times per cell
            into = hashes[p[0]] if len(p) == 1 else "".join(sorted([hashes[w] for w in p]))
            out = hashes[s[0]] if len(s) == 1 else "".join(sorted([hashes[w] for w in s]))
            new.append(md5(f"{into}|{out}|{hashes[v]}".encode()).hexdigest())
        hashes = new
    return md5(str(sorted(hashes)).encode()).hexdigest()


def labels_of(ops: Sequence[str]) -> list[int]:
    """Integer labels nasbench hashes with; unknown op names raise QueryError listing the valid ones."""
    try:
        return [LABEL2ID[op] for op in ops]
    except KeyError as exc:
        raise QueryError(f"unknown NAS-Bench-101 op {exc.args[0]!r}; valid ops: "
                         f"{', '.join(AVAILABLE_OPS)} (plus 'input' first and 'output' last)") from None


def spec_hash(matrix: Matrix, ops: Sequence[str]) -> str:
    """Hash of a (matrix, op names) cell as given, without pruning."""
    return hash_module(matrix, labels_of(ops))


def parse_adjacency(raw: str) -> list[list[int]]:
    """The raw release's row-major '0'/'1' string as a V x V list matrix."""
    n = int(round(len(raw) ** 0.5))
    if n * n != len(raw) or set(raw) - {"0", "1"}:
        raise ValueError(f"adjacency string of length {len(raw)} is not a square 0/1 matrix")
    return [[1 if raw[i * n + j] == "1" else 0 for j in range(n)] for i in range(n)]


def prune(matrix: Matrix, ops: Sequence[str]) -> tuple[list[list[int]], list[str]]:
    """Drop vertices not on an input->output path, as nasbench's ModelSpec does.

    Raises QueryError when the input is not connected to the output.
    """
    n = len(ops)
    forward = {0}
    for v in range(n):  # upper-triangular: one pass in vertex order reaches everything
        if v in forward:
            forward.update(w for w in range(v + 1, n) if matrix[v][w])
    backward = {n - 1}
    for v in range(n - 1, -1, -1):
        if v in backward:
            backward.update(w for w in range(v) if matrix[w][v])
    keep = [v for v in range(n) if v in forward and v in backward]
    if len(keep) < 2 or keep[0] != 0 or keep[-1] != n - 1:
        raise QueryError("the cell's input is not connected to its output, so it is not in NAS-Bench-101")
    return [[matrix[a][b] for b in keep] for a in keep], [ops[v] for v in keep]


def check_spec(matrix: Matrix, ops: Sequence[str]) -> None:
    """Raise QueryError saying why a (pruned) cell is outside the NAS-Bench-101 space."""
    n = len(ops)
    if any(len(row) != n for row in matrix) or len(matrix) != n:
        raise QueryError(f"the adjacency matrix must be {n}x{n} to match {n} ops")
    if any(matrix[i][j] for i in range(n) for j in range(i + 1)):
        raise QueryError("the adjacency matrix must be strictly upper-triangular "
                         "(edges go from lower to higher vertices)")
    if n > MAX_VERTICES:
        raise QueryError(f"the cell has {n} vertices after pruning; NAS-Bench-101 allows at most {MAX_VERTICES}")
    edges = sum(map(sum, matrix))
    if edges > MAX_EDGES:
        raise QueryError(f"the cell has {edges} edges after pruning; NAS-Bench-101 allows at most {MAX_EDGES}")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise QueryError("the first op must be 'input' and the last 'output'")
    bad = [op for op in ops[1:-1] if op not in AVAILABLE_OPS]
    if bad:
        raise QueryError(f"unknown NAS-Bench-101 op {bad[0]!r}; valid ops: {', '.join(AVAILABLE_OPS)}")


def infer_num_vertices(arch: dict) -> int:
    """Vertices of an NNI arch dict: its op1..opN keys plus input and output."""
    ops = {k for k in arch if k.startswith("op")}
    if ops != {f"op{i}" for i in range(1, len(ops) + 1)}:
        raise QueryError(f"an NNI NAS-Bench-101 arch needs keys op1..opN with no gaps; got {sorted(ops)}")
    return len(ops) + 2


def arch_to_spec(arch: dict) -> tuple[list[list[int]], list[str]]:
    """NNI arch dict {'op1':..., 'input1': [0], ...} -> (matrix, op names)."""
    n = infer_num_vertices(arch)
    ops = [INPUT] + [arch[f"op{i}"] for i in range(1, n - 1)] + [OUTPUT]
    matrix = [[0] * n for _ in range(n)]
    for i in range(1, n):
        key = f"input{i}"
        if key not in arch:
            raise QueryError(f"the arch has {n} vertices but no {key!r} key (the list of vertex {i}'s inputs)")
        for k in arch[key]:
            if not (isinstance(k, int) and 0 <= k < n):
                raise QueryError(f"{key} lists vertex {k!r}, which is not one of 0..{n - 1}")
            matrix[k][i] = 1
    return matrix, ops


def spec_to_arch(matrix: Matrix, ops: Sequence[str]) -> dict:
    """(matrix, op names) -> NNI arch dict, sorted keys as NNI stores it."""
    n = len(ops)
    arch: dict = {f"op{i}": ops[i] for i in range(1, n - 1)}
    arch.update({f"input{i}": [k for k in range(i) if matrix[k][i]] for i in range(1, n)})
    return dict(sorted(arch.items()))


def hash_arch(arch: dict, num_vertices: int | None = None) -> str:
    """NNI's `hash_module(architecture, vertices)`: the hash of the arch dict exactly as given.
    A cell that needs no pruning (every stored one: verify rehashes 423,624) skips the list matrix."""
    cell = _pruned_cell_fast(arch)
    matrix, ops = arch_to_spec(arch) if cell is None else (None, cell[1])
    if num_vertices is not None and num_vertices != len(ops):
        raise QueryError(f"num_vertices={num_vertices} but the arch has {len(ops)} vertices")
    return spec_hash(matrix, ops) if cell is None else hash_adjacency(cell[0], cell[1])


def canonical_hash(arch: dict) -> str:
    """Prune, check, then hash: what a cell is stored under if it is in NAS-Bench-101 at all."""
    adjacency, labels, _ = canonical_cell(arch)
    return hash_adjacency(adjacency, labels)


def canonical_cell(arch: dict) -> tuple[str, tuple[int, ...], bool]:
    """The pruned cell of an NNI arch dict, checked to be in the space: (row-major '0'/'1'
    adjacency, integer labels, whether the arch was already pruned as given). Raises QueryError
    saying why a cell is outside NAS-Bench-101, as `canonical_hash` does."""
    cell = _pruned_cell_fast(arch)
    if cell is not None:
        return cell
    matrix, ops = arch_to_spec(arch)
    if any(matrix[i][j] for i in range(len(ops)) for j in range(i + 1)):  # prune needs a DAG in vertex order
        raise QueryError("the arch lists an input that is not an earlier vertex; "
                         "edges must go from lower to higher vertices")
    labels_of(ops)
    n = len(ops)
    matrix, ops = prune(matrix, ops)
    check_spec(matrix, ops)
    adjacency = "".join("1" if b else "0" for row in matrix for b in row)
    return adjacency, tuple(labels_of(ops)), len(ops) == n


_OP_LABELS = {op: LABEL2ID[op] for op in AVAILABLE_OPS}


def _layout(v: int) -> tuple:
    """For V vertices: V, the op keys, (input key, bit) per vertex 1..V-1, each successor bit mask
    as a row of the adjacency string, and the mask of all vertices."""
    return (v, tuple(f"op{i}" for i in range(1, v - 1)), tuple((f"input{i}", 1 << i) for i in range(1, v)),
            tuple("".join("1" if mask >> j & 1 else "0" for j in range(v)) for mask in range(1 << v)), (1 << v) - 1)


_LAYOUTS = {2 * v - 3: _layout(v) for v in range(2, MAX_VERTICES + 1)}  # keyed by len(arch): V-2 ops, V-1 inputs


def _pruned_cell_fast_py(arch) -> tuple[str, tuple[int, ...], bool] | None:
    """`canonical_cell` of the common case, a well-formed cell in the space that needs no pruning,
    with bit masks; None for anything else (the general path then prunes or says what is wrong)."""
    if type(arch) is not dict:
        return None
    layout = _LAYOUTS.get(len(arch))
    if layout is None:
        return None
    n, op_keys, input_keys, rows, everything = layout
    succs = [0] * n
    try:
        labels = (-1, *[_OP_LABELS[arch[k]] for k in op_keys], -2)
        for i, (key, bit) in enumerate(input_keys, 1):
            inputs = arch[key]
            if type(inputs) is not list and type(inputs) is not tuple:
                return None
            for k in inputs:
                if type(k) is not int or not 0 <= k < i:
                    return None
                succs[k] |= bit
    except (KeyError, TypeError):  # a missing key, an unknown or unhashable op
        return None
    forward = 1  # vertices reached from the input, and below: those that reach the output
    for v in range(n):
        if forward >> v & 1:
            forward |= succs[v]
    backward = 1 << (n - 1)
    for v in range(n - 2, -1, -1):
        if succs[v] & backward:
            backward |= 1 << v
    if forward & backward != everything or sum(map(int.bit_count, succs)) > MAX_EDGES:
        return None
    return "".join([rows[m] for m in succs]), labels, True


_pruned_cell_c = c_extension(f"{__package__}._graphhash", "pruned_cell")
if _pruned_cell_c is None:
    _pruned_cell_fast = _pruned_cell_fast_py
else:  # the same function in C: a query's validation in ~0.3 us instead of ~4 (tests compare the two)
    def _pruned_cell_fast(arch) -> tuple[str, tuple[int, ...], bool] | None:
        return _pruned_cell_c(arch, _OP_LABELS, MAX_VERTICES, MAX_EDGES)
