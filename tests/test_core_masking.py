"""core.masking: no phone or account number survives in a log line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core import phones
from appliance.core.masking import mask_text


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        # a phone reads one way, however written (phones.mask): +383, operator, last 2
        ("from +38344123456 ok", "from +383 44 *** *56 ok"),
        ("to 044 123 456.", "to +383 44 *** *56."),
        ("00383 44 123 456", "+383 44 *** *56"),
        ("phone=+38344123456,", "phone=+383 44 *** *56,"),
        ("38344123456", "+383 44 *** *56"),
        ("44123456", "+383 44 *** *56"),
        ("(044) 123-456", "+383 44 *** *56"),
        ("fixed +383280123456", "fixed +383 280 *** *56"),
        ("old code +37744123456 stays", "old code +377 ** *** *56 stays"),
        ("short 1234567", "short *****67"),
        ("acct 1234567890123 x", "acct *********0123 x"),
        ("iban XK051212012345678906", "iban XK**************8906"),
        ("XK05 1212 0123 4567 8906", "XK** **** **** **** 8906"),
    ],
)
def test_masks(line: str, masked: str) -> None:
    assert mask_text(line) == masked


@pytest.mark.parametrize(
    "line",
    [
        "balance 1.234.567,89 EUR",
        "at 2026-11-27 12:48:00, 3 parts, 5 replies",
        "allowed 1, 2, 3, 5, 10, 20, 40",
        "amounts 1 2 3 5 10 20 40",
        "inbound 17,18 decided: order",
        "",
    ],
)
def test_leaves_non_personal_numbers(line: str) -> None:
    assert mask_text(line) == line


@st.composite
def phone_forms(draw: st.DrawFn) -> tuple[str, str]:
    """(a phone number as it may appear in a log line, its 6 middle digits)."""
    prefix = draw(st.sampled_from(["43", "44", "45", "46", "48", "49", "28", "29", "38", "39"]))
    rest = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    nsn = prefix + rest
    form = draw(st.sampled_from([
        "+383{n}", "00383{n}", "383{n}", "0{n}", "{n}", "+383 {p} {a} {b}", "0{p} {a} {b}",
        "0{p}-{a}-{b}", "+377{n}", "+386 {p} {a} {b}", "(0{p}) {a} {b}",
    ]))
    text = form.format(n=nsn, p=prefix, a=rest[:3], b=rest[3:])
    return text, nsn[1:7]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), phone_forms(), st.text(max_size=40))
def test_no_middle_digits_survive(before: str, phone: tuple[str, str], after: str) -> None:
    number, middle = phone
    out = mask_text(before + number + after)
    squeezed = "".join(c for c in out if c not in " -()")
    assert middle not in out
    assert middle not in squeezed


@settings(max_examples=200, deadline=None)
@given(phone_forms())
def test_a_log_line_and_phones_mask_show_a_number_the_same_way(phone: tuple[str, str]) -> None:
    number, _ = phone
    e164 = phones.normalize(number)
    assert mask_text(f"sender {number} said") == f"sender {phones.mask(number)} said"
    if e164 is not None and not number.startswith(("+377", "+386")):
        assert phones.mask(number) == phones.mask(e164)  # one number, one masked form
    masked = phones.mask(number)
    assert mask_text(masked) == masked
    visible = [c for c in masked if c.isdigit()]
    assert len(visible) <= 3 + 3 + 2  # country code, operator prefix, last 2 digits
