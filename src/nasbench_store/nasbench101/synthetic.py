"""Generator of small, faithful NAS-Bench-101 TFRecord files (tests, the demo, benchmarks).

Records follow the real release byte for byte in layout: canonical cells in nasbench's enumeration
order, correct graph hashes, float32-rounded metrics, `json.dumps` default separators and
newline-wrapped base64 (`base64.encodebytes`), sorted by module hash, 3 repeats per epoch budget.
The values are synthetic; only their shape is real.
"""
from __future__ import annotations

import base64
import itertools
import json
import random
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from ..atomic import atomic_path
from ..tfrecord import frame
from .graph import AVAILABLE_OPS, INPUT, MAX_EDGES, OUTPUT, spec_hash
from .records import VALID_EPOCHS

# The cell of the reference's first test vector (the smallest hash of the real file).
REFERENCE_ADJACENCY = "0100110001000000010010000010000001000000010000000"
REFERENCE_OPS = ("input", "conv3x3-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu",
                 "conv1x1-bn-relu", "output")
REFERENCE_HASH = "00005c142e6f48ac74fdcf73e3439874"


class Cell(NamedTuple):
    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]
    module_hash: str

    @property
    def adjacency(self) -> str:
        return "".join(str(b) for row in self.matrix for b in row)


def _is_full_dag(matrix: list[list[int]]) -> bool:
    n = len(matrix)
    rows_ok = all(any(matrix[i]) for i in range(n - 1))
    cols_ok = all(any(matrix[i][j] for i in range(n)) for j in range(1, n))
    return rows_ok and cols_ok


def _matrix_from_bits(n: int, bits: int) -> list[list[int]]:
    matrix = [[0] * n for _ in range(n)]
    for y in range(1, n):
        for x in range(y):
            if bits >> (x + y * (y - 1) // 2) & 1:
                matrix[x][y] = 1
    return matrix


def canonical_cells(max_vertices: int = 4) -> list[Cell]:
    """Every distinct cell with at most `max_vertices` vertices, as nasbench's generate_graphs.py
    enumerates them (the first graph seen per hash is the stored representative)."""
    seen: dict[str, Cell] = {}
    for n in range(2, max_vertices + 1):
        for bits in range(2 ** (n * (n - 1) // 2)):
            matrix = _matrix_from_bits(n, bits)
            if sum(map(sum, matrix)) > MAX_EDGES or not _is_full_dag(matrix):
                continue
            for labeling in itertools.product(range(len(AVAILABLE_OPS)), repeat=n - 2):
                ops = (INPUT, *(AVAILABLE_OPS[i] for i in labeling), OUTPUT)
                h = spec_hash(matrix, ops)
                if h not in seen:
                    seen[h] = Cell(tuple(map(tuple, matrix)), ops, h)
    return list(seen.values())


def reference_cell() -> Cell:
    n = len(REFERENCE_OPS)
    matrix = tuple(tuple(int(REFERENCE_ADJACENCY[i * n + j]) for j in range(n)) for i in range(n))
    return Cell(matrix, REFERENCE_OPS, spec_hash(matrix, REFERENCE_OPS))


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


_EVAL = struct.Struct("<BB" + "Bd" * 5)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_metrics(evals, params: int, total_time: float) -> bytes:
    """Serialize ModelMetrics exactly as protobuf does for nasbench's records (all doubles set,
    no checkpoint_path), without the protobuf runtime: the full-scale generator writes 5 million."""
    out = [_EVAL.pack(0x0A, 0x2D, 0x09, e[0], 0x11, e[1], 0x19, e[2], 0x21, e[3], 0x29, e[4]) for e in evals]
    out.append(b"\x10" + _varint(params) + b"\x19" + struct.pack("<d", total_time))
    return b"".join(out)


def metrics_bytes(rng: random.Random, epochs: int, params: int) -> bytes:
    """A ModelMetrics protobuf shaped like nasbench's: evaluations at 0, epochs/2 and epochs."""
    quality = rng.uniform(0.6, 0.95)
    per_epoch = rng.uniform(8.0, 30.0)
    evals = []
    for frac in (0.0, 0.5, 1.0):
        progress = 1.0 - (1.0 - frac) ** 2 if frac else 0.0
        reach = quality * min(1.0, 0.55 + 0.45 * epochs / 108)
        acc = 0.1 + (reach - 0.1) * progress
        evals.append((epochs * frac, _f32(per_epoch * epochs * frac),
                      _f32(min(1.0, acc + rng.uniform(0.0, 0.05) * progress)),
                      _f32(acc + rng.uniform(-0.01, 0.01) * progress),
                      _f32(acc + rng.uniform(-0.01, 0.01) * progress)))
    return encode_metrics(evals, params, per_epoch * epochs * 1.12 + rng.uniform(5.0, 50.0))


def record_payload(cell: Cell, epochs: int, pb: bytes) -> bytes:
    fields = [cell.module_hash, epochs, cell.adjacency, ",".join(cell.ops), base64.encodebytes(pb).decode()]
    return json.dumps(fields).encode("utf-8")


def iter_payloads(cells: Iterable[Cell], epochs: Iterable[int] = VALID_EPOCHS, repeats: int = 3,
                  seed: int = 0) -> Iterator[bytes]:
    """Payloads for every cell x epoch budget x repeat, cells sorted by hash like the real file."""
    epochs = tuple(epochs)
    for cell in sorted(cells, key=lambda c: c.module_hash):
        rng = random.Random(f"{seed}:{cell.module_hash}")
        params = rng.randrange(200_000, 40_000_000)
        for e in epochs:
            for _ in range(repeats):
                yield record_payload(cell, e, metrics_bytes(rng, e, params))


def write_tfrecord(path: str | Path, cells: Iterable[Cell], epochs: Iterable[int] = VALID_EPOCHS,
                   repeats: int = 3, seed: int = 0) -> Path:
    """Write a TFRecord file of the given cells (atomically) and return its path."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for payload in iter_payloads(cells, epochs, repeats, seed):
            fh.write(frame(payload))
    return path


def demo_cells() -> list[Cell]:
    """The demo/test set: every cell with up to 4 vertices plus the reference cell (92 cells)."""
    return canonical_cells(4) + [reference_cell()]
