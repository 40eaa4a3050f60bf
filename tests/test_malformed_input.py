"""Malformed input of every kind ends in an error naming the file and the position, never a raw
IndexError, RecursionError, OverflowError, UnicodeDecodeError, JSONDecodeError or SQLite error
(issue 11, point 6): deeply nested JSON, 5,000-digit numbers, seeds of 2**70, NaN/Infinity in an
NDS model spec or the NB101 tuple, text that is not UTF-8; rows SQLite refuses; zero records; a
build database truncated before publish. Pickles and the unpickler are tested elsewhere."""
from __future__ import annotations

import base64
import io
import json
import math
import zipfile

import pyarrow as pa
import pytest
from helpers import store_bytes
from helpers.nds import CELL_NET, record

from nasbench_store.errors import RawFormatError
from nasbench_store.nasbench101 import schema as nb101_schema
from nasbench_store.nasbench101.convert import convert_shard
from nasbench_store.nasbench101.synthetic import canonical_cells, encode_metrics, reference_cell, write_tfrecord
from nasbench_store.nds.constants import SWEEP_FILES
from nasbench_store.nds.convert import convert_sweep
from nasbench_store.nds.jsonstream import JsonStreamError, iter_records
from nasbench_store.nds.synthetic import write_nds_zip, write_zip
from nasbench_store.tablewriter import EmptyStoreError, TableWriteError, arrow_schema, write_tables
from nasbench_store.tfrecord import frame

DEEP = "[" * 100_000 + "]" * 100_000
DIGITS = "1" * 5000
KEEP = frozenset({"a"})


def stream(text: str | bytes, chunk: int = 1 << 20, keep=None) -> list:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return list(iter_records(io.BytesIO(data), chunk, keep))


# -- NDS sweep files: the streaming JSON reader ----------------------------------------------------

@pytest.mark.parametrize("keep", [None, KEEP])  # whole records decoded, or only the kept keys
@pytest.mark.parametrize("key, value", [("a", DEEP), ("z", DEEP), ("a", '{"b": ' + DEEP + "}")])
def test_deep_nesting_names_the_offset(key, value, keep):
    text = f'[{{"a": 1}}, {{"b": 2, "{key}": {value}}}]'
    with pytest.raises(JsonStreamError, match="nested too deeply") as info:
        stream(text, keep=keep)
    # the record when it is decoded whole; else the value of the key
    assert info.value.offset == (text.index('{"b": 2') if keep is None else text.index(value))


@pytest.mark.parametrize("chunk", [7, 1 << 20])
@pytest.mark.parametrize("key", ["a", "z"])  # read, and stepped over
def test_a_5000_digit_integer_names_where_its_digits_start(chunk, key):
    text = f'[{{"a": 1}}, {{"b": 2, "{key}": -{DIGITS}, "c": 3}}]'
    with pytest.raises(JsonStreamError) as info:
        stream(text, chunk, KEEP)
    assert info.value.problem == f"malformed JSON in record 1, key '{key}': a number with more than 4300 digits"
    assert info.value.offset == text.index(DIGITS)


def test_a_5000_digit_float_reads_as_infinity_which_the_mapping_refuses(tmp_path):
    assert stream('[{"a": ' + DIGITS + ".5}]", keep=KEEP)[0].value == {"a": math.inf}
    good = json.dumps([record(CELL_NET)])
    bad = good.replace('"flops": 98765432', f'"flops": {DIGITS}.5')
    archive = _zip(tmp_path, "DARTS.json", bad.encode())
    with pytest.raises(RawFormatError, match=r"DARTS\.json at byte offset 1: record 0: key 'flops' inf is not a "
                                             "finite number > 0"):
        convert_sweep(archive, "DARTS.json", tmp_path / "part.parquet")


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 20])
@pytest.mark.parametrize("data, bad", [
    (b'[{"a": "\xc3\xa9t\xc3\xa9"}, {"a": "x\xffy"}]', b"\xff"),            # an invalid start byte
    (b'[{"a": "\xc3\xa9"}, {"a": "\xe2\x82x"}]', b"\xe2\x82x"),             # a character cut short
    (b'[{"a": 1}, {"z": "\xed\xa0\x80"}]', b"\xed\xa0\x80"),                # a UTF-8-encoded surrogate
    (b'[{"a": 1}]\xe2\x82', b"\xe2\x82"),                                   # cut at the end of the file
])
def test_text_that_is_not_utf8_names_the_bad_byte(data, bad, chunk):
    with pytest.raises(JsonStreamError, match=r"the text is not UTF-8 \(.* at byte 0x") as info:
        stream(data, chunk, KEEP)
    assert info.value.offset == data.index(bad)


def _zip(tmp_path, sweep: str, data: bytes):
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"nds_data/{sweep}", data)
    return path


