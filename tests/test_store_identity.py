"""The fixture stores are byte-identical to the digests recorded in tests/data/store-digests.json.

A refactor must not change what a build publishes. File sha256s are compared when pyarrow and
SQLite are the versions that recorded them (both write their version into the file); the content
digests (schema, rows in order, Parquet layout and metadata) are compared always.
"""
from __future__ import annotations

import json

import pytest
from store_identity import GOLDEN, build_and_digest, versions

pytestmark = pytest.mark.slow


def test_fixture_stores_are_byte_identical_to_the_recorded_digests(tmp_path):
    golden = json.loads(GOLDEN.read_text())
    exact = golden["versions"] == versions()
    stores = build_and_digest(tmp_path)
    assert sorted(stores) == sorted(golden["stores"])
    for name, files in golden["stores"].items():
        assert sorted(stores[name]) == sorted(files), name
        for rel, want in files.items():
            got = stores[name][rel]
            if "content" in want:
                assert got["content"] == want["content"], f"{name}: {rel} holds different tables or rows"
            if exact:
                assert got["sha256"] == want["sha256"], f"{name}: {rel} has different bytes"
