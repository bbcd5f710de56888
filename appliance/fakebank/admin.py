"""The fake bank's admin side (`/_fake/...`, same token; not part of the bank's contract):
book movements, inject faults, report SIM swaps, list cards."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from appliance.fakebank.faults import Fault
from appliance.fakebank.ledger import FakeBankDB
from appliance.fakebank.values import FakeBankError, is_e164, parse_money
from appliance.fakebank.wire import answer, body_of

ADMIN_RULES = (
    Rule("/_fake/movements", endpoint="admin_movement", methods=["POST"]),
    Rule("/_fake/fault", endpoint="admin_fault", methods=["POST", "GET"]),
    Rule("/_fake/sim-swap", endpoint="admin_sim_swap", methods=["POST"]),
    Rule("/_fake/cards", endpoint="admin_cards", methods=["GET"]),
    Rule("/_fake/health", endpoint="admin_health", methods=["GET"]),
)


class AdminEndpoints:
    """`_on_admin_<what>` handlers."""

    db: FakeBankDB

    def set_fault(self, mode: str, *, count: int | None = None, delay: float | None = None) -> None:
        raise NotImplementedError  # the application's

    def fault(self) -> dict[str, object]:
        raise NotImplementedError  # the application's

    def _on_admin_movement(self, request: Request) -> Response:
        body = body_of(request)
        account_id = body.get("account_id")
        type_ = body.get("type")
        if not isinstance(account_id, str) or not isinstance(type_, str) or not type_:
            raise FakeBankError(400, "bad_request", "account_id and type: strings")
        amount = parse_money(body.get("amount"), "amount")
        movement_id = self.db.book_movement(account_id, amount, type_)
        return answer(201, {"id": movement_id})

    def _on_admin_fault(self, request: Request) -> Response:
        if request.method == "POST":
            body = body_of(request)
            count = body.get("count")
            delay = body.get("delay")
            if count is not None and not isinstance(count, int):
                raise FakeBankError(400, "bad_request", "count: an integer")
            # JSON fractions arrive as Decimal (see body_of).
            if delay is not None and not isinstance(delay, int | float | Decimal):
                raise FakeBankError(400, "bad_request", "delay: seconds")
            try:
                self.set_fault(str(body.get("mode", "")), count=count,
                               delay=None if delay is None else float(delay))
            except ValueError as exc:
                raise FakeBankError(400, "bad_request", str(exc)) from exc
        return answer(200, self.fault())

    def _on_admin_sim_swap(self, request: Request) -> Response:
        body = body_of(request)
        phone, at = body.get("phone"), body.get("at")
        if not is_e164(phone):
            raise FakeBankError(400, "bad_request", "phone: an E.164 number")
        when: datetime | None = None
        if at is not None:
            try:
                when = datetime.fromisoformat(str(at))
            except ValueError as exc:
                raise FakeBankError(400, "bad_request", "at: an ISO 8601 time") from exc
            if when.tzinfo is None:
                raise FakeBankError(400, "bad_request", "at: a time with an offset")
        return answer(200, self.db.sim_swap(str(phone), when))

    def _on_admin_cards(self, request: Request) -> Response:
        return answer(200, {"cards": self.db.cards()})

    def _on_admin_health(self, request: Request) -> Response:
        return answer(200, {"ok": True})


def fault_json(fault: Fault) -> dict[str, object]:
    """A fault as the admin side shows it."""
    return {"mode": fault.mode, "count": fault.count, "delay": fault.delay}
