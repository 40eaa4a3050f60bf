"""Config mistakes read well: one short line per problem with the key path and, for a misspelt key
or value, the closest valid one (never Snakemake's dump of the schema); `snakemake --directory DIR`
still reads the workflow's own config.yaml."""
from __future__ import annotations

import copy
import re
import subprocess

import pytest
import yaml
from helpers import REPO, SNAKEMAKE

from nasbench_store.errors import ConfigError
from nasbench_store.workflow import validate_config

SCHEMA = REPO / "schemas" / "config.schema.yaml"
GOOD = {"benchmarks": ["nasbench101"], "sources": {"nasbench101": {"path": "/data/nasbench_full.tfrecord"}}}


def problems(**changes) -> list[str]:
    config = copy.deepcopy(GOOD)
    for key, value in changes.items():
        config[key] = value
    with pytest.raises(ConfigError) as e:
        validate_config(config, SCHEMA)
    return str(e.value).splitlines()


def test_the_shipped_configs_are_valid():
    for name in ("config.yaml", "demo/config.yaml"):
        validate_config(yaml.safe_load((REPO / name).read_text()), SCHEMA)


@pytest.mark.parametrize("changes, line", [
    ({"sourcs": {}}, "config: unknown key 'sourcs' at top level; did you mean 'sources'?"),
    ({"store_dirr": "x"}, "config: unknown key 'store_dirr' at top level; did you mean 'store_dir'?"),
    ({"nasbench101": {"shard": 2}}, "config: unknown key 'shard' in nasbench101; did you mean 'shards'?"),
    ({"sources": {"nasbench101": {"pth": "/x"}}},
     "config: unknown key 'pth' in sources.nasbench101; did you mean 'path'?"),
    ({"sources": {"nasbench10": {"url": "https://x"}}},
     "config: unknown key 'nasbench10' in sources; did you mean 'nasbench101'?"),
    ({"benchmarks": ["nasbench102"]},
     "config: benchmarks[0]: 'nasbench102' is not one of nasbench101, nasbench201, nds; did you mean 'nasbench101'?"),
    ({"download": {"zzz": 1}}, "config: unknown key 'zzz' in download; valid: max_parallel, lock_file,"),
    ({"nasbench101": {"shards": 0}}, "config: nasbench101.shards: 0 is less than the minimum of 1"),
    ({"sources": {"nasbench101": {"filename": "x"}}}, "config: sources.nasbench101 needs one of path, url, gdrive_id"),
    ({"sources": {"nasbench101": {"url": "https://x", "sha256": "ABC"}}},
     "config: sources.nasbench101.sha256: 'ABC' does not match '^[0-9a-f]{64}$' (64 lower-case hex digits)"),
])
def test_one_short_line_naming_the_key(changes, line):
    lines = problems(**changes)
    assert len(lines) == 1 and lines[0].startswith(line), lines


def test_a_misspelt_key_is_the_problem_not_the_missing_one_it_stands_for():
    assert problems(sources={"nasbench101": {"urll": "https://x"}}) == [
        "config: unknown key 'urll' in sources.nasbench101; did you mean 'url'?"]


def test_every_problem_once_in_key_order():
    lines = problems(sourcs={}, nasbench101={"shards": 0, "shard": 1})
    assert lines == ["config: unknown key 'sourcs' at top level; did you mean 'sources'?",
                     "config: unknown key 'shard' in nasbench101; did you mean 'shards'?",
                     "config: nasbench101.shards: 0 is less than the minimum of 1 "
                     "(byte-range shards of the TFRecord converted in parallel)"]


def test_defaults_in_the_schema_are_filled_in_like_snakemakes_validate(tmp_path):
    schema = tmp_path / "schema.yaml"
    schema.write_text(yaml.safe_dump({"type": "object", "properties": {
        "jobs": {"type": "integer", "default": 4},
        "nested": {"type": "object", "default": {}, "properties": {"x": {"type": "string", "default": "y"}}}}}))
    config = {}
    validate_config(config, schema)
    assert config == {"jobs": 4, "nested": {"x": "y"}}


@pytest.mark.slow
def test_snakemake_prints_the_short_message_not_the_schema(workflow, nb101_raw):
    wf = workflow(benchmarks=["nasbench101"], sources={"nasbench101": {"path": str(nb101_raw)}}, sourcs={})
    out = wf.run("-n", timeout=120)
    assert out.returncode != 0
    assert "config: unknown key 'sourcs' at top level; did you mean 'sources'?" in out.output, out.output[-3000:]
    assert "Failed validating" not in out.output and "$schema" not in out.output and "properties" not in out.output


@pytest.mark.slow
def test_directory_option_still_reads_the_workflows_config_yaml(tmp_path, nb101_raw):
    """`--directory` an empty directory, and an extra config file that sets neither `benchmarks` nor
    the other sources: they come from the repository's config.yaml, merged under the extra file.
    (Run without the helper: this is about how Snakemake is called.)"""
    extra = tmp_path / "mine.yaml"
    extra.write_text(yaml.safe_dump({"store_dir": str(tmp_path / "store"), "raw_dir": str(tmp_path / "raw"),
                                     "work_dir": str(tmp_path / "work"),
                                     "sources": {"nasbench101": {"path": str(nb101_raw)}}}))
    (tmp_path / "empty-wd").mkdir()
    proc = subprocess.run([*SNAKEMAKE, "-n", "--cores", "1", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(tmp_path / "empty-wd"), "--configfile", str(extra)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    assert shipped["benchmarks"] == ["nasbench101", "nasbench201", "nds"]
    # all three benchmarks from config.yaml: the two without a local path are downloaded from its sources
    assert "rule download_nasbench201:" in out and "rule download_nds:" in out, out[-3000:]
    assert re.search(r"rule raw_digest:.*\n.*input: " + re.escape(str(nb101_raw)), out), out[-3000:]
    assert not any((tmp_path / "empty-wd").glob("*.yaml"))


def test_readme_says_targets_go_before_configfile():
    readme = (REPO / "README.md").read_text()
    assert re.search(r"[Tt]argets go before `--configfile`", readme)
