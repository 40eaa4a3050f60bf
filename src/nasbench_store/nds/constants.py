"""NDS names: the 34 sweep files in NNI's order, the labels NNI derives from them, op names."""
from __future__ import annotations

from typing import NamedTuple

ARCHIVE_DIR = "nds_data"

# NNI's db_gen.py iterates the files in exactly this order; ids are assigned in this order too.
SWEEP_FILES = (
    "Amoeba.json", "Amoeba_in.json",
    "DARTS.json", "DARTS_fix-w-d.json", "DARTS_in.json", "DARTS_lr-wd.json", "DARTS_lr-wd_in.json",
    "ENAS.json", "ENAS_fix-w-d.json", "ENAS_in.json",
    "NASNet.json", "NASNet_in.json",
    "PNAS.json", "PNAS_fix-w-d.json", "PNAS_in.json",
    "ResNeXt-A.json", "ResNeXt-A_in.json", "ResNeXt-B.json", "ResNeXt-B_in.json",
    "ResNet-B.json", "ResNet.json", "ResNet_lr-wd.json", "ResNet_lr-wd_in.json", "ResNet_reruns.json",
    "ResNet_rng1.json", "ResNet_rng2.json", "ResNet_rng3.json",
    "Vanilla.json", "Vanilla_lr-wd.json", "Vanilla_lr-wd_in.json", "Vanilla_reruns.json",
    "Vanilla_rng1.json", "Vanilla_rng2.json", "Vanilla_rng3.json",
)

# The order in which the workflow starts the sweep files' conversions (higher first), and nothing
# else. ResNet.json and ResNeXt-A.json hold ~25k records each, five times a usual sweep file, and
# the `_in` files ~100: longest first keeps every core busy until the last part is done.
LARGE_SWEEPS = ("ResNeXt-A.json", "ResNet.json")


def sweep_priority(sweep: str) -> int:
    return 2 if sweep in LARGE_SWEEPS else 0 if "_in" in sweep else 1


MODEL_FAMILIES = ("nas_cell", "residual_bottleneck", "residual_basic", "vanilla")
DATASETS = ("cifar10", "imagenet")
GENERATORS = ("random", "fix_w_d", "tune_lr_wd")

# AnyNet block_type prefix -> model_family, tested in this order as NNI does.
BLOCK_FAMILIES = (
    ("res_bottleneck", "residual_bottleneck"),
    ("res_basic", "residual_basic"),
    ("double_plain", "vanilla"),
)

NONE = "none"
SKIP_CONNECT = "skip_connect"
AVG_POOL_3X3 = "avg_pool_3x3"
MAX_POOL_3X3 = "max_pool_3x3"
MAX_POOL_5X5 = "max_pool_5x5"
MAX_POOL_7X7 = "max_pool_7x7"
CONV_1X1 = "conv_1x1"
CONV_3X3 = "conv_3x3"
CONV_3X1_1X3 = "conv_3x1_1x3"
CONV_7X1_1X7 = "conv_7x1_1x7"
DIL_CONV_3X3 = "dil_conv_3x3"
DIL_CONV_5X5 = "dil_conv_5x5"
SEP_CONV_3X3 = "sep_conv_3x3"
SEP_CONV_5X5 = "sep_conv_5x5"
SEP_CONV_7X7 = "sep_conv_7x7"
DIL_SEP_CONV_3X3 = "dil_sep_conv_3x3"


class SweepLabels(NamedTuple):
    proposer: str
    generator: str
    dataset: str


def sweep_labels(file_name: str) -> SweepLabels:
    """proposer / generator / dataset exactly as NNI derives them from a sweep file name."""
    if "fix-w-d" in file_name:
        generator = "fix_w_d"
    elif "lr-wd" in file_name:
        generator = "tune_lr_wd"
    else:
        generator = "random"
    dataset = "imagenet" if "_in" in file_name else "cifar10"
    proposer = file_name.split(".")[0].split("_")[0].lower()
    return SweepLabels(proposer, generator, dataset)


PROPOSERS = tuple(sorted({sweep_labels(name).proposer for name in SWEEP_FILES}))
