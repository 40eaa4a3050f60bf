"""google's `nasbench` package (NAS-Bench-101) without TensorFlow: `from nasbench_store.compat.nasbench import api`.

Also conversions between the original's ModelSpec and this project's NNI arch dicts and hashes.
"""
from __future__ import annotations

from ...nasbench101.architectures import cell_arch
from ...nasbench101.graph import AVAILABLE_OPS, arch_to_spec
from . import api


def model_spec_to_arch(model_spec) -> dict:
    """NNI's arch dict of a ModelSpec's pruned cell (what `query_nb101_trial_stats` takes).

    Raises api.OutOfDomainError when the input is not connected to the output, QueryError when the
    cell is otherwise outside the space (`nasbench_store.nasbench101.cell_arch`)."""
    if not model_spec.valid_spec:
        raise api.OutOfDomainError("invalid spec, provided graph is disconnected.")
    return cell_arch(model_spec)


def model_spec_from_arch(arch: dict) -> api.ModelSpec:
    """A ModelSpec of an NNI arch dict (pruned on construction, as every ModelSpec is)."""
    matrix, ops = arch_to_spec(arch)
    return api.ModelSpec(matrix, ops)


def model_spec_hash(model_spec) -> str:
    """The graph hash a store (and the raw release) keys the cell by."""
    return model_spec.hash_spec(list(AVAILABLE_OPS))


__all__ = ["api", "model_spec_to_arch", "model_spec_from_arch", "model_spec_hash"]
