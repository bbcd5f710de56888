"""Issue 12's commands in the pure core: statement, alerts on/off, language, card block, help."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core import gsm7, texts
from appliance.core.commands import (
    AlertsSwitch,
    CardBlockRequest,
    HelpQuery,
    LanguageChoice,
    Reason,
    Rejection,
    StatementQuery,
    parse,
)
from appliance.core.decide import Decision, decide
from appliance.core.requests import (
    AlertsChange,
    CardBlock,
    LanguageChange,
    RequestOutcome,
    request_outcome_text,
)
from appliance.core.rules import Language, Rules
from appliance.core.statement import last_movements, statement_text
from appliance.core.views import AccountView, AgreementView, MovementView, SenderView

RULES = Rules()
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
D = Decimal
LANGS = (Language.SQ, Language.EN, Language.SR)
CURRENT = AccountView("a1", "current", "1110000100012345", D("1840"), "EUR", NOW)
SAVINGS = AccountView("a2", "savings", "1110000100054321", D("5200"), "EUR", NOW)


def mv(i: int, account: str = "a1", amount: str = "-45.20", kind: str = "card_payment",
       days: float = 0) -> MovementView:
    return MovementView(f"m{i}", account, D(amount), kind, NOW - timedelta(days=days))


def who(lang: str = "sq", services: frozenset[str] = frozenset({"balance", "topup", "alerts"}),
        **changes: object) -> SenderView:
    agreement = AgreementView("ag-1", "+38344123456", "c-1", lang, D(500), services)
    view = SenderView(agreement, (CURRENT, SAVINGS), last_sync_at=NOW)
    return replace(view, **changes)  # type: ignore[arg-type]


def one_segment(text: str) -> bool:
    return gsm7.is_gsm7(text) and gsm7.segment_count(text) == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("L", StatementQuery()), ("l.", StatementQuery()), ("Levizjet", StatementQuery()),
    ("Lëvizjet", StatementQuery()), ("MINI", StatementQuery()), ("mini flm", StatementQuery()),
    ("STOP", AlertsSwitch(enabled=False)), ("ndal", AlertsSwitch(enabled=False)),
    ("START", AlertsSwitch(enabled=True)), ("Fillo!", AlertsSwitch(enabled=True)),
    ("SQ", LanguageChoice(Language.SQ)), ("en", LanguageChoice(Language.EN)),
    ("Sr", LanguageChoice(Language.SR)), ("SR hvala", LanguageChoice(Language.SR)),
    ("BLLOKO 1234", CardBlockRequest("1234")), ("block 0042", CardBlockRequest("0042")),
    ("Blloko ***1234", CardBlockRequest("1234")),
    ("BLOCK 9876, ju lutem", CardBlockRequest("9876")),
    ("NDIHME", HelpQuery()), ("help", HelpQuery()), ("?", HelpQuery()), (" ? ", HelpQuery()),
])
def test_new_commands_parse(text: str, expected: object) -> None:
    assert parse(text, RULES) == expected


@pytest.mark.parametrize("text", ["BLLOKO", "BLLOKO 123", "BLLOKO 12345", "block 12 34",
                                  "BLLOKO 4111111111111111", "BLLOKO abcd", "BLOCK 1234 5"])
def test_a_card_block_needs_exactly_four_digits(text: str) -> None:
    result = parse(text, RULES)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.CARD_DIGITS
    assert "1111" not in result.detail  # never the card number itself
    d = decide(result, who(services=frozenset({"balance"})), NOW, RULES)
    (reply,) = d.replies
    assert "BLLOKO 1234" in reply
    assert "4111" not in reply
    assert d.request is None


@pytest.mark.parametrize(("text", "wanted"), [
    ("STOP", AlertsChange("ag-1", enabled=False)),
    ("START", AlertsChange("ag-1", enabled=True)),
    ("SR", LanguageChange("ag-1", Language.SR)),
    ("BLLOKO 1234", CardBlock("ag-1", "c-1", "1234")),
])
def test_decide_returns_the_request_for_the_bank(text: str, wanted: object) -> None:
    d = decide(parse(text, RULES), who(), NOW, RULES, bank_requests=True)
    assert d.request == wanted
    assert d.order is None
    assert d.replies == ()  # the answer comes with the bank's outcome
    assert d.outcome.startswith("request:")
    down = decide(parse(text, RULES), who(bank_reachable=False), NOW, RULES,
                  bank_requests=True)
    assert down.request == wanted  # still made: retried when the bank is back
    (reply,) = down.replies
    assert one_segment(reply)
    assert "bank" in reply.lower() or "banku" in reply.lower()


def test_old_decision_calls_stay_valid() -> None:
    assert Decision((), None, "x") == Decision((), None, "x", None)
    assert decide(parse("B", RULES), who(), NOW, RULES).request is None
    # A caller that makes no bank requests (and loads no movements) gets an answer, not silence.
    for text in ("STOP", "START", "SR", "BLLOKO 1234", "MINI"):
        d = decide(parse(text, RULES), who(), NOW, RULES)
        assert d.request is None
        assert d.outcome.startswith("not_available:")
        (reply,) = d.replies
        assert one_segment(reply)
        assert "banken" in reply


def test_stop_needs_the_alerts_service_and_strangers_get_nothing() -> None:
    d = decide(parse("STOP", RULES), who(services=frozenset({"balance"})), NOW, RULES,
               bank_requests=True)
    assert d.request is None
    assert d.outcome == "service_missing:alerts"
    for text in ("STOP", "SR", "BLLOKO 1234", "L"):
        stranger = decide(parse(text, RULES), None, NOW, RULES, bank_requests=True)
        assert stranger.request is None
        assert stranger.outcome == "stranger_refused"


REQUESTS = [AlertsChange("g", enabled=False), AlertsChange("g", enabled=True),
            LanguageChange("g", Language.SQ), LanguageChange("g", Language.EN),
            LanguageChange("g", Language.SR), CardBlock("g", "c", "1234")]


@pytest.mark.parametrize("request_", REQUESTS)
@pytest.mark.parametrize("outcome", list(RequestOutcome))
@pytest.mark.parametrize("lang", LANGS)
def test_every_outcome_text_is_one_gsm7_segment(request_: object, outcome: RequestOutcome,
                                                lang: Language) -> None:
    text = request_outcome_text(request_, outcome, lang, RULES)  # type: ignore[arg-type]
    assert one_segment(text), text


def test_outcome_texts() -> None:
    block = CardBlock("g", "c", "1234")
    assert "1234" in request_outcome_text(block, "done", "sq", RULES)
    assert "u bllokua" in request_outcome_text(block, "done", "sq", RULES)
    assert "is blocked" in request_outcome_text(block, "done", "en", RULES)
    assert "je blokirana" in request_outcome_text(block, "done", "sr", RULES)
    unknown = request_outcome_text(block, "unknown_card", "en", RULES)
    assert unknown == "We found no card of yours ending in 1234. Check the digits or call the bank."
    # A language change answers in the language chosen, whatever the agreement had.
    assert request_outcome_text(LanguageChange("g", Language.SR), "done", "en", RULES) == (
        "Od sada ce vase poruke biti na srpskom.")
    assert "English" in request_outcome_text(LanguageChange("g", Language.EN), "done", "sq",
                                             RULES)
    off = request_outcome_text(AlertsChange("g", enabled=False), "done", "sq", RULES)
    assert "START" in off
    on = request_outcome_text(AlertsChange("g", enabled=True), "done", "en", RULES)
    assert "STOP" in on


@pytest.mark.parametrize("lang", LANGS)
def test_help_names_the_new_commands_in_one_segment(lang: Language) -> None:
    for text in ("NDIHME", "?", "hello"):
        (reply,) = decide(parse(text, RULES), who(str(lang)), NOW, RULES).replies
        assert one_segment(reply), reply
        for word in ("B ", "BK", "L ", "STOP", "START", "SQ/EN/SR", "1234", "044123456 5"):
            assert word in reply, (word, reply)
        assert "BLLOKO" in reply or "BLOCK" in reply


def test_statement_newest_five_first() -> None:
    movements = [mv(1, days=6, amount="950", kind="salary"), mv(2, days=5), mv(3, days=4),
                 mv(4, "a2", "3.12", "interest", days=3), mv(5, days=2, kind="atm_withdrawal"),
                 mv(6, days=1, kind="new_code"), mv(7, days=0.5, amount="-1234.5")]
    replies = statement_text((CURRENT, SAVINGS), movements, NOW, RULES, "sq")
    assert all(one_segment(r) for r in replies)
    text = "\n".join(replies)
    lines = text.splitlines()
    assert lines[0] == "Levizjet e fundit:"
    assert lines[1] == "27.11 -1.234,50 EUR Pagese me karte ***2345"
    assert lines[2] == "26.11 -45,20 EUR Levizje ***2345"
    assert lines[4] == "24.11 +3,12 EUR Interes ***4321"
    assert len(lines) == 6  # header + 5; the salary of 6 days ago is not among them
    assert "Page" not in text.replace("Pagese", "")


def test_statement_shows_as_of_when_stale_and_says_when_empty() -> None:
    old = NOW - timedelta(hours=3)
    replies = statement_text((CURRENT,), [mv(1)], NOW, RULES, "en", as_of=old)
    assert replies[-1].endswith("As of 10:00.")
    fresh = statement_text((CURRENT,), [mv(1)], NOW, RULES, "en", as_of=NOW)
    assert "As of" not in "\n".join(fresh)
    assert statement_text((CURRENT,), [], NOW, RULES, "sr") == (
        "Jos nema promena na vasim racunima.",)


def test_statement_through_decide_in_each_language() -> None:
    movements = tuple(mv(i, days=i) for i in range(8))
    for lang, header in (("sq", "Levizjet e fundit:"), ("en", "Last movements:"),
                         ("sr", "Poslednje promene:")):
        d = decide(parse("MINI", RULES), who(lang, movements=movements), NOW, RULES)
        assert d.outcome == "statement"
        assert d.replies[0].startswith(header)
        assert all(one_segment(r) for r in d.replies)
    none = decide(parse("L", RULES), who(services=frozenset({"topup"}), movements=()), NOW,
                  RULES)
    assert none.outcome == "service_missing:balance"


_ACCOUNTS = st.lists(st.sampled_from(["a1", "a2", "x1", "x2", "x3"]), unique=True, max_size=5)


@settings(max_examples=200, deadline=None)
@given(_ACCOUNTS, st.lists(st.tuples(st.sampled_from(["a1", "a2", "x1", "x2", "x3"]),
                                     st.integers(0, 10**6),
                                     st.decimals(D("-9999999.99"), D("9999999.99"), places=2),
                                     st.sampled_from(["card_payment", "fee", "weird"])),
                           max_size=20),
       st.sampled_from(["sq", "en", "sr"]))
def test_a_statement_shows_only_the_agreements_accounts(
    own: list[str], rows: list[tuple[str, int, Decimal, str]], lang: str
) -> None:
    accounts = tuple(AccountView(a, "current", f"99{i}0000{i}77{i}{i}", D(0), "EUR", NOW)
                     for i, a in enumerate(own))
    movements = [MovementView(f"m{n}", acc, amount or D(1), kind, NOW - timedelta(minutes=m))
                 for n, (acc, m, amount, kind) in enumerate(rows)]
    shown = last_movements(accounts, movements)
    assert all(m.account_id in own for m in shown)
    assert len(shown) == min(5, sum(1 for m in movements if m.account_id in own))
    assert [m.booked_at for m in shown] == sorted((m.booked_at for m in shown), reverse=True)
    replies = statement_text(accounts, movements, NOW, RULES, lang)
    assert all(one_segment(r) for r in replies)
    assert len(replies) <= 2
    text = "\n".join(replies)
    labels = {texts.account_label(a.number) for a in accounts}
    for line in text.splitlines()[1:]:
        assert line.split()[-1] in labels
    foreign = {m.account_id for m in movements} - set(own)
    assert not any(a in text for a in foreign)
