"""Modem faults end to end: no answer, ERROR, garbage, bad bytes, the port vanishing and
coming back. Nothing is lost and the daemon recovers by itself within a bounded time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.store import queries
from appliance.store.models import InboundMessage, OutboxMessage
from tests.conftest import Box
from tests.helpers import wait_for

ARBEN = "+38344123456"
BESNIK = "+38345345678"
DRITA = "+38349234567"
FAST: dict[str, Any] = {"command_timeout": 1.5}  # seconds: a silent modem is noticed fast
RECOVERY = 20.0  # seconds: the bound within which the daemon must be answering again


def _nothing_lost(phones: list[str]) -> None:
    """Each phone sent one message: it is stored once, decided once, answered by one reply
    row that went out (I1, I2, I5), and nothing is left behind on the modem or in the queue."""
    wait_for(lambda: InboundMessage.select().where(
        InboundMessage.state != "handled").count() == 0, timeout=RECOVERY,
        what="every inbound message decided")
    wait_for(lambda: OutboxMessage.select().where(
        OutboxMessage.state.in_(("queued", "sending"))).count() == 0, timeout=RECOVERY,
        what="an empty outbox")
    for phone in phones:
        rows = list(InboundMessage.select().where(InboundMessage.sender == phone))
        assert len(rows) == 1, f"{phone[:7]}...: {len(rows)} inbound rows for one message"
        assert rows[0].state == "handled"
        replies = list(OutboxMessage.select().where(
            (OutboxMessage.inbound == rows[0].id) & (OutboxMessage.kind == "reply")))
        assert [r.state in ("sent", "delivered") for r in replies] == [True], (
            f"{phone[:7]}...: replies {[r.state for r in replies]}")


def test_no_answer_to_listing_takes_the_modem_out_and_back(
        make_box: Callable[..., Box]) -> None:
    b = make_box(modem=FAST)
    b.modem.fault("no-answer", match="+CMGL", count=1)
    b.deliver(ARBEN, "B")
    b.wait_replies(ARBEN, 1, timeout=RECOVERY)
    _nothing_lost([ARBEN])
    log = b.log_file.read_text(encoding="utf-8")
    # Out, then back in: the start-up's own "in service" line does not count.
    out_at = log.index("out of service")
    assert "in service" in log[out_at + len("out of service"):]


def test_no_answer_to_a_send_is_settled_by_its_report_not_sent_twice(
        make_box: Callable[..., Box]) -> None:
    b = make_box(modem=FAST)
    b.modem.fault("no-answer", match="+CMGS", count=1)
    b.deliver(BESNIK, "B")
    # The submission went out although the modem never said so: its status report says
    # it was delivered, so it is not sent again (with no report, it would be after the
    # grace: tests/test_e2e_sendreports.py).
    b.wait_replies(BESNIK, 1, timeout=RECOVERY)
    row = wait_for(lambda: OutboxMessage.get_or_none((OutboxMessage.to == BESNIK)
                                                     & (OutboxMessage.state == "delivered")),
                   timeout=RECOVERY, what="the row settled by its report")
    assert row.attempts == 1
    _nothing_lost([BESNIK])
    assert len(b.sent_to(BESNIK)) == 1


def test_transient_error_is_retried_without_holding_up_the_queue(
        make_box: Callable[..., Box]) -> None:
    b = make_box(modem=FAST, outbox={"backoff_initial": 1.0})
    b.modem.fault("cms-error", match="+CMGS", code=500, count=1)
    b.deliver(ARBEN, "B")
    b.deliver(DRITA, "B")
    b.wait_replies(ARBEN, 1, timeout=RECOVERY)
    b.wait_replies(DRITA, 1, timeout=RECOVERY)
    order = [m.to for m in b.sent()]
    first = OutboxMessage.select().order_by(OutboxMessage.id).first()
    # The message that failed went back with a backoff; the one behind it went first.
    assert order.index(first.to) == 1
    assert first.attempts == 2
    _nothing_lost([ARBEN, DRITA])


def test_permanent_failure_is_failed_loudly_and_the_rest_goes_on(
        make_box: Callable[..., Box]) -> None:
    b = make_box(modem=FAST)
    now = b.daemon.clock()
    bad = queries.enqueue_outbox("+3834412345678901234567", "x", "reply", now)
    assert bad is not None
    b.deliver(ARBEN, "B")
    b.wait_replies(ARBEN, 1, timeout=RECOVERY)
    wait_for(lambda: OutboxMessage.get_by_id(bad.id).state == "failed", timeout=RECOVERY)
    log = b.log_file.read_text(encoding="utf-8")
    assert f"ERROR appliance.flows.outbound: outbox {bad.id} (reply)" in log
    assert "FAILED after 1 attempt(s)" in log


def test_garbage_and_bad_bytes_on_the_line_are_survived(make_box: Callable[..., Box]) -> None:
    b = make_box(modem=FAST)
    b.modem.fault("garbage", count=64)
    b.modem.fault("non-utf8", match="+CMGL", count=1)
    b.deliver(ARBEN, "B")
    b.wait_replies(ARBEN, 1, timeout=RECOVERY)
    b.modem.fault("garbage", count=64)
    b.deliver(DRITA, "BK")
    b.wait_replies(DRITA, 1, timeout=RECOVERY)
    _nothing_lost([ARBEN, DRITA])


def test_port_vanishing_and_coming_back(make_box: Callable[..., Box]) -> None:
    b = make_box(modem=FAST)
    b.deliver(ARBEN, "B")
    b.wait_replies(ARBEN, 1, timeout=RECOVERY)
    handle = b.daemon.pool.handles["m1"]
    b.modem.vanish(reappear_after=1.5)
    wait_for(lambda: not handle.healthy, timeout=RECOVERY, what="the modem out of service")
    # A message arriving meanwhile waits on the (re-powered) modem's SIM.
    wait_for(lambda: b.modem.pty_path is not None, timeout=RECOVERY, what="the port back")
    b.deliver(BESNIK, "BK")
    wait_for(lambda: handle.healthy, timeout=RECOVERY, what="the modem back in service")
    b.wait_replies(BESNIK, 1, timeout=RECOVERY)
    _nothing_lost([ARBEN, BESNIK])
