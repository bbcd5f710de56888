"""Changes to agreements: a re-bound phone (branch staff), alerts on/off and the language (the
customer's own choices by SMS), and the operator's SIM-swap reports. Each is logged, so it
comes back through the changes feed like any other change."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from appliance.fakebank.feed import FeedLedger
from appliance.fakebank.values import LANGUAGES, FakeBankError, JsonObject, iso, utcnow


class AgreementLedger(FeedLedger):
    """Writes to agreements."""

    def rebind_phone(self, agreement_id: str, phone: str) -> JsonObject:
        """Bind an agreement to a new phone number; 404/409 as the contract says."""
        with self.transaction() as c:
            self._existing(c, agreement_id)
            other = c.execute(
                "SELECT id FROM agreements WHERE phone=? AND id<>?", (phone, agreement_id)
            ).fetchone()
            if other is not None:
                raise FakeBankError(409, "phone_taken", "the phone belongs to another agreement")
            c.execute("UPDATE agreements SET phone=? WHERE id=?", (phone, agreement_id))
            self._log(c, "agreement", agreement_id)
        return self.agreement(agreement_id)

    def set_alerts(self, agreement_id: str, enabled: bool) -> JsonObject:
        """Alerts on or off for one agreement (`STOP`/`START` by SMS)."""
        return self._set(agreement_id, "alerts_enabled", 1 if enabled else 0)

    def set_language(self, agreement_id: str, language: str) -> JsonObject:
        """The language of the agreement's SMS: `sq`, `en` or `sr`."""
        if language not in LANGUAGES:
            raise FakeBankError(400, "bad_request", f"language: one of {', '.join(LANGUAGES)}")
        return self._set(agreement_id, "language", language)

    def _set(self, agreement_id: str, column: str, value: int | str) -> JsonObject:
        with self.transaction() as c:
            self._existing(c, agreement_id, active=True)
            current = c.execute(
                f"SELECT {column} FROM agreements WHERE id=?", (agreement_id,)  # noqa: S608
            ).fetchone()[0]
            if current != value:  # only a real change is logged
                c.execute(f"UPDATE agreements SET {column}=? WHERE id=?",  # noqa: S608
                          (value, agreement_id))
                self._log(c, "agreement", agreement_id)
        return self.agreement(agreement_id)

    @staticmethod
    def _existing(c: sqlite3.Connection, agreement_id: str, *, active: bool = False) -> None:
        row = c.execute("SELECT active FROM agreements WHERE id=?", (agreement_id,)).fetchone()
        if row is None:
            raise FakeBankError(404, "unknown_agreement", f"no agreement {agreement_id}")
        if active and not row[0]:
            raise FakeBankError(409, "agreement_inactive", "the agreement is closed")

    def sim_swap(self, phone: str, at: datetime | None = None) -> JsonObject:
        """The operator reports a new SIM behind `phone` (at `at`, default now): every
        agreement on that phone carries it as `sim_changed_at`."""
        when = iso(at or utcnow())
        with self.transaction() as c:
            ids = [str(r[0]) for r in c.execute(
                "SELECT id FROM agreements WHERE phone=? ORDER BY id", (phone,))]
            if not ids:
                raise FakeBankError(404, "unknown_phone", f"no agreement on {phone}")
            for agreement_id in ids:
                c.execute("UPDATE agreements SET sim_changed_at=? WHERE id=?",
                          (when, agreement_id))
                self._log(c, "agreement", agreement_id)
        return {"phone": phone, "agreements": ids, "sim_changed_at": when}
