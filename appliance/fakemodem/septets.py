"""The GSM 7-bit default alphabet (3GPP 23.038) and septet packing: the fake modem's
own table, written apart from the product's so that each checks the other."""

from __future__ import annotations

import math


class PduError(ValueError):
    """A PDU that cannot be decoded (truncated, bad hex, wrong type)."""


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


def septet_cost(ch: str) -> int:
    """Septets a GSM-7 character takes (2 for the extension table's, after ESC)."""
    return 2 if ch in _EXT_INDEX else 1
