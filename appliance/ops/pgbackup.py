"""`appliance backup` with `[database] url`: a dump of the shared PostgreSQL database.

PostgreSQL's own `pg_dump` (custom format: one compressed file, consistent under one
snapshot while every box keeps writing) copies the database to
``DIR/appliance-<UTC time>.pgdump`` (default DIR: ``backups/`` under the box's
`state_dir`); `pg_restore --list` reads the copy back before it is kept, and copies
older than N days are deleted as for SQLite (the newest always stays). The programs are
the client's on the PATH (Debian's `postgresql-client`), else the newest of Debian's
server binaries (/usr/lib/postgresql/*/bin), or `APPLIANCE_PG_BIN`. A `pg_dump` older
than the server refuses to dump it: install the client of the server's major version.
The password comes from libpq's `~/.pgpass` or `PGPASSFILE`, never from the config.

Restoring (docs/operations.md): stop every box, then
``pg_restore --clean --if-exists --dbname URL FILE``, then start them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

from appliance.ops.backup import BackupResult, backup_name, backups_to_remove

SUFFIX = ".pgdump"
TIMEOUT = 3600.0  # seconds: a bank's database is small, but a slow link is not
DEBIAN_BINS = Path("/usr/lib/postgresql")


class PgBackupError(RuntimeError):
    """The dump failed or could not be read back; the message says why, in one line."""


def pg_tool(name: str) -> Path | None:
    """Where PostgreSQL's program `name` is (module doc), or None."""
    override = os.environ.get("APPLIANCE_PG_BIN")
    if override:
        candidate = Path(override) / name
        return candidate if candidate.is_file() else None
    found = shutil.which(name)
    if found:
        return Path(found)
    versions = sorted((p for p in DEBIAN_BINS.glob(f"*/bin/{name}") if p.is_file()),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return versions[-1] if versions else None


def _run(argv: list[str]) -> str:
    env = {**os.environ, "PGCONNECT_TIMEOUT": os.environ.get("PGCONNECT_TIMEOUT", "10")}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                              env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PgBackupError(f"{Path(argv[0]).name} did not finish in {TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        raise PgBackupError(f"{Path(argv[0]).name}: "
                            + (lines[0] if lines else f"exit {done.returncode}"))
    return done.stdout


def dump_database(url: str, dest_dir: Path, now: datetime, keep_days: int) -> BackupResult:
    """Dump the database at `url` into `dest_dir`, read it back, prune old copies.

    Raises `FileNotFoundError` when `pg_dump` or `pg_restore` is not installed and
    `PgBackupError` when the dump fails or cannot be read back (a partial file is
    deleted, never kept).
    """
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    dump, restore = pg_tool("pg_dump"), pg_tool("pg_restore")
    if dump is None or restore is None:
        raise FileNotFoundError("pg_dump" if dump is None else "pg_restore")
    dest_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = dest_dir / backup_name(now, SUFFIX)
    partial = dest_dir / f".{final.name}.partial"
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    try:
        _run([str(dump), "--format=custom", "--no-password", f"--file={partial}",
              f"--dbname={url}"])
        listing = _run([str(restore), "--list", str(partial)])
        if "outbox_message" not in listing:
            raise PgBackupError("the dump holds no outbox_message table: not our database")
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    os.chmod(partial, 0o600)
    os.replace(partial, final)
    removed = []
    for name in backups_to_remove((p.name for p in dest_dir.iterdir()), now, keep_days,
                                  SUFFIX):
        with contextlib.suppress(FileNotFoundError):
            (dest_dir / name).unlink()
            removed.append(dest_dir / name)
    return BackupResult(final, final.stat().st_size, tuple(removed))