def _raw_value(key: str, raw: str) -> tuple[bytes, int]:
    """A sweep file of two records, the second with `key` set to the raw JSON text `raw`;
    returns it and the second record's byte offset."""
    records = [record(CELL_NET), record(CELL_NET)]
    records[1][key] = "@@"
    return json.dumps(records).replace('"@@"', raw).encode(), 1 + len(json.dumps(records[0])) + 2


@pytest.mark.parametrize("key, raw, at, problem", [
    ("net", DEEP, "value", "record 1, key 'net' is nested too deeply"),
    ("prec_time", DEEP, "value", "record 1, key 'prec_time' is nested too deeply"),
    ("params", DIGITS, "value", "malformed JSON in record 1, key 'params': a number with more than 4300 digits"),
    ("job_id", DIGITS, "value", "malformed JSON in record 1, key 'job_id': a number with more than 4300 digits"),
    ("rng_seed", str(2**70), "record", "record 1: rng_seed 1180591620717411303424 is outside 0..4294967295"),
    ("net", json.dumps(dict(CELL_NET, drop_prob=math.nan)), "record",
     "record 1: net.drop_prob (nan) is not a finite number; a spec holds no NaN or infinity"),
    ("net", json.dumps(dict(CELL_NET, width=-math.inf)), "record", "record 1: net.width (-inf) is not a finite number"),
])
def test_a_malformed_sweep_file_fails_naming_member_and_offset(tmp_path, key, raw, at, problem):
    data, record_offset = _raw_value(key, raw)
    archive = _zip(tmp_path, "DARTS.json", data)
    part = tmp_path / "part.parquet"
    with pytest.raises(RawFormatError) as info:
        convert_sweep(archive, "DARTS.json", part)
    offset = record_offset if at == "record" else data.index(raw.encode())
    assert str(info.value).startswith(f"{archive}!nds_data/DARTS.json at byte offset {offset}: {problem}"), \
        str(info.value)
    assert not part.exists()


def test_non_utf8_text_in_a_sweep_file_names_member_and_offset(tmp_path):
    data, _ = _raw_value("job_id", '"caf\xe9"')
    data = data.replace("caf\xe9".encode(), b"caf\xe9")  # latin-1, not UTF-8
    archive = _zip(tmp_path, "DARTS.json", data)
    offset = data.index(b"caf\xe9") + 3
    with pytest.raises(RawFormatError, match=rf"DARTS\.json at byte offset {offset}: the text is "
                                             r"not UTF-8 \(invalid continuation byte at byte 0xe9\)"):
        convert_sweep(archive, "DARTS.json", tmp_path / "part.parquet")


# -- NAS-Bench-101: the JSON tuple inside a TFRecord ----------------------------------------------

def _nb101_payload(epochs: str = "108") -> bytes:
    cell = reference_cell()
    pb = base64.encodebytes(encode_metrics([(0.0, 0.0, 0.1, 0.1, 0.1)] * 3, 5, 1.0)).decode()
    return (f'["{cell.module_hash}", {epochs}, "{cell.adjacency}", "{",".join(cell.ops)}", '
            f'{json.dumps(pb)}]').encode()


@pytest.mark.parametrize("payload, problem", [
    (DEEP.encode(), "depth limit exceeded"),
    (_nb101_payload(DIGITS), "number is infinity when parsed as double"),
    (_nb101_payload(DIGITS + ".5"), "number is infinity when parsed as double"),
    (_nb101_payload("NaN"), "unexpected character"),
    (_nb101_payload("Infinity"), "unexpected character"),
    (_nb101_payload("1e999"), "number is infinity"),
    (_nb101_payload(str(2**70)), "epochs 1.1805916207174113e+21 is not one of (4, 12, 36, 108)"),
    (_nb101_payload().replace(b"input,", b"input\xff,"), "str is not valid UTF-8"),
    (b'["\xed\xa0\x80"]', "not valid UTF-8"),
])
def test_a_malformed_nb101_tuple_fails_naming_file_and_offset(tmp_path, payload, problem):
    first = frame(_nb101_payload("4"))
    raw = tmp_path / "nasbench_full.tfrecord"
    raw.write_bytes(first + frame(payload))
    with pytest.raises(RawFormatError) as info:
        convert_shard(raw, 0, 1, tmp_path / "part.parquet")
    assert str(info.value).startswith(f"{raw} at byte offset {len(first)}: "), str(info.value)
    assert problem in str(info.value)
    assert list(tmp_path.iterdir()) == [raw]


# -- assembly: rows SQLite refuses, and no rows at all ---------------------------------------------

def _trials(values: dict) -> pa.RecordBatch:
    base = {"id": 1, "config_id": 1, "train_acc": 50.0, "valid_acc": 50.0, "test_acc": 50.0,
            "parameters": 1.0, "training_time": 1.0}
    rows = [dict(base, id=1), dict(base, id=2, **values), dict(base, id=3)]
    return pa.RecordBatch.from_pylist(rows, schema=arrow_schema(nb101_schema.Nb101TrialStats))


