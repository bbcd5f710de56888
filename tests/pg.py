"""A real PostgreSQL server for the tests (Debian's `postgresql` package, which
scripts/test installs): one cluster per pytest worker, in a private directory, on a unix
socket there only (no TCP), stopped with `pg_ctl stop -m immediate` at the end.

initdb refuses to run as root (CI runs as root), so there the cluster belongs to the
`postgres` system user the package creates, and its programs run through `runuser`.
Each test gets a fresh database copied from a migrated template (`CREATE DATABASE …
TEMPLATE`: milliseconds, not a migration per test). If the server cannot start, the
fixture fails with initdb's or the server's own words: never a skip.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
TEMPLATE = "appliance_template"
_names = itertools.count(1)


class PostgresUnavailable(RuntimeError):
    """The test PostgreSQL server could not be set up (the message says why)."""


class PgServer:
    """One private cluster; `url(name)` for a database in it, `fresh()` for a new one."""

    def __init__(self) -> None:
        # Not under pytest's tmp dir: that is root's 0700 tree, which the postgres user
        # cannot enter. A short path, too: a unix socket's path is limited to ~100 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="appliance-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._owner = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str, timeout: float = 60) -> None:
        if not (PG_BIN / argv[0]).exists():
            raise PostgresUnavailable(
                f"{PG_BIN / argv[0]} not found: install Debian's postgresql (scripts/test)")
        proc = subprocess.run([*self._owner, str(PG_BIN / argv[0]), *argv[1:]],
                              capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip()} {log}")

    def start(self) -> PgServer:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self.start_server()
        self._template()
        return self

    def start_server(self) -> None:
        """Start the (initialised) cluster: at first, or again after `stop_server`."""
        # Durability off: a test cluster lives as long as its pytest worker.
        options = (f"-k {self.root} -c listen_addresses='' -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200 -c shared_buffers=32MB")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start", timeout=90)

    def stop_server(self) -> None:
        """Stop the server as an operator would (`-m fast`: sessions are ended), keeping
        its data for `start_server` (the reconnect tests; not the shared cluster)."""
        self._run("pg_ctl", "-D", str(self.data), "stop", "-m", "fast", "-w", "-t", "60")

    def url(self, name: str = "postgres") -> str:
        return f"postgresql://postgres@/{name}?host={self.root}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def _template(self) -> None:
        from appliance.store.db import open_database

        self._admin(f'CREATE DATABASE "{TEMPLATE}"')
        migrated = open_database(self.url(TEMPLATE))
        migrated.close()

    def fresh(self, prefix: str = "t") -> str:
        """A new, migrated, empty database; returns its URL."""
        name = f"{prefix}_{os.getpid()}_{next(_names)}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        return self.url(name)

    def empty(self, prefix: str = "e") -> str:
        """A new database with no schema at all (for the migration tests)."""
        name = f"{prefix}_{os.getpid()}_{next(_names)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if self.data.exists():
                self._run("pg_ctl", "-D", str(self.data), "stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
