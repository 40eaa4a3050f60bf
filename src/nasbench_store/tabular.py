"""Rows for people and for scripts: an aligned text table, JSON lines or CSV (the CLI's output formats).

Rows are dicts; nested dicts are flattened to dotted columns (`config.arch`), other nested values
(lists, dicts below that) are written as compact JSON. NaN and infinities become null / empty.
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from typing import TextIO

FORMATS = ("table", "jsonl", "csv")
MAX_CELL = 60  # characters of one table cell; longer values end in "…" (jsonl and csv are never cut)


def plain(value):
    """A JSON-safe copy: NaN/inf -> None, tuples -> lists, anything else unknown -> str."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def flatten(row: dict, prefix: str = "") -> dict:
    """{'id': 1, 'config': {'arch': {...}, 'hash': 'x'}} -> {'id': 1, 'config.arch': {...}, 'config.hash': 'x'}:
    one level of nesting is spread into columns, deeper values stay whole."""
    out = {}
    for key, value in row.items():
        if isinstance(value, dict) and not prefix:
            out.update(flatten(value, f"{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def columns_of(rows: Sequence[dict]) -> list[str]:
    """Every key of the rows, in first-seen order."""
    return list(dict.fromkeys(key for row in rows for key in row))


def text(value, for_table: bool = False) -> str:
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and for_table:
        return format(value, ".6g")
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def render_table(rows: Sequence[dict], columns: Sequence[str] | None = None, max_cell: int | None = MAX_CELL) -> str:
    """Columns aligned under their headers; numbers right-aligned, everything else left-aligned."""
    columns = list(columns or columns_of(rows))
    cells = [[text(row.get(c), for_table=True) for c in columns] for row in rows]
    if max_cell:
        cells = [[c if len(c) <= max_cell else c[:max_cell - 1] + "…" for c in line] for line in cells]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(_is_number(row.get(c)) or row.get(c) is None for row in rows) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    for line in cells:
        lines.append("  ".join(c.rjust(w) if num else c.ljust(w)
                               for c, w, num in zip(line, widths, numeric)).rstrip())
    return "\n".join(lines)


def write_rows(rows: Iterable[dict], fmt: str, out: TextIO, columns: Sequence[str] | None = None) -> int:
    """Write rows in `fmt` (table, jsonl, csv); return how many. jsonl keeps each row's nesting;
    table and csv flatten it (see `flatten`). The table needs every row first; jsonl streams."""
    if fmt == "jsonl":
        count = 0
        for row in rows:
            out.write(json.dumps(plain(row), allow_nan=False) + "\n")
            count += 1
        return count
    flat = [flatten(row) for row in rows]
    columns = list(columns or columns_of(flat))
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([text(row.get(c)) for c in columns] for row in flat)
    elif fmt == "table":
        out.write(render_table(flat, columns) + "\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    return len(flat)
