"""Issue 17: the inbox decides a burst in transactions that each hold the write lock for
at most `DECIDE_HOLD` seconds (the outbox's writes between two sends wait for them, and
the radio with them), each message still in its own savepoint (I2). Real SQLite file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.core.rules import Rules
from appliance.flows import inbound
from appliance.flows.inbound import Inbox, InboxPolicy
from appliance.store import queries
from appliance.store.db import open_database, writing
from appliance.store.models import InboundMessage, OutboxMessage

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "appliance.sqlite"
    database = open_database(path)
    yield path
    database.close()


def _burst(n: int) -> None:
    for i in range(n):
        _row, created = queries.store_inbound(
            modem="m1", pdu=f"00{i:04X}", sender=f"+3834470{i:04d}", smsc_time=T0,
            received_at=T0, text="B")
        assert created


def _decide(monkeypatch: pytest.MonkeyPatch, hold: float) -> int:
    """Decide what is stored with `DECIDE_HOLD` = `hold`; the write transactions used."""
    count = [0]

    @contextlib.contextmanager
    def counted() -> Iterator[None]:
        count[0] += 1
        with writing():  # the real transaction; only counted
            yield

    monkeypatch.setattr(inbound, "DECIDE_HOLD", hold)
    monkeypatch.setattr(inbound, "writing", counted)
    policy = InboxPolicy(rules=Rules(), multipart_timeout=timedelta(seconds=60))
    result = Inbox(policy, lambda: T0).process()
    assert result.decided == InboundMessage.select().count()
    return count[0]


def test_a_burst_is_decided_in_few_transactions_when_they_are_quick(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _burst(30)
    assert _decide(monkeypatch, hold=60.0) == 1


def test_no_transaction_holds_the_write_lock_past_the_hold(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _burst(30)
    # a hold shorter than any decision: one message per transaction, none skipped
    assert _decide(monkeypatch, hold=0.0) == 30
    assert {m.state for m in InboundMessage.select()} == {"handled"}
    assert OutboxMessage.select().count() == 30  # each stranger refused once
