"""NDS data.zip reader: sweep file shapes, NaN tokens, byte offsets, damaged archives.

Hostile members are refused by the shared check; its tests are in test_safety_archives.py."""
from __future__ import annotations

import io
import json
import math
import zipfile

import pytest

from nasbench_store.errors import RawFormatError
from nasbench_store.nds.archive import NdsArchive
from nasbench_store.nds.jsonstream import JsonStreamError, iter_records
from nasbench_store.nds.synthetic import write_nds_zip, write_zip


def records(text: str, chunk: int = 5):
    return list(iter_records(io.BytesIO(text.encode("utf-8")), chunk))


@pytest.mark.parametrize("chunk", [1, 3, 64, 1 << 20])
def test_plain_list_with_nan_tokens_at_any_chunk_size(chunk):
    text = '[{"a": NaN, "b": [1.5, Infinity]}, {"a": -Infinity, "job_id": "\u00e9t\u00e9"} ,{"a": 2}]'
    got = records(text, chunk)
    assert [r.index for r in got] == [0, 1, 2]
    assert {r.section for r in got} == {None}
    assert math.isnan(got[0].value["a"]) and got[0].value["b"] == [1.5, math.inf]
    assert got[1].value == {"a": -math.inf, "job_id": "\u00e9t\u00e9"}
    data = text.encode("utf-8")
    # offsets are byte offsets of each record's "{" even after multi-byte characters
    assert [data[r.offset:r.offset + 7] for r in got] == [b'{"a": N', b'{"a": -', b'{"a": 2']


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_keep_skips_other_number_lists_unparsed(chunk):
    text = ('[{"it": [1.5, NaN, -2e-3, Infinity], "a": [1, 2], "nested": [[1], [2]], "d": {"x": 1}, '
            '"s": "[1]", "empty": []}, {"a": 3, "it": [4]}]')
    got = list(iter_records(io.BytesIO(text.encode()), chunk, keep=frozenset({"a", "d"})))
    assert [r.value for r in got] == [{"a": [1, 2], "d": {"x": 1}}, {"a": 3}]
    assert got[1].offset == text.index('{"a": 3')
    with pytest.raises(JsonStreamError, match=r"malformed JSON in record 0, key 'nested'"):
        list(iter_records(io.BytesIO(b'[{"nested": [[1], [2}]'), chunk, keep=frozenset({"a"})))
    with pytest.raises(JsonStreamError, match=r"expected a key in record 0"):
        list(iter_records(io.BytesIO(b'[{"a": 1, 2: 3}]'), chunk, keep=frozenset({"a"})))


@pytest.mark.parametrize("keep", [None, frozenset({"a", "b"})])
def test_numbers_cut_by_any_buffer_boundary(keep):
    text = '[{"a": 123456.789, "b": -98765, "it": [1.25, 2.5]}, {"a": 1e-05, "b": 7}]'
    for chunk in range(1, len(text) + 1):
        got = [r.value for r in iter_records(io.BytesIO(text.encode()), chunk, keep)]
        assert [(r["a"], r["b"]) for r in got] == [(123456.789, -98765), (1e-05, 7)], chunk


def test_reruns_object_and_empty_lists():
    got = records('{"top": [{"i": 0}, {"i": 1}], "mid": [{"i": 2}]}')
    assert [(r.section, r.index, r.value["i"]) for r in got] == [("top", 0, 0), ("top", 1, 1), ("mid", 0, 2)]
    got = records('{"mid": [], "top": [{"i": 0}]}')
    assert [(r.section, r.index) for r in got] == [("top", 0)]
    assert records("[ ]") == []


@pytest.mark.parametrize("text, problem", [
    ('[{"a": 1}, {"a": 2', "malformed JSON in record 1"),
    ('[{"a": 1} {"a": 2}]', "expected ',' or ']'"),
    ('[{"a": 1}, 3]', "expected '{' opening a record"),
    ('{"top": [], "bottom": []}', "unexpected top-level key 'bottom'"),
    ('{"top": []}', "expected both 'top' and 'mid'"),
    ('{"top": [], "top": []}', "unexpected top-level key 'top'"),
    ('[{"a": 1}] x', "extra data"),
    ('"hello"', r"expected '\[' \(a list of records\)"),
    ("", "found end of file"),
])
def test_malformed_structure_names_the_problem(text, problem):
    with pytest.raises(JsonStreamError, match=problem):
        records(text)


