"""The real Snakemake workflow on NB101 fixtures: incremental, deterministic, resumable, safe."""
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest
from helpers import store_bytes

from nasbench_store import tfrecord
from nasbench_store.nasbench101.synthetic import canonical_cells, write_tfrecord

pytestmark = pytest.mark.slow


def nb101_config(raw, shards=3, **extra):
    return {"benchmarks": ["nasbench101"], "sources": {"nasbench101": {"path": str(raw)}},
            "nasbench101": {"shards": shards}, **extra}


def test_build_then_nothing_to_do_then_verify(workflow, nb101_raw):
    wf = workflow(**nb101_config(nb101_raw))
    wf.run().check()
    store = wf.store
    assert sorted(store_bytes(store)) == ["SHA256SUMS", "manifest.json", "nasbench101.db",
                                          "nasbench101/nb101intermediatestats.parquet",
                                          "nasbench101/nb101trialconfig.parquet",
                                          "nasbench101/nb101trialstats.parquet"]
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=store, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    manifest = json.loads((store / "manifest.json").read_text())
    entry = manifest["benchmarks"]["nasbench101"]
    assert entry["raw"]["sha256"] and entry["raw"]["file"] == "nasbench_full.tfrecord"
    assert entry["tables"]["nasbench101.db"] == {"nb101trialconfig": 368, "nb101trialstats": 1104,
                                                 "nb101intermediatestats": 2208}
    again = wf.run().check()
    assert "Nothing to be done" in again.output
    assert "Nothing to be done" in wf.run("-n").check().output
    wf.run("verify").check()

    # a store file deleted by hand is republished from the built copy, nothing is reconverted
    before = store_bytes(store)
    (store / "nasbench101.db").unlink()
    out = wf.run().check()
    assert "publish" in out.output and "nb101_shard" not in out.output
    assert store_bytes(store) == before

    # a modified file is named by verify
    target = store / "nasbench101" / "nb101trialstats.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.unlink()  # break the hard link with the built copy, as an editor would
    target.write_bytes(bytes(data))
    out = wf.run("verify")
    assert out.returncode != 0
    assert "nb101trialstats.parquet does not match its sha256" in out.output


def test_outputs_are_byte_identical_whatever_cores_and_shards(workflow, nb101_raw):
    a = workflow("a", **nb101_config(nb101_raw, shards=1))
    b = workflow("b", **nb101_config(nb101_raw, shards=5))
    a.run(cores=1).check()
    b.run(cores=2).check()
    assert store_bytes(a.store) == store_bytes(b.store)


def test_corrupt_raw_file_fails_naming_file_and_offset_and_publishes_nothing(workflow, tmp_path, nb101_raw):
    raw = tmp_path / "nasbench_full.tfrecord"
    data = bytearray(nb101_raw.read_bytes())
    offsets = [o for o, _ in tfrecord.iter_records(nb101_raw)]
    data[offsets[500] + 40] ^= 0x01
    raw.write_bytes(bytes(data))
    wf = workflow(**nb101_config(raw))
    out = wf.run()
    assert out.returncode != 0
    assert f"{raw} at byte offset {offsets[500]}: CRC mismatch in the record payload" in out.output
    assert not (wf.store / "nasbench101.db").exists() and not (wf.store / "manifest.json").exists()


@pytest.mark.parametrize("config, message", [
    ({"benchmarks": ["nasbench102"]}, "nasbench102"),
    ({"benchmarks": ["nasbench101"], "sources": {}}, "sources.nasbench101 is missing"),
    ({"nasbench101": {"shards": 0}}, "0 is less than the minimum of 1"),
    ({"sources": {"nasbench101": {"path": "/nonexistent/nb.tfrecord"}}}, "sources.nasbench101.path"),
    ({"store_dirr": "x"}, "unknown key 'store_dirr' at top level; did you mean 'store_dir'?"),
])
def test_bad_config_fails_at_parse_time(workflow, nb101_raw, config, message):
    base = nb101_config(nb101_raw)
    base.update(config)
    out = workflow(**base).run("-n")
    assert out.returncode != 0 and message in out.output, out.output[-3000:]


def test_changed_source_rebuilds(workflow, tmp_path, nb101_raw):
    raw = tmp_path / "nasbench_full.tfrecord"
    raw.write_bytes(nb101_raw.read_bytes())
    wf = workflow(**nb101_config(raw))
    wf.run().check()
    before = store_bytes(wf.store)
    time.sleep(1.1)
    write_tfrecord(raw, canonical_cells(3))
    out = wf.run().check()
    assert "nb101_shard" in out.output and "publish" in out.output
    after = store_bytes(wf.store)
    assert after["nasbench101.db"] != before["nasbench101.db"]
    with sqlite3.connect(wf.store / "nasbench101.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM nb101trialconfig").fetchone()[0] == 7 * 4


def test_killed_build_resumes_to_identical_outputs(workflow, nb101_raw):
    clean = workflow("clean", **nb101_config(nb101_raw, shards=6))
    clean.run().check()
    wf = workflow("killed", **nb101_config(nb101_raw, shards=6))
    proc = subprocess.Popen(wf.command(cores=1), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    shards = wf.store.parent / "work" / "nasbench101" / "shards"
    deadline = time.time() + 120
    while time.time() < deadline and not list(shards.glob("*-of-6.parquet")):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (wf.store / "nasbench101.db").exists()
    wf.run("--unlock").check()
    wf.run("--rerun-incomplete").check()
    assert store_bytes(wf.store) == store_bytes(clean.store)
