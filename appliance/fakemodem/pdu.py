"""The fake modem's own SMS PDU codec (3GPP 23.040 / 23.038), shared with nobody.

It plays the network's side: it encodes SMS-DELIVER and SMS-STATUS-REPORT PDUs and
decodes SMS-SUBMIT PDUs; it also has the reverse directions so that each can be checked
by a round trip. Everything here is a pure function of its arguments. PDUs are
upper-case hex strings and include the SMSC address field, as a modem shows them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

# 3GPP 23.038 default alphabet; position 0x09 is capital Ç (Unicode's mapping says ç).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table, reached through ESC (0x1B).
GSM7_EXTENSION = {
    0x0A: "\x0c", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}
_BASIC_INDEX = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != 0x1B}
_EXT_INDEX = {ch: code for code, ch in GSM7_EXTENSION.items()}
ESC = 0x1B

DCS_GSM7 = 0x00
DCS_8BIT = 0x04
DCS_UCS2 = 0x08

# Characters per part (23.040): one part, and each part of a concatenated message
# (an 8-bit-reference UDH takes 6 octets).
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


class PduError(ValueError):
    """A PDU that cannot be decoded (truncated, bad hex, wrong type)."""


# --------------------------------------------------------------------------- GSM-7


def gsm7_septets(text: str) -> list[int] | None:
    """The septets of `text` in GSM-7 (extension characters take two), or None."""
    out: list[int] = []
    for ch in text:
        code = _BASIC_INDEX.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = _EXT_INDEX.get(ch)
        if ext is None:
            return None
        out.extend((ESC, ext))
    return out


def gsm7_text(septets: list[int]) -> str:
    """Text of a list of septets; an unknown escape shows the basic character."""
    chars: list[str] = []
    escaped = False
    for s in septets:
        if escaped:
            chars.append(GSM7_EXTENSION.get(s, GSM7_BASIC[s] if s != ESC else " "))
            escaped = False
        elif s == ESC:
            escaped = True
        else:
            chars.append(GSM7_BASIC[s])
    return "".join(chars)


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack septets LSB first, after `fill_bits` zero bits (UDH alignment)."""
    acc = 0
    nbits = fill_bits
    out = bytearray()
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits > 0:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """Unpack `count` septets from `data`, skipping `fill_bits` leading bits."""
    needed = math.ceil((count * 7 + fill_bits) / 8)
    if needed > len(data):
        raise PduError(f"user data too short: {count} septets need {needed} octets")
    value = int.from_bytes(data[:needed], "little")
    value >>= fill_bits
    return [(value >> (7 * i)) & 0x7F for i in range(count)]


# --------------------------------------------------------------------------- fields


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


def alphabet_of(dcs: int) -> str:
    """'gsm7', '8bit' or 'ucs2' from a data coding scheme (23.038 §4)."""
    group = dcs >> 4
    if group <= 0x07:  # general data coding (and auto-deletion)
        if dcs & 0x20:  # compressed: we cannot read it; treat as data
            return "8bit"
        return {0: "gsm7", 1: "8bit", 2: "ucs2", 3: "gsm7"}[(dcs >> 2) & 0x03]
    if group in (0x0C, 0x0D):
        return "gsm7"
    if group == 0x0E:
        return "ucs2"
    if group == 0x0F:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"  # reserved groups: assume the default alphabet


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


def _encode_ud(text: str, alphabet: str, concat: Concat | None) -> tuple[int, bytes]:
    """(UDL, UD) for `text` with an optional concatenation header."""
    udh = encode_udh(concat)
    if alphabet == "gsm7":
        septets = gsm7_septets(text)
        if septets is None:
            raise ValueError("text is not GSM-7")
        fill = (7 - (len(udh) * 8) % 7) % 7
        header_septets = (len(udh) * 8 + fill) // 7
        return header_septets + len(septets), udh + pack_septets(septets, fill)
    if alphabet == "ucs2":
        body = text.encode("utf-16-be")
        return len(udh) + len(body), udh + body
    body = text.encode("latin-1")
    return len(udh) + len(body), udh + body