def test_a_row_sqlite_refuses_names_table_and_row_and_leaves_nothing(tmp_path):
    db, parquet = tmp_path / "nasbench101.db", tmp_path / "parquet"
    tables = [("nb101trialstats", _trials({"valid_acc": float("nan")}))]  # a NaN binds as NULL: NOT NULL fails
    with pytest.raises(TableWriteError) as info:
        write_tables(nb101_schema.MODELS, tables, db, parquet)
    message = str(info.value)
    assert message.startswith(f"{db}: SQLite refused row 2 of a batch for table nb101trialstats (IntegrityError: "
                              "NOT NULL constraint failed: nb101trialstats.valid_acc); row {'id': 2, ")
    assert "'valid_acc': nan" in message and "this is a bug" in message
    assert not db.exists() and not list(parquet.glob("*.parquet"))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["parquet"]  # no temporaries either


def test_no_trial_rows_is_an_error_naming_the_raw_file_and_leaves_nothing(tmp_path):
    db, parquet = tmp_path / "nasbench101.db", tmp_path / "parquet"
    with pytest.raises(EmptyStoreError, match=r"^/raw/file\.tfrecord: holds no records; nb101trialstats would be "
                                              "empty, so no store was written"):
        write_tables(nb101_schema.MODELS, iter([]), db, parquet, raw="/raw/file.tfrecord")
    assert not db.exists() and not list(parquet.glob("*"))
    with pytest.raises(EmptyStoreError, match="^the raw input: holds no records"):
        write_tables(nb101_schema.MODELS, iter([]), None, parquet)


# -- through the real workflow ---------------------------------------------------------------------

def _nds_config(raw):
    # rules/nasbench101.smk reads sources.nasbench101 and nasbench101.shards at parse time
    return {"benchmarks": ["nds"], "sources": {"nds": {"path": str(raw)}, "nasbench101": {"path": str(raw)}},
            "nasbench101": {"shards": 1}}


@pytest.mark.slow
def test_the_workflow_shows_a_malformed_sweep_file_and_an_empty_archive_and_publishes_nothing(workflow, tmp_path):
    good = write_nds_zip(tmp_path / "good.zip", records_per_file=1, max_ep=2)
    raw = tmp_path / "nested" / "data.zip"
    raw.parent.mkdir()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "nds_data/ENAS.json":
                data = data.replace(b'"job_id": ', b'"job_id": ' + DEEP.encode() + b', "x": ', 1)
                offset = data.index(DEEP.encode())
            dst.writestr(info, data)
    wf = workflow("nested", **_nds_config(raw))
    out = wf.run()
    assert out.returncode != 0
    assert f"{raw}!nds_data/ENAS.json at byte offset {offset}: record 0, key 'job_id' is nested too deeply" \
        in out.output
    for error in ("RecursionError", "JSONDecodeError", "UnicodeDecodeError", "OverflowError"):
        assert error not in out.output
    assert store_bytes(wf.store) == {}

    empty = write_zip(tmp_path / "empty" / "data.zip", {name: [] for name in SWEEP_FILES})
    wf = workflow("empty", **_nds_config(empty))
    out = wf.run()
    assert out.returncode != 0
    assert "holds no records; ndstrialstats would be empty, so no store was written" in out.output
    assert f"{empty}: holds no records" in out.output
    assert store_bytes(wf.store) == {}


@pytest.fixture(scope="module")
def truncated_db_run(tmp_path_factory):
    """NB101 tables built by the workflow, the build's .db truncated to half, then the publish run."""
    from helpers import Workflow
    base = tmp_path_factory.mktemp("truncated")
    raw = write_tfrecord(base / "nasbench_full.tfrecord", canonical_cells(3))
    wf = Workflow(base / "wd", {"store_dir": str(base / "store"), "work_dir": str(base / "work"),
                                "benchmarks": ["nasbench101"], "sources": {"nasbench101": {"path": str(raw)}},
                                "nasbench101": {"shards": 1}})
    db = base / "work" / "nasbench101" / "nasbench101.db"
    wf.run(str(db), str(db.parent / "parquet")).check()
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 2)
    return wf, db, wf.run()


@pytest.mark.slow
def test_a_truncated_build_database_is_not_published(truncated_db_run):
    wf, _, out = truncated_db_run
    assert out.returncode != 0 and "rule publish failed" in out.output
    assert store_bytes(wf.store) == {}


@pytest.mark.slow
def test_a_truncated_build_database_gets_the_integrity_refusal(truncated_db_run):
    _, db, out = truncated_db_run
    assert "refusing to publish built files that changed after the job that made them" in out.output
    assert str(db) in out.output and "sqlite3.DatabaseError" not in out.output
