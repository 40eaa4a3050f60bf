"""Two builds sharing a raw_dir (issue 10 point 7): each download holds `<file>.lock`; the process
that waited says so, then finds the verified file and uses it. Down to two real Snakemake
processes (two working directories and stores, one raw_dir) against a server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import threading
import time

import pytest
from helpers import store_bytes
from httpfaults import FaultServer, isolate_proxies

from nasbench_store.fetch import FetchOptions, fetch
from nasbench_store.fetch.filelock import exclusive

BODY = os.urandom(1) + bytes(range(256)) * 200
SHA256 = hashlib.sha256(BODY).hexdigest()
FAST = FetchOptions(connect_timeout=2, read_timeout=5, retries=0, backoff=0.01, backoff_max=0.02,
                    progress_interval=0, chunk_size=4096)
LOCAL_ONLY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
WAITING = "waiting for another process downloading nasbench_full.tfrecord (lock "
DEADLINE = 120   # seconds any wait in these tests may take


class GatedServer(FaultServer):
    """Holds every GET until `release` is set (at most DEADLINE s), so a download is still running
    when the other build reaches the same file."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def route(self, h) -> None:
        self.release.wait(DEADLINE)
        super().route(h)


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {DEADLINE} s waiting for {what}")
        time.sleep(0.05)


# -- the lock on its own ------------------------------------------------------------------------------
def test_lock_is_exclusive_says_when_it_waits_and_leaves_no_file(tmp_path):
    lock = tmp_path / "raw" / "f.lock"
    order, waits = [], []
    held = threading.Event()

    def second():
        held.wait(DEADLINE)
        with exclusive(lock, on_wait=lambda: waits.append("second"), remove=True):
            order.append("second in")

    t = threading.Thread(target=second)
    t.start()
    with exclusive(lock, on_wait=lambda: waits.append("first"), remove=True):
        held.set()
        wait_for(lambda: waits, "the second holder to wait")
        order.append("first out")
    t.join(DEADLINE)
    assert order == ["first out", "second in"] and waits == ["second"]
    assert not lock.exists()


def test_a_waiter_on_a_deleted_lock_file_takes_the_new_one(tmp_path):
    """Each holder deletes the lock file on release. A waiter blocked on the deleted file and a
    newcomer that creates the next one must not both get in: the waiter sees that its file is gone
    and queues on the new one."""
    lock = tmp_path / "f.lock"
    count, inside, most = threading.Lock(), [], []

    def holder(name):
        with exclusive(lock, remove=True):
            with count:
                inside.append(name)
                most.append(len(inside))
            time.sleep(0.15)
            with count:
                inside.remove(name)

    threads = [threading.Thread(target=holder, args=(n,)) for n in range(8)]
    for t in threads:   # newcomers keep arriving while earlier holders release (and delete) the file
        t.start()
        time.sleep(0.06)
    for t in threads:
        t.join(DEADLINE)
    assert len(most) == 8 and max(most) == 1 and not lock.exists()


def test_fetch_waits_for_the_other_download_and_uses_its_file(tmp_path, caplog, monkeypatch):
    isolate_proxies(monkeypatch)
    dest = tmp_path / "raw" / "nasbench_full.tfrecord"
    result = {}
    caplog.set_level(logging.INFO, logger="nasbench_store.fetch")
    with FaultServer() as server:
        url = server.serve("/nasbench_full.tfrecord", BODY)
        with exclusive(dest.with_name(dest.name + ".lock"), remove=True):   # "another process" downloading
            t = threading.Thread(target=lambda: result.setdefault(
                "path", fetch({"url": url, "sha256": SHA256}, dest, benchmark="nasbench101", options=FAST)))
            t.start()
            wait_for(lambda: WAITING in caplog.text, "the waiting message")
            dest.write_bytes(BODY)   # the other process publishes the verified file
        t.join(DEADLINE)
        assert server.requests_for("/nasbench_full.tfrecord") == []
    assert result["path"] == dest and dest.read_bytes() == BODY
    assert f"(lock {dest}.lock)" in caplog.text and "already present and verified" in caplog.text
    assert sorted(p.name for p in dest.parent.iterdir()) == ["nasbench_full.tfrecord"]


# -- two real Snakemake builds --------------------------------------------------------------------------
@pytest.mark.slow
def test_two_builds_sharing_a_raw_dir_download_it_once(workflow, nb101_raw, tmp_path):
    body = nb101_raw.read_bytes()
    sha256 = hashlib.sha256(body).hexdigest()
    shared = tmp_path / "shared-raw"
    path = "/nasbench/nasbench_full.tfrecord"
    with GatedServer() as server:
        config = {"benchmarks": ["nasbench101"], "raw_dir": str(shared),
                  "sources": {"nasbench101": {"url": server.serve(path, body), "sha256": sha256}},
                  "nasbench101": {"shards": 1}, "download": {"retries": 0, "read_timeout": DEADLINE}}
        builds = [workflow(name, **config) for name in ("alice", "bob")]
        outs = [wf.workdir / "snakemake.out" for wf in builds]
        procs = []
        try:
            for wf, out in zip(builds, outs, strict=True):
                with open(out, "w") as fh:
                    procs.append(subprocess.Popen(wf.command("nasbench101"), stdout=fh, stderr=subprocess.STDOUT,
                                                  env={**os.environ, **LOCAL_ONLY}))

            def overlapped() -> bool:
                if any(p.poll() is not None for p in procs):
                    pytest.fail("a build ended before both reached the download:\n"
                                + "\n".join(o.read_text()[-3000:] for o in outs))
                seen = len(server.requests_for(path))
                return seen >= 2 or (seen == 1 and any(WAITING in o.read_text() for o in outs))

            # one build's download is held at the server; the other is at the same file by now
            wait_for(overlapped, "both builds to reach the download")
            server.release.set()
            codes = [p.wait(timeout=600) for p in procs]
        finally:
            server.release.set()
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        requests = server.requests_for(path)
    texts = [o.read_text() for o in outs]
    assert codes == [0, 0], "\n".join(t[-4000:] for t in texts)
    assert len(requests) == 1 and requests[0].range is None
    waited = [t for t in texts if WAITING in t]
    assert len(waited) == 1 and f"(lock {shared / 'nasbench_full.tfrecord'}.lock)" in waited[0]
    assert "already present and verified" in waited[0]
    assert sorted(p.name for p in shared.iterdir()) == ["nasbench_full.tfrecord"]
    assert hashlib.sha256((shared / "nasbench_full.tfrecord").read_bytes()).hexdigest() == sha256
    for wf in builds:
        wf.run("verify", env=LOCAL_ONLY).check()
    a, b = (store_bytes(wf.store) for wf in builds)
    assert a["nasbench101.db"] == b["nasbench101.db"]