def _decode_ud(data: bytes, pos: int, udl: int, dcs: int,
               udhi: bool) -> tuple[str, bytes, Concat | None]:
    """(text, raw user data, concatenation) from the user data at `pos`."""
    alphabet = alphabet_of(dcs)
    rest = data[pos:]
    udh = b""
    concat = None
    if udhi:
        if not rest:
            raise PduError("UDH indicated but no user data")
        udhl = rest[0]
        udh = rest[1 : 1 + udhl]
        if len(udh) < udhl:
            raise PduError("UDH truncated")
        concat = decode_udh(udh)
    if alphabet == "gsm7":
        header_bits = (len(udh) + 1) * 8 if udhi else 0
        header_septets = math.ceil(header_bits / 7)
        count = udl - header_septets
        if count < 0:
            raise PduError("UDL shorter than its header")
        needed = math.ceil(udl * 7 / 8)
        if needed > len(rest):
            raise PduError(f"user data truncated: UDL {udl} needs {needed} octets")
        septets = unpack_septets(rest, udl)[header_septets:]
        return gsm7_text(septets), rest[:needed], concat
    if udl > len(rest):
        raise PduError(f"user data truncated: UDL {udl}, {len(rest)} octets")
    body = rest[len(udh) + 1 if udhi else 0 : udl]
    if alphabet == "ucs2":
        return body.decode("utf-16-be", errors="replace"), rest[:udl], concat
    return body.decode("latin-1"), rest[:udl], concat


# --------------------------------------------------------------------------- DELIVER


@dataclass(frozen=True)
class Deliver:
    """A decoded SMS-DELIVER."""

    smsc: str | None
    sender: str
    scts: datetime
    text: str
    dcs: int
    pid: int = 0
    concat: Concat | None = None


def encode_deliver(sender: str, text: str, scts: datetime, *, smsc: str | None,
                   alphabet: str = "gsm7", concat: Concat | None = None,
                   pid: int = 0) -> str:
    """One SMS-DELIVER PDU (hex, SMSC included)."""
    dcs = {"gsm7": DCS_GSM7, "ucs2": DCS_UCS2, "8bit": DCS_8BIT}[alphabet]
    first = 0x04 | (0x40 if concat else 0)  # MTI=DELIVER, TP-MMS: no more messages
    udl, ud = _encode_ud(text, alphabet, concat)
    tpdu = (bytes([first]) + encode_address(sender) + bytes([pid, dcs])
            + encode_scts(scts) + bytes([udl]) + ud)
    return (encode_smsc(smsc) + tpdu).hex().upper()


def decode_deliver(pdu: str) -> Deliver:
    """Decode an SMS-DELIVER PDU (hex, SMSC included)."""
    data = _unhex(pdu)
    smsc, pos = decode_smsc(data)
    if pos >= len(data):
        raise PduError("no TPDU")
    first = data[pos]
    if first & 0x03 != 0x00:
        raise PduError(f"not an SMS-DELIVER (first octet {first:02X})")
    sender, pos = decode_address(data, pos + 1)
    if pos + 10 > len(data):
        raise PduError("DELIVER truncated")
    pid, dcs = data[pos], data[pos + 1]
    scts = decode_scts(data[pos + 2 : pos + 9])
    udl = data[pos + 9]
    text, _, concat = _decode_ud(data, pos + 10, udl, dcs, bool(first & 0x40))
    return Deliver(smsc, sender, scts, text, dcs, pid, concat)


# --------------------------------------------------------------------------- SUBMIT


