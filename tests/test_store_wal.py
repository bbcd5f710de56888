"""WAL mode on a real file: readers are not blocked by a writer holding its transaction."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import peewee
import pytest

from appliance.store.models import SyncState, database
from tests.conftest import STORE_FILE
from tests.helpers import wait_for

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
# SQLite's own file, pragmas and lock: PostgreSQL has none of these.
pytestmark = pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)


def test_pragmas_are_applied(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_other_connection_reads_while_a_write_transaction_is_open(
    db: peewee.SqliteDatabase, tmp_path: Path
) -> None:
    SyncState.create(key="bank.cursor", value="old")
    with database.atomic(lock_type="IMMEDIATE"):
        SyncState.update(value="new").where(SyncState.key == "bank.cursor").execute()
        # Another process (status, doctor) reads the committed value without waiting.
        other = sqlite3.connect(tmp_path / STORE_FILE, timeout=0.1)
        try:
            row = other.execute("SELECT value FROM sync_state WHERE key='bank.cursor'").fetchone()
        finally:
            other.close()
        assert row == ("old",)
    assert SyncState.get_by_id("bank.cursor").value == "new"


def test_thread_reads_through_the_models_while_main_thread_writes(
    db: peewee.SqliteDatabase,
) -> None:
    SyncState.create(key="k", value="committed")
    seen: list[str] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:  # peewee gives this thread its own connection, same pragmas
            seen.append(SyncState.get_by_id("k").value)
        except BaseException as exc:  # report to the main thread
            errors.append(exc)
        finally:
            db.close()

    with database.atomic(lock_type="IMMEDIATE"):
        SyncState.update(value="uncommitted").where(SyncState.key == "k").execute()
        thread = threading.Thread(target=reader)
        thread.start()
        wait_for(lambda: not thread.is_alive(), timeout=5, what="reader thread")
    assert errors == []
    assert seen == ["committed"]


def test_second_writer_waits_for_the_first_then_succeeds(
    db: peewee.SqliteDatabase, tmp_path: Path
) -> None:
    """busy_timeout: a second writer blocks until the first commits, instead of failing."""
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with database.atomic(lock_type="IMMEDIATE"):
                SyncState.create(key="second", value="2")
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()
            done.set()

    with database.atomic(lock_type="IMMEDIATE"):
        SyncState.create(key="first", value="1")
        thread = threading.Thread(target=writer)
        thread.start()
        # The writer cannot get in while we hold the lock.
        assert not done.wait(0.3)
    wait_for(done.is_set, timeout=5, what="second writer")
    thread.join(timeout=5)
    assert errors == []
    assert {s.key for s in SyncState.select()} == {"first", "second"}
