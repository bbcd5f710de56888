"""The fake bank's WSGI application: routing, bearer auth, faults, and the request log the
contract test reads; the endpoints are in `api` (the contract) and `admin` (`/_fake/...`)."""

from __future__ import annotations

import contextlib
import hmac
import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from appliance.fakebank.admin import ADMIN_RULES, AdminEndpoints, fault_json
from appliance.fakebank.api import CONTRACT_RULES, ContractEndpoints
from appliance.fakebank.faults import DEFAULT_DELAYS, FaultSwitch, normalize_fault
from appliance.fakebank.ledger import FakeBankDB
from appliance.fakebank.values import FakeBankError
from appliance.fakebank.wire import error

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

# (method, path, headers, JSON body or None) of one /v1 request.
SeenRequest = tuple[str, str, dict[str, str], object]


class FakeBankApp(ContractEndpoints, AdminEndpoints):
    """The WSGI application: routing, auth, faults, JSON; the ledger does the work."""

    def __init__(self, db: FakeBankDB, token: str) -> None:
        self.db = db
        self.token = token
        self._faults = FaultSwitch()
        self.released = threading.Event()  # set on stop: hanging requests let go
        # `refuse` is the server's to do (stop listening, listen again): it sets this hook.
        self.on_refuse: Callable[[float], None] | None = None
        self._refusing: float | None = None  # seconds, while a refusal is scheduled
        self.requests = 0
        # Every /v1 request: the contract test checks what the client sends against the
        # OpenAPI file (bounded: a demo's bank runs for hours).
        self.seen: deque[SeenRequest] = deque(maxlen=2000)
        self._urls = Map([rule.empty() for rule in (*CONTRACT_RULES, *ADMIN_RULES)])

    # -- faults --------------------------------------------------------------------------

    def set_fault(self, mode: str, *, count: int | None = None, delay: float | None = None) -> None:
        """Switch a fault on (or `none` off); see `faults`."""
        canonical = normalize_fault(mode)
        if canonical == "refuse":
            if self.on_refuse is None:
                raise ValueError("refuse needs a running FakeBankServer")
            self.on_refuse(DEFAULT_DELAYS["refuse"] if delay is None else delay)
            return
        self._faults.set(canonical, count=count, delay=delay)

    def fault(self) -> dict[str, object]:
        """The fault in force, as JSON."""
        if self._refusing is not None:
            return {"mode": "refuse", "count": None, "delay": self._refusing}
        return fault_json(self._faults.now())

    # -- WSGI ----------------------------------------------------------------------------

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        response = self._dispatch(Request(environ))
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        self.requests += 1
        try:
            endpoint, args = self._urls.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            code = exc.code or 500
            reason = {404: "not_found", 405: "method_not_allowed"}.get(code, "bad_request")
            return error(code, reason, exc.name)
        if request.path.startswith("/v1/"):
            raw = request.get_data(as_text=True)
            try:
                body: object = json.loads(raw) if raw else None
            except ValueError:
                body = None
            self.seen.append((request.method, request.path, dict(request.headers), body))
        if not self._authorized(request):
            return error(401, "unauthorized", "missing or wrong bearer token")
        fault = self._faults.take(str(endpoint))
        if fault is not None:
            if fault.mode == "down":
                return error(503, "unavailable", "the bank is down for maintenance")
            if fault.mode == "error500":
                return error(500, "internal", "the bank failed to answer")
            if fault.mode == "slow":
                self.released.wait(fault.delay)
        try:
            response: Response = getattr(self, f"_on_{endpoint}")(request, **args)
        except FakeBankError as exc:
            return error(exc.status, exc.code, exc.message)
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
