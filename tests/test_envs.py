"""The rules' conda environment (envs/nasbench-store.yaml, used with --use-conda).

It lists the same packages, with the same lower bounds, as pyproject, and nothing else: no copy of
this project. `--use-conda` runs a rule's script as `python <script>` with the environment's Python;
the script finds `nasbench_store` through the search path Snakemake's `script:` preamble appends to
sys.path (the sys.path of the Snakemake process that runs the workflow), so a checkout and an
installed copy each run their own code, and the env file is the same in both.

conda is not installed here and its packages come from conda channels, so the slow tests stand in
for the environment a venv that has the dependencies but not this package, and run in it the very
script file Snakemake generated for a real job of the workflow (kept by --skip-script-cleanup), as
`--use-conda` would. What they do not test: that conda resolves and creates the environment.
"""
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from helpers.wheel import fresh_venv

from nasbench_store import __version__
from nasbench_store.workflow_files import SHARE

ENV_FILE = REPO / "envs" / "nasbench-store.yaml"
CONDA_NAMES = {"snakemake": "snakemake-minimal"}
# One cheap job of the demo workflow, and the script Snakemake runs for it.
JOB_OUTPUT, JOB_SCRIPT = "demo/raw/nasbench_full.tfrecord", "nb101_demo_raw.py"


def env_dependencies() -> list:
    return yaml.safe_load(ENV_FILE.read_text())["dependencies"]


def test_conda_env_matches_pyproject_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {}
    for dep in project["dependencies"]:
        name, bound = re.fullmatch(r"([A-Za-z0-9_.-]+)>=(\S+)", dep).groups()
        wanted[CONDA_NAMES.get(name, name)] = bound
    listed = {}
    for dep in env_dependencies():
        if isinstance(dep, str) and ">=" in dep and not dep.startswith("python "):
            name, bound = dep.split(" >=")
            listed[name] = bound
    assert listed == wanted
    python = re.fullmatch(r">=(\S+)", project["requires-python"]).group(1)
    assert f"python >={python}" in env_dependencies()


def test_conda_env_holds_packages_only_not_the_project():
    """No `pip:` section, path, URL or editable install: nothing that depends on where the workflow is."""
    for dep in env_dependencies():
        assert isinstance(dep, str), f"{dep!r}: the env installs conda packages only (no pip section)"
        assert re.fullmatch(r"[a-z0-9_.-]+ >=[0-9.]+", dep), f"{dep!r}: a package name and a lower bound"
    channels = yaml.safe_load(ENV_FILE.read_text())["channels"]
    assert channels[:2] == ["conda-forge", "bioconda"], "snakemake-minimal is on bioconda, the rest on conda-forge"


def test_every_rule_that_runs_package_code_declares_the_env():
    for smk in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        text = smk.read_text()
        scripts = len(re.findall(r"\n +script:\n", text))
        envs = re.findall(r'\n +conda:\n +"([^"]+)"\n', text)
        assert len(envs) == scripts, f"{smk.name}: {scripts} script rules, {len(envs)} declare the conda env"
        for env in envs:  # Snakemake reads a relative path from the directory of the file that declares it
            assert (smk.parent / env).resolve() == ENV_FILE, f"{smk.name}: conda: {env}"


# --- a job's script in an environment without this package -----------------------------------------

def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NASBENCHMARK_DIR", "PYTHONPATH", "SNAKEMAKE_PROFILE")}
    return {**env, **extra}


def run(*args, cwd, env):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{args}: {proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def rule_env(tmp_path: Path) -> Path:
    """The stand-in for the conda env: a Python with the dependencies and without nasbench_store."""
    python = fresh_venv(tmp_path / "rule-env", tmp_path / "rule-env-deps") / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import pyarrow, peewee, snakemake, yaml; import nasbench_store"],
                           cwd=tmp_path, env=clean_env(), capture_output=True, text=True)
    assert "No module named 'nasbench_store'" in probe.stderr, probe.stderr
    return python


def package_used_by_job(wd: Path, python: Path, env: dict) -> Path:
    """Run the script Snakemake generated for the job (its preamble, then scripts/nb101_demo_raw.py) with
    `python`, as --use-conda runs it, and return the nasbench_store it imported."""
    [script] = (wd / ".snakemake" / "scripts").glob(f"*.{JOB_SCRIPT}")
    (wd / JOB_OUTPUT).unlink()
    probe = script.with_name(f"probe.{JOB_SCRIPT}")
    probe.write_text(script.read_text() + '\nprint("nasbench_store:", sys.modules["nasbench_store"].__file__)\n')
    out = run(str(python), str(probe), cwd=wd, env=env).stdout
    assert (wd / JOB_OUTPUT).stat().st_size > 0
    return Path(re.search(r"^nasbench_store: (.+)$", out, re.M).group(1)).parent


@pytest.mark.slow
def test_job_in_the_env_runs_the_checkouts_package(tmp_path):
    wd = tmp_path / "wd"
    wd.mkdir()
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    run(sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--configfile",
        str(REPO / "demo" / "config.yaml"), "--cores", "1", "--skip-script-cleanup", JOB_OUTPUT, cwd=wd, env=env)
    assert package_used_by_job(wd, rule_env(tmp_path), env) == REPO / "src" / "nasbench_store"


@pytest.mark.slow
def test_job_in_the_env_runs_the_installed_package(tmp_path, installed_wheel):
    """From a wheel installed outside the repository: `nasbench-store build` runs the installed workflow, and
    its job, in an environment without the package, imports the installed package (not the checkout's)."""
    wheel, host = installed_wheel
    shipped = f"nasbench_store-{__version__}.data/data/{'/'.join(SHARE)}/envs/nasbench-store.yaml"
    assert zipfile.ZipFile(wheel).read(shipped) == ENV_FILE.read_bytes()
    share = host.joinpath(*SHARE)
    wd = tmp_path / "wd"
    wd.mkdir()
    env = clean_env(PATH=f"{host / 'bin'}{os.pathsep}{os.environ['PATH']}", XDG_CACHE_HOME=str(tmp_path / "cache"))
    run("nasbench-store", "build", JOB_OUTPUT, "--configfile", str(share / "demo" / "config.yaml"), "--cores", "1",
        "--skip-script-cleanup", cwd=wd, env=env)
    used = package_used_by_job(wd, rule_env(tmp_path), env)
    assert used.is_relative_to(host) and used.name == "nasbench_store" and not used.is_relative_to(REPO)
