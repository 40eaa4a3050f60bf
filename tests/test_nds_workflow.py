"""The real Snakemake workflow on NDS fixture archives: build, verify, query, determinism, refusals."""
import json
import re
import subprocess
import zipfile

import pytest
from helpers import store_bytes

from nasbench_store.nds import query_nds_trial_stats
from nasbench_store.nds.constants import LARGE_SWEEPS, SWEEP_FILES, sweep_priority
from nasbench_store.nds.synthetic import write_nds_zip

pytestmark = pytest.mark.slow
TABLES = {"ndstrialconfig": 116, "ndstrialstats": 136, "ndsintermediatestats": 408}


def nds_config(raw):
    # rules/nasbench101.smk reads nasbench101.shards and sources.nasbench101 at parse time even
    # when only NDS is built (reported to the lead); give it values it never uses.
    return {"benchmarks": ["nds"], "sources": {"nds": {"path": str(raw)}, "nasbench101": {"path": str(raw)}},
            "nasbench101": {"shards": 1}}


@pytest.fixture(scope="module")
def nds_raw(tmp_path_factory):
    return write_nds_zip(tmp_path_factory.mktemp("nds") / "data.zip", records_per_file=4, max_ep=3, seed=3)


def test_build_verify_query_and_same_bytes_with_one_core(workflow, nds_raw, monkeypatch):
    wf = workflow(**nds_config(nds_raw))
    out = wf.run().check()
    assert out.output.count("rule nds_part:") == len(SWEEP_FILES)
    assert sorted(store_bytes(wf.store)) == ["SHA256SUMS", "manifest.json", "nds.db",
                                             "nds/ndsintermediatestats.parquet", "nds/ndstrialconfig.parquet",
                                             "nds/ndstrialstats.parquet"]
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=wf.store, capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    entry = json.loads((wf.store / "manifest.json").read_text())["benchmarks"]["nds"]
    assert entry["raw"]["file"] == "data.zip"
    assert entry["tables"]["nds.db"] == TABLES
    wf.run("verify").check()
    assert "Nothing to be done" in wf.run().check().output

    monkeypatch.setenv("NASBENCHMARK_DIR", str(wf.store))
    rows = list(query_nds_trial_stats(None, "vanilla", None, None, None, "cifar10", reduction="mean"))
    assert rows and all(r["config"]["model_family"] == "vanilla" for r in rows)

    one_core = workflow("one-core", **nds_config(nds_raw))
    started = re.findall(r"wildcards: sweep=(\S+)", one_core.run(cores=1).check().output)
    assert store_bytes(one_core.store) == store_bytes(wf.store)
    # one core runs the parts one at a time in the scheduler's order: the large sweep files first
    # (they take five times the others), the ~100-record `_in` files last
    assert sorted(started) == sorted(SWEEP_FILES) and set(started[:2]) == set(LARGE_SWEEPS)
    assert [sweep_priority(s) for s in started] == sorted(map(sweep_priority, started), reverse=True)


def test_bad_record_fails_naming_file_and_record_and_publishes_nothing(workflow, tmp_path):
    raw = tmp_path / "data.zip"
    with zipfile.ZipFile(write_nds_zip(tmp_path / "good.zip", records_per_file=2, max_ep=3)) as good, \
            zipfile.ZipFile(raw, "w") as bad:
        for info in good.infolist():
            data = good.read(info)
            if info.filename == "nds_data/PNAS_fix-w-d.json":
                records = json.loads(data)
                records[1]["train_ep_top1"].append(1.0)
                data = json.dumps(records).encode()
            bad.writestr(info, data)
    wf = workflow(**nds_config(raw))
    out = wf.run()
    assert out.returncode != 0
    assert "data.zip!nds_data/PNAS_fix-w-d.json at byte offset" in out.output
    assert "record 1: train_ep_top1 has 4 values but optim.max_ep is 3" in out.output
    assert not (wf.store / "nds.db").exists() and not (wf.store / "manifest.json").exists()


@pytest.mark.parametrize("member, message", [
    ("nds_data/../../escape.json", "refusing member 'nds_data/../../escape.json': '..' in the path"),
    (None, "sweep files missing from the archive: Vanilla_rng3.json"),
])
def test_bad_archive_is_refused_before_any_conversion(workflow, tmp_path, member, message):
    raw = tmp_path / "data.zip"
    with zipfile.ZipFile(write_nds_zip(tmp_path / "good.zip", records_per_file=1, max_ep=2)) as good, \
            zipfile.ZipFile(raw, "w") as bad:
        for info in good.infolist():
            if member or info.filename != "nds_data/Vanilla_rng3.json":
                bad.writestr(info, good.read(info))
        if member:
            bad.writestr(member, b"[]")
    wf = workflow(**nds_config(raw))
    out = wf.run()
    assert out.returncode != 0 and message in out.output, out.output[-3000:]
    assert "rule nds_part:" not in out.output
    assert not (wf.store.parent / "work" / "nds" / "parts").exists()
    assert not (wf.store / "manifest.json").exists()
