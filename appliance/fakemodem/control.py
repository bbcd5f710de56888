"""The fake modem's control side: JSON lines over a Unix socket `STATE_DIR/fakemodem.sock`.

Request: `{"op": "deliver", "args": {...}}`; answer: `{"ok": true, "result": ...}` or
`{"ok": false, "error": "one line"}`. `ControlClient` wraps it for the CLI and for tests
that run the modem in another process.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from appliance.fakemodem.model import FaultParam, SentMessage

SOCKET_NAME = "fakemodem.sock"
_MAX_UNIX_PATH = 100  # sun_path is 108 bytes; long tmp paths go through /proc/self/fd


class FakeModemNotRunning(Exception):
    """No fake modem answers at that state dir."""


class ControlError(Exception):
    """The fake modem refused a control request."""


@contextlib.contextmanager
def _short_path(path: Path) -> Iterator[str]:
    """A path to `path` that fits in sun_path (through the directory's fd if needed)."""
    text = str(path)
    if len(text.encode()) <= _MAX_UNIX_PATH:
        yield text
        return
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{dir_fd}/{path.name}"
    finally:
        os.close(dir_fd)


def _answers(path: Path) -> bool:
    """Whether something listens on the socket at `path`."""
    if not path.exists():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        with _short_path(path) as p:
            probe.connect(p)
    except OSError:
        return False
    finally:
        probe.close()
    return True


class ControlServer:
    """Accepts control connections; one thread per connection."""

    def __init__(self, path: Path, handler: Callable[[dict[str, object]], object]) -> None:
        self.path = path
        self._handler = handler
        if _answers(path):
            raise OSError(f"a fake modem already runs at {path.parent}")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket left by a killed modem
        with _short_path(path) as p:
            self._sock.bind(p)
        self._sock.listen(16)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="fakemodem-control",
                                        daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as f:
            for line in f:
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("a request is a JSON object")
                    answer = {"ok": True, "result": self._handler(request)}
                except Exception as exc:  # every failure is answered, never fatal
                    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    answer = {"ok": False, "error": msg}
                try:
                    f.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
                    f.flush()
                except OSError:
                    return

    def close(self) -> None:
        """Stop accepting and remove the socket file."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def serve_control(path: Path, handler: Callable[[dict[str, object]], object]) -> ControlServer:
    """Start a control server at `path` calling `handler` for each request."""
    return ControlServer(path, handler)


class ControlClient:
    """Drive a running fake modem through `STATE_DIR/fakemodem.sock`."""

    def __init__(self, state_dir: Path | str, timeout: float = 10.0) -> None:
        self.path = Path(state_dir) / SOCKET_NAME
        self.timeout = timeout

    def call(self, op: str, **args: object) -> object:
        """Send one request; return its result or raise ControlError/FakeModemNotRunning."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            try:
                with _short_path(self.path) as p:
                    sock.connect(p)
            except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as exc:
                raise FakeModemNotRunning(str(self.path.parent)) from exc
            sock.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
            with sock.makefile("rb") as f:
                line = f.readline()
        finally:
            sock.close()
        if not line:
            raise FakeModemNotRunning(str(self.path.parent))
        answer = json.loads(line)
        if not isinstance(answer, dict):
            raise ControlError("the fake modem's answer is not a JSON object")
        if not answer.get("ok"):
            raise ControlError(str(answer.get("error")))
        return answer.get("result")

    def ping(self) -> dict[str, object]:
        """The pty, link and name of the running modem."""
        return _object(self.call("ping"))

    def deliver(self, sender: str, text: str, *, ucs2: bool = False,
                storage: str | None = None, parts_order: list[int] | None = None,
                drop_part: int | None = None, ref_bits: int = 8,
                smsc: str | None = None) -> list[str]:
        """As `FakeModemServer.deliver`."""
        result = self.call("deliver", sender=sender, text=text, ucs2=ucs2, storage=storage,
                           parts_order=parts_order, drop_part=drop_part, ref_bits=ref_bits,
                           smsc=smsc)
        return [str(pdu) for pdu in _list(_object(result).get("pdus"))]

    def deliver_pdu(self, hex_pdu: str, *, storage: str | None = None, stat: int = 0) -> None:
        """As `FakeModemServer.deliver_pdu`."""
        self.call("deliver_pdu", pdu=hex_pdu, storage=storage, stat=stat)

    def sent(self, include_incomplete: bool = False) -> list[SentMessage]:
        """As `FakeModemServer.sent`."""
        rows = _list(self.call("sent", include_incomplete=include_incomplete))
        return [_sent_message(r) for r in rows]

    def sent_json(self, include_incomplete: bool = False) -> list[dict[str, object]]:
        """The raw JSON objects of `sent`."""
        return [_object(r) for r in _list(self.call("sent",
                                                    include_incomplete=include_incomplete))]

    def stored(self) -> list[dict[str, object]]:
        """Stored messages as JSON objects (storage, index, stat, pdu, from, text...)."""
        return [_object(r) for r in _list(self.call("stored"))]

    def status(self) -> dict[str, object]:
        """As `FakeModemServer.status`."""
        return _object(self.call("status"))

    def history(self) -> list[tuple[str, str]]:
        """As `FakeModemServer.history`."""
        return [(str(a), str(b)) for a, b in map(_list, _list(self.call("history")))]

    def fault(self, kind: str, **params: FaultParam) -> None:
        """As `FakeModemServer.fault`."""
        self.call("fault", kind=kind, params=params)

    def reset_faults(self) -> None:
        """As `FakeModemServer.reset_faults`."""
        self.call("reset_faults")


# JSON from the socket is checked for its shape here, once; what the fields hold is the
# fake modem's own output, read by the callers that know them.
def _sent_message(row: object) -> SentMessage:
    if not isinstance(row, dict):  # narrowed to the JSON object `SentMessage.to_json` wrote
        raise ControlError(f"the fake modem answered {type(row).__name__}, not an object")
    return SentMessage(to=row["to"], text=row["text"], parts=row["parts"],
                       at=datetime.fromisoformat(row["at"]), refs=tuple(row["refs"]),
                       alphabet=row["alphabet"], complete=row["complete"])


def _object(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ControlError(f"the fake modem answered {type(value).__name__}, not an object")
    return value


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise ControlError(f"the fake modem answered {type(value).__name__}, not a list")
    return value
