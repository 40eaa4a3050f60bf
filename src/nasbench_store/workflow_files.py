"""Where this project's Snakemake workflow is, and its configuration as Snakemake merges it.

The workflow (Snakefile, rules/, scripts/, schemas/, config.yaml, envs/, profiles/, demo/config.yaml)
lives at the root of a checkout. A wheel ships the same files as data files under
`<prefix>/share/nasbench-store/` (pyproject.toml, `[tool.setuptools.data-files]`), so the commands
that run the workflow (`nasbench-store build`, `demo`, `repair`) work from a plain `pip install`.
"""
from __future__ import annotations

import importlib.metadata
import site
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path

import yaml

from .errors import ConfigError, NasbenchStoreError
from .paths import default_store_dir

DISTRIBUTION = "nasbench-store"
SHARE = ("share", "nasbench-store")  # the installed copy, relative to the installation prefix
# Present in every copy of the workflow (checkout or installed), absent from an unrelated Snakefile's directory.
MARKERS = ("Snakefile", "config.yaml", "rules/common.smk", "demo/config.yaml")


class WorkflowNotFoundError(NasbenchStoreError):
    """Neither a checkout nor an installed copy of the workflow files was found."""


def is_workflow_root(path: Path) -> bool:
    return all((path / marker).is_file() for marker in MARKERS)


def workflow_root() -> Path:
    """The directory holding the Snakefile this package runs.

    The checkout this module was imported from (an editable install, or `src/` on the path) wins:
    its workflow matches its code. Otherwise the copy installed with the package, found through
    the installed files' record (any install scheme: venv, --user, --prefix), then the usual
    data directories.
    """
    checkout = Path(__file__).resolve().parents[2]
    if is_workflow_root(checkout):
        return checkout
    for candidate in _installed_candidates():
        if is_workflow_root(candidate):
            return candidate
    raise WorkflowNotFoundError(
        f"the nasbench-store workflow files (Snakefile, rules/, ...) are neither in a checkout around "
        f"{Path(__file__).resolve().parent} nor installed under <prefix>/{'/'.join(SHARE)}; reinstall the "
        f"package (pip install nasbench-store) or run from a checkout")


def _installed_candidates() -> Iterable[Path]:
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    snakefile = (*SHARE, "Snakefile")
    for file in (dist.files or []) if dist is not None else []:
        if tuple(file.parts[-3:]) == snakefile:
            yield Path(dist.locate_file(file)).resolve().parent
    prefixes = [sysconfig.get_path("data"), sys.prefix, getattr(site, "USER_BASE", None)]
    for prefix in dict.fromkeys(p for p in prefixes if p):
        yield Path(prefix).joinpath(*SHARE)


def merge_config(base: dict, override: dict) -> dict:
    """Snakemake's merge of a config file over another: mappings key by key, other values replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(configfiles: Iterable[str | Path] = (), root: Path | None = None) -> dict:
    """The workflow's config.yaml with each `--configfile` merged over it, in order, as Snakemake does."""
    files = [Path(root or workflow_root()) / "config.yaml", *map(Path, configfiles)]
    config: dict = {}
    for path in files:
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys (store_dir:, benchmarks:, ...)")
        config = merge_config(config, loaded)
    return config


def configured_store_dir(config: dict) -> Path:
    """`store_dir` as the workflow resolves it: empty means `$NASBENCHMARK_DIR`, else ~/.cache/nasbench-store;
    a relative path is relative to the working directory (here: the current one)."""
    return Path(config.get("store_dir") or default_store_dir()).expanduser().absolute()
