"""The real Snakemake workflow on NB201 fixtures: .pth, NATS archive and NATS directory give the same
store; hostile input publishes nothing."""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import store_bytes

from nasbench_store.errors import UnsafePickleError
from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.nats import NatsArchive

pytestmark = pytest.mark.slow
NUM_ARCHS, SEED, CHOSEN = 6, 3, [0, 1, 2, 5]
# NNI's three tables and the extra ones the official-API facades read (nb201arch, nb201epochspan, nb201trialinfo)
NB201_FILES = ["nasbench201.db", "nasbench201/nb201arch.parquet", "nasbench201/nb201epochspan.parquet",
               "nasbench201/nb201intermediatestats.parquet", "nasbench201/nb201trialconfig.parquet",
               "nasbench201/nb201trialinfo.parquet", "nasbench201/nb201trialstats.parquet"]


def same_store(a: Path, b: Path) -> None:
    """The same .db bytes and the same Parquet tables (schema, rows, row groups); the Parquet files differ
    only in their provenance metadata, which names the raw input's sha256."""
    assert (a / "nasbench201.db").read_bytes() == (b / "nasbench201.db").read_bytes()
    for rel in NB201_FILES[1:]:
        fa, fb = pq.ParquetFile(a / rel), pq.ParquetFile(b / rel)
        assert fa.metadata.num_row_groups == fb.metadata.num_row_groups, rel
        ta, tb = (pa.Table.from_batches(f.read().to_batches(), f.schema_arrow.remove_metadata()) for f in (fa, fb))
        assert ta.equals(tb), rel


def nb201_config(raw, jobs=3):
    # rules/nasbench101.smk reads its config at parse time even when it is not built; give it values.
    return {"benchmarks": ["nasbench201"], "sources": {"nasbench201": {"path": str(raw)},
                                                       "nasbench101": {"path": str(raw)}},
            "nasbench101": {"shards": 1}, "nasbench201": {"jobs": jobs}}


