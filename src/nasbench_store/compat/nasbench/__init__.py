"""google's `nasbench` package (NAS-Bench-101) without TensorFlow: `from nasbench_store.compat.nasbench import api`.

Also conversions between the original's ModelSpec and this project's NNI arch dicts and hashes.
"""
from __future__ import annotations

from ...nasbench101.graph import AVAILABLE_OPS, arch_to_spec, spec_to_arch
from . import api


def model_spec_to_arch(model_spec) -> dict:
    """NNI's arch dict of a ModelSpec's pruned cell (what `query_nb101_trial_stats` takes).

    Raises api.OutOfDomainError when the input is not connected to the output."""
    if not model_spec.valid_spec:
        raise api.OutOfDomainError("invalid spec, provided graph is disconnected.")
    return spec_to_arch(model_spec.matrix.tolist(), list(model_spec.ops))


def model_spec_from_arch(arch: dict) -> api.ModelSpec:
    """A ModelSpec of an NNI arch dict (pruned on construction, as every ModelSpec is)."""
    matrix, ops = arch_to_spec(arch)
    return api.ModelSpec(matrix, ops)


def model_spec_hash(model_spec) -> str:
    """The graph hash a store (and the raw release) keys the cell by."""
    return model_spec.hash_spec(list(AVAILABLE_OPS))


__all__ = ["api", "model_spec_to_arch", "model_spec_from_arch", "model_spec_hash"]
