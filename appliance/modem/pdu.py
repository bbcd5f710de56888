"""SMS PDUs (3GPP 23.040 / 23.038): a bounded decoder of our own and an encoder over
`gsmmodem.pdu.encodeSmsSubmitPdu`. Pure functions; no I/O.

Why our own decoder: `gsmmodem.pdu.decodeSmsPdu` loses the first GSM-7 character after a
16-bit concatenation header, drops a trailing `@` when the septet count is a multiple of
8, reads DCS 0x40–0x7F/0xE0–0xEF/0xF4 as GSM-7, decodes emoji to lone surrogates and
decodes truncated PDUs silently. Here every read is bounded: a short or garbled PDU raises
`PduError`, never `StopIteration`/`IndexError`, and never hangs.
"""

from __future__ import annotations

import binascii
from datetime import UTC, datetime, timedelta, timezone

from gsmmodem import pdu as gsm_pdu

from appliance.modem.errors import PduError
from appliance.modem.types import (
    ConcatInfo,
    Deliver,
    Encoding,
    StatusReport,
    Submit,
    SubmitPdu,
)

__all__ = [
    "PduError",
    "decode",
    "decode_deliver",
    "decode_status_report",
    "encode_submit",
    "gsm7_septets",
]

# 3GPP 23.038 §6.2.1 default alphabet (0x09 is capital Ç per 23.038) and extension table.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXT = {
    0x0A: "\x0c", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}
_GSM7_INDEX = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != 0x1B}
_GSM7_EXT_INDEX = {ch: code for code, ch in GSM7_EXT.items()}
# gsmmodem's tables put "`" where 23.038 has "§" and map form feed wrongly; we send
# neither in GSM-7 (UCS-2 carries them), so its encoder only sees what it gets right.
_NOT_SENT_AS_GSM7 = frozenset("§\x0c")

MAX_SINGLE = {"gsm7": 160, "ucs2": 70}
MAX_PART = {"gsm7": 153, "ucs2": 67}


# ---------------------------------------------------------------- decoding helpers


