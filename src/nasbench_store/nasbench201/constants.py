"""NAS-Bench-201's names: operators (NNI's and the release's), edges, datasets, epochs, NNI's split mapping."""
from __future__ import annotations

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
