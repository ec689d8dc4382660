"""The data sets: two related real trees (Rust toolchains) and three generated cases.

Each case lists its steps. Steps that edit the data (1% of the files changed) are undone
before the next tool starts, so every tool sees the same bytes; each tool also starts every
case with a fresh repository, so the files' times do not matter between tools.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Callable, Optional

from .measure import tree_size

SEED = 20261128
MIB = 1 << 20


@dataclasses.dataclass
class Case:
    """One data set and the steps run on it."""

    name: str
    title: str
    steps: list[str]
    primary: list[Path] = dataclasses.field(default_factory=list)  # first, nochange, change1
    related: Optional[Path] = None  # the dedup step
    stdin: Optional[Path] = None  # a stream fed on standard input instead of paths
    change: Callable[[], None] = lambda: None  # makes the change1 edit
    undo: Callable[[], None] = lambda: None  # takes it back
    bytes: int = 0
    files: int = 0
    note: str = ""


# --- real trees ------------------------------------------------------------------------------


def toolchain_sysroots() -> list[tuple[str, Path]]:
    """The toolchains rustup holds (stable first, then nightly), as (label, sysroot)."""
    found = []
    for channel in ("stable", "nightly"):
        res = subprocess.run(["rustc", f"+{channel}", "--print", "sysroot"], capture_output=True, text=True)
        if res.returncode == 0 and Path(res.stdout.strip()).is_dir():
            ver = subprocess.run(["rustc", f"+{channel}", "--version"], capture_output=True, text=True)
            found.append((ver.stdout.strip() or channel, Path(res.stdout.strip())))
    if not found:  # no rustup: the rustc on PATH
        root = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True, check=True)
        found.append(("rustc", Path(root.stdout.strip())))
    return found


def real_case(data: Path, subdir: str) -> Case:
    """Stable toolchain (A) and, related, the nightly one (B) or A with 3% of files edited."""
    roots = toolchain_sysroots()
    a = data / "real" / "a"
    copy_tree(roots[0][1] / subdir, a)
    if len(roots) > 1:
        b = data / "real" / "b"
        copy_tree(roots[1][1] / subdir, b)
        note = f"A = {roots[0][0]}, B = {roots[1][0]}"
    else:
        b = data / "real" / "b"
        copy_tree(a, b)
        append_to_every(b, 33, "related tree")
        note = f"A = {roots[0][0]}, B = a copy of A with every 33rd file edited (no second toolchain)"
    if subdir:
        note += f", sub-folder {subdir} of each sysroot"
    undo = append_to_every(a, 100, None)
    size, files = tree_size(a)
    return Case("real", "Rust toolchains (real trees)", ["first", "related", "nochange", "change1", "restore", "check"],
                primary=[a], related=b, change=undo.apply, undo=undo.revert, bytes=size, files=files, note=note)


def copy_tree(src: Path, dst: Path) -> None:
    """A copy keeping links and times, so that every tool reads the same local disk."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)


class Appender:
    """Appends a line to every n-th regular file (sorted order), and truncates them back."""

    def __init__(self, root: Path, every: int, text: str):
        files = sorted(p for p in regular_files(root))
        self.chosen = [(p, p.stat().st_size) for p in files[::every]]
        self.text = text.encode()

    def apply(self) -> None:
        for path, _ in self.chosen:
            with open(path, "ab") as f:
                f.write(self.text)

    def revert(self) -> None:
        for path, size in self.chosen:
            os.truncate(path, size)


def append_to_every(root: Path, every: int, permanent: Optional[str]) -> Appender:
    """An Appender for 1/every of the files; applied at once (and kept) if permanent is given."""
    app = Appender(root, every, f"\n# edited for the benchmark: {permanent or 'change1'}\n")
    if permanent:
        app.apply()
    return app


def regular_files(root: Path):
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            if stat.S_ISREG(path.lstat().st_mode):
                yield path


# --- generated cases -------------------------------------------------------------------------


