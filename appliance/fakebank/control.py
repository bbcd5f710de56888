"""A small client for the fake bank's admin side (`/_fake/...`), for the CLI and for tests
that run the bank in another process (as `fakemodem.control.ControlClient` is for the modem).

`AdminClient.for_state_dir(DIR)` finds the bank that serves DIR through `DIR/fakebank.json`
and `DIR/bank-token`, and answers None when none answers there.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import httpx

from appliance.fakebank.server import INFO_NAME, TOKEN_NAME
from appliance.fakebank.values import FakeBankError, JsonObject, iso


class AdminClient:
    """The admin endpoints of one running fake bank; errors come back as FakeBankError."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"})

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> AdminClient | None:
        """A client for the fake bank that answers for `state_dir`, or None."""
        try:
            info = json.loads((state_dir / INFO_NAME).read_text(encoding="utf-8"))
            token = (state_dir / TOKEN_NAME).read_text(encoding="utf-8").strip()
            url = str(info["url"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        client = cls(url, token)
        try:
            client.health()
        except (httpx.HTTPError, FakeBankError):
            client.close()
            return None  # a stale file from a bank that died
        return client

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health(self) -> None:
        """Raises unless the bank answers."""
        self._call("GET", "/_fake/health", timeout=2.0)

    def book_movement(self, account_id: str, amount: Decimal, type_: str) -> str:
        """Book a movement; its id."""
        body = self._call("POST", "/_fake/movements", {
            "account_id": account_id, "amount": str(amount), "type": type_})
        return str(body["id"])

    def set_fault(self, mode: str, *, count: int | None = None,
                  delay: float | None = None) -> JsonObject:
        """Inject a fault (`none` clears it); the fault now in force."""
        body: JsonObject = {"mode": mode}
        if count is not None:
            body["count"] = count
        if delay is not None:
            body["delay"] = delay
        return self._call("POST", "/_fake/fault", body)

    def sim_swap(self, phone: str, at: datetime | None = None) -> JsonObject:
        """The operator reports a new SIM behind `phone`: `{phone, agreements,
        sim_changed_at}`."""
        body: JsonObject = {"phone": phone}
        if at is not None:
            body["at"] = iso(at)
        return self._call("POST", "/_fake/sim-swap", body)

    def cards(self) -> list[JsonObject]:
        """Every card: `{id, customer_id, customer, last4, status, blocked_at, phones}`."""
        cards = self._call("GET", "/_fake/cards").get("cards")
        if not isinstance(cards, list):
            raise FakeBankError(500, "bad_answer", "cards: not a list")
        return [{str(k): v for k, v in c.items()} for c in cards if isinstance(c, dict)]

    def _call(self, method: str, path: str, body: JsonObject | None = None,
              timeout: float | None = None) -> JsonObject:
        response = self._http.request(method, path, json=body,
                                      timeout=timeout or httpx.USE_CLIENT_DEFAULT)
        try:
            data = response.json()
        except ValueError as exc:
            raise FakeBankError(response.status_code, "bad_answer", response.text[:200]) from exc
        if not isinstance(data, dict):
            raise FakeBankError(response.status_code, "bad_answer", "not a JSON object")
        if response.status_code >= 400:
            raise FakeBankError(response.status_code, str(data.get("error")),
                                str(data.get("message")))
        return {str(k): v for k, v in data.items()}
