"""HTTP downloads against a real local server with fault modes: resume, restart, retry, verify."""
from __future__ import annotations

import hashlib
import logging
import random

import pytest
from httpfaults import Drop, FaultServer, Stall, Status, dead_url, isolate_proxies

from nasbench_store.errors import ConfigError
from nasbench_store.fetch import DigestMismatchError, DownloadError, FetchOptions, fetch

FAST = FetchOptions(connect_timeout=2, read_timeout=0.5, retries=3, backoff=0.01, backoff_max=0.05,
                    progress_interval=0, chunk_size=4096)
BODY = random.Random(101).randbytes(200_000)
SHA256 = hashlib.sha256(BODY).hexdigest()
MD5 = hashlib.md5(BODY).hexdigest()


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    isolate_proxies(monkeypatch)


@pytest.fixture
def server():
    with FaultServer() as s:
        yield s


def get(source, tmp_path, **kw):
    return fetch(source, tmp_path / "raw" / "nasbench_full.tfrecord", benchmark="nasbench101", options=FAST, **kw)


def assert_nothing_published(tmp_path):
    assert not (tmp_path / "raw" / "nasbench_full.tfrecord").exists()


def test_plain_download_is_verified_and_published(server, tmp_path):
    url = server.serve("/nb101.tfrecord", BODY)
    out = get({"url": url, "sha256": SHA256}, tmp_path)
    assert out == tmp_path / "raw" / "nasbench_full.tfrecord"
    assert out.read_bytes() == BODY
    assert sorted(p.name for p in out.parent.iterdir()) == ["nasbench_full.tfrecord"]


def test_dropped_connection_resumes_with_range(server, tmp_path):
    url = server.serve("/nb101.tfrecord", BODY, faults=[Drop(50_000)])
    out = get({"url": url, "sha256": SHA256}, tmp_path)
    assert out.read_bytes() == BODY
    first, second = server.requests_for("/nb101.tfrecord")
    assert first.range is None
    assert second.range is not None and second.range.startswith("bytes=")
    assert 0 < int(second.range[6:-1]) <= 50_000
    assert second.if_range == server.files["/nb101.tfrecord"].etag
    assert not (tmp_path / "raw" / "nasbench_full.tfrecord.part.validator").exists()


def test_range_ignored_restarts_cleanly(server, tmp_path, caplog):
    url = server.serve("/nb101.tfrecord", BODY, ranges=False, faults=[Drop(50_000)])
    with caplog.at_level(logging.WARNING, logger="nasbench_store.fetch"):
        out = get({"url": url, "sha256": SHA256}, tmp_path)
    assert out.read_bytes() == BODY
    assert server.requests_for("/nb101.tfrecord")[1].range is not None
    assert "server sent the whole file instead of resuming" in caplog.text


def test_earlier_part_file_is_continued(server, tmp_path):
    url = server.serve("/nb101.tfrecord", BODY)
    part = tmp_path / "raw" / "nasbench_full.tfrecord.part"
    part.parent.mkdir()
    part.write_bytes(BODY[:12_345])
    get({"url": url, "sha256": SHA256}, tmp_path)
    assert [s.range for s in server.requests_for("/nb101.tfrecord")] == ["bytes=12345-"]
    assert not part.exists()


def test_part_of_an_older_upstream_file_is_not_spliced(server, tmp_path, caplog):
    old = BODY[:-1] + b"\x00"
    server.serve("/nb101.tfrecord", old)
    old_etag = server.files["/nb101.tfrecord"].etag
    url = server.serve("/nb101.tfrecord", BODY)  # upstream replaced the file since
    part = tmp_path / "raw" / "nasbench_full.tfrecord.part"
    part.parent.mkdir()
    part.write_bytes(old[:120_000])
    part.with_name(part.name + ".validator").write_text(old_etag)
    with caplog.at_level(logging.WARNING, logger="nasbench_store.fetch"):
        out = get({"url": url, "sha256": SHA256}, tmp_path)
    assert out.read_bytes() == BODY
    (request,) = server.requests_for("/nb101.tfrecord")
    assert (request.range, request.if_range) == ("bytes=120000-", old_etag)
    assert "restarting nasbench_full.tfrecord.part from byte 0" in caplog.text


def test_complete_part_file_answered_416_is_verified_and_published(server, tmp_path):
    url = server.serve("/nb101.tfrecord", BODY)
    part = tmp_path / "raw" / "nasbench_full.tfrecord.part"
    part.parent.mkdir()
    part.write_bytes(BODY)
    out = get({"url": url, "sha256": SHA256}, tmp_path)
    assert out.read_bytes() == BODY


