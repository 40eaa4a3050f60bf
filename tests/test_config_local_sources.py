"""Local `path` sources are checked like downloads: NAS-Bench-201's `md5` as NAS-Bench-101's
`sha256` (same warning, same manifest flag), a directory skipped with a word in the log, and a
corrupt local file reported as the file at `path`, not as a download to fetch again."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from nasbench_store import tfrecord
from nasbench_store.errors import RawFormatError
from nasbench_store.manifest import raw_digest
from nasbench_store.workflow import compare_raw_digest

LOG = logging.getLogger("test_config_local_sources")
BODY = b"not really a release, but bytes with digests"
SHA256, MD5 = hashlib.sha256(BODY).hexdigest(), hashlib.md5(BODY).hexdigest()


@pytest.fixture
def raw(tmp_path) -> Path:
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    path.write_bytes(BODY)
    return path


@pytest.mark.parametrize("algo, right", [("sha256", SHA256), ("md5", MD5)])
def test_matching_digest_is_recorded(raw, caplog, algo, right):
    with caplog.at_level(logging.INFO):
        entry = compare_raw_digest(raw, {"path": str(raw), algo: right}, raw_digest(raw), "nasbench201", LOG)
    assert entry == {**raw_digest(raw), f"matches_configured_{algo}": True}
    assert "differs" not in caplog.text


@pytest.mark.parametrize("algo, right, wrong", [("sha256", SHA256, "a" * 64), ("md5", MD5, "b" * 32)])
def test_differing_digest_is_logged_and_recorded_not_fatal(raw, caplog, algo, right, wrong):
    with caplog.at_level(logging.INFO):
        entry = compare_raw_digest(raw, {"path": str(raw), algo: wrong}, raw_digest(raw), "nasbench201", LOG)
    assert entry[f"matches_configured_{algo}"] is False
    assert entry["sha256"] == SHA256 and "md5" not in entry  # the manifest keeps its one digest
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1
    assert warning[0].getMessage() == (f"{raw}: {algo} {right} differs from sources.nasbench201.{algo} {wrong}; "
                                       f"this is not that release, and the manifest will say so")


def test_both_digests_are_compared_when_both_are_configured(raw):
    entry = compare_raw_digest(raw, {"sha256": SHA256, "md5": "c" * 32}, raw_digest(raw), "nasbench201", LOG)
    assert entry["matches_configured_sha256"] is True and entry["matches_configured_md5"] is False


def test_no_configured_digest_adds_nothing(raw):
    assert compare_raw_digest(raw, {"path": str(raw), "md5": None}, raw_digest(raw), "nds", LOG) == raw_digest(raw)


def test_a_directory_has_no_published_digest(tmp_path, caplog):
    tree = {"file": "NATS-tss-v1_0-3ffb9-simple", "kind": "directory", "sha256": "d" * 64, "files": 3}
    with caplog.at_level(logging.INFO):
        entry = compare_raw_digest(tmp_path, {"path": str(tmp_path), "md5": MD5}, tree, "nasbench201", LOG)
    assert entry == tree
    assert "a directory has no published digest, so sources.nasbench201.md5 is not compared" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_default_hint_names_a_download_and_a_local_path():
    msg = str(RawFormatError("/data/nasbench_full.tfrecord", 12, "CRC mismatch in the record payload"))
    assert msg.startswith("/data/nasbench_full.tfrecord at byte offset 12: CRC mismatch in the record payload (")
    assert "if the build downloaded it, delete it and run again" in msg
    assert "if it is a local `path` from your config, that file is damaged or is not the release" in msg
    assert "delete it and download it again" not in msg
    assert str(RawFormatError("x", None, "bad", "own hint")) == "x: bad (own hint)"


@pytest.mark.slow
def test_corrupt_local_nb101_file_is_named_as_the_local_path(workflow, tmp_path, nb101_raw):
    raw = tmp_path / "mine" / "nasbench_full.tfrecord"
    raw.parent.mkdir()
    data = bytearray(nb101_raw.read_bytes())
    offset = [o for o, _ in tfrecord.iter_records(nb101_raw)][3]
    data[offset + 20] ^= 0xFF
    raw.write_bytes(bytes(data))
    wf = workflow(benchmarks=["nasbench101"], sources={"nasbench101": {"path": str(raw)}}, nasbench101={"shards": 1})
    out = wf.run()
    assert out.returncode != 0
    assert f"{raw} at byte offset {offset}: CRC mismatch in the record payload" in out.output, out.output[-4000:]
    assert "if it is a local `path` from your config, that file is damaged or is not the release" in out.output
    assert "delete it and download it again" not in out.output
    assert not (wf.store / "nasbench101.db").exists()


@pytest.mark.slow
def test_local_nb201_pth_is_compared_with_the_configured_md5(workflow, tmp_path):
    from nasbench_store.nasbench201.synthetic import write_nb201_pth
    pth = write_nb201_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth", 4, 0)
    real_md5 = hashlib.md5(pth.read_bytes()).hexdigest()
    configured = "55e847143ce1f7c2d89b676f6b096897"  # the release's, as config.yaml has it
    wf = workflow(benchmarks=["nasbench201"], sources={"nasbench201": {"path": str(pth), "md5": configured}})
    out = wf.run().check().output
    raw = json.loads((wf.store / "manifest.json").read_text())["benchmarks"]["nasbench201"]["raw"]
    assert raw["matches_configured_md5"] is False and raw["file"] == pth.name
    warning = (f"{pth}: md5 {real_md5} differs from sources.nasbench201.md5 {configured}; this is not that "
               "release, and the manifest will say so")
    assert warning in out
    assert warning in (Path(wf.config["work_dir"]) / "logs" / "raw_digest_nasbench201.log").read_text()
