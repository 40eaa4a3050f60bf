"""The C bulk insert (`_sqlitebulk`) writes the bytes executemany writes, and refuses rows the same way.

Every table of every store goes through `SqliteTables.write`; the C path binds values straight from
the Arrow buffers, so these tests compare it with the Python path on what can differ: integers,
floats (signed zeros, infinities, subnormals), strings (empty, multi-byte, embedded NUL), NULLs,
sliced arrays (a non-zero Arrow offset), several insert chunks, and a row SQLite refuses.
"""
from __future__ import annotations

import math
import random
import sqlite3

import peewee
import pyarrow as pa
import pytest
from helpers import require_or_skip

from nasbench_store import tablewriter
from nasbench_store.tablewriter import TableWriteError, write_tables


class Config(peewee.Model):
    name = peewee.CharField(null=True)
    count = peewee.IntegerField()
    score = peewee.FloatField(null=True)

    class Meta:
        table_name = "config"


class Trial(peewee.Model):
    config = peewee.ForeignKeyField(Config)
    value = peewee.FloatField()
    note = peewee.TextField()

    class Meta:
        table_name = "trial"


class Step(peewee.Model):
    trial = peewee.ForeignKeyField(Trial)
    epoch = peewee.IntegerField()

    class Meta:
        table_name = "step"


MODELS = [Config, Trial, Step]
STRINGS = ["", "a", "résumé", "量子", "with\x00nul", "x" * 300, "emoji 🧪"]
FLOATS = [0.0, -0.0, 1e-310, -1e308, 5e-324, math.inf, -math.inf, 0.1, 1 / 3, 97.0000001]


@pytest.fixture(autouse=True)
def bulk():
    if tablewriter.INSERT_IMPLEMENTATION != "c":
        require_or_skip("NASBENCH_REQUIRE_CEXT", "the C bulk insert (_sqlitebulk) was not built or cannot reach "
                        "the SQLite of Python's sqlite3 module")


