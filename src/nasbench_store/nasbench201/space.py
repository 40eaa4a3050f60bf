"""NAS-Bench-201 architectures and query arguments: arch string <-> NNI dict, validation, NNI's config ids."""
from __future__ import annotations

from ..errors import QueryError
from ..sqlite_query import check_epochs as check_epochs_in
from .constants import DATASETS, EDGES, EPOCHS, NNI_TO_RAW, PRIMITIVES, RAW_OPS, RAW_TO_NNI


def parse_arch_str(arch_str: str) -> dict[str, str]:
    """`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` -> NNI's arch dict (nor_conv_* renamed conv_*).

    Raises ValueError naming the string when it is not a NAS-Bench-201 cell. Linear in the
    string's length (a backtracking pattern was cubic on long hostile strings).
    """
    ops = _split_arch_str(arch_str) if isinstance(arch_str, str) else None
    if ops is None or any(op not in RAW_TO_NNI for op in ops):
        shown = repr(arch_str) if len(repr(arch_str)) <= 200 else repr(arch_str)[:200] + "..."
        raise ValueError(f"{shown} is not a NAS-Bench-201 arch string "
                         f"(|op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops {', '.join(RAW_OPS)})")
    return {edge: RAW_TO_NNI[op] for edge, op in zip(EDGES, ops)}


def _split_arch_str(text: str) -> list[str] | None:
    """The six operator names of an arch string in edge order, or None if it is not shaped like one."""
    nodes = text.split("+")
    if len(nodes) != 3:
        return None
    ops = []
    for node, inputs in zip(nodes, (1, 2, 3)):
        if len(node) < 2 or node[0] != "|" or node[-1] != "|":
            return None
        parts = node[1:-1].split("|")
        if len(parts) != inputs:
            return None
        for source, part in enumerate(parts):
            op, sep, src = part.rpartition("~")
            if not sep or src != str(source):
                return None
            ops.append(op)
    return ops


def arch_str(arch: dict[str, str]) -> str:
    """NNI's arch dict -> the release's arch string (inverse of parse_arch_str)."""
    ops = [NNI_TO_RAW[arch[e]] for e in EDGES]
    return f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"


def normalize_arch(arch) -> dict[str, str]:
    """Accept NNI's dict or the arch string; raise QueryError listing what is valid."""
    if isinstance(arch, str):
        try:
            return parse_arch_str(arch)
        except ValueError as exc:
            raise QueryError(str(exc)) from None
    if not isinstance(arch, dict):
        raise QueryError(f"arch must be NNI's dict with keys {', '.join(EDGES)} or an arch string, "
                         f"not {type(arch).__name__}")
    if set(arch) != set(EDGES):
        raise QueryError(f"arch keys {sorted(arch)} are not NAS-Bench-201's edges {', '.join(EDGES)}")
    bad = {k: v for k, v in arch.items() if v not in PRIMITIVES and v not in RAW_TO_NNI}
    if bad:
        raise QueryError(f"unknown operator(s) {bad}; valid operators: {', '.join(PRIMITIVES)} "
                         f"(the release's nor_conv_1x1/nor_conv_3x3 are accepted as conv_1x1/conv_3x3)")
    return {k: RAW_TO_NNI.get(v, v) for k, v in arch.items()}


def check_dataset(dataset) -> str:
    """NNI's lower-case name; the release's spelling (`ImageNet16-120`) and any other case are accepted too."""
    name = dataset.lower() if isinstance(dataset, str) else dataset
    if name not in DATASETS:
        raise QueryError(f"unknown dataset {dataset!r}; valid datasets: {', '.join(DATASETS)} (in any case)")
    return name


def check_epochs(num_epochs) -> int:
    """12 or 200; like NNI's INTEGER column, '200' and 200.0 mean 200."""
    return check_epochs_in(num_epochs, EPOCHS, "NAS-Bench-201")


def config_id(arch_index: int, epochs: int, dataset: str) -> int:
    """NNI's config id: meta arch × [12, 200] × datasets in choices order, from 1."""
    return arch_index * 8 + EPOCHS.index(epochs) * 4 + DATASETS.index(dataset) + 1


def arch_index_of_config(config_id: int) -> int:
    """The architecture index of NNI's config id (the inverse of `config_id` for the index)."""
    return (config_id - 1) // 8


def unique_str(arch) -> str:
    """nats_bench's `get_unique_str` of a cell, to group cells that compute the same function (6,466
    groups over the 15,625 cells): a `none` edge, or an input that is always zero, contributes zero;
    `skip_connect` passes its input through; the terms of a node's sum are sorted. `arch`: an arch
    string or NNI dict (no store needed)."""
    ops = [NNI_TO_RAW[op] for op in (normalize_arch(arch)[e] for e in EDGES)]
    nodes = ["0"]
    for target in (1, 2, 3):
        terms = []
        for source in range(target):
            op, value = ops[EDGES.index(f"{source}_{target}")], nodes[source]
            if op == "none" or value == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(value)
            else:
                terms.append(f"({value})@{op}")
        nodes.append("+".join(sorted(terms)))
    return nodes[3]
