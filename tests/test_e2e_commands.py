"""End to end: each command form of DESIGN §4, delivered through the fake modem's pty, gets
the right reply from the daemon (real HTTP to the fake bank, a real SQLite file)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from appliance.store.models import InboundMessage, OutboxMessage, TopupOrder
from tests.conftest import UNKNOWN_PHONE, Box
from tests.helpers import wait_for

ARBEN = "+38344123456"  # Vala, Albanian: current ***2345, savings ***4321
DRITA = "+38349234567"  # IPKO, English: current ***3456
BESNIK = "+38345345678"  # Vala, Albanian: current ***4567, business ***8765, savings ***1111
TEUTA = "+38343456789"  # IPKO, English: 3,20 EUR
SEED_ACCOUNTS = ("1110000100012345", "1110000100054321", "1110000200023456",
                 "1110000300034567", "1110000300098765", "1110000300011111")


def ask(box: Box, phone: str, text: str, n: int = 1, *, ucs2: bool = False,
        timeout: float = 15.0) -> list[str]:
    """Deliver `text` from `phone`; the replies (excluding alerts) sent after it."""
    before = len(_replies(phone))
    box.deliver(phone, text, ucs2=ucs2)
    wait_for(lambda: len(_replies(phone)) >= before + n, timeout=timeout,
             what=f"{n} reply(ies) to {text[:20]!r}")
    rows = _replies(phone)[before:]
    # Every reply row is also on the modem side: the fake modem saw it submitted.
    wait_for(lambda: all(r.text in box.sent_to(phone) for r in rows), timeout=timeout,
             what="the replies submitted through the fake modem")
    return [r.text for r in rows]


def _replies(phone: str) -> list[OutboxMessage]:
    return list(OutboxMessage.select()
                .where((OutboxMessage.to == phone) & (OutboxMessage.kind != "alert")
                       & OutboxMessage.state.in_(("sent", "delivered")))
                .order_by(OutboxMessage.id))


def _order_for(phone: str) -> TopupOrder:
    def done() -> TopupOrder | None:
        row = (TopupOrder.select()
               .join(InboundMessage, on=TopupOrder.inbound == InboundMessage.id)
               .where(InboundMessage.sender == phone)
               .order_by(TopupOrder.id.desc()).first())
        return row if row is not None and row.state in ("done", "rejected", "failed") else None
    return wait_for(done, timeout=15, what="the top-up order to finish at the bank")


def test_balance_of_current_accounts(box: Box) -> None:
    (reply,) = ask(box, ARBEN, "B")
    assert "***2345" in reply
    assert "4321" not in reply  # savings are BK's
    (reply2,) = ask(box, ARBEN, "  bilanc. ")
    assert "***2345" in reply2


def test_balance_of_savings_accounts(box: Box) -> None:
    (reply,) = ask(box, BESNIK, "BK")
    assert "***1111" in reply
    (reply2,) = ask(box, BESNIK, "Bilanc  kursimi")
    assert "***1111" in reply2


@pytest.mark.parametrize(("text", "operator"), [
    ("044 111 222 5", "vala"),
    ("+38349111222 10", "ipko_mobile"),
    ("fix 038 222 333 10", "ipko_fixed"),
    ("038222334 3,00", "ipko_fixed"),
])
def test_phone_topups_of_each_operator_kind(box: Box, text: str, operator: str) -> None:
    (reply,) = ask(box, DRITA, text)  # no reply before the bank's answer: then its outcome
    order = _order_for(DRITA)
    assert order.operator == operator
    assert order.state == "done", order.reason
    assert "done" in reply


def test_own_number_topup(box: Box) -> None:
    (reply,) = ask(box, DRITA, "5")
    order = _order_for(DRITA)
    assert order.target == DRITA
    assert order.state == "done", order.reason
    assert "done" in reply


def test_bank_refusals_reach_the_customer(box: Box) -> None:
    (reply,) = ask(box, TEUTA, "10")  # 3,20 EUR in the account
    assert "insufficient funds" in reply
    (reply,) = ask(box, DRITA, "044 999 001 5")  # looks like Vala, moved to IPKO
    assert "moved to another operator" in reply


def test_product_topup(box: Box) -> None:
    (reply,) = ask(box, DRITA, "Internet drita.g 15")
    assert "done" in reply
    order = _order_for(DRITA)
    assert order.product == "internet"
    assert order.subscriber_id == "drita.g"


def test_bad_amount_is_refused_without_an_order(box: Box) -> None:
    (reply,) = ask(box, ARBEN, "044111222 7")  # Vala sells 1, 2, 3, 5, 10, 20, 40 only
    assert reply
    assert TopupOrder.select().count() == 0


def test_anything_else_gets_help(box: Box) -> None:
    (reply,) = ask(box, ARBEN, "hello there")
    assert re.search(r"\bB\b", reply)  # the help lists the commands
    assert "***2345" not in reply


def test_three_part_ucs2_message_is_reassembled_and_answered(box: Box) -> None:
    text = "Bilanc" + " " * 150 + "kursimi"  # sent as UCS-2: 163 characters, three parts
    (reply,) = ask(box, BESNIK, text, ucs2=True)
    assert "***1111" in reply
    parts = list(InboundMessage.select().where(InboundMessage.sender == BESNIK))
    assert sorted(p.part_no for p in parts) == [1, 2, 3]
    assert {p.state for p in parts} == {"handled"}


def test_unknown_sender_is_refused_once_a_day_without_account_digits(box: Box) -> None:
    (reply,) = ask(box, UNKNOWN_PHONE, "B")
    for account in SEED_ACCOUNTS:
        assert account[-4:] not in reply
    assert not re.search(r"\d{4}", reply.replace("50333", ""))
    box.deliver(UNKNOWN_PHONE, "BK")
    wait_for(lambda: InboundMessage.select().where(
        (InboundMessage.sender == UNKNOWN_PHONE) & (InboundMessage.state == "handled")
    ).count() == 2, what="the second message decided")
    assert len(box.sent_to(UNKNOWN_PHONE)) == 1


def test_unknown_sender_policy_silent(make_box: Callable[..., Box]) -> None:
    b = make_box(unknown_sender={"policy": "silent"})
    b.deliver(UNKNOWN_PHONE, "B")
    b.deliver(ARBEN, "B")  # answered after the stranger's message: it was decided first
    b.wait_replies(ARBEN, 1)
    wait_for(lambda: InboundMessage.select().where(
        InboundMessage.sender == UNKNOWN_PHONE).first().state == "handled", timeout=10)
    assert b.sent_to(UNKNOWN_PHONE) == []


def test_a_quiet_savings_account_is_not_shown_as_stale_after_a_fresh_sync(box: Box) -> None:
    """Arben's savings last moved weeks ago; the sync at start-up confirmed the balance, so
    the reply carries no "as of" line (it said "Gjendja me 01.11.2026 01:00")."""
    (reply,) = ask(box, ARBEN, "BK")
    assert "***4321" in reply
    assert "Gjendja" not in reply
