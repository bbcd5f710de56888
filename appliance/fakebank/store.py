"""The fake bank's ledger file: schema, connection, transactions, seeding and booking.

A small SQLite file (stdlib sqlite3), never the daemon's models. It keeps customers,
agreements, accounts, cards, movements, a change log (the cursor of the changes feed is the
log's sequence number) and the answers given per idempotency key, so that the fake bank
behaves like the real one across restarts and across processes (the CLI may write straight
into this file while no server runs).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from appliance.fakebank.seeding import load_seed
from appliance.fakebank.values import (
    CENT,
    FakeBankError,
    JsonObject,
    iso,
    money,
    objects,
    utcnow,
)

DEFAULT_SERVICES = ("alerts", "balance", "topup")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agreements (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id),
    phone TEXT NOT NULL UNIQUE, services TEXT NOT NULL, alert_limit TEXT,
    language TEXT NOT NULL, active INTEGER NOT NULL,
    alerts_enabled INTEGER NOT NULL DEFAULT 1, sim_changed_at TEXT);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL, number TEXT NOT NULL UNIQUE, currency TEXT NOT NULL,
    balance TEXT NOT NULL, as_of TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id),
    last4 TEXT NOT NULL, status TEXT NOT NULL, blocked_at TEXT,
    UNIQUE (customer_id, last4));
CREATE TABLE IF NOT EXISTS movements (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id), amount TEXT NOT NULL,
    type TEXT NOT NULL, booked_at TEXT NOT NULL, balance_after TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, entity TEXT NOT NULL, entity_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS topups (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL, response TEXT NOT NULL, debited INTEGER NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS card_blocks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL, status INTEGER NOT NULL, response TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ported (phone TEXT PRIMARY KEY, operator TEXT NOT NULL);
"""
# Columns added after the first release: a ledger file from then gains them on open.
_ADDED_COLUMNS = (
    ("agreements", "alerts_enabled", "INTEGER NOT NULL DEFAULT 1"),
    ("agreements", "sim_changed_at", "TEXT"),
)