def test_malformed_record_reports_byte_offset_of_the_error():
    text = '[{"a": 1}, {"a": tru}]'
    with pytest.raises(JsonStreamError) as info:
        records(text, chunk=4)
    assert info.value.offset == text.index("tru")


def test_archive_streams_fixture_sweeps_of_both_layouts(tmp_path):
    path = write_nds_zip(tmp_path / "data.zip", records_per_file=4, max_ep=3,
                         sweeps=["DARTS.json", "Vanilla_reruns.json"])
    with NdsArchive(path) as zf:
        darts = list(zf.records("DARTS.json"))
        reruns = list(zf.records("Vanilla_reruns.json"))
    assert len(darts) == 4 and all("genotype" in r.value["net"] for r in darts)
    assert len(darts[0].value["net"]["genotype"]["normal"]) == 8  # DARTS: 4 nodes
    assert [(r.section, r.index) for r in reruns] == [("top", 0), ("top", 1), ("mid", 0), ("mid", 1)]
    assert {r.value["net"]["block_type"] for r in reruns} == {"double_plain_block"}
    assert not any(p.name != "data.zip" for p in tmp_path.iterdir())  # nothing unpacked


def test_fixture_uses_json_dump_default_formatting(tmp_path):
    path = write_nds_zip(tmp_path / "data.zip", records_per_file=3, max_ep=4, sweeps=["ENAS_in.json"])
    with zipfile.ZipFile(path) as zf:
        text = zf.read("nds_data/ENAS_in.json").decode("ascii")
    data = json.loads(text)
    assert text == json.dumps(data)
    assert "NaN" in text
    for record in data:
        assert len(record["train_ep_top1"]) == len(record["test_ep_top1"]) == 4 == record["optim"]["max_ep"]
        assert record["min_test_top1"] == min(record["test_ep_top1"])
        assert all(round(v, 3) == v for v in record["test_ep_top1"])


def test_missing_sweep_file_and_require_all(tmp_path):
    path = write_nds_zip(tmp_path / "data.zip", records_per_file=1, sweeps=["Amoeba.json"])
    with NdsArchive(path) as zf:
        with pytest.raises(RawFormatError, match=r"nds_data/ENAS\.json is missing"):
            list(zf.records("ENAS.json"))
        with pytest.raises(RawFormatError, match=r"missing from the archive: Amoeba_in\.json, DARTS\.json"):
            zf.require_all()


def test_not_a_zip(tmp_path):
    path = tmp_path / "data.zip"
    path.write_bytes(b"<html>quota exceeded</html>")
    with pytest.raises(RawFormatError, match="cannot open as a zip archive"):
        NdsArchive(path)


def test_corrupt_member_data_is_a_raw_format_error(tmp_path):
    path = write_nds_zip(tmp_path / "data.zip", records_per_file=2, sweeps=["PNAS.json"], nan_every=0)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("nds_data/PNAS.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 20
    raw[start:start + 8] = b"\xff" * 8
    path.write_bytes(bytes(raw))
    with NdsArchive(path) as zf:
        with pytest.raises(RawFormatError, match=r"PNAS\.json"):
            list(zf.records("PNAS.json"))


def test_malformed_sweep_file_names_member_and_offset(tmp_path):
    path = write_zip(tmp_path / "data.zip", {})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("nds_data/NASNet.json", '[{"a": 1}, {"a": NaN, }]')
    with NdsArchive(path) as zf:
        with pytest.raises(RawFormatError, match=r"data\.zip!nds_data/NASNet\.json at byte offset 22: "
                                                 r"malformed JSON in record 1"):
            list(zf.records("NASNet.json"))
