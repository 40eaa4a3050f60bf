"""The one member check for untrusted archives (NDS's zip, NATS's tar, an extracted NATS directory),
run before anything is read.

Readers stream members and never unpack an archive, but a member is refused all the same if
unpacking it could write outside the target directory (backslash, NUL, absolute path, drive
letter, `..`), if it is not plain data (a link, device or FIFO), if it is encrypted, or if it
could exhaust memory or disk (a declared size over the reader's cap, a compression bomb's ratio).
A genuine release has none of these, so refusing costs nothing.
"""
from __future__ import annotations

import enum
import os
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

# A real NDS sweep file is JSON numbers, which deflate ~3:1; tiny members may compress absurdly
# well without being a threat.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 1 << 20


class Kind(enum.Enum):
    """What a member is, as its archive's metadata declares it."""
    FILE = "regular file"
    DIRECTORY = "directory"
    LINK = "link"
    OTHER = "other"


def member_problem(name: str, kind: Kind, size: int, max_size: int,
                   compressed_size: int | None = None, encrypted: bool = False) -> str | None:
    """Why the member must not be read, or None; `compressed_size` is None where nothing is compressed."""
    if "\\" in name or "\x00" in name:
        return "backslash or NUL in the path"
    posix = PurePosixPath(name)
    if posix.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in posix.parts:
        return "'..' in the path"
    if encrypted:
        return "encrypted member"
    if kind is Kind.LINK:
        return "a symbolic or hard link"
    if kind is Kind.OTHER:
        return "not a regular file or directory (a device, FIFO or other special file)"
    if size > max_size:
        return f"declares {size} bytes (limit {max_size})"
    if compressed_size is not None and size > RATIO_FLOOR_BYTES and size > MAX_RATIO * max(compressed_size, 1):
        return (f"compression ratio {size / max(compressed_size, 1):.0f}:1 "
                f"exceeds {MAX_RATIO}:1 (a compression bomb)")
    return None


def zip_member_problem(info: zipfile.ZipInfo, max_size: int) -> str | None:
    """`member_problem` of a zip member; its kind comes from the Unix mode, if the zip has one."""
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        kind = Kind.LINK
    elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        kind = Kind.OTHER
    else:
        kind = Kind.DIRECTORY if info.is_dir() else Kind.FILE
    return member_problem(info.filename, kind, info.file_size, max_size, info.compress_size,
                          encrypted=bool(info.flag_bits & 0x1))


def tar_member_problem(member: tarfile.TarInfo, max_size: int) -> str | None:
    """`member_problem` of a tar member (tar compresses nothing and encrypts nothing)."""
    if member.isfile():
        kind = Kind.FILE
    elif member.isdir():
        kind = Kind.DIRECTORY
    elif member.issym() or member.islnk():
        kind = Kind.LINK
    else:
        kind = Kind.OTHER
    return member_problem(member.name, kind, member.size, max_size)


def directory_problem(entry: os.DirEntry, rel: str, max_size: int) -> str | None:
    """`member_problem` of an entry of a directory source; links are not followed, and are refused."""
    st = entry.stat(follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        kind = Kind.LINK
    elif stat.S_ISDIR(st.st_mode):
        kind = Kind.DIRECTORY
    elif stat.S_ISREG(st.st_mode):
        kind = Kind.FILE
    else:
        kind = Kind.OTHER
    return member_problem(rel, kind, st.st_size, max_size)


def directory_files(root: str | Path, max_size: int) -> list[tuple[str, Path]]:
    """Every regular file under `root` as (relative POSIX path, path), sorted by relative path.

    Raises ValueError naming the first entry `directory_problem` refuses (a symbolic link, a
    device or FIFO, a file over `max_size`): a directory source is checked like an archive.
    """
    root = Path(root)
    files = []
    pending = [(root, "")]
    while pending:
        directory, prefix = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                rel = f"{prefix}{entry.name}"
                problem = directory_problem(entry, rel, max_size)
                if problem:
                    raise ValueError(f"refusing {rel!r}: {problem}")
                if entry.is_dir(follow_symlinks=False):
                    pending.append((Path(entry.path), f"{rel}/"))
                else:
                    files.append((rel, Path(entry.path)))
    return sorted(files)
