"""NB101's record loop in C (`_recordscan.c`) against the pure-Python path (records.parse_record,
convert.check_cell, tfrecord framing), which stays the fallback and the oracle: the same part files
byte for byte, and on corrupt or hostile input the same RawFormatError (message and offset)."""
from __future__ import annotations

import base64
import importlib.util
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
from helpers import require_or_skip

from nasbench_store.errors import RawFormatError
from nasbench_store.nasbench101 import convert, graph, records, synthetic
from nasbench_store.nasbench101.synthetic import canonical_cells, demo_cells, encode_metrics
from nasbench_store.tfrecord import frame, masked_crc

C_SCAN = records.scan
CELL = synthetic.reference_cell()
OTHER = canonical_cells(3)[1]
EVALS = [(0.0, 0.0, 0.1, 0.1, 0.1), (54.0, 500.0, 0.8, 0.7, 0.7), (108.0, 1000.0, 0.95, 0.9, 0.9)]


@pytest.fixture(scope="module")
def recordscan():
    """The C module; skipped where it was not built, a failure under NASBENCH_REQUIRE_CEXT=1 (CI)."""
    if C_SCAN is None:
        if importlib.util.find_spec("nasbench_store.nasbench101._recordscan") is not None:
            pytest.skip("NASBENCH_PURE_PYTHON is set: the C record loop is switched off")
        require_or_skip("NASBENCH_REQUIRE_CEXT", "the C record loop (_recordscan) was not built "
                                                 "(no compiler at install time)")
    from nasbench_store.nasbench101 import _recordscan
    return _recordscan


def payload(cell=CELL, epochs=108, evals=EVALS, params=1234567, wrap=True) -> bytes:
    pb = encode_metrics(evals, params, 1100.0)
    text = base64.encodebytes(pb).decode() if wrap else base64.b64encode(pb).decode()
    return json.dumps([cell.module_hash, epochs, cell.adjacency, ",".join(cell.ops), text]).encode()


def outcome(raw, index, count, out, scan):
    """What convert_shard gives with the C loop (scan) or the Python loop (None): the info and the
    part's bytes, or the error's type, message and offset."""
    records.scan = scan
    try:
        info = convert.convert_shard(raw, index, count, out)
    except RawFormatError as exc:
        assert not out.exists()
        return ("error", type(exc), str(exc), exc.offset)
    finally:
        records.scan = C_SCAN
    data = out.read_bytes()
    out.unlink()
    return ("part", info, data)


def assert_same(tmp_path, raw, counts=(1,)):
    results = []
    for count in counts:
        for index in range(count):
            c = outcome(raw, index, count, tmp_path / "c.parquet", C_SCAN)
            py = outcome(raw, index, count, tmp_path / "py.parquet", None)
            assert c == py, (count, index)
            results.append(c)
    return results


def test_scan_status_codes_and_implementation_switch(recordscan):
    assert (records.SCAN_DONE, records.SCAN_FULL, records.SCAN_SLOW) == (
        recordscan.SCAN_DONE, recordscan.SCAN_FULL, recordscan.SCAN_SLOW)
    assert records.RECORD_IMPLEMENTATION == "c"
    # the record loop and tfrecord.sync_forward (a shard's first header) switch together
    code = ("from nasbench_store import tfrecord; from nasbench_store.nasbench101 import records; "
            "print(records.RECORD_IMPLEMENTATION, tfrecord.sync_implementation())")
    env = {k: v for k, v in os.environ.items() if k != "NASBENCH_PURE_PYTHON"}
    for pure, expected in (("1", "python"), ("0", "c"), (None, "c")):
        run_env = env if pure is None else {**env, "NASBENCH_PURE_PYTHON": pure}
        proc = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [expected, expected], pure


def test_crc_equals_the_crc32c_package(recordscan):
    rng = random.Random(2)
    for n in [*range(40), 395, 4096, 10001]:
        data = rng.randbytes(n)
        assert recordscan.masked_crc32c(data) == masked_crc(data)


def test_fixture_files_give_the_same_parts_byte_for_byte(recordscan, tmp_path, nb101_raw):
    # shard counts that cut records in the middle, leave shards without a record start, and one shard
    results = assert_same(tmp_path, nb101_raw, counts=(1, 3, 7, 64))
    assert sum(r[1]["records"] for r in results[:1]) == len(demo_cells()) * 12
    only108 = tmp_path / "nasbench_only108.tfrecord"
    synthetic.write_tfrecord(only108, canonical_cells(4), epochs=(108,), seed=3)
    assert_same(tmp_path, only108, counts=(1, 2))


