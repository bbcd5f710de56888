"""Schema versions: a version-1 database in the field is upgraded in place, data intact."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import peewee
import pytest

from appliance.store import StoreError, open_database
from appliance.store.migrations import LATEST_VERSION, MIGRATIONS, SchemaTooNew, schema_version
from appliance.store.models import Account, Agreement, InboundMessage, OutboxMessage, SyncState


def _make_v1_database(path: Path) -> None:
    """A database as the first release created it: version-1 DDL only, then some data."""
    db = peewee.SqliteDatabase(str(path))
    db.connect()
    with db.atomic():
        MIGRATIONS[0].apply(db)
        db.execute_sql("PRAGMA user_version = 1")
    db.close()
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("INSERT INTO customer (id, name) VALUES ('C1', 'Arta')")
        raw.execute(
            "INSERT INTO agreement (id, customer_id, phone, language, alert_limit, services,"
            " active) VALUES ('AG1', 'C1', '+38344123456', 'en', '1000', 'balance,alerts', 1)"
        )
        raw.execute(
            "INSERT INTO account (id, customer_id, kind, number, currency, balance, as_of)"
            " VALUES ('A1', 'C1', 'savings', '1110000000009876', 'EUR', '10.10',"
            " '2026-11-01 08:00:00.000000')"
        )
        raw.execute(
            "INSERT INTO inbound_message (dedupe_key, modem, pdu, sender, received_at, state)"
            " VALUES ('k', 'vala', '0011', '+38344123456', '2026-11-01 08:00:00.000000',"
            " 'handled')"
        )
        raw.execute(
            'INSERT INTO outbox_message ("to", text, kind, priority, state, created_at,'
            " inbound_id) VALUES ('+38344123456', 'Bilanci', 'reply', 0, 'queued',"
            " '2026-11-01 08:00:01.000000', 1)"
        )
        raw.execute("INSERT INTO sync_state (key, value) VALUES ('bank.cursor', 'c-42')")
    raw.close()


def test_migrations_are_ordered_and_contiguous() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert versions[-1] == LATEST_VERSION
    assert LATEST_VERSION >= 2  # there is a real upgrade path to exercise


def test_version_1_database_is_upgraded_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "field.sqlite"
    _make_v1_database(path)
    db = open_database(path)
    try:
        assert schema_version(db) == LATEST_VERSION
        agreement = Agreement.get_by_id("AG1")
        assert agreement.phone == "+38344123456"
        assert agreement.alert_limit == Decimal("1000")
        account = Account.get_by_id("A1")
        assert account.balance == Decimal("10.10")
        assert account.as_of.isoformat() == "2026-11-01T08:00:00+00:00"
        assert InboundMessage.get().state == "handled"
        assert OutboxMessage.get().text == "Bilanci"
        assert SyncState.get_by_id("bank.cursor").value == "c-42"
        indexes = {row[1] for row in db.execute_sql('PRAGMA index_list("outbox_message")')}
        assert "outbox_message_claim" in indexes  # version 2 applied
    finally:
        db.close()


def test_fresh_database_reaches_latest_and_reopen_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    db = open_database(path)
    SyncState.create(key="k", value="v")
    db.close()
    db = open_database(path)
    try:
        assert schema_version(db) == LATEST_VERSION
        assert SyncState.get_by_id("k").value == "v"
    finally:
        db.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    raw.close()
    with pytest.raises(SchemaTooNew, match="newer"):
        open_database(path)


def test_unopenable_path_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        open_database(tmp_path / "missing-dir" / "x.sqlite")


def test_failed_migration_leaves_previous_version(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash mid-upgrade rolls back: the DB stays at version 1 with its data."""
    path = tmp_path / "field.sqlite"
    _make_v1_database(path)

    def broken(db: peewee.SqliteDatabase) -> None:
        db.execute_sql('CREATE INDEX "half_done" ON "movement" ("type")')
        raise RuntimeError("power cut")

    from appliance.store import migrations

    monkeypatch.setattr(migrations, "MIGRATIONS", (
        migrations.MIGRATIONS[0], migrations.Migration(2, "broken", broken)))
    db = peewee.SqliteDatabase(str(path))
    db.connect()
    with pytest.raises(RuntimeError, match="power cut"):
        migrations.migrate(db)
    assert schema_version(db) == 1
    names = {row[0] for row in db.execute_sql("SELECT name FROM sqlite_master")}
    assert "half_done" not in names
    db.close()


def test_two_processes_opening_a_fresh_file_migrate_once(tmp_path: Path) -> None:
    """Daemon and doctor starting together: both open, neither fails, each migration once."""
    import threading

    from appliance.store import migrations

    path = tmp_path / "race.sqlite"
    applied: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def opener() -> None:
        db = peewee.SqliteDatabase(str(path), pragmas=[("busy_timeout", 5000)], timeout=5)
        try:
            db.connect()
            start.wait(timeout=5)
            applied.append(migrations.migrate(db))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=opener) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(v for run in applied for v in run) == [m.version for m in MIGRATIONS]
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    finally:
        raw.close()
