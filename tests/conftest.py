"""Shared test fixtures (generated raw files, a runner for the real Snakemake workflow) and the
session header; what the test files import is in the helpers package (tests/helpers/)."""
from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REQUIRE_SWITCHES, Workflow, switch_on


def pytest_report_header(config):
    """Which graph hash, NB101 record loop, pickle walk and SQLite insert run (C or the pure-Python fallbacks), and
    which skips would fail."""
    try:
        from nasbench_store.nasbench101.graph import HASH_IMPLEMENTATION as implementation
    except Exception as exc:  # the tests that import it report it; the header must not stop the session
        implementation = f"unknown ({type(exc).__name__}: {exc})"
    try:
        from nasbench_store.nasbench101.records import RECORD_IMPLEMENTATION as records
        from nasbench_store.safety.unpickler import WALK_IMPLEMENTATION as walk
        from nasbench_store.tablewriter import INSERT_IMPLEMENTATION as inserts
    except Exception as exc:
        records = walk = inserts = f"unknown ({type(exc).__name__}: {exc})"
    required = [name for name in REQUIRE_SWITCHES if switch_on(name)]
    return [f"nasbench_store graph hash: {implementation}; NB101 record loop: {records}; pickle opcode walk: {walk}; "
            f"SQLite inserts: {inserts}",
            f"required, failing instead of skipping: {', '.join(required) or 'nothing'}"]


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory) -> tuple[Path, Path]:
    """(wheel, venv): the working tree's wheel installed in a fresh venv, built once for the tests that use it."""
    from helpers.wheel import install_wheel
    return install_wheel(tmp_path_factory.mktemp("installed"))


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
