"""The command line as a whole: --version, help, exit codes; `build` (Snakemake's options passed on), and
the commands `demo` and `repair` run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from helpers.cli import run_cli

from nasbench_store import __version__, cli
from nasbench_store.registry import BENCHMARKS
from nasbench_store.workflow_files import load_config, workflow_root

COMMANDS = ("status", "query", "build", "demo", "verify", "repair")


def test_version(capsys):
    r = run_cli(capsys, "--version")
    assert (r.code, r.out) == (0, f"nasbench-store {__version__}\n")


def test_help_lists_every_command_and_each_explains_itself(capsys):
    r = run_cli(capsys, "--help")
    assert r.code == 0 and r.out.startswith("usage: nasbench-store [-h] [--version] COMMAND ...")
    for command in COMMANDS:
        assert f"\n    {command} " in r.out
    assert "Exit status: 0 ok, 1 failure (the message says what to do), 2 usage error." in r.out
    for command in COMMANDS:
        r = run_cli(capsys, command, "--help")
        assert r.code == 0 and r.out.startswith(f"usage: nasbench-store {command} "), command
        assert len(r.out.split("\n\n")[1]) > 60, f"{command} --help has no description"
    build = run_cli(capsys, "build", "--help").out
    for name, bench in BENCHMARKS.items():
        assert f"  {name:<12} {bench.title} only" in build
    assert "--profile P" in build and "--cores N" in build and "snakemake --help" in build
    assert "--directory DIR" in run_cli(capsys, "demo", "--help").out
    assert "cannot see" not in run_cli(capsys, "status", "--help").out  # said in words a newcomer reads:
    assert "not a change that keeps size and mtime" in " ".join(run_cli(capsys, "status", "--help").out.split())


@pytest.mark.parametrize("args, message", [
    ([], "the following arguments are required: COMMAND"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["status", "--bogus"], "nasbench-store status: error: unrecognized arguments: --bogus"),
    (["verify", "--nope"], "nasbench-store verify: error: unrecognized arguments: --nope"),
    (["repair", "nosuch"], "argument BENCHMARK: invalid choice: 'nosuch'"),
    (["demo", "--cores", "x"], "argument --cores: invalid int value: 'x'"),
])
def test_usage_errors_exit_2(capsys, args, message):
    r = run_cli(capsys, *args)
    assert r.code == 2 and r.out == "" and message in r.err


def test_the_workflow_is_the_checkouts():
    assert workflow_root() == REPO
    config = load_config()
    assert config["benchmarks"] == list(BENCHMARKS)


def test_configfiles_merge_key_by_key_as_snakemake_does(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(yaml.safe_dump({"sources": {"nds": {"path": "x.zip"}}, "benchmarks": ["nds"]}))
    b.write_text(yaml.safe_dump({"sources": {"nds": {"path": "y.zip"}}, "store_dir": "s"}))
    config = load_config([a, b])
    assert config["sources"]["nds"] == {"url": "https://dl.fbaipublicfiles.com/nds/data.zip", "path": "y.zip"}
    assert config["benchmarks"] == ["nds"] and config["store_dir"] == "s"
    assert config["sources"]["nasbench101"]["sha256"]  # config.yaml's own keys stay


# --- build: what Snakemake gets ------------------------------------------------------------------

@pytest.mark.parametrize("argv, expected", [
    ([], ["--cores", "all"]),
    (["nasbench101", "--cores", "8"], ["nasbench101", "--cores", "8"]),
    (["-c4", "-n"], ["-c4", "-n"]),
    (["-j", "2", "all"], ["-j", "2", "all"]),
    # Snakemake would read a target after --configfile / --config as one more file / KEY=VALUE
    (["--configfile", "a.yaml", "nasbench101", "--cores=2"], ["nasbench101", "--configfile", "a.yaml", "--cores=2"]),
    (["--config", "store_dir=s", "verify", "nds", "-c", "1"], ["verify", "nds", "--config", "store_dir=s", "-c", "1"]),
    (["--profile", "local"], ["--profile", str(REPO / "profiles" / "local")]),
    (["--profile=profiles/slurm", "nds"], [f"--profile={REPO / 'profiles' / 'slurm'}", "nds"]),
    (["--profile", "/elsewhere/mine"], ["--profile", "/elsewhere/mine"]),
])
def test_snakemake_arguments(argv, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where no ./local or ./profiles exists
    assert cli.snakemake_args(argv, REPO, env={}) == expected


def test_a_profile_that_exists_as_given_wins_and_snakemake_profile_sets_the_cores(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local").mkdir()
    assert cli.snakemake_args(["--profile", "local"], REPO, env={}) == ["--profile", "local"]
    assert cli.snakemake_args(["nds"], REPO, env={"SNAKEMAKE_PROFILE": "x"}) == ["nds"]


def run_module(*args, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("NASBENCHMARK_DIR", "SNAKEMAKE_PROFILE")}
    return subprocess.run([sys.executable, "-m", "nasbench_store.cli", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.mark.slow
def test_build_runs_the_workflow_from_any_directory(tmp_path, nb101_raw):
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"store_dir": "store", "benchmarks": ["nasbench101"],
                                    "sources": {"nasbench101": {"path": str(nb101_raw)}}}))
    proc = run_module("build", "-n", "--configfile", "mine.yaml", "nasbench101", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (f"+ {sys.executable} -m snakemake --snakefile {REPO / 'Snakefile'} nasbench101 -n --configfile mine.yaml "
            f"--cores all\n") in proc.stderr
    assert "This was a dry-run" in proc.stdout + proc.stderr
    assert (tmp_path / ".snakemake").is_dir(), "Snakemake works in the current directory"
    bad = run_module("build", "--no-such-option", cwd=tmp_path)
    assert bad.returncode == 2 and "unrecognized arguments: --no-such-option" in bad.stderr
    mine.write_text(yaml.safe_dump({"benchmarks": ["nasbench101"], "sourcs": {}}))
    failed = run_module("build", "-n", "--configfile", "mine.yaml", cwd=tmp_path)
    assert failed.returncode == 1
    assert "unknown key 'sourcs' at top level; did you mean 'sources'?" in failed.stdout + failed.stderr


# --- demo and repair: the commands they run ------------------------------------------------------

@pytest.fixture
def commands(monkeypatch):
    ran = []
    monkeypatch.setattr(cli, "_run", lambda cmd: ran.append(cmd) or 0)
    return ran


def test_demo_works_in_the_directory_given(capsys, commands, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run_cli(capsys, "demo", "--directory", "somewhere", "--cores", "3")
    assert r.code == 0
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(tmp_path / "somewhere"), "--cores", "3"]
    config = ["--configfile", str(REPO / "demo" / "config.yaml")]
    assert commands == [[*base, *config], [*base, "verify", *config]]
    assert f"The demo stores are in {tmp_path / 'somewhere' / 'demo' / 'store'}" in r.out
    run_cli(capsys, "demo")
    assert commands[-1][commands[-1].index("--directory") + 1] == str(tmp_path)  # default: where it runs


def test_demo_failure_exits_1(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "_run", lambda cmd: 1)
    r = run_cli(capsys, "demo", "--directory", tmp_path)
    assert r.code == 1 and f"the demo build failed (see above); Snakemake's log is in {tmp_path}" in r.err


def test_repair_passes_snakemake_options_on(capsys, commands):
    r = run_cli(capsys, "repair", "nds", "--configfile", "mine.yaml", "--directory", "d")
    assert r.code == 0
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2"]
    assert commands == [[*base, "nds", "--forcerun", "tables_sqlite", "tables_parquet", "--configfile", "mine.yaml",
                         "--directory", "d"],
                        [*base, "verify", "--configfile", "mine.yaml", "--directory", "d"]]


def test_verify_on_a_missing_store_says_how_to_build_one(capsys, tmp_path):
    r = run_cli(capsys, "verify", "--store-dir", tmp_path)
    assert r.code == 1
    assert r.out == (f"FAIL {tmp_path / 'manifest.json'} is missing: this is not a built store\n"
                     f"build a store there: nasbench-store build --config store_dir={tmp_path}\n")


def test_verify_intact_store(capsys, nb101_store):
    r = run_cli(capsys, "verify", "--store-dir", nb101_store)
    assert (r.code, r.out) == (0, f"OK {nb101_store}: every file matches SHA256SUMS and every check passed\n")


def test_main_module_exit_status(tmp_path):
    assert run_module("verify", "--store-dir", str(tmp_path), cwd=tmp_path).returncode == 1
    assert run_module("--version", cwd=tmp_path).returncode == 0
    assert run_module("status", "--bogus", cwd=tmp_path).returncode == 2
    assert Path(tmp_path).is_dir()
