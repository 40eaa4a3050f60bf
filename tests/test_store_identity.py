"""The fixture stores are byte-identical to the digests recorded in tests/data/store-digests.json.

A refactor must not change what a build publishes. File sha256s are compared when pyarrow and
SQLite are the versions that recorded them (both write their version into the file); the content
digests (schema, rows in order, Parquet layout and metadata) are compared always.
"""
from __future__ import annotations

import json

import pytest
from helpers import switch_on
from store_identity import GOLDEN, build_and_digest, versions

pytestmark = pytest.mark.slow


# NASBENCH_PURE_PYTHON=1: every job without the C extensions, as an install without a compiler
# builds; the pure-Python paths must publish the same bytes
@pytest.mark.parametrize("env", [None, {"NASBENCH_PURE_PYTHON": "1"}], ids=["c-extensions", "pure-python"])
def test_fixture_stores_are_byte_identical_to_the_recorded_digests(tmp_path, env):
    golden = json.loads(GOLDEN.read_text())
    exact = golden["versions"] == versions()
    stores = build_and_digest(tmp_path, env)
    # every job's log says which paths ran: with NASBENCH_PURE_PYTHON=1 none in C; in CI (the
    # extensions required) all of them in C
    said = [line.split("(python): ", 1)[1] for log in sorted(tmp_path.glob("*/work/logs/*.log"))
            for line in log.read_text().splitlines() if "C extensions (c) or their pure-Python paths" in line]
    ran = {how for entry in said for how in (item.rpartition(" ")[2] for item in entry.split(", "))}
    assert said and ran <= {"c", "python"}, said
    if env:
        assert ran == {"python"}, said
    elif switch_on("NASBENCH_REQUIRE_CEXT"):
        assert ran == {"c"}, said
    assert sorted(stores) == sorted(golden["stores"])
    for name, files in golden["stores"].items():
        assert sorted(stores[name]) == sorted(files), name
        for rel, want in files.items():
            got = stores[name][rel]
            if "content" in want:
                assert got["content"] == want["content"], f"{name}: {rel} holds different tables or rows"
            if exact:
                assert got["sha256"] == want["sha256"], f"{name}: {rel} has different bytes"
