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
from .registry import BENCHMARKS, get
from .verify import verify_store


def _workflow_root() -> Path:
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / "Snakefile").exists() and (root / "demo" / "config.yaml").exists():
            return root
    raise SystemExit("run this from a nasbench-store checkout (the directory with the Snakefile)")


def _show(row: dict) -> None:
    print(pprint.pformat(row, width=110, sort_dicts=False))


def demo(args) -> None:
    root = _workflow_root()
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.cores), "--configfile",
           str(root / "demo" / "config.yaml")]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=root, check=True)
    subprocess.run([*cmd[:3], "verify", *cmd[3:]], cwd=root, check=True)
    store = root / "demo" / "store"
    os.environ["NASBENCHMARK_DIR"] = str(store)
    for benchmark in read_manifest(store)["benchmarks"]:
        call, rows = get(benchmark).sample()
        print(f"\n{call}:")
        for row in rows:
            _show(row)
    print(f"\nThe demo stores are in {store}; query them with NASBENCHMARK_DIR={store}")


def repair(args, snakemake_args) -> None:
    root = _workflow_root()
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(root / "Snakefile"), "--cores", str(args.cores)]
    for targets in ([args.benchmark, "--forcerun", "tables_sqlite", "tables_parquet"], ["verify"]):
        cmd = [*base, *targets, *snakemake_args]
        print("+", " ".join(cmd), flush=True)
        if subprocess.run(cmd, cwd=root).returncode:
            raise SystemExit(1)


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
            p.add_argument("benchmarks", nargs="*", metavar="BENCHMARK",
                           help=f"one or more of {', '.join(BENCHMARKS)} (default: every benchmark in the store)")
        p.set_defaults(func=func)
    p = sub.add_parser("repair", help="rebuild a benchmark's published files from its raw input, then verify",
                       description="Rebuild BENCHMARK's tables from its raw input (no download), republish them "
                                   "and verify the store. Options after BENCHMARK go to snakemake: give the "
                                   "--configfile options you built with.")
    p.add_argument("benchmark", metavar="BENCHMARK", choices=list(BENCHMARKS))
    p.add_argument("--cores", type=int, default=2)
    p.set_defaults(func=repair)
    args, rest = ap.parse_known_args(argv)
    if args.func is repair:
        args.func(args, rest)
    elif rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    else:
        args.func(args)


if __name__ == "__main__":
    main()