def test_the_python_path_runs_for_records_in_another_shape(recordscan, tmp_path):
    """Valid records the C code does not read itself (JSON whitespace other than spaces, escapes, a
    protobuf layout the fast path does not know) are read by Python in the middle of a shard; unwrapped
    base64 and JSON without spaces C reads itself."""
    from nasbench_store.nasbench101.metrics_pb import ModelMetrics
    msg = ModelMetrics.FromString(encode_metrics(EVALS, 777, 1.0))
    msg.evaluation_data[1].checkpoint_path = "gs://x"
    odd = [
        payload(wrap=False),
        json.dumps([CELL.module_hash, 108, CELL.adjacency, ",".join(CELL.ops),
                    base64.encodebytes(encode_metrics(EVALS, 1234567, 1.0)).decode()], separators=(",", ":")).encode(),
        json.dumps([CELL.module_hash, 12, CELL.adjacency, ",".join(CELL.ops),
                    base64.b64encode(encode_metrics(EVALS, 1234567, 1.0)).decode()], indent=1).encode(),
        payload(epochs=36).replace(b"\\n", b"\\u000a", 1),
        payload(epochs=4).replace(b'"input,', b'"\\u0069nput,'),
        json.dumps([OTHER.module_hash, 108, OTHER.adjacency, ",".join(OTHER.ops),
                    base64.b64encode(msg.SerializeToString()).decode()]).encode(),
    ]
    assert [recordscan.parse(p) is None for p in odd] == [False, False, True, True, True, True]
    good = [payload(OTHER, params=777), payload(), payload(epochs=12), payload(OTHER, epochs=4, params=777)]
    raw = tmp_path / "nasbench_full.tfrecord"
    raw.write_bytes(b"".join(frame(p) for p in [good[0], *odd[:3], good[1], *odd[3:], good[2], good[3]]))
    [(kind, info, _)] = assert_same(tmp_path, raw)
    assert kind == "part" and info["records"] == 10


BAD_PAYLOADS = [
    b"\xff\xfe not json", b'{"a": 1}', b"[]", b" ", b"",
    b'["00005c142e6f48ac74fdcf73e3439874", 4, "0100", "input,output"]',
    b'["abc", 4, "0100", "input,output", ""]',
    b'["00005c142e6f48ac74fdcf73e3439874", 5, "0100", "input,output", ""]',
    b'["00005c142e6f48ac74fdcf73e3439874", 4, "0100", "input,output", "Q"]',
    b'["00005c142e6f48ac74fdcf73e3439874", 4, "0100", "input,output", "/////w=="]',
    b'["\xed\xa0\x80"]', b"[" * 2000 + b"]" * 2000,
    payload(epochs=4.0), payload(epochs=True), payload(epochs=2**70), payload(epochs="108"),
    payload().replace(b", 108,", b", 1e999,"), payload().replace(b", 108,", b", NaN,"),
    payload().replace(b", 108,", b", 0108,"), payload().replace(b", 108,", b", -108,"),
    payload().replace(b", 108,", b", " + b"9" * 400 + b","),
    payload().replace(b"input,", b"input\xff,"), payload().replace(b"input,", b"input\x01,"),
    payload() + b" x", payload() + b",", payload()[:-1], payload().replace(b"]", b",]"),
    payload().replace(b"=", b""), payload().replace(b"=\\n", b"==\\n"), payload().replace(b"\\n", b"\n", 1),
    payload().replace(b"\\n", b"\\t", 1), payload().replace(b'\\n"', b'\\n\\"'),
    payload(params=0), payload(params=2**35 - 1), payload(params=2**40),
    *(payload(evals=[tuple(v if (s, f) != (stage, field) else bad for f, v in enumerate(e))
                     for s, e in enumerate(EVALS)])
      for stage in (1, 2) for field in (1, 2, 3, 4)
      for bad in (float("nan"), float("inf"), -float("inf"), -1e-300, 1.0000000000000002, 100.0)),
    payload(evals=[(0.0, 0.0, 0.0, 0.0, 0.0), (54.0, -0.0, 0.0, 1.0, 0.0), (108.0, 0.0, 1.0, 1.0, 1.0)]),
    # cells: a wrong stored hash, not pruned, outside the space, malformed adjacency or ops
    payload().replace(CELL.module_hash.encode(), b"0" * 32),
    payload().replace(CELL.module_hash.encode(), CELL.module_hash.upper().encode()),
    payload(OTHER).replace(OTHER.adjacency.encode(), b"011001000"),
    payload(OTHER).replace(OTHER.adjacency.encode(), b"010001000"),
    payload(OTHER).replace(OTHER.adjacency.encode(), b"010000000"),
    payload(OTHER).replace(OTHER.adjacency.encode(), b"010001100"),
    payload(OTHER).replace(OTHER.adjacency.encode(), b"0100010002"),
    payload(OTHER).replace(OTHER.adjacency.encode(), b"01000100"),
    payload(OTHER).replace(b"input,", b"output,"), payload(OTHER).replace(b",output", b",conv3x3"),
    payload(OTHER).replace(b",output", b",output,output"), payload(OTHER).replace(b"input,", b"input,,"),
    payload(OTHER).replace(b'"input,', b'"'),
    json.dumps(["0" * 32, 108, "0" * 64, ",".join(["input"] + ["conv3x3-bn-relu"] * 6 + ["output"]),
                base64.encodebytes(encode_metrics(EVALS, 5, 1.0)).decode()]).encode(),
    json.dumps(["0" * 32, 108, "0" * 10000, "input,output", ""]).encode(),
]


