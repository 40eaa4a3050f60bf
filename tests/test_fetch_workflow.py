"""The real Snakemake workflow fetching NB101's raw file from a local server, then converting it."""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from httpfaults import Drop, FaultServer

pytestmark = pytest.mark.slow
LOCAL_ONLY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def nb101_config(url: str, sha256: str) -> dict:
    return {"benchmarks": ["nasbench101"], "sources": {"nasbench101": {"url": url, "sha256": sha256}},
            "nasbench101": {"shards": 2}}


def test_build_downloads_resumes_verifies_and_converts(workflow, nb101_raw):
    body = nb101_raw.read_bytes()
    with FaultServer() as server:
        url = server.serve("/nasbench/nasbench_full.tfrecord", body, faults=[Drop(len(body) // 2)])
        wf = workflow(**nb101_config(url, hashlib.sha256(body).hexdigest()))
        run = wf.run("nasbench101", env=LOCAL_ONLY).check()
        ranges = [s.range for s in server.requests_for("/nasbench/nasbench_full.tfrecord")]
    assert "download_nasbench101" in run.output
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")
    raw_dir = Path(wf.config["raw_dir"])
    assert sorted(p.name for p in raw_dir.iterdir()) == ["nasbench_full.tfrecord"]
    assert (raw_dir / "nasbench_full.tfrecord").read_bytes() == body
    with sqlite3.connect(wf.store / "nasbench101.db") as db:
        assert db.execute("select count(*) from nb101trialconfig").fetchone()[0] > 0
    wf.run("verify", env=LOCAL_ONLY).check()


def test_wrong_sha256_fails_with_the_message_and_publishes_nothing(workflow, nb101_raw):
    body = nb101_raw.read_bytes()
    wrong = "0" * 64
    with FaultServer() as server:
        wf = workflow(**nb101_config(server.serve("/nasbench/nasbench_full.tfrecord", body), wrong))
        run = wf.run("nasbench101", env=LOCAL_ONLY)
    assert run.returncode != 0
    actual = hashlib.sha256(body).hexdigest()
    assert "nasbench_full.tfrecord from http://127.0.0.1:" in run.output
    assert f"has sha256 {actual}, but the config expects {wrong}" in run.output
    assert "sources.nasbench101.sha256" in run.output
    raw_dir = Path(wf.config["raw_dir"])
    assert not (raw_dir / "nasbench_full.tfrecord").exists()
    assert (raw_dir / "nasbench_full.tfrecord.bad").read_bytes() == body
    assert not (wf.store / "nasbench101.db").exists()


def test_another_builds_failed_download_never_takes_the_raw_file_away(workflow, nb101_raw, tmp_path):
    """Each build links the shared download into its own work_dir, so Snakemake's cleanup of a failed or
    rerun download job (it deletes the job's outputs) touches only that build's link."""
    body = nb101_raw.read_bytes()
    shared = tmp_path / "shared-raw"
    with FaultServer() as server:
        url = server.serve("/nasbench/nasbench_full.tfrecord", body)
        a = workflow("a", **nb101_config(url, hashlib.sha256(body).hexdigest()), raw_dir=str(shared))
        a.run("nasbench101", env=LOCAL_ONLY).check()
        # another build expects other bytes under the same name: its download fails
        b = workflow("b", **nb101_config(url, "0" * 64), raw_dir=str(shared))
        assert b.run("nasbench101", env=LOCAL_ONLY).returncode != 0
    link = Path(a.config["work_dir"]) / "raw" / "nasbench_full.tfrecord"
    assert link.read_bytes() == body  # this build's hard link keeps the bytes it verified
    assert "Nothing to be done" in a.run("nasbench101", env=LOCAL_ONLY).check().output
    a.run("verify", env=LOCAL_ONLY).check()
