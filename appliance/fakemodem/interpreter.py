"""A pure AT interpreter: bytes in, bytes out (with delays) and timers; no I/O.

`Interpreter.feed(data, now)` consumes what a client wrote and returns an `Output`:
the echo and answers as `Chunk`s (each with the delay a slow modem would take before
it) and `Timer`s the front must hand back later (status reports). The network side
(`deliver`, `deliver_pdu`), faults and state changes are methods too. The clock is
always an argument; randomness comes from a seeded `DelayModel`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from appliance.fakemodem.errors import CmeError, PlainError
from appliance.fakemodem.lines import LineHandling
from appliance.fakemodem.model import Chunk, Output, Timer
from appliance.fakemodem.state import (
    Prompt,
)
from appliance.fakemodem.syntax import _int, split_args, split_commands

Handler = Callable[[str, list[str], datetime], "list[str | bytes] | Prompt"]


class Interpreter(LineHandling):
    """One modem's state and its AT command set."""

    def _dispatch(self, name: str, rest: str, now: datetime) -> list[str | bytes] | Prompt:
        if not name.startswith(("+", "^", "$", "%", "*", "#")):
            return self._basic(name, rest)
        handler = self._handlers().get(name)
        if handler is None:
            if self.settings.cmee:
                raise CmeError(4)
            raise PlainError()
        args: list[str] = []
        if rest == "=?":
            form = "test"
        elif rest == "?":
            form = "read"
        elif rest.startswith("="):
            form, args = "set", split_args(rest[1:])
        elif rest == "":
            form = "exec"
        else:
            raise PlainError()
        return handler(form, args, now)

    def _handlers(self) -> dict[str, Handler]:
        return {
            "+CGMI": self._ident(lambda: self.config.manufacturer),
            "+GMI": self._ident(lambda: self.config.manufacturer),
            "+CGMM": self._ident(lambda: self.config.model),
            "+GMM": self._ident(lambda: self.config.model),
            "+CGMR": self._ident(lambda: self.config.revision),
            "+GMR": self._ident(lambda: self.config.revision),
            "+CGSN": self._ident(lambda: self.config.imei),
            "+GSN": self._ident(lambda: self.config.imei),
            "+CIMI": self._cimi,
            "+GCAP": lambda f, a, n: ["+GCAP: +CGSM"] if f in ("exec", "test") else [],
            "+CMEE": self._cmee,
            "+CPIN": self._cpin,
            "+CSQ": self._csq,
            "+CREG": self._creg,
            "+CGREG": self._cgreg,
            "+CGATT": self._cgatt,
            "+CPAS": self._cpas,
            "+CBC": self._cbc,
            "+CUSD": self._cusd,
            "+COPS": self._cops,
            "+CFUN": self._cfun,
            "+CMGF": self._cmgf,
            "+CSCS": self._cscs,
            "+CSCA": self._csca,
            "+CSMS": self._csms,
            "+CPMS": self._cpms,
            "+CNMI": self._cnmi,
            "+CMGL": self._cmgl,
            "+CMGR": self._cmgr,
            "+CMGD": self._cmgd,
            "+CMGS": self._cmgs,
            "+CSMP": self._csmp,
            "+CSDH": self._csdh,
            "+CNMA": lambda f, a, n: [],
            "+CMMS": self._cmms,
            "+CLAC": self._clac,
            "+CNUM": lambda f, a, n: [f'+CNUM: ,"{self.config.own_number}",145']
            if f == "exec" else [],
            "+CHUP": lambda f, a, n: [],
            "+CLIP": self._flag("+CLIP", extra=",1"),
            "+CRC": self._flag("+CRC"),
            "+CVHU": self._flag("+CVHU"),
            "+CMER": lambda f, a, n: [],
            "+CSAS": lambda f, a, n: [],
            "+CRES": lambda f, a, n: [],
        }

    def _ident(self, value: Callable[[], str]) -> Handler:
        def handler(form: str, args: list[str], now: datetime) -> list[str | bytes]:
            if form == "test":
                return []
            if form != "exec":
                raise PlainError()
            return [value()]
        return handler

    def _flag(self, name: str, extra: str = "") -> Handler:
        values: dict[str, int] = {"v": 0}

        def handler(form: str, args: list[str], now: datetime) -> list[str | bytes]:
            if form == "test":
                return [f"{name}: (0,1)"]
            if form == "read":
                return [f"{name}: {values['v']}{extra}"]
            if form == "set":
                values["v"] = _int(args, 0, range(0, 2))
            return []
        return handler

    def _clac(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form != "exec":
            return []
        basics: list[str | bytes] = ["ATE", "ATI", "ATZ", "AT&F", "ATV", "ATQ", "AT&W", "ATH"]
        return basics + [f"AT{name}" for name in sorted(self._handlers())]


__all__ = ["Chunk", "Interpreter", "Output", "Timer", "split_args", "split_commands"]
