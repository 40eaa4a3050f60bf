"""`tfrecord.sync_forward` (a shard's first record header) in C (`_recordscan.sync_forward`) against
the Python loop `sync_forward_py`, its fallback and oracle: the same offset on every input (fixture
files at every start offset, random, zero and crafted buffers, headers across the limit and the end
of the file), and the same part or error for a crafted file whose one giant record spans shards."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
from test_nb101_cext import C_SCAN, outcome, payload, recordscan  # noqa: F401 - recordscan is a fixture

from nasbench_store import tfrecord
from nasbench_store.errors import RawFormatError
from nasbench_store.nasbench101 import synthetic
from nasbench_store.tfrecord import MAX_RECORD, frame, masked_crc, sync_forward_py


def header(length: int) -> bytes:
    head = length.to_bytes(8, "little")
    return head + masked_crc(head).to_bytes(4, "little")


def both(buf, pos, limit, size):
    """(C, Python) results of one call: the offset, or the exception's type and text."""
    results = []
    for fn in (tfrecord.sync_forward, sync_forward_py):
        try:
            results.append(fn(buf, pos, limit, size))
        except Exception as exc:  # noqa: BLE001 - compared, not swallowed
            results.append((type(exc), str(exc)))
    return results


def assert_agree(buf, pos, limit, size=None):
    """C and Python give the same; so does the C scan's software CRC path (CPUs without SSE4.2)."""
    from nasbench_store.nasbench101 import _recordscan
    size = len(buf) if size is None else size
    c, py = both(buf, pos, limit, size)
    assert c == py, (pos, limit, size)
    if type(buf) in (bytes, bytearray):
        try:
            software = _recordscan.sync_forward(buf, pos, limit, size, True)
        except (TypeError, OverflowError):
            software = None
        assert software is None or software == c, (pos, limit, size)
    return c


@pytest.fixture()
def c_sync(recordscan):  # noqa: F811
    assert tfrecord.sync_implementation() == "c"
    return recordscan.sync_forward


