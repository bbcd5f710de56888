"""The fake bank's own ledger: a small SQLite file (stdlib sqlite3), never the daemon's models.

It keeps customers, agreements, accounts, movements, a change log (the cursor of the changes
feed is the log's sequence number) and the top-ups it answered (by idempotency key), so that
the fake bank behaves like the real one across restarts and across processes (the CLI may
book a movement straight into this file while no server runs).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from appliance.core.rules import Operator, Rules

CENT = Decimal("0.01")
SERVED_TOPUP_OPERATORS = ("vala", "ipko_mobile", "ipko_fixed")
PRODUCTS = ("internet", "tv", "duotv", "duofix")
ACCOUNT_KINDS = ("current", "business", "savings")
MAX_TOPUP = Decimal(200)
# The movement types this bank books (docs/bank-api.md). The contract lets a bank add more:
# the fake books any other code it is given, so that the box's neutral word can be tried.
TYPE_CODES = (
    "card_payment", "card_refund", "atm_withdrawal", "cash_deposit", "cash_withdrawal",
    "transfer_in", "transfer_out", "standing_order", "direct_debit", "salary", "pension",
    "fee", "interest", "topup", "refund", "loan_repayment",
)
_FENCED = "fenced"  # request_hash of a key closed by `resolve` before any request came

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agreements (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id),
    phone TEXT NOT NULL UNIQUE, services TEXT NOT NULL, alert_limit TEXT,
    language TEXT NOT NULL, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL, number TEXT NOT NULL UNIQUE, currency TEXT NOT NULL,
    balance TEXT NOT NULL, as_of TEXT NOT NULL);
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
CREATE TABLE IF NOT EXISTS ported (phone TEXT PRIMARY KEY, operator TEXT NOT NULL);
"""


def load_seed(path: Path | None) -> tuple[dict[str, Any], str]:
    """The seed document at `path` (`None`: the embedded demo seed) and where it came from."""
    if path is None:
        from appliance.fakebank.seed import DEMO_SEED_YAML  # noqa: PLC0415

        text, source = DEMO_SEED_YAML, "embedded demo seed"
    else:
        text, source = path.read_text(encoding="utf-8"), str(path)
    return yaml.safe_load(text) or {}, source


def seed_account_ids(path: Path | None) -> set[str]:
    """The ids of the accounts a new ledger seeded from `path` would have."""
    data, _source = load_seed(path)
    return {
        str(acc["id"])
        for cust in data.get("customers") or [] for acc in cust.get("accounts") or []
    }


class FakeBankError(Exception):
    """A request the fake bank refuses with an HTTP error: `status`, `code`, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def utcnow() -> datetime:
    """The fake bank's clock (the bank is I/O; it may read the time)."""
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """ISO 8601 in UTC with an explicit offset, as the contract wants."""
    return ts.astimezone(UTC).isoformat(timespec="seconds")


def money(value: Decimal) -> str:
    """A Decimal as the contract's money string: two decimals, no exponent."""
    return str(value.quantize(CENT))


def parse_money(text: object, what: str) -> Decimal:
    """Parse a money string from a request; a float or junk is a 400."""
    if not isinstance(text, str):
        raise FakeBankError(400, "bad_request", f"{what}: expected a decimal string")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise FakeBankError(400, "bad_request", f"{what}: not a decimal: {text!r}") from exc
    if not value.is_finite() or value != value.quantize(CENT):
        raise FakeBankError(400, "bad_request", f"{what}: at most two decimals")
    return value


@dataclass(frozen=True)
class TopupOutcome:
    """What the fake bank answered a top-up, and whether it was a replay."""

    body: dict[str, Any]
    replayed: bool


