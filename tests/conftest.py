"""Shared test fixtures: generated raw files and a runner for the real Snakemake workflow."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


@dataclass
class WorkflowRun:
    returncode: int
    output: str

    def check(self) -> "WorkflowRun":
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
        return [*SNAKEMAKE, *args, "--snakefile", str(REPO / "Snakefile"), "--directory", str(self.workdir),
                "--cores", str(cores), "--configfile", str(self.write_config())]

    def run(self, *args: str, cores: int = 2, env: dict | None = None, timeout: float = 600) -> WorkflowRun:
        proc = subprocess.run(self.command(*args, cores=cores), capture_output=True, text=True,
                              env={**os.environ, **(env or {})}, timeout=timeout)
        return WorkflowRun(proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture
def workflow(tmp_path):
    """Factory: workflow(config overrides) -> Workflow with store/raw/work dirs under tmp_path."""
    def make(name: str = "run", **config) -> Workflow:
        base = tmp_path / name
        full = {"store_dir": str(base / "store"), "raw_dir": str(base / "raw"),
                "work_dir": str(base / "work"), **config}
        return Workflow(base / "wd", full)
    return make


@pytest.fixture(scope="session")
def nb101_raw(tmp_path_factory) -> Path:
    """A small faithful nasbench_full.tfrecord: every cell up to 4 vertices plus the reference cell."""
    from nasbench_store.nasbench101.synthetic import demo_cells, write_tfrecord
    return write_tfrecord(tmp_path_factory.mktemp("nb101") / "nasbench_full.tfrecord", demo_cells())


@pytest.fixture(scope="session")
def nb101_store(tmp_path_factory, nb101_raw) -> Path:
    """A store built from `nb101_raw` by the real workflow (3 shards); shared, treat as read-only."""
    base = tmp_path_factory.mktemp("nb101-store")
    wf = Workflow(base / "wd", {"store_dir": str(base / "store"), "work_dir": str(base / "work"),
                                "benchmarks": ["nasbench101"],
                                "sources": {"nasbench101": {"path": str(nb101_raw)}},
                                "nasbench101": {"shards": 3}})
    wf.run().check()
    return wf.store
