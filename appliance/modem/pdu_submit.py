"""SMS-SUBMIT PDUs (3GPP 23.040 §9.2.2.2): what `Modem.send` hands to `AT+CMGS`.

The parts are cut by the core (`core.gsm7.split`) over the one GSM-7 table
(`core.gsm0338`), so a text the core counts as N segments goes out as N parts in the same
encoding. Pure functions; no I/O.
"""

from __future__ import annotations

from appliance.core import gsm0338, gsm7
from appliance.modem.errors import PduError
from appliance.modem.gsmlib import address_field, pack_septets
from appliance.modem.types import SubmitPdu

__all__ = ["encode_submit", "gsm7_septets"]

_CR = 0x0D


def gsm7_septets(text: str) -> int | None:
    """Septets `text` takes in GSM-7 (extension characters count two); None if it can't."""
    septets = gsm0338.encode_septets(text)
    return None if septets is None else len(septets)


def _check_number(to: str) -> None:
    digits = to[1:] if to.startswith("+") else to
    if not digits.isdigit() or not 1 <= len(digits) <= 20:
        raise PduError("recipient must be digits, optionally with a leading +")


def _gsm7_user_data(part: str, udh: bytes) -> tuple[int, bytes]:
    """(TP-UDL in septets, TP-UD) of one GSM-7 part behind header `udh` (may be empty)."""
    septets = gsm0338.encode_septets(part)
    if septets is None:
        raise PduError("text has characters GSM-7 cannot carry")
    header_septets = (len(udh) * 8 + 6) // 7
    fill = header_septets * 7 - len(udh) * 8
    udl = header_septets + len(septets)
    # 7 spare bits at the end are a CR, not zeros (23.038 §6.1.2.3.1): a phone that
    # counts septets from octets then shows no stray `@`. TP-UDL does not count it.
    padding = [_CR] if udl % 8 == 7 else []
    return udl, udh + pack_septets(septets + padding, fill)


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
    fits = gsm7.is_gsm7(text)
    if ucs2 is False and not fits:
        raise PduError("text has characters GSM-7 cannot carry")
    encoding = gsm7.Encoding.GSM7 if fits and not ucs2 else gsm7.Encoding.UCS2
    parts = gsm7.split(text, encoding)
    concatenated = len(parts) > 1
    first = 0x01 | (0x20 if request_report else 0) | (0x40 if concatenated else 0)
    dcs = 0x00 if encoding == gsm7.Encoding.GSM7 else 0x08
    address = address_field(to)
    out: list[SubmitPdu] = []
    for seq, part in enumerate(parts, start=1):
        udh = bytes([0x05, 0x00, 0x03, ref, len(parts), seq]) if concatenated else b""
        if encoding == gsm7.Encoding.GSM7:
            udl, ud = _gsm7_user_data(part, udh)
        else:
            ud = udh + part.encode("utf-16-be")
            udl = len(ud)
        tpdu = bytes([first, ref]) + address + bytes([0x00, dcs, udl]) + ud
        out.append(SubmitPdu(hex=("00" + tpdu.hex()).upper(), tpdu_length=len(tpdu)))
    return out
