"""core.gsm7: the 3GPP 23.038 alphabet, septets and segments, checked against
python-gsmmodem-new's own encoder (never gsmtermlib)."""

from __future__ import annotations

import math

import pytest
from gsmmodem.pdu import encodeGsm7, encodeSmsSubmitPdu
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core import gsm0338, gsm7
from appliance.core.rules import Rules

# Characters both tables agree on. Left out: ESC (not a character), "§" at 0x5F (gsmmodem
# has "`" there) and the form feed (gsmmodem maps U+00FF to ESC 0x0A instead).
COMMON = sorted((set(gsm7.BASIC) | set(gsm7.EXTENSION)) - {"\x1b", "§", "\f"})
DEST = "+38344123456"
_UDL_AT = 1 + 1 + 1 + 2 + math.ceil(11 / 2) + 2  # SMSC len, first octet, MR, addr, PID, DCS


def _user_data_lengths(text: str) -> list[int]:
    """TP-UDL of each PDU gsmmodem builds for `text` (septets for GSM-7)."""
    return [pdu.data[_UDL_AT] for pdu in encodeSmsSubmitPdu(DEST, text, requestStatusReport=False)]


def test_table_positions() -> None:
    assert gsm7.BASIC[0x09] == "Ç"
    assert gsm7.BASIC[0x00] == "@"
    assert gsm7.BASIC[0x24] == "¤"
    assert gsm7.BASIC[0x5F] == "§"
    assert gsm7.BASIC[0x60] == "¿"
    assert gsm7.EXTENSION["€"] == 0x65


@pytest.mark.parametrize(
    ("text", "septets"),
    [("", 0), ("B", 1), ("€", 2), ("5 €", 4), ("{[]}", 8), ("Ç", 1), ("a\nb", 3)],
)
def test_septet_count(text: str, septets: int) -> None:
    assert gsm7.septet_count(text) == septets


def test_not_gsm7() -> None:
    for text in ("ë", "ç", "Bilanç", "😀", "\x1b", "ш"):
        assert not gsm7.is_gsm7(text)
    with pytest.raises(ValueError, match="GSM-7"):
        gsm7.septet_count("ë")


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
        ("€" * 80, 1), ("€" * 81, 2), ("a" * 158 + "€" + "a", 2),
        ("ë" * 70, 1), ("ë" * 71, 2), ("ë" * 134, 2), ("ë" * 135, 3),
        ("😀" * 35, 1), ("😀" * 36, 2), ("", 1),
    ],
)
def test_segment_count(text: str, segments: int) -> None:
    assert gsm7.segment_count(text) == segments


def test_split_never_cuts_an_escape_or_a_surrogate_pair() -> None:
    parts = gsm7.split("a" * 152 + "€" * 5)
    assert parts[0] == "a" * 152
    parts = gsm7.split("ë" * 66 + "😀" * 10)
    assert parts[0] == "ë" * 66
    assert "".join(parts) == "ë" * 66 + "😀" * 10


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=COMMON, max_size=700))
def test_counts_agree_with_gsmmodem(text: str) -> None:
    assert gsm7.is_gsm7(text)
    assert gsm7.septet_count(text) == len(encodeGsm7(text))
    lengths = _user_data_lengths(text)
    assert gsm7.segment_count(text) == len(lengths)
    if len(lengths) == 1:
        assert lengths[0] == gsm7.septet_count(text)
    else:
        # Each part: 1 UDH length octet + 5 UDH octets + 1 fill bit = 7 septets of header.
        assert sum(n - 7 for n in lengths) == gsm7.septet_count(text)
        assert [n - 7 for n in lengths] == [gsm7.septet_count(p) for p in gsm7.split(text)]


# U+00FF is left out: gsmmodem lists it in its extension table and then crashes encoding it.
bmp_non_gsm = st.text(
    alphabet=st.characters(
        max_codepoint=0xFFFF, exclude_categories=["Cs"], exclude_characters="\u00ff"
    ),
    max_size=300,
).filter(lambda t: not gsm7.is_gsm7(t))


@settings(max_examples=200, deadline=None)
@given(bmp_non_gsm)
def test_ucs2_segments_agree_with_gsmmodem(text: str) -> None:
    assert gsm7.segment_count(text) == len(_user_data_lengths(text))


def test_transliterate() -> None:
    assert gsm7.transliterate("Bilanç i llogarisë") == "Bilanc i llogarise"
    assert gsm7.transliterate("ËË çÇ") == "EE cC"
    assert gsm7.transliterate("“Dërgoni” – shpejt…") == '"Dergoni" - shpejt...'
    assert gsm7.transliterate("Šđćž") == "Sdcz"
    assert gsm7.transliterate("é ü ñ ß € @") == "é ü ñ ß € @"  # already GSM-7
    assert gsm7.transliterate("ш😀") == "??"


@given(st.text(max_size=200))
def test_transliterate_always_gives_gsm7(text: str) -> None:
    assert gsm7.is_gsm7(gsm7.transliterate(text))


def test_prepare_policy() -> None:
    text = "Mbushja u krye. Bilanci i ri: 1.234,56 EUR për ju."
    assert gsm7.prepare(text, Rules()) == "Mbushja u krye. Bilanci i ri: 1.234,56 EUR per ju."
    assert gsm7.prepare(text, Rules(transliterate=False)) == text
    # a text with no close GSM-7 form stays whole (UCS-2) rather than turning into "?"
    assert gsm7.prepare("Привет ë", Rules()) == "Привет ë"


def test_the_table_is_gsm0338s_not_a_copy() -> None:
    assert gsm7.BASIC is gsm0338.BASIC
    assert gsm7.EXTENSION is gsm0338.EXTENSION


def test_split_in_a_chosen_encoding() -> None:
    # A GSM-7 text sent as UCS-2 on purpose (`Modem.send(ucs2=True)`) is cut at 70/67 units.
    assert gsm7.split("a" * 70, gsm7.Encoding.UCS2) == ["a" * 70]
    assert gsm7.split("a" * 100, gsm7.Encoding.UCS2) == ["a" * 67, "a" * 33]
    assert gsm7.split("a" * 100, gsm7.Encoding.GSM7) == ["a" * 100]
    with pytest.raises(ValueError):
        gsm7.split("ë", gsm7.Encoding.GSM7)
