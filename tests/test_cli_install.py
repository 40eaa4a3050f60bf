"""The workflow ships in the wheel: `nasbench-store build` and `demo` work from a plain install, no checkout.

The slow test takes the wheel of the working tree installed into a fresh venv outside the repository
(the session's `installed_wheel`, tests/helpers/wheel.py) and runs the commands there from an empty
directory.
"""
from __future__ import annotations

import json
import os
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import REPO

from nasbench_store import __version__
from nasbench_store.registry import BENCHMARKS
from nasbench_store.workflow_files import MARKERS, SHARE

# What the workflow needs at run time, relative to the repository root.
WORKFLOW = ("Snakefile", "config.yaml", "rules", "scripts", "schemas", "envs", "profiles", "demo/config.yaml",
            "report")
SKIP = ("__pycache__", ".pyc")


def workflow_files() -> set[str]:
    files = set()
    for entry in WORKFLOW:
        path = REPO / entry
        found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files |= {p.relative_to(REPO).as_posix() for p in found if not any(s in p.as_posix() for s in SKIP)}
    return files


def test_pyproject_ships_every_workflow_file():
    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    shipped = {}
    for dest, patterns in data_files.items():
        assert dest == "/".join(SHARE) or dest.startswith("/".join(SHARE) + "/"), dest
        for pattern in patterns:
            for path in REPO.glob(pattern):
                shipped[path.relative_to(REPO).as_posix()] = f"{dest}/{path.name}"
    assert set(shipped) == workflow_files()
    for rel, dest in shipped.items():
        assert dest == "/".join(SHARE) + "/" + rel, "each file keeps its place relative to the Snakefile"
    assert set(MARKERS) <= set(shipped)


@pytest.mark.slow
def test_wheel_installs_and_builds_without_a_checkout(tmp_path, installed_wheel):
    wheel, env = installed_wheel
    prefix = f"nasbench_store-{__version__}.data/data/{'/'.join(SHARE)}/"
    names = zipfile.ZipFile(wheel).namelist()
    assert {n[len(prefix):] for n in names if n.startswith(prefix)} == workflow_files()
    share = env.joinpath(*SHARE)
    installed = sorted(p for p in share.rglob("*"))
    wd = tmp_path / "wd"
    wd.mkdir()
    run_env = {k: v for k, v in os.environ.items() if k not in ("NASBENCHMARK_DIR", "PYTHONPATH", "SNAKEMAKE_PROFILE")}
    run_env.update(PATH=f"{env / 'bin'}{os.pathsep}{os.environ['PATH']}", XDG_CACHE_HOME=str(tmp_path / "cache"))

    def run(*args, check=True):
        proc = subprocess.run(args, cwd=wd, env=run_env, capture_output=True, text=True, timeout=900)
        assert not check or proc.returncode == 0, f"{args}: {proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        return proc

    assert run("nasbench-store", "--version").stdout == f"nasbench-store {__version__}\n"
    where = run("python", "-c", "import nasbench_store; from nasbench_store.workflow_files import workflow_root; "
                                "print(nasbench_store.__file__); print(workflow_root())").stdout.split("\n")
    assert Path(where[0]).is_relative_to(env) and Path(where[1]) == share

    demo = run("nasbench-store", "demo")
    snakefile = f"--snakefile {share / 'Snakefile'} --directory {wd} --cores 2"
    assert f"-m snakemake {snakefile} --configfile {share / 'demo' / 'config.yaml'}\n" in demo.stderr
    for name in BENCHMARKS:
        assert f"\n{BENCHMARKS[name].query}(" in demo.stdout  # the sample query of each benchmark
    assert f"The demo stores are in {wd / 'demo' / 'store'}" in demo.stdout
    assert run("nasbench-store", "verify", "--store-dir", "demo/store").stdout.startswith("OK ")
    status = json.loads(run("nasbench-store", "status", "--store-dir", "demo/store", "--json").stdout)
    assert status["ok"] and [b["state"] for b in status["stores"][0]["benchmarks"]] == ["ok"] * len(BENCHMARKS)

    (wd / "mine.yaml").write_text(yaml.safe_dump({
        "store_dir": "built", "benchmarks": ["nasbench101"], "nasbench101": {"shards": 2},
        "sources": {"nasbench101": {"path": "demo/raw/nasbench_full.tfrecord"}}}))
    build = run("nasbench-store", "build", "nasbench101", "--profile", "local", "--configfile", "mine.yaml")
    assert f"--profile {share / 'profiles' / 'local'}" in build.stderr
    status = json.loads(run("nasbench-store", "status", "--configfile", "mine.yaml", "--json", "--full").stdout)
    assert status["ok"] and status["stores"][0]["store_dir"] == str(wd / "built")
    built = json.loads((wd / "built" / "manifest.json").read_text())["benchmarks"]["nasbench101"]["files"]
    demo_files = json.loads((wd / "demo" / "store" / "manifest.json").read_text())["benchmarks"]["nasbench101"]
    assert built == demo_files["files"], "the same raw file gives the same store, whatever the shard count"
    query = run("nasbench-store", "query", "nasbench101", "--store-dir", "built", "--epochs", "108", "--limit", "1",
                "--format", "jsonl")
    assert json.loads(query.stdout)["config"]["num_epochs"] == 108

    assert sorted(p for p in share.rglob("*")) == installed, "running wrote into the installed workflow"
    assert (wd / ".snakemake").is_dir() and not (REPO / "built").exists()
