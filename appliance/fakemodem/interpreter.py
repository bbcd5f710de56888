"""A pure AT interpreter: bytes in, bytes out (with delays) and timers; no I/O.

`Interpreter.feed(data, now)` consumes what a client wrote and returns an `Output`:
the echo and answers as `Chunk`s (each with the delay a slow modem would take before
it) and `Timer`s the front must hand back later (status reports). The network side
(`deliver`, `deliver_pdu`), faults and state changes are methods too. The clock is
always an argument; randomness comes from a seeded `DelayModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

from appliance.fakemodem.lines import LineHandler, LineHandling
from appliance.fakemodem.model import Chunk, Output, Timer
from appliance.fakemodem.network import NETWORK_HANDLERS
from appliance.fakemodem.sms import SMS_HANDLERS
from appliance.fakemodem.syntax import split_args, split_commands

_BASICS = ("ATE", "ATI", "ATZ", "AT&F", "ATV", "ATQ", "AT&W", "ATH")


def _clac(m: LineHandling, form: str, args: list[str], now: datetime) -> list[str | bytes]:
    """+CLAC: every command this modem knows (and no vendor ones)."""
    if form != "exec":
        return []
    return [*_BASICS, *(f"AT{name}" for name in sorted(m.HANDLERS))]


class Interpreter(LineHandling):
    """One modem's state and its AT command set."""

    HANDLERS: ClassVar[Mapping[str, LineHandler]] = {
        **NETWORK_HANDLERS, **SMS_HANDLERS, "+CLAC": _clac,
        "+CNMA": LineHandling._cnma}


__all__ = ["Chunk", "Interpreter", "Output", "Timer", "split_args", "split_commands"]
