"""Cards: the customer blocks a lost card by SMS (`POST /v1/cards/block`), at most once per
idempotency key, never unblocking; the answer reveals nothing about other customers' cards."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from appliance.fakebank.agreements import AgreementLedger
from appliance.fakebank.topups import request_digest, stored_answer
from appliance.fakebank.values import FakeBankError, JsonObject, iso, utcnow

# One answer for a card that does not exist and for another customer's: nothing to learn.
_NO_CARD = (404, {"error": "unknown_card", "message": "no such card on this agreement"})


class CardLedger(AgreementLedger):
    """Card blocks and the card list."""

    def block_card(
        self, key: str, request: JsonObject, now: datetime | None = None
    ) -> tuple[int, JsonObject]:
        """Block the agreement's customer's card with those last 4 digits: (HTTP status,
        body). The same key answers the same, whatever happened since; another body with
        that key is 422."""
        canonical = _canonical_block(request)
        digest = request_digest(canonical)
        with self.transaction() as c:
            old = c.execute(
                "SELECT request_hash, status, response FROM card_blocks"
                " WHERE idempotency_key=?", (key,),
            ).fetchone()
            if old is not None:
                if old[0] != digest:
                    raise FakeBankError(
                        422, "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request",
                    )
                return int(old[1]), stored_answer(old[2])
            status, body = self._decide_block(c, canonical, now or utcnow())
            c.execute(
                "INSERT INTO card_blocks (idempotency_key, request_hash, status, response,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (key, digest, status, json.dumps(body), iso(now or utcnow())),
            )
        return status, body

    def _decide_block(
        self, c: sqlite3.Connection, req: JsonObject, now: datetime
    ) -> tuple[int, JsonObject]:
        agr = c.execute(
            "SELECT customer_id, active FROM agreements WHERE id=?", (req["agreement_id"],)
        ).fetchone()
        if agr is None or not agr[1]:
            # An unknown or closed agreement learns no more than a wrong card number.
            return _NO_CARD[0], dict(_NO_CARD[1])
        card = c.execute(
            "SELECT id, status FROM cards WHERE customer_id=? AND last4=?",
            (agr[0], req["last4"]),
        ).fetchone()
        if card is None:
            return _NO_CARD[0], dict(_NO_CARD[1])
        if card[1] != "blocked":
            c.execute("UPDATE cards SET status='blocked', blocked_at=? WHERE id=?",
                      (iso(now), card[0]))
            self._log(c, "card", str(card[0]))
        return 200, {"card_id": str(card[0]), "status": "blocked"}

    def cards(self) -> list[JsonObject]:
        """Every card with its customer and the phones of that customer's agreements."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT k.id, k.customer_id, c.name, k.last4, k.status, k.blocked_at,"
                " (SELECT json_group_array(phone) FROM (SELECT phone FROM agreements"
                "  WHERE customer_id=k.customer_id AND active=1 ORDER BY id))"
                " FROM cards k JOIN customers c ON c.id=k.customer_id ORDER BY k.id"
            ).fetchall()
        return [
            {"id": r[0], "customer_id": r[1], "customer": r[2], "last4": r[3],
             "status": r[4], "blocked_at": r[5], "phones": json.loads(r[6])}
            for r in rows
        ]

    def card_status(self, card_id: str) -> str:
        """A card's status now (`active` or `blocked`)."""
        with self._lock:
            row = self._conn.execute("SELECT status FROM cards WHERE id=?",
                                     (card_id,)).fetchone()
        if row is None:
            raise KeyError(card_id)
        return str(row[0])


def _canonical_block(request: JsonObject) -> JsonObject:
    """Validate a card-block body: `{agreement_id, last4}`."""
    unknown = set(request) - {"agreement_id", "last4"}
    if unknown:
        raise FakeBankError(400, "bad_request", f"unknown field(s): {', '.join(sorted(unknown))}")
    agreement_id = request.get("agreement_id")
    if not isinstance(agreement_id, str) or not agreement_id:
        raise FakeBankError(400, "bad_request", "agreement_id: required string")
    last4 = request.get("last4")
    if not (isinstance(last4, str) and len(last4) == 4 and last4.isascii() and last4.isdigit()):
        raise FakeBankError(400, "bad_request", "last4: the card's last 4 digits, a string")
    return {"agreement_id": agreement_id, "last4": last4}
