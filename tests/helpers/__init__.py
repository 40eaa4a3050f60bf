"""Helpers shared by the test files, which import from here and never from each other: the workflow
runner and the switch that turns a missing dependency's skip into a failure; per benchmark, store
builders and hand-made records in helpers.nb201 and helpers.nds."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Set (to anything but 0), each makes the tests that need a dependency fail when it is missing
# instead of skipping (CI sets them all): a SLURM cluster (test_slurm_workflow.py), the C graph-hash
# extension (test_nb101_graph.py), the oracles: torch + nas_201_api and the NNI venv (*_oracle.py).
REQUIRE_SWITCHES = ("NASBENCH_REQUIRE_SLURM", "NASBENCH_REQUIRE_CEXT", "NASBENCH_REQUIRE_ORACLE")


def switch_on(env_var: str) -> bool:
    return os.environ.get(env_var, "") not in ("", "0")


def require_or_skip(env_var: str, reason: str) -> NoReturn:
    """Skip the calling test (or fixture) because of `reason`, or fail it when `env_var` is set:
    where the dependency must be present (CI), its absence must not pass as a skip."""
    if switch_on(env_var):
        pytest.fail(f"{env_var} is set but {reason}", pytrace=False)
    pytest.skip(reason)


# --- the real Snakemake workflow --------------------------------------------------------------

@dataclass
class WorkflowRun:
    returncode: int
    output: str

    def check(self) -> WorkflowRun:
        assert self.returncode == 0, self.output[-6000:]
        return self


class Workflow:
    """The repository's Snakefile, run for real in its own working directory with a test config."""

    def __init__(self, workdir: Path, config: dict):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.store = Path(config["store_dir"])

    def write_config(self) -> Path:
        path = self.workdir / "test-config.yaml"
        path.write_text(yaml.safe_dump(self.config))
        return path

    def command(self, *args: str, cores: int = 2) -> list[str]:
        # the test's config replaces config.yaml (whose real release digests would otherwise be merged in)
        return [*SNAKEMAKE, *args, "--snakefile", str(REPO / "Snakefile"), "--directory", str(self.workdir),
                "--cores", str(cores), "--replace-workflow-config", "--configfile", str(self.write_config())]

    def run(self, *args: str, cores: int = 2, env: dict | None = None, timeout: float = 600) -> WorkflowRun:
        proc = subprocess.run(self.command(*args, cores=cores), capture_output=True, text=True,
                              env={**os.environ, **(env or {})}, timeout=timeout)
        return WorkflowRun(proc.returncode, proc.stdout + proc.stderr)


def store_bytes(store: Path) -> dict[str, bytes]:
    """Every published file of a store by relative path (not the build dir or the lock)."""
    return {p.relative_to(store).as_posix(): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and ".build" not in p.parts and p.name != ".lock"}