def test_pth_and_nats_archive_publish_identical_verified_stores(workflow, tmp_path):
    pth = fx.write_nb201_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth", NUM_ARCHS, SEED, CHOSEN)
    nats = fx.write_nats_tss_archive(tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar", NUM_ARCHS, SEED, CHOSEN)
    a = workflow("pth", **nb201_config(pth))
    b = workflow("nats", **nb201_config(nats, jobs=3))
    assert a.run().check().output.count("rule nb201_part:") == 2  # config.yaml's pth_jobs
    out = b.run().check().output
    assert out.count("rule nb201_part:") == 3
    sa, sb = store_bytes(a.store), store_bytes(b.store)
    assert sorted(k for k in sa if k.startswith("nasbench201")) == NB201_FILES == sorted(
        k for k in sb if k.startswith("nasbench201"))
    same_store(a.store, b.store)
    entry = json.loads((a.store / "manifest.json").read_text())["benchmarks"]["nasbench201"]
    assert entry["raw"]["file"] == pth.name
    tables = entry["tables"]["nasbench201.db"]
    assert tables == {"nb201trialconfig": NUM_ARCHS * 8, "nb201trialstats": tables["nb201trialstats"],
                      "nb201intermediatestats": tables["nb201intermediatestats"], "nb201arch": NUM_ARCHS,
                      "nb201trialinfo": tables["nb201trialstats"], "nb201epochspan": tables["nb201epochspan"]}
    summary = json.loads((Path(a.config["work_dir"]) / "nasbench201" / "summary.json").read_text())
    assert summary == {"meta_archs": NUM_ARCHS, "archs_with_results": len(CHOSEN)}
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=a.store, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Nothing to be done" in a.run().check().output
    a.run("verify").check()
    b.run("verify").check()


def test_hostile_pth_fails_naming_the_global_and_publishes_nothing(workflow, tmp_path):
    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            import os
            return os.system, (f"touch {marker}",)

    obj = fx.benchmark_dict(3)
    obj["arch2infos"][2]["less"]["all_results"][("cifar10", 111)]["flop"] = Payload()
    raw = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    raw.write_bytes(fx.LEGACY_HEADER + pickle.dumps(obj, protocol=2) + fx.LEGACY_TAIL)
    wf = workflow(**nb201_config(raw))
    out = wf.run()
    assert out.returncode != 0
    assert "the pickle asks for the global posix.system, which is not allowed" in out.output
    assert not marker.exists()
    assert not (wf.store / "nasbench201.db").exists() and not (wf.store / "manifest.json").exists()


def test_truncated_nats_member_fails_naming_it(workflow, tmp_path):
    nats = fx.write_nats_tss_archive(tmp_path / "nats", NUM_ARCHS, SEED, CHOSEN)
    member = nats / "000002.pickle.pbz2"
    member.write_bytes(member.read_bytes()[:-50])
    tar = tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(nats, arcname=fx.NATS_TSS_NAME)
    wf = workflow(**nb201_config(tar, jobs=2))
    out = wf.run()
    assert out.returncode != 0 and "000002.pickle.pbz2" in out.output and "truncated" in out.output
    assert not (wf.store / "nasbench201.db").exists()


def test_extracted_nats_directory_builds_the_same_store_as_its_tar(workflow, tmp_path):
    tar = fx.write_nats_tss_archive(tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar", NUM_ARCHS, SEED, CHOSEN)
    extracted = tmp_path / "extracted"
    with tarfile.open(tar) as tf:
        tf.extractall(extracted, filter="data")
    directory = extracted / "NATS-tss-v1_0-3ffb9-simple"
    a = workflow("tar", **nb201_config(tar, jobs=3))
    b = workflow("dir", **nb201_config(directory, jobs=2))
    a.run().check()
    out = b.run().check().output
    assert out.count("rule nb201_part:") == 2
    same_store(a.store, b.store)
    raw = json.loads((b.store / "manifest.json").read_text())["benchmarks"]["nasbench201"]["raw"]
    listing = subprocess.run("find . -type f | cut -c3- | LC_ALL=C sort | xargs sha256sum | sha256sum",
                             shell=True, cwd=directory, capture_output=True, text=True, check=True).stdout.split()[0]
    files = sorted(directory.iterdir())
    assert raw == {"file": directory.name, "kind": "directory", "files": len(files), "sha256": listing,
                   "size": sum(f.stat().st_size for f in files)}
    b.run("verify").check()
    # the same tree elsewhere has the same digest; a changed file changes it and rebuilds
    assert "Nothing to be done" in b.run().check().output


@pytest.mark.parametrize("damage", ["symlink", "nested", "fifo"])
def test_nats_directory_with_links_nested_copies_or_special_files_is_refused(workflow, tmp_path, damage):
    directory = fx.write_nats_tss_archive(tmp_path / "NATS-tss-v1_0-3ffb9-simple", NUM_ARCHS, SEED, CHOSEN)
    if damage == "symlink":
        (directory / "000001.pickle.pbz2").unlink()
        (directory / "000001.pickle.pbz2").symlink_to(directory / "000000.pickle.pbz2")
        expected = "'000001.pickle.pbz2': a symbolic or hard link"
    elif damage == "nested":
        (directory / "sub").mkdir()
        (directory / "sub" / "000001.pickle.pbz2").write_bytes((directory / "000000.pickle.pbz2").read_bytes())
        expected = "'sub/000001.pickle.pbz2' is in a subdirectory"
    else:
        os.mkfifo(directory / "notes")
        expected = "'notes': not a regular file or directory"
    out = workflow(**nb201_config(directory, jobs=2)).run()
    assert out.returncode != 0 and expected in out.output, out.output[-3000:]
    assert not (tmp_path / "run" / "store" / "nasbench201.db").exists()


@pytest.mark.parametrize("name, expected", [
    ("NATS-tss-v1_0-3ffb9-simple/sub/000000.pickle.pbz2", "is not <directory>/<name>.pickle.pbz2"),
    ("other/000000.pickle.pbz2", "000000.pickle.pbz2 appears twice"),
    ("NATS-tss-v1_0-3ffb9-simple/000000.pickle.pbz2", "000000.pickle.pbz2 appears twice"),
])
def test_nats_tar_with_a_second_copy_of_a_member_is_refused(tmp_path, name, expected):
    tar = fx.write_nats_tss_archive(tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar", NUM_ARCHS, SEED, CHOSEN)
    with tarfile.open(tar) as tf:
        data = tf.extractfile("NATS-tss-v1_0-3ffb9-simple/000000.pickle.pbz2").read()
    with tarfile.open(tar, "a") as tf:
        copy = tarfile.TarInfo(name)
        copy.size = len(data)
        tf.addfile(copy, io.BytesIO(data))
    with pytest.raises(UnsafePickleError, match=expected):
        NatsArchive(tar)