class _Reader:
    """Bounded cursor over the PDU octets: every overrun is a `PduError`."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def octet(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise PduError(f"truncated PDU: no {what} at octet {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise PduError(
                f"truncated PDU: {what} needs {n} octets at {self.pos}, "
                f"{len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk


def _hex_to_bytes(hex_text: str) -> bytes:
    text = hex_text.strip().strip('"').strip()
    if not text:
        raise PduError("empty PDU")
    if len(text) % 2:
        raise PduError(f"odd number of hex digits ({len(text)})")
    try:
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError) as exc:
        raise PduError(f"not hex: {exc}") from None


_SEMI_OCTET_DIGITS = "0123456789*#abc"


def _semi_octets(data: bytes, digits: int | None = None) -> str:
    out: list[str] = []
    for octet in data:
        for nibble in (octet & 0x0F, octet >> 4):
            if nibble == 0x0F:
                return "".join(out)
            out.append(_SEMI_OCTET_DIGITS[nibble])
            if digits is not None and len(out) >= digits:
                return "".join(out)
    return "".join(out)


def unpack_septets(data: bytes, count: int) -> list[int]:
    """The first `count` septets packed LSB-first in `data` (23.038 §6.1.2.1.1)."""
    if count * 7 > len(data) * 8:
        raise PduError(f"truncated user data: {count} septets need {(count * 7 + 7) // 8} octets")
    value = int.from_bytes(data, "little")
    return [(value >> (7 * i)) & 0x7F for i in range(count)]


def decode_gsm7(septets: list[int]) -> str:
    """GSM-7 codes to text; an unknown escape shows its base character (23.038 §6.2.1.1)."""
    out: list[str] = []
    escape = False
    for code in septets:
        if escape:
            escape = False
            ext = GSM7_EXT.get(code)
            out.append(ext if ext is not None else GSM7_BASIC[code] if code != 0x1B else " ")
        elif code == 0x1B:
            escape = True
        else:
            out.append(GSM7_BASIC[code])
    return "".join(out)


def _address(reader: _Reader, what: str) -> str:
    """A TP address (OA/DA/RA): length in digits, type of address, semi-octets."""
    digits = reader.octet(f"{what} length")
    toa = reader.octet(f"{what} type")
    if digits > 20 * 2:
        raise PduError(f"{what} length {digits} out of range")
    raw = reader.take((digits + 1) // 2, what)
    if toa & 0x70 == 0x50:  # alphanumeric (GSM-7 packed)
        return decode_gsm7(unpack_septets(raw, digits * 4 // 7)).rstrip("@")
    number = _semi_octets(raw, digits)
    return "+" + number if toa & 0x70 == 0x10 and number else number


def _smsc(reader: _Reader) -> str | None:
    """The service-centre address that prefixes a PDU from `+CMGR`/`+CMGL`/`+CDS`."""
    octets = reader.octet("SMSC length")
    if octets == 0:
        return None
    if octets > 12:
        raise PduError(f"SMSC length {octets} out of range")
    toa = reader.octet("SMSC type")
    raw = reader.take(octets - 1, "SMSC address")
    if toa & 0x70 == 0x50:
        return decode_gsm7(unpack_septets(raw, len(raw) * 8 // 7)).rstrip("@")
    number = _semi_octets(raw)
    return "+" + number if toa & 0x70 == 0x10 and number else number or None


def _bcd(octet: int, what: str) -> int:
    lo, hi = octet & 0x0F, octet >> 4
    if lo > 9 or hi > 9:
        raise PduError(f"bad BCD in {what}: {octet:02X}")
    return lo * 10 + hi


def _timestamp(reader: _Reader, what: str) -> datetime:
    """A 7-octet service-centre timestamp (23.040 §9.2.3.11), returned in UTC."""
    raw = reader.take(7, what)
    year, month, day, hour, minute, second = (_bcd(o, what) for o in raw[:6])
    tz = raw[6]
    # The zone is quarter hours, semi-octet swapped; bit 3 of the octet is the sign.
    # Tolerate a non-BCD units digit (seen in the field) by clamping it.
    quarters = (tz & 0x07) * 10 + min(tz >> 4, 9)
    offset = timedelta(minutes=15 * quarters) * (-1 if tz & 0x08 else 1)
    try:
        stamp = datetime(
            2000 + year if year < 80 else 1900 + year, month, day, hour, minute, second,
            tzinfo=timezone(offset),
        )
    except ValueError as exc:
        raise PduError(f"bad {what}: {raw.hex().upper()} ({exc})") from None
    return stamp.astimezone(UTC)


def _dcs(dcs: int) -> tuple[Encoding, int | None]:
    """Alphabet and message class from a data coding scheme (23.038 §4)."""
    group = dcs >> 4
    if group <= 0x7:  # 00xx / 01xx: general data coding (01xx: marked for auto deletion)
        if dcs & 0x20:
            raise PduError(f"compressed user data (DCS {dcs:02X}) is not supported")
        alphabet = (dcs >> 2) & 0x03
        cls = dcs & 0x03 if dcs & 0x10 else None
        return ("8bit" if alphabet == 1 else "ucs2" if alphabet == 2 else "gsm7"), cls
    if group in (0xC, 0xD):  # message waiting indication, GSM-7
        return "gsm7", None
    if group == 0xE:  # message waiting indication, UCS-2
        return "ucs2", None
    if group == 0xF:  # data coding / message class
        return ("8bit" if dcs & 0x04 else "gsm7"), dcs & 0x03
    return "gsm7", None  # 0x8x–0xBx reserved: 23.038 says treat as GSM-7


def _user_data(
    reader: _Reader, encoding: Encoding, udhi: bool
) -> tuple[str, bytes, ConcatInfo | None, tuple[int, int] | None, bool]:
    """Text, raw payload, concatenation and port headers of the TP-UD field, and whether
    the user data was cut short (the header, if any, must be whole)."""
    udl = reader.octet("user data length")
    if encoding == "gsm7":
        if udl > 160:
            raise PduError(f"GSM-7 user data length {udl} > 160")
        needed = (udl * 7 + 7) // 8
    else:
        if udl > 140:
            raise PduError(f"user data length {udl} > 140")
        needed = udl
    truncated = reader.remaining() < needed
    ud = reader.take(min(needed, reader.remaining()), "user data")
    concat: ConcatInfo | None = None
    ports: tuple[int, int] | None = None
    header_octets = 0
    if udhi and udl > 0:
        if not ud:
            raise PduError("user data header missing")
        udhl = ud[0]
        header_octets = udhl + 1
        if header_octets > len(ud):
            raise PduError(f"user data header length {udhl} beyond user data")
        concat, ports = _parse_udh(ud[1:header_octets])
    if encoding == "gsm7":
        skip = (header_octets * 8 + 6) // 7  # header septets, fill bits included
        if skip > udl:
            raise PduError("user data header longer than user data")
        septets = unpack_septets(ud, min(udl, len(ud) * 8 // 7))[skip:]
        return decode_gsm7(septets), b"", concat, ports, truncated
    payload = ud[header_octets:]
    if encoding == "ucs2":
        # UTF-16 really: surrogate pairs (emoji) join; a lone or odd half becomes U+FFFD.
        text = payload.decode("utf-16-be", errors="replace")
        return text, payload, concat, ports, truncated
    return payload.decode("latin-1"), payload, concat, ports, truncated


def _parse_udh(udh: bytes) -> tuple[ConcatInfo | None, tuple[int, int] | None]:
    concat: ConcatInfo | None = None
    ports: tuple[int, int] | None = None
    pos = 0
    while pos < len(udh):
        if pos + 2 > len(udh):
            raise PduError("truncated information element in user data header")
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2:pos + 2 + length]
        if len(data) != length:
            raise PduError(f"information element {iei:02X} runs past the header")
        pos += 2 + length
        if iei == 0x00 and length == 3 and data[1] > 0:
            concat = ConcatInfo(ref=data[0], total=data[1], seq=data[2])
        elif iei == 0x08 and length == 4 and data[2] > 0:
            concat = ConcatInfo(ref=data[0] << 8 | data[1], total=data[2], seq=data[3])
        elif iei == 0x04 and length == 2:
            ports = (data[0], data[1])
        elif iei == 0x05 and length == 4:
            ports = (data[0] << 8 | data[1], data[2] << 8 | data[3])
    return concat, ports


def _start(hex_text: str, tpdu_length: int | None) -> tuple[_Reader, str | None]:
    data = _hex_to_bytes(hex_text)
    reader = _Reader(data)
    # `+CDS`/`+CMGL` announce the TPDU length: equal to the whole, there is no SMSC prefix.
    smsc = None if tpdu_length is not None and tpdu_length == len(data) else _smsc(reader)
    return reader, smsc


# ---------------------------------------------------------------- decoding API


def decode(hex_text: str, tpdu_length: int | None = None) -> Deliver | Submit | StatusReport:
    """Decode any PDU as a modem lists it (SMSC address first). Raises `PduError` for
    garbage; user data shorter than announced decodes as far as it goes, with
    `.truncated` set (gammu does the same)."""
    reader, smsc = _start(hex_text, tpdu_length)
    first = reader.octet("first octet")
    mti = first & 0x03
    if mti == 0x00:
        return _deliver(reader, first, smsc)
    if mti == 0x01:
        return _submit(reader, first, smsc)
    if mti == 0x02:
        return _status_report(reader, smsc)
    raise PduError(f"reserved message type (first octet {first:02X})")


def decode_deliver(
    hex_text: str, tpdu_length: int | None = None, *, allow_truncated: bool = False
) -> Deliver:
    """Decode an SMS-DELIVER (SMSC address first). `PduError` for anything else, for
    garbage, and for user data cut short (unless `allow_truncated`): a customer's
    `044123456 50` cut to `044123456 5` must not be acted upon."""
    result = decode(hex_text, tpdu_length)
    if not isinstance(result, Deliver):
        raise PduError(f"not an SMS-DELIVER but {type(result).__name__}")
    if result.truncated and not allow_truncated:
        raise PduError("truncated PDU: user data shorter than its length says")
    return result


def decode_status_report(hex_text: str, tpdu_length: int | None = None) -> StatusReport:
    """Decode the PDU of a `+CDS` notice (or a stored report). Raises `PduError`."""
    result = decode(hex_text, tpdu_length)
    if not isinstance(result, StatusReport):
        raise PduError(f"not an SMS-STATUS-REPORT but {type(result).__name__}")
    return result


def _deliver(reader: _Reader, first: int, smsc: str | None) -> Deliver:
    sender = _address(reader, "originating address")
    pid = reader.octet("protocol identifier")
    dcs = reader.octet("data coding scheme")
    encoding, cls = _dcs(dcs)
    when = _timestamp(reader, "service centre timestamp")
    text, data, concat, ports, cut = _user_data(reader, encoding, bool(first & 0x40))
    return Deliver(
        sender=sender, smsc_time=when, text=text, encoding=encoding, concat=concat,
        smsc=smsc, pid=pid, dcs=dcs, message_class=cls, ports=ports, data=data,
        status_report_indication=bool(first & 0x20), truncated=cut,
    )


def _submit(reader: _Reader, first: int, smsc: str | None) -> Submit:
    reference = reader.octet("message reference")
    recipient = _address(reader, "destination address")
    reader.octet("protocol identifier")
    dcs = reader.octet("data coding scheme")
    encoding, cls = _dcs(dcs)
    vpf = (first >> 3) & 0x03
    if vpf == 0x02:
        reader.octet("validity period")
    elif vpf in (0x01, 0x03):
        reader.take(7, "validity period")
    text, data, concat, _ports, cut = _user_data(reader, encoding, bool(first & 0x40))
    return Submit(
        recipient=recipient, text=text, encoding=encoding, concat=concat,
        reference=reference, request_report=bool(first & 0x20), smsc=smsc, dcs=dcs,
        message_class=cls, data=data, truncated=cut,
    )


def _status_report(reader: _Reader, smsc: str | None) -> StatusReport:
    ref = reader.octet("message reference")
    recipient = _address(reader, "recipient address")
    sent = _timestamp(reader, "service centre timestamp")
    done = _timestamp(reader, "discharge time")
    status = reader.octet("status")
    # Optional TP-PI/PID/DCS/UD may follow; nothing we need, and some networks pad
    # with garbage there, so the rest is ignored.
    return StatusReport(
        ref=ref, recipient=recipient, status=status, delivered=status < 0x20,
        final=not 0x20 <= status < 0x40, smsc_time=sent, discharge_time=done, smsc=smsc,
    )


# ---------------------------------------------------------------- encoding


def gsm7_septets(text: str) -> int | None:
    """Septets `text` takes in GSM-7 (extension characters count two); None if it can't."""
    count = 0
    for ch in text:
        if ch in _NOT_SENT_AS_GSM7:
            return None
        if ch in _GSM7_INDEX:
            count += 1
        elif ch in _GSM7_EXT_INDEX:
            count += 2
        else:
            return None
    return count