class FakeBankDB:
    """The fake bank's ledger over one SQLite file; every method is thread-safe."""

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
        self._plan = Rules().numbering_plan

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
        """Load customers, agreements, accounts, history and ported numbers from YAML
        (`None`: the embedded demo seed, the same as config/demo-bank.yaml)."""
        data, source = load_seed(path)
        self.seed(data, now or utcnow())
        self.mark_seeded(source)

    def seed(self, data: dict[str, Any], now: datetime) -> None:
        """Apply a seed document (the shape of config/demo-bank.yaml)."""
        with self.transaction() as c:
            for phone, operator in (data.get("ported") or {}).items():
                c.execute("INSERT OR REPLACE INTO ported VALUES (?, ?)", (phone, operator))
            for cust in data.get("customers") or []:
                c.execute(
                    "INSERT INTO customers VALUES (?, ?, ?)",
                    (cust["id"], cust["name"], cust.get("kind", "private")),
                )
                self._log(c, "customer", cust["id"])
                for agr in cust.get("agreements") or []:
                    limit = agr.get("alert_limit")
                    c.execute(
                        "INSERT INTO agreements VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            agr["id"], cust["id"], agr["phone"],
                            json.dumps(list(agr.get("services", ["alerts", "balance", "topup"]))),
                            None if limit is None else money(Decimal(str(limit))),
                            agr.get("language", "sq"), 1 if agr.get("active", True) else 0,
                        ),
                    )
                    self._log(c, "agreement", agr["id"])
                # Agreements first, then accounts and their history: a movement's subscribers
                # are known by the time it is synced, whatever the page size.
                for acc in cust.get("accounts") or []:
                    self._seed_account(c, cust["id"], acc, now)

    def _seed_account(
        self, c: sqlite3.Connection, customer_id: str, acc: dict[str, Any], now: datetime
    ) -> None:
        balance = Decimal(str(acc.get("opening_balance", "0")))
        history = acc.get("movements") or []
        as_of = iso(now)
        c.execute(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?)",
            (acc["id"], customer_id, acc["kind"], str(acc["number"]),
             acc.get("currency", "EUR"), money(balance), as_of),
        )
        self._log(c, "account", acc["id"])
        for mv in history:
            booked = mv.get("booked_at")
            booked_at = (
                datetime.fromisoformat(str(booked)) if booked is not None else now
            )
            self._book(c, acc["id"], Decimal(str(mv["amount"])), str(mv["type"]), booked_at)

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

    @staticmethod
    def _log(c: sqlite3.Connection, entity: str, entity_id: str) -> None:
        c.execute("INSERT INTO changes (entity, entity_id) VALUES (?, ?)", (entity, entity_id))

    # -- the changes feed ----------------------------------------------------------------

    def changes(self, after: str | None, limit: int) -> dict[str, Any]:
        """One page of the changes feed after `after` (the contract's ChangesPage)."""
        start = 0
        if after is not None:
            if not after.isdigit():
                raise FakeBankError(400, "bad_cursor", "after: not a cursor this bank issued")
            start = int(after)
        with self._lock:
            row = self._conn.execute(
                "SELECT MAX(seq) FROM (SELECT seq FROM changes WHERE seq > ? ORDER BY seq"
                " LIMIT ?)", (start, limit),
            ).fetchone()
            last = start if row[0] is None else int(row[0])
            more = (
                self._conn.execute("SELECT 1 FROM changes WHERE seq > ? LIMIT 1", (last,))
                .fetchone() is not None
            )
            span = (start, last)
            page: dict[str, Any] = {
                "cursor": str(last),
                "more": more,
                "customers": [
                    {"id": r[0], "name": r[1], "kind": r[2]}
                    for r in self._changed("customer", "id, name, kind", "customers", span)
                ],
                "agreements": [
                    self._agreement_json(r)
                    for r in self._changed(
                        "agreement",
                        "id, customer_id, phone, services, alert_limit, language, active",
                        "agreements", span)
                ],
                "accounts": [
                    {"id": r[0], "customer_id": r[1], "kind": r[2], "number": r[3],
                     "currency": r[4], "balance": r[5], "as_of": r[6]}
                    for r in self._changed(
                        "account", "id, customer_id, kind, number, currency, balance, as_of",
                        "accounts", span)
                ],
                "movements": [
                    {"id": r[0], "account_id": r[1], "amount": r[2], "type": r[3],
                     "booked_at": r[4], "balance_after": r[5]}
                    for r in self._changed(
                        "movement", "id, account_id, amount, type, booked_at, balance_after",
                        "movements", span, order="seq")
                ],
            }
        return page

    def _changed(
        self, entity: str, columns: str, table: str, span: tuple[int, int],
        order: str = "rowid",
    ) -> list[tuple[Any, ...]]:
        """The current rows of `table` whose entity changed in the change-log span."""
        return self._conn.execute(
            f"SELECT {columns} FROM {table} WHERE id IN (SELECT entity_id FROM changes"  # noqa: S608
            f" WHERE seq > ? AND seq <= ? AND entity = ?) ORDER BY {order}",
            (span[0], span[1], entity),
        ).fetchall()

    @staticmethod
    def _agreement_json(r: Sequence[Any]) -> dict[str, Any]:
        return {
            "id": r[0], "customer_id": r[1], "phone": r[2], "services": json.loads(r[3]),
            "alert_limit": r[4], "language": r[5], "active": bool(r[6]),
        }

    # -- agreements ----------------------------------------------------------------------

    def rebind_phone(self, agreement_id: str, phone: str) -> dict[str, Any]:
        """Bind an agreement to a new phone number; 404/409 as the contract says."""
        with self.transaction() as c:
            row = c.execute("SELECT id FROM agreements WHERE id=?", (agreement_id,)).fetchone()
            if row is None:
                raise FakeBankError(404, "unknown_agreement", f"no agreement {agreement_id}")
            other = c.execute(
                "SELECT id FROM agreements WHERE phone=? AND id<>?", (phone, agreement_id)
            ).fetchone()
            if other is not None:
                raise FakeBankError(409, "phone_taken", "the phone belongs to another agreement")
            c.execute("UPDATE agreements SET phone=? WHERE id=?", (phone, agreement_id))
            self._log(c, "agreement", agreement_id)
            r = c.execute(
                "SELECT id, customer_id, phone, services, alert_limit, language, active"
                " FROM agreements WHERE id=?", (agreement_id,),
            ).fetchone()
        return self._agreement_json(r)

    # -- top-ups -------------------------------------------------------------------------

    def operator_of(self, phone: str) -> str | None:
        """The operator that really serves `phone` now (ported numbers keep their prefix)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT operator FROM ported WHERE phone=?", (phone,)
            ).fetchone()
        if row is not None:
            return str(row[0])
        if not phone.startswith("+383"):
            return None
        national = phone[4:]
        best: tuple[int, Operator] | None = None
        for prefix, operator in self._plan:
            if national.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), operator)
        return None if best is None else best[1].value

    def topup(self, key: str, request: dict[str, Any], now: datetime | None = None) -> TopupOutcome:
        """Decide (and, when done, debit) a top-up at most once per idempotency key."""
        canonical = _canonical_topup(request)
        digest = hashlib.sha256(
            json.dumps(canonical, sort_keys=True).encode("utf-8")
        ).hexdigest()
        with self.transaction() as c:
            old = c.execute(
                "SELECT request_hash, response FROM topups WHERE idempotency_key=?", (key,)
            ).fetchone()
            if old is not None:
                if old[0] != digest and old[0] != _FENCED:
                    raise FakeBankError(
                        422, "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request",
                    )
                return TopupOutcome(json.loads(old[1]), replayed=True)
            body, debited = self._decide_topup(c, canonical, now or utcnow())
            cur = c.execute(
                "INSERT INTO topups (idempotency_key, request_hash, response, debited, created_at)"
                " VALUES (?, ?, '', ?, ?)",
                (key, digest, 1 if debited else 0, iso(now or utcnow())),
            )
            body = {"id": f"TU{cur.lastrowid:08d}", **body}
            c.execute(
                "UPDATE topups SET response=? WHERE seq=?", (json.dumps(body), cur.lastrowid)
            )
        return TopupOutcome(body, replayed=False)

    def _decide_topup(
        self, c: sqlite3.Connection, req: dict[str, Any], now: datetime
    ) -> tuple[dict[str, Any], bool]:
        def rejected(reason: str) -> tuple[dict[str, Any], bool]:
            return {"status": "rejected", "reason": reason}, False

        agr = c.execute(
            "SELECT customer_id, services, active FROM agreements WHERE id=?",
            (req["agreement_id"],),
        ).fetchone()
        if agr is None:
            return rejected("unknown_agreement")
        if not agr[2]:
            return rejected("agreement_inactive")
        if "topup" not in json.loads(agr[1]):
            return rejected("service_not_enabled")
        amount = Decimal(req["amount"])
        if not Decimal(0) < amount <= MAX_TOPUP:
            return rejected("invalid_amount")
        if req.get("target") is not None:
            actual = self.operator_of(req["target"])
            if actual is None or actual not in SERVED_TOPUP_OPERATORS:
                return rejected("unknown_target")
            if actual != req["operator"]:
                return rejected("operator_mismatch")
        elif req["operator"] not in ("ipko_mobile", "ipko_fixed"):
            return rejected("operator_mismatch")  # the monthly products are IPKO's
        acc = c.execute(
            "SELECT id, balance FROM accounts WHERE customer_id=? AND kind IN ('current',"
            " 'business') ORDER BY CASE kind WHEN 'current' THEN 0 ELSE 1 END, id LIMIT 1",
            (agr[0],),
        ).fetchone()
        if acc is None:
            return rejected("no_account")
        if Decimal(acc[1]) < amount:
            return rejected("insufficient_funds")
        self._book(c, acc[0], -amount, "topup", now)
        after = c.execute("SELECT balance FROM accounts WHERE id=?", (acc[0],)).fetchone()[0]
        return {"status": "done", "balance_after": after}, True

    def resolve(self, key: str, now: datetime | None = None) -> dict[str, Any]:
        """The answer for `key`; a key never received is fenced: recorded as rejected
        (`not_received`), so that a late copy of its request can never debit."""
        with self.transaction() as c:
            old = c.execute(
                "SELECT response FROM topups WHERE idempotency_key=?", (key,)
            ).fetchone()
            if old is not None:
                answer: dict[str, Any] = json.loads(old[0])
                return answer
            cur = c.execute(
                "INSERT INTO topups (idempotency_key, request_hash, response, debited, created_at)"
                " VALUES (?, ?, '', 0, ?)", (key, _FENCED, iso(now or utcnow())),
            )
            body = {"id": f"TU{cur.lastrowid:08d}", "status": "rejected",
                    "reason": "not_received"}
            c.execute(
                "UPDATE topups SET response=? WHERE seq=?", (json.dumps(body), cur.lastrowid)
            )
        return body

    # -- inspection (tests, demo) --------------------------------------------------------

    def debit_count(self, key: str | None = None) -> int:
        """How many top-ups debited money (for one idempotency key, or in all)."""
        with self._lock:
            if key is None:
                row = self._conn.execute("SELECT COUNT(*) FROM topups WHERE debited=1").fetchone()
            else:
                row = self._conn.execute(
                    "SELECT COUNT(*) FROM topups WHERE debited=1 AND idempotency_key=?", (key,)
                ).fetchone()
        return int(row[0])

    def topup_movement_count(self, account_id: str) -> int:
        """How many `topup` movements an account has (a second view on double debits)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM movements WHERE account_id=? AND type='topup'",
                (account_id,),
            ).fetchone()
        return int(row[0])

    def balance(self, account_id: str) -> Decimal:
        """An account's balance now."""
        with self._lock:
            row = self._conn.execute(
                "SELECT balance FROM accounts WHERE id=?", (account_id,)
            ).fetchone()
        if row is None:
            raise KeyError(account_id)
        return Decimal(row[0])

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Bulk insert inside one transaction (the benchmark's data generator)."""
        with self.transaction() as c:
            c.executemany(sql, rows)


def _canonical_topup(request: dict[str, Any]) -> dict[str, Any]:
    """Validate a top-up body and normalise it, so that "5" and "5.00" are the same request."""
    allowed = {"agreement_id", "operator", "amount", "target", "product", "subscriber_id"}
    unknown = set(request) - allowed
    if unknown:
        raise FakeBankError(400, "bad_request", f"unknown field(s): {', '.join(sorted(unknown))}")
    agreement_id = request.get("agreement_id")
    if not isinstance(agreement_id, str) or not agreement_id:
        raise FakeBankError(400, "bad_request", "agreement_id: required string")
    operator = request.get("operator")
    if operator not in SERVED_TOPUP_OPERATORS:
        raise FakeBankError(400, "bad_request", "operator: one of vala, ipko_mobile, ipko_fixed")
    amount = parse_money(request.get("amount"), "amount")
    target = request.get("target")
    product = request.get("product")
    subscriber = request.get("subscriber_id")
    if target is not None:
        if product is not None or subscriber is not None:
            raise FakeBankError(400, "bad_request", "target excludes product/subscriber_id")
        if not (isinstance(target, str) and target.startswith("+") and target[1:].isdigit()
                and 8 <= len(target) <= 16):
            raise FakeBankError(400, "bad_request", "target: an E.164 number")
    else:
        if product not in PRODUCTS:
            raise FakeBankError(400, "bad_request", "either target or product + subscriber_id")
        if not isinstance(subscriber, str) or not subscriber:
            raise FakeBankError(400, "bad_request", "subscriber_id: required with product")
    return {
        "agreement_id": agreement_id, "operator": operator, "amount": money(amount),
        "target": target, "product": product, "subscriber_id": subscriber,
    }