def big_case(data: Path, size: int) -> Case:
    """One incompressible file; change1 rewrites 1% of its bytes in the middle."""
    path = data / "big" / "volume.bin"
    path.parent.mkdir(parents=True)
    rng = random.Random(SEED)
    with open(path, "wb") as f:
        for off in range(0, size, 4 * MIB):
            f.write(rng.randbytes(min(4 * MIB, size - off)))
    edit = RegionEdit(path, size // 2, max(size // 100, 1))
    return Case("big", f"one incompressible file of {size / MIB:.0f} MiB", ["first", "nochange", "change1", "restore", "check"],
                primary=[path.parent], change=edit.apply, undo=edit.revert, bytes=size, files=1,
                note="change1 rewrites 1% of the bytes, in the middle of the file")


class RegionEdit:
    """Overwrites a region of a file with random bytes, keeping the original to put back."""

    def __init__(self, path: Path, offset: int, length: int):
        self.path, self.offset, self.length = path, offset, length
        self.saved = b""

    def apply(self) -> None:
        with open(self.path, "r+b") as f:
            f.seek(self.offset)
            self.saved = f.read(self.length)
            f.seek(self.offset)
            f.write(random.Random(SEED + 1).randbytes(len(self.saved)))

    def revert(self) -> None:
        if self.saved:
            with open(self.path, "r+b") as f:
                f.seek(self.offset)
                f.write(self.saved)


WORDS = ("register citizen parcel vote tax health school court permit licence vehicle address "
         "birth marriage pension archive record ministry county parish border notary").split()


def small_case(data: Path, count: int) -> Case:
    """count small text files (0-2 KiB, compressible, each unique) in folders of 1000."""
    root = data / "small" / "tree"
    rng = random.Random(SEED)
    pool = " ".join(rng.choice(WORDS) for _ in range(600_000)).encode()
    for i in range(count):
        folder = root / f"d{i // 1000:04}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        start, length = rng.randrange(len(pool) - 4096), rng.randrange(2048)
        (folder / f"f{i:06}.txt").write_bytes(b"file %d\n" % i + pool[start:start + length])
    undo = append_to_every(root, 100, None)
    size, files = tree_size(root)
    return Case("small", f"{count} small files", ["first", "nochange", "change1", "restore", "check"],
                primary=[root], change=undo.apply, undo=undo.revert, bytes=size, files=files,
                note="text, 0-2 KiB each, 1000 per folder")


def dump_case(data: Path, size: int) -> Case:
    """A database-dump-like SQL text fed on stdin; the second run feeds the same stream again."""
    path = data / "dump" / "registers.sql"
    path.parent.mkdir(parents=True)
    rng = random.Random(SEED)
    written = 0
    with open(path, "w") as f:
        f.write("CREATE TABLE citizens (id bigint, name text, born date, parish text, balance numeric);\n")
        row = 0
        while written < size:
            lines = []
            for _ in range(10_000):
                row += 1
                lines.append(
                    f"INSERT INTO citizens VALUES ({row}, '{rng.choice(WORDS).title()} {rng.getrandbits(40):x}', "
                    f"'{rng.randrange(1920, 2025)}-{rng.randrange(1, 13):02}-{rng.randrange(1, 29):02}', "
                    f"'{rng.choice(WORDS)}', {rng.randrange(10**9) / 100:.2f});\n")
            chunk = "".join(lines)
            f.write(chunk)
            written += len(chunk)
    return Case("dump", f"database dump of {written / MIB:.0f} MiB on stdin", ["first", "nochange", "restore", "check"],
                stdin=path, bytes=path.stat().st_size, files=1,
                note="SQL INSERT lines, fed through a pipe; nochange feeds the same stream again (a pipe cannot be skipped)")


def prepare(work: Path, names: list[str], subdir: str, big: int, small: int, dump: int) -> list[Case]:
    """Makes every asked case under work/data."""
    data = work / "data"
    if data.exists():
        shutil.rmtree(data)
    makers = {
        "real": lambda: real_case(data, subdir),
        "big": lambda: big_case(data, big),
        "small": lambda: small_case(data, small),
        "dump": lambda: dump_case(data, dump),
    }
    return [makers[n]() for n in names]
