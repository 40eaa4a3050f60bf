"""NB101 conversion: NNI's ids and value mapping, determinism across shard counts, bad records."""
import json

import pyarrow as pa
import pytest

from nasbench_store import tfrecord
from nasbench_store.errors import RawFormatError
from nasbench_store.nasbench101 import convert
from nasbench_store.nasbench101.records import parse_record
from nasbench_store.nasbench101.synthetic import REFERENCE_HASH, demo_cells, iter_payloads, write_tfrecord


def tables(raw, parts_dir, shards):
    parts = []
    for i in range(shards):
        part = parts_dir / f"{i}-of-{shards}.parquet"
        convert.convert_shard(raw, i, shards, part)
        parts.append(part)
    out = {}
    for name, t in convert.iter_tables(raw, parts):
        out.setdefault(name, []).append(t)
    return {name: pa.concat_tables(ts) for name, ts in out.items()}


def test_nni_ids_and_mapping(nb101_raw, tmp_path):
    t = tables(nb101_raw, tmp_path, 3)
    cells = len(demo_cells())
    assert t["nb101trialconfig"].num_rows == cells * 4
    assert t["nb101trialstats"].num_rows == cells * 12
    assert t["nb101intermediatestats"].num_rows == cells * 24
    configs = t["nb101trialconfig"].to_pylist()
    # NNI's published database: the reference cell's 108-epoch config is id 4, its trials 10-12
    assert configs[3]["hash"] == REFERENCE_HASH and configs[3]["num_epochs"] == 108 and configs[3]["id"] == 4
    trials = [r for r in t["nb101trialstats"].to_pylist() if r["config_id"] == 4]
    assert [r["id"] for r in trials] == [10, 11, 12]
    first = parse_record(next(p for p in iter_payloads(demo_cells()) if b'", 108, "' in p))
    assert trials[0]["train_acc"] == first.final[1] * 100
    assert trials[0]["valid_acc"] == first.final[2] * 100
    assert trials[0]["test_acc"] == first.final[3] * 100
    assert trials[0]["training_time"] == first.final[0]  # seconds, not NNI's x60
    assert trials[0]["parameters"] == first.trainable_parameters / 1e6
    inter = [r for r in t["nb101intermediatestats"].to_pylist() if r["trial_id"] == 10]
    assert [(r["id"], r["current_epoch"]) for r in inter] == [(19, 54), (20, 108)]
    assert inter[0]["training_time"] == first.halfway[0] and inter[0]["train_acc"] == first.halfway[1] * 100
    assert configs[3]["arch"] == ('{"input1":[0],"input2":[1],"input3":[2],"input4":[0],"input5":[0,3,4],'
                                  '"input6":[2,5],"op1":"conv3x3-bn-relu","op2":"maxpool3x3","op3":"conv3x3-bn-relu",'
                                  '"op4":"conv3x3-bn-relu","op5":"conv1x1-bn-relu"}')


def test_same_tables_whatever_the_shard_count(nb101_raw, tmp_path):
    reference = tables(nb101_raw, tmp_path / "1", 1)
    for shards in (2, 7, 64):
        (tmp_path / str(shards)).mkdir()
        got = tables(nb101_raw, tmp_path / str(shards), shards)
        for name in reference:
            assert got[name].equals(reference[name]), (name, shards)


def test_record_order_in_file_does_not_change_ids(tmp_path):
    cells = demo_cells()[:10]
    payloads = list(iter_payloads(cells, seed=5))
    ordered = tmp_path / "ordered.tfrecord"
    ordered.write_bytes(b"".join(tfrecord.frame(p) for p in payloads))
    # move whole cells around, keeping each cell's records in their order
    shuffled = tmp_path / "shuffled.tfrecord"
    blocks = [payloads[i:i + 12] for i in range(0, len(payloads), 12)]
    shuffled.write_bytes(b"".join(tfrecord.frame(p) for block in reversed(blocks) for p in block))
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a, b = tables(ordered, tmp_path / "a", 2), tables(shuffled, tmp_path / "b", 3)
    for name in a:
        assert a[name].equals(b[name])


def _write(tmp_path, payloads):
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(b"".join(tfrecord.frame(p) for p in payloads))
    return path


def test_stored_hash_that_differs_from_recomputed_one_fails_with_offset(tmp_path):
    payloads = list(iter_payloads(demo_cells()[:3]))
    wrong = "ffff" + payloads[13][6:34].decode()
    payloads[13] = payloads[13][:2] + wrong.encode() + payloads[13][34:]
    path = _write(tmp_path, payloads)
    offset = sum(len(p) + 16 for p in payloads[:13])
    with pytest.raises(RawFormatError, match=f"byte offset {offset}.*differs from the recomputed graph hash"):
        convert.convert_shard(path, 0, 1, tmp_path / "part.parquet")
    assert not (tmp_path / "part.parquet").exists()


def test_cell_not_in_canonical_form_is_rejected(tmp_path):
    # input -> output with an extra dangling vertex: not pruned, so not a stored cell
    good = json.loads(next(iter_payloads(demo_cells()[:1])))
    payload = json.dumps(["043721b9c7fe8c5fad811d47d83132ec", 4, "010000000", "input,conv3x3-bn-relu,output",
                          good[4]]).encode()
    path = _write(tmp_path, [payload])
    with pytest.raises(RawFormatError, match="outside the NAS-Bench-101 space|off every input->output path"):
        convert.convert_shard(path, 0, 1, tmp_path / "part.parquet")


def test_cell_whose_records_disagree_is_rejected(tmp_path):
    cells = demo_cells()[:2]
    a = list(iter_payloads(cells[:1], seed=1, epochs=(4,)))
    b = list(iter_payloads(cells[:1], seed=2, epochs=(12,)))  # other seed: other parameter count
    path = _write(tmp_path, a + b)
    with pytest.raises(RawFormatError, match="different adjacency, operations or parameter count"):
        convert.convert_shard(path, 0, 1, tmp_path / "p.parquet")
    # the same conflict split across two shards is caught when the tables are assembled
    parts = [tmp_path / f"{i}.parquet" for i in range(6)]  # about one record per shard
    for i, part in enumerate(parts):
        convert.convert_shard(path, i, 6, part)
    with pytest.raises(RawFormatError, match="has a different (arch|parameters)"):
        list(convert.iter_tables(path, parts))


def test_parts_from_another_file_are_refused(nb101_raw, tmp_path):
    other = write_tfrecord(tmp_path / "other.tfrecord", demo_cells()[:5])
    part = tmp_path / "0-of-1.parquet"
    convert.convert_shard(other, 0, 1, part)
    with pytest.raises(RawFormatError, match="was made from a file of"):
        list(convert.iter_tables(nb101_raw, [part]))


def test_only108_release_converts_with_contiguous_ids(tmp_path):
    raw = write_tfrecord(tmp_path / "nasbench_only108.tfrecord", demo_cells(), epochs=(108,))
    t = tables(raw, tmp_path, 2)
    configs = t["nb101trialconfig"].to_pylist()
    assert {c["num_epochs"] for c in configs} == {108}
    assert [c["id"] for c in configs] == list(range(1, 93))
    assert configs[0]["hash"] == REFERENCE_HASH
    assert t["nb101trialstats"].num_rows == 92 * 3 and t["nb101intermediatestats"].num_rows == 92 * 6
    assert set(t["nb101intermediatestats"].column("current_epoch").to_pylist()) == {54, 108}