@pytest.mark.parametrize("bad", range(len(BAD_PAYLOADS)))
def test_a_bad_record_gives_the_same_error_in_both_paths(recordscan, tmp_path, bad):
    raw = tmp_path / "nasbench_full.tfrecord"
    raw.write_bytes(frame(payload(OTHER)) + frame(payload()) + frame(BAD_PAYLOADS[bad]) + frame(payload(epochs=4)))
    assert_same(tmp_path, raw)


def test_cells_that_disagree_across_records_give_the_same_error(recordscan, tmp_path):
    raw = tmp_path / "nasbench_full.tfrecord"
    impostor = payload(OTHER).replace(OTHER.module_hash.encode(), CELL.module_hash.encode())
    for later in (payload(params=7654321), impostor):
        raw.write_bytes(frame(payload()) + frame(payload(OTHER)) + frame(payload(epochs=4)) + frame(later))
        [result] = assert_same(tmp_path, raw)
        assert result[0] == "error" and "different adjacency, operations or parameter count" in result[2]


def corruptions(good: bytes):
    """Damaged copies of a file: framing (CRCs, lengths, truncation, trailing bytes) and payload
    bytes changed under a recomputed CRC, so the payload parsers see them."""
    rng = random.Random(11)
    yield good[:-1]
    yield good + b"\x00" * 3
    yield good + b"\x00" * 20
    yield good[:5]
    for pos in (3, 9, 20, 200, len(good) - 2):
        yield good[:pos] + bytes([good[pos] ^ 0x10]) + good[pos + 1:]
    for length in (0, 2**63, 2**64 - 1, 2**64 - 16, len(good)):
        head = length.to_bytes(8, "little")
        yield head + masked_crc(head).to_bytes(4, "little") + good[12:]
    first = int.from_bytes(good[:8], "little")
    body = good[12:12 + first]
    for _ in range(150):
        mutated = bytearray(body)
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(mutated))
            choice = rng.random()
            if choice < 0.5:
                mutated[i] = rng.randrange(256)
            elif choice < 0.75:
                mutated[i:i + 1] = b""
            else:
                mutated[i:i] = bytes([rng.choice(b' ",[]\\n=01e.-')])
        yield frame(bytes(mutated)) + good[16 + first:]


def test_corrupt_files_give_the_same_error_in_both_paths(recordscan, tmp_path):
    good = b"".join(frame(p) for p in (payload(), payload(epochs=4), payload(OTHER)))
    raw = tmp_path / "nasbench_full.tfrecord"
    errors = set()
    for damaged in corruptions(good):
        raw.write_bytes(damaged)
        for result in assert_same(tmp_path, raw, counts=(1, 2)):
            if result[0] == "error":
                errors.add(result[2].split(": ", 1)[1][:40])
    assert len(errors) > 10, errors  # the mutations reached many different checks


def test_parse_accepts_nothing_python_reads_differently(recordscan):
    """Differential fuzz of the payload parser alone: whatever C accepts, Python accepts with the same values."""
    rng = random.Random(5)
    base = [synthetic.record_payload(c, e, synthetic.metrics_bytes(rng, e, rng.randrange(1, 2**31)))
            for c in demo_cells()[::7] for e in (4, 108)]
    accepted = 0
    for _ in range(6000):
        p = bytearray(rng.choice(base))
        for _ in range(rng.randrange(1, 3)):
            i = rng.randrange(len(p))
            if rng.random() < 0.6:
                p[i] = rng.choice(b' "\\,[]0123456789abcdefABZ+/=n\n\t\x00\xff')
            else:
                del p[i]
        got = recordscan.parse(bytes(p))
        if got is not None:
            accepted += 1
            assert records.parse_record(bytes(p)) == records.Run(*got)
    for p in base:
        assert records.Run(*recordscan.parse(p)) == records.parse_record(p)
    assert accepted > 100