@dataclass(frozen=True)
class Submit:
    """A decoded SMS-SUBMIT."""

    smsc: str | None
    mr: int
    to: str
    text: str
    dcs: int
    srr: bool
    concat: Concat | None
    vp: bytes = b""
    pid: int = 0
    user_data: bytes = field(default=b"", repr=False)

    @property
    def alphabet(self) -> str:
        """'gsm7', 'ucs2' or '8bit'."""
        return alphabet_of(self.dcs)


def encode_submit(to: str, text: str, *, smsc: str | None = None, mr: int = 0,
                  alphabet: str = "gsm7", concat: Concat | None = None,
                  srr: bool = False, vp: int | None = 0xA7) -> str:
    """One SMS-SUBMIT PDU (hex, SMSC field included): for tests and round trips."""
    dcs = {"gsm7": DCS_GSM7, "ucs2": DCS_UCS2, "8bit": DCS_8BIT}[alphabet]
    first = 0x01 | (0x10 if vp is not None else 0) | (0x20 if srr else 0)
    first |= 0x40 if concat else 0
    udl, ud = _encode_ud(text, alphabet, concat)
    vpf = bytes([vp]) if vp is not None else b""
    tpdu = (bytes([first, mr & 0xFF]) + encode_address(to) + bytes([0, dcs]) + vpf
            + bytes([udl]) + ud)
    return (encode_smsc(smsc) + tpdu).hex().upper()


def tpdu_length(pdu: str) -> int:
    """Octets after the SMSC field (the <length> of +CMGS/+CMGR); best effort on junk."""
    n = len(pdu) // 2
    try:
        smsc_len = int(pdu[:2], 16)
    except ValueError:
        return max(n - 1, 0)
    return max(n - 1 - smsc_len, 0)


def decode_submit(pdu: str, expected_length: int | None = None) -> Submit:
    """Decode an SMS-SUBMIT as a client hands it to +CMGS; raises PduError when malformed.

    `expected_length` is the <length> given to +CMGS: a mismatch is malformed too.
    """
    data = _unhex(pdu)
    smsc, pos = decode_smsc(data)
    if expected_length is not None and len(data) - pos != expected_length:
        raise PduError(f"length {expected_length} given, TPDU has {len(data) - pos} octets")
    if pos + 2 > len(data):
        raise PduError("SUBMIT truncated")
    first = data[pos]
    if first & 0x03 != 0x01:
        raise PduError(f"not an SMS-SUBMIT (first octet {first:02X})")
    mr = data[pos + 1]
    to, pos = decode_address(data, pos + 2)
    if pos + 2 > len(data):
        raise PduError("SUBMIT truncated after address")
    pid, dcs = data[pos], data[pos + 1]
    pos += 2
    vpf = (first >> 3) & 0x03
    vp_len = {0: 0, 2: 1, 1: 7, 3: 7}[vpf]
    vp = data[pos : pos + vp_len]
    pos += vp_len
    if pos >= len(data):
        raise PduError("SUBMIT has no UDL")
    udl = data[pos]
    text, ud, concat = _decode_ud(data, pos + 1, udl, dcs, bool(first & 0x40))
    if pos + 1 + len(ud) != len(data):
        raise PduError("trailing octets after user data")
    return Submit(smsc, mr, to, text, dcs, bool(first & 0x20), concat, vp, pid, ud)


# --------------------------------------------------------------------------- STATUS-REPORT


@dataclass(frozen=True)
class StatusReport:
    """A decoded SMS-STATUS-REPORT."""

    smsc: str | None
    mr: int
    recipient: str
    scts: datetime
    discharge: datetime
    status: int


def encode_status_report(mr: int, recipient: str, scts: datetime, discharge: datetime,
                         *, status: int = 0, smsc: str | None) -> str:
    """SMS-STATUS-REPORT (hex, SMSC included); status 0 = delivered."""
    first = 0x02 | 0x04  # MTI=STATUS-REPORT, no more messages; SRQ=0 (for a SUBMIT)
    tpdu = (bytes([first, mr & 0xFF]) + encode_address(recipient) + encode_scts(scts)
            + encode_scts(discharge) + bytes([status]))
    return (encode_smsc(smsc) + tpdu).hex().upper()


