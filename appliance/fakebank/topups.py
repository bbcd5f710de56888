"""Top-ups (`POST /v1/topups`, `.../resolve`): decided, and debited, at most once per key."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from appliance.core.rules import Operator, Rules
from appliance.fakebank.store import LedgerStore
from appliance.fakebank.values import (
    FakeBankError,
    JsonObject,
    iso,
    money,
    parse_money,
    utcnow,
)

SERVED_TOPUP_OPERATORS = ("vala", "ipko_mobile", "ipko_fixed")
PRODUCTS = ("internet", "tv", "duotv", "duofix")
MAX_TOPUP = Decimal(200)
_FENCED = "fenced"  # request_hash of a key closed by `resolve` before any request came


@dataclass(frozen=True)
class TopupOutcome:
    """What the fake bank answered a top-up, and whether it was a replay."""

    body: JsonObject
    replayed: bool


def request_digest(canonical: JsonObject) -> str:
    """A stable hash of a normalised request body (same key, other body: 422)."""
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode("utf-8")).hexdigest()


def stored_answer(text: str) -> JsonObject:
    """A JSON object stored as an answer."""
    answer = json.loads(text)
    if not isinstance(answer, dict):
        raise TypeError("a stored answer is a JSON object")
    return {str(k): v for k, v in answer.items()}


class TopupLedger(LedgerStore):
    """The top-up desk of the ledger."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._plan = Rules().numbering_plan

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

    def topup(self, key: str, request: JsonObject, now: datetime | None = None) -> TopupOutcome:
        """Decide (and, when done, debit) a top-up at most once per idempotency key."""
        canonical = _canonical_topup(request)
        digest = request_digest(canonical)
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
                return TopupOutcome(stored_answer(old[1]), replayed=True)
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
        self, c: sqlite3.Connection, req: JsonObject, now: datetime
    ) -> tuple[JsonObject, bool]:
        def rejected(reason: str) -> tuple[JsonObject, bool]:
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
        amount = Decimal(str(req["amount"]))
        if not Decimal(0) < amount <= MAX_TOPUP:
            return rejected("invalid_amount")
        target = req.get("target")
        if target is not None:
            actual = self.operator_of(str(target))
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

    def resolve(self, key: str, now: datetime | None = None) -> JsonObject:
        """The answer for `key`; a key never received is fenced: recorded as rejected
        (`not_received`), so that a late copy of its request can never debit."""
        with self.transaction() as c:
            old = c.execute(
                "SELECT response FROM topups WHERE idempotency_key=?", (key,)
            ).fetchone()
            if old is not None:
                return stored_answer(old[0])
            cur = c.execute(
                "INSERT INTO topups (idempotency_key, request_hash, response, debited, created_at)"
                " VALUES (?, ?, '', 0, ?)", (key, _FENCED, iso(now or utcnow())),
            )
            body: JsonObject = {"id": f"TU{cur.lastrowid:08d}", "status": "rejected",
                                "reason": "not_received"}
            c.execute(
                "UPDATE topups SET response=? WHERE seq=?", (json.dumps(body), cur.lastrowid)
            )
        return body


def _canonical_topup(request: JsonObject) -> JsonObject:
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
