"""Multi-part messages end to end: parts out of order are joined; a part that never comes
is answered after `inbox.multipart_timeout`, per `inbox.multipart_policy`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from appliance.store.models import InboundMessage
from tests.conftest import Box

BESNIK = "+38345345678"  # savings ***1111
LONG_BK = "Bilanc" + " " * 150 + "kursimi"  # three UCS-2 parts; part 2 is only blanks


def test_parts_out_of_order_are_joined(make_box: Callable[..., Box]) -> None:
    b = make_box()
    b.deliver(BESNIK, LONG_BK, ucs2=True, parts_order=[3, 1, 2])
    (reply,) = b.wait_replies(BESNIK, 1)
    assert "***1111" in reply


@pytest.mark.parametrize(("policy", "expect"), [("answer_partial", "***1111"),
                                                ("help", "BK")])
def test_a_missing_part_is_answered_after_the_timeout(make_box: Callable[..., Box],
                                                      policy: str, expect: str) -> None:
    b = make_box(inbox={"multipart_timeout": 1.5, "multipart_policy": policy})
    b.deliver(BESNIK, LONG_BK, ucs2=True, drop_part=2)
    (reply,) = b.wait_replies(BESNIK, 1, timeout=15)
    assert expect in reply
    if policy == "help":
        assert "***1111" not in reply
    parts = list(InboundMessage.select().where(InboundMessage.sender == BESNIK))
    assert sorted(p.part_no for p in parts) == [1, 3]
    assert {p.state for p in parts} == {"handled"}
    # The log says how many are missing of how many, and whose (masked).
    log = b.log_file.read_text(encoding="utf-8")
    assert "multi-part message from +383 45 *** *78: 1 of 3 part(s) missing after 1s" in log
