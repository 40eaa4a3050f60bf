"""NAS-Bench-201 (and NATS-Bench tss): raw .pth / NATS archive -> nasbench201.db + Parquet, NNI's query.

`query_nb201_trial_stats` and the peewee models `Nb201TrialConfig`, `Nb201TrialStats`,
`Nb201IntermediateStats` read `<store dir>/nasbench201.db` (see `nasbench_store.paths.default_store_dir`).
The architectures by index, arch string and NNI dict, iterated or sampled: `architectures` (and
`space` for the encodings that need no store); docs/nasbench201.md#architectures-by-index-conversions-iteration-samples.
"""
from .architectures import (
                            Architecture,
                            arch_str_of,
                            arch_strs,
                            architecture,
                            index_of,
                            iter_architectures,
                            nni_arch_of,
                            query_with_index,
                            sample,
)
from .constants import AVG_POOL_3X3, CONV_1X1, CONV_3X3, NONE, PRIMITIVES, SKIP_CONNECT
from .query import query_nb201_trial_stats
from .schema import Nb201IntermediateStats, Nb201TrialConfig, Nb201TrialStats
from .space import arch_index_of_config, arch_str, parse_arch_str, unique_str

__all__ = ["query_nb201_trial_stats", "Nb201TrialConfig", "Nb201TrialStats", "Nb201IntermediateStats",
           "NONE", "SKIP_CONNECT", "CONV_1X1", "CONV_3X3", "AVG_POOL_3X3", "PRIMITIVES",
           "Architecture", "arch_strs", "index_of", "arch_str_of", "nni_arch_of", "architecture",
           "iter_architectures", "sample", "query_with_index", "parse_arch_str", "arch_str",
           "arch_index_of_config", "unique_str"]
