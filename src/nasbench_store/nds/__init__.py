"""NDS ("On Network Design Spaces for Visual Recognition"): data.zip -> nds.db + Parquet, NNI's query.

`query_nds_trial_stats` and the peewee models `NdsTrialConfig`, `NdsTrialStats`,
`NdsIntermediateStats` read `<store dir>/nds.db` (see `nasbench_store.paths.default_store_dir`).
The op-name constants are NNI's (`nni.nas.benchmark.nds.CONV_1X1`, ...).
"""
from .constants import (
                        AVG_POOL_3X3,
                        CONV_1X1,
                        CONV_3X1_1X3,
                        CONV_3X3,
                        CONV_7X1_1X7,
                        DIL_CONV_3X3,
                        DIL_CONV_5X5,
                        DIL_SEP_CONV_3X3,
                        MAX_POOL_3X3,
                        MAX_POOL_5X5,
                        MAX_POOL_7X7,
                        NONE,
                        SEP_CONV_3X3,
                        SEP_CONV_5X5,
                        SEP_CONV_7X7,
                        SKIP_CONNECT,
)
from .query import query_nds_trial_stats
from .schema import NdsIntermediateStats, NdsTrialConfig, NdsTrialStats

__all__ = [
    "query_nds_trial_stats", "NdsTrialConfig", "NdsTrialStats", "NdsIntermediateStats",
    "NONE", "SKIP_CONNECT", "AVG_POOL_3X3", "MAX_POOL_3X3", "MAX_POOL_5X5", "MAX_POOL_7X7", "CONV_1X1", "CONV_3X3",
    "CONV_3X1_1X3", "CONV_7X1_1X7", "DIL_CONV_3X3", "DIL_CONV_5X5", "SEP_CONV_3X3", "SEP_CONV_5X5", "SEP_CONV_7X7",
    "DIL_SEP_CONV_3X3",
]
