"""3GPP 27.005 commands: SMS setup, the message storages, sending."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from appliance.fakemodem import pdu as codec
from appliance.fakemodem.charset import from_te
from appliance.fakemodem.errors import CmsError, PlainError
from appliance.fakemodem.faults import ERRORS, fault_error, take_fault
from appliance.fakemodem.model import (
    STAT_CODES,
    STAT_NAMES,
    FaultKind,
    Output,
    SentPart,
    Stored,
    Timer,
)
from appliance.fakemodem.network import NetworkCommands
from appliance.fakemodem.state import Prompt, Result, setting
from appliance.fakemodem.storage import STORAGES
from appliance.fakemodem.syntax import int_arg, text_stamp


class SmsCommands(NetworkCommands):
    """The 27.005 command handlers (SMS_HANDLERS below names them)."""

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
            return [f"+CSMS: {self.settings.csms},1,1,1"]
        self.settings.csms = int_arg(args, 0, range(2))
        return ["+CSMS: 1,1,1"]

    def _cpms(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        mems = ",".join(f'"{s}"' for s in STORAGES)
        if form == "test":
            return [f"+CPMS: ({mems}),({mems}),({mems})"]
        self._need_sim()
        if form == "read":
            return ["+CPMS: " + ",".join(f'"{s}",{self.used(s)},{self.storages.capacity[s]}'
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
        return ["+CPMS: " + ",".join(f"{self.used(s)},{self.storages.capacity[s]}" for s in new)]

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
                if i == 3 and v == 1 and not self.config.routed_reports:
                    raise CmsError(303)  # a modem that only stores status reports
                values[i] = v
        except ValueError as exc:
            raise PlainError() from exc
        self.settings.cnmi = (values[0], values[1], values[2], values[3], values[4])
        return []

    def _cmms(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if not self.config.cmms:
            raise PlainError()  # a modem (or network) without link continuity
        if form == "test":
            return ["+CMMS: (0-2)"]
        if form == "read":
            return [f"+CMMS: {self.settings.cmms}"]
        if form != "set":
            raise PlainError()
        self.settings.cmms = int_arg(args, 0, range(3))
        if self.settings.cmms == 0:
            self.link_until = None
        return []

    def _link_open(self, now: datetime) -> bool:
        """Whether the relay link of the last send is still open for a send now: only
        with +CMMS on and within its timeout after that send's answer (27.005 §3.5.6:
        past it the link closes, and <n> 1 falls back to 0)."""
        until = self.link_until
        if until is not None and now > until:
            self.link_until = until = None
            if self.settings.cmms == 1:
                self.settings.cmms = 0
        return until is not None and self.settings.cmms != 0

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
                values[i] = int_arg([a], 0, range(256))
        self.settings.csmp = (values[0], values[1], values[2], values[3])
        return []

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
                + f',,"{text_stamp(d.scts)}"'.encode())
        return [line, self._text_body(d.text, d.dcs)]

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
                + f',{tora},"{text_stamp(r.scts)}","{text_stamp(r.discharge)}",{r.status}'
                .encode())

    def _cmgl(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        if form == "test":
            if self.settings.cmgf == 1:
                return ['+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")']
            return ["+CMGL: (0-4)"]
        self._need_sim()
        want = self._stat_filter(args, "REC UNREAD" if self.settings.cmgf else "0")
        storage = self.storages.slots[self.cpms[0]]
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
        if not self.storages.in_range(storage, index):
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
        m = self.storages.slots[storage].get(index)
        if m is None:
            raise CmsError(321)
        lines = self._message_lines(m, "+CMGR: ")
        if m.stat == 0:
            m.stat = 1
        return lines

    def _cmgd(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        storage = self.cpms[0]
        if form == "test":
            used = ",".join(str(i) for i in sorted(self.storages.slots[storage]))
            return [f"+CMGD: ({used}),(0-4)"]
        if form != "set" or not args:
            raise PlainError()
        self._need_sim()
        flag = int_arg(args, 1, range(5)) if len(args) > 1 and args[1] != "" else 0
        slots = self.storages.slots[storage]
        if flag == 0:
            slots.pop(self._index(args, storage), None)
        elif self.config.cmgd_flags:
            doomed = {1: (1,), 2: (1, 3), 3: (1, 2, 3), 4: (0, 1, 2, 3)}[flag]
            for index in [i for i, m in slots.items() if m.stat in doomed]:
                del slots[index]
        return []

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
            return Prompt("pdu", length=length, link_open=self._link_open(now))
        to = from_te(args[0], self.settings.cscs)
        if not to:
            raise CmsError(305)
        return Prompt("text", to=to, link_open=self._link_open(now))

    def _submit(self, prompt: Prompt, now: datetime) -> Output:
        """Ctrl-Z after the prompt: check, record, answer +CMGS: <mr>."""
        fault = take_fault(self.faults, ["+CMGS"], at_submit=True)
        try:
            part = self._parse_submission(prompt, now)
        except (CmsError, PlainError) as exc:
            return self._final_error(exc)
        if fault is not None and fault.kind in ERRORS:
            return self._final_error(fault_error(fault))
        if not self.attached:
            return self._final_error(CmsError(331))
        self.sent_parts.append(part)
        self.mr = (self.mr + 1) % 256
        late = fault.delay if fault is not None and fault.kind == FaultKind.LATE else 0.0
        delay = self.delays.submit(prompt.link_open) + late
        # +CMMS on: the link stays open for the timeout after this answer
        self.link_until = (now + timedelta(seconds=delay + self.config.link_timeout
                                           * self.delays.time_scale)
                           if self.settings.cmms else None)
        if fault is not None and fault.kind == FaultKind.NO_ANSWER:
            # It went out all the same: the client never learns, the network reports it.
            out = Output()
        else:
            out = self._lines([[f"+CMGS: {part.mr}"]], delay, final=b"\r\nOK\r\n",
                              fault=fault, names=["+CMGS"])
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


SmsHandler = Callable[[SmsCommands, str, list[str], datetime], Result]
SMS_HANDLERS: dict[str, SmsHandler] = {
    "+CMGF": setting("+CMGF", "cmgf", range(2), "(0,1)"),
    "+CSCA": SmsCommands._csca,
    "+CSMS": SmsCommands._csms,
    "+CPMS": SmsCommands._cpms,
    "+CNMI": SmsCommands._cnmi,
    "+CMGL": SmsCommands._cmgl,
    "+CMGR": SmsCommands._cmgr,
    "+CMGD": SmsCommands._cmgd,
    "+CMGS": SmsCommands._cmgs,
    "+CSMP": SmsCommands._csmp,
    "+CSDH": setting("+CSDH", "csdh", range(2), "(0,1)"),
    "+CMMS": SmsCommands._cmms,
}
