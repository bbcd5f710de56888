"""The fake bank's ledger: one SQLite file, assembled from the desks that own its parts.

`store` (schema, seeding, booking), `feed` (the changes feed), `topups`, `agreements`
(phone, alerts, language, SIM swaps) and `cards`; this module adds the read-only views
the tests and the demo inspect it with.
"""

from __future__ import annotations

from decimal import Decimal

from appliance.fakebank.cards import CardLedger
from appliance.fakebank.seeding import load_seed, seed_account_ids, seed_phones
from appliance.fakebank.topups import TopupLedger, TopupOutcome
from appliance.fakebank.values import (
    CENT,
    TYPE_CODES,
    FakeBankError,
    iso,
    money,
    parse_money,
    utcnow,
)

__all__ = [
    "CENT", "TYPE_CODES", "FakeBankDB", "FakeBankError", "TopupOutcome", "iso", "load_seed",
    "money", "parse_money", "seed_account_ids", "seed_phones", "utcnow",
]


class FakeBankDB(CardLedger, TopupLedger):
    """The fake bank's ledger over one SQLite file; every method is thread-safe."""

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

    def card_changes(self, card_id: str) -> int:
        """How often a card changed (1 for its seeding, +1 for each block that took effect):
        a card blocked once however often it was asked has 2."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM changes WHERE entity='card' AND entity_id=?", (card_id,)
            ).fetchone()
        return int(row[0])
