"""A local `sources.<benchmark>.path` of the wrong kind fails when the workflow parses, naming the
key, the path and what the benchmark reads: a directory for a file, a file of the wrong kind, an
unreadable path, a FIFO or a device (refused from its mode, never opened, so nothing hangs)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from nasbench_store.errors import ConfigError
from nasbench_store.registry import BENCHMARKS
from nasbench_store.workflow import check_config


def config(benchmark: str, path, **extra) -> dict:
    return {"benchmarks": [benchmark], "sources": {benchmark: {"path": str(path)}}, **extra}


def refused(benchmark: str, path, *words: str) -> str:
    with pytest.raises(ConfigError) as e:
        check_config(config(benchmark, path))
    msg = str(e.value)
    assert f"sources.{benchmark}.path = {str(path)!r}" in msg, msg
    assert f"expected {BENCHMARKS[benchmark].raw.expected}" in msg, msg
    for word in words:
        assert word in msg, msg
    return msg


@pytest.mark.parametrize("benchmark", ["nasbench101", "nds"])
def test_a_directory_where_a_file_is_needed(tmp_path, benchmark):
    refused(benchmark, tmp_path, "is a directory")


def test_the_nats_directory_marker_is_the_readers():
    from nasbench_store.nasbench201.nats import META_NAME
    assert BENCHMARKS["nasbench201"].raw.directory_holds == META_NAME


def nats_dir(parent: Path) -> Path:
    tree = parent / "NATS-tss-v1_0-3ffb9-simple"
    tree.mkdir()
    (tree / BENCHMARKS["nasbench201"].raw.directory_holds).write_bytes(b"checked by the reader, not here")
    return tree


@pytest.mark.parametrize("name", ["NAS-Bench-201-v1_1-096897.pth", "NATS-tss-v1_0-3ffb9-simple.tar"])
def test_nb201_accepts_a_pth_a_tar_and_a_nats_directory(tmp_path, name):
    (tmp_path / name).write_bytes(b"checked by the reader, not here")
    check_config(config("nasbench201", tmp_path / name))
    check_config(config("nasbench201", nats_dir(tmp_path)))


def test_nb201_directory_that_is_not_nats_tss(tmp_path):
    (tmp_path / "NAS-Bench-201-v1_1-096897.pth").write_bytes(b"x")  # the folder that holds the .pth
    refused("nasbench201", tmp_path, "is a directory without meta.pickle.pbz2;")
    tree = nats_dir(tmp_path)  # the folder that holds the NATS directory
    msg = refused("nasbench201", tmp_path, "is a directory without meta.pickle.pbz2")
    assert f"(did you mean {str(tree)!r}?)" in msg


@pytest.mark.parametrize("name", ["NAS-Bench-201-v1_1-096897.json", "NATS-tss-v1_0-3ffb9-simple.tar.gz", "nb201"])
def test_nb201_file_of_another_kind_names_the_three_kinds(tmp_path, name):
    (tmp_path / name).write_bytes(b"x")
    msg = refused("nasbench201", tmp_path / name, "is a file ending in")
    assert ".pth file" in msg and ".tar file" in msg and "NATS-tss directory" in msg


def test_any_file_name_is_a_file_for_nb101_and_nds(tmp_path):
    raw = tmp_path / "renamed.bin"
    raw.write_bytes(b"x")
    check_config({"benchmarks": ["nasbench101", "nds"],
                  "sources": {"nasbench101": {"path": str(raw)}, "nds": {"path": str(raw)}}})


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_a_fifo_is_refused_without_opening_it(tmp_path, benchmark):
    fifo = tmp_path / "raw.tar"
    os.mkfifo(fifo)
    refused(benchmark, fifo, "is a FIFO (named pipe), not a regular file or directory")


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null")
def test_a_device_is_refused():
    refused("nasbench101", "/dev/null", "is a character device")


def test_a_link_to_a_fifo_is_a_fifo(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "data.zip").symlink_to(fifo)
    refused("nds", tmp_path / "data.zip", "is a FIFO")


def _unreadable(path: Path, monkeypatch):
    """Make `path` unreadable for the check: for real when not root (root reads anything), else via os.access."""
    if os.geteuid() != 0:
        path.chmod(0)
        return
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == path else real(p, mode, **kw))


@pytest.mark.parametrize("benchmark, kind", [("nasbench101", "file"), ("nds", "file"), ("nasbench201", "directory")])
def test_an_unreadable_path(tmp_path, monkeypatch, benchmark, kind):
    if kind == "directory":
        raw = nats_dir(tmp_path)
    else:
        raw = tmp_path / "raw.pth"
        raw.write_bytes(b"x")
    _unreadable(raw, monkeypatch)
    try:
        refused(benchmark, raw, "is not readable by this user")
    finally:
        raw.chmod(0o755)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may search any directory")
def test_a_file_in_a_directory_that_may_not_be_searched(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "nasbench_full.tfrecord").write_bytes(b"x")
    locked.chmod(0)
    try:
        refused("nasbench101", locked / "nasbench_full.tfrecord", "cannot be looked at")
    finally:
        locked.chmod(0o755)


def test_missing_path_still_named_and_demo_paths_may_come_later(tmp_path):
    with pytest.raises(ConfigError, match=re.escape("sources.nds.path = ") + ".*does not exist"):
        check_config(config("nds", tmp_path / "data.zip"))
    check_config(config("nds", tmp_path / "data.zip", demo=True))  # the demo generates it
    (tmp_path / "data.zip").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):  # but what exists is checked
        check_config(config("nds", tmp_path / "data.zip", demo=True))


@pytest.mark.slow
def test_workflow_fails_at_parse_time_on_a_fifo_without_hanging(workflow, tmp_path):
    fifo = tmp_path / "nasbench_full.tfrecord"
    os.mkfifo(fifo)
    wf = workflow(benchmarks=["nasbench101"], sources={"nasbench101": {"path": str(fifo)}})
    out = wf.run("-n", timeout=60)
    assert out.returncode != 0
    assert f"config: sources.nasbench101.path = '{fifo}' is a FIFO (named pipe)" in out.output, out.output[-3000:]
    assert "Traceback" not in out.output


@pytest.mark.slow
def test_workflow_fails_at_parse_time_on_a_directory(workflow, tmp_path):
    wf = workflow(benchmarks=["nasbench101"], sources={"nasbench101": {"path": str(tmp_path)}})
    out = wf.run("-n", timeout=60)
    assert out.returncode != 0
    assert f"config: sources.nasbench101.path = '{tmp_path}' is a directory; expected the NAS-Bench-101 TFRecord" \
        in out.output, out.output[-3000:]
    assert not Path(wf.config["work_dir"]).exists()
