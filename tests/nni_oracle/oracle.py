"""Test-side helpers for comparing this project's queries with NNI's own code (run in the NNI venv).

The NNI venv is `$NNI_PYTHON`, else `<repo>/.venv-nni/bin/python`; tests skip when it is missing
(fail with NASBENCH_REQUIRE_ORACLE=1).
Make it with:
    python3 -m venv .venv-nni && .venv-nni/bin/pip install --no-deps -r tests/nni_oracle/requirements.txt
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import REPO, require_or_skip

DRIVER = Path(__file__).resolve().parent / "run_nni_query.py"


def nni_python() -> Path:
    """The NNI venv's interpreter, or skip (fail with NASBENCH_REQUIRE_ORACLE) the calling test with how to make it."""
    path = Path(os.environ.get("NNI_PYTHON") or REPO / ".venv-nni" / "bin" / "python")
    if not path.exists():
        require_or_skip("NASBENCH_REQUIRE_ORACLE",
                        f"NNI venv not found at {path} (set NNI_PYTHON, or: python3 -m venv .venv-nni && "
                        f".venv-nni/bin/pip install --no-deps -r tests/nni_oracle/requirements.txt)")
    return path


def run_in_nni(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    """The NNI venv's interpreter run on `args`, with only this folder (the driver's) on its PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(nni_python()), *args], input=stdin, capture_output=True, text=True, timeout=300,
                          env={**env, "PYTHONPATH": str(DRIVER.parent)})


def run_nni(store: Path, benchmark: str, calls: list[dict], probes: list[dict] = ()) -> dict:
    """Run NNI's query function on every call (and the model probes) against `store`; the parsed output."""
    request = json.dumps({"calls": calls, "probes": list(probes)})
    proc = run_in_nni([str(DRIVER), str(store), benchmark], stdin=request)
    assert proc.returncode == 0, f"NNI driver failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)


def run_ours(query, kwargs: dict) -> dict:
    """Our query on the same kwargs, in the driver's output shape (JSON round trip, errors by type)."""
    try:
        return {"rows": json.loads(json.dumps(list(query(**kwargs))))}
    except Exception as exc:  # compared against NNI's error
        return {"error": type(exc).__name__, "message": str(exc)}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def key_orders(rows: list[dict]) -> list:
    """The key order of every dict in the rows (JSON keeps it), nested config and intermediates too."""
    return [(list(r), list(r["config"]), [list(i) for i in r.get("intermediates", [])]) for r in rows]


def without_our_extras(rows: list[dict]) -> list[dict]:
    """Our 'mean' rows as NNI returns them: no `num_trials`, and `intermediates` (if asked) empty,
    because NNI looks them up by the averaged row's trial id, which is None."""
    return [{k: ([] if k == "intermediates" else v) for k, v in r.items() if k != "num_trials"} for r in rows]


def mismatches(calls: list[dict], nni: list[dict], ours: list[dict]) -> list[tuple]:
    """Calls whose results differ (rows, values, order, key order); 'mean' after taking our extras off."""
    out = []
    for call, theirs, mine in zip(calls, nni, ours):
        if call.get("reduction") == "mean" and "rows" in mine:
            mine = {"rows": without_our_extras(mine["rows"])}
        if theirs != mine or ("rows" in theirs and key_orders(theirs["rows"]) != key_orders(mine["rows"])):
            out.append((call, str(theirs)[:300], str(mine)[:300]))
    return out


def check_mean_extras(calls: list[dict], nni: list[dict], ours: list[dict], not_averaged: tuple[str, ...] = ()) -> int:
    """Every 'mean' call with intermediates: our num_trials and averaged intermediates equal what
    NNI's own per-trial rows for the same call (reduction=None, which must be in `calls`) give.
    Returns how many averaged rows were checked."""
    checked = 0
    for call, mine in zip(calls, ours):
        if call.get("reduction") != "mean" or not call.get("include_intermediates") or "rows" not in mine:
            continue
        expected = mean_of_trials(nni[calls.index(dict(call, reduction=None))]["rows"], not_averaged)
        assert [r["config"]["id"] for r in mine["rows"]] == list(expected), call
        for row in mine["rows"]:
            want = expected[row["config"]["id"]]
            assert row["num_trials"] == want["num_trials"], call
            assert [list(i) for i in row["intermediates"]] == [list(i) for i in want["intermediates"]], call
            assert row["intermediates"] == [approx_floats(i) for i in want["intermediates"]], call
            checked += 1
    return checked


def approx_floats(row: dict, rel: float = 1e-12) -> dict:
    """`row` with its floats compared within `rel` (for averages whose summation order may differ)."""
    return {k: pytest.approx(v, rel=rel) if isinstance(v, float) else v for k, v in row.items()}


def mean_of_trials(trials: list[dict], not_averaged: tuple[str, ...] = ()) -> dict[int, dict]:
    """From NNI's per-trial rows (with intermediates): per config id, the trial count and the
    per-epoch means of the intermediates, which our 'mean' adds and NNI's leaves empty."""
    by_config: dict[int, list[dict]] = {}
    for t in trials:
        by_config.setdefault(t["config"]["id"], []).append(t)
    out = {}
    for config_id, runs in by_config.items():
        epochs: dict[int, list[dict]] = {}
        for run in runs:
            for i in run["intermediates"]:
                epochs.setdefault(i["current_epoch"], []).append(i)
        inter = []
        for epoch in sorted(epochs):
            rows = epochs[epoch]
            mean = {"id": None, "current_epoch": epoch}
            for key in rows[0]:
                if key not in ("id", "current_epoch") and key not in not_averaged:
                    values = [r[key] for r in rows if r[key] is not None]
                    mean[key] = sum(values) / len(values) if values else None
            inter.append(mean)
        out[config_id] = {"num_trials": len(runs), "intermediates": inter}
    return out


def run_both(store: Path, benchmark: str, query, calls: list[dict], probes: list[dict] = ()) -> dict:
    """NNI's results (one NNI process for every call and probe) and ours for the same calls, and the
    db's sha256 before and after NNI opened it."""
    db = store / f"{benchmark}.db"
    before = sha256(db)
    nni = run_nni(store, benchmark, calls, probes)
    previous = os.environ.get("NASBENCHMARK_DIR")
    os.environ["NASBENCHMARK_DIR"] = str(store)
    try:
        ours = [run_ours(query, c) for c in calls]
    finally:
        if previous is None:
            del os.environ["NASBENCHMARK_DIR"]
        else:
            os.environ["NASBENCHMARK_DIR"] = previous
    return {"nni": nni, "ours": ours, "db": db, "calls": calls, "sha_before": before, "sha_after": sha256(db)}


def results(run: dict, call: dict) -> tuple[dict, dict]:
    """(NNI's, ours) for one of the run's calls."""
    i = run["calls"].index(call)
    return run["nni"]["calls"][i], run["ours"][i]
