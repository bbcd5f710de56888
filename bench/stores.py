"""The databases a bench runs on: SQLite files (the default) or fresh databases in one
private PostgreSQL cluster (`--postgres`, issue 14: the benches on both stores).

The cluster is `appliance.ops.pgcluster`'s (Debian's server binaries, 127.0.0.1 on a free
port, no system service), under a temporary directory the `postgres` user can reach.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def shared_databases(postgres: bool) -> Iterator[Callable[[str], str | None]]:
    """A maker of fresh databases by name: None (the caller uses its own SQLite file), or
    the URL of a new database in a private PostgreSQL cluster kept for the whole run."""
    if not postgres:
        yield lambda _name: None
        return
    import psycopg

    from appliance.ops import pgcluster

    # Not under a 0700 directory: the postgres user must reach the cluster's directory.
    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    root.chmod(0o711)
    cluster = pgcluster.start(root / "pg")

    def fresh(name: str) -> str:
        with psycopg.connect(cluster.url, autocommit=True) as pg:
            pg.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return cluster.url.rsplit("/", 1)[0] + "/" + name

    try:
        yield fresh
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def store_name(url: str | None) -> str:
    """What a table's title says the run used."""
    return "SQLite" if url is None else "PostgreSQL"
