"""NAS-Bench-101 records whose values are out of range, non-finite or of the wrong type fail the
conversion naming the file and the record's byte offset, instead of reaching a store (issue 11, point 2)."""
from __future__ import annotations

import base64
import json
import sqlite3

import pytest

from nasbench_store.errors import RawFormatError
from nasbench_store.nasbench101 import records
from nasbench_store.nasbench101.checks import RULES
from nasbench_store.nasbench101.convert import convert_shard
from nasbench_store.nasbench101.synthetic import canonical_cells, encode_metrics, reference_cell
from nasbench_store.tfrecord import frame

GOOD_CELL = canonical_cells(2)[0]  # input -> output: the record before the bad one, another cell
CELL = reference_cell()
# (current_epoch, training_time, train, valid, test) at the start, halfway and the end of training
EVALS = [(0.0, 0.0, 0.1, 0.1, 0.1), (54.0, 500.0, 0.8, 0.7, 0.7), (108.0, 1000.0, 0.95, 0.9, 0.9)]
NAN, INF = float("nan"), float("inf")


def payload(cell=CELL, evals=EVALS, params=1234567, epochs=108) -> bytes:
    pb = encode_metrics(evals, params, 1100.0)
    return json.dumps([cell.module_hash, epochs, cell.adjacency, ",".join(cell.ops),
                       base64.encodebytes(pb).decode()]).encode()


def with_value(stage: int, field: int, value) -> list[tuple]:
    evals = [list(e) for e in EVALS]
    evals[stage][field] = value
    return [tuple(e) for e in evals]


def raw_file(tmp_path, bad: bytes):
    """A good record, then `bad`; returns the file and the bad record's byte offset."""
    first = frame(payload(GOOD_CELL))
    path = tmp_path / "nasbench_full.tfrecord"
    path.write_bytes(first + frame(bad))
    return path, len(first)


@pytest.mark.parametrize("bad, problem", [
    (payload(evals=with_value(2, 3, 1.5)), "final validation accuracy 1.5 is outside [0, 1]"),
    (payload(evals=with_value(2, 2, -0.25)), "final train accuracy -0.25 is outside [0, 1]"),
    (payload(evals=with_value(1, 4, NAN)), "halfway test accuracy is NaN"),
    (payload(evals=with_value(1, 4, 100.0)), "halfway test accuracy 100.0 is outside [0, 1]"),  # percent
    (payload(evals=with_value(1, 1, INF)), "halfway training time inf is not a finite number >= 0"),
    (payload(evals=with_value(2, 1, -1.0)), "final training time -1.0 is not a finite number >= 0"),
    (payload(evals=with_value(2, 1, NAN)), "final training time is NaN"),
    (payload(params=0), "trainable_parameters 0 is not a positive count"),
    (payload(epochs=4.0), "epochs 4.0 is not one of (4, 12, 36, 108)"),
    (payload(epochs=True), "epochs True is not one of"),
    (payload(epochs=2**70), "epochs 1.1805916207174113e+21 is not one of"),
])
def test_a_bad_value_fails_the_shard_naming_file_offset_and_value(tmp_path, bad, problem):
    raw, offset = raw_file(tmp_path, bad)
    part = tmp_path / "part.parquet"
    with pytest.raises(RawFormatError) as info:
        convert_shard(raw, 0, 1, part)
    assert str(info.value).startswith(f"{raw} at byte offset {offset}: {problem}"), str(info.value)
    assert not part.exists() and list(tmp_path.iterdir()) == [raw]


def test_a_negative_parameter_count_through_the_protobuf_runtime_is_refused():
    # a negative int32 takes 10 varint bytes: the fast path does not know that layout
    from nasbench_store.nasbench101.metrics_pb import ModelMetrics
    msg = ModelMetrics.FromString(encode_metrics(EVALS, 5, 1.0))
    msg.trainable_parameters = -5
    bad = json.dumps([CELL.module_hash, 108, CELL.adjacency, ",".join(CELL.ops),
                      base64.b64encode(msg.SerializeToString()).decode()]).encode()
    with pytest.raises(records.RecordError, match="trainable_parameters -5 is not a positive count"):
        records.parse_record(bad)


def test_boundary_values_are_valid():
    run = records.parse_record(payload(evals=[(0.0, 0.0, 0.0, 0.0, 0.0), (54.0, 0.0, 0.0, 1.0, 0.0),
                                              (108.0, 0.0, 1.0, 1.0, 1.0)], params=1))
    assert run.final == (0.0, 1.0, 1.0, 1.0) and run.trainable_parameters == 1


def test_an_empty_file_is_an_error_not_an_empty_store(tmp_path):
    raw = tmp_path / "nasbench_full.tfrecord"
    raw.write_bytes(b"")
    with pytest.raises(RawFormatError, match=f"^{raw}: holds no records: the file is empty"):
        convert_shard(raw, 0, 1, tmp_path / "part.parquet")
    assert list(tmp_path.iterdir()) == [raw]


def test_store_checks_refuse_infinite_sizes_and_times():
    """The SQL rules publish and verify run: a REAL column holds infinity, which `> 0` let through."""
    conn = sqlite3.connect(":memory:")
    columns = "train_acc REAL, valid_acc REAL, test_acc REAL, parameters REAL, training_time REAL"
    conn.execute(f"CREATE TABLE nb101trialstats ({columns})")
    conn.execute(f"CREATE TABLE nb101intermediatestats ({columns})")
    conn.executemany("INSERT INTO nb101trialstats VALUES (50, 50, 50, ?, ?)", [(1.5, 10.0), (INF, 10.0), (1.5, INF)])
    conn.executemany("INSERT INTO nb101intermediatestats VALUES (50, 50, 50, 1, ?)", [(1.0,), (INF,)])
    assert {name: conn.execute(RULES[name]).fetchone()[0] for name in (
        "parameters > 0 and training_time >= 0, both finite",
        "intermediate accuracies in [0, 100], time >= 0 and finite")} == {
        "parameters > 0 and training_time >= 0, both finite": 2,
        "intermediate accuracies in [0, 100], time >= 0 and finite": 1}
