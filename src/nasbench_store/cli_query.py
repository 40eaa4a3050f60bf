"""`nasbench-store query BENCHMARK`: NNI's query functions from the command line, and SQL over Parquet.

Each benchmark's options are its NNI query function's parameters (`FILTERS`; tests/test_cli_query.py
checks that they cover the function's signature). Values a function checks itself (op names,
datasets, epoch counts) are passed through, so a wrong one is the function's QueryError listing
what is valid. `--sql` runs DuckDB (an optional dependency) with one view per table of the
benchmark, each over its Parquet file.
"""
from __future__ import annotations

import argparse
import inspect
import itertools
import json
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import NasbenchStoreError, QueryError, StoreNotFoundError
from .nasbench101.graph import AVAILABLE_OPS, spec_to_arch
from .nasbench101.query import EPOCHS as NB101_EPOCHS
from .nasbench201.constants import DATASETS as NB201_DATASETS
from .nasbench201.constants import EPOCHS as NB201_EPOCHS
from .nds.constants import DATASETS as NDS_DATASETS
from .nds.constants import GENERATORS, MODEL_FAMILIES, PROPOSERS
from .paths import ENV_STORE_DIR, default_store_dir
from .registry import BENCHMARKS, get
from .tabular import FORMATS, write_rows

NB101_ARCH = {"op1": "conv3x3-bn-relu", "op2": "maxpool3x3", "input1": [0], "input2": [1], "input3": [2]}
NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


class SQLUnavailableError(NasbenchStoreError):
    """DuckDB, an optional dependency, is not installed."""


def json_value(what: str) -> Callable[[str], object]:
    """An argparse type: the text parsed as JSON; otherwise a usage error naming the option."""
    def parse(text: str):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{what} is not valid JSON ({exc}): {text!r}") from None
    return parse


def nb201_arch(text: str):
    """The arch string as given, or NNI's dict when the text is a JSON object."""
    return json_value("--arch")(text) if text.lstrip().startswith("{") else text


def _nasbench101(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", type=json_value("--arch"), metavar="JSON",
                   help="the cell, as NNI's dict (keys op1..opN with ops "
                        f"{', '.join(AVAILABLE_OPS)}, and input1..inputN+1 listing each vertex's inputs) or as "
                        "{\"matrix\": [[0,1,...],...], \"ops\": [\"input\",...,\"output\"]} (nasbench's ModelSpec); "
                        "default: every cell")
    p.add_argument("--epochs", dest="num_epochs", type=int, metavar="N",
                   help=f"training budget: {', '.join(map(str, NB101_EPOCHS))} (default: all)")
    p.add_argument("--no-isomorphism", dest="isomorphism", action="store_false",
                   help="match the arch exactly as written; by default any equivalent cell matches "
                        "(same graph hash after pruning)")


def _nasbench201(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", type=nb201_arch, metavar="ARCH",
                   help="the cell, as the release's string (|op~0|+|op~0|op~1|+|op~0|op~1|op~2|) or NNI's "
                        "JSON dict ({\"0_1\": \"conv_3x3\", ...}); default: every cell")
    p.add_argument("--epochs", dest="num_epochs", type=int, metavar="N",
                   help=f"training schedule: {' or '.join(map(str, NB201_EPOCHS))} (default: both)")
    p.add_argument("--dataset", metavar="NAME",
                   help=f"{', '.join(NB201_DATASETS)}, in any case (default: all)")


