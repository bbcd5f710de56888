"""The store on a real PostgreSQL (tests/pg.py): the same migrations, safe when several
boxes start at once, a version-1 database upgraded with its data, and the store's
portable SQL turned into psycopg's form."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import peewee
import pytest

from appliance.store import StoreError, open_database, queries
from appliance.store.dialect import Postgres, postgres_sql
from appliance.store.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    SchemaTooNew,
    migrate,
    schema_version,
)
from appliance.store.models import Agreement, Customer, InboundMessage, OutboxMessage

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_placeholders_become_psycopgs_and_a_literal_percent_is_kept() -> None:
    assert postgres_sql("SELECT a FROM t WHERE b = ? AND c LIKE '5%'") == \
        "SELECT a FROM t WHERE b = %s AND c LIKE '5%%'"
    # peewee's own SQL for PostgreSQL is already in psycopg's form: left as it is.
    assert postgres_sql('SELECT "x" FROM "t" WHERE "y" = %s') == \
        'SELECT "x" FROM "t" WHERE "y" = %s'


def test_several_boxes_migrating_a_fresh_database_at_once_apply_each_step_once(
        pg_server: Any) -> None:
    url = pg_server.empty()
    applied: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def box() -> None:
        db = Postgres(url)
        try:
            db.connect()
            start.wait(timeout=10)
            applied.append(migrate(db))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=box) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(v for run in applied for v in run) == [m.version for m in MIGRATIONS]
    db = open_database(url)
    try:
        assert schema_version(db) == LATEST_VERSION
        assert db.execute_sql('SELECT COUNT(*) FROM "schema_version"').fetchone()[0] == 1
    finally:
        db.close()


def test_a_version_1_database_is_upgraded_with_its_data(pg_server: Any) -> None:
    url = pg_server.empty()
    db = Postgres(url)
    db.connect()
    migrate(db, target=1)
    db.execute_sql("INSERT INTO customer (id, name) VALUES ('C1', 'Arta')")
    db.execute_sql(
        "INSERT INTO agreement (id, customer_id, phone, language, alert_limit, services, "
        "active) VALUES ('AG1', 'C1', '+38344123456', 'en', '1000', 'balance,alerts', 1)")
    with pytest.raises(peewee.IntegrityError):  # version 1 knows no Serbian
        db.execute_sql("UPDATE agreement SET language = 'sr'")
    db.close()
    db = open_database(url)
    try:
        assert schema_version(db) == LATEST_VERSION
        agreement = Agreement.get_by_id("AG1")
        assert (agreement.language, agreement.alert_limit, agreement.active) == (
            "en", Decimal("1000"), True)
        assert agreement.alerts_enabled is True  # version 4's column, its default
        Agreement.update(language="sr").execute()  # version 4 widened the CHECK
        with pytest.raises(peewee.IntegrityError):
            Agreement.update(language="de").execute()
    finally:
        db.close()


def test_a_newer_schema_is_refused(pg_server: Any) -> None:
    url = pg_server.fresh()
    db = Postgres(url)
    db.connect()
    db.execute_sql('UPDATE "schema_version" SET "version" = ?', (LATEST_VERSION + 1,))
    db.close()
    with pytest.raises(SchemaTooNew, match="newer"):
        open_database(url)


def test_a_server_that_is_not_there_is_a_store_error_without_the_password(
        pg_server: Any) -> None:
    url = f"postgresql://appliance:s3cret@/nothere?host={pg_server.root}/none"
    with pytest.raises(StoreError, match="cannot open database") as caught:
        open_database(url)
    assert "s3cret" not in str(caught.value)


def test_two_boxes_storing_the_same_pdu_at_once_keep_one_row(pg_server: Any) -> None:
    """Look-then-insert raced across connections; the unique key and ON CONFLICT decide."""
    url = pg_server.fresh()
    open_database(url)
    start = threading.Barrier(6)
    created: list[bool] = []
    errors: list[BaseException] = []

    def store() -> None:
        try:
            start.wait(timeout=10)
            _row, new = queries.store_inbound(modem="m1", pdu="0011AA", sender="+38344123456",
                                              smsc_time=NOW, received_at=NOW, text="B")
            created.append(new)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=store) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(created) == [False] * 5 + [True]
    assert InboundMessage.select().count() == 1


def test_an_alert_queued_by_two_boxes_at_once_is_queued_once(pg_server: Any) -> None:
    url = pg_server.fresh()
    open_database(url)
    Customer.create(id="C1", name="Arta")
    start = threading.Barrier(4)
    rows: list[object] = []

    def queue() -> None:
        start.wait(timeout=10)
        rows.append(queries.enqueue_outbox("+38344123456", "alert", "alert", NOW,
                                           dedupe_key="alert:M1:+38344123456"))

    threads = [threading.Thread(target=queue) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(r is not None for r in rows) == 1
    assert OutboxMessage.select().count() == 1
