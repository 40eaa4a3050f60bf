"""NATS-Bench topology ("tss") archives: a directory or tar of per-architecture bz2 pickles.

`NATS-tss-v1_0-3ffb9-simple` holds `meta.pickle.pbz2` (meta_archs) and `{index:06d}.pickle.pbz2`
per architecture (an OrderedDict hp '12'/'200' -> ArchState, protocol 4). Each file is read on its
own, so jobs can split the architectures between them. Every tar member passes the shared member
check of `nasbench_store.safety.archives` before anything is read, and every file's pickle is loaded
by `nasbench_store.safety.unpickler`. Decompressed sizes are capped, at about twenty times the
release's files: an architecture's pickle is 100-200 KB (MAX_ARCH_PICKLE), the meta's a few MB
(MAX_META_PICKLE); decompression stops as soon as a member's output passes its cap.

Format: docs/formats.md#nats-tss-archive.
"""
from __future__ import annotations

import bz2
import re
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from ..errors import RawFormatError, UnsafePickleError
from ..safety.archives import directory_files, tar_member_problem
from ..safety.unpickler import restricted_loads
from .constants import HP_EPOCHS

META_NAME = "meta.pickle.pbz2"
_SUFFIX = ".pickle.pbz2"
_ARCH_NAME = re.compile(r"(\d{6})\.pickle\.pbz2")
MAX_ARCH_PICKLE = 4 << 20            # {index:06d}.pickle.pbz2 decompressed: 100-200 KB in the release
MAX_META_PICKLE = 32 << 20           # meta.pickle.pbz2 decompressed: meta_archs' 15,625 strings, a few MB
MAX_DECOMPRESSED = MAX_META_PICKLE   # the most any member may hold, compressed or not
_HINT = "the NATS-tss archive is damaged or incomplete; download NATS-tss-v1_0-3ffb9-simple.tar again"
_HINT_HOSTILE = ("a genuine NATS archive holds relative paths to regular files only; nothing was extracted; "
                 "do not unpack it; download NATS-tss-v1_0-3ffb9-simple.tar again")


class NatsArchive:
    """Read-only view of a NATS-tss "simple" archive (directory or .tar). Use as a context manager."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, object] = {}
        if self.path.is_dir():
            self._open_dir()
        else:
            self._open_tar()
        if META_NAME not in self._members:
            raise RawFormatError(self.path, None, f"no {META_NAME} in the archive", _HINT)
        self.indexes = sorted(int(m.group(1)) for name in self._members
                              if (m := _ARCH_NAME.fullmatch(name)))
        meta = self._load(META_NAME)
        if not isinstance(meta, dict) or not isinstance(meta.get("meta_archs"), list):
            raise RawFormatError(f"{self.path}:{META_NAME}", None, "meta has no meta_archs list", _HINT)
        self.meta_archs: list[str] = meta["meta_archs"]
        bad = [i for i in self.indexes if i >= len(self.meta_archs)]
        if bad:
            raise RawFormatError(self.path, None, f"architecture files {bad[:5]} have no meta_archs entry", _HINT)

    def _open_tar(self) -> None:
        try:
            self._tar = tarfile.open(self.path, "r:")
            members = self._tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise RawFormatError(self.path, None, f"not a readable tar archive ({exc})", _HINT) from None
        tops = set()
        for member in members:
            # Members are read whole; a bz2 file larger than its own decompression cap is no genuine one.
            problem = tar_member_problem(member, MAX_DECOMPRESSED)
            if problem:
                raise UnsafePickleError(self.path, member.offset, f"refusing tar member {member.name!r}: {problem}",
                                        _HINT_HOSTILE)
            parts = PurePosixPath(member.name).parts
            tops.add(parts[0])
            if member.isfile() and member.name.endswith(_SUFFIX):
                if len(parts) != 2:
                    raise UnsafePickleError(self.path, member.offset, f"tar member {member.name!r} is not "
                                            f"<directory>/<name>{_SUFFIX}", _HINT_HOSTILE)
                self._add(parts[1], member, member.offset)
        if len(tops) > 1:
            raise UnsafePickleError(self.path, None, f"the tar holds several top-level entries {sorted(tops)[:4]}, "
                                    "not one NATS-tss directory", _HINT_HOSTILE)

    def _open_dir(self) -> None:
        """The extracted archive: the `*.pickle.pbz2` files directly in the directory, no links."""
        try:
            files = directory_files(self.path, MAX_DECOMPRESSED)
        except ValueError as exc:
            raise UnsafePickleError(self.path, None, str(exc), "a genuine NATS-tss directory holds regular files "
                                    "only; extract NATS-tss-v1_0-3ffb9-simple.tar again") from None
        for rel, path in files:
            if rel.endswith(_SUFFIX):
                if "/" in rel:
                    raise UnsafePickleError(self.path, None, f"{rel!r} is in a subdirectory; the NATS-tss files "
                                            "are directly in the archive's directory", _HINT)
                self._add(rel, path, None)

    def _add(self, name: str, member, offset: int | None) -> None:
        if name in self._members:
            raise UnsafePickleError(self.path, offset, f"{name} appears twice in the archive", _HINT_HOSTILE)
        self._members[name] = member

    def __enter__(self) -> NatsArchive:
        return self

    def __exit__(self, *exc) -> None:
        if self._tar is not None:
            self._tar.close()

    def _load(self, name: str):
        where = f"{self.path}:{name}"
        member = self._members[name]
        try:
            if self._tar is None:
                packed = Path(member).read_bytes()
            else:
                packed = self._tar.extractfile(member).read()
            data = _decompress(packed, MAX_META_PICKLE if name == META_NAME else MAX_ARCH_PICKLE)
        except (OSError, EOFError, ValueError, tarfile.TarError) as exc:
            raise RawFormatError(where, None, f"cannot decompress ({exc})", _HINT) from None
        return restricted_loads(data, where)

    def read(self, index: int) -> dict[int, dict]:
        """{epochs: ArchState} of architecture `index` (12 and/or 200)."""
        name = f"{index:06d}.pickle.pbz2"
        value = self._load(name)
        if not isinstance(value, dict) or not value or any(hp not in HP_EPOCHS for hp in value):
            raise RawFormatError(f"{self.path}:{name}", None, "not an {hp: ArchState} record", _HINT)
        return {HP_EPOCHS[hp]: state for hp, state in value.items()}

    def archs(self, indexes: Iterable[int] | None = None) -> Iterator[tuple[int, dict[int, dict]]]:
        for i in self.indexes if indexes is None else indexes:
            yield i, self.read(i)


def _decompress(packed: bytes, cap: int) -> bytes:
    dec = bz2.BZ2Decompressor()
    data = dec.decompress(packed, cap)
    if not dec.eof:
        if len(data) >= cap:
            raise ValueError(f"more than {cap >> 20} MiB once decompressed, where the release's file is far "
                             f"smaller; refused")
        raise EOFError("the bz2 stream ends early (truncated)")
    return data