class LedgerStore:
    """The ledger's connection and its basic writes; every method is thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)
        for table, column, decl in _ADDED_COLUMNS:
            have = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: writers queue instead of failing)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @staticmethod
    def _log(c: sqlite3.Connection, entity: str, entity_id: str) -> None:
        c.execute("INSERT INTO changes (entity, entity_id) VALUES (?, ?)", (entity, entity_id))

    def execute_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        """Bulk insert inside one transaction (the benchmark's data generator)."""
        with self.transaction() as c:
            c.executemany(sql, rows)

    # -- seeding -------------------------------------------------------------------------

    def is_seeded(self) -> bool:
        """True once a seed (or a bulk load) has been applied to this file."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()
        return row is not None

    def mark_seeded(self, source: str) -> None:
        """Record that this ledger has its data, so that a restart does not seed again."""
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES ('seeded', ?)", (source,))

    def seed_from_yaml(self, path: Path | None, now: datetime | None = None) -> None:
        """Load customers, agreements, accounts, cards, history and ported numbers from YAML
        (`None`: the embedded demo seed, the same as config/demo-bank.yaml)."""
        data, source = load_seed(path)
        self.seed(data, now or utcnow())
        self.mark_seeded(source)

    def seed(self, data: JsonObject, now: datetime) -> None:
        """Apply a seed document (the shape of config/demo-bank.yaml)."""
        ported = data.get("ported") or {}
        if not isinstance(ported, dict):
            raise ValueError("ported: a mapping of phone to operator")
        with self.transaction() as c:
            for phone, operator in ported.items():
                c.execute("INSERT OR REPLACE INTO ported VALUES (?, ?)",
                          (str(phone), str(operator)))
            for cust in objects(data.get("customers")):
                cid = str(cust["id"])
                c.execute("INSERT INTO customers VALUES (?, ?, ?)",
                          (cid, str(cust["name"]), str(cust.get("kind", "private"))))
                self._log(c, "customer", cid)
                for agr in objects(cust.get("agreements")):
                    self._seed_agreement(c, cid, agr)
                # Agreements and cards first, then accounts and their history: a movement's
                # subscribers are known by the time it is synced, whatever the page size.
                for card in objects(cust.get("cards")):
                    c.execute("INSERT INTO cards VALUES (?, ?, ?, ?, NULL)",
                              (str(card["id"]), cid, str(card["last4"]),
                               str(card.get("status", "active"))))
                    self._log(c, "card", str(card["id"]))
                for acc in objects(cust.get("accounts")):
                    self._seed_account(c, cid, acc, now)

    def _seed_agreement(self, c: sqlite3.Connection, customer_id: str, agr: JsonObject) -> None:
        limit = agr.get("alert_limit")
        services = agr.get("services", list(DEFAULT_SERVICES))
        if not isinstance(services, list):
            raise ValueError(f"agreement {agr.get('id')}: services must be a list")
        swapped = agr.get("sim_changed_at")
        c.execute(
            "INSERT INTO agreements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(agr["id"]), customer_id, str(agr["phone"]),
                json.dumps([str(s) for s in services]),
                None if limit is None else money(Decimal(str(limit))),
                str(agr.get("language", "sq")), 1 if agr.get("active", True) else 0,
                1 if agr.get("alerts_enabled", True) else 0,
                None if swapped is None else iso(datetime.fromisoformat(str(swapped))),
            ),
        )
        self._log(c, "agreement", str(agr["id"]))

    def _seed_account(
        self, c: sqlite3.Connection, customer_id: str, acc: JsonObject, now: datetime
    ) -> None:
        balance = Decimal(str(acc.get("opening_balance", "0")))
        c.execute(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(acc["id"]), customer_id, str(acc["kind"]), str(acc["number"]),
             str(acc.get("currency", "EUR")), money(balance), iso(now)),
        )
        self._log(c, "account", str(acc["id"]))
        for mv in objects(acc.get("movements")):
            booked = mv.get("booked_at")
            booked_at = datetime.fromisoformat(str(booked)) if booked is not None else now
            self._book(c, str(acc["id"]), Decimal(str(mv["amount"])), str(mv["type"]),
                       booked_at)

    # -- movements -----------------------------------------------------------------------

    def book_movement(
        self, account_id: str, amount: Decimal, type_: str, booked_at: datetime | None = None
    ) -> str:
        """Book a movement on an account (running balance); return its bank-unique id."""
        if amount != amount.quantize(CENT):
            raise FakeBankError(400, "bad_request", "amount: at most two decimals")
        with self.transaction() as c:
            return self._book(c, account_id, amount, type_, booked_at or utcnow())

    def _book(
        self, c: sqlite3.Connection, account_id: str, amount: Decimal, type_: str,
        booked_at: datetime,
    ) -> str:
        row = c.execute("SELECT balance FROM accounts WHERE id=?", (account_id,)).fetchone()
        if row is None:
            raise FakeBankError(404, "unknown_account", f"no account {account_id}")
        after = Decimal(row[0]) + amount
        cur = c.execute(
            "INSERT INTO movements (id, account_id, amount, type, booked_at, balance_after)"
            " VALUES ('', ?, ?, ?, ?, ?)",
            (account_id, money(amount), type_, iso(booked_at), money(after)),
        )
        seq = cur.lastrowid
        movement_id = f"MV{seq:010d}"
        c.execute("UPDATE movements SET id=? WHERE seq=?", (movement_id, seq))
        c.execute(
            "UPDATE accounts SET balance=?, as_of=? WHERE id=?",
            (money(after), iso(booked_at), account_id),
        )
        self._log(c, "movement", movement_id)
        self._log(c, "account", account_id)
        return movement_id
