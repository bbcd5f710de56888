"""Line handling: bytes from the client become echo, command lines and a message after
the `> ` prompt; each line is run command by command and answered with one final result."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import ClassVar

from appliance.fakemodem.arrivals import Arrivals
from appliance.fakemodem.errors import CmeError, CmsError, PlainError
from appliance.fakemodem.faults import ERRORS, fault_error, take_fault
from appliance.fakemodem.model import Busy, FaultKind, Output
from appliance.fakemodem.state import (
    BS,
    CR,
    CTRL_Z,
    ESC,
    LF,
    MAX_LINE,
    MAX_PROMPT,
    Prompt,
    Result,
)
from appliance.fakemodem.syntax import PIN_ARG, final_of, split_args, split_commands


class LineHandling(Arrivals):
    """Bytes in, answers out; each extended command goes to its entry in HANDLERS."""

    # name ("+CMGS") -> handler; the Interpreter fills it once, for the class.
    HANDLERS: ClassVar[Mapping[str, LineHandler]] = {}

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
            self.history.append((f"<{prompt.mode} message>", final_of(answer.data)))
            self._busy(now, "<message>", answer)
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

    def _execute_line(self, raw: bytes, now: datetime) -> Output:
        out = self._run_line(raw, now)
        line = PIN_ARG.sub(r'\1"****"', raw.decode("latin-1").strip())
        self.history.append((line, final_of(out.data)))
        self._busy(now, command_name(line), out)
        return out

    def _busy(self, now: datetime, command: str, out: Output) -> None:
        # The answer's delays are the time the modem was busy with this line.
        seconds = sum(c.delay for c in out.chunks) / self.delays.time_scale
        self.timeline.append(Busy(now, command, seconds))

    def _run_line(self, raw: bytes, now: datetime) -> Output:
        text = raw.decode("latin-1").strip(" \t\x00")
        if len(text) < 2 or text[:2].upper() != "AT":
            return self._final_error(PlainError())
        commands = split_commands(text[2:])
        if commands is None:
            return self._final_error(PlainError())
        names = [name for name, _ in commands]
        fault = take_fault(self.faults, names, at_submit=False)
        if fault is not None and fault.kind == FaultKind.NO_ANSWER:
            return Output()
        if fault is not None and fault.kind in ERRORS:
            return self._final_error(fault_error(fault))
        info: list[list[str | bytes]] = []
        delay = 0.0
        prompt: Prompt | None = None
        try:
            for name, rest in commands:
                if prompt is not None:  # nothing may follow +CMGS on its line
                    raise PlainError()
                result = self._dispatch(name, rest, now)
                delay += self.delays.command(name, self.storages.total())
                if isinstance(result, Prompt):
                    prompt = result
                else:
                    info.append(result)
        except (CmeError, CmsError, PlainError) as exc:
            out = self._lines(info, delay)
            out.extend(self._final_error(exc))
            return out
        if fault is not None and fault.kind == FaultKind.LATE:
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
        if self.unacked is None and self.ack_waiting:
            out.extend(self.release_acked(now))  # a +CNMA let the next one through
        if self.network_pending and self.attached:
            # space freed, PIN entered or radio back on: the SMSC's retry gets through
            out.extend(self.retry_pending(now))
        return out

    def _dispatch(self, name: str, rest: str, now: datetime) -> Result:
        if not name.startswith(("+", "^", "$", "%", "*", "#")):
            return self._basic(name, rest)
        handler = self.HANDLERS.get(name)
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
        return handler(self, form, args, now)


def command_name(line: str) -> str:
    """`AT+CPMS="SM"` -> `+CPMS`; the first command of a line names it (`AT` alone: `AT`)."""
    commands = split_commands(line.strip()[2:]) if line[:2].upper() == "AT" else None
    if not commands:
        return line.strip().upper()[:8] or "?"
    return commands[0][0] or "AT"


LineHandler = Callable[[LineHandling, str, list[str], datetime], Result]