def _split_ucs2(text: str) -> list[bytes]:
    """UTF-16-BE chunks of at most 67 code units, never splitting a surrogate pair."""
    units = text.encode("utf-16-be")
    if len(units) <= MAX_SINGLE["ucs2"] * 2:
        return [units]
    parts: list[bytes] = []
    chunk = bytearray()
    for ch in text:
        enc = ch.encode("utf-16-be")
        if len(chunk) + len(enc) > MAX_PART["ucs2"] * 2:
            parts.append(bytes(chunk))
            chunk = bytearray()
        chunk.extend(enc)
    if chunk:
        parts.append(bytes(chunk))
    return parts


def _check_number(to: str) -> None:
    digits = to[1:] if to.startswith("+") else to
    if not digits.isdigit() or not 1 <= len(digits) <= 20:
        raise PduError("recipient must be digits, optionally with a leading +")


def encode_submit(
    to: str,
    text: str,
    *,
    ucs2: bool | None = None,
    request_report: bool = True,
    ref: int = 0,
) -> list[SubmitPdu]:
    """SMS-SUBMIT PDU(s) for `text` to `to` (E.164 `+…` or digits).

    GSM-7 when the text fits the default alphabet (or `ucs2=False`; then a character it
    can't carry raises `PduError`), UCS-2 (UTF-16: emoji allowed) otherwise or when
    `ucs2=True`. Longer texts become concatenated parts (153 septets / 67 units each)
    sharing the 8-bit reference `ref` (0–255). The status-report request bit follows
    `request_report`. The SMSC field is empty: the modem's own (`+CSCA`) is used.
    """
    _check_number(to)
    if not 0 <= ref <= 0xFF:
        raise PduError(f"reference {ref} out of 0..255")
    septets = gsm7_septets(text)
    if ucs2 is False and septets is None:
        raise PduError("text has characters GSM-7 cannot carry")
    if not ucs2 and septets is not None:
        pdus = gsm_pdu.encodeSmsSubmitPdu(
            to, text, reference=ref, requestStatusReport=request_report
        )
        return [SubmitPdu(hex=_cr_pad(bytes(p.data), to).hex().upper(), tpdu_length=p.tpduLength)
                for p in pdus]
    return _encode_ucs2(to, text, request_report, ref)


