"""The fake bank: a real HTTP server on loopback that serves docs/bank-api.yaml.

Used by the demo, the tests and the benchmark. Its state is its own SQLite file
(`STATE_DIR/fakebank.sqlite`, see `ledger`), seeded from `config/demo-bank.yaml` on first
start. The bearer token is a random string in `STATE_DIR/bank-token` (kept across restarts).
A small admin side (`/_fake/...`, same token; `control.AdminClient` speaks it) lets another
process book movements, report SIM swaps, list cards and inject faults (see `faults`);
`STATE_DIR/fakebank.json` tells such a process where the server listens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import ssl
import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from appliance.fakebank.app import FakeBankApp
from appliance.fakebank.faults import FAULT_MODES, normalize_fault
from appliance.fakebank.ledger import FakeBankDB
from appliance.fakebank.values import JsonObject

__all__ = [
    "DB_NAME", "DEFAULT_SEED", "FAULT_MODES", "INFO_NAME", "TOKEN_NAME", "FakeBankApp",
    "FakeBankServer", "normalize_fault", "read_or_create_token",
]

log = logging.getLogger(__name__)

DEFAULT_SEED = Path(__file__).resolve().parents[2] / "config" / "demo-bank.yaml"
DB_NAME = "fakebank.sqlite"
TOKEN_NAME = "bank-token"  # noqa: S105 -- a file name, not a secret
INFO_NAME = "fakebank.json"


class _QuietHandler(WSGIRequestHandler):
    # Request lines go to debug: the access log is noise in tests and the demo.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("fake bank %s %s", self.requestline, code)


def read_or_create_token(path: Path) -> str:
    """The token in `path`, creating a random one (mode 0600) when there is none."""
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


class FakeBankServer:
    """The fake bank on loopback, in a thread: `start()`, `.url`, `.token_file`, `stop()`."""

    def __init__(
        self, state_dir: Path, *, seed: Path | None = None, host: str = "127.0.0.1",
        port: int = 0, tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # The repository's config/demo-bank.yaml, else (an installed package) the same
        # seed embedded in seed.py.
        self.seed_path = seed if seed is not None else (
            DEFAULT_SEED if DEFAULT_SEED.exists() else None)
        self.host = host
        self.port = port
        self.tls = tls  # (certificate chain file, key file): serve HTTPS
        self.token_file = self.state_dir / TOKEN_NAME
        self.info_file = self.state_dir / INFO_NAME
        self.db = FakeBankDB(self.state_dir / DB_NAME)
        if not self.db.is_seeded():
            self.db.seed_from_yaml(self.seed_path)
        self.token = read_or_create_token(self.token_file)
        self.app = FakeBankApp(self.db, self.token)
        self.app.on_refuse = self.refuse_for
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._restart: threading.Timer | None = None
        self._lifecycle = threading.RLock()

    @property
    def url(self) -> str:
        """The base URL (`http://127.0.0.1:PORT`, https with `tls`); valid after `start()`."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> FakeBankServer:
        """Listen (on the same port again after a `stop()`) and serve in a thread."""
        with self._lifecycle:
            self._cancel_restart()
            self._listen()
        return self

    def _listen(self) -> None:
        if self._server is not None:
            return
        self.app.released.clear()
        ssl_context = None
        if self.tls is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
        server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler,
            ssl_context=ssl_context,
        )
        self.port = server.server_port
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"fake-bank:{self.port}", daemon=True,
        )
        self._thread.start()
        self.info_file.write_text(
            json.dumps({"url": self.url, "pid": os.getpid(), "token_file": str(self.token_file)}),
            encoding="utf-8",
        )

    def stop(self) -> None:
        """Stop listening (connections are refused until `start()` again)."""
        with self._lifecycle:
            self._cancel_restart()
            self._unlisten()
        with contextlib.suppress(FileNotFoundError):
            self.info_file.unlink()

    def _unlisten(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.app.released.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def refuse_for(self, seconds: float) -> None:
        """The bank link goes down: refuse connections for `seconds`, then listen again on
        the same port (what `fault refuse` does from another process)."""

        def down() -> None:
            with self._lifecycle:
                if self._restart is not timer:
                    return  # cancelled meanwhile
                self._unlisten()

        def up() -> None:
            with self._lifecycle:
                if self._restart is not timer:
                    return
                self._restart = None
                self.app._refusing = None
                self._listen()

        with self._lifecycle:
            self._cancel_restart()
            timer = threading.Timer(seconds, up)
            timer.daemon = True
            self._restart = timer
            self.app._refusing = seconds
            # Stop from another thread: the admin request asking for it still gets its answer.
            threading.Thread(target=down, name="fake-bank:refuse", daemon=True).start()
            timer.start()

    def _cancel_restart(self) -> None:
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
            self.app._refusing = None

    def close(self) -> None:
        """Stop and close the ledger."""
        self.stop()
        self.db.close()

    def __enter__(self) -> FakeBankServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def book_movement(self, account_id: str, amount: Decimal, type: str) -> str:
        """Book a movement (as a card payment or transfer would); return its id."""
        return self.db.book_movement(account_id, amount, type)

    def sim_swap(self, phone: str, at: datetime | None = None) -> JsonObject:
        """The operator reports a new SIM behind `phone` (at `at`, default now)."""
        return self.db.sim_swap(phone, at)

    def set_fault(self, mode: str, *, count: int | None = None, delay: float | None = None) -> None:
        """Inject a fault (see the module docstring); `none` clears it (a refusal too)."""
        if normalize_fault(mode) == "none":
            with self._lifecycle:
                if self._restart is not None:
                    self._cancel_restart()
                    self._listen()
        self.app.set_fault(mode, count=count, delay=delay)
