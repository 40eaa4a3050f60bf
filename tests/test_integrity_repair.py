"""A damaged store is never re-blessed, and `nasbench-store repair` restores the original bytes."""
from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys

import pytest
from helpers import REPO

pytestmark = pytest.mark.slow


def digests(store):
    return {rel: hashlib.sha256((store / rel).read_bytes()).hexdigest()
            for rel in json.loads((store / "manifest.json").read_text())["benchmarks"]["nasbench101"]["files"]}


def flip_in_place(path, offset=None):
    """Change one byte of the file itself (both names of a hard link see it), as a tool writing into it would."""
    path.chmod(0o644)
    with open(path, "r+b") as fh:
        size = fh.seek(0, 2)
        fh.seek(size // 2 if offset is None else offset)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))


def cli_verify(wf):
    return subprocess.run([sys.executable, "-m", "nasbench_store.cli", "verify", "--store-dir", str(wf.store)],
                          capture_output=True, text=True)


def repair(wf):
    cmd = [sys.executable, "-m", "nasbench_store.cli", "repair", "nasbench101", "--cores", "2",
           "--directory", str(wf.workdir), "--replace-workflow-config", "--configfile", str(wf.write_config())]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def built(workflow, nb101_raw):
    wf = workflow(benchmarks=["nasbench101"], sources={"nasbench101": {"path": str(nb101_raw)}},
                  nasbench101={"shards": 2})
    wf.run().check()
    return wf, digests(wf.store)


def test_published_files_are_read_only(built):
    wf, _ = built
    for rel in ("nasbench101.db", "nasbench101/nb101trialstats.parquet", "manifest.json", "SHA256SUMS"):
        assert stat.S_IMODE((wf.store / rel).stat().st_mode) == 0o444, rel


# The .db's newer mtime makes Snakemake rerun publish, which refuses; the Parquet directory's
# timestamp does not change, so Snakemake does nothing. Either way nothing damaged is re-blessed.
@pytest.mark.parametrize("rel, refused", [("nasbench101.db", True), ("nasbench101/nb101trialstats.parquet", False)])
def test_damage_through_the_store_is_never_republished_and_is_repaired(built, rel, refused):
    wf, before = built
    flip_in_place(wf.store / rel)
    rebuild = wf.run()
    if refused:
        assert rebuild.returncode != 0, "a rebuild republished a damaged file"
        assert "refusing to publish built files that changed after the job that made them" in rebuild.output
        assert "nasbench-store repair nasbench101" in rebuild.output
        assert "refusing to publish" in wf.run("verify").output  # the workflow's verify publishes first
    else:
        assert "Nothing to be done" in rebuild.check().output
    assert json.loads((wf.store / "manifest.json").read_text())["benchmarks"]["nasbench101"]["files"][rel][
        "sha256"] == before[rel], "the manifest took the damaged file's digest"
    failed = cli_verify(wf)
    assert failed.returncode != 0 and f"{rel} does not match its sha256" in failed.stdout
    assert "repair: nasbench-store repair nasbench101" in failed.stdout
    code, out = repair(wf)
    assert code == 0, out[-4000:]
    assert digests(wf.store) == before
    wf.run("verify").check()


def test_damaged_build_copy_is_refused_and_repaired(built):
    wf, before = built
    built_db = wf.workdir.parent / "work" / "nasbench101" / "nasbench101.db"
    copy = bytearray(built_db.read_bytes())  # a separate inode: the store's file stays intact
    copy[len(copy) // 3] ^= 0x01
    built_db.unlink()
    built_db.write_bytes(bytes(copy))
    rebuild = wf.run()
    assert rebuild.returncode != 0 and f"{built_db} (recorded sha256" in rebuild.output
    assert digests(wf.store) == before
    code, out = repair(wf)
    assert code == 0, out[-4000:]
    assert digests(wf.store) == before


def test_deleted_store_files_are_restored_by_the_next_build_or_by_repair(built):
    wf, before = built
    (wf.store / "nasbench101" / "nb101trialconfig.parquet").unlink()
    assert "repair: nasbench-store repair nasbench101" in cli_verify(wf).stdout
    code, out = repair(wf)
    assert code == 0, out[-4000:]
    assert digests(wf.store) == before
    for name in ("SHA256SUMS", "manifest.json"):
        sums = (wf.store / "SHA256SUMS").read_bytes()
        (wf.store / name).unlink()
        out = wf.run().check().output
        assert "publish" in out and "nb101_shard" not in out, out[-3000:]
        assert (wf.store / "SHA256SUMS").read_bytes() == sums
        wf.run("verify").check()
    assert digests(wf.store) == before


def test_tables_that_break_the_invariants_are_never_published(tmp_path, nb101_store):
    """The benchmark's checks run before publishing: an out-of-range value stops the publish."""
    import shutil
    import sqlite3

    from nasbench_store.errors import DamagedStoreError
    from nasbench_store.manifest import publish
    from nasbench_store.registry import get

    entry = get("nasbench101")
    built = tmp_path / "built"
    shutil.copytree(nb101_store / "nasbench101", built / "parquet")
    shutil.copy(nb101_store / "nasbench101.db", built / "nasbench101.db")
    for path in built.rglob("*"):
        path.chmod(0o644)
    with sqlite3.connect(built / "nasbench101.db") as conn:
        conn.execute("UPDATE nb101trialstats SET valid_acc = 150 WHERE id = 7")
    files = {"nasbench101.db": built / "nasbench101.db",
             **{entry.parquet_file(t): built / "parquet" / f"{t}.parquet" for t in entry.tables}}
    store = tmp_path / "store"
    with pytest.raises(DamagedStoreError, match=r"refusing to publish tables that break the benchmark's invariants: "
                                             r"1 rows violate: trial accuracies in \[0, 100\]"):
        publish(store, "nasbench101", files, {"file": "x", "size": 0, "sha256": "0" * 64},
                check=lambda: entry.check(built / "nasbench101.db", built / "parquet"))
    assert not (store / "nasbench101.db").exists() and not (store / "manifest.json").exists()
