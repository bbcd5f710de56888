"""Store functions moved out of the inbox (queries.mark_waiting_parts) that the in-process
tests do not reach otherwise (the multi-part flows run the daemon in a subprocess)."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee

from appliance.store import queries
from appliance.store.models import InboundMessage

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _stored(n: int, state: str = "stored") -> int:
    row, _ = queries.store_inbound(modem="m1", pdu=f"0{n:03d}", sender="+38344123456",
                                   smsc_time=NOW, received_at=NOW, state=state)
    return int(row.id)


def test_mark_waiting_parts_marks_only_the_given_rows(db: peewee.SqliteDatabase) -> None:
    first, second, third = _stored(1), _stored(2), _stored(3)
    assert queries.mark_waiting_parts([first, third]) == 2
    states = {int(r.id): str(r.state) for r in InboundMessage.select()}
    assert states == {first: "waiting_parts", second: "stored", third: "waiting_parts"}
    assert [int(r.id) for r in queries.pending_inbound()] == [first, second, third]


def test_mark_waiting_parts_of_nothing_changes_nothing(db: peewee.SqliteDatabase) -> None:
    only = _stored(1)
    assert queries.mark_waiting_parts([]) == 0
    assert InboundMessage.get_by_id(only).state == "stored"
