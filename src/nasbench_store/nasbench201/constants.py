"""NAS-Bench-201's space, datasets and NNI's names for them (arch dicts, split mapping)."""
from __future__ import annotations

import re

from ..errors import QueryError

# NNI's operator names (nni.nas.benchmark.nasbench201.constants), in PRIMITIVES order.
NONE = "none"
SKIP_CONNECT = "skip_connect"
CONV_1X1 = "conv_1x1"
CONV_3X3 = "conv_3x3"
AVG_POOL_3X3 = "avg_pool_3x3"
PRIMITIVES = [NONE, SKIP_CONNECT, CONV_1X1, CONV_3X3, AVG_POOL_3X3]

# The release's operator names, in index order 0..4.
RAW_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
RAW_TO_NNI = dict(zip(RAW_OPS, PRIMITIVES))
NNI_TO_RAW = {v: k for k, v in RAW_TO_NNI.items()}

# Edge keys in the order the arch string lists them (node 1; node 2; node 3).
EDGES = ("0_1", "0_2", "1_2", "0_3", "1_3", "2_3")

# The release's dataset names (case matters there) and NNI's lower-cased ones, in NNI's
# Nb201TrialConfig.dataset.choices order, which fixes the config ids.
RAW_DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
DATASETS = tuple(d.lower() for d in RAW_DATASETS)
EPOCHS = (12, 200)
HP_EPOCHS = {"less": 12, "full": 200, "12": 12, "200": 200}

# NNI's db_gen: which evaluation set feeds valid / test / ori_test for each dataset.
SPLITS = {
    "cifar10-valid": ("x-valid", "ori-test", "ori-test"),
    "cifar10": ("ori-test", "ori-test", "ori-test"),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "imagenet16-120": ("x-valid", "x-test", "ori-test"),
}

_ARCH_RE = re.compile(r"\|(.*)~0\|\+\|(.*)~0\|(.*)~1\|\+\|(.*)~0\|(.*)~1\|(.*)~2\|")


def parse_arch_str(arch_str: str) -> dict[str, str]:
    """`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` -> NNI's arch dict (nor_conv_* renamed conv_*).

    Raises ValueError naming the string when it is not a NAS-Bench-201 cell.
    """
    m = _ARCH_RE.fullmatch(arch_str) if isinstance(arch_str, str) else None
    if m is None or any(op not in RAW_TO_NNI for op in m.groups()):
        raise ValueError(f"{arch_str!r} is not a NAS-Bench-201 arch string "
                         f"(|op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops {', '.join(RAW_OPS)})")
    return {edge: RAW_TO_NNI[op] for edge, op in zip(EDGES, m.groups())}


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
    if dataset not in DATASETS:
        raise QueryError(f"unknown dataset {dataset!r}; valid datasets: {', '.join(DATASETS)}")
    return dataset


def check_epochs(num_epochs) -> int:
    """12 or 200; like NNI's INTEGER column, '200' and 200.0 mean 200."""
    if isinstance(num_epochs, str) and num_epochs.strip().isdigit():
        num_epochs = int(num_epochs)
    elif isinstance(num_epochs, float) and num_epochs.is_integer():
        num_epochs = int(num_epochs)
    if isinstance(num_epochs, bool) or num_epochs not in EPOCHS:
        raise QueryError(f"NAS-Bench-201 has no {num_epochs!r}-epoch runs; valid: 12, 200 or None")
    return num_epochs


def config_id(arch_index: int, epochs: int, dataset: str) -> int:
    """NNI's config id: meta arch × [12, 200] × datasets in choices order, from 1."""
    return arch_index * 8 + EPOCHS.index(epochs) * 4 + DATASETS.index(dataset) + 1
