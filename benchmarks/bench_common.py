"""Shared by the benchmark scripts: run the real workflow and read each job's time and peak RSS from
its log; time `snakemake -n`; measure memory and latency in this process or a fresh interpreter."""
from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_FINISHED = re.compile(r"rule (\S+) finished in ([\d.]+) s, peak RSS (\d+) MB, CPU ([\d.]+) s")


def _snakemake(workdir: Path, config: dict, args, cores: int) -> list[str]:
    import yaml  # here, not at import: the fresh interpreters of the compat benchmarks import this module
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "bench-config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return [sys.executable, "-m", "snakemake", *args, "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--cores", str(cores), "--configfile", str(cfg)]


def bench_env() -> dict:
    """The environment snakemake runs in here: this one, without two costs that are this kind of
    machine's and not the workflow's (see the README). The SLURM executor plugin runs `scontrol show
    config` whenever Snakemake starts, which waits ~9 s when the SLURM client is installed but no
    controller answers: a stub `scontrol` that fails at once goes first on PATH (the local executor
    never uses it). PYTHONDONTWRITEBYTECODE=1 would recompile every module of the package in every
    job and every parse: bytecode is cached under benchmarks/out/pycache instead."""
    stub = REPO / "benchmarks" / "out" / "stub-bin"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "scontrol").write_text("#!/bin/sh\nexit 1\n")
    (stub / "scontrol").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PATH=f"{stub}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPYCACHEPREFIX=str(REPO / "benchmarks" / "out" / "pycache"))
    return env


def run_workflow(workdir: Path, config: dict, *args: str, cores: int = 2) -> float:
    """Run snakemake for real (in `bench_env()`); return wall seconds. Raises with the output on failure."""
    cmd = _snakemake(workdir, config, args, cores)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=bench_env())
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall


def dry_run(workdir: Path, config: dict, runs: int = 3, cores: int = 2) -> tuple[float, float]:
    """Median wall and CPU seconds of `snakemake -n` (in `bench_env()`, after a warm-up run): the
    workflow's parse and DAG cost when nothing is left to do."""
    env = bench_env()
    cmd = _snakemake(workdir, config, ["-n"], cores)
    walls, cpus = [], []
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode or "Nothing to be done" not in proc.stdout + proc.stderr:
            raise SystemExit(f"snakemake -n after the build did not find the build complete:\n{proc.stderr[-3000:]}")
        if i:
            walls.append(wall)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def print_dry_run(workdir: Path, config: dict, cores: int = 2) -> None:
    wall, cpu = dry_run(workdir, config, cores=cores)
    print(f"snakemake -n after the build: {wall:.2f} s wall, {cpu:.2f} s CPU (median of 3; target <= 1.5 s)")


def job_figures(log_dir: Path) -> list[tuple[str, float, int, float]]:
    """(log name, wall seconds, peak RSS MB, CPU seconds) of every job, from run_step's log lines."""
    rows = []
    for log in sorted(log_dir.glob("*.log")):
        for m in _FINISHED.finditer(log.read_text()):
            rows.append((log.stem, float(m.group(2)), int(m.group(3)), float(m.group(4))))
    return rows


def print_jobs(rows) -> None:
    """Per-job table; CPU seconds are the figure that survives a busy machine."""
    print(f"  {'job':<40} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    for name, secs, rss, cpu in rows:
        print(f"  {name:<40} {secs:>8.1f} {cpu:>8.1f} {rss:>12}")
    print(f"  max peak RSS of any job: {max(r[2] for r in rows)} MB; "
          f"total CPU of all jobs: {sum(r[3] for r in rows):.0f} s")


def print_bounds(rows, cores: int, wall: float, base: float, parts: str) -> None:
    """What this run's own work allows, as ratios to the baseline: no schedule of these jobs on
    `cores` cores beats their total CPU / cores, nor the chain parts -> tables_sqlite -> publish
    (the part stage at its best: its largest job, or its CPU spread over every core). Together with
    the build's wall they show how much is scheduling and how much is the work itself."""
    def wall_of(prefix):
        return sum(r[1] for r in rows if r[0].startswith(prefix))
    part_rows = [r for r in rows if r[0].startswith(parts)]
    cpu_bound = sum(r[3] for r in rows) / cores
    part_bound = max(max(r[1] for r in part_rows), sum(r[3] for r in part_rows) / cores)
    sqlite, publish = wall_of("tables_sqlite"), wall_of("publish")
    chain = part_bound + sqlite + publish
    print(f"  lower bounds from this run's jobs (baseline {base:.1f} s): all jobs' CPU / {cores} cores "
          f"{cpu_bound:.1f} s ({cpu_bound / base:.2f}x); the chain parts {part_bound:.1f} s -> tables_sqlite "
          f"{sqlite:.1f} s -> publish {publish:.1f} s = {chain:.1f} s ({chain / base:.2f}x); "
          f"the build {wall:.1f} s ({wall / base:.2f}x)")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process: on a shared machine, steadier than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident set now (VmRSS) or its peak (VmHWM), in MB, from /proc (Linux).
    (ru_maxrss would carry a parent's peak over exec.)"""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":")) / 1024


def percentiles(samples_ms: list[float]) -> str:
    """p50, p90, p99 and max of latencies in milliseconds."""
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")  # never beyond the largest sample
    return f"p50 {cuts[49]:.3f} ms, p90 {cuts[89]:.3f} ms, p99 {cuts[98]:.3f} ms, max {max(samples_ms):.3f} ms"


# Run in a fresh interpreter: import, construct, then `after`; seconds and memory as JSON on the last line.
_FRESH = """
import json, sys, time
sys.path.insert(0, {bench_dir!r})
from bench_common import rss_mb
before = rss_mb()
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
after_import = rss_mb()
api = {construct}
t2 = time.perf_counter()
constructed = rss_mb()
{after}
print(json.dumps({{"import_s": t1 - t0, "construct_s": t2 - t1, "rss_start_mb": before,
                  "rss_import_mb": after_import, "rss_mb": constructed, "rss_after_mb": rss_mb(),
                  "after_s": time.perf_counter() - t2, "peak_rss_mb": rss_mb("VmHWM")}}))
"""


def fresh_interpreter(imports: str, construct: str, after: str = "", env: dict | None = None) -> dict | str:
    """Figures of one construction (`api = <construct>` after `imports`, then `after`) in a new
    interpreter, or the reason it could not run (the last line of its error)."""
    code = _FRESH.format(bench_dir=str(Path(__file__).parent), imports=imports, construct=construct, after=after)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode:
        return proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
    return json.loads(proc.stdout.strip().splitlines()[-1])