def _tables(n: int):
    rng = random.Random(n)
    ids = pa.array(range(1, n + 1), pa.int64())
    config = pa.table({
        "id": ids,
        "name": pa.array([None if i % 7 == 3 else rng.choice(STRINGS) + str(i) for i in range(n)], pa.string()),
        "count": pa.array([rng.randrange(-2**63, 2**63) for _ in range(n)], pa.int64()),
        "score": pa.array([None if i % 5 == 1 else rng.choice(FLOATS) * rng.random() for i in range(n)]),
    })
    trial = pa.table({"id": ids, "config_id": ids, "value": pa.array([rng.choice(FLOATS) for _ in range(n)]),
                      "note": pa.array([rng.choice(STRINGS) for _ in range(n)])})
    step = pa.table({"id": pa.array(range(1, 2 * n + 1), pa.int64()), "trial_id": pa.array(
        [i // 2 + 1 for i in range(2 * n)], pa.int64()), "epoch": pa.array([i % 2 for i in range(2 * n)], pa.int64())})
    # sliced tables: the batches' arrays start at non-zero Arrow offsets
    for name, table in (("config", config), ("trial", trial), ("step", step)):
        half = table.num_rows // 3
        yield name, table.slice(0, half)
        yield name, table.slice(half)


def _write(path, monkeypatch, implementation: str, tables) -> bytes:
    if implementation == "python":
        monkeypatch.setattr(tablewriter, "_BULK", None)
    monkeypatch.setattr(tablewriter, "INSERT_CHUNK_ROWS", 1000)  # several chunks per batch
    write_tables(MODELS, tables, db_path=path)
    return path.read_bytes()


def test_c_and_python_paths_write_identical_databases(tmp_path, monkeypatch):
    c = _write(tmp_path / "c.db", monkeypatch, "c", _tables(5000))
    python = _write(tmp_path / "python.db", monkeypatch, "python", _tables(5000))
    assert c == python
    import sqlite3
    rows = sqlite3.connect(tmp_path / "c.db").execute("SELECT name, count, score FROM config ORDER BY id").fetchall()
    want = next(t for n, t in _tables(5000) if n == "config").to_pylist()  # the first slice's rows
    assert rows[:len(want)] == [(r["name"], r["count"], r["score"]) for r in want]


def test_the_c_path_is_the_one_that_ran(tmp_path, monkeypatch):
    calls = []
    real = tablewriter._BULK.insert
    monkeypatch.setattr(tablewriter._BULK, "insert", lambda *a: calls.append(a[2]) or real(*a), raising=False)
    write_tables(MODELS, _tables(300), db_path=tmp_path / "s.db")
    assert sum(calls) == 300 + 300 + 600


@pytest.mark.parametrize("bad_row", [0, 1, 999, 1000, 1333])
def test_a_refused_row_gives_the_same_error_in_both_paths(tmp_path, monkeypatch, bad_row):
    def tables():
        for name, table in _tables(2000):
            if name == "trial" and table.num_rows > 1000:  # the second slice: a NaN in a NOT NULL column
                values = table.column("value").to_pylist()
                values[bad_row] = math.nan
                table = table.set_column(2, "value", pa.array(values, pa.float64()))
            yield name, table
    messages = []
    for implementation in ("c", "python"):
        path = tmp_path / f"{implementation}.db"
        with pytest.raises(TableWriteError) as info:
            _write(path, monkeypatch, implementation, tables())
        assert not path.exists(), "a failed write left its output under the final name"
        messages.append(str(info.value).replace(str(path), "DB"))
    assert messages[0] == messages[1]
    assert f"refused row {bad_row % 1000 + 1} of a batch for table trial" in messages[0]  # batches of 1000
    assert "NOT NULL" in messages[0]


def test_a_closed_connection_is_refused(tmp_path):
    import sqlite3
    conn = sqlite3.connect(tmp_path / "x.db")
    assert tablewriter._BULK.filename(conn).endswith("x.db")
    conn.close()
    with pytest.raises(ValueError, match="closed"):
        tablewriter._BULK.filename(conn)


def test_blocks_of_rows_write_the_bytes_of_one_row_per_statement(tmp_path, monkeypatch):
    blocks = _write(tmp_path / "blocks.db", monkeypatch, "c", _tables(3000))
    monkeypatch.setattr(tablewriter, "BLOCK_ROWS", 1)
    rows = _write(tmp_path / "rows.db", monkeypatch, "c", _tables(3000))
    assert blocks == rows


def _duplicate_id(row: int):
    """The trial table with row `row` of its second slice given the id of the row before it."""
    for name, table in _tables(2000):
        if name == "trial" and table.num_rows > 1000:
            ids = table.column("id").to_pylist()
            ids[row] = ids[row - 1]
            table = table.set_column(0, "id", pa.array(ids, pa.int64()))
        yield name, table


@pytest.mark.parametrize("row", [5, 40, 1300, 1325])
def test_a_refused_row_inside_a_block_of_rows_names_the_block(tmp_path, monkeypatch, row):
    """A duplicate id is refused by a multi-row INSERT, which may keep the rows before it: the C path
    abandons the write naming the block; the Python path names the row. Neither leaves a file. The
    second slice (1334 rows) goes in chunks of 1000 and 334 rows, whose last 14 go one at a time."""
    at = row % 1000  # the row's place in its chunk
    first = at // 32 * 32
    in_block = row < 1000 or first + 32 <= 334
    for implementation, shown in (("c", f"refused one of rows {first + 1}-{first + 32} of a batch" if in_block
                                   else f"refused row {at + 1} of a batch"),
                                  ("python", f"refused row {at + 1} of a batch")):
        path = tmp_path / f"{implementation}.db"
        with pytest.raises(TableWriteError) as info:
            _write(path, monkeypatch, implementation, _duplicate_id(row))
        assert shown in str(info.value) and "UNIQUE constraint failed: trial.id" in str(info.value)
        assert "table trial" in str(info.value) and not path.exists()


@pytest.mark.parametrize("implementation", ["c", "python"])
def test_a_full_disk_is_sqlites_error_not_a_refused_row(tmp_path, monkeypatch, implementation):
    if implementation == "python":
        monkeypatch.setattr(tablewriter, "_BULK", None)
    path = tmp_path / "full.db"
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        with tablewriter.SqliteTables(path, MODELS) as writer:
            writer._conn.execute("PRAGMA max_page_count = 40")  # a disk that fills after ~160 KB
            for name, table in _tables(5000):
                writer.write(name, table)
    assert not path.exists()
