"""TFRecord framing and NB101 record parsing, including every way a record can be corrupt."""
import base64
import json
import random

import crc32c
import pytest

from nasbench_store import tfrecord
from nasbench_store.errors import RawFormatError
from nasbench_store.nasbench101 import records
from nasbench_store.nasbench101.metrics_pb import ModelMetrics
from nasbench_store.nasbench101.synthetic import demo_cells, metrics_bytes, record_payload, reference_cell


def test_crc_check_value_and_worked_header_example():
    assert crc32c.crc32c(b"123456789") == 0xE3069283
    framed = tfrecord.frame(b"x" * 395)
    assert framed[:12].hex() == "8b01000000000000" + "837dadb9"
    assert len(framed) == 12 + 395 + 4


def test_iter_records_round_trip_and_offsets(tmp_path):
    payloads = [bytes([65 + i]) * (10 + i) for i in range(5)]
    path = tmp_path / "r.tfrecord"
    path.write_bytes(b"".join(tfrecord.frame(p) for p in payloads))
    got = list(tfrecord.iter_records(path))
    assert [p for _, p in got] == payloads
    assert [o for o, _ in got] == [sum(16 + 10 + j for j in range(i)) for i in range(5)]
    # a range starting mid-record syncs to the next record boundary
    assert [bytes(p) for _, p in tfrecord.iter_records(path, 5, 60)] == payloads[1:3]


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:3] + bytes([b[3] ^ 1]) + b[4:], "CRC mismatch in the record length header"),
    (lambda b: b[:30] + bytes([b[30] ^ 1]) + b[31:], "CRC mismatch in the record payload"),
    (lambda b: b[:-5], "truncated record"),
    (lambda b: b + b"\x00\x00\x00", "truncated record header"),
])
def test_corrupt_framing_names_file_and_offset(tmp_path, damage, message):
    good = tfrecord.frame(b"a" * 40) + tfrecord.frame(b"b" * 40)
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(damage(good))
    with pytest.raises(RawFormatError, match=message) as info:
        list(tfrecord.iter_records(path))
    assert str(path) in str(info.value) and "byte offset" in str(info.value)


def test_fixture_payload_is_byte_faithful():
    cell = reference_cell()
    pb = metrics_bytes(random.Random(1), 4, 8555530)
    payload = record_payload(cell, 4, pb)
    fields = json.loads(payload)
    assert payload.startswith(b'["00005c142e6f48ac74fdcf73e3439874", 4, "0100110001')
    assert fields[4].count("\n") == 3 and len(fields[4].replace("\n", "")) == 208
    assert len(pb) == 155  # params >= 2**21 gives a 4-byte varint
    msg = ModelMetrics.FromString(pb)
    assert [e.current_epoch for e in msg.evaluation_data] == [0.0, 2.0, 4.0]
    assert msg.evaluation_data[0].training_time == 0.0 and not msg.evaluation_data[0].HasField("checkpoint_path")


def test_fast_protobuf_path_equals_the_protobuf_runtime():
    rng = random.Random(7)
    for params in (1, 300, 2_000_000, 2**31 - 1):
        pb = metrics_bytes(rng, 108, params)
        fast = records.decode_metrics(pb)
        assert fast == records._decode_slow(pb)
    # a layout the fast path does not know (checkpoint_path set) still decodes, via the runtime
    msg = ModelMetrics.FromString(metrics_bytes(rng, 12, 5000))
    msg.evaluation_data[1].checkpoint_path = "gs://x"
    evals, params = records.decode_metrics(msg.SerializeToString())
    assert params == 5000 and evals[1][0] == 6.0


def test_parse_record_accepts_unwrapped_base64():
    cell = demo_cells()[5]
    pb = metrics_bytes(random.Random(3), 36, 12345)
    wrapped = records.parse_record(record_payload(cell, 36, pb))
    flat = json.dumps([cell.module_hash, 36, cell.adjacency, ",".join(cell.ops),
                       base64.b64encode(pb).decode()], separators=(",", ":")).encode()
    assert records.parse_record(flat) == wrapped
    assert wrapped.epochs == 36 and wrapped.trainable_parameters == 12345


@pytest.mark.parametrize("payload, message", [
    (b"\xff\xfe not json", "not UTF-8 JSON"),
    (b'{"a": 1}', "JSON array of 5 fields, got dict"),
    (b'["00005c142e6f48ac74fdcf73e3439874", 4, "0100", "input,output"]', "array of 5 fields, got 4"),
    (b'["abc", 4, "0100", "input,output", ""]', "not 32 hex"),
    (b'["00005c142e6f48ac74fdcf73e3439874", 5, "0100", "input,output", ""]', "epochs 5 is not one of"),
    (b'["00005c142e6f48ac74fdcf73e3439874", 4, "0100", "input,output", "Q"]', "not valid base64"),
    (b'["00005c142e6f48ac74fdcf73e3439874", 4, "0100", "input,output", "/////w=="]', "not a valid ModelMetrics"),
])
def test_bad_payloads_say_what_is_wrong(payload, message):
    with pytest.raises(records.RecordError, match=message):
        records.parse_record(payload)


def test_any_split_into_byte_ranges_reads_every_record_exactly_once(tmp_path):
    payloads = [bytes([97 + i % 26]) * (7 + (i * 13) % 41) for i in range(40)]
    path = tmp_path / "r.tfrecord"
    path.write_bytes(b"".join(tfrecord.frame(p) for p in payloads))
    size = path.stat().st_size
    every = [o for o, _ in tfrecord.iter_records(path)]
    for n in range(1, 120):
        got = [o for i in range(n) for o, _ in tfrecord.iter_records(path, size * i // n, size * (i + 1) // n)]
        assert got == every, n


def test_generator_protobuf_bytes_equal_the_protobuf_runtime():
    from nasbench_store.nasbench101.synthetic import encode_metrics
    rng = random.Random(11)
    for params in (0, 1, 127, 128, 2**21 - 1, 2**21, 2**31 - 1):
        evals = [tuple(rng.random() for _ in range(5)) for _ in range(3)]
        msg = ModelMetrics(trainable_parameters=params, total_time=rng.random() * 1000)
        for e in evals:
            msg.evaluation_data.add(current_epoch=e[0], training_time=e[1], train_accuracy=e[2],
                                    validation_accuracy=e[3], test_accuracy=e[4])
        assert encode_metrics(evals, params, msg.total_time) == msg.SerializeToString()
