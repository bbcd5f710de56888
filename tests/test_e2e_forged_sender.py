"""DESIGN §2 invariant 8 through the real parts: a sender is matched by its exact E.164
number. Old Kosovo codes (+377 is Monaco today, +386 Slovenia) and every forgiving form a
customer may *type* are strangers when they come as the *sender* address."""

from __future__ import annotations

import pytest

from appliance.store.models import InboundMessage, OutboxMessage, TopupOrder
from tests.conftest import Box
from tests.helpers import wait_for

ARBEN = "+38344123456"
DRITA = "+38349234567"
ARBEN_CURRENT = "A1001"  # the fake bank's id of ***2345

FORGED = [
    "+37744123456",  # Vala's old code: Monaco now
    "+38649234567",  # IPKO's old code: Slovenia now
    "044123456",  # national form (type of address: national/unknown)
    "0038344123456",
    "38344123456",
    "+383044123456",  # a kept trunk zero
]


@pytest.mark.parametrize("sender", FORGED)
def test_forged_or_foreign_sender_is_a_stranger(box: Box, sender: str) -> None:
    before = box.bank.db.balance(ARBEN_CURRENT)
    box.deliver(sender, "B")
    box.deliver(sender, "044111222 1")
    # A +number is decided as a stranger; any other form is no number at all: set aside.
    wait_for(lambda: InboundMessage.select().where(
        InboundMessage.state.in_(("handled", "ignored"))).count() >= 2,
        timeout=15, what="both messages decided or set aside")
    # Nothing reached the customers whose last digits the forger used ...
    assert box.sent_to(ARBEN) == []
    assert box.sent_to(DRITA) == []
    assert not OutboxMessage.select().where(OutboxMessage.to.in_((ARBEN, DRITA))).exists()
    # ... no order was placed and the bank debited nothing.
    assert TopupOrder.select().count() == 0
    assert box.bank.db.balance(ARBEN_CURRENT) == before
    # The same messages from the customer's own number are answered: the box was working.
    box.deliver(ARBEN, "B")
    replies = box.wait_replies(ARBEN)
    assert "***2345" in replies[0]
