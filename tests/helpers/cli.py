"""CLI test helpers: run `nasbench-store` in-process, copy a store to damage it, read its table output."""
from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from nasbench_store.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(capsys, *args) -> Result:
    """`nasbench-store ARGS` in this process: exit code (argparse's usage errors included), stdout, stderr."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def copy_store(store: Path, dest: Path) -> Path:
    """A writable copy of a published store (mtimes kept, as `cp -p` keeps them)."""
    shutil.copytree(store, dest, ignore=shutil.ignore_patterns(".build", ".lock"))
    for path in dest.rglob("*"):
        if path.is_file():
            path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR)
    return dest


def flip_byte(path: Path) -> None:
    """Change one byte in the middle of the file, keeping its size (the mtime moves on, as any write's)."""
    with open(path, "r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))


def table_rows(text: str) -> list[dict[str, str]]:
    """An aligned table (columns separated by two or more spaces) as dicts by header."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = re.split(r"\s{2,}", lines[0].strip())
    starts = [lines[0].index(h) for h in header]
    rows = []
    for line in lines[1:]:
        bounds = list(zip(starts, [*starts[1:], None]))
        rows.append({h: line[a:b].strip() for h, (a, b) in zip(header, bounds)})
    return rows
