"""core.examples: every example a refusal gives is one the same rules accept (issue 10)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core import examples
from appliance.core.commands import ProductTopUp, Rejection, TopUp, parse
from appliance.core.decide import decide, topup_outcome_text
from appliance.core.money import parse_amount
from appliance.core.rules import AmountRule, Operator, Product, Rules
from appliance.core.views import AgreementView, SenderView

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
D = Decimal
ARBEN = SenderView(AgreementView("ag-1", "+38344123456", "c-1", "sq"))
ARBEN_EN = SenderView(AgreementView("ag-1", "+38344123456", "c-1", "en"))
_EXAMPLE = re.compile(r"p\.sh\. (.+?)(?:\)|\.$|\. )")


def reply(text: str, rules: Rules, who: SenderView = ARBEN) -> str:
    (only,) = decide(parse(text, rules), who, NOW, rules).replies
    return only


def test_a_zero_for_vala_gets_a_whole_euro_example() -> None:
    sq = reply("045345678 0", Rules())
    assert "5,50" not in sq
    assert sq.endswith("p.sh. 5.")
    assert reply("045345678 0", Rules(), ARBEN_EN).endswith("e.g. 5.")


def test_examples_follow_the_configured_amounts() -> None:
    halves = AmountRule(minimum=D(2), maximum=D(30), step=D("0.5"))
    rules = Rules(amounts=((Operator.VALA, AmountRule(allowed=(D(10), D(20)))),
                           (Operator.IPKO_MOBILE, halves)))
    assert reply("045345678 0", rules).endswith("p.sh. 10.")
    assert "044123456 10 mbushje" in reply("hello", rules)  # the help text
    assert "p.sh. 049123456 5" in reply("049123456", rules)  # the amount missing
    assert reply("TV 12345678", Rules()).endswith("p.sh. TV 12345678 10.")


def test_a_product_reply_names_the_product() -> None:
    text = topup_outcome_text("done", None, D(10), "12345678", D(5), "sq", Rules(),
                              product=Product.TV)
    assert "per TV 12345678 u krye" in text
    text = topup_outcome_text("rejected", "insufficient_funds", D(10), "ana.k", None, "en",
                              Rules(), product="duofix")
    assert "for DuoFIX ana.k not done" in text


@st.composite
def amount_rules(draw: st.DrawFn) -> AmountRule:
    if draw(st.booleans()):
        values = draw(st.lists(st.integers(1, 100), min_size=1, max_size=8, unique=True))
        return AmountRule(allowed=tuple(D(v) for v in sorted(values)))
    step = draw(st.sampled_from([D(1), D("0.5"), D(2), D(5), D("0.01")]))
    low = D(draw(st.integers(1, 20)))
    high = low + step * draw(st.integers(0, 40))
    return AmountRule(minimum=low, maximum=high, step=step)


@given(amount_rules(), st.sampled_from([D(5), D(10), D(1), D(1000)]))
def test_the_example_amount_is_accepted_by_its_rule(rule: AmountRule, prefer: Decimal) -> None:
    assert rule.accepts(examples.example_amount(rule, prefer))


_REFUSALS = ["045345678 0", "049123456 x", "038123456 0,001", "044123456", "049123456",
             "fix 038123456", "fix 044123456 5", "TV 12345678", "TV 12345678 x", "Internet",
             "DuoFIX a b 5", "Foo bar 5", "hello", "5x", "0", "044 12 5", "047123456 5",
             "045345678 1000", "TV 12345678 9999"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_REFUSALS), amount_rules(), amount_rules(), amount_rules(),
       amount_rules())
def test_every_example_in_a_refusal_is_accepted_by_the_same_rule(
    text: str, vala: AmountRule, ipko: AmountRule, fixed: AmountRule, product: AmountRule
) -> None:
    rules = Rules(amounts=((Operator.VALA, vala), (Operator.IPKO_MOBILE, ipko),
                           (Operator.IPKO_FIXED, fixed)),
                  products=tuple((p, product) for p in Product))
    help_example = examples.example(rules)[0]
    assert help_example in reply("hello", rules)
    assert isinstance(parse(help_example, rules), TopUp)
    parsed = parse(text, rules)
    assert isinstance(parsed, Rejection), (text, parsed)
    answer = reply(text, rules)
    for shown in _EXAMPLE.findall(answer):
        if " " in shown:  # a whole command: it goes through as it stands
            assert isinstance(parse(shown, rules), TopUp | ProductTopUp), (answer, shown)
            continue
        amount = parse_amount(shown)
        assert amount is not None, answer
        if parsed.product is not None:
            rule = rules.product_rule(parsed.product)
        else:  # the number's operator, else the sender's own (Vala)
            rule = rules.amount_rule(parsed.operator or Operator.VALA)
        assert rule is not None
        assert rule.accepts(amount), (text, answer)
