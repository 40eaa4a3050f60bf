"""The registry is the one list of benchmarks: everything that names benchmarks or tables agrees with it."""
from __future__ import annotations

import re
import subprocess
import sys

import pyarrow as pa
import pytest
import yaml
from helpers import REPO

from nasbench_store import frames, registry
from nasbench_store.errors import QueryError
from nasbench_store.parts import RowNumbers, chunks, explode_curves, job_items, job_slice, rebatch
from nasbench_store.sqlite_query import TrialTables

NAMES = list(registry.BENCHMARKS)


def test_every_benchmark_has_the_modules_its_entry_promises():
    for entry in registry.BENCHMARKS.values():
        assert len(entry.models) == 3 and len(set(entry.tables)) == 3
        assert callable(entry.query_function) and entry.query_function.__name__ == entry.query
        for name in ("convert", "checks", "query"):
            assert entry.module(name).__name__ == f"nasbench_store.{entry.name}.{name}"
        assert entry.published_files[0] == f"{entry.name}.db"
        assert entry.stored_tables[:3] == entry.tables and len(set(entry.stored_tables)) == len(entry.stored_tables)
        assert entry.published_files[1:] == tuple(f"{entry.name}/{t}.parquet" for t in entry.stored_tables)
        # the subpackage exports the query function and the models under NNI's names
        package = __import__(entry.package, fromlist=["*"])
        assert getattr(package, entry.query) is entry.query_function
        assert all(getattr(package, m.__name__) is m for m in entry.models)


def test_models_are_bound_to_the_registry_database_file():
    for entry in registry.BENCHMARKS.values():
        assert {m._meta.database.filename for m in entry.models} == {entry.db_filename}


def test_query_column_lists_are_derived_from_the_models():
    nb201 = TrialTables.of("nasbench201")
    assert nb201.config_columns == ("arch", "num_epochs", "num_channels", "num_cells", "dataset")
    assert nb201.not_averaged == {"seed"} and nb201.json_columns == {"arch"}
    assert TrialTables.of("nasbench101").stats_columns == ("train_acc", "valid_acc", "test_acc", "parameters",
                                                           "training_time")
    assert TrialTables.of("nds").json_columns == {"model_spec", "cell_spec"}


def test_config_schema_lists_exactly_the_registered_benchmarks():
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    assert schema["properties"]["benchmarks"]["items"]["enum"] == NAMES
    assert schema["properties"]["sources"]["propertyNames"]["enum"] == NAMES


def test_every_benchmark_has_a_rules_file_and_a_target():
    for name in NAMES:
        assert (REPO / "rules" / f"{name}.smk").is_file()
    out = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules", "--configfile",
                          str(REPO / "demo" / "config.yaml")], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    rules = set(re.findall(r"^(\w+)", out.stdout, re.M))
    assert set(NAMES) <= rules and {"all", "verify", "tables_sqlite", "tables_parquet", "publish"} <= rules


def test_unknown_names_say_what_is_valid():
    with pytest.raises(QueryError, match="valid: nasbench101, nasbench201, nds"):
        registry.get("nasbench301")
    with pytest.raises(QueryError, match="valid: nasbench101, nasbench201, nds"):
        frames.read_table("nb101", "nb101trialstats")
    with pytest.raises(QueryError, match="valid: nb101trialconfig"):
        frames.read_table("nasbench101", "ndstrialstats")


@pytest.mark.parametrize("n", [0, 1, 7, 100, 2_085_986_016])
@pytest.mark.parametrize("count", [1, 2, 3, 8, 13])
def test_job_slices_cover_everything_once_in_order(n, count):
    slices = [job_slice(n, i, count) for i in range(count)]
    assert slices[0][0] == 0 and slices[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(slices, slices[1:]))
    assert max(b - a for a, b in slices) - min(b - a for a, b in slices) <= 1
    items = list(range(min(n, 100)))
    assert sum((job_items(items, i, count) for i in range(count)), []) == items


def test_job_index_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="not in 0..2"):
        job_slice(10, 3, 3)


def test_row_numbers_and_curve_explosion_continue_across_batches():
    trials, rows = RowNumbers(), RowNumbers()
    out = []
    for curves in ([[0.1, 0.2], [0.3]], [[], [0.4, 0.5, 0.6]]):
        array = pa.array(curves, pa.list_(pa.float64()))
        out.append(explode_curves([array], trials, rows))
    (ids1, trial1, pos1, flat1), (ids2, trial2, pos2, flat2) = out
    assert ids1.tolist() == [1, 2, 3] and trial1.tolist() == [1, 1, 2] and pos1.tolist() == [1, 2, 1]
    assert ids2.tolist() == [4, 5, 6] and trial2.tolist() == [4, 4, 4] and pos2.tolist() == [1, 2, 3]
    assert flat1[0].to_pylist() == [0.1, 0.2, 0.3] and trials.next == 5


def test_rebatch_and_chunks_shape_batches():
    batches = [pa.record_batch([pa.array(range(a, b))], names=["x"]) for a, b in ((0, 3), (3, 4), (4, 10))]
    assert [b.num_rows for b in rebatch(batches, 4)] == [4, 4, 2]
    assert [v for b in rebatch(batches, 4) for v in b.column(0).to_pylist()] == list(range(10))
    assert [b.num_rows for b in chunks(batches[2], 4)] == [4, 2]
