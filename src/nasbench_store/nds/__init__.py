"""NDS ("On Network Design Spaces for Visual Recognition"): data.zip -> nds.db + Parquet, NNI's query.

`query_nds_trial_stats` and the peewee models `NdsTrialConfig`, `NdsTrialStats`,
`NdsIntermediateStats` read `<store dir>/nds.db` (see `nasbench_store.paths.default_store_dir`).
"""
from .constants import *  # noqa: F401,F403  (NNI exports the op-name constants here)
from .query import query_nds_trial_stats
from .schema import NdsIntermediateStats, NdsTrialConfig, NdsTrialStats

__all__ = ["query_nds_trial_stats", "NdsTrialConfig", "NdsTrialStats", "NdsIntermediateStats"]
