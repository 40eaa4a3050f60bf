"""Google Drive through gdown against a local stand-in that plays Drive's confirm-page exchange.

gdown requests the real https://drive.google.com URLs; HTTPS_PROXY sends them to the stand-in,
which terminates TLS with a throw-away CA that REQUESTS_CA_BUNDLE trusts.
"""
from __future__ import annotations

import hashlib
import random
import shutil

import pytest
from httpfaults import DriveStandIn, Drop, Status, isolate_proxies

from nasbench_store.fetch import DigestMismatchError, DriveRefusedError, FetchOptions, fetch

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI for a test CA")

FAST = FetchOptions(connect_timeout=2, read_timeout=1, retries=3, backoff=0.01, backoff_max=0.05,
                    progress_interval=0, chunk_size=4096)
PTH = random.Random(201).randbytes(1_300_000)  # > 2 of gdown's 512 KiB read chunks
MD5 = hashlib.md5(PTH).hexdigest()
FILE_ID = "16Y0UwGisiouVRxW-W5hEtbxmcHw_0hF_"
NAME = "NAS-Bench-201-v1_1-096897.pth"


@pytest.fixture
def drive(tmp_path, monkeypatch):
    with DriveStandIn(tmp_path / "tls") as server:
        isolate_proxies(monkeypatch, https_proxy=server.proxy, ca_bundle=server.ca_bundle)
        yield server


def get(tmp_path, **source):
    return fetch({"gdrive_id": FILE_ID, **source}, tmp_path / "raw" / NAME, benchmark="nasbench201", options=FAST)


def test_confirm_page_exchange_downloads_and_verifies(drive, tmp_path):
    drive.add(FILE_ID, PTH, NAME)
    out = get(tmp_path, md5=MD5)
    assert out.read_bytes() == PTH
    assert sorted(p.name for p in out.parent.iterdir()) == [NAME]
    tunnels = {s.path for s in drive.seen if s.method == "CONNECT"}
    assert {"drive.google.com:443", "drive.usercontent.google.com:443"} <= tunnels
    assert [s.range for s in drive.file_requests()] == [None]


def test_dropped_transfer_resumes_with_range(drive, tmp_path):
    drive.add(FILE_ID, PTH, NAME, faults=[Drop(1_100_000)])
    assert get(tmp_path, md5=MD5).read_bytes() == PTH
    ranges = [s.range for s in drive.file_requests() if s.range]
    # gdown writes whole 512 KiB reads; the one cut short by the drop is fetched again.
    assert ranges == ["bytes=1048576-"]


def test_range_ignored_restarts_cleanly(drive, tmp_path):
    drive.add(FILE_ID, PTH, NAME, ranges=False, faults=[Drop(1_100_000)])
    assert get(tmp_path, md5=MD5).read_bytes() == PTH
    # gdown refuses to splice a 200 onto its partial file; we drop the partial and start over.
    assert [s.range is not None for s in drive.file_requests()][-2:] == [True, False]


def test_server_error_is_retried(drive, tmp_path):
    drive.add(FILE_ID, PTH, NAME, faults=[Status(500)])
    assert get(tmp_path, md5=MD5).read_bytes() == PTH


def test_quota_page_becomes_advice(drive, tmp_path):
    drive.add(FILE_ID, PTH, NAME, mode="quota")
    with pytest.raises(DriveRefusedError) as e:
        get(tmp_path, md5=MD5)
    msg = str(e.value)
    assert f"https://drive.google.com/uc?id={FILE_ID}" in msg
    assert "sources.nasbench201.path" in msg and "Too many users" in msg
    assert not (tmp_path / "raw" / NAME).exists()


def test_permission_page_becomes_advice(drive, tmp_path):
    drive.add(FILE_ID, PTH, NAME, mode="denied")
    with pytest.raises(DriveRefusedError, match=r"Open https://drive\.google\.com/uc\?id=.*sources\.nasbench201\.path"):
        get(tmp_path, md5=MD5)
    assert not (tmp_path / "raw" / NAME).exists()


def test_wrong_md5_keeps_bytes_aside(drive, tmp_path):
    drive.add(FILE_ID, PTH, NAME)
    with pytest.raises(DigestMismatchError) as e:
        get(tmp_path, md5="0" * 32)
    msg = str(e.value)
    assert NAME in msg and MD5 in msg and "0" * 32 in msg and "sources.nasbench201.md5" in msg
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == [f"{NAME}.bad"]
    assert (tmp_path / "raw" / f"{NAME}.bad").read_bytes() == PTH
