"""Finding or installing each tool, and the command each step runs with it.

Same settings as close as the tools allow: encryption on with a password, zstd at level 3 or
its equivalent, a local repository (for Chancery, one local-directory site; `--remote` adds
one site server on loopback). Every tool's cache and state live in its own folder under the
work folder, so nothing is shared between runs and nothing is left in the user's home.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

from .measure import CommandFailed, process_cpu, run_quiet, tree_size

PASSWORD = "bench password, long enough for every tool"
PEERS = ["restic", "rustic", "borg"]


@dataclasses.dataclass
class Cmd:
    argv: list[str]
    cwd: Optional[Path] = None
    stdin: Optional[Path] = None


# --- installation ----------------------------------------------------------------------------


def nice(argv: list[str]) -> list[str]:
    """Builds and installs run at the lowest priority: the machine may be shared."""
    return ["nice", "-n", "19", *argv]


def apt_tool(binary: str, package: str, install: bool, path: Optional[str] = None) -> str:
    """The binary from Debian's package, installed with apt-get when missing."""
    found = path if path and os.path.exists(path) else None if path else shutil.which(binary)
    if found or not install:
        if not found:
            raise CommandFailed(f"{binary} not found (Debian package {package}); run without --no-install")
        return found
    print(f"installing {package} with apt-get", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if subprocess.run([*sudo, "apt-get", "install", "-y", "-q", package], env=env).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, check=True)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", package], env=env, check=True)
    return path or shutil.which(binary) or f"/usr/bin/{binary}"


def cargo_tool(binary: str, crate: str, cache: Path, install: bool) -> str:
    """The binary from crates.io, installed once into cache/bin and reused from there."""
    path = cache / "bin" / binary
    if path.exists():
        return str(path)
    if not install:
        found = shutil.which(binary)
        if found:
            return found
        raise CommandFailed(f"{binary} not found; run without --no-install (cargo install {crate})")
    print(f"installing {crate} with cargo into {cache} (takes a while the first time)", flush=True)
    env = dict(os.environ, CARGO_TARGET_DIR=str(cache / "build" / crate))  # one per crate: no lock waits
    env.setdefault("CARGO_BUILD_JOBS", "1")
    subprocess.run(nice(["cargo", "install", crate, "--locked", "--root", str(cache)]), env=env, check=True)
    return str(path)


def build_chancery(repo: Path) -> str:
    """Chancery from this checkout, in release mode."""
    print("building chancery (release)", flush=True)
    subprocess.run(nice(["cargo", "build", "--release", "--quiet", "-p", "chancery"]), cwd=repo, check=True)
    meta = json.loads(subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=repo,
                                     capture_output=True, text=True, check=True).stdout)
    return str(Path(meta["target_directory"]) / "release" / "chancery")


def version(binary: str, *args: str) -> str:
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"


# --- the tools -------------------------------------------------------------------------------


class Tool:
    """One tool on one case: a fresh repository under home, and the commands of each step."""

    name = "?"

    def __init__(self, binary: str, home: Path):
        self.bin, self.home = binary, home
        self.repo = home / "repo"
        self.state = home / "state"
        self.state.mkdir(parents=True)

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def init(self, log: Path) -> None:
        raise NotImplementedError

    def backup(self, paths: list[Path], step: str) -> Cmd:
        raise NotImplementedError

    def backup_stdin(self, path: Path, name: str, step: str) -> Cmd:
        raise NotImplementedError

    def restore(self, target: Path) -> Cmd:
        raise NotImplementedError

    def check(self) -> Cmd:
        raise NotImplementedError

    def stored(self) -> int:
        return tree_size(self.repo)[0]

    def server_cpu(self) -> Optional[float]:
        """CPU seconds of a server process this tool talks to, if any."""
        return None

    def close(self) -> None:
        pass


class Restic(Tool):
    name = "restic"

    def env(self):
        return dict(os.environ, RESTIC_PASSWORD=PASSWORD, RESTIC_REPOSITORY=str(self.repo),
                    RESTIC_CACHE_DIR=str(self.state / "cache"))

    def init(self, log):
        run_quiet([self.bin, "init", "--repository-version", "2"], self.env(), log=log)

    def backup(self, paths, step):
        return Cmd([self.bin, "--compression", "auto", "backup", "--host", "bench", *map(str, paths)])

    def backup_stdin(self, path, name, step):
        return Cmd([self.bin, "--compression", "auto", "backup", "--host", "bench", "--stdin",
                    "--stdin-filename", name], stdin=path)

    def restore(self, target):
        return Cmd([self.bin, "restore", "latest", "--target", str(target)])

    def check(self):
        return Cmd([self.bin, "check", "--read-data"])


class Rustic(Tool):
    name = "rustic"

    def env(self):
        return dict(os.environ, RUSTIC_PASSWORD=PASSWORD, RUSTIC_REPOSITORY=str(self.repo),
                    RUSTIC_CACHE_DIR=str(self.state / "cache"), RUSTIC_NO_PROGRESS="true")

    def init(self, log):
        run_quiet([self.bin, "init", "--set-compression", "3"], self.env(), log=log)

    def backup(self, paths, step):
        return Cmd([self.bin, "backup", "--host", "bench", *map(str, paths)])

    def backup_stdin(self, path, name, step):
        # --force: without it rustic 0.11 takes a stream on stdin as unchanged from the parent
        # snapshot and reads none of it, even when it differs ("processed 1 files, 0 B").
        return Cmd([self.bin, "backup", "--force", "--host", "bench", "--stdin-filename", name, "-"],
                   stdin=path)

    def restore(self, target):
        return Cmd([self.bin, "restore", "latest", str(target)])

    def check(self):
        return Cmd([self.bin, "check", "--read-data"])


