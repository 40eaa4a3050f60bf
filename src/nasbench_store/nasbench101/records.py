"""One NAS-Bench-101 record: the JSON 5-tuple payload and its base64 ModelMetrics protobuf.

`parse_record` is the hot loop of the conversion (5 million calls), so the protobuf has a fast
path for the exact layout nasbench wrote (three EvaluationData of five doubles, then params and
total_time), checked tag by tag; anything else goes through the protobuf runtime.

Values are checked here too, where the record is known (the caller adds file and offset), so a
value outside its range never reaches a store: accuracies are fractions in [0, 1], training times
finite and >= 0, the parameter count > 0.

The conversion's whole record loop (framing, CRCs, this parsing and these checks, the cell checks)
also exists in C (`_recordscan.c`, `scan` below): it reads the records in the release's exact shape
and hands every other record (errors included) back to this module, so messages and values are the
ones of this Python path, which stays the fallback and the test oracle.

Format: docs/formats.md#nb101-record-payload.
"""
from __future__ import annotations

import binascii
import operator
import struct
from typing import NamedTuple

import orjson
from google.protobuf.message import DecodeError

from ..extensions import c_extension
from .metrics_pb import ModelMetrics

scan = c_extension(f"{__package__}._recordscan", "scan")  # the record loop in C
SCAN_DONE, SCAN_FULL, SCAN_SLOW = 0, 1, 2  # scan's status: reached stop, buffers full, record needs Python
# Which record loop convert_shard runs, decided once above: "c" (`scan`) or "python" (parse_record).
RECORD_IMPLEMENTATION = "python" if scan is None else "c"

VALID_EPOCHS = (4, 12, 36, 108)
_INF = float("inf")
_VALUES = ("training time", "train accuracy", "validation accuracy", "test accuracy")  # an evaluation's order


class Run(NamedTuple):
    """The parts of a record the tables need; times in seconds, accuracies as fractions."""
    module_hash: str
    epochs: int
    adjacency: str
    operations: str
    trainable_parameters: int
    halfway: tuple[float, float, float, float]  # training_time, train, valid, test accuracy
    final: tuple[float, float, float, float]


class RecordError(ValueError):
    """What is wrong with a payload; the caller adds file and offset."""


# Three EvaluationData as nasbench writes them: 0A 2D, then (tag, double) for fields 1..5; the
# struct skips the tag bytes, which are checked separately in one itemgetter call.
_EVALS = struct.Struct("<" + "3xdxdxdxdxd" + "2xxdxdxdxdxd" * 2)
_TAG_POS = [o + k for o in (0, 47, 94) for k in (0, 1, 2, 11, 20, 29, 38)]
_TAGS = (0x0A, 0x2D, 0x09, 0x11, 0x19, 0x21, 0x29) * 3
_tags = operator.itemgetter(*_TAG_POS)


def decode_metrics(pb: bytes) -> tuple[list[tuple[float, ...]], int]:
    """(evaluation rows of (epoch, time, train, valid, test), trainable_parameters)."""
    if len(pb) >= 152 and _tags(pb) == _TAGS and pb[141] == 0x10:
        pos, params, shift = 142, 0, 0
        while pos < len(pb) and shift < 35:
            byte = pb[pos]
            params |= (byte & 0x7F) << shift
            pos += 1
            shift += 7
            if not byte & 0x80:
                break
        if pos + 9 == len(pb) and pb[pos] == 0x19:
            d = _EVALS.unpack_from(pb)
            return [d[0:5], d[5:10], d[10:15]], params
    return _decode_slow(pb)


def _decode_slow(pb: bytes) -> tuple[list[tuple[float, ...]], int]:
    msg = ModelMetrics()
    try:
        msg.ParseFromString(pb)
    except DecodeError as exc:
        raise RecordError(f"raw_metrics is not a valid ModelMetrics protobuf ({exc})") from None
    evals = [(e.current_epoch, e.training_time, e.train_accuracy, e.validation_accuracy, e.test_accuracy)
             for e in msg.evaluation_data]
    if not msg.HasField("trainable_parameters"):
        raise RecordError("ModelMetrics has no trainable_parameters")
    return evals, msg.trainable_parameters


def parse_record(payload: bytes) -> Run:
    """Parse one payload; raise RecordError saying what is wrong."""
    try:
        fields = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"payload is not UTF-8 JSON ({exc})") from None
    if not isinstance(fields, list) or len(fields) != 5:
        raise RecordError(f"payload must be a JSON array of 5 fields, got "
                          f"{len(fields) if isinstance(fields, list) else type(fields).__name__}")
    module_hash, epochs, adjacency, operations, raw_metrics = fields
    if not (isinstance(module_hash, str) and len(module_hash) == 32):
        raise RecordError(f"module_hash {module_hash!r} is not 32 hex characters")
    if type(epochs) is not int or epochs not in VALID_EPOCHS:  # not 4.0, not true/false
        raise RecordError(f"epochs {epochs!r} is not one of {VALID_EPOCHS}")
    if not isinstance(adjacency, str) or not isinstance(operations, str) or not isinstance(raw_metrics, str):
        raise RecordError("adjacency, operations and raw_metrics must be strings")
    try:
        pb = binascii.a2b_base64(raw_metrics)
    except binascii.Error as exc:
        raise RecordError(f"raw_metrics is not valid base64 ({exc})") from None
    evals, params = decode_metrics(pb)
    if len(evals) != 3:
        raise RecordError(f"ModelMetrics has {len(evals)} evaluations; nasbench writes 3 (start, halfway, end)")
    halfway, final = evals[1][1:], evals[2][1:]
    # One chained comparison per value (NaN fails every one); the names come only on failure.
    if not (0.0 <= halfway[0] < _INF and 0.0 <= final[0] < _INF and 0.0 <= halfway[1] <= 1.0
            and 0.0 <= halfway[2] <= 1.0 and 0.0 <= halfway[3] <= 1.0 and 0.0 <= final[1] <= 1.0
            and 0.0 <= final[2] <= 1.0 and 0.0 <= final[3] <= 1.0 and params > 0):
        raise RecordError(_value_problem(halfway, final, params))
    return Run(module_hash, epochs, adjacency, operations, params, tuple(halfway), tuple(final))


def _value_problem(halfway, final, params) -> str:
    """What is wrong with a record's values (parse_record found something)."""
    for stage, values in (("halfway", halfway), ("final", final)):
        for name, value in zip(_VALUES, values):
            if value != value:
                return f"{stage} {name} is NaN"
            if name == "training time":
                if not 0.0 <= value < _INF:
                    return f"{stage} {name} {value!r} is not a finite number >= 0 (seconds)"
            elif not 0.0 <= value <= 1.0:
                return f"{stage} {name} {value!r} is outside [0, 1]"
    return f"trainable_parameters {params} is not a positive count"
