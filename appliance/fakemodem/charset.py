"""TE character sets of `AT+CSCS` for text-mode SMS and quoted strings (27.007 §5.5)."""

from __future__ import annotations

from appliance.fakemodem.pdu import GSM7_BASIC, GSM7_EXTENSION, gsm7_septets

CHARSETS = ("IRA", "GSM", "UCS2", "HEX", "8859-1", "UTF-8")


def to_te(text: str, charset: str) -> bytes:
    """Encode `text` for the terminal in `charset` (unrepresentable characters become '?')."""
    if charset == "UCS2":
        return text.encode("utf-16-be").hex().upper().encode("ascii")
    if charset == "HEX":
        return text.encode("latin-1", errors="replace").hex().upper().encode("ascii")
    if charset == "GSM":
        out = bytearray()
        for ch in text:
            septets = gsm7_septets(ch)
            out.extend(septets if septets is not None else b"?")
        return bytes(out)
    if charset == "8859-1":
        return text.encode("latin-1", errors="replace")
    if charset == "UTF-8":
        return text.encode("utf-8")
    return text.encode("ascii", errors="replace")


def from_te(data: str, charset: str) -> str:
    """Decode a string the terminal typed in `charset` (received as latin-1 text)."""
    raw = data.encode("latin-1")
    if charset == "UCS2":
        try:
            return bytes.fromhex(data).decode("utf-16-be")
        except ValueError:
            return data
    if charset == "HEX":
        try:
            return bytes.fromhex(data).decode("latin-1")
        except ValueError:
            return data
    if charset == "GSM":
        chars: list[str] = []
        escaped = False
        for b in raw:
            if escaped:
                chars.append(GSM7_EXTENSION.get(b & 0x7F, GSM7_BASIC[b & 0x7F]))
                escaped = False
            elif b == 0x1B:
                escaped = True
            else:
                chars.append(GSM7_BASIC[b & 0x7F])
        return "".join(chars)
    try:
        return raw.decode("utf-8")  # terminals (picocom) type UTF-8 whatever CSCS says
    except UnicodeDecodeError:
        return raw.decode("latin-1")
