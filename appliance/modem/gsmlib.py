"""The one place that calls python-gsmmodem-new (it is untyped): typed wrappers over the
two pieces of `gsmmodem.pdu` we still lean on, septet packing and the address field.

Its texts tables are not used (they put "`" where 23.038 has "§" and map U+00FF to the
form feed's escape code): the septet values come from `core.gsm0338`.
"""

from __future__ import annotations

from gsmmodem import pdu as _gsm_pdu


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Septet values packed LSB first (23.038 §6.1.2.1.1) after `fill_bits` zero bits
    (0–6: what a user data header leaves before the next septet boundary)."""
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill bits {fill_bits} out of 0..6")
    # gsmmodem counts the header's bits past the last septet boundary, not the fill bits.
    packed: bytearray = _gsm_pdu.packSeptets(bytearray(septets), padBits=(7 - fill_bits) % 7)
    return bytes(packed)


def address_field(number: str) -> bytes:
    """TP-DA of a digits-only number: length in digits, type (0x91 international with
    `+`, 0xA1 national otherwise), BCD semi-octets F-padded (23.040 §9.1.2.5)."""
    field: bytearray = _gsm_pdu._encodeAddressField(number)
    return bytes(field)
