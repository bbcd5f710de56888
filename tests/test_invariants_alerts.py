"""Alerts go only to phones whose agreement carries the alerts service (found missing by
mutation testing: every seeded agreement had it). Real fake bank over HTTP, real SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from appliance.bank.client import BankClient
from appliance.core.rules import Rules
from appliance.fakebank.server import FakeBankServer
from appliance.flows.sync import sync_once
from appliance.store.db import open_database
from appliance.store.models import OutboxMessage

RULES = Rules()
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SUBSCRIBED = "+38344800801"
NOT_SUBSCRIBED = "+38344800802"  # same customer, balance and top-ups only
NO_LIMIT = "+38344800803"  # alerts service, but no limit chosen


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[FakeBankServer]:
    server = FakeBankServer(tmp_path / "bank").start()
    server.db.seed({"customers": [{
        "id": "C9001", "name": "Test Customer", "kind": "business",
        "accounts": [{"id": "A9001", "kind": "business", "number": "1110000900012345",
                      "opening_balance": "10000.00"}],
        "agreements": [
            {"id": "G9001", "phone": SUBSCRIBED, "services": ["alerts", "balance"],
             "alert_limit": "100"},
            {"id": "G9002", "phone": NOT_SUBSCRIBED, "services": ["balance", "topup"],
             "alert_limit": "100"},
            {"id": "G9003", "phone": NO_LIMIT, "services": ["alerts", "balance"]},
        ],
    }]}, T0)
    yield server
    server.close()


def test_only_agreements_with_the_alerts_service_get_alerts(
        tmp_path: Path, bank: FakeBankServer) -> None:
    database = open_database(tmp_path / "appliance.sqlite")
    try:
        client = BankClient(bank.url, bank.token_file, retries=0)
        sync_once(client, RULES, T0)  # the baseline: history never alerts
        movement = bank.book_movement("A9001", Decimal("-250.00"), "transfer_out")
        report = sync_once(client, RULES, T0)
        assert report.movements == 1
        rows = list(OutboxMessage.select().where(OutboxMessage.kind == "alert"))
        assert [(r.to, r.dedupe_key) for r in rows] == [
            (SUBSCRIBED, f"alert:{movement}:{SUBSCRIBED}")]
        assert "***2345" in rows[0].text
        assert report.alerts == 1
    finally:
        database.close()
