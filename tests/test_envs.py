"""The conda environment of the rules lists the same packages, with the same lower bounds, as pyproject."""
import re
import tomllib

import yaml
from helpers import REPO

CONDA_NAMES = {"snakemake": "snakemake-minimal"}


def test_conda_env_matches_pyproject_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {}
    for dep in project["dependencies"]:
        name, bound = re.fullmatch(r"([A-Za-z0-9_.-]+)>=(\S+)", dep).groups()
        wanted[CONDA_NAMES.get(name, name)] = bound
    env = yaml.safe_load((REPO / "envs" / "nasbench-store.yaml").read_text())
    listed = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and ">=" in dep and not dep.startswith("python "):
            name, bound = dep.split(" >=")
            listed[name] = bound
    assert listed == wanted


def test_every_rule_that_runs_package_code_declares_the_env():
    for smk in sorted((REPO / "rules").glob("*.smk")):
        text = smk.read_text()
        scripts = len(re.findall(r"\n +script:\n", text))
        envs = len(re.findall(r'\n +conda:\n +"../envs/nasbench-store.yaml"\n', text))
        assert envs == scripts, f"{smk.name}: {scripts} script rules, {envs} declare the conda env"
