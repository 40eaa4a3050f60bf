"""`nasbench-store`: see what your stores hold, query them, build them, verify and repair them."""
from __future__ import annotations

import argparse
import json
import os
import pprint
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

from . import __version__, cli_query
from .errors import NasbenchStoreError, StoreNotFoundError
from .manifest import read_manifest
from .paths import default_store_dir
from .registry import BENCHMARKS, get
from .status import format_text, store_status
from .verify import verify_store
from .workflow_files import configured_store_dir, load_config, workflow_root

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Targets of the workflow a user names on the command line (rule names work too, but these are documented).
TARGETS = (*BENCHMARKS, "all", "verify")
# Options that tell Snakemake how many cores or jobs to use; without one, `build` adds --cores all.
CORES_OPTIONS = ("--cores", "--jobs", "--profile")
# Snakemake options taking one or more values, after which a target would be read as one more value.
LIST_OPTIONS = ("--configfile", "--configfiles", "--config", "-C")
STORE_HELP = "the store directory (default: $NASBENCHMARK_DIR if set, else ~/.cache/nasbench-store)"
DESCRIPTION = """\
NAS-Bench-101, NAS-Bench-201 and NDS as verified SQLite + Parquet stores, queried like NNI.

Start with `nasbench-store demo` (small sample stores, no download), then
`nasbench-store status` and `nasbench-store query nasbench101 --help`."""
EPILOG = """\
Stores live in $NASBENCHMARK_DIR if set, else ~/.cache/nasbench-store (config key store_dir).
`nasbench-store COMMAND --help` explains each command.
Exit status: 0 ok, 1 failure (the message says what to do), 2 usage error."""


def _wrap(text: str, width: int = 88) -> str:
    """Paragraphs (separated by blank lines) filled to `width`, for the raw help formatter."""
    paragraphs = (" ".join(par.split()) for par in text.split("\n\n"))
    return "\n\n".join(textwrap.fill(par, width, break_on_hyphens=False) for par in paragraphs)


def _workflow_root() -> Path:
    """The workflow this package runs: the checkout it was imported from, else the installed copy."""
    return workflow_root()


def _show(row: dict) -> None:
    print(pprint.pformat(row, width=110, sort_dicts=False))


