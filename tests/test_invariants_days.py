"""Where a "day" ends, for the two daily rules (found missing by mutation testing): an unknown
sender's one refusal a day and the daily top-up cap both reset at LOCAL midnight
(Europe/Belgrade: 23:00 UTC in November), not per hour, not once for ever, not at UTC
midnight. The real inbox over a real SQLite file; agreements synced from the fake bank."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest

from appliance.bank.client import BankClient
from appliance.core.rules import Rules
from appliance.fakebank.server import FakeBankServer
from appliance.flows.inbound import Inbox, InboxPolicy
from appliance.flows.sync import sync_once
from appliance.store import queries
from appliance.store.db import open_database
from appliance.store.models import InboundMessage, OutboxMessage, TopupOrder

RULES = Rules()
STRANGER = "+38344700703"
ARBEN = "+38344123456"  # seed agreement G1001 (top-ups allowed)
DAY = datetime(2026, 11, 27, tzinfo=UTC)  # local midnight of the 28th is DAY + 23 h
_PDU = count(1)


class _Clock:
    def __init__(self) -> None:
        self.now = DAY

    def __call__(self) -> datetime:
        return self.now


def _say(inbox: Inbox, clock: _Clock, sender: str, text: str, at: datetime) -> InboundMessage:
    clock.now = at
    row, created = queries.store_inbound(modem="m1", pdu=f"{next(_PDU):04X}", sender=sender,
                                         smsc_time=at, received_at=at, text=text)
    assert created
    assert inbox.process().decided == 1
    decided: InboundMessage = InboundMessage.get_by_id(row.id)
    return decided


@pytest.fixture
def db(tmp_path: Path) -> Iterator[None]:
    database = open_database(tmp_path / "appliance.sqlite")
    yield
    database.close()


def test_a_stranger_is_refused_once_per_local_day(db: None) -> None:
    clock = _Clock()
    inbox = Inbox(InboxPolicy(rules=RULES, multipart_timeout=timedelta(seconds=60)), clock)

    def refusals() -> int:
        return int(OutboxMessage.select().where(OutboxMessage.to == STRANGER).count())

    assert _say(inbox, clock, STRANGER, "B", DAY + timedelta(hours=10)).outcome == (
        "stranger_refused")
    assert refusals() == 1
    # Later the same local day: silence, also two hours on and just before local midnight.
    for hours in (10.5, 12.5, 22.5):
        row = _say(inbox, clock, STRANGER, "B", DAY + timedelta(hours=hours))
        assert row.outcome == "stranger_silenced", hours
    assert refusals() == 1
    # 00:30 local on the next day (23:30 UTC, still the 27th in UTC): refused again, once.
    assert _say(inbox, clock, STRANGER, "B", DAY + timedelta(hours=23.5)).outcome == (
        "stranger_refused")
    assert _say(inbox, clock, STRANGER, "BK", DAY + timedelta(hours=23.75)).outcome == (
        "stranger_silenced")
    assert refusals() == 2


def test_the_daily_topup_cap_resets_at_local_midnight(tmp_path: Path, db: None) -> None:
    bank = FakeBankServer(tmp_path / "bank").start()
    try:
        sync_once(BankClient(bank.url, bank.token_file, retries=0), RULES, DAY)
    finally:
        bank.close()
    clock = _Clock()
    inbox = Inbox(InboxPolicy(rules=RULES, multipart_timeout=timedelta(seconds=60)), clock)
    late = DAY + timedelta(hours=22, minutes=10)  # 23:10 local on the 27th
    for n in range(RULES.daily_topup_count):
        row = _say(inbox, clock, ARBEN, "044111222 5", late + timedelta(minutes=n))
        assert row.outcome == "order", n
    sixth = _say(inbox, clock, ARBEN, "044111222 5", late + timedelta(minutes=40))
    assert sixth.outcome == "daily_cap"  # five top-ups a day
    # 00:10 local on the 28th (23:10 UTC, still the 27th in UTC): a new day, a new cap.
    next_day = _say(inbox, clock, ARBEN, "044111222 5", DAY + timedelta(hours=23, minutes=10))
    assert next_day.outcome == "order"
    assert TopupOrder.select().count() == RULES.daily_topup_count + 1
