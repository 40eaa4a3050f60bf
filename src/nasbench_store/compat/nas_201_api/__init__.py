"""A drop-in for `nas_201_api` (NAS-Bench-201), answered from the NB201 store, without torch.

    from nasbench_store.compat.nas_201_api import NASBench201API as API   # instead of: from nas_201_api import ...
    api = API("NAS-Bench-201-v1_1-096897.pth", verbose=False)   # or a store directory, nasbench201.db, None
    api.get_more_info(index, "cifar10-valid", hp="200")

See `api_201.NASBench201API` for what it answers and where it deliberately differs.
"""
from __future__ import annotations

from ..nats_bench.results import WeightsNotStoredError
from .api_201 import NASBench201API, Nb201LookupError

__all__ = ["NASBench201API", "Nb201LookupError", "WeightsNotStoredError"]
