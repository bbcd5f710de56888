"""Issue 17: the outbox keeps the radio busy. It waits for the inbox only while no reply
is due (a real SQLite file), and its two lanes send in claim order, each claiming its
row while the other's is on the radio (the whole box in-process, the fake modem's
realistic delays over a pty)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from appliance.daemon.workers import _Sender
from appliance.fakemodem.model import DelayModel
from appliance.modem.pool import ModemHandle
from appliance.modem.wrapper import Modem
from appliance.store.outbox import enqueue_outbox
from tests.conftest import Box
from tests.helpers import db_rows, wait_for


def _now() -> datetime:
    return datetime.now(UTC)


def _waited(sender: _Sender, timeout: float) -> float:
    start = time.monotonic()
    sender.wait_for_inbox(timeout)
    sender.release()
    return time.monotonic() - start


def _unopened(_h: ModemHandle) -> Modem:
    raise AssertionError("never opened here")


def test_the_outbox_waits_for_the_inbox_only_while_no_reply_is_due(db: Any) -> None:
    import threading

    handle = ModemHandle("m1", "vala", _unopened)
    handle._healthy.set()  # in service, as far as the wait is concerned
    sender = _Sender(handle, _now, threading.Lock())
    handle.want_inbox()  # a +CMTI the inbox has not read yet
    # only an alert queued: the customer's reply should overtake it, so the outbox waits
    enqueue_outbox("+38344100001", "alert", "alert", _now())
    assert _waited(sender, 0.4) >= 0.35
    # a reply due: it goes next whatever the inbox decides, so no wait
    enqueue_outbox("+38344100002", "Bilanci", "reply", _now())
    assert _waited(sender, 3.0) < 0.3


def test_two_lanes_send_in_claim_order_claiming_while_the_other_sends(
        make_box: Callable[..., Box]) -> None:
    box = make_box()
    modem = box.fakes.modem
    with modem._lock:  # the realistic model from here on: sends of 1-4 s, x 0.02
        modem.interpreter.delays = DelayModel("realistic", 3, time_scale=0.02)
    phones = [f"+383441000{i:02d}" for i in range(8)]
    for phone in phones:
        enqueue_outbox(phone, f"Bilanci {phone[-2:]}", "reply", _now())
    box.daemon.wake_outbox()
    wait_for(lambda: len(box.fakes.sent()) == len(phones), 30, what="every reply sent")
    assert [m.to for m in box.fakes.sent()] == phones  # claim (= queue) order
    db = box.fakes.tmp / "appliance.sqlite"
    rows = db_rows(db, "SELECT sending_at, sent_at FROM outbox_message ORDER BY id")
    claimed = [str(r[0]) for r in rows]
    sent = [str(r[1]) for r in rows]
    # each next row was claimed before the one before it was answered: while it was on
    # the radio, not after
    ahead = sum(1 for k in range(1, len(rows)) if claimed[k] < sent[k - 1])
    assert ahead >= len(rows) - 2