class Borg(Tool):
    name = "borg"
    last = ""

    def env(self):
        # BORG_BASE_DIR keeps borg's config, cache and security folders out of $HOME.
        return dict(os.environ, BORG_PASSPHRASE=PASSWORD, BORG_REPO=str(self.repo),
                    BORG_BASE_DIR=str(self.state), BORG_RELOCATED_REPO_ACCESS_IS_OK="yes")

    def init(self, log):
        run_quiet([self.bin, "init", "--encryption=repokey-blake2"], self.env(), log=log)

    def backup(self, paths, step):
        self.last = step
        return Cmd([self.bin, "create", "--compression", "zstd,3", f"::{step}", *map(str, paths)])

    def backup_stdin(self, path, name, step):
        self.last = step
        return Cmd([self.bin, "create", "--compression", "zstd,3", "--stdin-name", name, f"::{step}", "-"],
                   stdin=path)

    def restore(self, target):
        target.mkdir(parents=True, exist_ok=True)  # borg extracts into the current folder
        return Cmd([self.bin, "extract", f"::{self.last}"], cwd=target)

    def check(self):
        return Cmd([self.bin, "check", "--verify-data"])


HOME = ("59.437,24.754", "EE")  # Tallinn
SITE = ("49.61,6.13", "LU")  # Luxembourg: abroad and far enough from home


class Chancery(Tool):
    """One local-directory site, with the policy's minimum number of sites lowered to one so that
    it stores one copy like the peers (the default policy wants two sites)."""

    name = "chancery"

    def env(self):
        return dict(os.environ, CHANCERY_PASSWORD=PASSWORD, CHANCERY_CONFIG=str(self.state / "chancery.toml"))

    def init(self, log):
        run_quiet([self.bin, "init", "--owner", "Bench", "--home", HOME[0], "--jurisdiction", HOME[1]],
                  self.env(), log=log)
        self.one_site_policy()
        self.add_site(log)

    def add_site(self, log):
        run_quiet([self.bin, "site", "add", "lu", "--dir", str(self.repo), "--location", SITE[0],
                   "--jurisdiction", SITE[1]], self.env(), log=log)

    def one_site_policy(self):
        config = self.state / "chancery.toml"
        text = config.read_text()
        if re.search(r"^\[policy\]", text, re.M):
            text = re.sub(r"^min_sites\s*=.*$", "min_sites = 1", text, flags=re.M)
            if not re.search(r"^min_sites", text, re.M):
                text = text.replace("[policy]", "[policy]\nmin_sites = 1", 1)
        else:
            text += "\n[policy]\nmin_sites = 1\n"
        config.write_text(text)

    def backup(self, paths, step):
        return Cmd([self.bin, "backup", *map(str, paths)])

    def backup_stdin(self, path, name, step):
        return Cmd([self.bin, "backup", "--stdin", "--stdin-name", name], stdin=path)

    def restore(self, target):
        return Cmd([self.bin, "restore", "latest", "--target", str(target)])

    def check(self):
        return Cmd([self.bin, "check", "--read-data"])


class ChanceryRemote(Chancery):
    """The same, with the site a `chancery serve` on a loopback port (HTTPS, signed requests,
    receipts). Its CPU time includes the server's; its peak RSS is the client's only."""

    name = "chancery-remote"
    server: Optional[subprocess.Popen] = None

    def add_site(self, log):
        env = self.env()
        owner = run_quiet([self.bin, "owner-key"], env, log=log).strip()
        data = self.repo
        out = run_quiet([self.bin, "--json", "site-admin", "init", "--data", str(data), "--name", "lu",
                         "--location", SITE[0], "--jurisdiction", SITE[1], "--tier", "3"], env, log=log)
        key = json.loads(out)["site_key"]
        run_quiet([self.bin, "site-admin", "enroll", "--data", str(data), "--tenant", "bench", "--owner-key", owner],
                  env, log=log)
        url = self.start_server(data, env)
        run_quiet([self.bin, "site", "add", "lu", "--url", url, "--site-key", key, "--tenant", "bench",
                   "--location", SITE[0], "--jurisdiction", SITE[1], "--tier", "3"], env, log=log)

    def start_server(self, data: Path, env: dict[str, str]) -> str:
        """Starts `chancery serve` on 127.0.0.1:0 and returns its URL from its first line."""
        out = self.home / "server.out"
        with open(out, "wb") as f:
            self.server = subprocess.Popen([self.bin, "serve", "--data", str(data), "--listen", "127.0.0.1:0"],
                                           env=dict(env, CHANCERY_LOG="warn"), stdout=f, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = out.read_text().split("\n", 1)[0]
            if line.startswith("listening on "):
                return "https://" + line.removeprefix("listening on ").strip()
            if self.server.poll() is not None:
                break
            time.sleep(0.1)
        raise CommandFailed(f"chancery serve did not start; see {out}")

    def server_cpu(self):
        return process_cpu(self.server.pid) if self.server else None

    def close(self):
        if self.server:
            self.server.terminate()
            self.server.wait(timeout=30)
            self.server = None


CLASSES = {c.name: c for c in (Chancery, ChanceryRemote, Restic, Rustic, Borg)}