def _nds(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-family", metavar="NAME", help=f"{', '.join(MODEL_FAMILIES)} (default: all)")
    p.add_argument("--proposer", metavar="NAME", help=f"{', '.join(PROPOSERS)} (default: all)")
    p.add_argument("--generator", metavar="NAME", help=f"{', '.join(GENERATORS)} (default: all)")
    p.add_argument("--model-spec", type=json_value("--model-spec"), metavar="JSON",
                   help="the config's model_spec, a JSON object compared as a whole (default: any)")
    p.add_argument("--cell-spec", type=json_value("--cell-spec"), metavar="JSON",
                   help="the config's cell_spec, a JSON object compared as a whole; {} for non-cell "
                        "families (default: any)")
    p.add_argument("--dataset", metavar="NAME", help=f"{', '.join(NDS_DATASETS)} (default: both)")
    p.add_argument("--epochs", dest="num_epochs", type=int, metavar="N", help="training epochs (default: all)")


# Per benchmark: adds one option per parameter of its query function except the common ones.
FILTERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "nasbench101": _nasbench101,
    "nasbench201": _nasbench201,
    "nds": _nds,
}
# The parameters whose option has a default other than None (any other value means the option was given).
DEFAULTS = {"isomorphism": True, "include_intermediates": False}
EXAMPLES = {
    "nasbench101": [f"--arch '{json.dumps(NB101_ARCH)}' --epochs 108 --reduction mean",
                    "--epochs 108 --format csv > nb101-108.csv",
                    "--sql 'SELECT num_vertices, COUNT(*) FROM nb101trialconfig GROUP BY 1'"],
    "nasbench201": [f"--arch '{NB201_ARCH}' --epochs 200 --dataset cifar100 --reduction mean",
                    "--dataset imagenet16-120 --epochs 200 --intermediates --format jsonl"],
    "nds": ["--model-family residual_basic --proposer resnet --generator random --dataset cifar10",
            "--sql 'SELECT proposer, COUNT(*) FROM ndstrialconfig GROUP BY 1 ORDER BY 2 DESC'"],
}


def add_parser(sub, parents) -> argparse.ArgumentParser:
    """The `query` command with one sub-command per benchmark of the registry."""
    p = sub.add_parser(
        "query", help="query a store from the shell: NNI's filters as options, or SQL",
        description="Query a benchmark's store with the same filters as NNI's query functions "
                    "(query_nb101_trial_stats, query_nb201_trial_stats, query_nds_trial_stats), or with SQL "
                    "over its Parquet tables. Run `nasbench-store query BENCHMARK --help` for its options.",
        epilog="Accuracies are in percent, times in seconds. Exit status: 0 ok, 1 a bad value (the message "
               "lists the valid ones) or no store, 2 a usage error.")
    benchmarks = p.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK",
                                  title="benchmarks")
    for name, bench in BENCHMARKS.items():
        fn = bench.query
        epilog = "examples:\n" + "\n".join(f"  nasbench-store query {name} {e}" for e in EXAMPLES.get(name, ()))
        q = benchmarks.add_parser(
            name, parents=parents, help=f"{bench.title} ({fn})",
            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog,
            description=textwrap.fill(f"{bench.title} trial statistics, as NNI's {fn}() returns them: one row "
                                      f"per run (per config with --reduction mean). Every filter is optional; "
                                      f"none means every run. Accuracies are in percent, times in seconds.", 88))
        filters = q.add_argument_group("filters (the arguments of NNI's function)")
        FILTERS.get(name, lambda _: None)(filters)
        filters.add_argument("--reduction", choices=("none", "mean"), default=None,
                             help="mean: one row per config, averaged over its runs (seeds), with "
                                  "num_trials; none (default): one row per run")
        filters.add_argument("--intermediates", dest="include_intermediates", action="store_true",
                             help="add each run's per-epoch results (a list under 'intermediates')")
        out = q.add_argument_group("output")
        out.add_argument("--format", choices=FORMATS, default="table",
                         help="table (default; long values are cut at 60 characters), jsonl (one JSON object "
                              "per row, NNI's nesting) or csv (nested values as JSON)")
        out.add_argument("--limit", type=int, metavar="N", help="print at most N rows")
        out.add_argument("--sql", metavar="QUERY",
                         help=f"run QUERY with DuckDB instead of the filters; the tables "
                              f"{', '.join(parquet_tables(name))} are views over the store's Parquet files "
                              f"(needs duckdb: pip install 'nasbench-store[duckdb]')")
        q.set_defaults(func=run, parser=q)
    return p


def parameters(benchmark: str) -> list[str]:
    """The query function's parameters, in its order: the options set them by name (`dest`)."""
    return list(inspect.signature(get(benchmark).query_function).parameters)


