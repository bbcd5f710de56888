"""A balance right after a top-up counts it (DESIGN §5; issue 10): the bank's
`balance_after` is applied to the debited account when the order completes, and a sync
page the bank served before the top-up cannot move it back.

Real parts: the daemon in-process, the fake modem on a pty, the fake bank over HTTP, a
SQLite file. The bank sync is scheduled an hour away, so only the top-up itself can have
brought the new balance; the stale page is a real page of the fake bank's feed, fetched
over HTTP before the top-up and replayed through the sync job afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from appliance.bank.client import BankClient, ChangesPage
from appliance.flows.sync import sync_once
from appliance.store.models import Account
from tests.conftest import STORES, Box

ARBEN = "+38344123456"  # seed: agreement G1001 (Albanian), current account A1001
MONEY = re.compile(r"\d{1,3}(?:\.\d{3})*,\d{2} EUR")

# The outbox claim, routing and top-ups on both databases (DESIGN §10).
pytestmark = pytest.mark.parametrize("store_kind", STORES, indirect=True)


class _Replay:
    """The bank as the sync job sees it, answering with one recorded page."""

    def __init__(self, page: ChangesPage) -> None:
        self.page = page

    def changes(self, after: str | None, limit: int) -> ChangesPage:
        return self.page


def _decimal(money: str) -> Decimal:
    return Decimal(money.removesuffix(" EUR").replace(".", "").replace(",", "."))


def _balance_reply(box: Box, n: int) -> str:
    # A different form each time: the same text twice in one second is one PDU, which the
    # inbox rightly takes for a copy (DESIGN §2.1).
    box.deliver(ARBEN, ("B", "b", "Bilanc", "bilanc")[n % 4])
    return box.wait_replies(ARBEN, n)[-1]


def test_a_balance_right_after_a_topup_counts_it_and_an_older_page_keeps_it(
        make_box: Callable[..., Box]) -> None:
    box = make_box(bank={"sync_interval": 3600})
    before = MONEY.findall(_balance_reply(box, 1))[0]
    with BankClient(box.bank.url, box.bank.token_file) as client:
        stale = replace(client.changes(None, 1000), more=False)
    assert any(a.id == "A1001" for a in stale.accounts)

    box.deliver(ARBEN, "TV 12345678 10")
    outcome = box.wait_replies(ARBEN, 2, timeout=20)[-1]
    assert "Bilanci i ri" in outcome, outcome
    new = MONEY.findall(outcome)[-1]
    assert new != before
    assert new in _balance_reply(box, 3), "the balance lags the top-up"

    # A page the bank served before the top-up arrives late: it must not undo it.
    sync_once(_Replay(stale), box.daemon.settings.rules,  # type: ignore[arg-type]
              datetime.now(UTC))
    assert new in _balance_reply(box, 4), "an older sync page moved the balance back"
    # A newer state from the bank still moves it on (a movement booked after the top-up).
    box.bank.book_movement("A1001", Decimal("-1.00"), "card_payment")
    box.daemon.sync_bank()
    assert Account.get_by_id("A1001").balance == _decimal(new) - 1
