"""A pure AT interpreter: bytes in, bytes out (with delays) and timers; no I/O.

`Interpreter.feed(data, now)` consumes what a client wrote and returns an `Output`:
the echo and answers as `Chunk`s (each with the delay a slow modem would take before
it) and `Timer`s the front must hand back later (status reports). The network side
(`deliver`, `deliver_pdu`), faults and state changes are methods too. The clock is
always an argument; randomness comes from a seeded `DelayModel`.
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.fakemodem import pdu as codec
from appliance.fakemodem.charset import CHARSETS, from_te, to_te
from appliance.fakemodem.model import (
    CME_TEXT,
    CMS_TEXT,
    STAT_CODES,
    STAT_NAMES,
    Chunk,
    DelayModel,
    Fault,
    ModemConfig,
    Output,
    SentMessage,
    SentPart,
    Stored,
    Timer,
    join_sent,
)

CR, LF, BS, ESC, CTRL_Z = 0x0D, 0x0A, 0x08, 0x1B, 0x1A
MAX_LINE = 560  # longer command lines are refused (real modems have ~500-byte buffers)
MAX_PROMPT = 1024  # hex digits (or text characters) accepted after "> "
STORAGES = ("SM", "ME")
FAULT_KINDS = ("no-answer", "error", "cms-error", "cme-error", "late", "non-utf8",
               "garbage", "registration-lost", "registration-restored", "sim-full",
               "cmti-inside-answer", "cmti-burst", "signal")


class CmeError(Exception):
    """A final `+CME ERROR: <code>`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class CmsError(Exception):
    """A final `+CMS ERROR: <code>`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class PlainError(Exception):
    """A final `ERROR` (syntax)."""


@dataclass
class Prompt:
    """The modem is collecting a message after `> ` for +CMGS."""

    mode: str  # "pdu" or "text"
    length: int = 0
    to: str = ""
    buffer: bytearray = field(default_factory=bytearray)
    overflow: bool = False


@dataclass
class Settings:
    """What ATZ resets (the user profile)."""

    echo: bool = True
    cmee: int = 0
    cmgf: int = 0
    cscs: str = "IRA"
    cnmi: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)
    csmp: tuple[int, int, int, int] = (17, 167, 0, 0)
    creg: int = 0
    cgreg: int = 0
    cusd: int = 0
    cops_format: int = 0
    csdh: int = 0


Handler = Callable[[str, list[str], datetime], "list[str | bytes] | Prompt"]


class Interpreter:
    """One modem's state and its AT command set."""

    def __init__(self, config: ModemConfig | None = None, delays: DelayModel | None = None,
                 rng_seed: int | None = None) -> None:
        self.config = config or ModemConfig()
        self.delays = delays or DelayModel()
        self._rng = random.Random(rng_seed)
        self._zone = ZoneInfo(self.config.local_zone)
        self.capacity = {"SM": self.config.sm_capacity, "ME": self.config.me_capacity}
        self.first_index = {"SM": self.config.sm_first_index, "ME": self.config.me_first_index}
        self.store: dict[str, dict[int, Stored]] = {"SM": {}, "ME": {}}
        self.sent_parts: list[SentPart] = []
        self.faults: list[Fault] = []
        self.mr = 0  # message reference counter, mod 256
        self.concat_ref = self._rng.randrange(256)  # what the "network" numbers its parts by
        self.network_pending: list[tuple[str, str | None]] = []  # (pdu, storage) held back
        self.registered = True
        self.full_storages: set[str] = set()  # sim-full fault: refuse new messages
        self.signal = self.config.signal
        # (command line, final result) of the last lines, for testers ("what did it ask?")
        self.history: deque[tuple[str, str]] = deque(maxlen=2000)
        self.power_on()

    # ------------------------------------------------------------------ state

    def power_on(self) -> None:
        """Power-up state (also after the port vanished and came back): storages kept."""
        self.settings = Settings()
        self.cpms = ["SM", "SM", "SM"]
        self.pin_ok = self.config.pin is None
        self.cfun = 1
        self.cgatt = 1  # packet service attached (follows registration)
        self.smsc = self.config.smsc
        self._line = bytearray()
        self._line_overflow = False
        self._prompt: Prompt | None = None
        self._deferred = Output()  # notices held while a prompt is open
        self._buffered: list[bytes] = []  # notices held by CNMI mode 0
        self._inject: list[bytes] = []  # notices held for cmti-inside-answer
        self._burst: list[bytes] = []  # notices held for cmti-burst

    @property
    def prompt_open(self) -> bool:
        """Waiting for a message after `> ` (a client that gave up leaves it so)."""
        return self._prompt is not None

    @property
    def attached(self) -> bool:
        """Registered on the network, SIM unlocked, radio on: SMS can flow."""
        return self.registered and self.pin_ok and self.cfun == 1

    def sent(self, include_incomplete: bool = False) -> list[SentMessage]:
        """Messages submitted with +CMGS, concatenated parts joined, oldest first."""
        return join_sent(self.sent_parts, include_incomplete)

    def stored(self) -> list[Stored]:
        """Every stored message, SM first, by index."""
        return [m for s in STORAGES for _, m in sorted(self.store[s].items())]

    def used(self, storage: str) -> int:
        """Messages stored in `storage`."""
        return len(self.store[storage])

    def local(self, now: datetime) -> datetime:
        """`now` in the network's local zone (time stamps carry its offset)."""
        return now.astimezone(self._zone).replace(microsecond=0)

    # ------------------------------------------------------------------ input

    def feed(self, data: bytes, now: datetime) -> Output:
        """Consume bytes from the client; return echo, answers and timers."""
        out = Output()
        for b in data:
            if self._prompt is not None:
                self._prompt_byte(b, now, out)
            else:
                self._command_byte(b, now, out)
        return out

    def _command_byte(self, b: int, now: datetime, out: Output) -> None:
        if b in (CR, LF):
            if self.settings.echo:
                out.write(bytes([b]))
            line, overflow = bytes(self._line), self._line_overflow
            self._line.clear()
            self._line_overflow = False
            if overflow:
                out.extend(self._final_error(PlainError()))
            elif line.strip():
                out.extend(self._execute_line(line, now))
            return
        if b == ESC:  # cancels the line typed so far (gammu opens with ESC CR)
            self._line.clear()
            self._line_overflow = False
            return
        if self.settings.echo:
            out.write(bytes([b]))
        if b in (BS, 0x7F):
            if self._line:
                self._line.pop()
            return
        if b in (CTRL_Z, 0):
            return
        if len(self._line) >= MAX_LINE:
            self._line_overflow = True
            return
        self._line.append(b)

    def _prompt_byte(self, b: int, now: datetime, out: Output) -> None:
        prompt = self._prompt
        assert prompt is not None
        if b == CTRL_Z:
            if self.settings.echo:
                out.write(bytes([b]))
            self._prompt = None
            answer = self._submit(prompt, now)
            self.history.append((f"<{prompt.mode} message>", _final_of(answer.data)))
            out.extend(answer)
            self._flush_deferred(out)
            return
        if b == ESC:
            self._prompt = None
            out.write(b"\r\nOK\r\n")
            self._flush_deferred(out)
            return
        if self.settings.echo:
            out.write(bytes([b]))
        if b in (BS, 0x7F):
            if prompt.buffer:
                prompt.buffer.pop()
            return
        if b in (CR, LF):
            if prompt.mode == "text" and b == CR:
                prompt.buffer.append(LF)
                out.write(b"\r\n> ")
            return
        if len(prompt.buffer) >= MAX_PROMPT:
            prompt.overflow = True
            return
        prompt.buffer.append(b)

    # ------------------------------------------------------------------ lines

    def _execute_line(self, raw: bytes, now: datetime) -> Output:
        out = self._run_line(raw, now)
        line = _PIN_ARG.sub(r'\1"****"', raw.decode("latin-1").strip())
        self.history.append((line, _final_of(out.data)))
        return out

    def _run_line(self, raw: bytes, now: datetime) -> Output:
        text = raw.decode("latin-1").strip(" \t\x00")
        if len(text) < 2 or text[:2].upper() != "AT":
            return self._final_error(PlainError())
        commands = split_commands(text[2:])
        if commands is None:
            return self._final_error(PlainError())
        names = [name for name, _ in commands]
        fault = self._take_fault(names, at_submit=False)
        if fault is not None and fault.kind == "no-answer":
            return Output()
        if fault is not None and fault.kind in ("error", "cms-error", "cme-error"):
            return self._final_error(_fault_error(fault))
        info: list[list[str | bytes]] = []
        delay = 0.0
        prompt: Prompt | None = None
        try:
            for name, rest in commands:
                if prompt is not None:  # nothing may follow +CMGS on its line
                    raise PlainError()
                result = self._dispatch(name, rest, now)
                delay += self.delays.command(name, sum(self.used(s) for s in STORAGES))
                if isinstance(result, Prompt):
                    prompt = result
                else:
                    info.append(result)
        except (CmeError, CmsError, PlainError) as exc:
            out = self._lines(info, delay)
            out.extend(self._final_error(exc))
            return out
        if fault is not None and fault.kind == "late":
            delay += fault.delay
        if prompt is not None:
            self._prompt = prompt
            out = self._lines(info, delay)
            out.write(b"\r\n> ")
            return out
        out = self._lines(info, delay, final=b"\r\nOK\r\n", fault=fault, names=names)
        if names and names[0] == "+CNMI" and self.settings.cnmi[0] != 0 and self._buffered:
            for notice in self._buffered:
                out.write(notice)
            self._buffered.clear()
        if self.network_pending and self.attached:
            # space freed, PIN entered or radio back on: the SMSC's retry gets through
            out.extend(self.retry_pending(now))
        return out

    def _lines(self, info: list[list[str | bytes]], delay: float, final: bytes = b"",
               fault: Fault | None = None, names: list[str] | None = None) -> Output:
        """Format the info responses (one group of lines per command: CRLF before and
        after the group, lines joined by CRLF, as V.250 says) and a final result as one
        chunk after `delay`."""
        groups = [[x if isinstance(x, bytes) else x.encode("utf-8") for x in g]
                  for g in info if g]
        if fault is not None and fault.kind == "non-utf8":
            if groups:
                first = groups[0][0]
                mid = max(len(first) // 2, 1)
                groups[0][0] = first[:mid] + b"\xff\xfe" + first[mid:]
            else:
                groups.insert(0, [b"\xff\xfe"])
        segments = [b"\r\n" + b"\r\n".join(g) + b"\r\n" for g in groups]
        if self._inject and names is not None and self._inject_fault_matches(names):
            notices = b"".join(self._inject)
            self._inject = []
            long_group = next((i for i, g in enumerate(groups) if len(g) > 1), None)
            if long_group is None:
                segments.insert(0, notices)
            else:  # between two lines of one command's answer
                g = groups[long_group]
                half = len(g) // 2
                segments[long_group] = (b"\r\n" + b"\r\n".join(g[:half]) + b"\r\n" + notices
                                        + b"\r\n".join(g[half:]) + b"\r\n")
        out = Output()
        body = b"".join(segments) + final
        if body:
            out.write(body, delay)
        return out

    def _inject_fault_matches(self, names: list[str]) -> bool:
        for f in self.faults:
            if f.kind == "cmti-inside-answer" and f.matches(names):
                f.count -= 1
                if f.count <= 0:
                    self.faults.remove(f)
                return True
        return False

    def _final_error(self, exc: Exception) -> Output:
        out = Output()
        cmee = self.settings.cmee
        if isinstance(exc, CmeError) and cmee:
            text = str(exc.code) if cmee == 1 else CME_TEXT.get(exc.code, "unknown")
            out.write(f"\r\n+CME ERROR: {text}\r\n".encode())
        elif isinstance(exc, CmsError) and cmee:
            text = str(exc.code) if cmee == 1 else CMS_TEXT.get(exc.code, "unknown error")
            out.write(f"\r\n+CMS ERROR: {text}\r\n".encode())
        else:
            out.write(b"\r\nERROR\r\n")
        return out

    def _take_fault(self, names: list[str], *, at_submit: bool) -> Fault | None:
        """The first armed per-command fault for this line (counted down), if any."""
        for f in self.faults:
            if f.kind not in ("no-answer", "error", "cms-error", "cme-error", "late",
                              "non-utf8"):
                continue
            submit_fault = f.match is not None and f.match.upper().removeprefix(
                "AT").startswith("+CMGS")
            if submit_fault != at_submit or not f.matches(names):
                continue
            f.count -= 1
            if f.count <= 0:
                self.faults.remove(f)
            return f
        return None

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

    # ------------------------------------------------------------------ basic commands

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

    # ------------------------------------------------------------------ extended

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

    def _need_sim(self, sms: bool = True) -> None:
        if not self.pin_ok:
            raise CmsError(311) if sms else CmeError(11)

    def _cimi(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return []
        self._need_sim(sms=False)
        return [self.config.imsi]

    def _cmee(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CMEE: (0-2)"]
        if form == "read":
            return [f"+CMEE: {self.settings.cmee}"]
        self.settings.cmee = _int(args, 0, range(3)) if form == "set" else 0
        return []

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
        self.settings.creg = _int(args, 0, range(3)) if form == "set" else 0
        return []

    def _cgreg(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CGREG: (0-2)"]
        if form == "read":
            return [self._cgreg_line(self.settings.cgreg)]
        self.settings.cgreg = _int(args, 0, range(3)) if form == "set" else 0
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
        state = _int(args, 0, range(2))
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
        n = _int(args, 0, range(3))
        if len(args) > 1 and args[1]:
            raise CmeError(4)  # no USSD service behind the fake network
        if n != 2:
            self.settings.cusd = n
        return []

    def _te_string(self, text: str) -> bytes:
        return to_te(text, self.settings.cscs)

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
            mode = _int(args, 0, range(5))
            if mode == 3 and len(args) > 1:
                self.settings.cops_format = _int(args, 1, range(3))
        return []

    def _cfun(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CFUN: (0,1,4),(0,1)"]
        if form == "read":
            return [f"+CFUN: {self.cfun}"]
        if form != "set":
            raise PlainError()
        fun = _int(args, 0, (0, 1, 4))
        self.cfun = 1 if fun == 1 else 0
        return []

    def _cmgf(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CMGF: (0,1)"]
        if form == "read":
            return [f"+CMGF: {self.settings.cmgf}"]
        self.settings.cmgf = _int(args, 0, range(2)) if form == "set" else 0
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

    def _csca(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return []
        if form == "read":
            return [b'+CSCA: "' + self._te_string(self.smsc) + b'",'
                    + (b"145" if self.smsc.startswith("+") else b"129")]
        if form != "set" or not args or not args[0]:
            raise PlainError()
        self.smsc = from_te(args[0], self.settings.cscs)
        return []

    def _csms(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CSMS: (0,1)"]
        if form == "read":
            return ["+CSMS: 0,1,1,1"]
        _int(args, 0, range(2))
        return ["+CSMS: 1,1,1"]

    def _cpms(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        mems = ",".join(f'"{s}"' for s in STORAGES)
        if form == "test":
            return [f"+CPMS: ({mems}),({mems}),({mems})"]
        self._need_sim()
        if form == "read":
            return ["+CPMS: " + ",".join(f'"{s}",{self.used(s)},{self.capacity[s]}'
                                         for s in self.cpms)]
        if form != "set" or not args or len(args) > 3:
            raise PlainError()
        new = list(self.cpms)
        for i, a in enumerate(args):
            if not a:
                continue
            if a.upper() not in STORAGES:
                raise CmsError(302)
            new[i] = a.upper()
        self.cpms = new
        return ["+CPMS: " + ",".join(f"{self.used(s)},{self.capacity[s]}" for s in new)]

    def _cnmi(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)"]
        if form == "read":
            return ["+CNMI: " + ",".join(str(v) for v in self.settings.cnmi)]
        if form != "set":
            raise PlainError()
        limits = (range(4), range(4), (0, 2), range(3), range(2))
        values = list(self.settings.cnmi)
        try:
            for i, a in enumerate(args):
                if i >= 5:
                    raise PlainError()
                if a == "":
                    continue
                v = int(a)
                if v not in limits[i]:
                    raise CmsError(303)
                values[i] = v
        except ValueError as exc:
            raise PlainError() from exc
        self.settings.cnmi = (values[0], values[1], values[2], values[3], values[4])
        return []

    def _cmms(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CMMS: (0-2)"]
        if form == "read":
            return ["+CMMS: 0"]
        return []

    def _csmp(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return []
        if form == "read":
            return ["+CSMP: " + ",".join(str(v) for v in self.settings.csmp)]
        if form != "set":
            raise PlainError()
        values = list(self.settings.csmp)
        for i, a in enumerate(args[:4]):
            if a:
                values[i] = _int([a], 0, range(256))
        self.settings.csmp = (values[0], values[1], values[2], values[3])
        return []

    def _csdh(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return ["+CSDH: (0,1)"]
        if form == "read":
            return [f"+CSDH: {self.settings.csdh}"]
        self.settings.csdh = _int(args, 0, range(2)) if form == "set" else 0
        return []

    def _clac(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form != "exec":
            return []
        basics: list[str | bytes] = ["ATE", "ATI", "ATZ", "AT&F", "ATV", "ATQ", "AT&W", "ATH"]
        return basics + [f"AT{name}" for name in sorted(self._handlers())]

    # ------------------------------------------------------------------ SMS store

    def _stat_filter(self, args: list[str], default: str) -> int:
        raw = args[0] if args and args[0] != "" else default
        if self.settings.cmgf == 1:
            code = STAT_CODES.get(raw.upper())
            if code is None:
                raise CmsError(302)
            return code
        try:
            code = int(raw)
        except ValueError as exc:
            raise CmsError(304) from exc
        if code not in STAT_NAMES:
            raise CmsError(304)
        return code

    def _message_lines(self, m: Stored, head: str) -> list[str | bytes]:
        """The header and body of a stored message for +CMGL/+CMGR in the current mode."""
        if self.settings.cmgf == 0:
            return [f"{head}{m.stat},,{codec.tpdu_length(m.pdu)}", m.pdu]
        stat = f'"{STAT_NAMES[m.stat]}"'
        kind = codec.message_type(m.pdu)
        try:
            if kind == "status-report":
                return [f"{head}{stat},".encode() + self._report_fields(m.pdu)]
            if kind == "submit":
                sub = codec.decode_submit(m.pdu)
                line = f"{head}{stat},".encode() + self._quoted(sub.to) + b","
                return [line, self._text_body(sub.text, sub.dcs)]
            d = codec.decode_deliver(m.pdu)
        except (codec.PduError, ValueError, IndexError):
            return [f'{head}{stat},"",,""', m.pdu]
        line = (f"{head}{stat},".encode() + self._quoted(d.sender)
                + f',,"{_text_stamp(d.scts)}"'.encode())
        return [line, self._text_body(d.text, d.dcs)]

    def _quoted(self, text: str) -> bytes:
        return b'"' + self._te_string(text) + b'"'

    def _text_body(self, text: str, dcs: int) -> bytes:
        alphabet = codec.alphabet_of(dcs)
        if alphabet == "gsm7":
            return self._te_string(text)
        if alphabet == "ucs2":  # 27.005: UCS-2 and 8-bit data are shown in hex
            return text.encode("utf-16-be").hex().upper().encode()
        return text.encode("latin-1").hex().upper().encode()

    def _report_fields(self, pdu: str) -> bytes:
        """Text-mode fields of a status report: <fo>,<mr>,<ra>,<tora>,<scts>,<dt>,<st>."""
        r = codec.decode_status_report(pdu)
        tora = 145 if r.recipient.startswith("+") else 129
        return (f"6,{r.mr},".encode() + self._quoted(r.recipient)
                + f',{tora},"{_text_stamp(r.scts)}","{_text_stamp(r.discharge)}",{r.status}'
                .encode())

    def _cmgl(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            if self.settings.cmgf == 1:
                return ['+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")']
            return ["+CMGL: (0-4)"]
        self._need_sim()
        want = self._stat_filter(args, "REC UNREAD" if self.settings.cmgf else "0")
        storage = self.store[self.cpms[0]]
        lines: list[str | bytes] = []
        for index in sorted(storage):
            m = storage[index]
            if want not in (4, m.stat):
                continue
            lines.extend(self._message_lines(m, f"+CMGL: {index},"))
            if m.stat == 0:
                m.stat = 1
        return lines

    def _index(self, args: list[str], storage: str) -> int:
        try:
            index = int(args[0])
        except (ValueError, IndexError) as exc:
            raise CmsError(321) from exc
        first = self.first_index[storage]
        if not first <= index < first + self.capacity[storage]:
            raise CmsError(321)
        return index

    def _cmgr(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            return []
        if form != "set":
            raise PlainError()
        self._need_sim()
        storage = self.cpms[0]
        index = self._index(args, storage)
        m = self.store[storage].get(index)
        if m is None:
            raise CmsError(321)
        lines = self._message_lines(m, "+CMGR: ")
        if m.stat == 0:
            m.stat = 1
        return lines

    def _cmgd(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        storage = self.cpms[0]
        if form == "test":
            used = ",".join(str(i) for i in sorted(self.store[storage]))
            return [f"+CMGD: ({used}),(0-4)"]
        if form != "set" or not args:
            raise PlainError()
        self._need_sim()
        flag = _int(args, 1, range(5)) if len(args) > 1 and args[1] != "" else 0
        slots = self.store[storage]
        if flag == 0:
            slots.pop(self._index(args, storage), None)
        else:
            doomed = {1: (1,), 2: (1, 3), 3: (1, 2, 3), 4: (0, 1, 2, 3)}[flag]
            for index in [i for i, m in slots.items() if m.stat in doomed]:
                del slots[index]
        return []

    # ------------------------------------------------------------------ sending

    def _cmgs(self, form: str, args: list[str], now: datetime) -> list[str | bytes] | Prompt:
        if form == "test":
            return []
        if form != "set" or not args:
            raise PlainError()
        self._need_sim()
        if self.settings.cmgf == 0:
            try:
                length = int(args[0])
            except ValueError as exc:
                raise CmsError(304) from exc
            if not 7 <= length <= 176:
                raise CmsError(304)
            return Prompt("pdu", length=length)
        to = from_te(args[0], self.settings.cscs)
        if not to:
            raise CmsError(305)
        return Prompt("text", to=to)

    def _submit(self, prompt: Prompt, now: datetime) -> Output:
        """Ctrl-Z after the prompt: check, record, answer +CMGS: <mr>."""
        fault = self._take_fault(["+CMGS"], at_submit=True)
        try:
            part = self._parse_submission(prompt, now)
        except (CmsError, PlainError) as exc:
            return self._final_error(exc)
        if fault is not None and fault.kind in ("error", "cms-error", "cme-error"):
            return self._final_error(_fault_error(fault))
        if not self.attached:
            return self._final_error(CmsError(331))
        self.sent_parts.append(part)
        self.mr = (self.mr + 1) % 256
        if fault is not None and fault.kind == "no-answer":
            return Output()  # it went out all the same: the client never learns
        delay = self.delays.submit() + (fault.delay if fault and fault.kind == "late" else 0)
        out = self._lines([[f"+CMGS: {part.mr}"]], delay, final=b"\r\nOK\r\n", fault=fault,
                          names=["+CMGS"])
        ds = self.settings.cnmi[3]
        if part.srr and ds in (1, 2) and self.config.status_reports:
            out.timers.append(Timer(delay + self.delays.status_report(), "status-report",
                                    (("mr", part.mr), ("to", part.to),
                                     ("submitted", now.isoformat()))))
        return out

    def _parse_submission(self, prompt: Prompt, now: datetime) -> SentPart:
        if prompt.overflow:
            raise CmsError(304 if prompt.mode == "pdu" else 305)
        if prompt.mode == "pdu":
            hex_text = prompt.buffer.decode("latin-1").replace(" ", "")
            try:
                sub = codec.decode_submit(hex_text, prompt.length)
            except (codec.PduError, ValueError, IndexError) as exc:
                raise CmsError(304) from exc
            concat = None
            if sub.concat is not None:
                c = sub.concat
                concat = (c.ref, c.total, c.seq, c.bits)
            return SentPart(to=sub.to, text=sub.text, mr=self.mr, alphabet=sub.alphabet,
                            at=now, pdu=hex_text.upper(), concat=concat, srr=sub.srr)
        fo, vp, _pid, dcs = self.settings.csmp
        alphabet = codec.alphabet_of(dcs)
        text = from_te(prompt.buffer.decode("latin-1"), self.settings.cscs)
        if alphabet == "gsm7":
            septets = codec.gsm7_septets(text)
            if septets is None or len(septets) > codec.GSM7_SINGLE:
                raise CmsError(305)
        elif len(text.encode("utf-16-be")) > 140:
            raise CmsError(305)
        pdu = codec.encode_submit(prompt.to, text, mr=self.mr, alphabet=alphabet,
                                  srr=bool(fo & 0x20), vp=vp)
        return SentPart(to=prompt.to, text=text, mr=self.mr, alphabet=alphabet, at=now,
                        pdu=pdu, srr=bool(fo & 0x20))

    # ------------------------------------------------------------------ network side

    def deliver(self, sender: str, text: str, now: datetime, *, ucs2: bool = False,
                storage: str | None = None, parts_order: list[int] | None = None,
                drop_part: int | None = None, ref_bits: int = 8) -> tuple[Output, list[str]]:
        """The network delivers `text` from `sender` (split into parts as needed).

        `parts_order` lists 1-based part numbers in arrival order; `drop_part` never
        arrives. Returns the notices and the PDUs that were handed over.
        """
        self.concat_ref = (self.concat_ref + 1) % (65536 if ref_bits == 16 else 256)
        pdus = codec.deliver_pdus(sender, text, self.local(now), smsc=self.config.smsc,
                                  ucs2=ucs2, ref=self.concat_ref, ref_bits=ref_bits)
        order = parts_order or list(range(1, len(pdus) + 1))
        if sorted(order) != list(range(1, len(pdus) + 1)):
            raise ValueError(f"parts_order must be a permutation of 1..{len(pdus)}")
        out = Output()
        handed: list[str] = []
        gap = 0.0
        for seq in order:
            if seq == drop_part:
                continue
            part = self.deliver_pdu(pdus[seq - 1], now, storage=storage)
            handed.append(pdus[seq - 1])
            if not handed[:-1]:
                out.extend(part)
                continue
            # Later parts reach the terminal a moment apart, as from a network (not
            # one burst: that is the cmti-burst fault).
            gap += self.delays.part_gap()
            out.timers.extend(replace(t, delay=t.delay + gap) for t in part.timers)
            if part.data:
                out.timers.append(Timer(gap, "notice", (("data", part.data.hex()),)))
        return out, handed

    def deliver_pdu(self, pdu: str, now: datetime, *, storage: str | None = None,
                    stat: int = 0) -> Output:
        """Store a PDU exactly as given (SMSC included) and notify as +CNMI says."""
        pdu = pdu.strip()
        if not pdu or any(ord(c) < 0x21 or ord(c) > 0x7E for c in pdu):
            raise ValueError("a PDU is one line of printable ASCII (hex digits)")
        if storage is not None and storage.upper() not in STORAGES:
            raise ValueError(f"storage must be SM or ME, got {storage!r}")
        target = storage.upper() if storage else None
        if not self.attached:
            self.network_pending.append((pdu, target))
            return Output()
        return self._arrive(pdu, target, now, stat)

    def _arrive(self, pdu: str, storage: str | None, now: datetime, stat: int = 0) -> Output:
        out = Output()
        mt = self.settings.cnmi[1]
        if mt in (2, 3) and self.settings.cnmi[0] != 0 and storage is None:
            # routed straight to the terminal, not stored
            if self.settings.cmgf == 0:
                notice = f"\r\n+CMT: ,{codec.tpdu_length(pdu)}\r\n{pdu}\r\n".encode()
            else:
                lines = self._message_lines(Stored("SM", 0, 0, pdu, now), "+CMT: ")
                head = lines[0]
                head_b = head if isinstance(head, bytes) else head.encode()
                head_b = head_b.replace(b'"REC UNREAD",', b"", 1)
                body = lines[1] if isinstance(lines[1], bytes) else lines[1].encode()
                notice = b"\r\n" + head_b + b"\r\n" + body + b"\r\n"
            self._notify(notice, out)
            return out
        where = storage or self.cpms[2]
        slot = self._free_slot(where)
        if slot is None:
            self.network_pending.append((pdu, storage))  # SIM full: no +CMTI, SMSC retries
            return out
        self.store[where][slot] = Stored(where, slot, stat, pdu, now)
        if mt in (1, 2, 3):
            self._notify(f'\r\n+CMTI: "{where}",{slot}\r\n'.encode(), out)
        return out

    def _free_slot(self, storage: str) -> int | None:
        if storage in self.full_storages:
            return None
        first = self.first_index[storage]
        for i in range(first, first + self.capacity[storage]):
            if i not in self.store[storage]:
                return i
        return None

    def _notify(self, notice: bytes, out: Output) -> None:
        """Emit an unsolicited notice now, or hold it (prompt open, CNMI mode 0, faults)."""
        if self.settings.cnmi[0] == 0:
            self._buffered.append(notice)
            return
        for f in self.faults:
            if f.kind == "cmti-inside-answer":
                self._inject.append(notice)
                return
        for f in self.faults:
            if f.kind == "cmti-burst":
                self._burst.append(notice)
                if len(self._burst) >= max(f.count, 2):
                    self.faults.remove(f)
                    notice = b"".join(self._burst)
                    self._burst = []
                    break
                return
        if self._prompt is not None:
            self._deferred.write(notice)
        else:
            out.write(notice)

    def _flush_deferred(self, out: Output) -> None:
        out.extend(self._deferred)
        self._deferred = Output()

    def retry_pending(self, now: datetime) -> Output:
        """The SMSC retries what it held back (after space was freed or the network
        came back)."""
        out = Output()
        if not self.attached:
            return out
        pending, self.network_pending = self.network_pending, []
        for i, (pdu, storage) in enumerate(pending):
            out.extend(self._arrive(pdu, storage, now))
            if self.network_pending:
                # Still full: the SMSC keeps the rest in order for its next retry (and a
                # backlog of n costs one slot search per freed slot, not n of them).
                self.network_pending.extend(pending[i + 1:])
                break
        return out

    def fire(self, timer: Timer, now: datetime) -> Output:
        """A timer armed earlier has run out."""
        out = Output()
        params = dict(timer.params)
        if timer.kind == "notice":
            data = bytes.fromhex(str(params["data"]))
            if self._prompt is not None:
                self._deferred.write(data)
            else:
                out.write(data)
        if timer.kind == "status-report" and self.attached:
            submitted = datetime.fromisoformat(str(params["submitted"]))
            report = codec.encode_status_report(
                int(params["mr"]), str(params["to"]), self.local(submitted), self.local(now),
                smsc=self.config.smsc)
            ds = self.settings.cnmi[3]
            if ds == 1 and self.settings.cmgf == 1:
                self._notify(b"\r\n+CDS: " + self._report_fields(report) + b"\r\n", out)
            elif ds == 1:
                self._notify(f"\r\n+CDS: {codec.tpdu_length(report)}\r\n{report}\r\n".encode(),
                             out)
            elif ds == 2:
                where = self.cpms[2]
                slot = self._free_slot(where)
                if slot is not None:
                    self.store[where][slot] = Stored(where, slot, 0, report, now)
                    self._notify(f'\r\n+CDSI: "{where}",{slot}\r\n'.encode(), out)
        return out

    # ------------------------------------------------------------------ faults

    def fault(self, kind: str, now: datetime, *, count: int = 1, match: str | None = None,
              code: int | None = None, delay: float = 0.0, storage: str = "SM",
              value: int | None = None) -> Output:
        """Arm a fault (see docs/fake-modem.md); instant ones act at once."""
        kind = kind.replace("_", "-").lower()
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        out = Output()
        if kind == "garbage":
            noise = bytes(self._rng.randrange(256) for _ in range(max(count, 1)))
            out.write(noise.replace(b"\r", b"\x8d").replace(b"\n", b"\x8a"))
            return out
        if kind in ("registration-lost", "registration-restored"):
            self.registered = kind == "registration-restored"
            if self.settings.creg:
                self._notify(f"\r\n{self._creg_line('+CREG', self.settings.creg, True)}\r\n"
                             .encode(), out)
            if self.settings.cgreg:
                self._notify(f"\r\n{self._cgreg_line(self.settings.cgreg, True)}\r\n"
                             .encode(), out)
            out.extend(self.retry_pending(now))
            return out
        if kind == "sim-full":
            where = storage.upper()
            if where not in STORAGES:
                raise ValueError(f"storage must be SM or ME, got {storage!r}")
            self.full_storages.add(where)
            return out
        if kind == "signal":
            self.signal = 99 if value is None else value
            return out
        if kind == "cms-error" and code is None:
            code = 500
        if kind == "cme-error" and code is None:
            code = 100
        self.faults.append(Fault(kind, count=count, match=match, code=code, delay=delay))
        return out

    def reset_faults(self, now: datetime) -> Output:
        """Clear every fault; the network and storages work again."""
        self.faults.clear()
        self.full_storages.clear()
        self.signal = self.config.signal
        out = Output()
        released = self._inject + self._burst
        self._inject, self._burst = [], []
        for notice in released:
            out.write(notice)
        if not self.registered:
            out.extend(self.fault("registration-restored", now))
        else:
            out.extend(self.retry_pending(now))
        return out

# ---------------------------------------------------------------------- parsing helpers

_EXT_NAME = re.compile(r"[+^$%*#][A-Za-z0-9_]*")


def split_commands(body: str) -> list[tuple[str, str]] | None:
    """Split what follows 'AT' into (name, rest) pairs: 'E0+CMGF=0;+CNMI?' ->
    [('E','0'), ('+CMGF','=0'), ('+CNMI','?')]. None when it cannot be parsed."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c in " ;":
            i += 1
            continue
        m = _EXT_NAME.match(body, i)
        if m:
            name = m.group(0).upper()
            j = m.end()
            in_quote = False
            while j < len(body) and (in_quote or body[j] != ";"):
                if body[j] == '"':
                    in_quote = not in_quote
                j += 1
            out.append((name, body[m.end():j].strip()))
            i = j
            continue
        if c == "&" and i + 1 < len(body):
            name, i = "&" + body[i + 1].upper(), i + 2
        elif c.isascii() and c.isalpha():
            name, i = c.upper(), i + 1
        else:
            return None
        j = i
        if name == "S":  # S-register: Sn=v or Sn?
            while j < len(body) and (body[j].isdigit() or body[j] in "=?"):
                j += 1
        else:
            while j < len(body) and body[j].isdigit():
                j += 1
        out.append((name, body[i:j]))
        i = j
    return out


def split_args(text: str) -> list[str]:
    """Comma-separated arguments, quotes removed; an omitted one is ''."""
    args: list[str] = []
    cur: list[str] = []
    in_quote = False
    for ch in text:
        if ch == '"':
            in_quote = not in_quote
        elif ch == "," and not in_quote:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    args.append("".join(cur).strip())
    return args


def _int(args: list[str], i: int, allowed: range | tuple[int, ...]) -> int:
    try:
        v = int(args[i])
    except (ValueError, IndexError) as exc:
        raise PlainError() from exc
    if v not in allowed:
        raise PlainError()
    return v


_PIN_ARG = re.compile(r'(?i)(\+CPIN=)"?[^";]*"?')
_FINAL = re.compile(rb"(OK|ERROR|\+CM[ES] ERROR: [^\r\n]*)\r\n|\r\n> $")


def _final_of(data: bytes) -> str:
    """The final result code in an answer ('> ' for a prompt, '' for none)."""
    found = list(_FINAL.finditer(data))
    if not found:
        return ""
    last = found[-1]
    return last.group(1).decode("latin-1") if last.group(1) else "> "


def _text_stamp(moment: datetime) -> str:
    """A text-mode time stamp: yy/MM/dd,hh:mm:ss±zz (zone in quarter hours)."""
    off = moment.utcoffset()
    quarters = int(off.total_seconds() // 900) if off is not None else 0
    return moment.strftime("%y/%m/%d,%H:%M:%S") + f"{quarters:+03d}"


def _fault_error(fault: Fault) -> Exception:
    if fault.kind == "cms-error":
        return CmsError(fault.code or 500)
    if fault.kind == "cme-error":
        return CmeError(fault.code or 100)
    return PlainError()


__all__ = ["Chunk", "Interpreter", "Output", "Timer", "split_args", "split_commands"]
