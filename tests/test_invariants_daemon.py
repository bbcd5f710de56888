"""The daemon's own guards on invariants 4 and 7, end to end (found missing by mutation
testing): real fake bank over HTTP, fake modem on a pty, SQLite file, daemon in-process.

- No customer is answered before the first bank sync: with an empty database every
  customer would otherwise be refused as a stranger.
- A sent reply records the modem's reference, so the network's status report marks it
  delivered (I5: `sent` with the modem reference after `AT+CMGS`).
- An alert whose send the modem never acknowledged is not dropped, and not doubled: it
  went out, and its status report settles it (I4 with I5; issue 16: before, it was sent
  again at once).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from appliance.store.models import InboundMessage, OutboxMessage, UnknownSenderReply
from tests.conftest import Box, Fakes
from tests.helpers import wait_for

ARBEN = "+38344123456"  # seed: Vala, Albanian, current ***2345 (A1001), alerts from 500 EUR
FAST: dict[str, Any] = {"command_timeout": 1.5}
BOUND = 20.0


def test_nothing_is_answered_before_the_first_sync(
        fakes: Fakes, make_box: Callable[..., Box]) -> None:
    fakes.bank.set_fault("down")  # the very first sync fails: the database knows nobody
    b = make_box()
    assert b.daemon.last_sync_error
    b.deliver(ARBEN, "B")
    wait_for(lambda: InboundMessage.select().count() == 1 and b.modem.stored() == [],
             timeout=BOUND, what="the message stored and deleted from the modem")
    # Let the turn that stored it finish: the next turn starts with a new heartbeat.
    beat = b.daemon.inbox_heartbeat
    b.daemon.wake_inbox()
    wait_for(lambda: b.daemon.inbox_heartbeat != beat, timeout=BOUND, what="an inbox turn")
    assert InboundMessage.get().state == "stored"
    assert not OutboxMessage.select().exists(), "answered before the first sync"
    assert not UnknownSenderReply.select().exists()

    fakes.bank.set_fault("none")  # the bank comes back; the scheduled sync brings the data
    (reply,) = b.wait_replies(ARBEN, 1, timeout=BOUND)
    assert "***2345" in reply  # the customer's balance, never the stranger's refusal
    wait_for(lambda: InboundMessage.get().state == "handled", timeout=BOUND)
    assert not UnknownSenderReply.select().exists()
    assert b.sent_to(ARBEN) == [reply]


def test_an_alert_the_modem_never_acknowledged_is_settled_by_its_report_not_sent_twice(
        make_box: Callable[..., Box]) -> None:
    b = make_box(modem=FAST)
    b.modem.fault("no-answer", match="+CMGS", count=1)  # it goes out; +CMGS never answers
    b.bank.book_movement("A1001", Decimal("-600.00"), "POS")  # above Arben's 500 EUR limit

    def alert() -> OutboxMessage | None:
        row = OutboxMessage.get_or_none((OutboxMessage.kind == "alert")
                                        & (OutboxMessage.to == ARBEN))
        return row if row is not None and row.state in ("sent", "delivered", "failed") else None

    row = wait_for(alert, timeout=BOUND, what="the alert sent (or given up)")
    assert row is not None
    assert row.state == "delivered", f"alert {row.state}: {row.last_error}"
    assert row.attempts == 1
    assert b.sent_to(ARBEN) == [row.text]
    assert "***2345" in row.text


def test_a_sent_reply_keeps_the_modem_reference_and_is_marked_delivered(box: Box) -> None:
    box.deliver(ARBEN, "B")
    (reply,) = box.wait_replies(ARBEN, 1, timeout=BOUND)
    [sent] = [m for m in box.sent() if m.to == ARBEN]
    assert sent.refs
    row = wait_for(
        lambda: OutboxMessage.get_or_none((OutboxMessage.to == ARBEN)
                                          & (OutboxMessage.state == "delivered")),
        timeout=BOUND, what="the status report applied")
    assert row is not None
    assert row.text == reply
    assert row.modem_refs == ",".join(str(r) for r in sent.refs)
    assert row.delivered_at is not None
