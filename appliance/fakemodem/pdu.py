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
from datetime import datetime

from appliance.fakemodem.fields import (
    Concat,
    decode_address,
    decode_scts,
    decode_smsc,
    decode_udh,
    encode_address,
    encode_scts,
    encode_smsc,
    encode_udh,
)
from appliance.fakemodem.septets import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    PduError,
    gsm7_septets,
    gsm7_text,
    pack_septets,
    septet_cost,
    unpack_septets,
)

DCS_GSM7 = 0x00
DCS_8BIT = 0x04
DCS_UCS2 = 0x08

# Characters per part (23.040): one part, and each part of a concatenated message
# (an 8-bit-reference UDH takes 6 octets).
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


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
        return _pack(text, GSM7_PART - short, septet_cost)
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


__all__ = [  # the codec as one module; fields.py and septets.py hold its parts
    "DCS_8BIT", "DCS_GSM7", "DCS_UCS2", "GSM7_BASIC", "GSM7_EXTENSION", "GSM7_SINGLE",
    "UCS2_SINGLE", "Concat", "Deliver", "PduError", "StatusReport", "Submit", "alphabet_of",
    "choose_alphabet", "decode_address", "decode_deliver", "decode_scts", "decode_smsc",
    "decode_status_report", "decode_submit", "decode_udh", "deliver_pdus", "encode_address",
    "encode_deliver", "encode_scts", "encode_smsc", "encode_status_report", "encode_submit",
    "encode_udh", "gsm7_septets", "gsm7_text", "message_type", "pack_septets", "split_text",
    "tpdu_length", "unpack_septets",
]
