"""Shared by the benchmark scripts: run the real workflow, and read each job's time and peak RSS."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
_FINISHED = re.compile(r"rule (\S+) finished in ([\d.]+) s, peak RSS (\d+) MB, CPU ([\d.]+) s")


def run_workflow(workdir: Path, config: dict, *args: str, cores: int = 2) -> float:
    """Run snakemake for real; return wall seconds. Raises with the output on failure."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "bench-config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", *args, "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--cores", str(cores), "--configfile", str(cfg)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall


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
