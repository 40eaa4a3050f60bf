"""`nasbench-store status`: what a store holds, the quick and the full check, and the commands that fix it."""
from __future__ import annotations

import json
import os
import time

import pytest
import yaml
from helpers.cli import copy_store, flip_byte, run_cli, table_rows

from nasbench_store import __version__
from nasbench_store.registry import BENCHMARKS
from nasbench_store.status import record_path

FILES = {name: len(b.published_files) for name, b in BENCHMARKS.items()}


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    """Full checks record what they proved under $XDG_CACHE_HOME: keep that in the test's directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NASBENCHMARK_DIR", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def only_nb101(tmp_path):
    path = tmp_path / "only-nb101.yaml"
    path.write_text(yaml.safe_dump({"benchmarks": ["nasbench101"]}))
    return path


@pytest.fixture
def copied(nb101_store, tmp_path):
    return copy_store(nb101_store, tmp_path / "copy")


def manifest(store):
    return json.loads((store / "manifest.json").read_text())["benchmarks"]


def status_table(out: str) -> list[dict[str, str]]:
    """The first store's table: the lines after its heading, up to the first blank or indented line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("benchmark "))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip() or lines[i].startswith("  ")),
               len(lines))
    return table_rows("\n".join(lines[start:end]))


def test_table_shows_what_the_store_holds(capsys, nb101_store, only_nb101):
    r = run_cli(capsys, "status", "--store-dir", nb101_store, "--configfile", only_nb101)
    assert r.code == 0, r.out + r.err
    assert r.out.startswith(f"{nb101_store}  (quick check")
    [row] = status_table(r.out)
    entry = manifest(nb101_store)["nasbench101"]
    counts = entry["tables"]["nasbench101.db"]
    size = sum(f["size"] for f in entry["files"].values())
    assert row == {
        "benchmark": "nasbench101", "state": "ok", "files": f"{FILES['nasbench101']}/{FILES['nasbench101']}",
        "size": f"{size / 1000:.1f} kB",
        "configs": str(counts["nb101trialconfig"]), "trials": str(counts["nb101trialstats"]),
        "intermediates": str(counts["nb101intermediatestats"]),
        "raw input": "nasbench_full.tfrecord", "raw sha256": entry["raw"]["sha256"][:12],
        "is release": "not compared",  # the fixture's config names no digest to compare with
        "built by": __version__, "SHA256SUMS": "match (quick)"}
    assert r.out.rstrip().endswith("OK: every configured benchmark is present, and every file matches SHA256SUMS")


def test_json_for_scripts(capsys, nb101_store, only_nb101):
    r = run_cli(capsys, "status", "--store-dir", nb101_store, "--configfile", only_nb101, "--json")
    assert r.code == 0
    data = json.loads(r.out)
    assert set(data) == {"ok", "version", "configured", "stores"}
    assert data["ok"] is True and data["configured"] == ["nasbench101"] and data["version"] == __version__
    [store] = data["stores"]
    assert set(store) == {"store_dir", "check", "benchmarks", "problems", "fix", "ok"}
    assert store["store_dir"] == str(nb101_store) and store["check"] == "quick" and store["problems"] == []
    [b] = store["benchmarks"]
    entry = manifest(nb101_store)["nasbench101"]
    assert b == {"name": "nasbench101", "title": "NAS-Bench-101", "configured": True, "state": "ok",
                 "files": FILES["nasbench101"], "files_expected": FILES["nasbench101"],
                 "size": sum(f["size"] for f in entry["files"].values()),
                 "rows": entry["tables"]["nasbench101.db"], "raw": entry["raw"], "raw_matches_release": None,
                 "version": __version__, "check": "quick", "problems": [], "fix": None}
    assert list(b["rows"]) == ["nb101trialconfig", "nb101trialstats", "nb101intermediatestats"]


@pytest.mark.parametrize("flags, shown", [({"matches_configured_sha256": True}, "yes"),
                                          ({"matches_configured_sha256": False}, "no"),
                                          ({"matches_configured_md5": True, "matches_configured_sha256": False}, "no")])
def test_whether_the_raw_input_is_the_configured_release(capsys, copied, only_nb101, flags, shown):
    """The manifest's flags from the build (a local `path` whose digest differs from the configured one)."""
    path = copied / "manifest.json"
    data = json.loads(path.read_text())
    data["benchmarks"]["nasbench101"]["raw"].update(flags)
    path.write_text(json.dumps(data))
    r = run_cli(capsys, "status", "--store-dir", copied, "--configfile", only_nb101)
    assert r.code == 0 and status_table(r.out)[0]["is release"] == shown


def test_missing_configured_benchmarks_fail_naming_the_build_command(capsys, nb101_store):
    # no --configfile: config.yaml's `benchmarks` lists all three, the fixture store holds one
    r = run_cli(capsys, "status", "--store-dir", nb101_store)
    assert r.code == 1
    states = {row["benchmark"]: (row["state"], row["files"]) for row in status_table(r.out)}
    assert states == {"nasbench101": ("ok", f"{FILES['nasbench101']}/{FILES['nasbench101']}"),
                      "nasbench201": ("missing", f"0/{FILES['nasbench201']}"), "nds": ("missing", f"0/{FILES['nds']}")}
    for name in ("nasbench201", "nds"):
        assert (f"  {name} is missing; build it: nasbench-store build {name} --config store_dir={nb101_store} "
                f"(in a checkout: snakemake --cores 2 {name} --config store_dir={nb101_store})") in r.out
    assert f"FAIL: nasbench201 missing in {nb101_store}; nds missing in {nb101_store}" in r.out
    data = json.loads(run_cli(capsys, "status", "--store-dir", nb101_store, "--json").out)
    missing = {b["name"]: b["fix"] for b in data["stores"][0]["benchmarks"] if b["state"] == "missing"}
    assert data["ok"] is False and set(missing) == {"nasbench201", "nds"}


