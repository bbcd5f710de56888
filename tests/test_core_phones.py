"""core.phones: E.164 normalisation, operators from the plan, masking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.masking import mask_text
from appliance.core.phones import mask, national, normalize, operator_of
from appliance.core.rules import Operator, Rules

PLAN = Rules().numbering_plan


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("044123456", "+38344123456"),
        ("044 123 456", "+38344123456"),
        ("+38344123456", "+38344123456"),
        ("0038344123456", "+38344123456"),
        ("38344123456", "+38344123456"),
        ("44123456", "+38344123456"),
        ("+383 44 123 456", "+38344123456"),
        ("+383 (0)44 123 456", "+38344123456"),
        ("044-123-456", "+38344123456"),
        ("044/123.456", "+38344123456"),
        ("+37744123456", "+38344123456"),
        ("+377 45 123 456", "+38345123456"),
        ("0037744123456", "+38344123456"),
        ("37744123456", "+38344123456"),
        ("+386 43 123 456", "+38343123456"),
        ("+38649123456", "+38349123456"),
        ("+381 28 123 456", "+38328123456"),
        ("+381 29 123 456", "+38329123456"),
        ("+381 38 123 456", "+38338123456"),
        ("+381 39 123 456", "+38339123456"),
        ("+381 280 123 456", "+383280123456"),
        ("038 123 456", "+38338123456"),
        ("0280 123 456", "+383280123456"),
        ("+355691234567", "+355691234567"),
        ("00355691234567", "+355691234567"),
        ("+386 41 123 456", "+38641123456"),
        ("+381 11 123 4567", "+381111234567"),
    ],
)
def test_normalize(text: str, e164: str) -> None:
    assert normalize(text) == e164


@pytest.mark.parametrize(
    "text",
    ["", "abc", "5", "50333", "0441234", "04412345678", "+", "++38344123456", "044 12a 456",
     "٠٤٤١٢٣٤٥٦", "38644123456", "0", "12345678", "+0123456789"],
)
def test_normalize_refuses(text: str) -> None:
    assert normalize(text) is None


@pytest.mark.parametrize(
    ("e164", "operator"),
    [
        ("+38344123456", Operator.VALA),
        ("+38345123456", Operator.VALA),
        ("+38345412345", Operator.VALA),
        ("+38345712345", Operator.VALA),
        ("+38346123456", Operator.VALA),
        ("+38343123456", Operator.IPKO_MOBILE),
        ("+38348123456", Operator.IPKO_MOBILE),
        ("+38349123456", Operator.IPKO_MOBILE),
        ("+38345512345", Operator.Z_MOBILE),
        ("+38345612345", Operator.Z_MOBILE),
        ("+38347123456", Operator.MTS),
        ("+38328123456", Operator.IPKO_FIXED),
        ("+38329123456", Operator.IPKO_FIXED),
        ("+38338123456", Operator.IPKO_FIXED),
        ("+38339123456", Operator.IPKO_FIXED),
        ("+383280123456", Operator.IPKO_FIXED),
        ("+383290123456", Operator.IPKO_FIXED),
        ("+383390123456", Operator.IPKO_FIXED),
        ("+383380123456", Operator.UNKNOWN),
        ("+383441234567", Operator.UNKNOWN),
        ("+38330123456", Operator.UNKNOWN),
        ("+38341123456", Operator.UNKNOWN),
        ("+355691234567", Operator.FOREIGN),
        ("+41791234567", Operator.FOREIGN),
        ("044123456", Operator.UNKNOWN),
    ],
)
def test_operator_of(e164: str, operator: Operator) -> None:
    assert operator_of(e164, PLAN) is operator


def test_plan_is_data() -> None:
    plan = ((("44", Operator.IPKO_MOBILE)),)
    assert operator_of("+38344123456", plan) is Operator.IPKO_MOBILE
    assert operator_of("+38349123456", plan) is Operator.UNKNOWN


def test_mask() -> None:
    assert mask("+38344123456") == "+383 44 *** *56"
    assert mask("+383280123456") == "+383 280 *** *56"
    assert mask("+355691234567") == "+355 *** *** *67"
    assert "123" not in mask("044123456")


def test_national() -> None:
    assert national("+38344123456") == "044123456"
    assert national("+355691234567") == "+355691234567"


@given(st.sampled_from(["44", "43", "49", "45", "28", "38"]),
       st.text(alphabet="0123456789", min_size=6, max_size=6))
def test_mask_hides_the_subscriber_digits(prefix: str, rest: str) -> None:
    e164 = "+383" + prefix + rest
    masked = mask(e164)
    assert masked.startswith("+383 " + prefix + " ")
    assert masked.endswith(rest[-2:])
    assert sum(c.isdigit() for c in masked) == 3 + 2 + 2
    assert mask_text(masked) == masked  # a masked number stays as it is in a log line


@given(st.text(max_size=30))
def test_normalize_never_raises_and_gives_e164(text: str) -> None:
    e164 = normalize(text)
    if e164 is not None:
        assert e164.startswith("+")
        assert e164[1:].isdigit()
        assert 8 <= len(e164) <= 16
        assert normalize(e164) == e164


# --- DESIGN §2 invariant 8: a sender address is matched exactly --------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from appliance.core.phones import sender_e164  # noqa: E402

_AGREEMENT_PHONES = ("+38344123456", "+38349234567", "+38345345678", "+38328123456")


@given(st.one_of(
    st.text(alphabet="+0123456789 -()", max_size=18),
    st.sampled_from(_AGREEMENT_PHONES).flatmap(lambda p: st.sampled_from([
        p[4:], "0" + p[4:], "00" + p[1:], p[1:], "+383 " + p[4:], "+3830" + p[4:],
        "+377" + p[4:], "+386" + p[4:], "+381" + p[4:], p + " ", " " + p,
    ])),
))
def test_no_sender_but_the_exact_number_matches_an_agreement(address: str) -> None:
    got = sender_e164(address)
    if got in _AGREEMENT_PHONES:
        assert address == got


def test_sender_e164_keeps_international_numbers_and_nothing_else() -> None:
    assert sender_e164("+38344123456") == "+38344123456"
    assert sender_e164("+4915112345678") == "+4915112345678"
    for address in ("044123456", "0038344123456", "38344123456", "BANK", "", "+0123456",
                    "+383 44 123 456", "+12"):
        assert sender_e164(address) is None
