"""`query_nb101_trial_stats`: NNI's function and dict shapes, on this project's store.

Differences from NNI, all in the researcher's favour: with `isomorphism=True` the cell is pruned
first (extraneous vertices removed, as nasbench's ModelSpec does), so every equivalent cell finds
its record; a cell outside the space raises QueryError saying why instead of matching nothing,
and so do an unknown op with `isomorphism=False` and an epoch count other than 4, 12, 36, 108
(each message lists the valid values; a bad reduction's ValueError does too); intermediates
come from one query; the store is located through NASBENCHMARK_DIR at call time.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator

import orjson

from ..database import json_text
from ..errors import QueryError
from ..sqlite_query import TrialTables, check_epochs, normalize_reduction, query_trials
from .graph import AVAILABLE_OPS, canonical_cell, hash_adjacency

TABLES = TrialTables.of("nasbench101")
EPOCHS = (4, 12, 36, 108)


def query_nb101_trial_stats(arch, num_epochs, isomorphism=True, reduction=None,
                            include_intermediates=False) -> Iterator[dict]:
    """Trial stats of NAS-Bench-101 cells, as NNI's function of the same name returns them.

    arch: NNI arch dict ({'op1': ..., 'input1': [0], ...}) or None for every cell.
    num_epochs: 4, 12, 36, 108 or None. isomorphism: match any equivalent cell (by graph hash,
    after pruning) rather than this exact vertex order. reduction: None/'none' or 'mean' (one dict
    per config, averaged over its runs, with `num_trials`). include_intermediates: add each run's
    halfway and final evaluations under 'intermediates'.
    """
    normalize_reduction(reduction)
    cell = canonical_cell(arch) if arch is not None and isomorphism else None  # QueryError if not in the space
    exact = json_text(_check_ops(arch)) if arch is not None and not isomorphism else None
    epochs = [] if num_epochs is None else [("c.num_epochs = ?", check_epochs(num_epochs, EPOCHS, "NAS-Bench-101"))]
    if cell is None:
        return query_trials(TABLES, ([] if exact is None else [("c.arch = ?", exact)]) + epochs,
                            reduction, include_intermediates)
    adjacency, labels, as_given = cell

    def by_hash():
        return [("c.hash = ?", _cell_hash(adjacency, labels)), *epochs]

    text = _stored_text(arch) if as_given else None
    if text is None:
        return query_trials(TABLES, by_hash(), reduction, include_intermediates)
    # A cell given in the vertex order the store holds it in is found by its arch text, without
    # hashing: the store holds one arch per hash (verify checks each stored hash against its arch),
    # so that finds the same configs as the hash; any other order finds nothing and falls back.
    return query_trials(TABLES, [("c.arch = ?", text), *epochs], reduction, include_intermediates,
                        fallback=by_hash)


REFERENCE_ARCH = {"op1": "conv3x3-bn-relu", "op2": "maxpool3x3", "op3": "conv3x3-bn-relu", "op4": "conv3x3-bn-relu",
                  "op5": "conv1x1-bn-relu", "input1": [0], "input2": [1], "input3": [2], "input4": [0],
                  "input5": [0, 3, 4], "input6": [2, 5]}


def sample() -> tuple[str, list[dict]]:
    """The demo's query: the reference cell of the NAS-Bench-101 paper at 108 epochs, seeds averaged."""
    return (f"query_nb101_trial_stats({REFERENCE_ARCH}, 108, reduction='mean')",
            list(query_nb101_trial_stats(REFERENCE_ARCH, 108, reduction="mean")))


def _check_ops(arch):
    """The arch as given (matched exactly), once its ops are known: NNI would match nothing."""
    if isinstance(arch, dict):
        bad = [v for k, v in arch.items() if isinstance(k, str) and k.startswith("op") and v not in AVAILABLE_OPS]
        if bad:
            raise QueryError(f"unknown NAS-Bench-101 op {bad[0]!r}; valid ops: {', '.join(AVAILABLE_OPS)}")
    return arch


def _stored_text(arch: dict) -> str | None:
    """The arch as the store's JSON text (sorted keys, minified), or None if it cannot be one."""
    try:
        return orjson.dumps(arch, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return None


@functools.lru_cache(maxsize=1 << 16)
def _cell_hash(adjacency: str, labels: tuple[int, ...]) -> str:
    """Searches revisit cells often; the hash is the costly part of a lookup, so remember it."""
    return hash_adjacency(adjacency, labels)
