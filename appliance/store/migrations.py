"""Ordered schema migrations, tracked in `PRAGMA user_version`.

Each migration is a function applied once, in order, inside one write transaction
together with the version bump, so a box upgraded in the field keeps its data and a
crash mid-upgrade leaves the previous version intact. Never edit a released migration:
append a new one. Version 1's DDL is kept verbatim because field databases were created
with it (the migration test builds a version-1 database from it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import peewee


class SchemaTooNew(RuntimeError):
    """The database was written by a newer appliance than this one (no downgrades)."""


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f'CHECK ("{column}" IN ({quoted}))'


# Version 1: the initial schema. Frozen: do not edit (append a migration instead).
V1_DDL: tuple[str, ...] = (
    'CREATE TABLE "customer" ('
    '"id" TEXT NOT NULL PRIMARY KEY, "name" TEXT NOT NULL, "updated_at" TEXT)',
    'CREATE TABLE "agreement" ('
    '"id" TEXT NOT NULL PRIMARY KEY, '
    '"customer_id" TEXT NOT NULL REFERENCES "customer" ("id"), '
    '"phone" TEXT NOT NULL UNIQUE, '
    f'"language" TEXT NOT NULL DEFAULT \'sq\' {_in("language", ("sq", "en"))}, '
    '"alert_limit" TEXT, '
    '"services" TEXT NOT NULL DEFAULT \'balance,topup,alerts\', '
    '"active" INTEGER NOT NULL DEFAULT 1 CHECK ("active" IN (0, 1)), '
    '"updated_at" TEXT)',
    'CREATE INDEX "agreement_customer_id" ON "agreement" ("customer_id")',
    'CREATE TABLE "account" ('
    '"id" TEXT NOT NULL PRIMARY KEY, '
    '"customer_id" TEXT NOT NULL REFERENCES "customer" ("id"), '
    f'"kind" TEXT NOT NULL {_in("kind", ("current", "business", "savings"))}, '
    '"number" TEXT NOT NULL, '
    '"currency" TEXT NOT NULL DEFAULT \'EUR\', '
    '"balance" TEXT NOT NULL, '
    '"as_of" TEXT NOT NULL)',
    'CREATE INDEX "account_customer_id" ON "account" ("customer_id")',
    'CREATE TABLE "movement" ('
    '"id" TEXT NOT NULL PRIMARY KEY, '
    '"account_id" TEXT NOT NULL REFERENCES "account" ("id"), '
    '"amount" TEXT NOT NULL, '
    '"type" TEXT NOT NULL, '
    '"booked_at" TEXT NOT NULL, '
    '"balance_after" TEXT, '
    '"synced_at" TEXT)',
    'CREATE INDEX "movement_account_id" ON "movement" ("account_id")',
    'CREATE TABLE "inbound_message" ('
    '"id" INTEGER NOT NULL PRIMARY KEY, '
    '"dedupe_key" TEXT NOT NULL UNIQUE, '
    '"modem" TEXT NOT NULL, '
    '"storage" TEXT, '
    '"storage_index" INTEGER, '
    '"pdu" TEXT NOT NULL, '
    '"sender" TEXT, '
    '"smsc_time" TEXT, '
    '"received_at" TEXT NOT NULL, '
    '"text" TEXT, '
    '"concat_ref" INTEGER, '
    '"part_no" INTEGER, '
    '"parts_total" INTEGER, '
    '"group_key" TEXT, '
    '"state" TEXT NOT NULL DEFAULT \'stored\' '
    + _in("state", ("stored", "waiting_parts", "handled", "ignored", "undecodable"))
    + ', '
    '"handled_at" TEXT, '
    '"outcome" TEXT)',
    'CREATE INDEX "inbound_message_group_key" ON "inbound_message" ("group_key")',
    'CREATE TABLE "outbox_message" ('
    '"id" INTEGER NOT NULL PRIMARY KEY, '
    '"to" TEXT NOT NULL, '
    '"text" TEXT NOT NULL, '
    f'"kind" TEXT NOT NULL {_in("kind", ("reply", "topup_result", "alert", "refusal"))}, '
    '"priority" INTEGER NOT NULL DEFAULT 0, '
    '"state" TEXT NOT NULL DEFAULT \'queued\' '
    + _in("state", ("queued", "sending", "sent", "delivered", "failed"))
    + ', '
    '"dedupe_key" TEXT UNIQUE, '
    '"inbound_id" INTEGER REFERENCES "inbound_message" ("id"), '
    '"preferred_modem" TEXT, '
    '"modem" TEXT, '
    '"modem_refs" TEXT, '
    '"delivered_refs" TEXT, '
    '"attempts" INTEGER NOT NULL DEFAULT 0, '
    '"next_attempt_at" TEXT, '
    '"last_error" TEXT, '
    '"created_at" TEXT NOT NULL, '
    '"sending_at" TEXT, '
    '"sent_at" TEXT, '
    '"delivered_at" TEXT)',
    'CREATE INDEX "outbox_message_inbound_id" ON "outbox_message" ("inbound_id")',
    'CREATE TABLE "topup_order" ('
    '"id" INTEGER NOT NULL PRIMARY KEY, '
    '"idempotency_key" TEXT NOT NULL UNIQUE, '
    '"agreement_id" TEXT NOT NULL REFERENCES "agreement" ("id"), '
    '"inbound_id" INTEGER REFERENCES "inbound_message" ("id"), '
    '"target" TEXT NOT NULL, '
    '"operator" TEXT NOT NULL, '
    '"product" TEXT, '
    '"subscriber_id" TEXT, '
    '"amount" TEXT NOT NULL, '
    '"state" TEXT NOT NULL DEFAULT \'pending\' '
    + _in("state", ("pending", "submitted", "done", "rejected", "failed"))
    + ', '
    '"bank_id" TEXT, '
    '"reason" TEXT, '
    '"balance_after" TEXT, '
    '"attempts" INTEGER NOT NULL DEFAULT 0, '
    '"next_attempt_at" TEXT, '
    '"created_at" TEXT NOT NULL, '
    '"updated_at" TEXT NOT NULL)',
    'CREATE INDEX "topup_order_agreement_id" ON "topup_order" ("agreement_id")',
    'CREATE INDEX "topup_order_inbound_id" ON "topup_order" ("inbound_id")',
    'CREATE TABLE "sync_state" ("key" TEXT NOT NULL PRIMARY KEY, "value" TEXT NOT NULL)',
    'CREATE TABLE "unknown_sender_reply" ('
    '"id" INTEGER NOT NULL PRIMARY KEY, '
    '"phone" TEXT NOT NULL, '
    '"day" TEXT NOT NULL, '
    '"created_at" TEXT NOT NULL)',
    'CREATE UNIQUE INDEX "unknown_sender_reply_phone_day" '
    'ON "unknown_sender_reply" ("phone", "day")',
    'CREATE TABLE "modem_record" ('
    '"name" TEXT NOT NULL PRIMARY KEY, "imsi" TEXT, "imei" TEXT, "last_seen" TEXT)',
)


def _v1_initial(db: peewee.SqliteDatabase) -> None:
    for statement in V1_DDL:
        db.execute_sql(statement)


def _v2_work_queue_indexes(db: peewee.SqliteDatabase) -> None:
    # The outbox worker, the inbox reassembly, the top-up retrier and the daily cap
    # scan these on every tick; without indexes they are full-table scans that grow
    # with every message the box ever handled.
    db.execute_sql(
        'CREATE INDEX "outbox_message_claim" ON "outbox_message" ("state", "priority", "id")'
    )
    db.execute_sql('CREATE INDEX "inbound_message_state" ON "inbound_message" ("state")')
    db.execute_sql('CREATE INDEX "topup_order_state" ON "topup_order" ("state")')
    db.execute_sql(
        'CREATE INDEX "topup_order_agreement_created" '
        'ON "topup_order" ("agreement_id", "created_at")'
    )
    db.execute_sql('CREATE INDEX "movement_booked_at" ON "movement" ("booked_at")')


def _v3_outbox_send_step(db: peewee.SqliteDatabase) -> None:
    """How far a send got (issue 16): NULL = nothing written yet, 'pdu' = its PDU is
    being or was written, 'unconfirmed' = a crash left it there; waiting for a report."""
    db.execute_sql(
        'ALTER TABLE "outbox_message" ADD COLUMN "send_step" TEXT '
        + _in("send_step", ("pdu", "unconfirmed"))
    )


def _v4_commands(db: peewee.SqliteDatabase) -> None:
    # Issue 12: Serbian agreements, alerts on/off, cards, bank requests. SQLite cannot
    # ALTER a CHECK constraint, and rebuilding the agreement table would need the foreign
    # keys off (impossible inside this transaction: top-up orders point at it). Widening a
    # CHECK changes no stored row, so it is one of the schema edits SQLite documents as
    # safe through `writable_schema` (https://sqlite.org/lang_altertable.html, "otherwise").
    old = _in("language", ("sq", "en"))
    new = _in("language", ("sq", "en", "sr"))
    cookie = int(db.execute_sql("PRAGMA schema_version").fetchone()[0])
    db.execute_sql("PRAGMA writable_schema = ON")
    try:
        changed = db.execute_sql(
            "UPDATE sqlite_master SET sql = replace(sql, ?, ?) "
            "WHERE type = 'table' AND name = 'agreement' AND instr(sql, ?) > 0",
            (old, new, old)).rowcount
        db.execute_sql(f"PRAGMA schema_version = {cookie + 1}")
    finally:
        db.execute_sql("PRAGMA writable_schema = OFF")
    if changed != 1:
        raise RuntimeError("agreement.language: the version-1 CHECK constraint was not found")
    db.execute_sql(
        'ALTER TABLE "agreement" ADD COLUMN "alerts_enabled" INTEGER NOT NULL DEFAULT 1 '
        'CHECK ("alerts_enabled" IN (0, 1))')
    db.execute_sql('ALTER TABLE "agreement" ADD COLUMN "alerts_since" TEXT')
    db.execute_sql(
        'CREATE TABLE "card" ('
        '"id" TEXT NOT NULL PRIMARY KEY, '
        '"customer_id" TEXT NOT NULL REFERENCES "customer" ("id"), '
        '"last4" TEXT NOT NULL, '
        '"status" TEXT NOT NULL DEFAULT \'active\' CHECK ("status" IN (\'active\', '
        '\'blocked\')), '
        '"updated_at" TEXT)'
    )
    db.execute_sql('CREATE INDEX "card_customer_id" ON "card" ("customer_id")')
    db.execute_sql(
        'CREATE TABLE "bank_request" ('
        '"id" INTEGER NOT NULL PRIMARY KEY, '
        '"idempotency_key" TEXT NOT NULL UNIQUE, '
        '"agreement_id" TEXT NOT NULL REFERENCES "agreement" ("id"), '
        '"inbound_id" INTEGER REFERENCES "inbound_message" ("id"), '
        '"kind" TEXT NOT NULL CHECK ("kind" IN (\'alerts\', \'language\', \'card_block\')), '
        '"params" TEXT NOT NULL, '
        '"state" TEXT NOT NULL DEFAULT \'pending\' CHECK ("state" IN (\'pending\', '
        '\'submitted\', \'done\', \'failed\')), '
        '"outcome" TEXT, '
        '"attempts" INTEGER NOT NULL DEFAULT 0, '
        '"next_attempt_at" TEXT, '
        '"created_at" TEXT NOT NULL, '
        '"updated_at" TEXT NOT NULL)'
    )
    db.execute_sql('CREATE INDEX "bank_request_agreement_id" ON "bank_request" ("agreement_id")')
    db.execute_sql('CREATE INDEX "bank_request_inbound_id" ON "bank_request" ("inbound_id")')
    db.execute_sql('CREATE INDEX "bank_request_state" ON "bank_request" ("state")')


def _v5_guards(db: peewee.SqliteDatabase) -> None:
    # A top-up waiting for its one-time code (DESIGN §4): the order it will become, the
    # code's salted digest (never the code), its expiry and the wrong tries so far. It
    # becomes a topup_order row only when confirmed, so the submitter never sees it before.
    db.execute_sql(
        'CREATE TABLE "topup_confirmation" ('
        '"id" INTEGER NOT NULL PRIMARY KEY, '
        '"agreement_id" TEXT NOT NULL REFERENCES "agreement" ("id"), '
        '"inbound_id" INTEGER NOT NULL REFERENCES "inbound_message" ("id"), '
        '"idempotency_key" TEXT NOT NULL UNIQUE, '
        '"target" TEXT NOT NULL, "operator" TEXT NOT NULL, "product" TEXT, '
        '"subscriber_id" TEXT, "amount" TEXT NOT NULL, '
        '"code_digest" TEXT NOT NULL, "code_salt" TEXT NOT NULL, '
        '"expires_at" TEXT NOT NULL, "tries" INTEGER NOT NULL DEFAULT 0, '
        '"state" TEXT NOT NULL DEFAULT \'awaiting_code\' '
        + _in("state", ("awaiting_code", "confirmed", "cancelled", "expired", "replaced"))
        + ', "created_at" TEXT NOT NULL, "updated_at" TEXT NOT NULL)'
    )
    db.execute_sql('CREATE INDEX "topup_confirmation_agreement_state" '
                   'ON "topup_confirmation" ("agreement_id", "state")')
    # The service centre each message came through (smsc_allow) and the bank's last SIM
    # change behind an agreement's phone (the SIM-swap hold).
    db.execute_sql('ALTER TABLE "inbound_message" ADD COLUMN "smsc" TEXT')
    db.execute_sql('ALTER TABLE "agreement" ADD COLUMN "sim_changed_at" TEXT')
    # The per-sender rate limit counts a phone's messages per window, and answers the
    # first one over the limit once per window.
    db.execute_sql('CREATE INDEX "inbound_message_sender_received" '
                   'ON "inbound_message" ("sender", "received_at")')
    db.execute_sql(
        'CREATE TABLE "rate_notice" ("id" INTEGER NOT NULL PRIMARY KEY, '
        '"phone" TEXT NOT NULL, "window" TEXT NOT NULL, "created_at" TEXT NOT NULL)')
    db.execute_sql('CREATE UNIQUE INDEX "rate_notice_phone_window" '
                   'ON "rate_notice" ("phone", "window")')


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[peewee.SqliteDatabase], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _v1_initial),
    Migration(2, "indexes for the work queues and the daily top-up cap", _v2_work_queue_indexes),
    Migration(3, "outbox: how far a send got", _v3_outbox_send_step),
    Migration(4, "Serbian, alerts on/off, cards and bank requests (issue 12)", _v4_commands),
    Migration(5, "guards: top-ups waiting for a code, inbound SMSC, SIM change", _v5_guards),
)
LATEST_VERSION: int = MIGRATIONS[-1].version


def schema_version(db: peewee.SqliteDatabase) -> int:
    """The database's schema version (0 for a new, empty file)."""
    row = db.execute_sql("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(db: peewee.SqliteDatabase, target: int | None = None) -> list[int]:
    """Apply the pending migrations up to `target` (default: latest); returns those applied.

    Each runs in its own `BEGIN IMMEDIATE` transaction with its version bump, re-reading
    the version inside the lock, so two processes opening a fresh file at once (daemon
    and doctor) cannot apply a migration twice.
    """
    goal = LATEST_VERSION if target is None else target
    current = schema_version(db)
    if current > LATEST_VERSION:
        raise SchemaTooNew(
            f"database schema version {current} is newer than this appliance's "
            f"({LATEST_VERSION}); refusing to downgrade"
        )
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version > goal:
            break
        with db.atomic(lock_type="IMMEDIATE"):
            if schema_version(db) >= migration.version:
                continue
            migration.apply(db)
            # PRAGMA takes no bound parameters; the version is our own int.
            db.execute_sql(f"PRAGMA user_version = {int(migration.version)}")
        applied.append(migration.version)
    return applied
