"""What of an AT conversation may go to the log: no PIN, no PDU (it holds phone numbers),
no message listing's or send answer's details."""

from __future__ import annotations

import re

_HEX_LINE = re.compile(r"^[0-9A-Fa-f]+$")


def redact(text: str) -> str:
    """A line or command fit for the log: no PIN, no PDU (it holds phone numbers)."""
    if text.upper().startswith(("AT+CPIN=", "AT+CPWD", "AT+CLCK")):
        return text.split("=", 1)[0] + "=<redacted>"
    if len(text) > 16 and _HEX_LINE.match(text):
        return f"<pdu {len(text) // 2} octets>"
    if text.startswith(("+CMGL", "+CMGR", "+CSCA", "+CLIP", "+CMGS")):
        return text[:12] + "…"
    return text
