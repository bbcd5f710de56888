"""A minimal raw AT client over a serial device or pty, for tests and testers' scripts.

It writes bytes and reads until a final result code, nothing more: no parsing of
notices, no retries, so that what the modem said is seen exactly.
"""

from __future__ import annotations

import os
import re
import select
import termios
import time
import tty
from pathlib import Path
from types import TracebackType

# A final result code anywhere (a notice may follow it in the same read), or the prompt.
FINAL = re.compile(rb"\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r\n]*|NO CARRIER)\r\n|\r\n> $")


class AtTimeout(TimeoutError):
    """No final result came in time; `data` holds what did come."""

    def __init__(self, data: bytes) -> None:
        super().__init__(f"no final result; got {data!r}")
        self.data = data


class AtPort:
    """An open port: `command("AT+CSQ")` returns the raw answer bytes."""

    def __init__(self, path: Path | str) -> None:
        self.fd = os.open(str(path), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def close(self) -> None:
        """Close the port."""
        os.close(self.fd)

    def __enter__(self) -> AtPort:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def write(self, data: bytes) -> None:
        """Write raw bytes."""
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                select.select([], [self.fd], [], 0.1)
                continue
            view = view[n:]

    def read_for(self, seconds: float) -> bytes:
        """Whatever arrives within `seconds`."""
        return self.read_until(lambda _: False, seconds, raise_on_timeout=False)

    def read_until(self, done: object, timeout: float = 5.0,
                   raise_on_timeout: bool = True) -> bytes:
        """Read until `done(buffer)` is true (a callable) or `timeout` passes."""
        assert callable(done)
        buf = b""
        deadline = time.monotonic() + timeout
        while not done(buf):
            left = deadline - time.monotonic()
            if left <= 0:
                if raise_on_timeout:
                    raise AtTimeout(buf)
                return buf
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except BlockingIOError:
                    continue
                except OSError as exc:  # the port vanished
                    if raise_on_timeout:
                        raise AtTimeout(buf) from exc
                    return buf
                buf += chunk
        return buf

    def command(self, line: str | bytes, timeout: float = 5.0, end: bytes = b"\r") -> bytes:
        """Send one command line and return everything up to its final result."""
        data = line.encode("latin-1") if isinstance(line, str) else line
        self.write(data + end)
        return self.read_until(lambda b: FINAL.search(b) is not None, timeout)
