"""Two modems (one per operator): a reply leaves through the modem of the recipient's own
operator; when that modem is gone, its traffic goes on through the other one."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from appliance.store.models import InboundMessage, OutboxMessage
from tests.conftest import STORES, Box, Fakes, start_fake_modem
from tests.helpers import wait_for

ARBEN = "+38344123456"  # Vala
DRITA = "+38349234567"  # IPKO

# The outbox claim, routing and top-ups on both databases (DESIGN §10).
pytestmark = pytest.mark.parametrize("store_kind", STORES, indirect=True)


def test_replies_leave_through_the_recipients_operator_and_fail_over(
        fakes: Fakes, make_box: Callable[..., Box]) -> None:
    ipko = start_fake_modem(fakes.tmp / "fm2", fakes.tmp / "modem2")
    fakes.extra_modems["ipko"] = ipko
    b = make_box(modems={
        "vala": {"name": "vala", "port": str(fakes.modem_link), "operator": "vala",
                 "command_timeout": 1.5},
        "ipko": {"name": "ipko", "port": str(fakes.tmp / "modem2"), "operator": "ipko",
                 "command_timeout": 1.5},
    })
    vala = fakes.modem
    # Each customer texts the "wrong" modem: the reply still leaves on-net.
    fakes.deliver(DRITA, "B", modem=vala)
    fakes.deliver(ARBEN, "B", modem=ipko)
    fakes.wait_replies(DRITA, 1, modem=ipko)
    fakes.wait_replies(ARBEN, 1, modem=vala)
    assert fakes.sent_to(DRITA, modem=vala) == []
    assert fakes.sent_to(ARBEN, modem=ipko) == []
    rows = {r.to: r for r in OutboxMessage.select()}
    assert rows[DRITA].modem == "ipko"
    assert rows[ARBEN].modem == "vala"

    # An alert (queued by the bank sync without a preference) also leaves on-net.
    fakes.bank.book_movement("A2001", Decimal("-1500.00"), "card_payment")
    wait_for(lambda: OutboxMessage.select().where(
        (OutboxMessage.kind == "alert") & (OutboxMessage.to == DRITA)
        & OutboxMessage.state.in_(("sent", "delivered"))).count() == 1, timeout=20,
        what="the alert sent")
    alert = OutboxMessage.get((OutboxMessage.kind == "alert") & (OutboxMessage.to == DRITA))
    assert alert.preferred_modem == "ipko"
    assert alert.modem == "ipko"
    assert alert.text in fakes.sent_to(DRITA, modem=ipko)

    # The Vala modem's port vanishes for good: Vala customers are answered through IPKO.
    vala.vanish()
    handle = b.daemon.pool.handles["vala"]
    wait_for(lambda: not handle.healthy, timeout=15, what="the Vala modem out of service")
    fakes.deliver(ARBEN, "BK", modem=ipko)
    fakes.wait_replies(ARBEN, 1, modem=ipko, timeout=20)
    wait_for(lambda: InboundMessage.select().where(
        InboundMessage.state != "handled").count() == 0, timeout=10)
    assert b.daemon.pool.route(ARBEN) == "vala"  # the preference stays; the modem is down
