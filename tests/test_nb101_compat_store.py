"""Which store NASBench(dataset_file) reads: a store directory, its .db, None (the default store), or
the raw TFRecord a store was built from, found by the sha256 in the manifest and a digest cache."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from nasbench_store import compat
from nasbench_store.compat.nasbench import api
from nasbench_store.errors import StoreNotFoundError
from nasbench_store.nasbench101.synthetic import REFERENCE_HASH, canonical_cells, write_tfrecord

REF_MATRIX = [[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0],
              [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0] * 7]
REF_OPS = ["input", api.CONV3X3, api.MAXPOOL3X3, api.CONV3X3, api.CONV3X3, api.CONV1X1, "output"]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Own cache and default store directories for every test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NASBENCHMARK_DIR", str(tmp_path / "no-store-here"))


def answers(nb) -> bool:
    return nb.get_metrics_from_spec(api.ModelSpec(REF_MATRIX, REF_OPS))[0]["trainable_parameters"] > 0


def count_hashing(monkeypatch) -> list:
    calls = []
    real = compat.sha256_file

    def counting(path, *args, **kwargs):
        calls.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(compat, "sha256_file", counting)
    return calls


def test_store_directory_db_file_and_default(nb101_store, monkeypatch):
    db = nb101_store / "nasbench101.db"
    for given in (nb101_store, str(nb101_store), db, str(db)):
        nb = api.NASBench(given)
        assert nb.dataset_file == db and answers(nb)
    monkeypatch.setenv("NASBENCHMARK_DIR", str(nb101_store))
    nb = api.NASBench()
    assert nb.dataset_file == db and answers(nb)
    assert api.NASBench(None, seed=1).dataset_file == db


def test_a_db_under_another_name_is_read_as_sqlite(nb101_store, tmp_path):
    copy = tmp_path / "renamed.sqlite"
    shutil.copyfile(nb101_store / "nasbench101.db", copy)
    assert api.NASBench(copy).dataset_file == copy


def test_raw_tfrecord_finds_its_store_and_caches_the_digest(nb101_store, nb101_raw, monkeypatch, tmp_path):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(nb101_store))
    calls = count_hashing(monkeypatch)
    nb = api.NASBench(nb101_raw)
    assert nb.dataset_file == nb101_store / "nasbench101.db" and answers(nb)
    assert calls == [nb101_raw.absolute()]
    cache = tmp_path / "cache" / "nasbench-store-compat" / "raw-digests.json"
    entry = json.loads(cache.read_text())[str(nb101_raw.absolute())]
    manifest = json.loads((nb101_store / "manifest.json").read_text())
    assert entry["sha256"] == manifest["benchmarks"]["nasbench101"]["raw"]["sha256"]
    assert entry["size"] == nb101_raw.stat().st_size
    api.NASBench(str(nb101_raw))
    api.NASBench(nb101_raw)
    assert len(calls) == 1  # remembered: no second hashing of the same, unchanged file


def test_a_touched_raw_file_is_hashed_again(nb101_store, nb101_raw, monkeypatch, tmp_path):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(nb101_store))
    raw = tmp_path / "copy" / "nasbench_full.tfrecord"
    raw.parent.mkdir()
    shutil.copyfile(nb101_raw, raw)
    calls = count_hashing(monkeypatch)
    api.NASBench(raw)
    st = raw.stat()
    os.utime(raw, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    api.NASBench(raw)
    assert calls == [raw.absolute()] * 2


def test_a_changed_raw_file_is_refused_naming_the_build(nb101_store, nb101_raw, monkeypatch, tmp_path):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(nb101_store))
    raw = tmp_path / "data" / "nasbench_full.tfrecord"
    raw.parent.mkdir()
    data = bytearray(nb101_raw.read_bytes())
    data[100] ^= 1  # same size, other bytes: must be hashed, and must not match
    raw.write_bytes(bytes(data))
    with pytest.raises(StoreNotFoundError) as info:
        api.NASBench(raw)
    message = str(info.value)
    assert "snakemake --cores 2 nasbench101" in message and f"path: {raw}" in message
    assert "sha256 " in message and str(nb101_store) in message


def test_a_raw_file_of_another_size_is_refused_without_hashing(nb101_store, monkeypatch, tmp_path):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(nb101_store))
    raw = write_tfrecord(tmp_path / "small.tfrecord", canonical_cells(3))
    calls = count_hashing(monkeypatch)
    with pytest.raises(StoreNotFoundError, match="snakemake --cores 2 nasbench101"):
        api.NASBench(raw)
    assert calls == []


def test_store_next_to_the_raw_dir_is_found(nb101_store, nb101_raw, tmp_path):
    """A build's default raw_dir is <store_dir>/raw: a raw file there finds the store above it."""
    store = tmp_path / "built"
    shutil.copytree(nb101_store, store, ignore=shutil.ignore_patterns(".build", ".lock"))
    raw = store / "raw" / nb101_raw.name
    raw.parent.mkdir()
    shutil.copyfile(nb101_raw, raw)
    nb = api.NASBench(raw)
    assert nb.dataset_file == store / "nasbench101.db" and answers(nb)


def test_a_damaged_cache_is_ignored(nb101_store, nb101_raw, monkeypatch, tmp_path):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(nb101_store))
    cache = compat.digest_cache_path()
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    assert api.NASBench(nb101_raw).dataset_file == nb101_store / "nasbench101.db"
    assert str(nb101_raw.absolute()) in json.loads(cache.read_text())
    wrong = json.loads(cache.read_text())
    wrong[str(nb101_raw.absolute())]["sha256"] = "0" * 64
    wrong[str(nb101_raw.absolute())]["size"] += 1  # stale entry: key no longer matches, so it is not trusted
    cache.write_text(json.dumps(wrong))
    assert api.NASBench(nb101_raw).dataset_file == nb101_store / "nasbench101.db"


@pytest.mark.parametrize("what", ["missing", "empty dir", "default"])
def test_missing_stores_say_what_to_do(tmp_path, what):
    if what == "missing":
        given, pattern = tmp_path / "nope.tfrecord", "does not exist"
    elif what == "empty dir":
        (tmp_path / "empty").mkdir()
        given, pattern = tmp_path / "empty", "without nasbench101.db"
    else:
        given, pattern = None, r"snakemake --cores 2 nasbench101.*NASBENCHMARK_DIR"
    with pytest.raises(StoreNotFoundError, match=pattern):
        api.NASBench(given)
    with pytest.raises(FileNotFoundError):
        api.NASBench(given)


def test_fixture_hash_is_in_the_fixture_store(nb101_store):
    assert REFERENCE_HASH in api.NASBench(nb101_store).fixed_statistics


def test_a_sqlite_file_without_the_tables_is_refused(tmp_path):
    import sqlite3

    from nasbench_store.errors import DamagedStoreError

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE something (x)")
    conn.close()
    with pytest.raises(DamagedStoreError, match="nb101trialconfig is missing"):
        api.NASBench(other)
