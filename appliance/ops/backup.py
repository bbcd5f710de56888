"""Database backups with SQLite's online backup API: consistent while the daemon writes.

`appliance backup --config FILE [--keep N] [--dest DIR]` copies the database to
``DIR/appliance-<UTC time>.sqlite`` (default DIR: ``backups/`` next to the database),
checks the copy's integrity, and deletes copies older than N days (the newest copy is
always kept). systemd's appliance-backup.timer runs it every night.

Restoring (docs/operations.md): stop the service, copy a backup over the database file,
delete the database's ``-wal`` and ``-shm`` files, start the service.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

BACKUP_DIR_NAME = "backups"
_NAME = re.compile(r"^appliance-(\d{8}T\d{6}Z)(\.[a-z]+)$")
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    removed: tuple[Path, ...]


def backup_name(now: datetime, suffix: str = ".sqlite") -> str:
    """The file name of a backup taken at `now` (UTC, sortable); `.pgdump` for PostgreSQL."""
    return f"appliance-{now.astimezone(UTC).strftime(_STAMP)}{suffix}"


def backups_to_remove(names: Iterable[str], now: datetime, keep_days: int,
                      suffix: str = ".sqlite") -> list[str]:
    """Which backup files (of this `suffix`) are older than `keep_days` days; never the
    newest one.

    Files whose name is not one of ours are never touched.
    """
    dated: list[tuple[datetime, str]] = []
    for name in names:
        match = _NAME.match(name)
        if match and match[2] == suffix:
            dated.append((datetime.strptime(match[1], _STAMP).replace(tzinfo=UTC), name))
    dated.sort()
    if not dated:
        return []
    cutoff = now - timedelta(days=keep_days)
    newest = dated[-1][1]
    return [name for taken, name in dated if taken < cutoff and name != newest]


def fix_sidecar_ownership(database: Path) -> None:
    """Give the database's -wal/-shm files the database file's owner.

    Run as root (doctor, status, a manual backup), SQLite may create those files owned by
    root, and the daemon (user appliance) could then no longer open its own database.
    """
    if os.geteuid() != 0:
        return
    try:
        st = os.stat(database)
    except OSError:
        return
    for suffix in ("-wal", "-shm", "-journal"):
        side = Path(str(database) + suffix)
        with contextlib.suppress(OSError):
            side_st = os.stat(side)
            if (side_st.st_uid, side_st.st_gid) != (st.st_uid, st.st_gid):
                os.chown(side, st.st_uid, st.st_gid)


def backup_database(database: Path, dest_dir: Path, now: datetime, keep_days: int) -> BackupResult:
    """Copy `database` into `dest_dir` online, verify it, prune old copies.

    Raises `FileNotFoundError` when the database does not exist and `sqlite3.Error` when
    the copy fails or is not intact (a broken copy is deleted, never kept).
    """
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    database = Path(database)
    if not database.is_file():
        raise FileNotFoundError(str(database))
    dest_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = dest_dir / backup_name(now)
    partial = dest_dir / f".{final.name}.partial"
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        target = sqlite3.connect(partial)
        try:
            # pages=-1: one step; the source is read under one snapshot, so the copy is
            # consistent even while the daemon commits.
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # a backup is one self-contained file
            result = target.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                raise sqlite3.DatabaseError(f"backup copy failed integrity_check: {result}")
        finally:
            target.close()
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    finally:
        source.close()
        fix_sidecar_ownership(database)
    os.chmod(partial, 0o600)
    os.replace(partial, final)
    removed = []
    for name in backups_to_remove((p.name for p in dest_dir.iterdir()), now, keep_days):
        with contextlib.suppress(FileNotFoundError):
            (dest_dir / name).unlink()
            removed.append(dest_dir / name)
    return BackupResult(final, final.stat().st_size, tuple(removed))