def _cr_pad(pdu: bytes, to: str) -> bytes:
    """Fill 7 spare bits at the end of GSM-7 user data with CR, not zeros (23.038
    §6.1.2.3.1), so a phone that counts septets from octets shows no stray `@`."""
    digits = len(to.lstrip("+"))
    udl_at = 1 + 1 + 1 + 2 + (digits + 1) // 2 + 1 + 1  # SMSC(0), FO, MR, DA, PID, DCS
    if udl_at >= len(pdu) or pdu[udl_at] % 8 != 7:
        return pdu
    return pdu[:-1] + bytes([pdu[-1] | (0x0D << 1)])


def _encode_ucs2(to: str, text: str, request_report: bool, ref: int) -> list[SubmitPdu]:
    # gsmmodem's UCS-2 path can't encode characters above U+FFFF and splits by code
    # points, so UCS-2 PDUs are assembled here (same layout as its GSM-7 ones).
    chunks = _split_ucs2(text)
    first = 0x01 | (0x20 if request_report else 0) | (0x40 if len(chunks) > 1 else 0)
    address = bytes(gsm_pdu._encodeAddressField(to))
    out: list[SubmitPdu] = []
    for seq, chunk in enumerate(chunks, start=1):
        udh = bytes([0x05, 0x00, 0x03, ref, len(chunks), seq]) if len(chunks) > 1 else b""
        ud = udh + chunk
        tpdu = bytes([first, ref]) + address + bytes([0x00, 0x08, len(ud)]) + ud
        out.append(SubmitPdu(hex=("00" + tpdu.hex()).upper(), tpdu_length=len(tpdu)))
    return out
