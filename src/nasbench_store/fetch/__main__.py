"""Fetch one benchmark's raw file outside the workflow, with the same config the workflow reads.

    python -m nasbench_store.fetch nasbench101 --config config.yaml [--config mine.yaml]

Later --config files merge over earlier ones key by key, as Snakemake's --configfile does.
Relative paths (raw_dir, store_dir, download.lock_file) are relative to the current directory,
as they are for the workflow run from the repository root.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml

from ..errors import ConfigError, NasbenchStoreError
from ..paths import default_store_dir
from ..workflow import raw_filename
from . import FetchOptions, fetch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nasbench_store.fetch", description=__doc__.split("\n")[0])
    parser.add_argument("benchmark", help="key under `sources` in the config, e.g. nasbench101")
    parser.add_argument("--config", action="append", required=True, type=Path, help="config file (repeatable)")
    parser.add_argument("--dest", type=Path, help="download to this file instead of <raw_dir>/<file name>")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        config = merged_config(args.config)
        source = (config.get("sources") or {}).get(args.benchmark)
        if not source:
            raise ConfigError(f"sources.{args.benchmark}: not in {', '.join(map(str, args.config))}")
        download = config.get("download") or {}
        dest = args.dest or raw_dir(config) / raw_filename(source)
        path = fetch(source, dest, benchmark=args.benchmark, options=FetchOptions.from_config(download),
                     lock_file=Path(download.get("lock_file", "sources.lock.yaml")))
    except NasbenchStoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0


def merged_config(files: list[Path]) -> dict:
    config: dict = {}
    for f in files:
        try:
            _merge(config, yaml.safe_load(f.read_text()) or {})
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{f}: cannot read config ({e})") from e
    return config


def raw_dir(config: dict) -> Path:
    """The workflow's rule: raw_dir, else <store_dir>/raw, else <default store>/raw."""
    store = Path(config.get("store_dir") or default_store_dir()).expanduser()
    return Path(config.get("raw_dir") or store / "raw").expanduser()


def _merge(base: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


if __name__ == "__main__":
    sys.exit(main())
