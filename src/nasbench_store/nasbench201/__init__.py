"""NAS-Bench-201 (and NATS-Bench tss): raw .pth / NATS archive -> nasbench201.db + Parquet, NNI's query.

`query_nb201_trial_stats` and the peewee models `Nb201TrialConfig`, `Nb201TrialStats`,
`Nb201IntermediateStats` read `<store dir>/nasbench201.db` (see `nasbench_store.paths.default_store_dir`).
"""
from .constants import AVG_POOL_3X3, CONV_1X1, CONV_3X3, NONE, PRIMITIVES, SKIP_CONNECT
from .query import query_nb201_trial_stats
from .schema import Nb201IntermediateStats, Nb201TrialConfig, Nb201TrialStats

__all__ = ["query_nb201_trial_stats", "Nb201TrialConfig", "Nb201TrialStats", "Nb201IntermediateStats",
           "NONE", "SKIP_CONNECT", "CONV_1X1", "CONV_3X3", "AVG_POOL_3X3", "PRIMITIVES"]
