"""PDU fields (3GPP 23.040): addresses, the SMSC field, service-centre time stamps and
the concatenation header."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from appliance.fakemodem.septets import (
    PduError,
    gsm7_septets,
    gsm7_text,
    pack_septets,
    unpack_septets,
)

_BCD = {**{str(d): d for d in range(10)}, "*": 0xA, "#": 0xB, "F": 0xF}


def _swap_bcd(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes(_BCD[digits[i]] | (_BCD[digits[i + 1]] << 4) for i in range(0, len(digits), 2))


def _unswap_bcd(data: bytes) -> str:
    out = []
    for b in data:
        out.append("0123456789*#abc"[b & 0x0F] if (b & 0x0F) != 0x0F else "")
        out.append("0123456789*#abc"[b >> 4] if (b >> 4) != 0x0F else "")
    return "".join(out)


def encode_address(number: str) -> bytes:
    """TP address: length in semi-octets, type, value. '+' means international,
    anything with a letter is alphanumeric (GSM-7 packed)."""
    digits = number[1:] if number.startswith("+") else number
    if digits and all(c in "0123456789*#" for c in digits):
        toa = 0x91 if number.startswith("+") else 0x81
        return bytes([len(digits), toa]) + _swap_bcd(digits)
    septets = gsm7_septets(number)
    if septets is None:
        raise ValueError(f"address {number!r} is not GSM-7")
    packed = pack_septets(septets)
    semi = math.ceil(len(septets) * 7 / 4)
    return bytes([semi, 0xD0]) + packed


def decode_address(data: bytes, pos: int) -> tuple[str, int]:
    """Decode a TP address at `pos`; returns (address, next position)."""
    if pos + 2 > len(data):
        raise PduError("address truncated")
    semi, toa = data[pos], data[pos + 1]
    octets = (semi + 1) // 2
    body = data[pos + 2 : pos + 2 + octets]
    if len(body) < octets:
        raise PduError("address truncated")
    if (toa & 0x70) == 0x50:  # alphanumeric
        text = gsm7_text(unpack_septets(body, semi * 4 // 7))
        return text, pos + 2 + octets
    digits = _unswap_bcd(body)[:semi]
    if (toa & 0x70) == 0x10 and digits:
        digits = "+" + digits
    return digits, pos + 2 + octets


def encode_smsc(number: str | None) -> bytes:
    """SMSC field as a modem shows it (length in octets, type, BCD); 00 if none."""
    if not number:
        return b"\x00"
    digits = number.lstrip("+")
    body = bytes([0x91 if number.startswith("+") else 0x81]) + _swap_bcd(digits)
    return bytes([len(body)]) + body


def decode_smsc(data: bytes) -> tuple[str | None, int]:
    """Decode the SMSC field at the start; returns (number or None, TPDU start)."""
    if not data:
        raise PduError("empty PDU")
    n = data[0]
    if n == 0:
        return None, 1
    if n > 11 or 1 + n > len(data):
        raise PduError(f"SMSC length {n} invalid")
    toa = data[1]
    digits = _unswap_bcd(data[2 : 1 + n])
    if (toa & 0x70) == 0x10 and digits:
        digits = "+" + digits
    return digits, 1 + n


def encode_scts(moment: datetime) -> bytes:
    """Service-centre time stamp: swapped BCD with the zone in quarter hours."""
    if moment.tzinfo is None:
        raise ValueError("time stamp needs a time zone")
    offset = moment.utcoffset() or timedelta(0)
    quarters = int(offset.total_seconds() // 900)
    fields = [moment.year % 100, moment.month, moment.day,
              moment.hour, moment.minute, moment.second]
    out = bytearray(((v % 10) << 4) | (v // 10) for v in fields)
    q = abs(quarters)
    tz = ((q % 10) << 4) | (q // 10)
    if quarters < 0:
        tz |= 0x08
    out.append(tz)
    return bytes(out)


def decode_scts(data: bytes) -> datetime:
    """Inverse of `encode_scts`."""
    if len(data) != 7:
        raise PduError("time stamp truncated")

    def bcd(b: int) -> int:
        return (b & 0x0F) * 10 + (b >> 4)

    try:
        quarters = (data[6] & 0x07) * 10 + (data[6] >> 4)
        if data[6] & 0x08:
            quarters = -quarters
        zone = timezone(timedelta(minutes=15 * quarters))
        return datetime(2000 + bcd(data[0]), bcd(data[1]), bcd(data[2]),
                        bcd(data[3]), bcd(data[4]), bcd(data[5]), tzinfo=zone)
    except ValueError as exc:
        raise PduError(f"bad time stamp: {exc}") from exc


# --------------------------------------------------------------------------- UDH


@dataclass(frozen=True)
class Concat:
    """A concatenation header: reference, total parts, this part (1-based), ref size."""

    ref: int
    total: int
    seq: int
    bits: int = 8


def encode_udh(concat: Concat | None) -> bytes:
    """User data header (with its length octet) for a concatenated part; b'' if none."""
    if concat is None:
        return b""
    if concat.bits == 16:
        ie = bytes([0x08, 4, (concat.ref >> 8) & 0xFF, concat.ref & 0xFF,
                    concat.total, concat.seq])
    else:
        ie = bytes([0x00, 3, concat.ref & 0xFF, concat.total, concat.seq])
    return bytes([len(ie)]) + ie


def decode_udh(udh: bytes) -> Concat | None:
    """The concatenation element of a UDH (without its length octet), if any."""
    pos = 0
    while pos + 2 <= len(udh):
        iei, ln = udh[pos], udh[pos + 1]
        val = udh[pos + 2 : pos + 2 + ln]
        if len(val) < ln:
            raise PduError("UDH truncated")
        if iei == 0x00 and ln == 3:
            return Concat(val[0], val[1], val[2], 8)
        if iei == 0x08 and ln == 4:
            return Concat((val[0] << 8) | val[1], val[2], val[3], 16)
        pos += 2 + ln
    return None