def run(args: argparse.Namespace) -> int:
    bench = get(args.benchmark)
    store_dir = Path(args.store_dir) if args.store_dir else default_store_dir()
    params = parameters(bench.name)
    if args.limit is not None and args.limit < 0:
        args.parser.error("--limit must be 0 or more")
    if args.sql is not None:
        flags = {a.dest: a.option_strings[0] for a in args.parser._actions if a.option_strings}
        given = [flags[p] for p in params if getattr(args, p) != DEFAULTS.get(p)]
        if given:
            args.parser.error(f"--sql runs the SQL as written: leave out the filters ({', '.join(given)})")
        columns, rows = sql_rows(bench.name, args.sql, store_dir)
    else:
        kwargs = {p: CONVERT.get(bench.name, {}).get(p, lambda v: v)(getattr(args, p)) for p in params}
        columns, rows = None, _query(bench, kwargs, store_dir)
    if args.limit is not None:
        rows = itertools.islice(rows, args.limit)
    write_rows(rows, args.format, sys.stdout, columns)
    return 0


def _query(bench, kwargs: dict, store_dir: Path) -> list[dict]:
    """Call the NNI query function on `store_dir` (it reads NASBENCHMARK_DIR when called)."""
    before = os.environ.get(ENV_STORE_DIR)
    os.environ[ENV_STORE_DIR] = str(store_dir)
    try:
        return list(bench.query_function(**kwargs))
    finally:
        if before is None:
            os.environ.pop(ENV_STORE_DIR, None)
        else:
            os.environ[ENV_STORE_DIR] = before


def nb101_arch(arch):
    """NNI's dict as given; nasbench's {"matrix", "ops"} converted to it; anything else a QueryError."""
    if arch is None:
        return None
    if not isinstance(arch, dict):
        raise QueryError(f"--arch must be a JSON object (NNI's dict, or {{\"matrix\": ..., \"ops\": ...}}), "
                         f"not {type(arch).__name__}")
    if set(arch) != {"matrix", "ops"}:
        return arch
    matrix, ops = arch["matrix"], arch["ops"]
    n = len(ops) if isinstance(ops, list) else -1
    if n < 2 or not all(isinstance(op, str) for op in ops):
        raise QueryError("--arch 'ops' must be a list of op names from 'input' to 'output'")
    if not (isinstance(matrix, list) and len(matrix) == n and
            all(isinstance(row, list) and len(row) == n and all(v in (0, 1) for v in row) for row in matrix)):
        raise QueryError(f"--arch 'matrix' must be a {n}x{n} list of 0/1 rows, one per op")
    return spec_to_arch(matrix, ops)


def parquet_tables(benchmark: str) -> list[str]:
    """Every table the benchmark publishes as Parquet: NNI's three, then any others of the registry entry."""
    bench = get(benchmark)
    return [*bench.tables, *(Path(rel).stem for rel in bench.published_files
                             if rel.endswith(".parquet") and Path(rel).stem not in bench.tables)]


# Option values that need more than the option's type before the query function gets them.
CONVERT = {"nasbench101": {"arch": nb101_arch}}


def sql_rows(benchmark: str, sql: str, store_dir: Path) -> tuple[list[str], Iterator[dict]]:
    """Run `sql` in DuckDB with a view per table of the benchmark; (column names, rows as dicts)."""
    try:
        import duckdb
    except ImportError:
        raise SQLUnavailableError("--sql needs DuckDB, an optional dependency: pip install 'nasbench-store[duckdb]' "
                                  "(or pip install duckdb)") from None
    bench = get(benchmark)
    con = duckdb.connect(":memory:")
    for table in parquet_tables(benchmark):
        path = store_dir / bench.parquet_file(table)
        if not path.is_file():
            if table not in bench.tables:
                continue  # a table added after this store was built
            raise StoreNotFoundError(f"{path} does not exist: there is no {benchmark} store in {store_dir}")
        quoted = str(path).replace("'", "''")
        con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM read_parquet(\'{quoted}\')')
    try:
        cursor = con.execute(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL: {exc}") from None
    if cursor.description is None:
        return [], iter(())
    columns = _unique([d[0] for d in cursor.description])

    def rows() -> Iterator[dict]:
        while True:
            try:
                batch = cursor.fetchmany(10_000)
            except duckdb.Error as exc:
                raise QueryError(f"SQL: {exc}") from None
            if not batch:
                return
            yield from (dict(zip(columns, row)) for row in batch)
    return columns, rows()


def _unique(names: list[str]) -> list[str]:
    """Column names made distinct (a join's two `id`s become id and id_2), so no value is lost."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out
