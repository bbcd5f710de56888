"""commands.parse: every DESIGN §4 input form, accepted and refused, and properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core import phones
from appliance.core.commands import (
    COURTESY,
    BalanceQuery,
    Command,
    OwnTopUp,
    ProductTopUp,
    Reason,
    Rejection,
    TopUp,
    parse,
)
from appliance.core.rules import Operator, Product, Rules

RULES = Rules()
D = Decimal
VALA = "+38344123456"


def top(target: str, operator: Operator, amount: str) -> TopUp:
    return TopUp(target, operator, D(amount))


ACCEPTED = [
    # balances: any case, diacritics folded, blanks and punctuation around words ignored
    ("B", BalanceQuery("current")),
    ("b", BalanceQuery("current")),
    (" b ", BalanceQuery("current")),
    ("B.", BalanceQuery("current")),
    ("*B#", BalanceQuery("current")),
    ("Bilanc", BalanceQuery("current")),
    ("BILANC", BalanceQuery("current")),
    ("Bilanç", BalanceQuery("current")),
    ("bilanci", BalanceQuery("current")),
    ("BK", BalanceQuery("savings")),
    ("bk!", BalanceQuery("savings")),
    ("Bilanc kursimi", BalanceQuery("savings")),
    ("BILANC KURSIMI.", BalanceQuery("savings")),
    ("  bilanç   kursimi  ", BalanceQuery("savings")),
    ("Bilanc, kursimi", BalanceQuery("savings")),
    ("Bilanci kursimi", BalanceQuery("savings")),
    ("B\u200b", BalanceQuery("current")),
    ("B 🙂", BalanceQuery("current")),
    ("🙂B🙂", BalanceQuery("current")),
    ("В", BalanceQuery("current")),  # Cyrillic Ve, as a Serbian keyboard types B
    ("ВК", BalanceQuery("savings")),
    ("b\u00a0k", BalanceQuery("savings")),
    # <number> <amount>: every number form of DESIGN §4
    ("044123456 5", top(VALA, Operator.VALA, "5")),
    ("044 123 456 5", top(VALA, Operator.VALA, "5")),
    ("+38344123456 5", top(VALA, Operator.VALA, "5")),
    ("0038344123456 5", top(VALA, Operator.VALA, "5")),
    ("38344123456 5", top(VALA, Operator.VALA, "5")),
    ("+383 44 123 456 5", top(VALA, Operator.VALA, "5")),
    ("44123456 5", top(VALA, Operator.VALA, "5")),
    ("044-123-456 5", top(VALA, Operator.VALA, "5")),
    ("(044) 123 456 5", top(VALA, Operator.VALA, "5")),
    ("+383 (0)44 123 456 5", top(VALA, Operator.VALA, "5")),
    ("044123456   10.", top(VALA, Operator.VALA, "10")),
    # amounts in every form
    ("044123456 5€", top(VALA, Operator.VALA, "5")),
    ("044123456 5 €", top(VALA, Operator.VALA, "5")),
    ("044123456 5 EUR", top(VALA, Operator.VALA, "5")),
    ("044123456 5eur", top(VALA, Operator.VALA, "5")),
    ("044123456 5.00 eur", top(VALA, Operator.VALA, "5.00")),
    ("049123456 5", top("+38349123456", Operator.IPKO_MOBILE, "5")),
    ("049123456 37", top("+38349123456", Operator.IPKO_MOBILE, "37")),
    ("049 123 456 50,00", top("+38349123456", Operator.IPKO_MOBILE, "50")),
    # every served prefix of the plan
    ("043123456 5", top("+38343123456", Operator.IPKO_MOBILE, "5")),
    ("048123456 5", top("+38348123456", Operator.IPKO_MOBILE, "5")),
    ("045123456 5", top("+38345123456", Operator.VALA, "5")),
    ("045412345 5", top("+38345412345", Operator.VALA, "5")),
    ("045712345 5", top("+38345712345", Operator.VALA, "5")),
    ("045912345 5", top("+38345912345", Operator.VALA, "5")),
    ("046123456 5", top("+38346123456", Operator.VALA, "5")),
    # old country codes move to +383 with the same national number
    ("+377 44 123 456 5", top(VALA, Operator.VALA, "5")),
    ("0037745123456 5", top("+38345123456", Operator.VALA, "5")),
    ("+386 49 123 456 5", top("+38349123456", Operator.IPKO_MOBILE, "5")),
    ("+38643123456 5", top("+38343123456", Operator.IPKO_MOBILE, "5")),
    ("+381 38 123 456 5", top("+38338123456", Operator.IPKO_FIXED, "5")),
    ("+381 290 123 456 5", top("+383290123456", Operator.IPKO_FIXED, "5")),
    # IPKO fixed, with or without the keyword
    ("038123456 5", top("+38338123456", Operator.IPKO_FIXED, "5")),
    ("028 123 456 5", top("+38328123456", Operator.IPKO_FIXED, "5")),
    ("0280 123 456 5", top("+383280123456", Operator.IPKO_FIXED, "5")),
    ("0390123456 5", top("+383390123456", Operator.IPKO_FIXED, "5")),
    ("fix 038123456 5", top("+38338123456", Operator.IPKO_FIXED, "5")),
    ("FIX 029 123 456 10 EUR", top("+38329123456", Operator.IPKO_FIXED, "10")),
    ("Fiks 039123456 5", top("+38339123456", Operator.IPKO_FIXED, "5")),
    # <amount> alone: the sender's own number
    ("5", OwnTopUp(D(5))),
    ("5,50", OwnTopUp(D("5.50"))),
    ("5 €", OwnTopUp(D(5))),
    ("5€", OwnTopUp(D(5))),
    ("€5", OwnTopUp(D(5))),
    ("5 EUR", OwnTopUp(D(5))),
    ("10 euro", OwnTopUp(D(10))),
    # <product> <subscriber id> <amount>
    ("Internet arben.k 20", ProductTopUp(Product.INTERNET, "arben.k", D(20))),
    ("INTERNET Arben.K 20 EUR", ProductTopUp(Product.INTERNET, "Arben.K", D(20))),
    ("TV 12345678 10", ProductTopUp(Product.TV, "12345678", D(10))),
    ("tv 12345678 10€", ProductTopUp(Product.TV, "12345678", D(10))),
    ("DuoTV user1 25", ProductTopUp(Product.DUOTV, "user1", D(25))),
    ("Duo TV user1 25", ProductTopUp(Product.DUOTV, "user1", D(25))),
    ("DuoFIX user_2 30", ProductTopUp(Product.DUOFIX, "user_2", D(30))),
    ("duofiks user-2 30", ProductTopUp(Product.DUOFIX, "user-2", D(30))),
]

REFUSED = [
    ("", Reason.EMPTY),
    ("   ", Reason.EMPTY),
    ("?!", Reason.EMPTY),
    ("hello", Reason.UNKNOWN_COMMAND),
    ("B 5", Reason.UNKNOWN_COMMAND),
    ("bilanc kursimi tani", Reason.UNKNOWN_COMMAND),
    ("Përshëndetje, si jeni?", Reason.UNKNOWN_COMMAND),
    # a number with no amount
    ("044123456", Reason.AMOUNT_MISSING),
    ("044 123 456", Reason.AMOUNT_MISSING),
    ("+383 44 123 456", Reason.AMOUNT_MISSING),
    ("fix 028123456", Reason.AMOUNT_MISSING),
    # amounts we cannot read
    ("044123456 abc", Reason.AMOUNT_INVALID),
    ("044123456 -5", Reason.AMOUNT_INVALID),
    ("044123456 5.555", Reason.AMOUNT_INVALID),
    ("044123456 0", Reason.AMOUNT_INVALID),
    ("044123456 5$", Reason.AMOUNT_INVALID),
    ("-5", Reason.AMOUNT_INVALID),
    ("5.555", Reason.AMOUNT_INVALID),
    # amounts the operator does not sell
    ("044123456 4", Reason.AMOUNT_NOT_ALLOWED),
    ("044123456 50", Reason.AMOUNT_NOT_ALLOWED),
    ("044123456 5,50", Reason.AMOUNT_NOT_ALLOWED),
    ("049123456 51", Reason.AMOUNT_NOT_ALLOWED),
    ("049123456 5.50", Reason.AMOUNT_NOT_ALLOWED),
    ("fix 038123456 60", Reason.AMOUNT_NOT_ALLOWED),
    ("TV 12345678 10,50", Reason.AMOUNT_NOT_ALLOWED),
    ("Internet arben 500", Reason.AMOUNT_NOT_ALLOWED),
    # numbers we cannot read
    ("0441234 5", Reason.NUMBER_INVALID),
    # 7 digits and an amount also read as one whole 8-digit number: ask for the amount
    ("04412345 5", Reason.AMOUNT_MISSING),
    ("0441234567 5", Reason.NUMBER_INVALID),
    ("12 5", Reason.NUMBER_INVALID),
    ("fix 5", Reason.NUMBER_INVALID),
    ("50333 5", Reason.NUMBER_INVALID),
    ("0381123456 5", Reason.NUMBER_INVALID),
    # fix with a mobile number
    ("fix 044123456 5", Reason.NUMBER_NOT_FIXED),
    # operators we do not serve, unknown prefixes, foreign numbers
    ("045512345 5", Reason.OPERATOR_NOT_SERVED),
    ("045612345 5", Reason.OPERATOR_NOT_SERVED),
    ("047123456 5", Reason.OPERATOR_NOT_SERVED),
    ("+383 47 123 456 5", Reason.OPERATOR_NOT_SERVED),
    ("030123456 5", Reason.OPERATOR_UNKNOWN),
    ("+383 41 123 456 5", Reason.OPERATOR_UNKNOWN),
    ("+355691234567 5", Reason.NUMBER_FOREIGN),
    ("00355 69 123 4567 5", Reason.NUMBER_FOREIGN),
    ("+386 41 123 456 5", Reason.NUMBER_FOREIGN),
    ("+41791234567 5", Reason.NUMBER_FOREIGN),
    # products
    ("Netflix arben 5", Reason.PRODUCT_UNKNOWN),
    ("TV", Reason.SUBSCRIBER_MISSING),
    ("TV 10", Reason.SUBSCRIBER_MISSING),
    ("Internet 20 EUR", Reason.SUBSCRIBER_MISSING),
    ("TV arben", Reason.AMOUNT_MISSING),
    ("TV 123456789", Reason.AMOUNT_MISSING),
    ("TV arben xyz", Reason.AMOUNT_INVALID),
    ("TV arben berisha 10", Reason.SUBSCRIBER_INVALID),
    ("TV përdorues 10", Reason.SUBSCRIBER_INVALID),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_accepted_forms(text: str, expected: object) -> None:
    assert parse(text, RULES) == expected


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_refused_forms(text: str, reason: Reason) -> None:
    result = parse(text, RULES)
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result


def test_amount_not_allowed_carries_the_rule_and_operator() -> None:
    result = parse("044123456 4", RULES)
    assert isinstance(result, Rejection)
    assert result.operator is Operator.VALA
    assert result.amount == D(4)
    assert result.rule is not None
    assert D(40) in result.rule.allowed


def test_not_served_names_the_operator() -> None:
    result = parse("045512345 5", RULES)
    assert isinstance(result, Rejection)
    assert result.operator is Operator.Z_MOBILE
    result = parse("047123456 5", RULES)
    assert isinstance(result, Rejection)
    assert result.operator is Operator.MTS


def test_rejection_detail_never_holds_a_whole_number() -> None:
    for text in ("047123456 5", "+355691234567 5", "fix 044123456 5", "030123456 5"):
        result = parse(text, RULES)
        assert isinstance(result, Rejection)
        assert "123456" not in result.detail
        assert "1234567" not in result.detail


def test_amount_rules_come_from_configuration() -> None:
    from appliance.core.rules import AmountRule

    rules = Rules(amounts=((Operator.VALA, AmountRule(allowed=(D(4),))),))
    assert parse("044123456 4", rules) == top(VALA, Operator.VALA, "4")
    refused = parse("049123456 5", rules)
    assert isinstance(refused, Rejection)
    assert refused.reason is Reason.OPERATOR_NOT_SERVED


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=500))
def test_parse_never_raises(text: str) -> None:
    result = parse(text, RULES)
    assert isinstance(result, Command | Rejection)
    if isinstance(result, Rejection):
        assert not result.detail.startswith("parser error"), result


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 +-.,€eurBKbk", max_size=60))
def test_parse_never_raises_on_number_like_text(text: str) -> None:
    result = parse(text, RULES)
    if isinstance(result, Rejection):
        assert not result.detail.startswith("parser error"), result


_SERVED_PREFIXES = ["44", "43", "48", "49", "46", "451", "452", "457", "28", "29", "38", "39",
                    "280", "290", "390"]


@st.composite
def written_topups(draw: st.DrawFn) -> tuple[str, str, Decimal]:
    """(text as a customer writes it, the E.164 number, the amount) for a served number."""
    prefix = draw(st.sampled_from(_SERVED_PREFIXES))
    length = 9 if prefix in phones.LONG_FIXED_PREFIXES else 8
    nsn = prefix + draw(st.text(alphabet="0123456789", min_size=length - len(prefix),
                                max_size=length - len(prefix)))
    e164 = "+383" + nsn
    form = draw(st.sampled_from(["0{n}", "{a} {b} {c}", "+383{n}", "00383{n}", "383{n}",
                                 "+383 {a2} {b2} {c}", "{a}-{b}-{c}"]))
    national = "0" + nsn
    number = form.format(n=nsn, a=national[:3], b=national[3:6], c=national[6:],
                         a2=nsn[:2], b2=nsn[2:5])
    operator = phones.operator_of(e164, RULES.numbering_plan)
    rule = RULES.amount_rule(operator)
    assert rule is not None
    if rule.allowed:
        amount = draw(st.sampled_from(rule.allowed))
    else:
        amount = Decimal(draw(st.integers(int(rule.minimum), int(rule.maximum))))
    written = draw(st.sampled_from(["{}", "{}€", "{} €", "{} EUR", "{},00", "{}.00 eur"]))
    blanks = draw(st.sampled_from([" ", "  ", " \t "]))
    return f"{number}{blanks}{written.format(amount)}", e164, amount


@settings(max_examples=300, deadline=None)
@given(written_topups())
def test_accepted_topup_gives_back_its_number_and_amount(case: tuple[str, str, Decimal]) -> None:
    text, e164, amount = case
    result = parse(text, RULES)
    assert isinstance(result, TopUp), (text, result)
    assert result.target == e164
    assert result.amount == amount
    assert result.operator is phones.operator_of(e164, RULES.numbering_plan)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_every_accepted_topup_is_consistent(text: str) -> None:
    result = parse(text, RULES)
    if isinstance(result, TopUp):
        assert phones.normalize(result.target) == result.target
        rule = RULES.amount_rule(result.operator)
        assert rule is not None
        assert rule.accepts(result.amount)
    if isinstance(result, OwnTopUp | ProductTopUp):
        assert result.amount > 0


@pytest.mark.parametrize(("text", "expected"), [
    ("Bilanc kursimi, faleminderit", BalanceQuery("savings")),
    ("B flm", BalanceQuery("current")),
    ("Ju lutem, BK", BalanceQuery("savings")),
    ("please 044123456 5 thanks!", top(VALA, Operator.VALA, "5")),
    ("5 EUR pls", OwnTopUp(D(5))),
    ("Hvala, TV 12345678 10", ProductTopUp(Product.TV, "12345678", D(10))),
    ("molim B hvala", BalanceQuery("current")),
])
def test_courtesy_words_around_a_command_are_ignored(text: str, expected: object) -> None:
    assert parse(text, RULES) == expected


def test_courtesy_words_alone_are_no_command() -> None:
    assert parse("faleminderit!", RULES) == Rejection(Reason.EMPTY)


_COMMANDS = st.one_of(st.sampled_from([t for t, _ in ACCEPTED]),
                      written_topups().map(lambda case: case[0]))


@st.composite
def courtesy(draw: st.DrawFn) -> str:
    words = " ".join(draw(st.sampled_from(COURTESY)))
    cased = draw(st.sampled_from([words, words.upper(), words.capitalize()]))
    return cased + draw(st.sampled_from(["", ",", "!", "."]))


@settings(max_examples=300, deadline=None)
@given(_COMMANDS, st.one_of(st.none(), courtesy()), st.one_of(st.none(), courtesy()))
def test_a_courtesy_word_before_or_after_changes_nothing(
    command: str, before: str | None, after: str | None
) -> None:
    polite = " ".join(p for p in (before, command, after) if p is not None)
    assert parse(polite, RULES) == parse(command, RULES)
