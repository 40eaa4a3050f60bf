"""`nasbench-store`: build the offline demo, verify a store, show what a store holds."""
from __future__ import annotations

import argparse
import json
import os
import pprint
import subprocess
import sys
from pathlib import Path

from .manifest import read_manifest
from .paths import default_store_dir
from .verify import verify_store


def _workflow_root() -> Path:
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / "Snakefile").exists() and (root / "demo" / "config.yaml").exists():
            return root
    raise SystemExit("run this from a nasbench-store checkout (the directory with the Snakefile)")


def _show(row: dict) -> None:
    print(pprint.pformat(row, width=110, sort_dicts=False))


def _sample_nb101(store: Path) -> None:
    os.environ["NASBENCHMARK_DIR"] = str(store)
    from .nasbench101 import query_nb101_trial_stats
    arch = {"op1": "conv3x3-bn-relu", "op2": "maxpool3x3", "op3": "conv3x3-bn-relu", "op4": "conv3x3-bn-relu",
            "op5": "conv1x1-bn-relu", "input1": [0], "input2": [1], "input3": [2], "input4": [0],
            "input5": [0, 3, 4], "input6": [2, 5]}
    print(f"\nquery_nb101_trial_stats({arch}, 108, reduction='mean'):")
    for row in query_nb101_trial_stats(arch, 108, reduction="mean"):
        _show(row)


def _sample_nb201(store: Path) -> None:
    os.environ["NASBENCHMARK_DIR"] = str(store)
    from .nasbench201 import query_nb201_trial_stats
    from .nasbench201.schema import Nb201TrialStats
    arch = Nb201TrialStats.select().first().config.arch  # any architecture the sample has results for
    print(f"\nquery_nb201_trial_stats({arch}, 200, 'cifar100', reduction='mean'):")
    for row in query_nb201_trial_stats(arch, 200, "cifar100", reduction="mean"):
        _show(row)


def _sample_nds(store: Path) -> None:
    os.environ["NASBENCHMARK_DIR"] = str(store)
    from .nds import query_nds_trial_stats
    print("\nquery_nds_trial_stats('residual_basic', 'resnet', 'random', None, None, 'cifar10'), first row:")
    for row in query_nds_trial_stats("residual_basic", "resnet", "random", None, None, "cifar10"):
        _show(row)
        break


SAMPLES = {"nasbench101": _sample_nb101, "nasbench201": _sample_nb201, "nds": _sample_nds}


def demo(args) -> None:
    root = _workflow_root()
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.cores), "--configfile",
           str(root / "demo" / "config.yaml")]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=root, check=True)
    subprocess.run([*cmd[:3], "verify", *cmd[3:]], cwd=root, check=True)
    store = root / "demo" / "store"
    for benchmark in read_manifest(store)["benchmarks"]:
        SAMPLES.get(benchmark, lambda s: None)(store)
    print(f"\nThe demo stores are in {store}; query them with NASBENCHMARK_DIR={store}")


def verify(args) -> None:
    problems = verify_store(args.store_dir, args.benchmarks or None)
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        raise SystemExit(1)
    print(f"OK {args.store_dir}: every file matches SHA256SUMS and every check passed")


def info(args) -> None:
    print(json.dumps(read_manifest(args.store_dir), indent=2))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="nasbench-store", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="build the offline demo stores from generated sample raw files")
    p.add_argument("--cores", type=int, default=2)
    p.set_defaults(func=demo)
    for name, func, text in (("verify", verify, "re-hash and re-check a store"),
                             ("info", info, "print a store's manifest")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--store-dir", type=Path, default=default_store_dir())
        if name == "verify":
            p.add_argument("benchmarks", nargs="*")
        p.set_defaults(func=func)
    args = ap.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
