"""The shared archive member check: each hostile member is refused in NDS's zip and NATS's tar alike,
by name and offset, before any member is read or anything is written."""
from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from nasbench_store.errors import RawFormatError
from nasbench_store.nasbench201 import nats
from nasbench_store.nasbench201.synthetic import write_nats_tss_archive
from nasbench_store.nds import archive as nds_archive
from nasbench_store.nds.convert import convert_sweep
from nasbench_store.nds.synthetic import write_nds_zip
from nasbench_store.safety.archives import Kind, member_problem

# case: (member name, what the member is, the problem the refusal names)
CASES = {
    "absolute": ("/etc/cron.d/evil", "file", "absolute path"),
    "dotdot": ("data/../../evil.json", "file", r"'\.\.' in the path"),
    "backslash": ("data\\..\\evil.json", "file", "backslash or NUL"),
    "nul": ("data/evil.json\x00/../../../etc/passwd", "file", "backslash or NUL"),
    "drive letter": ("C:/evil.json", "file", "absolute path"),
    "symlink": ("data/ENAS.json", "symlink", "symbolic or hard link"),
    "hardlink": ("data/ENAS.json", "hardlink", "symbolic or hard link"),
    "fifo": ("data/fifo", "fifo", "not a regular file or directory"),
    "device": ("data/null", "device", "not a regular file or directory"),
    "oversized": ("data/big.json", "oversized", r"declares \d+ bytes \(limit \d+\)"),
    "encrypted": ("data/ENAS.json", "encrypted", "encrypted member"),
    "bomb": ("data/ENAS.json", "bomb", r"compression ratio \d+:1 exceeds 200:1"),
}
# What a format cannot hold: zipfile cuts names at NUL before any check sees them and zip has no
# hard links; tar neither encrypts nor compresses.
NOT_IN = {"zip": {"nul", "hardlink"}, "tar": {"encrypted", "bomb"}}
ZIP_MODES = {"symlink": stat.S_IFLNK | 0o777, "fifo": stat.S_IFIFO | 0o644, "device": stat.S_IFCHR | 0o644}
TAR_TYPES = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE,
             "device": tarfile.CHRTYPE}


def _hostile_zip(path: Path, name: str, what: str, monkeypatch) -> int:
    """A genuine data.zip with the hostile member appended; returns that member's offset."""
    write_nds_zip(path, records_per_file=1, sweeps=["Amoeba.json"])
    data = b"/etc/passwd" if what in ZIP_MODES else b"[]"
    if what == "bomb":
        data = b"[" + b" " * (4 << 20) + b"]"
    elif what == "oversized":          # a member declaring 16 GB is impractical; lower the cap instead
        monkeypatch.setattr(nds_archive, "MAX_MEMBER_BYTES", 1 << 20)
        data = os.urandom(2 << 20)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    if what in ZIP_MODES:
        info.create_system, info.external_attr = 3, ZIP_MODES[what] << 16
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(info, data)
    with zipfile.ZipFile(path) as zf:
        offset = zf.infolist()[-1].header_offset
    if what == "encrypted":            # zipfile cannot write encrypted members: set the flag bit
        _set_encrypted_flag(path, offset)
    return offset


def _set_encrypted_flag(path: Path, offset: int) -> None:
    """Set general purpose flag bit 0 in the local header at `offset` and its central directory entry."""
    raw = bytearray(path.read_bytes())
    raw[offset + 6] |= 1
    entry = raw.find(b"PK\x01\x02")
    while int.from_bytes(raw[entry + 42:entry + 46], "little") != offset:
        entry = raw.find(b"PK\x01\x02", entry + 1)
    raw[entry + 8] |= 1
    path.write_bytes(bytes(raw))


def _hostile_tar(path: Path, name: str, what: str) -> int:
    """The hostile member's header (PAX, so a name may hold NUL) in front of a genuine NATS tar;
    an oversized member's data is a hole. Returns the member's offset."""
    genuine = write_nats_tss_archive(path.parent / "genuine" / "n.tar", 2).read_bytes()
    info = tarfile.TarInfo(name)
    info.pax_headers = {"path": name}
    data = b"\x00" * 8
    if what in TAR_TYPES:
        info.type, info.linkname, data = TAR_TYPES[what], "/etc/passwd", b""
    info.size = nats.MAX_DECOMPRESSED + 1 if what == "oversized" else len(data)
    with open(path, "wb") as f:
        f.write(info.tobuf(tarfile.PAX_FORMAT))
        f.write(data)
        f.seek(-(-info.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE - len(data), io.SEEK_CUR)
        f.write(genuine)
    return 0   # the hostile member comes first


@pytest.fixture
def record_reads(monkeypatch):
    """Call to start recording every member a reader opens (after the archive is written)."""
    opened = []

    def spy(cls, method):
        real = getattr(cls, method)

        def recording(self, member, *args, **kwargs):
            opened.append(member)
            return real(self, member, *args, **kwargs)
        monkeypatch.setattr(cls, method, recording)

    def start():
        spy(zipfile.ZipFile, "open")
        spy(tarfile.TarFile, "extractfile")
        return opened
    return start


@pytest.mark.parametrize("fmt, case", [pytest.param(fmt, case, id=f"{fmt}-{case}")
                                       for fmt in ("zip", "tar") for case in CASES if case not in NOT_IN[fmt]])
def test_hostile_member_is_refused_before_anything_is_read(tmp_path, monkeypatch, record_reads, fmt, case):
    name, what, problem = CASES[case]
    path = tmp_path / "in" / f"archive.{fmt}"
    path.parent.mkdir()
    if fmt == "zip":
        offset = _hostile_zip(path, name, what, monkeypatch)
    else:
        offset = _hostile_tar(path, name, what)
    before = sorted(tmp_path.rglob("*"))
    opened = record_reads()
    with pytest.raises(RawFormatError, match=problem) as err:
        if fmt == "zip":
            convert_sweep(path, "Amoeba.json", tmp_path / "out" / "Amoeba.parquet")
        else:
            nats.NatsArchive(path)
    message = str(err.value)
    assert f"refusing {'tar ' if fmt == 'tar' else ''}member {name!r}: " in message
    assert err.value.path == str(path) and err.value.offset == offset
    assert "do not unpack it" in message
    assert opened == []
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("name, kind, size, compressed", [
    ("nds_data/", Kind.DIRECTORY, 0, 0),
    ("nds_data/a..b.json", Kind.FILE, 10, 10),
    ("./NATS-tss-v1_0-3ffb9-simple/000001.pickle.pbz2", Kind.FILE, 100, None),
    ("tiny.json", Kind.FILE, 1 << 20, 1),          # absurd ratio, but under the 1 MB floor
    ("big.json", Kind.FILE, 1 << 30, 1 << 29),     # at the cap, 2:1
])
def test_genuine_members_pass(name, kind, size, compressed):
    assert member_problem(name, kind, size, 1 << 30, compressed) is None
