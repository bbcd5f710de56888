"""3GPP 27.007 (and V.250 basic) commands: identity, SIM, network, character set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from appliance.fakemodem.charset import CHARSETS, from_te
from appliance.fakemodem.errors import CmeError, PlainError
from appliance.fakemodem.state import ModemState, Settings, accept, flag, ident, setting
from appliance.fakemodem.syntax import int_arg


class NetworkCommands(ModemState):
    """The 27.007 command handlers (NETWORK_HANDLERS below names them)."""

    def _basic(self, name: str, value: str) -> list[str | bytes]:
        if name == "E":
            if value not in ("", "0", "1"):
                raise PlainError()
            self.settings.echo = value == "1"
            return []
        if name in ("Z", "&F"):
            self.settings = Settings()
            return []
        if name == "I":
            return [self.config.manufacturer, self.config.model,
                    f"Revision: {self.config.revision}", f"IMEI: {self.config.imei}",
                    "+GCAP: +CGSM"]
        if name == "V":
            if value not in ("", "1"):
                raise PlainError()  # numeric result codes (V0) are not offered
            return []
        if name in ("Q", "&W", "&D", "&C", "&K", "H", "X", "L", "M", "S"):
            return []
        raise PlainError()

    def _cimi(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return []
        self._need_sim(sms=False)
        return [self.config.imsi]

    def _cpin(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return []
        if form == "read":
            return ["+CPIN: READY" if self.pin_ok else "+CPIN: SIM PIN"]
        if form != "set" or not args:
            raise PlainError()
        if self.pin_ok:
            raise CmeError(3)
        if args[0] != self.config.pin:
            raise CmeError(16)
        self.pin_ok = True
        return []

    def _csq(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        rssi = self.signal if self.cfun == 1 else 99
        return [f"+CSQ: {rssi},99"]

    def _creg_line(self, prefix: str, n: int, unsolicited: bool = False) -> str:
        stat = 1 if self.attached else (2 if self.cfun == 1 and self.pin_ok else 0)
        head = f"{prefix}: {stat}" if unsolicited else f"{prefix}: {n},{stat}"
        if n == 2 and stat == 1:
            head += ',"00A1","1B2C"'
        return head

    def _creg(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CREG: (0-2)"]
        if form == "read":
            return [self._creg_line("+CREG", self.settings.creg)]
        self.settings.creg = int_arg(args, 0, range(3)) if form == "set" else 0
        return []

    def _cgreg(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CGREG: (0-2)"]
        if form == "read":
            return [self._cgreg_line(self.settings.cgreg)]
        self.settings.cgreg = int_arg(args, 0, range(3)) if form == "set" else 0
        return []

    def _cgreg_line(self, n: int, unsolicited: bool = False) -> str:
        """+CGREG: the packet domain is registered while attached (+CGATT) and the
        circuit domain is, in the same cell."""
        if self.cgatt:
            return self._creg_line("+CGREG", n, unsolicited)
        stat = 0  # detached: not registered, not searching
        return f"+CGREG: {stat}" if unsolicited else f"+CGREG: {n},{stat}"

    def _cgatt(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CGATT: (0,1)"]
        if form == "read":
            return [f"+CGATT: {1 if self.cgatt and self.attached else 0}"]
        if form != "set":
            raise PlainError()
        state = int_arg(args, 0, range(2))
        if state and not self.attached:
            raise CmeError(30)  # no network service
        self.cgatt = state
        return []

    def _cpas(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CPAS: (0-5)"]
        if form != "exec":
            raise PlainError()
        return ["+CPAS: 0"]  # ready: no call in progress, ever

    def _cbc(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CBC: (0-3),(0-100)"]
        if form != "exec":
            raise PlainError()
        # powered from the USB bus (27.007 <bcs> 1; gammu shows <bcs> 2, "no battery",
        # as "being charged")
        return ["+CBC: 1,100"]

    def _cusd(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CUSD: (0-2)"]
        if form == "read":
            return [f"+CUSD: {self.settings.cusd}"]
        if form == "exec":
            self.settings.cusd = 0
            return []
        n = int_arg(args, 0, range(3))
        if len(args) > 1 and args[1]:
            raise CmeError(4)  # no USSD service behind the fake network
        if n != 2:
            self.settings.cusd = n
        return []

    def _cops(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        c = self.config
        if form == "test":
            return [f'+COPS: (2,"{c.operator_long}","{c.operator_short}",'
                    f'"{c.operator_numeric}",2),(1,"IPKO","IPKO","22102",2),,(0-4),(0-2)']
        if form == "read":
            if not self.attached:
                return ["+COPS: 0"]
            fmt = self.settings.cops_format
            if fmt == 2:  # MCC+MNC digits, not text: +CSCS does not apply (gammu
                # reads them raw into a 10-byte field)
                return [f'+COPS: 0,2,"{c.operator_numeric}",2']
            name = c.operator_long if fmt == 0 else c.operator_short
            return [f"+COPS: 0,{fmt},\"".encode() + self._te_string(name) + b'",2']
        if form == "set":
            mode = int_arg(args, 0, range(5))
            if mode == 3 and len(args) > 1:
                self.settings.cops_format = int_arg(args, 1, range(3))
        return []

    def _cfun(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CFUN: (0,1,4),(0,1)"]
        if form == "read":
            return [f"+CFUN: {self.cfun}"]
        if form != "set":
            raise PlainError()
        fun = int_arg(args, 0, (0, 1, 4))
        self.cfun = 1 if fun == 1 else 0
        return []

    def _cscs(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CSCS: (" + ",".join(f'"{c}"' for c in CHARSETS) + ")"]
        if form == "read":
            return [f'+CSCS: "{self.settings.cscs}"']
        if form != "set" or not args:
            raise PlainError()
        want = from_te(args[0], self.settings.cscs).upper()
        if want not in CHARSETS:
            raise CmeError(4)
        self.settings.cscs = want
        return []


def _gcap(m: ModemState, form: str, args: list[str], now: datetime) -> list[str | bytes]:
    return ["+GCAP: +CGSM"] if form in ("exec", "test") else []


def _cnum(m: ModemState, form: str, args: list[str], now: datetime) -> list[str | bytes]:
    return [f'+CNUM: ,"{m.config.own_number}",145'] if form == "exec" else []


NetworkHandler = Callable[[NetworkCommands, str, list[str], datetime], list[str | bytes]]
NETWORK_HANDLERS: dict[str, NetworkHandler] = {
    "+CGMI": ident(lambda c: c.manufacturer),
    "+GMI": ident(lambda c: c.manufacturer),
    "+CGMM": ident(lambda c: c.model),
    "+GMM": ident(lambda c: c.model),
    "+CGMR": ident(lambda c: c.revision),
    "+GMR": ident(lambda c: c.revision),
    "+CGSN": ident(lambda c: c.imei),
    "+GSN": ident(lambda c: c.imei),
    "+CIMI": NetworkCommands._cimi,
    "+GCAP": _gcap,
    "+CMEE": setting("+CMEE", "cmee", range(3), "(0-2)"),
    "+CPIN": NetworkCommands._cpin,
    "+CSQ": NetworkCommands._csq,
    "+CREG": NetworkCommands._creg,
    "+CGREG": NetworkCommands._cgreg,
    "+CGATT": NetworkCommands._cgatt,
    "+CPAS": NetworkCommands._cpas,
    "+CBC": NetworkCommands._cbc,
    "+CUSD": NetworkCommands._cusd,
    "+COPS": NetworkCommands._cops,
    "+CFUN": NetworkCommands._cfun,
    "+CSCS": NetworkCommands._cscs,
    "+CNUM": _cnum,
    "+CHUP": accept,
    "+CLIP": flag("+CLIP", extra=",1"),
    "+CRC": flag("+CRC"),
    "+CVHU": flag("+CVHU"),
    "+CMER": accept,
    "+CSAS": accept,
    "+CRES": accept,
}
