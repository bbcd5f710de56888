"""SMS PDUs (3GPP 23.040 / 23.038): a bounded decoder of our own; the encoder lives in
`modem.pdu_submit` and is re-exported here. Pure functions; no I/O.

Why our own decoder: `gsmmodem.pdu.decodeSmsPdu` loses the first GSM-7 character after a
16-bit concatenation header, drops a trailing `@` when the septet count is a multiple of
8, reads DCS 0x40–0x7F/0xE0–0xEF/0xF4 as GSM-7, decodes emoji to lone surrogates and
decodes truncated PDUs silently. Here every read is bounded: a short or garbled PDU raises
`PduError`, never `StopIteration`/`IndexError`, and never hangs.
"""

from __future__ import annotations

import binascii
from datetime import UTC, datetime, timedelta, timezone

from appliance.core.gsm0338 import decode_septets
from appliance.modem.errors import PduError
from appliance.modem.pdu_submit import encode_submit, gsm7_septets
from appliance.modem.types import (
    ConcatInfo,
    Deliver,
    Encoding,
    StatusReport,
    Submit,
)

__all__ = [
    "PduError",
    "decode",
    "decode_deliver",
    "decode_status_report",
    "encode_submit",
    "gsm7_septets",
]

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


def _address(reader: _Reader, what: str) -> str:
    """A TP address (OA/DA/RA): length in digits, type of address, semi-octets."""
    digits = reader.octet(f"{what} length")
    toa = reader.octet(f"{what} type")
    if digits > 20 * 2:
        raise PduError(f"{what} length {digits} out of range")
    raw = reader.take((digits + 1) // 2, what)
    if toa & 0x70 == 0x50:  # alphanumeric (GSM-7 packed)
        return decode_septets(unpack_septets(raw, digits * 4 // 7)).rstrip("@")
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
        return decode_septets(unpack_septets(raw, len(raw) * 8 // 7)).rstrip("@")
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
        return decode_septets(septets), b"", concat, ports, truncated
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
