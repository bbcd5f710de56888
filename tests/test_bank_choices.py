"""The contract's customer choices and card blocks (issues 12, 13), BankClient against the
fake bank over real HTTP: alerts on/off, language, card block, SIM swaps and cards in the
changes feed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from appliance.bank.client import (
    BankAgreement,
    BankCard,
    BankCardUnknown,
    BankClient,
    BankProtocolError,
    BankRejected,
    BankUnavailable,
    CardBlockResult,
    ChangesPage,
)
from appliance.fakebank.server import FakeBankServer


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client_of(bank: FakeBankServer, retries: int = 3) -> BankClient:
    return BankClient(bank.url, bank.token_file, retries=retries, backoff=0.01,
                      connect_timeout=1.0, read_timeout=5.0, sleep=Sleeps())


def feed(client: BankClient, after: str | None = None) -> tuple[str, list[ChangesPage]]:
    pages: list[ChangesPage] = []
    cursor = after
    while True:
        page = client.changes(cursor, 7)
        pages.append(page)
        cursor = page.cursor
        if not page.more:
            return cursor, pages


def agreements_in(pages: list[ChangesPage]) -> dict[str, BankAgreement]:
    return {a.id: a for p in pages for a in p.agreements}


def cards_in(pages: list[ChangesPage]) -> dict[str, BankCard]:
    return {c.id: c for p in pages for c in p.cards}


def test_the_feed_carries_seeded_cards_and_the_new_agreement_fields(
    bank: FakeBankServer,
) -> None:
    _cursor, pages = feed(client_of(bank))
    cards = cards_in(pages)
    assert cards["K1001"] == BankCard("K1001", "C1001", "4821", "active")
    assert cards["K3002"].blocked
    assert {c.customer_id for c in cards.values()} >= {"C1001", "C1002", "C1003"}
    # A card comes after its customer (parents before children, whatever the page size).
    seen: set[str] = set()
    for page in pages:
        seen |= {c.id for c in page.customers}
        assert {c.customer_id for c in page.cards} <= seen
    agreement = agreements_in(pages)["G1001"]
    assert (agreement.alerts_enabled, agreement.sim_changed_at) == (True, None)


def test_alerts_off_and_on_come_back_through_the_feed(bank: FakeBankServer) -> None:
    client = client_of(bank)
    cursor, _ = feed(client)
    off = client.set_alerts("G1001", False)
    assert isinstance(off, BankAgreement)
    assert (off.id, off.alerts_enabled) == ("G1001", False)
    cursor, pages = feed(client, cursor)
    assert agreements_in(pages)["G1001"].alerts_enabled is False
    # Setting what is set changes nothing: no new entry in the feed.
    assert client.set_alerts("G1001", False).alerts_enabled is False
    same, pages = feed(client, cursor)
    assert (same, agreements_in(pages)) == (cursor, {})
    assert client.set_alerts("G1001", True).alerts_enabled is True
    _, pages = feed(client, cursor)
    assert agreements_in(pages)["G1001"].alerts_enabled is True


def test_language_choice_comes_back_through_the_feed(bank: FakeBankServer) -> None:
    client = client_of(bank)
    cursor, _ = feed(client)
    assert client.set_language("G2001", "sr").language == "sr"
    _, pages = feed(client, cursor)
    assert agreements_in(pages)["G2001"].language == "sr"
    with pytest.raises(ValueError, match="language"):
        client.set_language("G2001", "de")


def test_choices_on_unknown_or_closed_agreements_are_rejected_not_retried(
    bank: FakeBankServer,
) -> None:
    client = client_of(bank)
    before = bank.app.requests
    with pytest.raises(BankRejected) as unknown:
        client.set_alerts("G404", False)
    assert (unknown.value.status, unknown.value.code) == (404, "unknown_agreement")
    with pytest.raises(BankRejected) as closed:
        client.set_language("G6002", "en")
    assert (closed.value.status, closed.value.code) == (409, "agreement_inactive")
    assert bank.app.requests - before == 2


def test_block_card_blocks_once_and_the_same_key_answers_the_same(bank: FakeBankServer) -> None:
    client = client_of(bank)
    cursor, _ = feed(client)
    first = client.block_card("sms-0001-block", "G1001", "4821")
    assert first == CardBlockResult(card_id="K1001", status="blocked")
    assert client.block_card("sms-0001-block", "G1001", "4821") == first
    assert bank.db.card_status("K1001") == "blocked"
    assert bank.db.card_changes("K1001") == 2  # seeded once, blocked once
    _, pages = feed(client, cursor)
    assert cards_in(pages) == {"K1001": BankCard("K1001", "C1001", "4821", "blocked")}
    # Another request for a blocked card: blocked still (a block never unblocks).
    assert client.block_card("sms-0002-block", "G1001", "4821").card_id == "K1001"
    assert bank.db.card_changes("K1001") == 2
    assert bank.db.card_status("K1002") == "active"  # the customer's other card


def test_another_customers_card_and_an_unknown_card_look_the_same(bank: FakeBankServer) -> None:
    client = client_of(bank)
    before = bank.app.requests
    errors = []
    # Drita's card from Arben's agreement, a card nobody has, a closed agreement's customer.
    for key, agreement, last4 in (("sms-0003-block", "G1001", "5502"),
                                  ("sms-0004-block", "G1001", "0000"),
                                  ("sms-0005-block", "G6002", "1406")):
        with pytest.raises(BankCardUnknown) as exc:
            client.block_card(key, agreement, last4)
        errors.append((exc.value.status, exc.value.code, exc.value.message))
    assert len(set(errors)) == 1
    assert errors[0][:2] == (404, "unknown_card")
    assert bank.app.requests - before == 3  # a 404 is an answer: not retried
    assert bank.db.card_status("K2001") == "active"
    assert bank.db.card_status("K6001") == "active"
    # The same key answers the same even once such a card would exist.
    with pytest.raises(BankCardUnknown):
        client.block_card("sms-0003-block", "G1001", "5502")


def test_block_with_a_reused_key_and_another_body_is_422(bank: FakeBankServer) -> None:
    client = client_of(bank)
    client.block_card("sms-0006-block", "G1001", "4821")
    with pytest.raises(BankRejected) as exc:
        client.block_card("sms-0006-block", "G1001", "7315")
    assert (exc.value.status, exc.value.code) == (422, "idempotency_key_reused")
    assert bank.db.card_status("K1002") == "active"
    with pytest.raises(ValueError, match="last4"):
        client.block_card("sms-0007-block", "G1001", "48a1")


def test_block_is_retried_through_an_outage_and_blocks_once(bank: FakeBankServer) -> None:
    client = client_of(bank)
    bank.set_fault("down", count=2)
    assert client.block_card("sms-0008-block", "G3001", "6034").card_id == "K3001"
    assert bank.db.card_changes("K3001") == 2
    bank.set_fault("error500")
    with pytest.raises(BankUnavailable):
        client.block_card("sms-0009-block", "G2001", "5502")
    bank.set_fault("none")
    assert bank.db.card_status("K2001") == "active"


def test_concurrent_blocks_with_one_key_change_the_card_once(bank: FakeBankServer) -> None:
    results: list[CardBlockResult] = []

    def block() -> None:
        with client_of(bank) as client:
            results.append(client.block_card("sms-0010-block", "G2001", "5502"))

    threads = [threading.Thread(target=block) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert len(results) == 6
    assert {r.card_id for r in results} == {"K2001"}
    assert bank.db.card_changes("K2001") == 2


def test_sim_swap_comes_back_as_sim_changed_at(bank: FakeBankServer) -> None:
    client = client_of(bank)
    cursor, _ = feed(client)
    at = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    done = bank.sim_swap("+38344123456", at)
    assert done["agreements"] == ["G1001"]
    _, pages = feed(client, cursor)
    assert agreements_in(pages)["G1001"].sim_changed_at == at
    before = datetime.now(UTC) - timedelta(seconds=5)
    bank.sim_swap("+38349234567")
    _, pages = feed(client, cursor)
    swapped = agreements_in(pages)["G2001"].sim_changed_at
    assert swapped is not None
    assert swapped >= before


def test_a_bank_without_the_new_fields_still_parses(tmp_path: Path) -> None:
    # An older bank's page (no cards, no alerts_enabled, no sim_changed_at): no real part of
    # ours answers like that any more, so a mock transport plays it.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={
            "cursor": "1", "more": False, "customers": [], "accounts": [], "movements": [],
            "agreements": [{"id": "G1", "customer_id": "C1", "phone": "+38344000001",
                            "services": ["alerts"], "alert_limit": None, "language": "sq",
                            "active": True}],
        })

    with BankClient("http://bank.invalid", _token_file(tmp_path),
                    transport=httpx.MockTransport(handler),
                    retries=0) as client:
        page = client.changes(None, 10)
    assert page.cards == ()
    assert (page.agreements[0].alerts_enabled, page.agreements[0].sim_changed_at) == (True, None)


def test_a_malformed_card_block_answer_is_a_protocol_error(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"card_id": "K1", "status": "active"})

    with BankClient("http://bank.invalid", _token_file(tmp_path),
                    transport=httpx.MockTransport(handler),
                    retries=0) as client, pytest.raises(BankProtocolError):
        client.block_card("sms-0011-block", "G1", "1234")


def _token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("t0ken\n")
    return path
