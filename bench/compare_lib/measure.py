"""Running one measured command, sizes on disk, and a description of the machine."""

from __future__ import annotations

import dataclasses
import os
import platform
import stat
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional


@dataclasses.dataclass
class Measure:
    """What one step of one tool cost."""

    wall: float  # seconds
    cpu: float  # user + sys seconds of the command and its children (plus a server's, if any)
    rss_kib: int  # peak resident set of the largest process in the command's tree
    stored: int  # bytes in the repository after the step
    code: int  # exit code
    load: float  # 1-minute load average just before the step


class CommandFailed(Exception):
    """A command that the benchmark needs (not a measured one) failed."""


TIME = "/usr/bin/time"  # GNU time, Debian package `time`


def run_measured(
    argv: list[str],
    env: dict[str, str],
    log: Path,
    cwd: Optional[Path] = None,
    stdin: Optional[Path] = None,
    extra_cpu: Optional[Callable[[], float]] = None,
) -> tuple[float, float, int, int]:
    """Runs argv under GNU time and returns (wall, cpu, peak RSS KiB, exit code).

    Why GNU time and not os.wait4 here: Linux keeps a process's peak RSS across exec, so a child
    forked from this Python process would report at least Python's own RSS. time is small, and
    it reports its child's figures (CPU and peak RSS include the child's own waited children).
    extra_cpu adds the CPU that another process (a site server) spent meanwhile, read from /proc.
    """
    before = extra_cpu() if extra_cpu else 0.0
    figures = log.with_name(log.name + ".time")
    with open(log, "ab") as out:
        out.write(("$ " + " ".join(argv) + (f" < (pipe from {stdin.name})" if stdin else "") + "\n").encode())
        out.flush()
        start = time.monotonic()
        # stdin is a pipe, as from a database's dump command. Given the file itself, a tool can
        # stat it and skip it as unchanged: rustic did ("processed 1 files, 0 B"), so its
        # no-change figure measured no work at all.
        feeder = subprocess.Popen(["cat", "--", str(stdin)], stdout=subprocess.PIPE) if stdin else None
        proc = subprocess.Popen([TIME, "-f", "%U %S %M", "-o", str(figures), *argv], env=env, cwd=cwd,
                                stdin=feeder.stdout if feeder else subprocess.DEVNULL, stdout=out, stderr=out)
        if feeder:
            feeder.stdout.close()  # the tool holds the only reader: cat stops if the tool does
        code = proc.wait()
        wall = time.monotonic() - start
        if feeder:
            feeder.wait()
    # With a non-zero exit, time writes "Command exited with non-zero status N" first.
    user, system, rss = figures.read_text().strip().splitlines()[-1].split()
    figures.unlink()
    extra = (extra_cpu() - before) if extra_cpu else 0.0
    return wall, float(user) + float(system) + extra, int(rss), code


def run_quiet(argv: list[str], env: Optional[dict[str, str]] = None, cwd=None, log=None) -> str:
    """Runs a set-up command, returns its stdout; raises CommandFailed with its output."""
    res = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if log:
        with open(log, "a") as f:
            f.write(f"$ {' '.join(map(str, argv))}\n{res.stdout}{res.stderr}")
    if res.returncode != 0:
        raise CommandFailed(f"{' '.join(map(str, argv))} exited {res.returncode}:\n{res.stderr[-2000:]}")
    return res.stdout


def process_cpu(pid: int) -> float:
    """User + system seconds of a running process, 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_size(root: Path) -> tuple[int, int]:
    """(bytes, regular files) under root: apparent sizes, symlinks not followed."""
    total = files = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                files += 1
    return total, files


def warm(paths: list[Path]) -> None:
    """Reads every file under `paths` once, so that a step finds its input in the page cache.

    borg drops the pages of the files it has read (`posix_fadvise(POSIX_FADV_DONTNEED)`): the
    tool after it read 200,000 small files back from disk, 5 times slower, whoever it was."""
    for root in paths:
        files = [root] if root.is_file() else (Path(d) / f for d, _, fs in os.walk(root) for f in fs)
        for path in files:
            if path.is_symlink() or not path.is_file():
                continue  # a pipe would block; a link's target is read where it lies
            try:
                with open(path, "rb", buffering=0) as f:
                    while f.read(1 << 20):
                        pass
            except OSError:
                pass  # a special file or one that went away: nothing to warm


def drop_caches() -> None:
    """Empties the page cache (root only), so that each step reads from disk."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        pass


def machine(work: Path) -> list[str]:
    """Lines describing the machine: CPU, cores, memory, disk, kernel, load."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return [
        f"CPU: {cpu}, {os.cpu_count()} logical cores",
        f"memory: {mem_kib / 1048576:.1f} GiB",
        f"disk of the work folder: {disk(work)}",
        f"kernel: {platform.system()} {platform.release()} ({platform.machine()})",
    ]


def disk(path: Path) -> str:
    """The file system and device that hold path, as df and lsblk see them."""
    try:
        src, fstype = subprocess.run(
            ["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", str(path)], capture_output=True, text=True
        ).stdout.split()[:2]
        info = subprocess.run(
            ["lsblk", "-ndo", "SIZE,ROTA,MODEL", src], capture_output=True, text=True
        ).stdout.split()
        size, rota = (info + ["?", "?"])[:2]
        kind = {"0": "non-rotational", "1": "rotational"}.get(rota, "unknown kind")
        return f"{src} ({fstype}, {size}, {kind}{', ' + ' '.join(info[2:]) if info[2:] else ''})"
    except (OSError, ValueError):
        return "unknown"