def test_wrong_digest_fails_and_keeps_bytes_aside(server, tmp_path):
    url = server.serve("/nb101.tfrecord", BODY)
    wrong = "0" * 64
    with pytest.raises(DigestMismatchError) as e:
        get({"url": url, "sha256": wrong}, tmp_path)
    msg = str(e.value)
    assert "nasbench_full.tfrecord" in msg and wrong in msg and SHA256 in msg
    assert "sources.nasbench101.sha256" in msg and "nasbench_full.tfrecord.bad" in msg
    assert_nothing_published(tmp_path)
    assert (tmp_path / "raw" / "nasbench_full.tfrecord.bad").read_bytes() == BODY
    assert not (tmp_path / "raw" / "nasbench_full.tfrecord.part").exists()


def test_md5_digest_as_upstream_publishes_it(server, tmp_path):
    url = server.serve("/a.pth", BODY)
    assert get({"url": url, "md5": MD5.upper()}, tmp_path).read_bytes() == BODY
    with pytest.raises(DigestMismatchError, match=f"has md5 {MD5}, but the config expects {'1' * 32}"):
        fetch({"url": url, "md5": "1" * 32}, tmp_path / "other.pth", benchmark="nasbench201", options=FAST)
    assert not (tmp_path / "other.pth").exists()


def test_malformed_digest_in_config_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"sources\.nasbench101\.sha256: 'abc' is not a sha256"):
        get({"url": "http://127.0.0.1:9/x", "sha256": "abc"}, tmp_path)


def test_404_fails_at_once_naming_the_url(server, tmp_path):
    url = server.base + "/missing.tfrecord"
    with pytest.raises(DownloadError, match="missing.tfrecord: HTTP 404"):
        get({"url": url, "sha256": SHA256}, tmp_path)
    assert len(server.requests_for("/missing.tfrecord")) == 1
    assert_nothing_published(tmp_path)


def test_server_errors_are_retried_until_success(server, tmp_path):
    url = server.serve("/nb101.tfrecord", BODY, faults=[Status(500), Status(503)])
    assert get({"url": url, "sha256": SHA256}, tmp_path).read_bytes() == BODY
    assert len(server.requests_for("/nb101.tfrecord")) == 3


def test_retries_run_out(server, tmp_path):
    url = server.serve("/nb101.tfrecord", BODY, faults=[Status(500)] * 10)
    with pytest.raises(DownloadError, match="HTTP 500.*gave up after 3 retries"):
        get({"url": url, "sha256": SHA256}, tmp_path)
    assert len(server.requests_for("/nb101.tfrecord")) == 4
    assert_nothing_published(tmp_path)


def test_stall_longer_than_read_timeout_is_resumed(server, tmp_path, caplog):
    url = server.serve("/nb101.tfrecord", BODY, faults=[Stall(30_000, seconds=30)])
    with caplog.at_level(logging.WARNING, logger="nasbench_store.fetch"):
        out = get({"url": url, "sha256": SHA256}, tmp_path)
    assert out.read_bytes() == BODY
    assert "timed out" in caplog.text
    second = server.requests_for("/nb101.tfrecord")[1]
    assert second.range is not None and 0 < int(second.range[6:-1]) <= 30_000


def test_dead_first_mirror_falls_through_to_the_next(server, tmp_path):
    url = server.serve("/mirror/nb101.tfrecord", BODY)
    source = {"url": dead_url(), "mirrors": [server.base + "/404.tfrecord", url], "sha256": SHA256}
    assert get(source, tmp_path).read_bytes() == BODY


def test_all_sources_failing_lists_each_and_says_what_to_do(server, tmp_path):
    dead = dead_url()
    source = {"url": dead, "mirrors": [server.base + "/404.tfrecord"], "sha256": SHA256}
    with pytest.raises(DownloadError) as e:
        get(source, tmp_path)
    msg = str(e.value)
    assert dead in msg and "connection failed" in msg and "HTTP 404" in msg
    assert "sources.nasbench101.path" in msg
    assert_nothing_published(tmp_path)


def test_existing_verified_file_is_not_downloaded_again(server, tmp_path):
    url = server.serve("/nb101.tfrecord", BODY)
    dest = tmp_path / "raw" / "nasbench_full.tfrecord"
    dest.parent.mkdir()
    dest.write_bytes(BODY)
    get({"url": url, "sha256": SHA256}, tmp_path)
    assert server.requests_for("/nb101.tfrecord") == []


def test_existing_corrupt_file_is_moved_aside_and_replaced(server, tmp_path):
    url = server.serve("/nb101.tfrecord", BODY)
    dest = tmp_path / "raw" / "nasbench_full.tfrecord"
    dest.parent.mkdir()
    dest.write_bytes(b"junk")
    assert get({"url": url, "sha256": SHA256}, tmp_path).read_bytes() == BODY
    assert (tmp_path / "raw" / "nasbench_full.tfrecord.bad").read_bytes() == b"junk"


def test_mirrors_must_be_a_list(tmp_path):
    with pytest.raises(ConfigError, match="sources.nasbench101.mirrors: must be a list"):
        get({"url": "http://127.0.0.1:9/x", "mirrors": "http://127.0.0.1:9/y", "sha256": SHA256}, tmp_path)
