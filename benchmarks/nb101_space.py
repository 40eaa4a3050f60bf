"""All 423,624 NAS-Bench-101 cells, enumerated without hashing every labelled graph.

nasbench's generate_graphs.py hashes every (graph, labelling) pair, ~50 million for 7 vertices.
Here unlabelled graphs are first grouped by their unlabelled graph hash (one representative per
topology), and only the representatives' 3^(V-2) labellings are hashed. Parallel over processes;
the result is cached, since the full-scale benchmark file is built from it.
"""
from __future__ import annotations

import gzip
import itertools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from nasbench_store.nasbench101.graph import AVAILABLE_OPS, INPUT, LABEL2ID, MAX_EDGES, OUTPUT, hash_module

EXPECTED = {2: 1, 3: 6, 4: 84, 5: 2441, 6: 62010, 7: 359082}


def _full_dags(n: int) -> list[list[list[int]]]:
    pairs = [(x, y) for y in range(1, n) for x in range(y)]  # bit x + y(y-1)/2 is edge x->y
    out = []
    for bits in range(2 ** len(pairs)):
        if bin(bits).count("1") > MAX_EDGES:
            continue
        matrix = [[0] * n for _ in range(n)]
        for k, (x, y) in enumerate(pairs):
            if bits >> k & 1:
                matrix[x][y] = 1
        if all(any(matrix[i]) for i in range(n - 1)) and all(any(matrix[i][j] for i in range(n)) for j in range(1, n)):
            out.append(matrix)
    return out


def _topology_hashes(chunk):
    return [hash_module(m, [-1] + [0] * (len(m) - 2) + [-2]) for m in chunk]


def _labelled(chunk):
    out = []
    for matrix in chunk:
        n = len(matrix)
        for labeling in itertools.product(range(len(AVAILABLE_OPS)), repeat=n - 2):
            ops = (INPUT, *(AVAILABLE_OPS[i] for i in labeling), OUTPUT)
            out.append((hash_module(matrix, [LABEL2ID[o] for o in ops]), matrix, ops))
    return out


def _chunks(items, n):
    size = max(1, len(items) // n)
    return [items[i:i + size] for i in range(0, len(items), size)]


def enumerate_space(workers: int | None = None) -> list[tuple[str, str, str]]:
    """(hash, adjacency string, comma-joined ops) for every cell, sorted by hash."""
    workers = workers or os.cpu_count()
    cells: dict[str, tuple[str, str]] = {}
    with ProcessPoolExecutor(workers) as pool:
        for n in range(2, 8):
            graphs = _full_dags(n)
            topo = [h for part in pool.map(_topology_hashes, _chunks(graphs, 8 * workers)) for h in part]
            reps = list({h: g for h, g in reversed(list(zip(topo, graphs)))}.values())
            found = {}
            for part in pool.map(_labelled, _chunks(reps, 8 * workers)):
                for h, matrix, ops in part:
                    found.setdefault(h, ("".join(str(b) for row in matrix for b in row), ",".join(ops)))
            print(f"V={n}: {len(graphs)} graphs, {len(reps)} topologies, {len(found)} cells "
                  f"(nasbench: {EXPECTED[n]})", file=sys.stderr)
            cells.update(found)
    return sorted((h, adj, ops) for h, (adj, ops) in cells.items())


def load_space(cache: Path) -> list[tuple[str, str, str]]:
    if cache.exists():
        with gzip.open(cache, "rt") as fh:
            return [tuple(x) for x in json.load(fh)]
    started = time.perf_counter()
    space = enumerate_space()
    print(f"enumerated {len(space)} cells in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".partial")
    with gzip.open(tmp, "wt") as fh:
        json.dump(space, fh)
    tmp.replace(cache)
    return space


if __name__ == "__main__":
    print(len(load_space(Path(__file__).parent / "data" / "nb101_space.json.gz")))