def decode_status_report(pdu: str) -> StatusReport:
    """Inverse of `encode_status_report`."""
    data = _unhex(pdu)
    smsc, pos = decode_smsc(data)
    if pos + 2 > len(data) or data[pos] & 0x03 != 0x02:
        raise PduError("not an SMS-STATUS-REPORT")
    mr = data[pos + 1]
    recipient, pos = decode_address(data, pos + 2)
    if pos + 15 > len(data):
        raise PduError("STATUS-REPORT truncated")
    return StatusReport(smsc, mr, recipient, decode_scts(data[pos : pos + 7]),
                        decode_scts(data[pos + 7 : pos + 14]), data[pos + 14])


def message_type(pdu: str) -> str | None:
    """'deliver', 'submit', 'status-report' (from the MTI as a received PDU), or None."""
    try:
        data = _unhex(pdu)
        _, pos = decode_smsc(data)
        first = data[pos]
    except (PduError, IndexError):
        return None
    return {0: "deliver", 1: "submit", 2: "status-report"}.get(first & 0x03)


def _unhex(pdu: str) -> bytes:
    text = pdu.strip()
    if len(text) % 2:
        raise PduError("odd number of hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise PduError("not hex") from exc


# --------------------------------------------------------------------------- splitting


def choose_alphabet(text: str, ucs2: bool = False) -> str:
    """'ucs2' when asked or when GSM-7 cannot carry the text (one ë suffices)."""
    if ucs2 or gsm7_septets(text) is None:
        return "ucs2"
    return "gsm7"


def split_text(text: str, alphabet: str, ref_bits: int = 8) -> list[str]:
    """Split `text` into the parts a network would send (160/153 septets, 70/67 UCS-2
    code units; one less per part with a 16-bit reference), never inside an escape
    pair or a surrogate pair."""
    short = 1 if ref_bits == 16 else 0
    if alphabet == "gsm7":
        septets = gsm7_septets(text)
        assert septets is not None
        if len(septets) <= GSM7_SINGLE:
            return [text]
        return _pack(text, GSM7_PART - short, lambda ch: 2 if ch in _EXT_INDEX else 1)
    units = len(text.encode("utf-16-be")) // 2
    if units <= UCS2_SINGLE:
        return [text]
    return _pack(text, UCS2_PART - short, lambda ch: 2 if ord(ch) > 0xFFFF else 1)


def _pack(text: str, room: int, cost_of: Callable[[str], int]) -> list[str]:
    """Fill parts of `room` units greedily, a character (escape or surrogate pair: 2
    units) never split across two parts."""
    parts: list[str] = []
    cur: list[str] = []
    used = 0
    for ch in text:
        cost = cost_of(ch)
        if used + cost > room:
            parts.append("".join(cur))
            cur, used = [], 0
        cur.append(ch)
        used += cost
    parts.append("".join(cur))
    return parts


def deliver_pdus(sender: str, text: str, scts: datetime, *, smsc: str | None,
                 ucs2: bool = False, ref: int = 0, ref_bits: int = 8) -> list[str]:
    """The SMS-DELIVER PDUs a network hands over for `text` (one or concatenated)."""
    alphabet = choose_alphabet(text, ucs2)
    chunks = split_text(text, alphabet, ref_bits)
    if len(chunks) > 255:
        raise ValueError("text needs more than 255 parts")
    if len(chunks) == 1:
        return [encode_deliver(sender, text, scts, smsc=smsc, alphabet=alphabet)]
    mask = 0xFFFF if ref_bits == 16 else 0xFF
    return [encode_deliver(sender, chunk, scts, smsc=smsc, alphabet=alphabet,
                           concat=Concat(ref & mask, len(chunks), i + 1, ref_bits))
            for i, chunk in enumerate(chunks)]
