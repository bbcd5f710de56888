"""PDU decoding and encoding: gsmmodem.pdu's bugs fixed (#16), concatenation exposed (#14),
the status-report bit honoured (#11), the real-PDU corpus decoded or refused cleanly."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from gsmmodem import pdu as gsm_pdu
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.modem.errors import PduError
from appliance.modem.pdu import (
    decode,
    decode_deliver,
    decode_status_report,
    encode_submit,
    gsm7_septets,
)
from appliance.modem.types import ConcatInfo, Deliver, StatusReport, Submit
from tests.helpers import corpus_dir
from tests.test_modem_scripted import GSM7, build_deliver, septets_of

CORPUS = corpus_dir()


def corpus_pdus(kind: str) -> list[tuple[str, str, int | None]]:
    """(file name, PDU hex, announced length) of each dump, read in place."""
    out = []
    for path in sorted((CORPUS / kind).glob("*.dump")):
        lines = [ln.strip() for ln in path.read_text("latin-1").splitlines() if ln.strip()]
        header = next(ln for ln in lines if ln.startswith("+CMGR"))
        pdu = lines[lines.index(header) + 1]
        length = header.rsplit(",", 1)[-1].split(":")[-1].strip()
        out.append((path.name, pdu, int(length) if length.isdigit() else None))
    return out


# ---------------------------------------------------------------- the corpus


def test_corpus_is_there() -> None:
    assert len(corpus_pdus("decodes")) >= 30
    assert len(corpus_pdus("fails")) >= 8


@pytest.mark.parametrize(("name", "hex_pdu", "length"), corpus_pdus("decodes"))
def test_every_gammu_decodable_pdu_decodes(name: str, hex_pdu: str, length: int | None) -> None:
    result = decode(hex_pdu)
    assert isinstance(result, Deliver | Submit | StatusReport)
    if isinstance(result, Deliver):
        assert result.smsc_time.tzinfo is UTC
        assert result.sender
        if not result.truncated:
            assert decode_deliver(hex_pdu) == result


@pytest.mark.parametrize(("name", "hex_pdu", "length"), corpus_pdus("fails"))
def test_every_malformed_pdu_decodes_or_raises_pdu_error(
    name: str, hex_pdu: str, length: int | None
) -> None:
    with contextlib.suppress(PduError):
        decode(hex_pdu)
    with contextlib.suppress(PduError):
        decode_deliver(hex_pdu)


def test_corpus_samples_decode_to_what_they_say() -> None:
    by_name = {name: pdu for name, pdu, _ in corpus_pdus("decodes")}
    o2 = decode_deliver(by_name["04.dump"])
    assert o2.sender == "O2_"
    assert o2.text.startswith("O2: You now have")
    report = decode_status_report(by_name["30.dump"])
    assert (report.ref, report.status, report.delivered, report.final) == (0xE8, 0, True, True)
    mms = decode_deliver(by_name["40.dump"])
    assert mms.encoding == "8bit"
    assert mms.ports == (2948, 9200)
    cut = decode(by_name["41.dump"])
    assert isinstance(cut, Submit)
    assert cut.truncated


# ---------------------------------------------------------------- gsmmodem bugs fixed (#16)


def test_16_bit_concat_header_keeps_the_first_gsm7_character() -> None:
    udh = bytes([0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x01])
    hex_pdu = build_deliver(septets=septets_of("Hello world"), udh=udh)
    ours = decode_deliver(hex_pdu)
    assert ours.text == "Hello world"
    assert ours.concat == ConcatInfo(ref=0x1234, total=2, seq=1)
    assert gsm_pdu.decodeSmsPdu(hex_pdu)["text"] != "Hello world"  # the bug we fix


def test_8_bit_concat_header_with_fill_bits() -> None:
    udh = bytes([0x05, 0x00, 0x03, 0xA7, 0x03, 0x02])
    d = decode_deliver(build_deliver(septets=septets_of("Part two"), udh=udh))
    assert (d.text, d.concat) == ("Part two", ConcatInfo(0xA7, 3, 2))


@pytest.mark.parametrize("text", ["abcdefg@", "@" * 16, "1234567@@@@@@@@@"])
def test_trailing_at_survives_when_septets_are_a_multiple_of_8(text: str) -> None:
    hex_pdu = build_deliver(septets=septets_of(text))
    assert decode_deliver(hex_pdu).text == text
    assert gsm_pdu.decodeSmsPdu(hex_pdu)["text"] != text  # the bug we fix


@pytest.mark.parametrize(
    ("dcs", "encoding", "cls"),
    [(0x48, "ucs2", None), (0xE0, "ucs2", None), (0x08, "ucs2", None), (0x18, "ucs2", 0)],
)
def test_ucs2_coding_groups(dcs: int, encoding: str, cls: int | None) -> None:
    d = decode_deliver(build_deliver(payload="Përshëndetje".encode("utf-16-be"), dcs=dcs))
    assert (d.text, d.encoding, d.message_class) == ("Përshëndetje", encoding, cls)


def test_dcs_f4_is_8bit_class_0() -> None:
    d = decode_deliver(build_deliver(payload=b"\x01\x02\xff", dcs=0xF4))
    assert (d.encoding, d.message_class, d.data) == ("8bit", 0, b"\x01\x02\xff")


@pytest.mark.parametrize(("dcs", "cls"), [(0xF1, 1), (0x10, 0), (0xC0, None), (0xD8, None),
                                          (0x40, None), (0x85, None)])
def test_gsm7_coding_groups(dcs: int, cls: int | None) -> None:
    d = decode_deliver(build_deliver(septets=septets_of("BK"), dcs=dcs))
    assert (d.text, d.encoding, d.message_class) == ("BK", "gsm7", cls)


def test_compressed_is_refused() -> None:
    with pytest.raises(PduError):
        decode_deliver(build_deliver(septets=septets_of("B"), dcs=0x20))


def test_emoji_decode_as_one_character_not_lone_surrogates() -> None:
    d = decode_deliver(build_deliver(payload="ok 😀👍".encode("utf-16-be"), dcs=0x08))
    assert d.text == "ok 😀👍"
    odd = decode_deliver(build_deliver(payload=b"\xd8\x3d\x00\x42", dcs=0x08))
    assert odd.text == "\ufffdB"  # a lone high surrogate is replaced, not passed on


def test_extension_table_and_unknown_escape() -> None:
    text = [*septets_of("5"), 27, 101, *septets_of(" x"), 27, 65]
    assert decode_deliver(build_deliver(septets=text)).text == "5€ xA"


def test_sender_forms_and_timestamp() -> None:
    d = decode_deliver(build_deliver("044123456", septets=septets_of("B"),
                                     scts=bytes.fromhex("62117221000029")))
    assert d.sender == "044123456"
    # 2026-11-27 12:00:00 at -03:00 (0x29: sign bit, 12 quarters) is 15:00 UTC.
    assert d.smsc_time == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def test_truncated_pdus_raise() -> None:
    whole = build_deliver(septets=septets_of("044123456 50"))
    assert decode_deliver(whole).text == "044123456 50"
    for cut in range(2, len(whole), 2):
        with pytest.raises(PduError):
            decode_deliver(whole[:cut])
    assert decode(whole[:-2]).truncated  # type: ignore[union-attr]
    assert decode_deliver(whole[:-2], allow_truncated=True).text.startswith("044123456")


@pytest.mark.parametrize("junk", ["", "0", "zz", "00", "0791", "07FFFFFFFFFFFFFFFF",
                                  "00FF", '"0011"', "00" * 200])
def test_garbage_raises_pdu_error(junk: str) -> None:
    with pytest.raises(PduError):
        decode_deliver(junk)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(PduError):
        decode(data.hex())


def test_status_report_states() -> None:
    base = "0006290B918343143254F66211722100004062117221001040"
    pending = decode_status_report(base + "20")
    assert (pending.delivered, pending.final) == (False, False)
    failed = decode_status_report(base + "41")
    assert (failed.delivered, failed.final, failed.ref) == (False, True, 0x29)
    ok = decode_status_report(base + "00", tpdu_length=None)
    assert ok.delivered
    assert ok.recipient == "+38344123456"
    no_smsc = decode_status_report(base[2:] + "00", tpdu_length=25)
    assert no_smsc == ok
    with pytest.raises(PduError):
        decode_status_report(build_deliver(septets=septets_of("B")))


# ---------------------------------------------------------------- encoding (#10, #11, #14)


gsm7_text = st.text(alphabet=st.sampled_from(
    [c for c in GSM7 if c != "\x1b"] + list("€[]{}|^~\\\f")), max_size=700)
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)


def roundtrip(to: str, text: str, **kwargs: object) -> list[Submit]:
    pdus = encode_submit(to, text, **kwargs)  # type: ignore[arg-type]
    out = []
    for p in pdus:
        assert p.tpdu_length == len(p.hex) // 2 - 1
        got = decode(p.hex)
        assert isinstance(got, Submit)
        assert not got.truncated
        out.append(got)
    return out


@settings(max_examples=150, deadline=None)
@given(gsm7_text, st.booleans(), st.integers(0, 255))
def test_gsm7_roundtrip(text: str, report: bool, ref: int) -> None:
    parts = roundtrip("+38344123456", text, request_report=report, ref=ref)
    assert "".join(p.text for p in parts) == text
    assert all(p.encoding == "gsm7" and p.request_report is report for p in parts)
    assert all(p.recipient == "+38344123456" for p in parts)
    septets = gsm7_septets(text)
    assert septets is not None
    assert (len(parts) == 1) is (septets <= 160)
    if len(parts) > 1:
        assert all((gsm7_septets(p.text) or 0) <= 153 for p in parts)
        assert len(parts) <= -(-septets // 152)
        assert [p.concat for p in parts] == [ConcatInfo(ref, len(parts), i + 1)
                                             for i in range(len(parts))]
    else:
        assert parts[0].concat is None


@settings(max_examples=150, deadline=None)
@given(any_text, st.booleans())
def test_any_text_roundtrip(text: str, report: bool) -> None:
    parts = roundtrip("044123456", text, request_report=report, ref=9)
    assert "".join(p.text for p in parts) == text
    assert all(p.request_report is report for p in parts)
    if len(parts) > 1:
        assert all(p.concat is not None and p.concat.total == len(parts) for p in parts)


def test_ucs2_is_chosen_for_e_with_diaeresis_and_forced_when_asked() -> None:
    (p,) = roundtrip("+38344123456", "Bilanci ë")
    assert p.encoding == "ucs2"
    (q,) = roundtrip("+38344123456", "Bilanci", ucs2=True)
    assert (q.encoding, q.text) == ("ucs2", "Bilanci")
    with pytest.raises(PduError):
        encode_submit("+38344123456", "Bilanci ë", ucs2=False)


def test_part_sizes() -> None:
    assert len(encode_submit("+38344123456", "a" * 160)) == 1
    assert len(encode_submit("+38344123456", "a" * 161)) == 2
    assert len(encode_submit("+38344123456", "a" * 306)) == 2
    assert len(encode_submit("+38344123456", "ë" * 70)) == 1
    assert len(encode_submit("+38344123456", "ë" * 71)) == 2
    assert len(encode_submit("+38344123456", "ë" * 134)) == 2
    # An emoji is two UTF-16 units and is never split across parts.
    parts = roundtrip("+38344123456", "ë" * 66 + "😀" + "ë" * 10)
    assert [p.text for p in parts] == ["ë" * 66, "😀" + "ë" * 10]


def test_report_bit_honoured() -> None:
    first_octet = int(encode_submit("+38344123456", "B", request_report=False)[0].hex[2:4], 16)
    assert first_octet & 0x20 == 0
    first_octet = int(encode_submit("+38344123456", "B", request_report=True)[0].hex[2:4], 16)
    assert first_octet & 0x20 == 0x20


@pytest.mark.parametrize("bad", ["", "+", "+383 44", "abc", "1" * 21])
def test_bad_recipients_raise(bad: str) -> None:
    with pytest.raises(PduError):
        encode_submit(bad, "B")


def test_section_sign_is_gsm7_and_backtick_ucs2() -> None:
    # 23.038 has "§" at 0x5F (gsmmodem's table has "`" there); "`" is in neither table.
    (p,) = roundtrip("+38344123456", "§ 5")
    assert (p.encoding, p.text) == ("gsm7", "§ 5")
    (q,) = roundtrip("+38344123456", "`quoted`")
    assert (q.encoding, q.text) == ("ucs2", "`quoted`")


@pytest.mark.parametrize("text", ["1234567", "B" * 15, "x" * 159])
def test_seven_spare_bits_are_cr_not_at(text: str) -> None:
    (p,) = encode_submit("+38344123456", text)
    raw = bytes.fromhex(p.hex)
    assert raw[-1] >> 1 == 0x0D
    got = decode(p.hex)
    assert got.text == text


def test_agrees_with_gsmmodem_where_gsmmodem_is_right() -> None:
    """Differential check against an independent decoder: the texts agree except where
    gsmmodem is known wrong (reads past TP-UDL: 14, 39; a zero-length address: 31;
    8-bit DCS group F: 40; port header fill bits: 41) or gives up (20, 24, 26)."""
    known_wrong = {"14.dump", "20.dump", "24.dump", "26.dump", "31.dump", "39.dump",
                   "40.dump", "41.dump"}
    disagree = set()
    for name, hex_pdu, _ in corpus_pdus("decodes"):
        ours = decode(hex_pdu)
        try:
            theirs = gsm_pdu.decodeSmsPdu(hex_pdu.strip('"'))
        except Exception:
            disagree.add(name)
            continue
        if isinstance(ours, StatusReport):
            same = (theirs["reference"], theirs["status"]) == (ours.ref, ours.status)
        else:
            same = theirs.get("text") == ours.text
        if not same:
            disagree.add(name)
    assert disagree == known_wrong
