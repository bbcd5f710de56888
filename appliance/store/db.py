"""Opening the database: a SQLite file in WAL mode, or a shared PostgreSQL (`[database]
url`, DESIGN §10); models bound, migrations applied."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee

from appliance.store.dialect import Postgres, is_postgres
from appliance.store.errors import DatabaseUnavailable, StoreError
from appliance.store.migrations import migrate
from appliance.store.models import database

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DatabaseUnavailable",
    "StoreError",
    "database",
    "is_postgres",
    "open_database",
    "write_transaction",
    "writing",
]

# The daemon's threads queue for SQLite's write lock here, in Python, where a waiter is
# woken the moment the lock is free; SQLite's own busy handler sleeps in growing steps.
_WRITE_LOCK = threading.RLock()

# How long a writer waits for another's lock before failing (busy_timeout, milliseconds).
BUSY_TIMEOUT_MS = 5000

_PRAGMAS: tuple[tuple[str, object], ...] = (
    # First, so that even switching to WAL waits for a lock rather than failing.
    ("busy_timeout", BUSY_TIMEOUT_MS),
    # WAL: readers (status, doctor, the inbox) never block the writer and vice versa.
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    # NORMAL is durable across application crashes in WAL mode; only a power cut can
    # lose the last commits, and the modem keeps a message until it is committed (I1).
    ("synchronous", "normal"),
)


def is_url(target: Path | str) -> bool:
    """True when `target` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def _open_postgres(url: str, apply_migrations: bool) -> peewee.Database:
    # The URL may carry a password: name the database by its host and name only.
    return _bind(Postgres(url, connect_timeout=10), shown_url(url), apply_migrations,
                 peewee.PeeweeException)


def _bind(db: peewee.Database, shown: str, apply_migrations: bool,
          errors: type[Exception]) -> peewee.Database:
    """Connect, migrate and bind the models to `db`; `errors` become one StoreError."""
    try:
        db.connect(reuse_if_open=True)
        if apply_migrations:
            migrate(db)
    except errors as exc:
        db.close()
        raise StoreError(f"cannot open database {shown}: {exc}") from exc
    database.initialize(db)
    return db


def shown_url(url: str) -> str:
    """A PostgreSQL URL without its user and password, for messages and tables."""
    tail = url.split("@", 1)[-1] if "@" in url else url.split("://", 1)[-1]
    return "postgresql://" + tail


def open_database(target: Path | str, *, apply_migrations: bool = True) -> peewee.Database:
    """Open (creating if needed) the SQLite file at `target`, or the PostgreSQL database
    its `postgresql://` URL names; bind the models, migrate.

    The returned database gives each thread its own connection (SQLite: with the pragmas
    applied). One process binds one database at a time: a second call re-binds `database`.
    """
    if is_url(target):
        return _open_postgres(str(target), apply_migrations)
    # A str that is no URL is a file's path (as scripts and tests pass it).
    path = Path(target)
    db = peewee.SqliteDatabase(
        str(path),
        pragmas=list(_PRAGMAS),
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
    )
    return _bind(db, str(path), apply_migrations, peewee.OperationalError)


def write_transaction() -> Any:
    """A transaction that takes the write lock at once (`BEGIN IMMEDIATE`; on PostgreSQL
    a plain transaction: its row locks and unique keys serialise writers there).

    Use it for read-then-write work (decide an inbound message, upsert a sync page): a
    plain deferred transaction that reads first can fail with SQLITE_BUSY when it tries to
    write after another process wrote, while this one waits up to the busy timeout.
    Nested inside another transaction it becomes a savepoint. The store's one way to
    begin a read-then-write transaction, on both databases.
    """
    return database.atomic(lock_type="IMMEDIATE")


@contextmanager
def writing() -> Iterator[None]:
    """A write transaction (`BEGIN IMMEDIATE`), queued behind this process's other writers.

    Re-entrant: nested inside `writing()` it becomes a savepoint. Never enter it from
    inside a bare `write_transaction()`: that thread already holds SQLite's lock and would
    wait here for a thread that waits for SQLite (use `write_transaction()` there).
    """
    with _WRITE_LOCK, write_transaction():
        yield


def insert_once(model: type[peewee.Model], **values: object) -> bool:
    """Insert a row that a unique key allows once; False when it exists already.

    Nested in the caller's transaction it is a savepoint, so a False leaves that intact.
    """
    try:
        with database.atomic():
            model.create(**values)
    except peewee.IntegrityError:
        return False
    return True
