"""Local `path` sources (no network) and the lock file for files without a published digest."""
from __future__ import annotations

import hashlib
import io
import logging
import os
import random
import subprocess
import sys

import pytest
import yaml
from httpfaults import FaultServer, isolate_proxies

from nasbench_store.errors import ConfigError
from nasbench_store.fetch import DigestMismatchError, FetchOptions, fetch
from nasbench_store.progress import Progress

FAST = FetchOptions(connect_timeout=2, read_timeout=0.5, retries=2, backoff=0.01, backoff_max=0.02,
                    progress_interval=0, chunk_size=4096)
ZIP = random.Random(5).randbytes(60_000)
ZIP_SHA256 = hashlib.sha256(ZIP).hexdigest()


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    isolate_proxies(monkeypatch)


def test_local_path_is_used_as_is_without_network(tmp_path):
    local = tmp_path / "mine" / "data.zip"
    local.parent.mkdir()
    local.write_bytes(ZIP)
    dest = tmp_path / "raw" / "data.zip"
    source = {"url": "http://127.0.0.1:9/never-contacted", "path": str(local), "sha256": ZIP_SHA256}
    assert fetch(source, dest, benchmark="nds", options=FAST) == local
    assert not dest.exists()


def test_local_path_missing_names_the_config_key(tmp_path):
    with pytest.raises(ConfigError, match=r"sources\.nds\.path: .*nope\.zip does not exist"):
        fetch({"path": str(tmp_path / "nope.zip"), "sha256": ZIP_SHA256}, tmp_path / "raw" / "data.zip",
              benchmark="nds", options=FAST)
    assert not (tmp_path / "raw").exists()


def test_local_path_with_wrong_digest_is_left_untouched(tmp_path):
    local = tmp_path / "data.zip"
    local.write_bytes(ZIP)
    with pytest.raises(DigestMismatchError) as e:
        fetch({"path": str(local), "sha256": "f" * 64}, tmp_path / "raw" / "data.zip", benchmark="nds", options=FAST)
    msg = str(e.value)
    assert "data.zip" in msg and "f" * 64 in msg and ZIP_SHA256 in msg and "sources.nds.path" in msg
    assert local.read_bytes() == ZIP
    assert not (tmp_path / "raw").exists()


def test_no_digest_and_no_lock_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="sources.nds: no sha256 or md5"):
        fetch({"url": "http://127.0.0.1:9/data.zip"}, tmp_path / "data.zip", benchmark="nds", options=FAST)


def test_first_download_records_sha256_and_later_ones_are_checked(tmp_path, caplog):
    lock = tmp_path / "sources.lock.yaml"
    with FaultServer() as server:
        url = server.serve("/nds/data.zip", ZIP)
        with caplog.at_level(logging.INFO, logger="nasbench_store.fetch"):
            first = fetch({"url": url}, tmp_path / "raw" / "data.zip", benchmark="nds", lock_file=lock, options=FAST)
        assert first.read_bytes() == ZIP
        assert f"recorded sha256 {ZIP_SHA256} in {lock}" in caplog.text
        entry = yaml.safe_load(lock.read_text())["nds"]["data.zip"]
        assert entry == {"sha256": ZIP_SHA256, "size": len(ZIP), "source": url}

        # Same bytes on another machine: accepted, lock unchanged.
        again = fetch({"url": url}, tmp_path / "raw2" / "data.zip", benchmark="nds", lock_file=lock, options=FAST)
        assert again.read_bytes() == ZIP

        # Upstream changed the file: refused, nothing published, the lock says what it expected.
        changed = ZIP[:-1] + b"!"
        server.serve("/nds/data.zip", changed)
        with pytest.raises(DigestMismatchError) as e:
            fetch({"url": url}, tmp_path / "raw3" / "data.zip", benchmark="nds", lock_file=lock, options=FAST)
    msg = str(e.value)
    assert str(lock) in msg and ZIP_SHA256 in msg and hashlib.sha256(changed).hexdigest() in msg
    assert "delete the 'data.zip' entry under 'nds'" in msg
    assert not (tmp_path / "raw3" / "data.zip").exists()
    assert (tmp_path / "raw3" / "data.zip.bad").read_bytes() == changed
    assert yaml.safe_load(lock.read_text())["nds"]["data.zip"]["sha256"] == ZIP_SHA256


def test_corrupt_lock_file_is_named(tmp_path):
    lock = tmp_path / "sources.lock.yaml"
    lock.write_text("nds: [unclosed\n")
    local = tmp_path / "data.zip"
    local.write_bytes(ZIP)
    with pytest.raises(ConfigError, match="sources.lock.yaml: not valid YAML"):
        fetch({"path": str(local)}, tmp_path / "raw" / "data.zip", benchmark="nds", lock_file=lock, options=FAST)


def test_plain_progress_lines_carry_bytes_rate_and_eta(caplog):
    progress = Progress("nds data.zip", interval=0, tty=False, logger=logging.getLogger("nasbench_store.fetch"))
    with caplog.at_level(logging.INFO, logger="nasbench_store.fetch"):
        progress.start(4 << 20, 1 << 20)
        progress.update(2 << 20)
    line = caplog.records[-1].getMessage()
    assert line.startswith("nds data.zip: 2.0 MiB of 4.0 MiB (50.0%), ")
    assert "/s, ETA " in line
    assert "resuming at 1.0 MiB" in caplog.text


def test_terminal_gets_a_tqdm_bar():
    stream = io.StringIO()
    progress = Progress("nb101", tty=True, stream=stream)
    progress.start(1 << 20)
    progress.update(1 << 20)
    progress.close()
    assert "nb101: 100%" in stream.getvalue() and "1.00M/1.00M" in stream.getvalue()


def test_command_line_fetches_with_merged_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(
        {"raw_dir": "raw", "sources": {"nds": {"url": "http://127.0.0.1:9/nds/data.zip"}}}))
    with FaultServer() as server:
        (tmp_path / "mine.yaml").write_text(yaml.safe_dump(
            {"sources": {"nds": {"url": server.serve("/nds/data.zip", ZIP)}}, "download": {"retries": 0}}))
        proc = subprocess.run([sys.executable, "-m", "nasbench_store.fetch", "nds", "--config", "config.yaml",
                               "--config", "mine.yaml"], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "NO_PROXY": "127.0.0.1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "raw/data.zip"
    assert (tmp_path / "raw" / "data.zip").read_bytes() == ZIP
    assert "recorded sha256" in proc.stderr
    assert yaml.safe_load((tmp_path / "sources.lock.yaml").read_text())["nds"]["data.zip"]["sha256"] == ZIP_SHA256

    missing = subprocess.run([sys.executable, "-m", "nasbench_store.fetch", "nasbench201", "--config", "config.yaml"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "error: sources.nasbench201: not in config.yaml" in missing.stderr
