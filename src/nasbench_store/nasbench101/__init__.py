"""NAS-Bench-101: NNI-compatible queries, peewee models, graph utilities, and the cells of a store in
every encoding, iterated or sampled (`architectures`; docs/nasbench101.md, "Cells in every encoding")."""
from .architectures import Cell, arch_of_hash, cell_arch, cell_hash, cell_spec, hashes, iter_cells, sample
from .graph import (
                    AVAILABLE_OPS,
                    CONV1X1_BN_RELU,
                    CONV3X3_BN_RELU,
                    INPUT,
                    LABEL2ID,
                    MAXPOOL3X3,
                    OUTPUT,
                    arch_to_spec,
                    canonical_hash,
                    hash_arch,
                    hash_module,
                    infer_num_vertices,
                    prune,
                    spec_hash,
                    spec_to_arch,
)
from .query import query_nb101_trial_stats
from .schema import Nb101IntermediateStats, Nb101TrialConfig, Nb101TrialStats

__all__ = [
    "query_nb101_trial_stats", "Nb101TrialConfig", "Nb101TrialStats", "Nb101IntermediateStats",
    "INPUT", "OUTPUT", "CONV3X3_BN_RELU", "CONV1X1_BN_RELU", "MAXPOOL3X3", "AVAILABLE_OPS", "LABEL2ID",
    "hash_module", "hash_arch", "canonical_hash", "spec_hash", "prune", "infer_num_vertices",
    "arch_to_spec", "spec_to_arch",
    "Cell", "cell_spec", "cell_arch", "cell_hash", "hashes", "arch_of_hash", "iter_cells", "sample",
]