def _run(cmd: list[str]) -> int:
    """Run a command, echoed first; Ctrl-C reaches Snakemake too, which stops cleanly: wait for it."""
    print("+", shlex.join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue


def _exit_code(returncode: int) -> int:
    """Snakemake's usage errors stay 2; any other failure is 1."""
    return returncode if returncode in (0, 2) else 1


# --- demo, verify, repair ----------------------------------------------------------------------

def demo(args) -> int:
    root = _workflow_root()
    workdir = Path(args.directory).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    base = [*SNAKEMAKE, "--snakefile", str(root / "Snakefile"), "--directory", str(workdir), "--cores", str(args.cores)]
    config = ["--configfile", str(root / "demo" / "config.yaml")]
    for cmd in ([*base, *config], [*base, "verify", *config]):
        if _run(cmd):
            print(f"the demo build failed (see above); Snakemake's log is in {workdir / '.snakemake' / 'log'}",
                  file=sys.stderr)
            return 1
    store = workdir / "demo" / "store"
    os.environ["NASBENCHMARK_DIR"] = str(store)
    for benchmark in read_manifest(store)["benchmarks"]:
        call, rows = get(benchmark).sample()
        print(f"\n{call}:")
        for row in rows:
            _show(row)
    print(f"\nThe demo stores are in {store}; query them with NASBENCHMARK_DIR={store} "
          f"or `nasbench-store query BENCHMARK --store-dir {store}`")
    return 0


def repair(args, snakemake_args) -> int:
    root = _workflow_root()
    base = [*SNAKEMAKE, "--snakefile", str(root / "Snakefile"), "--cores", str(args.cores)]
    for targets in ([args.benchmark, "--forcerun", "tables_sqlite", "tables_parquet"], ["verify"]):
        if _run([*base, *targets, *snakemake_args]):
            return 1
    return 0


def report(args) -> int:
    from .report import write_report
    html = write_report(args.store_dir, args.output, args.benchmarks or None, cores=args.cores)
    print(f"wrote {html}")
    return 0


def verify(args) -> int:
    problems = verify_store(args.store_dir, args.benchmarks or None)
    for p in problems:
        print(f"FAIL {p}")
    if not (Path(args.store_dir) / "manifest.json").exists():
        store = shlex.quote(str(args.store_dir))
        where = "" if args.store_dir == default_store_dir() else f" --config store_dir={store}"
        print(f"build a store there: nasbench-store build{where}")
    if problems:
        return 1
    print(f"OK {args.store_dir}: every file matches SHA256SUMS and every check passed")
    return 0


# --- build ---------------------------------------------------------------------------------------

def snakemake_args(argv: list[str], root: Path, env=os.environ) -> list[str]:
    """`build`'s arguments as Snakemake gets them.

    A target written after --configfile's files or --config's KEY=VALUE pairs (which Snakemake
    would read as one more of those) is moved to the front; --profile NAME finds this project's
    profiles (local, slurm) when NAME is not a path that exists; without --cores/--jobs/--profile
    (or $SNAKEMAKE_PROFILE), --cores all is added.
    """
    out, targets = [], []
    has_cores = bool(env.get("SNAKEMAKE_PROFILE"))
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in CORES_OPTIONS or (arg[:2] in ("-c", "-j") and not arg.startswith("--")):
            has_cores = True
        if name == "--profile":
            if eq:
                out.append(f"--profile={resolve_profile(value, root)}")
            else:
                out.append(arg)
                if i + 1 < len(argv):
                    i += 1
                    out.append(resolve_profile(argv[i], root))
        elif arg in LIST_OPTIONS:
            out.append(arg)
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                misplaced = argv[i] in TARGETS and not Path(argv[i]).exists()  # not a file, nor KEY=VALUE
                (targets if misplaced else out).append(argv[i])
        else:
            out.append(arg)
        i += 1
    return [*targets, *out, *([] if has_cores else ["--cores", "all"])]


def resolve_profile(value: str, root: Path) -> str:
    """A profile path that exists as given wins; else this project's profiles/NAME (or the path under the
    workflow); else the value as given (Snakemake then looks in ~/.config/snakemake and /etc/xdg/snakemake)."""
    if value == "none" or Path(value).expanduser().exists():
        return value
    for candidate in (root / "profiles" / value, root / value):
        if candidate.is_dir():
            return str(candidate)
    return value


def build(argv: list[str]) -> int:
    root = _workflow_root()
    return _exit_code(_run([*SNAKEMAKE, "--snakefile", str(root / "Snakefile"), *snakemake_args(argv, root)]))


# --- status --------------------------------------------------------------------------------------

def status(args) -> int:
    configfiles = [Path(f).absolute() for f in args.configfile]
    config = load_config(configfiles)
    configured = list(config.get("benchmarks", list(BENCHMARKS)))
    default_dir = configured_store_dir(config)
    statuses = []
    for store_dir in args.store_dir or [default_dir]:
        store_dir = Path(store_dir).expanduser().absolute()
        fix_args = [a for f in configfiles for a in ("--configfile", str(f))]
        if store_dir != default_dir:
            fix_args = ["--config", f"store_dir={store_dir}", *fix_args]
        statuses.append(store_status(store_dir, configured, full=args.full, fix_args=fix_args))
    ok = all(s.ok for s in statuses)
    if args.json:
        print(json.dumps({"ok": ok, "version": __version__, "configured": configured,
                          "stores": [s.to_json() for s in statuses]}, indent=2))
    else:
        print(format_text(statuses))
    return 0 if ok else 1


# --- the parser ----------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    ap = argparse.ArgumentParser(prog="nasbench-store", description=DESCRIPTION, epilog=EPILOG, formatter_class=raw)
    ap.add_argument("--version", action="version", version=f"nasbench-store {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    p = sub.add_parser(
        "status", help="what each store holds, and whether it is intact and complete",
        formatter_class=raw,
        description=_wrap("One table per store directory: for each benchmark its files, size, row counts, the raw "
                    "input it was built from (name, sha256, whether it is the release config.yaml names), the "
                    "nasbench-store version that built it, and whether its files still match SHA256SUMS.\n\n"
                    "The default check is quick and reads no file contents: every file must be present, have "
                    "the size manifest.json records, and not be newer than SHA256SUMS (or than the last --full "
                    "check that passed). It finds deleted, truncated and rewritten files, but not a change that "
                    "keeps size and mtime (a file swapped with `cp -p`, bit rot): --full re-hashes every file "
                    "and re-checks every table, as `nasbench-store verify` does. When a full check passes, the "
                    "files' sizes and mtimes are recorded (in ~/.cache/nasbench-store-status, or under "
                    "$XDG_CACHE_HOME; not in the store), so a store copied without its mtimes passes quick "
                    "checks again."),
        epilog=_wrap("Exit status 1 when a benchmark the config builds (its `benchmarks` list) is missing, or "
                     "any benchmark is damaged; the output gives the command that builds or repairs it.")
        + "\n\nexamples:\n"
               "  nasbench-store status\n  nasbench-store status --store-dir demo/store --full\n"
               "  nasbench-store status --configfile mine.yaml --json")
    p.add_argument("--store-dir", action="append", type=Path, metavar="DIR",
                   help="a store directory; repeat for several (default: store_dir of the config, which is "
                        "$NASBENCHMARK_DIR if set, else ~/.cache/nasbench-store)")
    p.add_argument("--configfile", nargs="+", action="extend", default=[], metavar="FILE",
                   help="config files merged over the workflow's config.yaml, as for `build` (they say which "
                        "benchmarks must be present, and the default store_dir)")
    p.add_argument("--full", action="store_true", help="re-hash every file and re-check every table (slow on "
                                                        "the real stores: minutes)")
    p.add_argument("--json", action="store_true", help="print the same as JSON, for scripts")
    p.set_defaults(func=status, parser=p)

    cli_query.add_parser(sub, parents=[_store_dir_parser()])

    p = sub.add_parser(
        "build", help="build stores: run this project's Snakemake workflow",
        usage="nasbench-store build [TARGET ...] [--cores N | --profile P] [--configfile FILE ...] "
              "[other snakemake options]",
        formatter_class=raw,
        description=_wrap("Run the workflow that downloads the raw releases and builds the stores "
                    "(the Snakefile of this installation). Every option is Snakemake's and is passed on; "
                    "`snakemake --help` lists them all. Snakemake runs in the current directory (or "
                    "--directory DIR): relative paths in config files are relative to it, and it keeps its "
                    "records in .snakemake/ there, so run later builds from the same place."),
        epilog="targets (default: all):\n"
               "  all          every benchmark in the config's `benchmarks` list\n"
               "  verify       re-hash and re-check the published store\n"
               + "".join(f"  {b.name:<12} {b.title} only\n" for b in BENCHMARKS.values()) + "\n"
               "options most used:\n"
               "  --cores N            run up to N jobs at once (default: all, every CPU of this machine)\n"
               "  --profile P          settings for where jobs run: local or slurm (this project's profiles,\n"
               "                       see the README), or the path of your own profile\n"
               "  --configfile FILE    YAML merged key by key over the workflow's config.yaml\n"
               "                       (store_dir, sources.<benchmark>.path, ...)\n"
               "  --config KEY=VALUE   set one config key, e.g. --config store_dir=/data/nasbench\n"
               "  -n, --dry-run        show what would run\n"
               "  --use-conda          run each job in the conda env of envs/nasbench-store.yaml (the\n"
               "                       dependencies; the jobs run this installation's nasbench_store),\n"
               "                       made once under .snakemake/conda, or --conda-prefix DIR to share it\n\n"
               "examples:\n  nasbench-store build nasbench101 --cores 8\n"
               "  nasbench-store build --profile slurm --configfile mine.yaml\n"
               "  nasbench-store build verify --cores 2")

    p = sub.add_parser("demo", help="build small demo stores from generated sample raw files (no download)",
                       description="Generate sample raw files in the real formats, build the three stores "
                                   "from them with the real workflow, verify them and print a sample query "
                                   "per benchmark. Writes demo/raw and demo/store (and Snakemake's .snakemake/) "
                                   "under --directory.")
    p.add_argument("--cores", type=int, default=2, metavar="N", help="jobs at once (default: 2)")
    p.add_argument("--directory", "-d", default=".", metavar="DIR",
                   help="where to write demo/raw, demo/store and .snakemake/ (default: the current directory)")
    p.set_defaults(func=demo, parser=p)

    p = sub.add_parser("verify", help="re-hash and re-check a store (slow on the real stores: minutes)",
                       description="Re-hash every file against SHA256SUMS, re-count every table against "
                                   "manifest.json, compare Parquet with SQLite and check each benchmark's "
                                   "invariants. Lists every problem with the command that repairs it.")
    _add_store_benchmarks(p)
    p.set_defaults(func=verify, parser=p)

    p = sub.add_parser("report", help="an HTML report of a store: integrity page and plots",
                       description="Make the build report of a store without the rest of the workflow: an "
                                   "integrity page (sources, raw digests, row counts, a fresh verify, versions) "
                                   "and the plots of every benchmark in it (accuracy vs size, distributions, "
                                   "rank correlation between budgets, learning curves, NDS error distributions). "
                                   "Nothing is written into the store.")
    p.add_argument("--output", "-o", type=Path, default=Path("report.html"), metavar="FILE",
                   help="the HTML file to write (default: report.html)")
    p.add_argument("--cores", type=int, default=2, metavar="N", help="plots made at once (default: 2)")
    _add_store_benchmarks(p)
    p.set_defaults(func=report, parser=p)

    p = sub.add_parser("repair", help="rebuild a benchmark's published files from its raw input, then verify",
                       description="Rebuild BENCHMARK's tables from its raw input (no download), republish them "
                                   "and verify the store. Options after BENCHMARK go to snakemake: give the "
                                   "--configfile options you built with. Runs in the current directory, "
                                   "as `build` does.")
    p.add_argument("benchmark", metavar="BENCHMARK", choices=list(BENCHMARKS),
                   help=f"one of {', '.join(BENCHMARKS)}")
    p.add_argument("--cores", type=int, default=2, metavar="N", help="jobs at once (default: 2)")
    p.set_defaults(func=repair, parser=p)
    return ap


def _add_store_benchmarks(p: argparse.ArgumentParser) -> None:
    """The arguments of the commands that read one store: its directory and which benchmarks."""
    p.add_argument("--store-dir", type=Path, default=default_store_dir(), metavar="DIR", help=STORE_HELP)
    p.add_argument("benchmarks", nargs="*", metavar="BENCHMARK",
                   help=f"one or more of {', '.join(BENCHMARKS)} (default: every benchmark in the store)")


def _store_dir_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--store-dir", type=Path, metavar="DIR", help=STORE_HELP)
    return p


def _missing_store_hint(exc: StoreNotFoundError, args) -> str:
    benchmark = getattr(args, "benchmark", None)
    if benchmark not in BENCHMARKS:
        return str(exc)
    store_dir = getattr(args, "store_dir", None)
    where = f" --config store_dir={shlex.quote(str(store_dir))}" if store_dir else ""
    return f"{exc}\nbuild it: nasbench-store build {benchmark}{where}"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = _parser()
    args = None
    try:
        if argv[:1] == ["build"] and not {"-h", "--help"} & set(argv[1:]):
            return build(argv[1:])
        args, rest = ap.parse_known_args(argv)
        if args.func is repair:
            return args.func(args, rest)
        if rest:  # reported by the command's own parser, whose usage line is the one that helps
            getattr(args, "parser", ap).error(f"unrecognized arguments: {' '.join(rest)}")
        return args.func(args)
    except StoreNotFoundError as exc:
        print(f"error: {_missing_store_hint(exc, args)}", file=sys.stderr)
    except NasbenchStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except BrokenPipeError:  # the reader of our output stopped early (| head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
