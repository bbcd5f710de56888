"""A private PostgreSQL cluster in a directory: for `appliance demo --postgres` and tests.

Debian's server binaries (the `postgresql` package, /usr/lib/postgresql/15/bin) run a
cluster under `DIR` (data in `DIR/data`, its log in `DIR/server.log`), listening on
127.0.0.1 on a free port only (no unix socket, no system service), trust authentication
for the one role `appliance`, which owns the database `appliance`.

`initdb` and the server refuse to run as root, so when root starts it the cluster belongs
to the `postgres` system user the package creates (or `APPLIANCE_PG_USER`), and its
programs run through `runuser`; that user must be able to reach `DIR` (every directory
above it searchable).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")  # Debian 12's; APPLIANCE_PG_BIN overrides
PROGRAMS = ("initdb", "pg_ctl", "postgres", "createdb")
ROLE = "appliance"
DATABASE = "appliance"
DEFAULT_OWNER = "postgres"


class PgClusterError(RuntimeError):
    """The cluster cannot be set up or started; the message says why, in one line."""


class PgBinariesMissing(PgClusterError):
    """Debian's PostgreSQL server binaries are not installed."""


@dataclass(frozen=True)
class PgCluster:
    """A running private cluster."""

    root: Path
    port: int
    owner: str | None  # the system user it runs as; None: the current one
    bindir: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        """The libpq URL of the cluster's `appliance` database."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop` (fast: sessions end, the data stays consistent)."""
        _run(self.bindir, self.owner, "pg_ctl", "-D", str(self.data), "stop", "-m", mode,
             "-w", "-t", "60", log=self.log)


def default_bindir() -> Path:
    """Where the server programs are: `APPLIANCE_PG_BIN` (another version's), or Debian 12's."""
    return Path(os.environ.get("APPLIANCE_PG_BIN") or PG_BIN)


def binaries(bindir: Path | None = None) -> Path:
    """`bindir` when it holds the server programs; PgBinariesMissing otherwise."""
    bindir = bindir or default_bindir()
    missing = [p for p in PROGRAMS if not os.access(bindir / p, os.X_OK)]
    if missing:
        raise PgBinariesMissing(f"{bindir / missing[0]} not found (install Debian's "
                                "postgresql package: apt-get install postgresql)")
    return bindir


def _owner() -> str | None:
    if os.geteuid() != 0:
        return None
    return os.environ.get("APPLIANCE_PG_USER", DEFAULT_OWNER)


def _run(bindir: Path, owner: str | None, program: str, *args: str, log: Path | None = None,
         timeout: float = 90) -> None:
    prefix = ["runuser", "-u", owner, "--"] if owner else []
    try:
        proc = subprocess.run([*prefix, str(bindir / program), *args], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PgClusterError(f"{program} did not finish in {timeout:g} s") from exc
    if proc.returncode != 0:
        said = " ".join((proc.stderr or proc.stdout).split())
        tail = ""
        if log is not None and log.exists():
            lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            tail = f" (server log: {lines[-1]})" if lines else ""
        raise PgClusterError(f"{program} failed: {said[:300]}{tail}")


def _reachable(root: Path, owner: str) -> None:
    """Every directory above `root` must be searchable by `owner` (initdb's own check
    gives a confusing 'permission denied' far from the cause)."""
    uid = pwd.getpwnam(owner).pw_uid
    for parent in reversed(root.resolve().parents):
        st = parent.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)):
            raise PgClusterError(f"{parent} is not searchable by the {owner} user, who runs "
                                 "the cluster (chmod o+x it, or choose another directory)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def let_owner_pass(directory: Path) -> None:
    """When the cluster runs as another user (we are root), let it pass through
    `directory` (search only, no listing) to reach the cluster below it; the files in
    `directory` keep their own modes."""
    if _owner() is not None and directory.is_dir():
        directory.chmod(directory.stat().st_mode | 0o001)


def stop_stale(root: Path, bindir: Path | None = None) -> None:
    """Stop a cluster a previous run left running in `root` (a demo killed with -9)."""
    data = root / "data"
    bindir = bindir or default_bindir()
    if (data / "postmaster.pid").exists() and os.access(bindir / "pg_ctl", os.X_OK):
        let_owner_pass(root.parent)
        with contextlib.suppress(PgClusterError):
            _run(bindir, _owner(), "pg_ctl", "-D", str(data), "stop", "-m", "immediate",
                 "-w", "-t", "30")


def start(root: Path, *, bindir: Path | None = None, port: int | None = None) -> PgCluster:
    """initdb (when `root/data` is new) and start a cluster in `root`; create the role and
    database `appliance`. `root` is created; with root privileges it is given to the
    cluster's owner."""
    bindir = binaries(bindir)
    owner = _owner()
    root.mkdir(parents=True, exist_ok=True)
    if owner is not None:
        try:
            pwd.getpwnam(owner)
        except KeyError:
            raise PgClusterError(f"no system user {owner!r} to run PostgreSQL as (set "
                                 "APPLIANCE_PG_USER to an unprivileged user)") from None
        _reachable(root, owner)
        shutil.chown(root, owner, owner)
    root.chmod(0o700)  # the database holds personal data (DESIGN §2, invariant 7)
    cluster = PgCluster(root, port or free_port(), owner, bindir)
    fresh = not (cluster.data / "PG_VERSION").exists()
    if fresh:
        _run(bindir, owner, "initdb", "-D", str(cluster.data), "-U", ROLE, "--auth=trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
    options = (f"-p {cluster.port} -c listen_addresses=127.0.0.1 "
               "-c unix_socket_directories='' -c max_connections=100")
    _run(bindir, owner, "pg_ctl", "-D", str(cluster.data), "-l", str(cluster.log),
         "-o", options, "-w", "-t", "60", "start", log=cluster.log)
    if fresh:
        try:
            _run(bindir, owner, "createdb", "-h", "127.0.0.1", "-p", str(cluster.port),
                 "-U", ROLE, DATABASE)
        except PgClusterError:
            cluster.stop("immediate")
            raise
    return cluster
