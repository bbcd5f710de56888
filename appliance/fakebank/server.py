"""The fake bank: a real HTTP server on loopback that serves docs/bank-api.yaml.

Used by the demo, the tests and the benchmark. Its state is its own SQLite file
(`STATE_DIR/fakebank.sqlite`, see `ledger`), seeded from `config/demo-bank.yaml` on first
start. The bearer token is a random string in `STATE_DIR/bank-token` (kept across restarts).
A small admin side (`/_fake/...`, same token) lets another process book movements and
inject faults; `STATE_DIR/fakebank.json` tells such a process where the server listens.

Faults (`set_fault`): `none`; `down` (503 on /v1); `error500` (500 on /v1); `slow` (answer
after `delay` seconds); `timeout_after_debit` (a top-up is debited and committed, then the
connection hangs for `delay` seconds and is closed without an answer); `refuse` (the
server stops listening for `delay` seconds, default 10: connections are refused, as when
the bank link is down, then it listens on the same port again). `count` limits a fault
to the next N requests it applies to.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from appliance.fakebank.ledger import FakeBankDB, FakeBankError, parse_money

log = logging.getLogger(__name__)

DEFAULT_SEED = Path(__file__).resolve().parents[2] / "config" / "demo-bank.yaml"
DB_NAME = "fakebank.sqlite"
TOKEN_NAME = "bank-token"  # noqa: S105 -- a file name, not a secret
INFO_NAME = "fakebank.json"
FAULT_MODES = ("none", "down", "error500", "slow", "timeout_after_debit", "refuse")
_ALIASES = {"500": "error500", "ok": "none", "off": "none", "clear": "none"}
DEFAULT_DELAYS = {"slow": 2.0, "timeout_after_debit": 30.0, "refuse": 10.0}
MAX_PAGE = 5000
DEFAULT_PAGE = 500


def normalize_fault(mode: str) -> str:
    """The canonical name of a fault mode; ValueError for an unknown one."""
    canonical = _ALIASES.get(mode.strip().lower(), mode.strip().lower())
    if canonical not in FAULT_MODES:
        raise ValueError(f"unknown fault mode {mode!r}; expected one of {', '.join(FAULT_MODES)}")
    return canonical


@dataclass
class _Fault:
    mode: str = "none"
    count: int | None = None  # None: until cleared
    delay: float = 0.0


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


class FakeBankApp:
    """The WSGI application: routing, auth, faults, JSON; the ledger does the work."""

    def __init__(self, db: FakeBankDB, token: str) -> None:
        self.db = db
        self.token = token
        self._fault = _Fault()
        self._fault_lock = threading.Lock()
        self.released = threading.Event()  # set on stop: hanging requests let go
        # `refuse` is the server's to do (stop listening, listen again): it sets this hook.
        self.on_refuse: Callable[[float], None] | None = None
        self._refusing: float | None = None  # seconds, while a refusal is scheduled
        self.requests = 0
        # (method, path, headers, JSON body or None) of every /v1 request: the contract test
        # checks what the client sends against the OpenAPI file.
        # (bounded: a demo's bank runs for hours).
        self.seen: deque[tuple[str, str, dict[str, str], Any]] = deque(maxlen=2000)
        self._urls = Map([
            Rule("/v1/changes", endpoint="changes", methods=["GET"]),
            Rule("/v1/topups", endpoint="topups", methods=["POST"]),
            Rule("/v1/topups/<key>/resolve", endpoint="resolve", methods=["POST"]),
            Rule("/v1/agreements/<agreement_id>/phone", endpoint="phone", methods=["PUT"]),
            Rule("/_fake/movements", endpoint="admin_movement", methods=["POST"]),
            Rule("/_fake/fault", endpoint="admin_fault", methods=["POST", "GET"]),
            Rule("/_fake/health", endpoint="admin_health", methods=["GET"]),
        ])

    # -- faults --------------------------------------------------------------------------

    def set_fault(self, mode: str, *, count: int | None = None, delay: float | None = None) -> None:
        """Switch a fault on (or `none` off); see the module docstring."""
        canonical = normalize_fault(mode)
        if canonical == "refuse":
            if self.on_refuse is None:
                raise ValueError("refuse needs a running FakeBankServer")
            self.on_refuse(DEFAULT_DELAYS["refuse"] if delay is None else delay)
            return
        with self._fault_lock:
            self._fault = _Fault(
                canonical, count, DEFAULT_DELAYS.get(canonical, 0.0) if delay is None else delay
            )

    def fault(self) -> dict[str, Any]:
        """The fault in force, as JSON."""
        if self._refusing is not None:
            return {"mode": "refuse", "count": None, "delay": self._refusing}
        with self._fault_lock:
            f = self._fault
            return {"mode": f.mode, "count": f.count, "delay": f.delay}

    def _take_fault(self, endpoint: str) -> _Fault | None:
        """The fault that applies to this request (consuming one of its `count`)."""
        with self._fault_lock:
            f = self._fault
            if f.mode == "none" or endpoint.startswith("admin"):
                return None
            if f.mode == "timeout_after_debit" and endpoint != "topups":
                return None
            if f.count is not None:
                f.count -= 1
                if f.count <= 0:
                    self._fault = _Fault()
            return _Fault(f.mode, None, f.delay)

    # -- WSGI ----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        self.requests += 1
        try:
            endpoint, args = self._urls.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            code = exc.code or 500
            reason = {404: "not_found", 405: "method_not_allowed"}.get(code, "bad_request")
            return _error(code, reason, exc.name)
        if request.path.startswith("/v1/"):
            raw = request.get_data(as_text=True)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            self.seen.append((request.method, request.path, dict(request.headers), body))
        if not self._authorized(request):
            return _error(401, "unauthorized", "missing or wrong bearer token")
        fault = self._take_fault(str(endpoint))
        if fault is not None:
            if fault.mode == "down":
                return _error(503, "unavailable", "the bank is down for maintenance")
            if fault.mode == "error500":
                return _error(500, "internal", "the bank failed to answer")
            if fault.mode == "slow":
                self.released.wait(fault.delay)
        try:
            handler = getattr(self, f"_on_{endpoint}")
            response: Response = handler(request, **args)
        except FakeBankError as exc:
            return _error(exc.status, exc.code, exc.message)
        if fault is not None and fault.mode == "timeout_after_debit":
            # The debit is committed; the answer never arrives.
            self.released.wait(fault.delay)
            sock = request.environ.get("werkzeug.socket")
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            return Response(b"", status=500)
        return response

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8"), self.token.encode("utf-8")
        )

    # -- endpoints -----------------------------------------------------------------------

    def _on_changes(self, request: Request) -> Response:
        after = request.args.get("after")
        raw_limit = request.args.get("limit", str(DEFAULT_PAGE))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
            raise FakeBankError(400, "bad_request", f"limit: an integer from 1 to {MAX_PAGE}")
        if after is not None and after == "":
            raise FakeBankError(400, "bad_cursor", "after: empty cursor")
        return _json(200, self.db.changes(after, int(raw_limit)))

    def _on_topups(self, request: Request) -> Response:
        key = _checked_key(request.headers.get("Idempotency-Key", ""))
        body = _body(request)
        outcome = self.db.topup(key, body)
        return _json(200, outcome.body)

    def _on_resolve(self, request: Request, key: str) -> Response:
        return _json(200, self.db.resolve(_checked_key(key)))

    def _on_phone(self, request: Request, agreement_id: str) -> Response:
        body = _body(request)
        phone = body.get("phone")
        if set(body) != {"phone"} or not (
            isinstance(phone, str) and phone.startswith("+") and phone[1:].isdigit()
            and 8 <= len(phone) <= 16 and phone[1] != "0"
        ):
            raise FakeBankError(400, "bad_request", "body: {\"phone\": \"+E164\"}")
        return _json(200, self.db.rebind_phone(agreement_id, phone))

    def _on_admin_movement(self, request: Request) -> Response:
        body = _body(request)
        account_id = body.get("account_id")
        type_ = body.get("type")
        if not isinstance(account_id, str) or not isinstance(type_, str) or not type_:
            raise FakeBankError(400, "bad_request", "account_id and type: strings")
        amount = parse_money(body.get("amount"), "amount")
        movement_id = self.db.book_movement(account_id, amount, type_)
        return _json(201, {"id": movement_id})

    def _on_admin_fault(self, request: Request) -> Response:
        if request.method == "POST":
            body = _body(request)
            count = body.get("count")
            delay = body.get("delay")
            if count is not None and not isinstance(count, int):
                raise FakeBankError(400, "bad_request", "count: an integer")
            # JSON fractions arrive as Decimal (see _body).
            if delay is not None and not isinstance(delay, int | float | Decimal):
                raise FakeBankError(400, "bad_request", "delay: seconds")
            try:
                self.set_fault(str(body.get("mode", "")), count=count,
                               delay=None if delay is None else float(delay))
            except ValueError as exc:
                raise FakeBankError(400, "bad_request", str(exc)) from exc
        return _json(200, self.fault())

    def _on_admin_health(self, request: Request) -> Response:
        return _json(200, {"ok": True})


def _checked_key(key: str) -> str:
    if not 8 <= len(key) <= 128 or not all(
        ch.isascii() and (ch.isalnum() or ch in "._:-") for ch in key
    ):
        raise FakeBankError(
            400, "bad_idempotency_key", "Idempotency-Key: 8-128 of [A-Za-z0-9._:-]"
        )
    return key


def _body(request: Request) -> dict[str, Any]:
    try:
        # parse_float: a JSON float in money would be a contract breach; keep it exact
        # so that parse_money can refuse it as "not a string".
        data = json.loads(request.get_data(as_text=True) or "null", parse_float=Decimal)
    except ValueError as exc:
        raise FakeBankError(400, "bad_request", "body: not JSON") from exc
    if not isinstance(data, dict):
        raise FakeBankError(400, "bad_request", "body: a JSON object")
    return data


def _json(status: int, body: object) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"error": code, "message": message})


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

    def set_fault(self, mode: str, *, count: int | None = None, delay: float | None = None) -> None:
        """Inject a fault (see the module docstring); `none` clears it (a refusal too)."""
        if normalize_fault(mode) == "none":
            with self._lifecycle:
                if self._restart is not None:
                    self._cancel_restart()
                    self._listen()
        self.app.set_fault(mode, count=count, delay=delay)
