"""The network side: messages arriving, notices, the SMSC's retries, status reports,
and the faults a tester arms on the modem and its network."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from appliance.fakemodem import pdu as codec
from appliance.fakemodem.errors import CmsError
from appliance.fakemodem.faults import armed, parse_kind
from appliance.fakemodem.model import Fault, FaultKind, Output, Stored, Timer
from appliance.fakemodem.sms import SmsCommands
from appliance.fakemodem.storage import storage_name


class Arrivals(SmsCommands):
    """Deliveries from the network and what the modem tells the terminal about them."""

    def deliver(self, sender: str, text: str, now: datetime, *, ucs2: bool = False,
                storage: str | None = None, parts_order: list[int] | None = None,
                drop_part: int | None = None, ref_bits: int = 8,
                smsc: str | None = None) -> tuple[Output, list[str]]:
        """The network delivers `text` from `sender` (split into parts as needed).

        `parts_order` lists 1-based part numbers in arrival order; `drop_part` never
        arrives; `smsc` is the service centre the PDUs carry (default: this modem's
        +CSCA). Returns the notices and the PDUs that were handed over.
        """
        self.concat_ref = (self.concat_ref + 1) % (65536 if ref_bits == 16 else 256)
        pdus = codec.deliver_pdus(sender, text, self.local(now), smsc=smsc or self.smsc,
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
        target = storage_name(storage) if storage is not None else None
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
            if self.settings.csms == 1:
                self._notify_acked("cmt", notice, pdu, out)
            else:
                self._notify(notice, out)
            return out
        where = storage or self.cpms[2]
        slot = self.storages.free_slot(where)
        if slot is None:
            self.network_pending.append((pdu, storage))  # SIM full: no +CMTI, SMSC retries
            return out
        self.storages.put(Stored(where, slot, stat, pdu, now))
        if mt in (1, 2, 3):
            # a status report the network held back while the storage was full: +CDSI
            kind = "+CDSI" if codec.message_type(pdu) == "status-report" else "+CMTI"
            self._notify(f'\r\n{kind}: "{where}",{slot}\r\n'.encode(), out)
        return out

    def _notify(self, notice: bytes, out: Output) -> None:
        """Emit an unsolicited notice now, or hold it (prompt open, CNMI mode 0, faults)."""
        if self.settings.cnmi[0] == 0:
            self._buffered.append(notice)
            return
        if armed(self.faults, FaultKind.CMTI_INSIDE_ANSWER):
            self._inject.append(notice)
            return
        burst = armed(self.faults, FaultKind.CMTI_BURST)
        if burst is not None:
            self._burst.append(notice)
            if len(self._burst) < max(burst.count, 2):
                return
            self.faults.remove(burst)
            notice = b"".join(self._burst)
            self._burst = []
        if self._prompt is not None:
            self._deferred.write(notice)
        else:
            out.write(notice)

    def _notify_acked(self, kind: str, notice: bytes, pdu: str, out: Output) -> None:
        """A +CMT or +CDS under +CSMS=1: sent when no other awaits its +CNMA (else the
        network holds it back), with the modem's wait for the acknowledgement armed."""
        if self.unacked is not None:
            self.ack_waiting.append((kind, notice, pdu))
            return
        self.ack_seq += 1
        self.unacked = (self.ack_seq, kind, pdu)
        self._notify(notice, out)
        out.timers.append(Timer(self.config.ack_timeout * self.delays.time_scale,
                                "ack-timeout", (("seq", self.ack_seq),)))

    def _cnma(self, form: str, args: list[str], now: datetime) -> list[str | bytes]:
        """+CNMA: the terminal acknowledges the +CMT/+CDS it was given (RP-ACK)."""
        if form == "test":
            return ["+CNMA: (0-2)"]
        if self.settings.csms != 1:
            return []  # phase 2: nothing is ever awaited, and a plain modem says OK
        if self.unacked is None:
            raise CmsError(340)  # no +CNMA acknowledgement expected
        self.acks[self.unacked[1]] += 1
        self.unacked = None
        return []

    def release_acked(self, now: datetime) -> Output:
        """After a +CNMA: the network delivers the next message it held back."""
        out = Output()
        while self.unacked is None and self.ack_waiting:
            kind, notice, pdu = self.ack_waiting.pop(0)
            if kind == "cmt":
                out.extend(self._arrive(pdu, None, now))  # routed as +CNMI says now
            else:
                self._notify_acked(kind, notice, pdu, out)
        return out

    def _ack_timeout(self, seq: int) -> Output:
        """No +CNMA in time (27.005 §3.4.1): RP-ERROR to the network, +CNMI <mt> and
        <ds> back to 0; the network delivers the message again later (a report is lost),
        and what it held back too."""
        out = Output()
        if self.unacked is None or self.unacked[0] != seq:
            return out
        _, kind, pdu = self.unacked
        self.unacked = None
        mode, _mt, bm, _ds, bfr = self.settings.cnmi
        self.settings.cnmi = (mode, 0, bm, 0, bfr)
        # The network keeps what the phone refused, reports too (a report is an MT
        # message to the relay layer), and delivers it again later.
        held = [(k, p) for k, _n, p in self.ack_waiting]
        self.ack_waiting = []
        for again_kind, again in [(kind, pdu), *held]:
            out.timers.append(Timer(self.config.redelivery_after * self.delays.time_scale,
                                    "redeliver" if again_kind == "cmt" else "report-again",
                                    (("pdu", again),)))
        return out

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
        if timer.kind == "ack-timeout":
            out.extend(self._ack_timeout(int(str(params["seq"]))))
        if timer.kind == "redeliver":
            out.extend(self.deliver_pdu(str(params["pdu"]), now))
        if timer.kind == "report-again":
            self._route_report(str(params["pdu"]), now, out, again=True)
        if timer.kind == "status-report" and self.attached:
            submitted = datetime.fromisoformat(str(params["submitted"]))
            report = codec.encode_status_report(
                int(params["mr"]), str(params["to"]), self.local(submitted), self.local(now),
                smsc=self.config.smsc)
            self._route_report(report, now, out)
        return out

    def _route_report(self, report: str, now: datetime, out: Output, *,
                      again: bool = False) -> None:
        """A status report reaches the phone: routed (+CDS) or stored (+CDSI) as +CNMI ds
        says. One delivered `again` (its +CDS never acknowledged) while ds is 0 (the modem
        gave up on the acknowledgement) is stored with no notice, as mt=0 stores messages."""
        ds = self.settings.cnmi[3]
        if ds == 1 and self.settings.cmgf == 1:
            self._notify(b"\r\n+CDS: " + self._report_fields(report) + b"\r\n", out)
        elif ds == 1:
            notice = f"\r\n+CDS: {codec.tpdu_length(report)}\r\n{report}\r\n".encode()
            if self.settings.csms == 1:  # +CSMS=1: acknowledged like a +CMT
                self._notify_acked("cds", notice, report, out)
            else:
                self._notify(notice, out)
        elif ds == 2 or again:
            where = self.cpms[2]
            slot = self.storages.free_slot(where)
            if slot is None:  # storage full: the network keeps it and retries, as a message
                self.network_pending.append((report, where))
                return
            self.storages.put(Stored(where, slot, 0, report, now))
            if ds == 2:
                self._notify(f'\r\n+CDSI: "{where}",{slot}\r\n'.encode(), out)

    def fault(self, kind: str | FaultKind, now: datetime, *, count: int = 1,
              match: str | None = None, code: int | None = None, delay: float = 0.0,
              storage: str = "SM", value: int | None = None) -> Output:
        """Arm a fault (see docs/fake-modem.md); instant ones act at once."""
        kind = parse_kind(kind)
        out = Output()
        if kind == FaultKind.GARBAGE:
            noise = bytes(self._rng.randrange(256) for _ in range(max(count, 1)))
            out.write(noise.replace(b"\r", b"\x8d").replace(b"\n", b"\x8a"))
            return out
        if kind in (FaultKind.REGISTRATION_LOST, FaultKind.REGISTRATION_RESTORED):
            self.registered = kind == FaultKind.REGISTRATION_RESTORED
            if self.settings.creg:
                self._notify(f"\r\n{self._creg_line('+CREG', self.settings.creg, True)}\r\n"
                             .encode(), out)
            if self.settings.cgreg:
                self._notify(f"\r\n{self._cgreg_line(self.settings.cgreg, True)}\r\n"
                             .encode(), out)
            out.extend(self.retry_pending(now))
            return out
        if kind == FaultKind.SIM_FULL:
            self.storages.full.add(storage_name(storage))
            return out
        if kind == FaultKind.SIGNAL:
            self.signal = 99 if value is None else value
            return out
        if kind == FaultKind.CMS_ERROR and code is None:
            code = 500
        if kind == FaultKind.CME_ERROR and code is None:
            code = 100
        self.faults.append(Fault(kind, count=count, match=match, code=code, delay=delay))
        return out

    def reset_faults(self, now: datetime) -> Output:
        """Clear every fault; the network and storages work again."""
        self.faults.clear()
        self.storages.full.clear()
        self.signal = self.config.signal
        out = Output()
        released = self._inject + self._burst
        self._inject, self._burst = [], []
        for notice in released:
            out.write(notice)
        if not self.registered:
            out.extend(self.fault(FaultKind.REGISTRATION_RESTORED, now))
        else:
            out.extend(self.retry_pending(now))
        return out
