"""store/sendsteps.py on a real SQLite file: a send broken off after its PDU waits for a
report like a crashed one, and a report seen before settles nothing else (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import peewee

from appliance.store import queries, sendsteps
from appliance.store.models import OutboxMessage

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PHONE = "+38344123456"


def _claimed(text: str) -> int:
    queries.enqueue_outbox(PHONE, text, "reply", NOW)
    row = queries.claim_next_outbox(frozenset(), NOW, "vala")
    assert row is not None
    return row.id


def test_a_send_broken_off_after_its_pdu_waits_for_a_report(
        db: peewee.SqliteDatabase) -> None:
    row_id = _claimed("Bilanci")
    sendsteps.mark_pdu_step(row_id)
    assert sendsteps.await_report(row_id, NOW, timedelta(seconds=60), "no answer")
    row = OutboxMessage.get_by_id(row_id)
    assert (row.state, row.send_step) == ("sending", "unconfirmed")
    assert row.next_attempt_at == NOW + timedelta(seconds=60)
    assert "no answer after its PDU was written" in row.last_error
    # Settled by its report like a row a crash left; not due for the policy before.
    assert sendsteps.expire_unconfirmed("resend", NOW + timedelta(seconds=59)) == []
    assert sendsteps.settle_unconfirmed("vala", PHONE, 7, NOW, NOW) == row_id
    assert not sendsteps.await_report(row_id, NOW, timedelta(seconds=60), "again")
    assert OutboxMessage.get_by_id(row_id).state == "delivered"


def test_a_report_seen_before_settles_no_other_row(db: peewee.SqliteDatabase) -> None:
    """A stored report read again after a kill (its slot not yet deleted) has settled its
    row already: it must not mark a later unconfirmed row to the same phone delivered."""
    first = _claimed("one")
    sendsteps.mark_pdu_step(first)
    sendsteps.recover_sending("resend", NOW, timedelta(seconds=60))
    assert sendsteps.settle_unconfirmed("vala", PHONE, 12, NOW, NOW) == first
    second = _claimed("two")
    sendsteps.mark_pdu_step(second)
    sendsteps.recover_sending("resend", NOW, timedelta(seconds=60))
    later = NOW + timedelta(seconds=5)
    assert sendsteps.settle_unconfirmed("vala", PHONE, 12, NOW, later) is None
    assert OutboxMessage.get_by_id(second).send_step == "unconfirmed"
    # Another reference is another message: it settles the second row.
    assert sendsteps.settle_unconfirmed("vala", PHONE, 13, NOW, later) == second
    # Long after, a reference may come round again (they wrap at 256).
    third = _claimed("three")
    sendsteps.mark_pdu_step(third)
    sendsteps.recover_sending("resend", NOW, timedelta(seconds=60))
    much_later = NOW + sendsteps.REPORT_MEMORY + timedelta(minutes=1)
    assert sendsteps.settle_unconfirmed("vala", PHONE, 12, NOW, much_later) == third