def test_no_store_at_all(capsys, tmp_path, only_nb101):
    r = run_cli(capsys, "status", "--store-dir", tmp_path / "nothing", "--configfile", only_nb101)
    assert r.code == 1
    assert [row["state"] for row in status_table(r.out)] == ["missing"]
    assert (f"build it: nasbench-store build nasbench101 --config store_dir={tmp_path / 'nothing'} "
            f"--configfile {only_nb101}") in r.out


def test_store_dir_and_benchmarks_come_from_the_config_files(capsys, nb101_store, tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"store_dir": str(nb101_store), "benchmarks": ["nasbench101"]}))
    r = run_cli(capsys, "status", "--configfile", mine, "--json")
    assert r.code == 0
    assert json.loads(r.out)["stores"][0]["store_dir"] == str(nb101_store)


def test_damage_fails_with_the_repair_command(capsys, copied, only_nb101):
    flip_byte(copied / "nasbench101" / "nb101trialstats.parquet")  # same size, newer mtime
    r = run_cli(capsys, "status", "--store-dir", copied, "--configfile", only_nb101)
    assert r.code == 1
    [row] = status_table(r.out)
    assert (row["state"], row["SHA256SUMS"]) == ("damaged", "DIFFER (quick)")
    assert ("nasbench101: nasbench101/nb101trialstats.parquet was modified after SHA256SUMS was written "
            "(newer mtime)") in r.out
    assert (f"nasbench101 is damaged; repair it: nasbench-store repair nasbench101 --config store_dir={copied} "
            f"--configfile {only_nb101}") in r.out
    full = run_cli(capsys, "status", "--store-dir", copied, "--configfile", only_nb101, "--full")
    assert full.code == 1
    assert status_table(full.out)[0]["SHA256SUMS"] == "DIFFER (full)"
    assert (f"nasbench101: {copied}/nasbench101/nb101trialstats.parquet does not match its sha256 in SHA256SUMS "
            f"(modified or corrupt)") in full.out
    assert "nasbench-store repair nasbench101" in full.out


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.unlink(), "nasbench101.db is missing"),
    (lambda p: os.truncate(p, p.stat().st_size - 1), "nasbench101.db has {size} bytes, the manifest records {full}"),
])
def test_deleted_and_truncated_files(capsys, copied, only_nb101, damage, message):
    db = copied / "nasbench101.db"
    full = db.stat().st_size
    damage(db)
    r = run_cli(capsys, "status", "--store-dir", copied, "--configfile", only_nb101, "--json")
    assert r.code == 1
    [b] = json.loads(r.out)["stores"][0]["benchmarks"]
    assert b["state"] == "damaged" and b["fix"].startswith("nasbench-store repair nasbench101 ")
    assert b["problems"][0].startswith(message.format(size=full - 1, full=full))


def test_sha256sums_disagreeing_with_the_manifest(capsys, copied, only_nb101):
    sums = copied / "SHA256SUMS"
    sums.write_text(sums.read_text().replace("nasbench101.db", "nasbench101.db.old"))
    r = run_cli(capsys, "status", "--store-dir", copied, "--configfile", only_nb101)
    assert r.code == 1
    assert "SHA256SUMS does not list nasbench101.db with the sha256 manifest.json records" in r.out
    assert "problem: SHA256SUMS lists files ['nasbench101.db.old'] that manifest.json does not" in r.out


def test_full_check_passes_and_vouches_for_a_copy_without_mtimes(capsys, copied, only_nb101, cache_home):
    later = time.time() + 5
    for path in copied.rglob("*.parquet"):  # as `cp -r` (no -p) leaves them: newer than SHA256SUMS
        os.utime(path, (later, later))
    args = ("status", "--store-dir", copied, "--configfile", only_nb101)
    quick = run_cli(capsys, *args)
    assert quick.code == 1 and "was modified after SHA256SUMS was written" in quick.out
    full = run_cli(capsys, *args, "--full")
    assert full.code == 0, full.out
    assert status_table(full.out)[0]["SHA256SUMS"] == "match (full)"
    assert record_path(copied).is_file() and str(record_path(copied)).startswith(str(cache_home))
    assert run_cli(capsys, *args).code == 0  # the full check's record vouches for those mtimes
    flip_byte(copied / "nasbench101" / "nb101trialconfig.parquet")  # a later write is caught again
    assert run_cli(capsys, *args).code == 1


def test_one_table_per_store_directory(capsys, nb101_store, copied, only_nb101):
    r = run_cli(capsys, "status", "--store-dir", nb101_store, "--store-dir", copied, "--configfile", only_nb101)
    assert r.code == 0
    assert r.out.count("\nbenchmark ") + r.out.startswith("benchmark ") == 2
    assert f"{nb101_store}  (quick check" in r.out and f"\n{copied}  (quick check" in r.out
