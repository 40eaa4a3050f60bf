"""A config that passed validation is remembered (the workflow keeps the record under .snakemake/), so later
parses skip the jsonschema import; the record never lets a different config, schema or checker through,
and a config that fails is never remembered."""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import yaml
from helpers import REPO

from nasbench_store.errors import ConfigError
from nasbench_store.workflow import validate_config

SCHEMA = {"type": "object", "additionalProperties": False, "properties": {
    "jobs": {"type": "integer", "minimum": 1, "default": 4},
    "nested": {"type": "object", "default": {}, "properties": {"x": {"type": "string", "default": "y"}}}}}


@pytest.fixture
def schema(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(SCHEMA))
    return path


def test_a_remembered_config_is_filled_in_the_same_without_jsonschema(tmp_path, schema):
    cache = tmp_path / ".snakemake" / "validated.json"
    first = {"nested": {}}
    validate_config(first, schema, cache=cache)
    assert first == {"jobs": 4, "nested": {"x": "y"}} and cache.is_file()
    code = (f"import sys; from nasbench_store.workflow import validate_config\n"
            f"c = {{'nested': {{}}}}; validate_config(c, {str(schema)!r}, cache={str(cache)!r})\n"
            f"assert c == {first!r}, c\nassert 'jsonschema' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_changed_config_or_schema_is_checked_again(tmp_path, schema):
    cache = tmp_path / "validated.json"
    validate_config({"jobs": 2}, schema, cache=cache)
    with pytest.raises(ConfigError, match="less than the minimum"):
        validate_config({"jobs": 0}, schema, cache=cache)
    stricter = copy.deepcopy(SCHEMA)
    stricter["properties"]["jobs"]["minimum"] = 3
    schema.write_text(yaml.safe_dump(stricter))
    with pytest.raises(ConfigError, match="less than the minimum of 3"):
        validate_config({"jobs": 2}, schema, cache=cache)


def test_a_failing_config_is_never_remembered_and_a_bad_record_is_ignored(tmp_path, schema):
    cache = tmp_path / "validated.json"
    with pytest.raises(ConfigError):
        validate_config({"jobz": 1}, schema, cache=cache)
    assert not cache.exists()
    cache.write_text("not json")
    config = {}
    validate_config(config, schema, cache=cache)
    assert config == {"jobs": 4, "nested": {"x": "y"}}
    record = json.loads(cache.read_text())
    record["config"]["jobs"], record["key"] = 99, "0" * 64  # another config's record is not used
    cache.write_text(json.dumps(record))
    config = {}
    validate_config(config, schema, cache=cache)
    assert config["jobs"] == 4


def test_the_workflow_remembers_the_demo_config(tmp_path):
    """`snakemake -n` twice in one directory: the second parse reads the record the first wrote."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(REPO / "demo" / "config.yaml")]
    for _ in range(2):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / ".snakemake" / "nasbench-store" / "validated-config.json").read_text())
    assert record["config"]["benchmarks"] == ["nasbench101", "nasbench201", "nds"]