def test_check_cell_accepts_only_what_python_accepts(recordscan):
    cells = canonical_cells(5)
    for cell in cells + [synthetic.reference_cell()]:
        ops = ",".join(cell.ops)
        assert recordscan.check_cell(cell.module_hash, cell.adjacency, ops, graph.hash_adjacency) == \
            convert.check_cell(cell.module_hash, cell.adjacency, ops)
    rng = random.Random(8)
    for _ in range(3000):
        cell = rng.choice(cells)
        adjacency, ops = list(cell.adjacency), list(cell.ops)
        if rng.random() < 0.6:
            i = rng.randrange(len(adjacency))
            adjacency[i] = "1" if adjacency[i] == "0" else "0"
        else:
            ops[rng.randrange(len(ops))] = rng.choice(["input", "output", "conv3x3-bn-relu", "maxpool3x3", ""])
        # the hash of the changed cell, so that only the shape checks decide
        try:
            module_hash = graph.hash_adjacency("".join(adjacency), graph.labels_of(ops))
        except Exception:
            module_hash = cell.module_hash
        got = recordscan.check_cell(module_hash, "".join(adjacency), ",".join(ops), graph.hash_adjacency)
        try:
            want = convert.check_cell(module_hash, "".join(adjacency), ",".join(ops))
        except records.RecordError:
            want = None
        assert got == want, (adjacency, ops)


def test_scan_is_safe_on_any_bytes(recordscan):
    """Random and crafted buffers: scan stops at the first record it does not read, never past the
    buffer, and refuses arguments out of range."""
    rng = random.Random(3)
    ints, floats = np.empty((6, 4), np.int64), np.empty((8, 4), np.float64)

    def scan(buf, pos=0, stop=None, n=0, i=ints, f=floats):
        return recordscan.scan(buf, pos, len(buf) if stop is None else stop, n, i, f, {}, graph.hash_adjacency, 1)

    good = frame(payload())
    assert scan(good) == (len(good), 1, records.SCAN_DONE)
    assert scan(good * 6) == (4 * len(good), 4, records.SCAN_FULL)
    assert scan(good, stop=10**12) == (len(good), 1, records.SCAN_DONE)
    for _ in range(3000):
        size = rng.randrange(0, 64)
        buf = rng.randbytes(size)
        if rng.random() < 0.5:  # a header whose CRC holds, announcing any length
            head = rng.choice([0, 1, 2**31, 2**63, 2**64 - 1, rng.randrange(2**64)]).to_bytes(8, "little")
            buf = head + masked_crc(head).to_bytes(4, "little") + buf
        pos, n, status = scan(buf)
        assert (n, status) == (0, records.SCAN_SLOW if buf else records.SCAN_DONE) and pos == 0
    for bad in ({"pos": -1}, {"n": 5}, {"n": -1}, {"i": np.empty((6, 4), np.int32)}, {"f": np.empty((8, 3))}):
        with pytest.raises(ValueError, match="out of range"):
            scan(good, **bad)
    with pytest.raises(TypeError):
        scan(good, i=np.empty((6, 4), np.int64)[:, ::2])
    with pytest.raises(ValueError, match="out of range"):
        recordscan.scan(good, 0, len(good), 0, ints, floats, {}, graph.hash_adjacency, 0)


def test_pure_python_build_gives_the_same_part(tmp_path, nb101_raw):
    """NASBENCH_PURE_PYTHON=1 (as an install without a compiler): convert_shard runs the Python loop
    and writes the same part."""
    code = ("import sys; from nasbench_store.nasbench101 import convert, records; "
            "print(records.RECORD_IMPLEMENTATION); convert.convert_shard(sys.argv[1], 1, 3, sys.argv[2])")
    out = tmp_path / "pure.parquet"
    proc = subprocess.run([sys.executable, "-c", code, str(nb101_raw), str(out)], capture_output=True, text=True,
                          env={**os.environ, "NASBENCH_PURE_PYTHON": "1"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["python"]
    convert.convert_shard(nb101_raw, 1, 3, tmp_path / "default.parquet")
    assert out.read_bytes() == (tmp_path / "default.parquet").read_bytes()
