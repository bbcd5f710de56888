"""core.decide: parsed command + sender view → replies, order, outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core import gsm7
from appliance.core.commands import OwnTopUp, Reason, Rejection, TopUp, parse
from appliance.core.decide import Decision, decide, topup_outcome_text
from appliance.core.rules import Operator, Product, Rules
from appliance.core.views import AccountView, AgreementView, OrderIntent, SenderView

RULES = Rules()
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
D = Decimal
PHONE = "+38344123456"


def sender(**changes: object) -> SenderView:
    agreement = AgreementView(
        id="ag-1", phone=PHONE, customer_id="c-1", language="sq",
        alert_limit=D(500), services=frozenset({"balance", "topup", "alerts"}),
    )
    accounts = (
        AccountView("a1", "current", "1110001234", D("1234.56"), "EUR", NOW),
        AccountView("a2", "business", "XK051212012345675678", D("-20"), "EUR", NOW),
        AccountView("a3", "savings", "2220009999", D("1234567.89"), "EUR", NOW),
    )
    view = SenderView(agreement=agreement, accounts=accounts, last_sync_at=NOW,
                      topups_today_count=0, topups_today_amount=D(0), bank_reachable=True)
    agreement_changes = {k: changes.pop(k) for k in ("language", "services", "operator", "phone")
                         if k in changes}
    if agreement_changes:
        view = replace(view, agreement=replace(agreement, **agreement_changes))  # type: ignore[arg-type]
    return replace(view, **changes)  # type: ignore[arg-type]


def run(text: str, who: SenderView | None, **kw: bool) -> Decision:
    return decide(parse(text, RULES), who, NOW, RULES, **kw)


def all_one_segment(decision: Decision) -> bool:
    return all(gsm7.is_gsm7(r) and gsm7.segment_count(r) == 1 for r in decision.replies)


def test_stranger_refused_once_then_silence() -> None:
    first = run("B", None)
    assert first.outcome == "stranger_refused"
    assert len(first.replies) == 1
    assert not any(c.isdigit() for c in first.replies[0])
    assert first.order is None
    again = run("044123456 5", None, stranger_refused_today=True)
    assert again == Decision((), None, "stranger_silenced")


def test_balance_current_and_business() -> None:
    d = run("B", sender())
    assert d.outcome == "balance:current"
    assert d.order is None
    text = "\n".join(d.replies)
    assert "***1234: 1.234,56 EUR" in text
    assert "***5678: -20,00 EUR" in text
    assert "9999" not in text
    assert "1110001234" not in text
    assert text.startswith("Bilanci:")
    assert "Rrjedhese" in text  # transliterated for GSM-7
    assert all_one_segment(d)


def test_balance_savings_in_english() -> None:
    d = run("bilanc kursimi", sender(language="en"))
    assert d.outcome == "balance:savings"
    assert d.replies == ("Savings balance:\nSavings ***9999: 1.234.567,89 EUR",)


def test_no_account_of_that_kind() -> None:
    only_savings = sender(accounts=(AccountView("a3", "savings", "2220009999", D(1), "EUR", NOW),))
    d = run("B", only_savings)
    assert d.outcome == "no_account:current"
    assert "rrjedhese" in d.replies[0]


def test_stale_balance_shows_as_of_in_local_time() -> None:
    old = NOW - timedelta(hours=2)
    # The box has not completed a sync for two hours (the bank answers again only now).
    stale = sender(accounts=(AccountView("a1", "current", "1110001234", D(5), "EUR", old),),
                   last_sync_at=old)
    d = run("B", stale)
    assert "Gjendja me 11:00." in d.replies[-1]  # 10:00 UTC is 11:00 in Belgrade (CET)
    fresh = run("B", sender())
    assert "Gjendja" not in "\n".join(fresh.replies)


def test_an_account_untouched_for_a_month_is_current_after_a_fresh_sync() -> None:
    """Its `as_of` is its last movement; the sync a minute ago confirmed the balance."""
    month = NOW - timedelta(days=30)
    quiet = sender(accounts=(AccountView("a3", "savings", "2220009999", D(5), "EUR", month),),
                   last_sync_at=NOW - timedelta(minutes=1))
    d = run("BK", quiet)
    assert "Gjendja" not in "\n".join(d.replies)


def test_bank_down_balance_answers_from_last_sync() -> None:
    d = run("B", sender(bank_reachable=False))
    assert d.outcome == "balance:current:offline"
    assert "1.234,56 EUR" in d.replies[0]
    assert "Lidhja me banken mungon tani; gjendja me 13:00." in "\n".join(d.replies)


def test_many_accounts_split_into_one_segment_replies() -> None:
    many = tuple(
        AccountView(f"a{i}", "current", f"11100{i:05d}", D("-1234567.89"), "EUR", NOW)
        for i in range(9)
    )
    d = run("B", sender(accounts=many, bank_reachable=False))
    assert len(d.replies) > 1
    assert all_one_segment(d)
    assert sum(r.count("***") for r in d.replies) == 9


@pytest.mark.parametrize(("text", "service"), [("B", "balance"), ("BK", "balance"),
                                               ("044123456 5", "topup"), ("5", "topup"),
                                               ("TV abc 10", "topup"),
                                               ("044123456 4", "topup"),
                                               ("TV", "topup")])
def test_service_not_in_agreement(text: str, service: str) -> None:
    d = run(text, sender(services=frozenset({"alerts"})))
    assert d.outcome == f"service_missing:{service}"
    assert d.order is None
    assert "dege" in d.replies[0]


def test_help_even_without_services() -> None:
    d = run("hello", sender(services=frozenset()))
    assert d.outcome == "help"


def test_topup_becomes_an_order_without_a_reply() -> None:
    d = run("049 123 456 10", sender())
    assert d == Decision((), OrderIntent("+38349123456", Operator.IPKO_MOBILE, None, None, D(10)),
                         "order")


def test_own_topup_targets_the_senders_phone() -> None:
    d = run("5", sender())
    assert d.order == OrderIntent(PHONE, Operator.VALA, None, None, D(5))
    refused = run("4", sender())
    assert refused.outcome == "rejected:amount_not_allowed"
    assert "1, 2, 3, 5, 10, 20, 40 EUR" in refused.replies[0]
    ipko = run("4", sender(phone="+38349123456"))
    assert ipko.order is not None
    assert ipko.order.operator is Operator.IPKO_MOBILE


def test_own_topup_uses_the_banks_operator_for_a_ported_number() -> None:
    d = run("4", sender(operator=Operator.IPKO_MOBILE))
    assert d.order == OrderIntent(PHONE, Operator.IPKO_MOBILE, None, None, D(4))


def test_own_topup_from_an_unserved_operator() -> None:
    d = run("5", sender(phone="+38345512345"))
    assert d.outcome == "rejected:operator_not_served"
    assert "Z Mobile" in d.replies[0]


def test_product_order() -> None:
    d = run("DuoTV arben.k 25", sender())
    assert d.order == OrderIntent("arben.k", Operator.IPKO_FIXED, Product.DUOTV, "arben.k", D(25))


def test_daily_cap_count_and_amount_include_this_one() -> None:
    at_count = run("044123456 5", sender(topups_today_count=5))
    assert at_count.outcome == "daily_cap"
    assert at_count.order is None
    assert "5 mbushje ose 50,00 EUR" in at_count.replies[0]
    under = run("044123456 5", sender(topups_today_count=4, topups_today_amount=D(45)))
    assert under.outcome == "order"
    over = run("044123456 10", sender(topups_today_count=1, topups_today_amount=D(41)))
    assert over.outcome == "daily_cap"


def test_bank_unreachable_refuses_topups() -> None:
    d = run("044123456 5", sender(bank_reachable=False))
    assert d.outcome == "bank_down"
    assert d.order is None
    assert "provoni me vone" in d.replies[0].lower()


@pytest.mark.parametrize(
    ("text", "outcome", "needle"),
    [
        ("hello", "help", "BK"),
        ("", "help", "BK"),
        ("044123456", "rejected:amount_missing", "Mungon shuma"),
        ("044123456 4", "rejected:amount_not_allowed", "1, 2, 3, 5, 10, 20, 40 EUR"),
        ("049123456 60", "rejected:amount_not_allowed", "1 deri 50 EUR"),
        ("047123456 5", "rejected:operator_not_served", "mts"),
        ("045512345 5", "rejected:operator_not_served", "Z Mobile"),
        ("+355691234567 5", "rejected:number_foreign", "+383"),
        ("030123456 5", "rejected:operator_unknown", "operatorin"),
        ("fix 044123456 5", "rejected:number_not_fixed", "FIX"),
        ("TV 10", "rejected:subscriber_missing", "TV 12345678 10"),
        ("Netflix a 5", "rejected:product_unknown", "DuoFIX"),
    ],
)
def test_rejections_say_what_to_fix(text: str, outcome: str, needle: str) -> None:
    d = run(text, sender())
    assert d.outcome == outcome
    assert d.order is None
    assert len(d.replies) == 1
    assert needle in d.replies[0]
    assert all_one_segment(d)


def test_incomplete_multipart() -> None:
    d = decide(Rejection(Reason.INCOMPLETE), sender(language="en"), NOW, RULES)
    assert d.replies == ("Your message did not arrive complete. Please send it again.",)


def test_hand_built_topup_is_checked_again() -> None:
    d = decide(TopUp("+38347123456", Operator.VALA, D(5)), sender(), NOW, RULES)
    assert d.order is None
    assert d.outcome == "rejected:operator_not_served"
    d = decide(OwnTopUp(D("0.5")), sender(), NOW, RULES)
    assert d.outcome == "rejected:amount_not_allowed"


@pytest.mark.parametrize(
    ("status", "reason", "needle_sq", "needle_en"),
    [
        ("done", None, "u krye. Bilanci i ri: 1.234,56 EUR", "done. New balance: 1.234,56 EUR"),
        ("rejected", "insufficient_funds", "mjete", "insufficient funds"),
        ("rejected", "operator_mismatch", "operator tjeter", "moved to another operator"),
        ("rejected", "limit", "kufiri", "limit"),
        ("rejected", "something_new", "kontaktoni banken", "contact the bank"),
        ("pending", None, "po kryhet", "being processed"),
        ("failed", None, "problem teknik", "technical problem"),
    ],
)
def test_topup_outcome_texts(status: str, reason: str | None, needle_sq: str,
                             needle_en: str) -> None:
    for lang, needle in (("sq", needle_sq), ("en", needle_en)):
        text = topup_outcome_text(status, reason, D(5), PHONE, D("1234.56"), lang, RULES)
        assert needle in text
        assert "5,00 EUR" in text
        assert "044123456" in text
        assert gsm7.is_gsm7(text)
        assert gsm7.segment_count(text) == 1


def test_topup_outcome_with_a_long_subscriber_id_still_fits() -> None:
    text = topup_outcome_text("done", None, D("1234567.89"), "u" * 64, D("-1234567.89"), "sq",
                              RULES)
    assert gsm7.segment_count(text) == 1
    assert "Bilanci i ri: -1.234.567,89 EUR" in text
    no_balance = topup_outcome_text("done", None, D(5), "user", None, "en", RULES)
    assert no_balance == "Top-up of 5,00 EUR for user done."


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=160), st.booleans())
def test_a_stranger_never_gets_account_data(text: str, refused: bool) -> None:
    d = decide(parse(text, RULES), None, NOW, RULES, stranger_refused_today=refused)
    assert d.order is None
    assert not any(c.isdigit() for r in d.replies for c in r)
    assert len(d.replies) == (0 if refused else 1)


_TEXTS = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["B", "BK", "5", "4", "044123456 5", "049123456 60", "TV abc 10",
                     "fix 038123456 5", "047123456 5", "Internet 5", "hello"]),
)


@settings(max_examples=300, deadline=None)
@given(
    _TEXTS,
    st.sampled_from(["sq", "en", "sr"]),
    st.integers(0, 6),
    st.decimals(min_value=D(0), max_value=D(60), places=2),
    st.booleans(),
    st.lists(st.decimals(min_value=D("-9999999.99"), max_value=D("9999999.99"), places=2),
             max_size=4),
)
def test_every_reply_is_one_gsm7_segment(text: str, lang: str, count: int, spent: Decimal,
                                         reachable: bool, balances: list[Decimal]) -> None:
    accounts = tuple(
        AccountView(f"a{i}", ("current", "business", "savings")[i % 3], f"{i:04d}123456789",
                    b, "EUR", NOW - timedelta(days=i))
        for i, b in enumerate(balances)
    )
    who = sender(language=lang, accounts=accounts, topups_today_count=count,
                 topups_today_amount=spent, bank_reachable=reachable)
    d = decide(parse(text, RULES), who, NOW, RULES)
    assert d.outcome
    assert (d.order is None) == (d.outcome != "order")
    assert all_one_segment(d), d.replies
    for reply in d.replies:
        assert "123456789" not in reply  # accounts only as ***1234
