"""NDS test helpers: hand-made raw records and archives, the converter without the workflow."""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from nasbench_store.manifest import raw_digest
from nasbench_store.nds.constants import SWEEP_FILES
from nasbench_store.nds.convert import convert_sweep, write_store
from nasbench_store.nds.synthetic import write_zip
from nasbench_store.tablewriter import provenance

NAN = float("nan")
CELL_NET = {
    "genotype": {
        "normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["max_pool_3x3", 2], ["none", 0]],
        "normal_concat": [3],
        "reduce": [["avg_pool_3x3", 0], ["dil_conv_5x5", 1], ["sep_conv_5x5", 2], ["skip_connect", 0],
                   ["max_pool_3x3", 3], ["dil_conv_3x3", 1]],
        "reduce_concat": [4],
    },
    "width": 16, "depth": 8, "aux": False, "drop_prob": 0.2,
}
BOTTLENECK_NET = {"block_type": "res_bottleneck_block", "ds": [1, 2, 3, 4], "ws": [16, 32, 64, 128],
                  "ss": [1, 1, 2, 2], "bot_muls": [0.0, 0.25, 0.5, 1.0], "num_gs": [1, 2, 1, 2]}
BASIC_NET = {"block_type": "res_basic_block", "ds": [1, 12, 12, 12], "ws": [16, 24, 24, 40],
             "ss": [1, 1, 2, 2], "bot_muls": [], "num_gs": None}


def record(net, seed=7, train=(60.5, 30.25, 31.0), test=(65.0, 40.125, 40.5), loss=(NAN, 0.5, NAN), **optim):
    """One raw NDS sweep record with `net` and per-epoch values given by hand."""
    return {"job_id": 1, "rng_seed": seed, "params": 1234567, "flops": 98765432, "iter_time": 0.123,
            "net": net, "optim": {"base_lr": 0.05, "wd": 0.0003, "max_ep": len(train), **optim},
            "train_ep_top1": list(train), "test_ep_top1": list(test), "train_ep_loss": list(loss)}


def hand_archive(path, mid_first=False):
    """All 34 sweep files: hand-made records in five of them, the rest empty."""
    files = {name: [] for name in SWEEP_FILES}
    files["Amoeba.json"] = [record(CELL_NET, seed=1), record(CELL_NET, seed=1, drop_prob_unused=1)]
    files["ResNet.json"] = [record(BASIC_NET, seed=1)]
    files["ResNet_rng1.json"] = [record(BASIC_NET, seed=1), record(BOTTLENECK_NET, seed=1)]
    files["ResNet_rng2.json"] = [record(BOTTLENECK_NET, seed=2), record(BASIC_NET, seed=2)]
    top = [record(BASIC_NET, seed=3, train=(50.0, 40.0, 20.0)), record(BASIC_NET, seed=4)]
    mid = [record(dict(BASIC_NET, ds=[1, 2, 2, 2]), seed=5)]
    files["ResNet_reruns.json"] = {"mid": mid, "top": top} if mid_first else {"top": top, "mid": mid}
    return write_zip(path, files)


def build(tmp_path, archive, order=SWEEP_FILES, workers=1, name="store"):
    """Convert every sweep file of `archive` (in `order`, by `workers` processes) into tmp_path/name."""
    parts = {s: tmp_path / name / "parts" / f"{s}.parquet" for s in SWEEP_FILES}
    jobs = [(archive, s, parts[s]) for s in order]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(convert_sweep, *zip(*jobs)))
    else:
        for job in jobs:
            convert_sweep(*job)
    out = tmp_path / name
    counts = write_store(parts, out / "nds.db", out / "nds",
                         provenance=provenance("nds", raw_digest(archive)["sha256"]))
    return out, counts
