"""The GSM 7-bit default alphabet and its extension table (3GPP TS 23.038 §6.2.1).

The one copy of the table in our code: the core counts segments with it (`core.gsm7`) and
the modem layer encodes and decodes PDUs with it (`modem.pdu`), so what the core counts as
one segment is what goes on the air as one part. The fake modem keeps its own table on
purpose (a second opinion); tests/test_modem_gsm0338.py compares the two.
"""

from __future__ import annotations

__all__ = [
    "BASIC",
    "ESC",
    "EXTENSION",
    "EXTENSION_BY_CODE",
    "decode_septets",
    "encode_septets",
    "septet_cost",
]

# Indexed by septet value. 0x09 is the capital Ç (3GPP; Unicode's mapping file says ç, and
# the lower-case ç is not in GSM-7); 0x1B is the escape to the extension table, not a
# character of its own; 0x5F is § (some libraries put ` there).
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(BASIC) == 128

ESC = 0x1B

# The extension table: each costs two septets (ESC + code). € is ESC 0x65.
EXTENSION: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
EXTENSION_BY_CODE: dict[int, str] = {code: ch for ch, code in EXTENSION.items()}

_BASIC_INDEX: dict[str, int] = {ch: i for i, ch in enumerate(BASIC) if i != ESC}


def septet_cost(ch: str) -> int | None:
    """Septets one character takes (1 basic, 2 extension), None when GSM-7 lacks it."""
    if ch in _BASIC_INDEX:
        return 1
    if ch in EXTENSION:
        return 2
    return None


def encode_septets(text: str) -> list[int] | None:
    """The septet values of `text` (ESC + code for extension characters), or None when
    a character is in neither table."""
    out: list[int] = []
    for ch in text:
        code = _BASIC_INDEX.get(ch)
        if code is not None:
            out.append(code)
        elif ch in EXTENSION:
            out.extend((ESC, EXTENSION[ch]))
        else:
            return None
    return out


def decode_septets(septets: list[int]) -> str:
    """Septet values to text; an unknown escape shows its base character and an escape
    followed by an escape a space (23.038 §6.2.1.1)."""
    out: list[str] = []
    escape = False
    for code in septets:
        if escape:
            escape = False
            ext = EXTENSION_BY_CODE.get(code)
            out.append(ext if ext is not None else BASIC[code] if code != ESC else " ")
        elif code == ESC:
            escape = True
        else:
            out.append(BASIC[code])
    return "".join(out)
