"""The changes feed (`GET /v1/changes`): one page of the change log, each entity as it is now."""

from __future__ import annotations

import json
from collections.abc import Sequence

from appliance.fakebank.store import LedgerStore
from appliance.fakebank.values import FakeBankError, JsonObject

_AGREEMENT_COLUMNS = ("id, customer_id, phone, services, alert_limit, language, active,"
                      " alerts_enabled, sim_changed_at")


def agreement_json(r: Sequence[object]) -> JsonObject:
    """An agreement row (in `_AGREEMENT_COLUMNS` order) as the contract's Agreement."""
    return {
        "id": r[0], "customer_id": r[1], "phone": r[2], "services": json.loads(str(r[3])),
        "alert_limit": r[4], "language": r[5], "active": bool(r[6]),
        "alerts_enabled": bool(r[7]), "sim_changed_at": r[8],
    }


class FeedLedger(LedgerStore):
    """Reads of the change log."""

    def agreement(self, agreement_id: str) -> JsonObject:
        """One agreement as the contract writes it; 404 `unknown_agreement` when absent."""
        with self._lock:
            r = self._conn.execute(
                f"SELECT {_AGREEMENT_COLUMNS} FROM agreements WHERE id=?",  # noqa: S608
                (agreement_id,),
            ).fetchone()
        if r is None:
            raise FakeBankError(404, "unknown_agreement", f"no agreement {agreement_id}")
        return agreement_json(r)

    def changes(self, after: str | None, limit: int) -> JsonObject:
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
            return {
                "cursor": str(last),
                "more": more,
                "customers": [
                    {"id": r[0], "name": r[1], "kind": r[2]}
                    for r in self._changed("customer", "id, name, kind", "customers", span)
                ],
                "agreements": [
                    agreement_json(r)
                    for r in self._changed("agreement", _AGREEMENT_COLUMNS, "agreements", span)
                ],
                "accounts": [
                    {"id": r[0], "customer_id": r[1], "kind": r[2], "number": r[3],
                     "currency": r[4], "balance": r[5], "as_of": r[6]}
                    for r in self._changed(
                        "account", "id, customer_id, kind, number, currency, balance, as_of",
                        "accounts", span)
                ],
                "cards": [
                    {"id": r[0], "customer_id": r[1], "last4": r[2], "status": r[3]}
                    for r in self._changed("card", "id, customer_id, last4, status", "cards",
                                           span)
                ],
                "movements": [
                    {"id": r[0], "account_id": r[1], "amount": r[2], "type": r[3],
                     "booked_at": r[4], "balance_after": r[5]}
                    for r in self._changed(
                        "movement", "id, account_id, amount, type, booked_at, balance_after",
                        "movements", span, order="seq")
                ],
            }

    def _changed(
        self, entity: str, columns: str, table: str, span: tuple[int, int],
        order: str = "rowid",
    ) -> list[tuple[object, ...]]:
        """The current rows of `table` whose entity changed in the change-log span."""
        rows: list[tuple[object, ...]] = self._conn.execute(
            f"SELECT {columns} FROM {table} WHERE id IN (SELECT entity_id FROM changes"  # noqa: S608
            f" WHERE seq > ? AND seq <= ? AND entity = ?) ORDER BY {order}",
            (span[0], span[1], entity),
        ).fetchall()
        return rows