def test_every_start_offset_of_a_fixture_file(c_sync, tmp_path):
    raw = tmp_path / "nasbench_full.tfrecord"
    synthetic.write_tfrecord(raw, synthetic.canonical_cells(3), epochs=(4, 108), repeats=1, seed=4)
    data = raw.read_bytes()
    with tfrecord.open_map(raw) as (buf, size):
        starts, pos = set(), 0
        while pos < size:  # the true record starts
            starts.add(pos)
            pos += 16 + int.from_bytes(data[pos:pos + 8], "little")
        limits = (size, size // 2, size + 100)
        for start in range(size + 2):
            for limit in limits:
                got = assert_agree(buf, start, limit)
                assert got == min([s for s in starts if start <= s < limit] or [max(start, limit)])
            expected = tfrecord.sync_forward(buf, start, size, size)
            assert c_sync(data, start, size, size) == c_sync(data, start, size, size, True) == expected


def test_random_and_zero_buffers(c_sync):
    rng = random.Random(21)
    for n in (0, 1, 11, 12, 13, 64, 5000):
        for buf in (bytes(n), b"\xff" * n, rng.randbytes(n)):
            for pos in {0, 1, n // 2, max(n - 12, 0), max(n - 11, 0), n, n + 5}:
                for limit in {0, pos, pos + 1, n - 1, n, n + 50}:
                    assert_agree(buf, pos, limit)
    zeros = bytes(1 << 20)  # a zero length never has a matching CRC: scanned to the limit
    assert assert_agree(zeros, 3, len(zeros)) == len(zeros)
    # buffers dense in candidate headers: small lengths, random CRC bytes, a few true headers
    for _ in range(300):
        parts = []
        for _ in range(rng.randrange(1, 20)):
            kind = rng.random()
            if kind < 0.3:
                parts.append(header(rng.choice([0, 1, 395, MAX_RECORD, MAX_RECORD + 1, 2**63, rng.randrange(2**64)])))
            elif kind < 0.6:
                parts.append(rng.randrange(MAX_RECORD + 2).to_bytes(8, "little") + rng.randbytes(4))
            else:
                parts.append(rng.randbytes(rng.randrange(0, 30)))
        buf = b"".join(parts)
        for _ in range(5):
            pos, limit = rng.randrange(len(buf) + 2), rng.randrange(len(buf) + 20)
            assert_agree(buf, pos, limit)
            assert_agree(bytearray(buf), pos, limit, rng.randrange(len(buf) + 1))


def test_crafted_headers_at_the_limits(c_sync):
    filler = b"\x01" * 40
    for length, valid in ((0, True), (MAX_RECORD, True), (MAX_RECORD + 1, False), (2**64 - 1, False)):
        buf = filler + header(length) + filler
        at = len(filler)
        assert assert_agree(buf, 0, len(buf)) == (at if valid else len(buf))
        for limit in (at - 1, at, at + 1):  # a header starting just before, at, just after the limit
            assert assert_agree(buf, 0, limit) == (at if valid and at < limit else limit)
        for size in (at + 11, at + 12, at + 13):  # the header's last byte just past, at, before the end
            assert assert_agree(buf, 0, len(buf), size) == (at if valid and size >= at + 12 else len(buf))
        end = filler + header(length)  # the header ends the buffer; one byte short of it
        assert assert_agree(end, 0, len(end) + 10) == (at if valid else len(end) + 10)
        assert assert_agree(end[:-1], 0, len(end)) == len(end)
    # the first of two overlapping candidates, and a start inside a header
    buf = b"\x00" * 5 + header(7) + header(9)
    assert assert_agree(buf, 0, len(buf)) == 5
    assert assert_agree(buf, 6, len(buf)) == 17
    assert assert_agree(buf, 20, 10) == 20  # a start past the limit is returned as is


def test_arguments_c_leaves_to_python(c_sync):
    buf = b"\x02" * 30 + header(3) + b"\x02" * 30
    assert c_sync(buf, -1, len(buf), len(buf)) is None
    assert c_sync(buf, 0, len(buf), len(buf) + 1) is None
    for pos, limit, size in ((-3, len(buf), len(buf)), (0, len(buf), len(buf) + 1), (40, 100, 200),
                             (0, 2**70, len(buf)), (1.0, 5, len(buf))):
        assert_agree(buf, pos, limit, size)
    assert_agree(memoryview(buf), 0, len(buf))  # not a plain byte buffer: Python reads it
    assert_agree(list(buf), 0, len(buf))
    with pytest.raises(TypeError):
        c_sync("text", 0, 1, 1)


def giant_files():
    """Crafted files with one huge record (~1.5 MB) between ordinary ones, so that several shards
    start inside it: valid JSON padded with spaces (converts), zeros, and bytes holding a header
    whose CRC holds (a false sync point)."""
    rng = random.Random(9)
    small = [frame(payload(epochs=e)) for e in (4, 12)]
    tail = [frame(payload(epochs=e)) for e in (36, 108)]
    body = json.loads(payload(epochs=108).decode())
    pad = " " * (3 << 19)
    padded = ("[" + pad + json.dumps(body[0]) + ", 108, " + json.dumps(body[2]) + "," + pad + json.dumps(body[3]) +
              ", " + json.dumps(body[4]) + pad + "]").encode()
    fake = bytearray(rng.randbytes(3 << 19))
    fake[len(fake) // 2:len(fake) // 2 + 12] = header(40)
    for giant in (padded, bytes(3 << 19), bytes(fake)):
        yield b"".join(small) + frame(giant) + b"".join(tail)


@pytest.mark.parametrize("which", range(3))
def test_a_giant_record_across_shards_gives_the_same_result(c_sync, tmp_path, which):
    raw = tmp_path / "nasbench_full.tfrecord"
    raw.write_bytes(list(giant_files())[which])
    results = []
    for count in (1, 5):
        for index in range(count):
            paths = []
            for scan, sync in ((C_SCAN, c_sync), (None, None)):
                tfrecord._sync_forward_c = sync
                try:
                    paths.append(outcome(raw, index, count, tmp_path / "part.parquet", scan))
                finally:
                    tfrecord._sync_forward_c = c_sync
            assert paths[0] == paths[1], (count, index)
            results.append(paths[0])
    kinds = [r[0] for r in results]
    if which == 0:  # converts: every shard's part, records only where a record starts
        assert kinds == ["part"] * 6 and results[0][1]["records"] == 5
        assert sum(r[1]["records"] for r in results[1:]) == 5
        assert any(r[1]["records"] == 0 for r in results[1:])
    else:  # shard 0 reads the giant record itself; with a false header, a later shard syncs to it
        assert kinds[0] == kinds[1] == "error" and all(r[1] is RawFormatError for r in results if r[0] == "error")
        false_sync = results[3][0] == "error" and "CRC mismatch in the record payload" in results[3][2]
        assert false_sync == (which == 2)  # shard 2 of 5 starts before the false header


def test_pure_python_sync_in_a_subprocess(c_sync, tmp_path):
    """NASBENCH_PURE_PYTHON=1: the Python scan, the same offset as the C scan on the crafted file."""
    raw = tmp_path / "giant.tfrecord"
    raw.write_bytes(list(giant_files())[2])
    size = raw.stat().st_size
    code = ("import sys; from nasbench_store import tfrecord; print(tfrecord.sync_implementation()); "
            "b = open(sys.argv[1], 'rb').read(); print(tfrecord.sync_forward(b, len(b) // 3, len(b), len(b)))")
    proc = subprocess.run([sys.executable, "-c", code, str(raw)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NASBENCH_PURE_PYTHON": "1"})
    assert proc.returncode == 0, proc.stderr
    with tfrecord.open_map(raw) as (buf, _):
        assert proc.stdout.split() == ["python", str(tfrecord.sync_forward(buf, size // 3, size, size))]
