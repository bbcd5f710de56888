"""The bank down, end to end: balances are answered from the last synced data with their
"as of" time, top-ups are refused with a clear reply (no order, no money moved), and all
is back to normal once the bank answers again."""

from __future__ import annotations

from appliance.store.models import TopupOrder
from tests.conftest import Box
from tests.helpers import wait_for

DRITA = "+38349234567"  # English replies


def test_bank_down_then_back(box: Box) -> None:
    box.bank.set_fault("down")
    wait_for(lambda: box.daemon.last_sync_error is not None, timeout=15,
             what="a failed bank sync")
    box.deliver(DRITA, "B")
    (balance,) = box.wait_replies(DRITA, 1)
    assert "***3456" in balance
    assert "cannot be reached" in balance
    box.deliver(DRITA, "5")
    replies = box.wait_replies(DRITA, 2)
    assert "top-up was not made" in replies[1]
    assert TopupOrder.select().count() == 0

    box.bank.set_fault("none")
    wait_for(lambda: box.daemon.last_sync_error is None, timeout=15, what="a good sync")
    box.deliver(DRITA, "6")
    replies = box.wait_replies(DRITA, 3, timeout=20)
    assert "done" in replies[2]
    assert TopupOrder.get().state == "done"
