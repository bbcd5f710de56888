"""Invariant 7 for numbers that only look like a customer's (found missing by mutation
testing): a number that shares a customer's last digits, or the same national digits behind
another operator prefix, is a stranger. It gets the day's one refusal and none of the
customer's data. Real daemon in-process, fake modem on a pty, fake bank over HTTP."""

from __future__ import annotations

import re

import pytest

from appliance.store.models import InboundMessage
from tests.conftest import Box
from tests.helpers import wait_for

ARBEN = "+38344123456"  # seed: current ***2345, savings ***4321
SEED_ACCOUNTS = ("1110000100012345", "1110000100054321", "1110000200023456",
                 "1110000300034567", "1110000300098765", "1110000300011111")


@pytest.mark.parametrize("near", [
    "+38349123456",  # Arben's digits behind IPKO's prefix
    "+38344923456",  # one digit off
])
def test_a_number_like_a_customers_is_a_stranger(box: Box, near: str) -> None:
    box.deliver(near, "B")
    (reply,) = box.wait_replies(near, 1)
    for account in SEED_ACCOUNTS:
        assert account[-4:] not in reply
    assert not re.search(r"\*\*\*\d", reply)
    assert not re.search(r"\d+,\d\d", reply)  # no balance either
    box.deliver(near, "BK")
    wait_for(lambda: InboundMessage.select().where(
        (InboundMessage.sender == near) & (InboundMessage.state == "handled")).count() == 2,
        what="the second message decided")
    assert box.sent_to(near) == [reply]  # refused once today, then silence
    # The customer whose digits it shares is still served as before.
    box.deliver(ARBEN, "B")
    (own,) = box.wait_replies(ARBEN, 1)
    assert "***2345" in own


def test_a_stranger_abroad_gets_no_paid_refusal(box: Box) -> None:
    # The service is for Vala and IPKO numbers: a refusal to a foreign number would cost an
    # international SMS (the corpus replay found 12 such senders). It is decided, silently.
    foreign = "+447700900123"
    box.deliver(foreign, "B")
    wait_for(lambda: InboundMessage.select().where(
        (InboundMessage.sender == foreign) & (InboundMessage.state == "handled")).exists(),
        what="the foreign message decided")
    # A Kosovo stranger after it is still refused: the silence is about the foreign number.
    box.deliver("+38344700777", "B")
    box.wait_replies("+38344700777", 1)
    assert box.sent_to(foreign) == []
