"""The package as a researcher installs it: a wheel of the working tree in a fresh venv outside the repository.

The fresh venv gets the dependencies (not this package) from the running environment through a
`.pth` file listing a directory of links: a venv made with --system-site-packages would see the base
interpreter's site-packages, which lack them, and installing them would download them all again.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from . import REPO


def copy_tree(dest: Path) -> Path:
    """The working tree as a wheel would be built from it: files git tracks or would track."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not rel.startswith(".venv"):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def fresh_venv(path: Path, deps: Path) -> Path:
    """A venv (no pip, no system site-packages) that sees the running environment's packages but this one."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    site = Path(subprocess.run([str(path / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    deps.mkdir()
    for entry in Path(sysconfig.get_path("purelib")).iterdir():
        if not entry.name.startswith(("nasbench_store", "__editable__", "__pycache__")) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    (site / "_nasbench_store_test_deps.pth").write_text(f"{deps}\n")
    return path


def install_wheel(base: Path) -> tuple[Path, Path]:
    """(wheel, venv): the working tree built into a wheel (its C extensions compiled) and installed
    with --no-deps into a fresh venv, all under `base`."""
    assert not base.is_relative_to(REPO)
    src = copy_tree(base / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(base / "dist"), str(src)], check=True, capture_output=True, timeout=600)
    [wheel] = (base / "dist").glob("nasbench_store-*.whl")
    env = fresh_venv(base / "env", base / "deps")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True, timeout=600)
    return wheel, env
