"""One GSM-7 table: what the core counts is what the modem's encoder sends.

The core's segment counting (`core.gsm7`) and the PDU encoder (`modem.pdu`) read the same
table (`core.gsm0338`); these tests hold them to each other through the real encoder and
our decoder, and hold that table to the fake modem's independent one (the second opinion).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core import gsm0338, gsm7
from appliance.fakemodem import pdu as fake_pdu
from appliance.modem.pdu import decode, encode_submit
from appliance.modem.types import Submit

DEST = "+38344123456"


def sent_parts(text: str) -> list[Submit]:
    """The parts the modem layer would put on the air for `text`, decoded again; the fake
    modem's independent decoder (the second opinion) must read each the same."""
    out = []
    for part in encode_submit(DEST, text, request_report=False):
        got = decode(part.hex)
        assert isinstance(got, Submit)
        theirs = fake_pdu.decode_submit(part.hex, part.tpdu_length)
        assert (theirs.alphabet, theirs.text) == (got.encoding, got.text)
        out.append(got)
    return out


def test_section_sign_is_one_gsm7_segment_to_the_core_and_on_the_air() -> None:
    text = "Bilanci § " + "x" * 90
    assert gsm7.segment_count(text) == 1
    (part,) = sent_parts(text)
    assert (part.encoding, part.text) == ("gsm7", text)


def test_form_feed_is_an_extension_character_on_the_air() -> None:
    text = "a\fb"
    assert gsm7.septet_count(text) == 4
    (part,) = sent_parts(text)
    assert (part.encoding, part.text) == ("gsm7", text)
    raw = bytes.fromhex(encode_submit(DEST, text)[0].hex)
    assert raw[-5] == 4  # TP-UDL (then 4 octets of user data): a, ESC, 0x0A, b


# Every GSM-7 character (basic and extension) plus a few that force UCS-2 (ë, an emoji, `).
_GSM = sorted((set(gsm0338.BASIC) - {"\x1b"}) | set(gsm0338.EXTENSION))
_alphabet = st.sampled_from([*_GSM, "ë", "😀", "`"])
texts = st.one_of(
    st.text(alphabet=st.sampled_from(_GSM), max_size=500),
    st.text(alphabet=_alphabet, max_size=300),
)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_core_segments_are_the_parts_sent(text: str) -> None:
    parts = sent_parts(text)
    assert len(parts) == gsm7.segment_count(text)
    assert [p.text for p in parts] == gsm7.split(text)
    expected = "gsm7" if gsm7.encoding_of(text) == gsm7.Encoding.GSM7 else "ucs2"
    assert {p.encoding for p in parts} == {expected}


def test_the_fake_modems_table_agrees_character_by_character() -> None:
    assert len(gsm0338.BASIC) == len(fake_pdu.GSM7_BASIC) == 128
    for code, (ours, theirs) in enumerate(zip(gsm0338.BASIC, fake_pdu.GSM7_BASIC, strict=True)):
        assert ours == theirs, f"septet {code:#04x}: {ours!r} here, {theirs!r} in the fake"
    ours_ext = {code: ch for ch, code in gsm0338.EXTENSION.items()}
    assert ours_ext == fake_pdu.GSM7_EXTENSION
